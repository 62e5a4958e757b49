// Incremental decoders for a streamed HTTP response body, fed bytes as they arrive from
// the socket in whatever pieces the kernel hands over: a chunk header, a CRLF or an SSE
// line may be split across any two reads, so both decoders keep state between feeds.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace hearth::bench {

// Transfer-Encoding: chunked (RFC 9112 section 7.1): hex size line (extensions after ';'
// ignored), data, CRLF; a zero-size chunk, optional trailer lines and an empty line end it.
// Throws hearth::Error on a malformed size line or a missing CRLF after the data.
class ChunkedDecoder {
 public:
  // Appends the decoded bytes of `in` to `out`; returns the number of bytes of `in` used
  // (less than in.size() only when the body ended inside `in`).
  size_t feed(std::string_view in, std::string& out);
  bool done() const { return state_ == State::Done; }

 private:
  enum class State { SizeLine, Data, DataCr, DataLf, Trailer, Done };
  State state_ = State::SizeLine;
  std::string line_;      // the size or trailer line read so far
  size_t remaining_ = 0;  // bytes left in the current chunk
};

// One server-sent event (the WHATWG EventSource format): `data` is its data lines joined
// with '\n'; `event` its type ("" when none was given).
struct SseEvent {
  std::string event;
  std::string data;
};

// Splits a text/event-stream into events. Lines end with CRLF, LF or CR; lines starting
// with ':' are comments; "data: x" and "data:x" are the same (one leading space dropped);
// an empty line dispatches the event; id and retry are ignored.
class SseParser {
 public:
  using Callback = std::function<void(const SseEvent&)>;
  explicit SseParser(Callback on_event) : on_event_(std::move(on_event)) {}

  void feed(std::string_view bytes);
  // End of stream. Lenient where the spec is strict: an event cut off by the end of the
  // stream (no empty line after it) is still delivered, so that a server that forgets the
  // final blank line after `data: [DONE]` is reported as what it sent.
  void finish();
  // Bytes held for an incomplete line (bounded by the caller's own limits).
  size_t pending_bytes() const { return line_.size(); }

 private:
  void line(std::string_view l);
  void dispatch();

  Callback on_event_;
  std::string line_;
  bool after_cr_ = false;  // the last byte was CR: a following LF belongs to it
  bool has_data_ = false;
  SseEvent current_;
};

}  // namespace hearth::bench
