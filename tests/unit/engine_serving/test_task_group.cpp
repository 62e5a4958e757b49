#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "hearth/core/error.h"
#include "hearth/engine/task_group.h"

using namespace hearth;

TEST(TaskGroup, RunsEveryTaskOnceWhileTheCallerWorks) {
  for (int workers : {0, 1, 3}) {
    TaskGroup group(workers);
    for (int round = 0; round < 50; ++round) {
      const int n = 1 + round % 17;
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      group.start(n, [&](int i) { hits[static_cast<size_t>(i)].fetch_add(1); });
      group.join();
      for (int i = 0; i < n; ++i) EXPECT_EQ(hits[static_cast<size_t>(i)].load(), 1) << workers << " " << round << " " << i;
    }
    group.join();  // nothing started: a no-op
  }
}

TEST(TaskGroup, RethrowsATasksErrorAtTheJoinAndStaysUsable) {
  TaskGroup group(2);
  std::atomic<int> ran{0};
  group.start(8, [&](int i) {
    ran.fetch_add(1);
    if (i == 5) fail("task {} failed", i);
  });
  EXPECT_THROW(group.join(), Error);
  EXPECT_EQ(ran.load(), 8);  // the others still ran
  int sum = 0;
  std::mutex mu;
  group.start(4, [&](int i) {
    std::lock_guard lock(mu);
    sum += i;
  });
  group.join();
  EXPECT_EQ(sum, 6);
}
