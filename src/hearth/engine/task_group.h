// A few worker threads that run one batch of independent tasks in the background while the
// caller does something else (the engine: output-constraint masks computed while the GPU
// runs the forward pass), then joins it. The caller helps with what is left when it joins,
// so zero workers means "run everything at the join".
#pragma once

#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hearth {

class TaskGroup {
 public:
  explicit TaskGroup(int workers);
  ~TaskGroup();
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;

  // Starts fn(0) .. fn(n - 1) on the workers and returns at once. The previous batch must
  // have been joined.
  void start(int n, std::function<void(int)> fn);
  // Runs what no worker has taken yet, waits for the rest, and rethrows the first exception
  // a task threw. A no-op without a started batch.
  void join();
  int workers() const { return static_cast<int>(threads_.size()); }

 private:
  void worker_loop();
  // Takes and runs tasks until none is left.
  void drain();

  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_work_, cv_done_;
  std::function<void(int)> fn_;
  int n_ = 0;
  std::atomic<int> next_{0};
  int done_ = 0;
  int busy_ = 0;  // workers inside drain()
  bool active_ = false;
  bool stop_ = false;
  uint64_t generation_ = 0;
  std::exception_ptr error_;
};

}  // namespace hearth
