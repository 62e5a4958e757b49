#include "hearth/server/disconnect_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "hearth/core/error.h"

namespace hearth::server {

DisconnectWatcher::DisconnectWatcher() {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) fail("eventfd: {}", std::strerror(errno));
  thread_ = std::thread([this] { loop(); });
}

DisconnectWatcher::~DisconnectWatcher() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake();
  thread_.join();
  ::close(wake_fd_);
}

void DisconnectWatcher::wake() {
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof(one));
}

uint64_t DisconnectWatcher::watch(int fd, std::function<void()> on_disconnect) {
  uint64_t h;
  {
    std::lock_guard lock(mutex_);
    h = next_++;
    entries_.emplace(h, Entry{fd, std::move(on_disconnect)});
  }
  wake();
  return h;
}

void DisconnectWatcher::unwatch(uint64_t handle) {
  {
    std::lock_guard lock(mutex_);  // callbacks run under this mutex: none is running now
    entries_.erase(handle);
  }
  wake();
}

void DisconnectWatcher::loop() {
  std::vector<pollfd> fds;
  std::vector<uint64_t> handles;
  for (;;) {
    fds.assign(1, pollfd{wake_fd_, POLLIN, 0});
    handles.assign(1, 0);
    {
      std::lock_guard lock(mutex_);
      if (stop_) return;
      for (const auto& [h, e] : entries_) {
        fds.push_back(pollfd{e.fd, POLLRDHUP, 0});
        handles.push_back(h);
      }
    }
    const int r = ::poll(fds.data(), fds.size(), -1);
    if (r < 0) continue;  // EINTR
    if (fds[0].revents) {
      uint64_t v;
      [[maybe_unused]] const ssize_t n = ::read(wake_fd_, &v, sizeof(v));
    }
    std::lock_guard lock(mutex_);
    for (size_t i = 1; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) continue;
      const auto it = entries_.find(handles[i]);
      if (it == entries_.end()) continue;  // unwatched meanwhile (its fd may be reused)
      std::function<void()> cb = std::move(it->second.callback);
      entries_.erase(it);
      if (cb) cb();
    }
  }
}

}  // namespace hearth::server
