#include <gtest/gtest.h>

#include <vector>

#include "hearth/kv/prefix_cache.h"

using namespace hearth;

namespace {

std::vector<int32_t> block_of(int seed, int n = 4) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back(seed * 100 + i);
  return t;
}

}  // namespace

TEST(PrefixCache, FindsWhatWasInsertedUnderTheSameParentOnly) {
  PrefixCache c(8, 4);
  const auto t = block_of(1);
  const uint64_t id = c.insert(3, PrefixCache::kRootId, t);
  EXPECT_TRUE(c.contains(3));
  const auto hit = c.find(PrefixCache::kRootId, t);
  EXPECT_EQ(hit.block, 3);
  EXPECT_EQ(hit.id, id);
  // Same tokens after another prefix: a different block's contents.
  EXPECT_EQ(c.find(id, t).block, -1);
  EXPECT_EQ(c.find(PrefixCache::kRootId, block_of(2)).block, -1);
  c.check_invariants();
}

TEST(PrefixCache, ChainsBlocksThroughContentIds) {
  PrefixCache c(8, 4);
  const uint64_t a = c.insert(0, PrefixCache::kRootId, block_of(1));
  const uint64_t b = c.insert(5, a, block_of(2));
  EXPECT_NE(a, b);
  EXPECT_EQ(c.find(a, block_of(2)).block, 5);
  // After its parent is evicted the child is unreachable from a fresh lookup (the chain
  // starts at the root), but it stays valid for holders of `a`.
  c.evict(0);
  EXPECT_EQ(c.find(PrefixCache::kRootId, block_of(1)).block, -1);
  EXPECT_EQ(c.find(a, block_of(2)).block, 5);
  c.check_invariants();
}

TEST(PrefixCache, IdenticalContentsAreRegisteredOnce) {
  PrefixCache c(8, 4);
  const uint64_t a = c.insert(1, PrefixCache::kRootId, block_of(7));
  // A second sequence computed the same block into block 2: it names the same contents
  // but stays private.
  EXPECT_EQ(c.insert(2, PrefixCache::kRootId, block_of(7)), a);
  EXPECT_FALSE(c.contains(2));
  EXPECT_EQ(c.size(), 1u);
  c.check_invariants();
}

TEST(PrefixCache, EvictForgetsTheBlock) {
  PrefixCache c(4, 4);
  c.insert(1, PrefixCache::kRootId, block_of(3));
  c.evict(1);
  c.evict(1);  // no-op
  EXPECT_FALSE(c.contains(1));
  EXPECT_EQ(c.size(), 0u);
  EXPECT_EQ(c.find(PrefixCache::kRootId, block_of(3)).block, -1);
  // The block can hold other contents now.
  c.insert(1, PrefixCache::kRootId, block_of(4));
  EXPECT_EQ(c.find(PrefixCache::kRootId, block_of(4)).block, 1);
  c.check_invariants();
}

TEST(PrefixCache, HashCollisionsNeverShareABlock) {
  // A 2-bit hash: almost every insert collides. A lookup must still return only a block
  // holding exactly the asked-for contents after exactly the asked-for parent.
  PrefixCache c(64, 4, 0x3);
  struct Inserted {
    uint64_t parent;
    std::vector<int32_t> tokens;
    uint64_t id;
    BlockId block;
  };
  std::vector<Inserted> all;
  uint64_t parent = PrefixCache::kRootId;
  int registered = 0;
  for (int i = 0; i < 40; ++i) {
    const auto t = block_of(i);
    const uint64_t id = c.insert(i, parent, t);
    registered += c.contains(i);
    all.push_back({parent, t, id, i});
    if (i % 3 == 0) parent = id;  // a few chains, a few siblings
  }
  EXPECT_LE(registered, 4);  // one block per hash value
  EXPECT_GE(registered, 1);
  for (const Inserted& e : all) {
    const auto f = c.find(e.parent, e.tokens);
    if (f.block >= 0) {
      EXPECT_EQ(f.block, e.block);  // the block that holds these very contents
      EXPECT_EQ(f.id, e.id);
    } else {
      EXPECT_FALSE(c.contains(e.block));
    }
    for (const Inserted& other : all) {
      if (&other == &e) continue;
      const auto g = c.find(other.parent, e.tokens);
      if (other.parent != e.parent) {
        EXPECT_NE(g.block, e.block);
      }
    }
  }
  c.check_invariants();
}
