#include "hearth/engine/task_group.h"

#include "hearth/core/error.h"

namespace hearth {

TaskGroup::TaskGroup(int workers) {
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { worker_loop(); });
}

TaskGroup::~TaskGroup() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_work_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void TaskGroup::start(int n, std::function<void(int)> fn) {
  std::lock_guard lock(mu_);
  HEARTH_CHECK(!active_, "TaskGroup::start before the previous batch was joined");
  fn_ = std::move(fn);
  n_ = n;
  next_ = 0;
  done_ = 0;
  error_ = nullptr;
  active_ = true;
  ++generation_;
  cv_work_.notify_all();
}

void TaskGroup::drain() {
  for (;;) {
    const int i = next_.fetch_add(1);
    if (i >= n_) return;
    try {
      fn_(i);
    } catch (...) {
      std::lock_guard lock(mu_);
      if (!error_) error_ = std::current_exception();
    }
    std::lock_guard lock(mu_);
    if (++done_ == n_) cv_done_.notify_all();
  }
}

void TaskGroup::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_work_.wait(lock, [&] { return stop_ || (active_ && generation_ != seen); });
      if (stop_) return;
      seen = generation_;
      ++busy_;  // join() waits until no worker is inside drain() (start() then resets safely)
    }
    drain();
    std::lock_guard lock(mu_);
    if (--busy_ == 0) cv_done_.notify_all();
  }
}

void TaskGroup::join() {
  {
    std::lock_guard lock(mu_);
    if (!active_) return;
  }
  drain();
  std::unique_lock lock(mu_);
  cv_done_.wait(lock, [&] { return done_ >= n_ && busy_ == 0; });
  active_ = false;
  fn_ = nullptr;
  if (error_) {
    std::exception_ptr e = error_;
    error_ = nullptr;
    std::rethrow_exception(e);
  }
}

}  // namespace hearth
