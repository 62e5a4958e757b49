// The HTTP server over real sockets on 127.0.0.1 (no model): keep-alive and pipelining,
// limits answered by the server itself, chunked streaming, the disconnect watcher, and
// stop_accepting / close_all.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "hearth/server/api_error.h"
#include "hearth/server/disconnect_watcher.h"
#include "hearth/server/http_server.h"

namespace hearth::server {
namespace {

using namespace std::chrono_literals;

int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

void send_text(int fd, const std::string& s) { ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size())); }

// Reads until `marker` has been seen `count` times, or EOF / timeout.
std::string read_until(int fd, const std::string& marker, int count = 1) {
  std::string out;
  char buf[4096];
  for (;;) {
    int seen = 0;
    for (size_t p = out.find(marker); p != std::string::npos; p = out.find(marker, p + 1)) ++seen;
    if (seen >= count) return out;
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

struct Fixture {
  std::atomic<int> disconnects{0};
  DisconnectWatcher watcher;
  HttpServer server;
  explicit Fixture(HttpServerOptions o = {})
      : server(
            [&] {
              o.port = 0;
              o.limits.max_body_bytes = 1000;
              return o;
            }(),
            [this](const HttpRequest& req, ResponseWriter& w) { handle(req, w); },
            [](int status, const std::string& m) { return std::make_pair(std::string("application/json"), error_body(status, m)); }) {
    server.start();
  }
  void handle(const HttpRequest& req, ResponseWriter& w) {
    if (req.path == "/echo") {
      w.send(200, {{"X-Path", req.path}}, req.body, "text/plain");
    } else if (req.path == "/stream") {
      w.begin_stream(200, {}, "text/event-stream");
      for (int i = 0; i < 3; ++i) w.write("data: " + std::to_string(i) + "\n\n");
      w.end_stream();
    } else if (req.path == "/wait") {
      // A long request that only ends when its client goes away.
      std::atomic<bool> gone{false};
      DisconnectWatcher::Scope scope(watcher, w.fd(), [&] { gone = true; });
      for (int i = 0; i < 500 && !gone; ++i) std::this_thread::sleep_for(10ms);
      if (gone) ++disconnects;
      w.send(200, {}, "late", "text/plain");
    } else {
      w.send(404, {}, "", "text/plain");
    }
  }
};

TEST(HttpServer, KeepAliveAndPipelining) {
  Fixture f;
  const int fd = connect_to(f.server.port());
  ASSERT_GE(fd, 0);
  send_text(fd, "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcPOST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nde");
  const std::string two = read_until(fd, "HTTP/1.1 200", 2);
  EXPECT_NE(two.find("abc"), std::string::npos) << two;
  const std::string second = two.substr(two.rfind("HTTP/1.1 200"));
  EXPECT_NE(second.find("Content-Length: 2\r\n"), std::string::npos);
  send_text(fd, "GET /echo HTTP/1.1\r\n\r\n");  // the same connection, again
  EXPECT_NE(read_until(fd, "X-Path: /echo").find("200 OK"), std::string::npos);
  ::close(fd);
}

TEST(HttpServer, ChunkedStreamAndChunkedBody) {
  Fixture f;
  const int fd = connect_to(f.server.port());
  send_text(fd, "POST /stream HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n");
  const std::string r = read_until(fd, "0\r\n\r\n");
  EXPECT_NE(r.find("Transfer-Encoding: chunked"), std::string::npos);
  EXPECT_NE(r.find("9\r\ndata: 2\n\n\r\n"), std::string::npos) << r;
  ::close(fd);
}

TEST(HttpServer, ErrorsTheServerAnswersItself) {
  Fixture f;
  const std::pair<std::string, std::string> cases[] = {
      {"POST /echo HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", "413"},
      {"GET /echo HTTP/7.0\r\n\r\n", "400"},
      {"BAD\r\n\r\n", "400"},
      {"POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", "100 Continue"},
  };
  for (const auto& [req, expected] : cases) {
    const int fd = connect_to(f.server.port());
    send_text(fd, req);
    const std::string r = read_until(fd, "\r\n\r\n");
    EXPECT_NE(r.find(expected), std::string::npos) << req << " -> " << r;
    if (expected != "100 Continue") {
      EXPECT_NE(r.find("Connection: close"), std::string::npos);
    }
    ::close(fd);
  }
}

TEST(HttpServer, DisconnectIsNoticed) {
  Fixture f;
  const int fd = connect_to(f.server.port());
  send_text(fd, "GET /wait HTTP/1.1\r\n\r\n");
  std::this_thread::sleep_for(50ms);
  const auto t0 = std::chrono::steady_clock::now();
  ::close(fd);
  while (f.disconnects == 0 && std::chrono::steady_clock::now() - t0 < 3s) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(f.disconnects, 1);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
}

TEST(HttpServer, MaxConnectionsAnd503) {
  HttpServerOptions o;
  o.max_connections = 1;
  Fixture f(o);
  const int a = connect_to(f.server.port());
  send_text(a, "GET /echo HTTP/1.1\r\n\r\n");
  read_until(a, "X-Path");
  const int b = connect_to(f.server.port());
  const std::string r = read_until(b, "\r\n\r\n");
  EXPECT_NE(r.find("503"), std::string::npos) << r;
  EXPECT_NE(r.find("Retry-After: 1"), std::string::npos) << r;
  ::close(a);
  ::close(b);
}

TEST(HttpServer, StopAcceptingThenCloseAll) {
  Fixture f;
  const int idle = connect_to(f.server.port());
  send_text(idle, "GET /echo HTTP/1.1\r\n\r\n");
  read_until(idle, "X-Path");
  f.server.stop_accepting();
  EXPECT_LT(connect_to(f.server.port()), 0);  // the listening socket is closed
  // The idle keep-alive connection is closed by the server.
  char c;
  EXPECT_EQ(::recv(idle, &c, 1, 0), 0);
  EXPECT_TRUE(f.server.wait_connections(std::chrono::steady_clock::now() + 2s));
  f.server.close_all();
  ::close(idle);
}

}  // namespace
}  // namespace hearth::server
