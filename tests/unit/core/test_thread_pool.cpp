#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "hearth/core/thread_pool.h"

TEST(ThreadPool, CoversRangeExactlyOnce) {
  hearth::ThreadPool pool(4);
  for (int64_t n : {0, 1, 7, 1000, 12345}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    pool.parallel_for(n, 3, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << i;
  }
}

TEST(ThreadPool, ManyConsecutiveJobs) {
  hearth::ThreadPool pool(3);
  std::atomic<int64_t> sum{0};
  for (int j = 0; j < 2000; ++j)
    pool.parallel_for(64, 1, [&](int64_t b, int64_t e) { sum += e - b; });
  EXPECT_EQ(sum.load(), 2000 * 64);
}
