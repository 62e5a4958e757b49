#include "hearth/server/http_server.h"

#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "hearth/core/error.h"
#include "hearth/core/log.h"

namespace hearth::server {
namespace {

using Clock = std::chrono::steady_clock;

void set_timeout(int fd, int option, std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof(tv));
}

int poll_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1 << 30));
}

// Closes after telling the client we are done: a plain close() with unread input (the rest
// of an oversized body, a pipelined request) sends a reset that can destroy the response
// before the client reads it. Reads and drops input for a short while first.
void lingering_close(int fd, std::chrono::milliseconds linger = std::chrono::milliseconds(500)) {
  ::shutdown(fd, SHUT_WR);
  const auto deadline = Clock::now() + linger;
  char buf[16384];
  size_t dropped = 0;
  while (dropped < (size_t{4} << 20)) {
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, poll_ms(deadline));
    if (r <= 0) break;
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    dropped += static_cast<size_t>(n);
  }
  ::close(fd);
}

}  // namespace

// ---- ResponseWriter ----

bool ResponseWriter::send_all(std::string_view data) {
  if (failed_) return false;
  while (!data.empty()) {
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      failed_ = true;  // EPIPE / ECONNRESET, or EAGAIN after the write timeout
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
    bytes_ += static_cast<uint64_t>(n);
  }
  return true;
}

std::string ResponseWriter::head(int status, const HeaderList& headers, std::string_view content_type,
                                 std::string_view framing) const {
  std::string h = fmt::format("HTTP/1.1 {} {}\r\n", status, status_text(status));
  if (!content_type.empty()) h += fmt::format("Content-Type: {}\r\n", content_type);
  for (const auto& [k, v] : headers) h += k + ": " + v + "\r\n";
  h += framing;
  if (!keep_alive_) h += "Connection: close\r\n";
  h += "\r\n";
  return h;
}

bool ResponseWriter::send(int status, const HeaderList& headers, std::string_view body, std::string_view content_type) {
  if (started_) return false;
  started_ = true;
  status_ = status;
  std::string out = head(status, headers, content_type, fmt::format("Content-Length: {}\r\n", body.size()));
  out.append(body);
  return send_all(out);
}

bool ResponseWriter::begin_stream(int status, const HeaderList& headers, std::string_view content_type) {
  if (started_) return false;
  started_ = true;
  streaming_ = true;
  status_ = status;
  if (!http11_) keep_alive_ = false;  // HTTP/1.0: the end of the body is the end of the connection
  return send_all(head(status, headers, content_type, http11_ ? "Transfer-Encoding: chunked\r\n" : ""));
}

bool ResponseWriter::write(std::string_view data) {
  if (!streaming_ || data.empty()) return !failed_;
  if (!http11_) return send_all(data);
  std::string chunk = fmt::format("{:x}\r\n", data.size());
  chunk.append(data);
  chunk += "\r\n";
  return send_all(chunk);
}

bool ResponseWriter::end_stream() {
  if (!streaming_) return !failed_;
  streaming_ = false;
  return http11_ ? send_all("0\r\n\r\n") : !failed_;
}

// ---- HttpServer ----

HttpServer::HttpServer(HttpServerOptions options, Handler handler, ErrorBody error_body)
    : opts_(std::move(options)), handler_(std::move(handler)), error_body_(std::move(error_body)) {}

HttpServer::~HttpServer() {
  close_all();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

void HttpServer::start() {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(opts_.port);
  const int gai = ::getaddrinfo(opts_.host.empty() ? nullptr : opts_.host.c_str(), port.c_str(), &hints, &res);
  if (gai != 0) fail("--host {}: {}", opts_.host, ::gai_strerror(gai));
  std::string last_error = "no address";
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, 1024) == 0) {
      listen_fd_ = fd;
      break;
    }
    last_error = std::strerror(errno);
    ::close(fd);
  }
  ::freeaddrinfo(res);
  if (listen_fd_ < 0) fail("cannot listen on {}:{}: {}", opts_.host, opts_.port, last_error);
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = addr.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                                     : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) fail("eventfd: {}", std::strerror(errno));
  acceptor_ = std::thread([this] { accept_loop(); });
}

void HttpServer::accept_loop() {
  for (;;) {
    pollfd p[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      log::error("http: poll on the listening socket failed: {}", std::strerror(errno));
      return;
    }
    if (p[1].revents || stopping_) return;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    std::unique_lock lock(mutex_);
    if (static_cast<int>(connections_.size()) >= opts_.max_connections) {
      lock.unlock();
      reject_connection(fd);
      continue;
    }
    const uint64_t id = next_id_++;
    connections_.emplace(id, fd);
    ++threads_;
    lock.unlock();
    try {
      std::thread([this, id, fd] { serve_connection(id, fd); }).detach();
    } catch (const std::system_error&) {
      // No thread to be had: refuse the connection rather than die.
      std::lock_guard relock(mutex_);
      connections_.erase(id);
      --threads_;
      ::close(fd);
    }
  }
}

void HttpServer::reject_connection(int fd) {
  set_timeout(fd, SO_SNDTIMEO, std::chrono::milliseconds(1000));
  ResponseWriter w(fd, true, false, std::chrono::milliseconds(1000));
  auto [type, body] = error_body_(503, "too many open connections; retry later");
  w.send(503, {{"Retry-After", "1"}}, body, type);
  lingering_close(fd, std::chrono::milliseconds(20));  // on the accepting thread: keep it short
}

void HttpServer::serve_connection(uint64_t id, int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  set_timeout(fd, SO_SNDTIMEO, opts_.write_timeout);
  HttpRequestParser parser(opts_.limits);
  std::string pending;
  std::vector<char> buf(64 * 1024);
  bool sent_continue = false;
  bool linger = false;
  Clock::time_point request_deadline{};
  for (;;) {
    if (!pending.empty()) {
      const bool was_idle = parser.idle();
      pending.erase(0, parser.feed(pending));
      if (was_idle && !parser.idle()) request_deadline = Clock::now() + opts_.read_timeout;
    }
    if (parser.state() == HttpRequestParser::State::kError) {
      ResponseWriter w(fd, true, false, opts_.write_timeout);
      auto [type, body] = error_body_(parser.error_status(), parser.error_message());
      w.send(parser.error_status(), {}, body, type);
      linger = true;
      break;
    }
    if (parser.state() == HttpRequestParser::State::kComplete) {
      HttpRequest req = parser.take();
      sent_continue = false;
      ResponseWriter w(fd, req.version_minor >= 1, req.version_minor >= 1 && req.keep_alive(), opts_.write_timeout);
      if (stopping_) w.set_close();
      try {
        handler_(req, w);
      } catch (const std::exception& e) {
        log::error("http: handler failed on {} {}: {}", req.method, req.path, e.what());
      }
      if (!w.started()) {
        w.set_close();
        auto [type, body] = error_body_(500, "internal error: no response");
        w.send(500, {}, body, type);
      }
      if (!w.keep_alive() || stopping_) {
        linger = !w.failed();
        break;
      }
      continue;
    }
    if (parser.headers_done() && parser.expects_continue() && !sent_continue) {
      sent_continue = true;
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      if (::send(fd, kContinue.data(), kContinue.size(), MSG_NOSIGNAL) < 0) break;
    }
    // Need more bytes.
    const bool idle = parser.idle() && pending.empty();
    if (idle && stopping_) break;
    const Clock::time_point deadline = idle ? Clock::now() + opts_.keep_alive_timeout : request_deadline;
    pollfd p[2] = {{fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    const int r = ::poll(p, idle ? 2 : 1, poll_ms(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      if (!idle) {
        ResponseWriter w(fd, true, false, opts_.write_timeout);
        auto [type, body] = error_body_(408, "request not received in time");
        w.send(408, {}, body, type);
        linger = true;
      }
      break;
    }
    if (r < 0) break;
    if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;  // stop_fd only: loop re-checks
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (idle) request_deadline = Clock::now() + opts_.read_timeout;
    pending.append(buf.data(), static_cast<size_t>(n));
  }
  {
    std::lock_guard lock(mutex_);
    connections_.erase(id);
  }
  if (linger) lingering_close(fd);
  else ::close(fd);
  // Notified under the lock: once threads_ reaches 0 the server may be destroyed, and this
  // thread must not touch it after releasing the mutex.
  std::lock_guard lock(mutex_);
  --threads_;
  idle_cv_.notify_all();
}

void HttpServer::stop_accepting() {
  if (stopping_.exchange(true)) return;
  if (stop_fd_ >= 0) {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(stop_fd_, &one, sizeof(one));
  }
  if (acceptor_.joinable()) acceptor_.join();
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
}

bool HttpServer::wait_connections(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return idle_cv_.wait_until(lock, deadline, [&] { return threads_ == 0; });
}

void HttpServer::close_all() {
  stop_accepting();
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, fd] : connections_) ::shutdown(fd, SHUT_RDWR);
  }
  std::unique_lock lock(mutex_);
  idle_cv_.wait(lock, [&] { return threads_ == 0; });
}

int HttpServer::open_connections() const {
  std::lock_guard lock(mutex_);
  return static_cast<int>(connections_.size());
}

}  // namespace hearth::server
