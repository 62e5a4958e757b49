// Incremental HTTP/1.1 request parser (RFC 9112), strict where leniency invites request
// smuggling or unbounded memory:
//   - the request line and header section are bounded (414 / 431), bodies too (413: decided
//     from Content-Length before any body byte is read);
//   - Content-Length with Transfer-Encoding, conflicting Content-Lengths, obsolete line
//     folding, whitespace before a header's colon, control characters: 400;
//   - Transfer-Encoding other than "chunked", an HTTP version other than 1.0 / 1.1: 400, not
//     RFC 9110's suggested 501 / 505: whatever a client sends, hearth answers it with a 4xx
//     (issue 7: client input never causes a 5xx).
// Lines may end in CRLF or a bare LF (RFC 9112 section 2.2 lets a server accept LF). Bytes
// after a complete request stay unconsumed (pipelining): feed() returns how many it used.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "hearth/server/http_message.h"

namespace hearth::server {

struct HttpLimits {
  size_t max_request_line = 8 * 1024;
  size_t max_header_bytes = 64 * 1024;  // request line + headers
  size_t max_headers = 100;
  size_t max_body_bytes = 16 * 1024 * 1024;
};

class HttpRequestParser {
 public:
  enum class State { kNeedMore, kComplete, kError };

  explicit HttpRequestParser(HttpLimits limits = {}) : limits_(limits) {}

  // Consumes bytes of `data` (all of it unless the request completes or fails inside it);
  // returns the number consumed.
  size_t feed(std::string_view data);
  State state() const { return state_; }
  // The header section is parsed (the body may still be arriving).
  bool headers_done() const { return phase_ > Phase::kHeaders; }
  // The client sent "Expect: 100-continue" and waits for a 100 before the body.
  bool expects_continue() const { return expect_continue_; }
  // Nothing of a request has arrived yet (an idle keep-alive connection).
  bool idle() const { return phase_ == Phase::kRequestLine && line_.empty() && !started_; }
  // kError: the status to answer (400, 413, 414, 417, 431) and why.
  int error_status() const { return error_status_; }
  const std::string& error_message() const { return error_message_; }

  // kComplete: takes the request and resets the parser for the next one.
  HttpRequest take();

 private:
  enum class Phase { kRequestLine, kHeaders, kBody, kChunkSize, kChunkData, kChunkDataEnd, kTrailers, kDone };

  void set_error(int status, std::string message);
  bool on_request_line(std::string_view line);
  bool on_header_line(std::string_view line);
  bool on_headers_end();
  bool on_chunk_size_line(std::string_view line);

  HttpLimits limits_;
  State state_ = State::kNeedMore;
  Phase phase_ = Phase::kRequestLine;
  std::string line_;           // the current incomplete line (head, chunk sizes, trailers)
  size_t header_bytes_ = 0;    // bytes of the head so far
  size_t trailer_bytes_ = 0;
  bool started_ = false;
  bool expect_continue_ = false;
  uint64_t remaining_ = 0;     // body or chunk bytes still to read
  HttpRequest req_;
  int error_status_ = 0;
  std::string error_message_;
};

// Whether `s` is a token (RFC 9110 tchar+): methods and header names.
bool is_http_token(std::string_view s);

}  // namespace hearth::server
