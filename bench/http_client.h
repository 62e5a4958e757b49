// A small blocking HTTP/1.1 client over POSIX sockets, for the serving benchmark: one
// connection per request (`Connection: close`), one calling thread per request in flight.
// Written for measurement rather than generality: plain http only, the response body is
// handed over as it arrives together with the time it was read, and every wait is bounded
// by a timeout. Errors are hearth::Error with the host and port in the message.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hearth::bench {

using Clock = std::chrono::steady_clock;

// http://host[:port][/base/path]; host may be a name, an IPv4 address or [IPv6].
struct Url {
  std::string host;       // without brackets
  uint16_t port = 80;
  std::string base_path;  // "" or "/prefix", never ending in '/'

  static Url parse(std::string_view text);  // throws hearth::Error naming what is wrong
  std::string authority() const;           // host:port as written in the Host header
};

struct HttpOptions {
  double connect_timeout_s = 10;
  double read_timeout_s = 300;  // the longest silence tolerated while waiting for bytes
};

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string path;  // appended to the URL's base path, e.g. "/v1/completions"
  Headers headers;   // besides Host, Connection, Content-Length (added by the client)
  std::string body;
};

struct HttpResponse {
  int status = 0;
  std::string reason;
  Headers headers;   // names lower-cased
  std::string body;  // the whole body, unless a body callback took it (see http_request)
  std::string header(std::string_view name) const;  // "" when absent; name lower-case
};

// Receives the decoded body (chunked encoding removed) piece by piece, with the time the
// bytes were read from the socket.
using BodyCallback = std::function<void(std::string_view bytes, Clock::time_point at)>;

// Sends `req` and reads the response to its end. With `on_body`, a 2xx body goes to the
// callback instead of HttpResponse::body (an error body is always kept, up to 1 MiB, so
// that the caller can report the server's message). Throws hearth::Error on a bad
// address, a refused or timed-out connection, a malformed response, or a connection
// closed before the end of the body.
HttpResponse http_request(const Url& url, const HttpRequest& req, const HttpOptions& opt = {},
                          const BodyCallback& on_body = {});

// Parses a status line and header block (without the final empty line); exposed for tests.
HttpResponse parse_response_head(std::string_view head);

// The most useful one-line description of a non-2xx response: "HTTP 401: <message>" with
// the message of an OpenAI error body {"error": {"message": ...}}, else the body's start.
std::string describe_http_error(const HttpResponse& r);

}  // namespace hearth::bench
