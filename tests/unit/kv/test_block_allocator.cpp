#include <gtest/gtest.h>

#include <set>

#include "hearth/core/error.h"
#include "hearth/kv/block_allocator.h"

using namespace hearth;

TEST(BlockAllocator, HandsOutEveryBlockOnceThenRunsOut) {
  BlockAllocator a(5);
  std::set<BlockId> got;
  for (int i = 0; i < 5; ++i) got.insert(a.allocate());
  EXPECT_EQ(got.size(), 5u);
  EXPECT_EQ(*got.begin(), 0);
  EXPECT_EQ(*got.rbegin(), 4);
  EXPECT_EQ(a.num_free(), 0);
  EXPECT_EQ(a.peek_free(), -1);
  EXPECT_THROW(a.allocate(), Error);
  a.check_invariants();
}

TEST(BlockAllocator, SharedBlockIsFreedByItsLastReference) {
  BlockAllocator a(3);
  const BlockId b = a.allocate();
  a.retain(b);  // a second sequence shares it
  EXPECT_EQ(a.ref_count(b), 2);
  EXPECT_FALSE(a.release(b, false));
  EXPECT_EQ(a.num_free(), 2);
  EXPECT_TRUE(a.release(b, false));
  EXPECT_EQ(a.num_free(), 3);
  a.check_invariants();
}

TEST(BlockAllocator, DoubleFreeIsCaught) {
  BlockAllocator a(2);
  const BlockId b = a.allocate();
  a.release(b, false);
  EXPECT_THROW(a.release(b, false), Error);
  EXPECT_THROW(a.ref_count(7), Error);
  a.check_invariants();
}

TEST(BlockAllocator, KeptBlocksAreReusedLastInLeastRecentlyUsedOrder) {
  BlockAllocator a(4);
  const BlockId b0 = a.allocate(), b1 = a.allocate(), b2 = a.allocate(), b3 = a.allocate();
  a.release(b1, true);   // cached contents: back of the queue
  a.release(b3, true);
  a.release(b0, false);  // nothing worth keeping: front
  a.release(b2, true);
  // Uncached first, then cached ones from the least recently freed.
  EXPECT_EQ(a.allocate(), b0);
  EXPECT_EQ(a.allocate(), b1);
  EXPECT_EQ(a.allocate(), b3);
  EXPECT_EQ(a.allocate(), b2);
  a.check_invariants();
}

TEST(BlockAllocator, RetainRevivesAFreeBlockAnywhereInTheQueue) {
  BlockAllocator a(4);
  for (int i = 0; i < 4; ++i) a.allocate();
  for (BlockId b = 0; b < 4; ++b) a.release(b, true);
  a.retain(2);  // middle of the list
  a.check_invariants();
  EXPECT_EQ(a.num_free(), 3);
  EXPECT_EQ(a.allocate(), 0);
  EXPECT_EQ(a.allocate(), 1);
  EXPECT_EQ(a.allocate(), 3);
  EXPECT_EQ(a.ref_count(2), 1);
  a.check_invariants();
}

TEST(BlockAllocator, RejectsAnEmptyPool) { EXPECT_THROW(BlockAllocator(0), Error); }
