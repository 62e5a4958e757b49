// Notices clients that went away while their request is being generated, so the request is
// aborted within one engine step also when nothing is being written to the socket (prefill,
// non-streaming requests). One thread polls every watched socket for POLLRDHUP / POLLHUP /
// POLLERR only (not POLLIN: a pipelined next request must not look like a hang-up).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace hearth::server {

class DisconnectWatcher {
 public:
  DisconnectWatcher();
  ~DisconnectWatcher();
  DisconnectWatcher(const DisconnectWatcher&) = delete;
  DisconnectWatcher& operator=(const DisconnectWatcher&) = delete;

  // Calls on_disconnect (once, on the watcher thread) when the peer of `fd` closes or
  // resets. Returns a handle for unwatch().
  uint64_t watch(int fd, std::function<void()> on_disconnect);
  // After it returns the callback is not running and will not run.
  void unwatch(uint64_t handle);

  // RAII: watch for a scope.
  class Scope {
   public:
    Scope(DisconnectWatcher& w, int fd, std::function<void()> cb) : w_(&w), h_(w.watch(fd, std::move(cb))) {}
    ~Scope() { w_->unwatch(h_); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    DisconnectWatcher* w_;
    uint64_t h_;
  };

 private:
  void loop();
  void wake();

  struct Entry {
    int fd;
    std::function<void()> callback;
  };
  std::mutex mutex_;
  std::map<uint64_t, Entry> entries_;
  uint64_t next_ = 1;
  bool stop_ = false;
  int wake_fd_ = -1;
  std::thread thread_;
};

}  // namespace hearth::server
