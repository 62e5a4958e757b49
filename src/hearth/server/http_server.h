// A small HTTP/1.1 server over POSIX sockets: one thread per connection (bounded), keep-alive,
// pipelining, chunked responses for streaming, and access to the socket so that a handler
// can notice a client that went away (disconnect_watcher.h).
//
// Why not cpp-httplib (Debian's 0.11.4): its handlers cannot see the connection, so a
// non-streaming request could not be aborted when its client disconnects; its task queue is
// unbounded, and its stop() does not drain in-flight requests with a deadline. The server
// here is ~500 lines and its request parser is fuzzed on its own (http_parser.h).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "hearth/server/http_message.h"
#include "hearth/server/http_parser.h"

namespace hearth::server {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: any free port (see HttpServer::port())
  HttpLimits limits;
  int max_connections = 1024;
  std::chrono::milliseconds keep_alive_timeout{30000};  // idle time between requests
  std::chrono::milliseconds read_timeout{60000};        // to receive one whole request
  std::chrono::milliseconds write_timeout{60000};       // a client that stops reading
};

// One response on one connection: either send() once, or begin_stream() + write()* +
// end_stream() (chunked on HTTP/1.1).
class ResponseWriter {
 public:
  ResponseWriter(int fd, bool http11, bool keep_alive, std::chrono::milliseconds write_timeout)
      : fd_(fd), http11_(http11), keep_alive_(keep_alive), write_timeout_(write_timeout) {}

  // False when the client is gone (the connection is then closed).
  bool send(int status, const HeaderList& headers, std::string_view body, std::string_view content_type);
  bool begin_stream(int status, const HeaderList& headers, std::string_view content_type);
  bool write(std::string_view data);
  bool end_stream();

  bool started() const { return started_; }
  int status() const { return status_; }
  uint64_t bytes_sent() const { return bytes_; }
  bool failed() const { return failed_; }
  bool keep_alive() const { return keep_alive_ && !failed_; }
  // Ends the connection after this response (shutdown, errors).
  void set_close() { keep_alive_ = false; }
  // The socket: for watching it (never read from or written to by the handler itself).
  int fd() const { return fd_; }

 private:
  bool send_all(std::string_view data);
  std::string head(int status, const HeaderList& headers, std::string_view content_type, std::string_view framing) const;

  int fd_;
  bool http11_;
  bool keep_alive_;
  std::chrono::milliseconds write_timeout_;
  bool started_ = false;
  bool streaming_ = false;
  bool failed_ = false;
  int status_ = 0;
  uint64_t bytes_ = 0;
};

class HttpServer {
 public:
  using Handler = std::function<void(const HttpRequest&, ResponseWriter&)>;
  // The body of an error the server answers itself (malformed request, too large, too
  // many connections): status, message -> (content type, body).
  using ErrorBody = std::function<std::pair<std::string, std::string>(int status, const std::string& message)>;

  HttpServer(HttpServerOptions options, Handler handler, ErrorBody error_body);
  ~HttpServer();  // stop() and close everything
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens (throws hearth::Error naming the address), then accepts on a thread.
  void start();
  int port() const { return port_; }
  // Stops accepting; idle keep-alive connections close; requests in progress continue.
  void stop_accepting();
  // Waits until no connection is left or the deadline passes; true when none is left.
  bool wait_connections(std::chrono::steady_clock::time_point deadline);
  // Closes every connection at once (their handlers see write failures) and joins.
  void close_all();

  int open_connections() const;

 private:
  void accept_loop();
  void serve_connection(uint64_t id, int fd);
  void reject_connection(int fd);

  HttpServerOptions opts_;
  Handler handler_;
  ErrorBody error_body_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;  // eventfd: readable once stop_accepting() ran
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;

  mutable std::mutex mutex_;
  std::condition_variable idle_cv_;
  std::map<uint64_t, int> connections_;  // id -> fd
  uint64_t next_id_ = 0;
  int threads_ = 0;  // connection threads still running
};

}  // namespace hearth::server
