#include "http_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "hearth/core/error.h"
#include "http_stream.h"

namespace hearth::bench {

namespace {

constexpr size_t kMaxHead = 64 * 1024;        // status line + headers
constexpr size_t kMaxErrorBody = 1024 * 1024;  // kept for the error message

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 1'000'000'000));
}

std::chrono::milliseconds seconds_ms(double s) {
  return std::chrono::milliseconds(static_cast<long long>(s * 1000.0));
}

// A connected TCP socket, non-blocking, every wait bounded by poll().
class Socket {
 public:
  Socket(const Url& url, const HttpOptions& opt) : where_(url.authority()), opt_(opt) { connect_to(url); }
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  void send_all(std::string_view data) {
    while (!data.empty()) {
      // MSG_NOSIGNAL: a server that closes early must give an error, not kill the bench.
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        wait_for(POLLOUT, "sending the request");
      } else if (n < 0 && errno != EINTR) {
        fail("sending to {}: {}", where_, std::strerror(errno));
      }
    }
  }

  // Reads what is available (waiting up to the read timeout); 0 at end of stream.
  size_t read_some(char* buf, size_t cap, const char* waiting_for) {
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, cap, 0);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        wait_for(POLLIN, waiting_for);
      } else if (errno == ECONNRESET) {
        return 0;  // reported by the caller as "closed before the end of ..."
      } else if (errno != EINTR) {
        fail("reading from {}: {}", where_, std::strerror(errno));
      }
    }
  }

 private:
  void connect_to(const Url& url) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const std::string port = std::to_string(url.port);
    if (const int rc = ::getaddrinfo(url.host.c_str(), port.c_str(), &hints, &res); rc != 0)
      fail("cannot resolve host '{}': {}", url.host, ::gai_strerror(rc));
    std::string last_error = "no address";
    const Clock::time_point deadline = Clock::now() + seconds_ms(opt_.connect_timeout_s);
    for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
      const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) {
        last_error = std::strerror(errno);
        continue;
      }
      int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
      if (rc < 0 && errno == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        rc = ::poll(&p, 1, remaining_ms(deadline));
        if (rc == 0) {
          ::close(fd);
          ::freeaddrinfo(res);
          fail("connect to {} timed out after {} s", where_, opt_.connect_timeout_s);
        }
        int err = 0;
        socklen_t len = sizeof(err);
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        errno = err;
        rc = err == 0 ? 0 : -1;
      }
      if (rc == 0) {
        const int one = 1;  // small requests and SSE lines must not wait for Nagle
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        fd_ = fd;
        ::freeaddrinfo(res);
        return;
      }
      last_error = std::strerror(errno);
      ::close(fd);
    }
    ::freeaddrinfo(res);
    fail("connect to {} failed: {}", where_, last_error);
  }

  void wait_for(short events, const char* what) {
    pollfd p{fd_, events, 0};
    const int timeout_ms = static_cast<int>(std::min(opt_.read_timeout_s * 1000.0, 2.0e9));
    for (;;) {
      const int rc = ::poll(&p, 1, timeout_ms);
      if (rc > 0) return;
      if (rc == 0) fail("timed out after {} s {} ({})", opt_.read_timeout_s, what, where_);
      if (errno != EINTR) fail("poll on {}: {}", where_, std::strerror(errno));
    }
  }

  std::string where_;
  HttpOptions opt_;
  int fd_ = -1;
};

std::string serialize(const Url& url, const HttpRequest& req) {
  std::string s = req.method + " " + url.base_path + (req.path.empty() ? "/" : req.path) + " HTTP/1.1\r\n";
  s += "Host: " + url.authority() + "\r\n";
  s += "Connection: close\r\n";
  for (const auto& [k, v] : req.headers) s += k + ": " + v + "\r\n";
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT")
    s += "Content-Length: " + std::to_string(req.body.size()) + "\r\n";
  s += "\r\n";
  s += req.body;
  return s;
}

}  // namespace

Url Url::parse(std::string_view text) {
  constexpr std::string_view scheme = "http://";
  if (text.starts_with("https://")) fail("bad URL '{}': https is not supported (use http://)", text);
  if (!text.starts_with(scheme)) fail("bad URL '{}': expected http://host[:port][/path]", text);
  std::string_view rest = text.substr(scheme.size());
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  if (path.find_first_of("?# ") != std::string_view::npos) fail("bad URL '{}': query, fragment or space in the path", text);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (authority.find('@') != std::string_view::npos) fail("bad URL '{}': user info is not supported", text);
  Url u;
  std::string_view port_text;
  if (authority.starts_with("[")) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) fail("bad URL '{}': unterminated [IPv6] host", text);
    u.host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') fail("bad URL '{}': junk after the [IPv6] host", text);
      port_text = after.substr(1);
      if (port_text.empty()) fail("bad URL '{}': empty port", text);
    }
  } else {
    const size_t colon = authority.find(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) fail("bad URL '{}': empty port", text);
    }
  }
  if (u.host.empty()) fail("bad URL '{}': no host", text);
  if (!port_text.empty()) {
    if (port_text.size() > 5 || !std::all_of(port_text.begin(), port_text.end(), [](char c) { return c >= '0' && c <= '9'; }))
      fail("bad URL '{}': port '{}' is not a number in 1..65535", text, port_text);
    const int p = std::stoi(std::string(port_text));
    if (p < 1 || p > 65535) fail("bad URL '{}': port '{}' is not a number in 1..65535", text, port_text);
    u.port = static_cast<uint16_t>(p);
  }
  u.base_path = path;
  return u;
}

std::string Url::authority() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return {};
}

HttpResponse parse_response_head(std::string_view head) {
  HttpResponse r;
  size_t eol = head.find('\n');
  const std::string_view status_line = trim(head.substr(0, eol));
  // "HTTP/1.1 200 OK": version, a three-digit code, an optional reason.
  if (!status_line.starts_with("HTTP/1.") || status_line.size() < 12 || status_line[8] != ' ' ||
      !std::isdigit(static_cast<unsigned char>(status_line[9])) ||
      !std::isdigit(static_cast<unsigned char>(status_line[10])) ||
      !std::isdigit(static_cast<unsigned char>(status_line[11])) || (status_line.size() > 12 && status_line[12] != ' '))
    fail("malformed HTTP status line '{}'", status_line.substr(0, 80));
  r.status = std::stoi(std::string(status_line.substr(9, 3)));
  r.reason = status_line.size() > 13 ? std::string(status_line.substr(13)) : std::string();
  while (eol != std::string_view::npos) {
    const size_t start = eol + 1;
    eol = head.find('\n', start);
    const std::string_view line = trim(head.substr(start, eol == std::string_view::npos ? std::string_view::npos : eol - start));
    if (line.empty()) continue;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) fail("malformed HTTP header line '{}'", line.substr(0, 80));
    r.headers.emplace_back(lower(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1))));
  }
  return r;
}

std::string describe_http_error(const HttpResponse& r) {
  std::string msg = "HTTP " + std::to_string(r.status);
  const auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("error")) {
    const auto& e = j["error"];
    if (e.is_object() && e.contains("message") && e["message"].is_string()) return msg + ": " + e["message"].get<std::string>();
    if (e.is_string()) return msg + ": " + e.get<std::string>();
  }
  std::string body = r.body.substr(0, 200);
  std::replace(body.begin(), body.end(), '\n', ' ');
  std::replace(body.begin(), body.end(), '\r', ' ');
  return body.empty() ? msg + (r.reason.empty() ? "" : " " + r.reason) : msg + ": " + body;
}

HttpResponse http_request(const Url& url, const HttpRequest& req, const HttpOptions& opt, const BodyCallback& on_body) {
  Socket sock(url, opt);
  sock.send_all(serialize(url, req));

  std::string buf;
  std::vector<char> scratch(64 * 1024);
  size_t head_end = std::string::npos, sep = 0;
  HttpResponse r;
  for (;;) {
    while ((head_end = buf.find("\r\n\r\n")) == std::string::npos && (head_end = buf.find("\n\n")) == std::string::npos) {
      if (buf.size() > kMaxHead) fail("response headers from {} longer than {} bytes", url.authority(), kMaxHead);
      const size_t n = sock.read_some(scratch.data(), scratch.size(), "waiting for the response headers");
      if (n == 0) fail("connection closed by {} before the response headers", url.authority());
      buf.append(scratch.data(), n);
    }
    sep = buf.compare(head_end, 4, "\r\n\r\n") == 0 ? 4 : 2;
    r = parse_response_head(std::string_view(buf).substr(0, head_end));
    if (r.status >= 200 || r.status == 101) break;
    buf.erase(0, head_end + sep);  // 1xx interim response: the real one follows
  }
  Clock::time_point read_at = Clock::now();
  std::string pending = buf.substr(head_end + sep);

  const bool stream = on_body && r.status >= 200 && r.status < 300;
  auto deliver = [&](std::string_view bytes) {
    if (bytes.empty()) return;
    if (stream) {
      on_body(bytes, read_at);
    } else if (r.body.size() < kMaxErrorBody) {
      r.body.append(bytes.substr(0, kMaxErrorBody - r.body.size()));
    }
  };
  if (req.method == "HEAD" || r.status == 204 || r.status == 304) return r;

  const bool chunked = lower(r.header("transfer-encoding")).find("chunked") != std::string::npos;
  const std::string length_text = r.header("content-length");
  if (chunked) {
    ChunkedDecoder dec;
    std::string out;
    for (;;) {
      out.clear();
      dec.feed(pending, out);
      deliver(out);
      if (dec.done()) return r;
      const size_t n = sock.read_some(scratch.data(), scratch.size(), "waiting for the response body");
      read_at = Clock::now();
      if (n == 0) fail("connection closed by {} before the end of the chunked body", url.authority());
      pending.assign(scratch.data(), n);
    }
  }
  if (!length_text.empty()) {
    size_t left = 0;
    try {
      left = std::stoull(length_text);
    } catch (const std::exception&) {
      fail("bad Content-Length '{}' from {}", length_text, url.authority());
    }
    for (;;) {
      const size_t take = std::min(left, pending.size());
      deliver(std::string_view(pending).substr(0, take));
      left -= take;
      if (left == 0) return r;
      const size_t n = sock.read_some(scratch.data(), scratch.size(), "waiting for the response body");
      read_at = Clock::now();
      if (n == 0) fail("connection closed by {} with {} body bytes missing", url.authority(), left);
      pending.assign(scratch.data(), n);
    }
  }
  // Neither chunked nor a length: the body runs to the end of the connection.
  for (;;) {
    deliver(pending);
    const size_t n = sock.read_some(scratch.data(), scratch.size(), "waiting for the response body");
    read_at = Clock::now();
    if (n == 0) return r;
    pending.assign(scratch.data(), n);
  }
}

}  // namespace hearth::bench
