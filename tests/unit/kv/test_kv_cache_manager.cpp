#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "hearth/core/error.h"
#include "hearth/kv/kv_cache_manager.h"

using namespace hearth;

namespace {

constexpr int kBs = 4;

std::vector<int32_t> tokens_from(int start, int n) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), start);
  return t;
}

// Runs a sequence's whole prefill: admit with a prefix match, then commit.
void prefill(KvCacheManager& kv, SeqKv& seq, const std::vector<int32_t>& tokens) {
  const PrefixMatch m = kv.match(tokens);
  ASSERT_TRUE(kv.can_admit(m, static_cast<int>(tokens.size())));
  kv.admit(seq, m, static_cast<int>(tokens.size()), static_cast<int>(tokens.size()));
  kv.commit(seq, tokens, static_cast<int>(tokens.size()));
}

void check(const KvCacheManager& kv, std::initializer_list<const SeqKv*> live) {
  kv.check_invariants(std::vector<const SeqKv*>(live));
}

}  // namespace

TEST(KvCacheManager, SharedPrefixUsesTheSameBlocksWithoutCopies) {
  KvCacheManager kv(16, kBs);
  const auto a_tokens = tokens_from(0, 10);  // 2 full blocks + 2 tokens
  SeqKv a, b;
  prefill(kv, a, a_tokens);
  EXPECT_EQ(a.blocks.size(), 3u);
  EXPECT_EQ(a.content_ids.size(), 2u);

  auto b_tokens = tokens_from(0, 9);  // same first 2 blocks, then 1 token
  b_tokens.push_back(500);
  const PrefixMatch m = kv.match(b_tokens);
  ASSERT_EQ(m.blocks.size(), 2u);
  EXPECT_EQ(m.blocks[0], a.blocks[0]);
  EXPECT_EQ(m.blocks[1], a.blocks[1]);
  kv.admit(b, m, 10, 10);
  EXPECT_EQ(kv.allocator().ref_count(a.blocks[0]), 2);
  EXPECT_EQ(kv.allocator().ref_count(a.blocks[2]), 1);
  EXPECT_NE(b.blocks[2], a.blocks[2]);
  EXPECT_EQ(kv.stats().hit_tokens, 8u);
  EXPECT_EQ(kv.stats().query_tokens, 20u);
  check(kv, {&a, &b});
  kv.free(a);
  check(kv, {&b});
  kv.free(b);
  check(kv, {});
  EXPECT_EQ(kv.num_free_blocks(), 16);
}

TEST(KvCacheManager, MatchLeavesTheLastTokenToCompute) {
  KvCacheManager kv(16, kBs);
  const auto t = tokens_from(0, 8);  // exactly 2 blocks
  SeqKv a;
  prefill(kv, a, t);
  kv.free(a);
  // Fully cached: only the first block is used, so the last token still runs.
  EXPECT_EQ(kv.match(t).blocks.size(), 1u);
  auto longer = t;
  longer.push_back(99);
  EXPECT_EQ(kv.match(longer).blocks.size(), 2u);
  EXPECT_TRUE(kv.match(std::vector<int32_t>{}).blocks.empty());
}

TEST(KvCacheManager, NothingIsCachedWhenPrefixCachingIsOff) {
  KvCacheManager kv(8, kBs, false);
  SeqKv a;
  prefill(kv, a, tokens_from(0, 12));
  EXPECT_TRUE(a.content_ids.empty());
  kv.free(a);
  EXPECT_TRUE(kv.match(tokens_from(0, 12)).blocks.empty());
  check(kv, {});
}

TEST(KvCacheManager, GrowFailsWithoutChangingAnything) {
  KvCacheManager kv(3, kBs);
  SeqKv a;
  ASSERT_TRUE(kv.grow(a, 8));
  EXPECT_EQ(a.blocks.size(), 2u);
  EXPECT_FALSE(kv.grow(a, 16));
  EXPECT_EQ(a.blocks.size(), 2u);
  EXPECT_EQ(kv.num_free_blocks(), 1);
  EXPECT_TRUE(kv.grow(a, 12));
  EXPECT_TRUE(kv.grow(a, 12));  // already covered
  check(kv, {&a});
  kv.free(a);
  check(kv, {});
}

TEST(KvCacheManager, AdmissionCountsRevivedCachedBlocks) {
  KvCacheManager kv(4, kBs);
  SeqKv a;
  prefill(kv, a, tokens_from(0, 13));  // 4 blocks, 3 cached
  kv.free(a);
  EXPECT_EQ(kv.num_free_blocks(), 4);
  // The match revives 3 free blocks, leaving 1 free: 2 more blocks do not fit.
  auto t = tokens_from(0, 12);
  for (int i = 0; i < 8; ++i) t.push_back(1000 + i);
  const PrefixMatch m = kv.match(t);
  ASSERT_EQ(m.blocks.size(), 3u);
  EXPECT_TRUE(kv.can_admit(m, 16));
  EXPECT_FALSE(kv.can_admit(m, 17));
  EXPECT_FALSE(kv.can_admit(m, 20));
}

TEST(KvCacheManager, FreedCachedBlocksAreReusedLeastRecentlyUsedFirst) {
  KvCacheManager kv(6, kBs);
  SeqKv a, b, c;
  prefill(kv, a, tokens_from(0, 9));    // blocks: 2 cached + 1 partial
  prefill(kv, b, tokens_from(100, 9));  // 2 cached + 1 partial
  kv.free(a);                           // a's prefix freed first: least recently used
  kv.free(b);
  EXPECT_EQ(kv.num_free_blocks(), 6);
  // A new sequence needing 3 blocks takes the 2 uncached partial blocks, then evicts
  // one cached block: the tail of a (freed tail first), never b's.
  prefill(kv, c, tokens_from(200, 12));
  EXPECT_EQ(kv.stats().evictions, 1u);
  EXPECT_EQ(kv.match(tokens_from(0, 9)).blocks.size(), 1u);    // a's first block survives
  EXPECT_EQ(kv.match(tokens_from(100, 9)).blocks.size(), 2u);  // b intact
  check(kv, {&c});
  // Reusing b needs one new block: the least recently used one is a's first block.
  SeqKv b2;
  prefill(kv, b2, tokens_from(100, 9));
  EXPECT_EQ(kv.match(tokens_from(0, 9)).blocks.size(), 0u);
  // Free c, then b2: b's blocks are now the most recently used and go last; within a
  // sequence the tail goes before the prefix.
  kv.free(c);
  kv.free(b2);
  SeqKv d;
  prefill(kv, d, tokens_from(300, 20));  // 5 of the 6 blocks
  EXPECT_EQ(kv.stats().evictions, 2u + 3u + 1u);
  EXPECT_EQ(kv.match(tokens_from(200, 13)).blocks.size(), 0u);  // c: all evicted
  EXPECT_EQ(kv.match(tokens_from(100, 9)).blocks.size(), 1u);   // b's first block survives
  check(kv, {&d});
}

TEST(KvCacheManager, DuplicateBlocksComputedTogetherStayPrivate) {
  KvCacheManager kv(8, kBs);
  const auto t = tokens_from(0, 9);
  SeqKv a, b;
  // Both admitted before either committed (same step): no hit, two copies.
  kv.admit(a, kv.match(t), 9, 9);
  kv.admit(b, kv.match(t), 9, 9);
  kv.commit(a, t, 9);
  kv.commit(b, t, 9);
  EXPECT_EQ(a.content_ids, b.content_ids);  // same contents, same names
  kv.free(b);
  kv.free(a);
  // Only a's blocks are cached; b's went to the front of the free list.
  const PrefixMatch m = kv.match(t);
  ASSERT_EQ(m.blocks.size(), 2u);
  check(kv, {});
}

TEST(KvCacheManager, InvariantsCatchLeaksAndDoubleOwnership) {
  KvCacheManager kv(4, kBs);
  SeqKv a;
  ASSERT_TRUE(kv.grow(a, 8));
  EXPECT_THROW(check(kv, {}), Error);        // a's blocks held by no live table: a leak
  SeqKv copy = a;
  EXPECT_THROW(check(kv, {&a, &copy}), Error);  // two tables, one reference each
  kv.free(a);
  EXPECT_THROW(kv.free(copy), Error);        // double free
}
