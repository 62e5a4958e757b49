#include "http_stream.h"

#include <algorithm>
#include <cctype>

#include "hearth/core/error.h"

namespace hearth::bench {

namespace {

// A size or trailer line longer than this is not HTTP; stop before buffering it all.
constexpr size_t kMaxLine = 8192;

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  return out;
}

size_t parse_chunk_size(std::string_view line) {
  const size_t semi = line.find(';');
  std::string_view hex = line.substr(0, semi);
  while (!hex.empty() && (hex.back() == ' ' || hex.back() == '\t')) hex.remove_suffix(1);
  if (hex.empty() || hex.size() > 15) fail("bad chunk size line '{}'", printable(line));
  size_t n = 0;
  for (char c : hex) {
    const int d = std::isdigit(static_cast<unsigned char>(c))         ? c - '0'
                  : (c >= 'a' && c <= 'f')                             ? c - 'a' + 10
                  : (c >= 'A' && c <= 'F')                             ? c - 'A' + 10
                                                                       : -1;
    if (d < 0) fail("bad chunk size line '{}'", printable(line));
    n = n * 16 + static_cast<size_t>(d);
  }
  return n;
}

}  // namespace

size_t ChunkedDecoder::feed(std::string_view in, std::string& out) {
  size_t i = 0;
  while (i < in.size() && state_ != State::Done) {
    switch (state_) {
      case State::SizeLine:
      case State::Trailer: {
        const char c = in[i++];
        if (c != '\n') {
          line_ += c;
          if (line_.size() > kMaxLine) fail("chunk size line longer than {} bytes", kMaxLine);
          break;
        }
        // Lines end with CRLF; a bare LF is accepted as well (RFC 9112 section 2.2).
        if (!line_.empty() && line_.back() == '\r') line_.pop_back();
        if (state_ == State::Trailer) {
          if (line_.empty()) state_ = State::Done;
        } else {
          remaining_ = parse_chunk_size(line_);
          state_ = remaining_ == 0 ? State::Trailer : State::Data;
        }
        line_.clear();
        break;
      }
      case State::Data: {
        const size_t take = std::min(remaining_, in.size() - i);
        out.append(in.substr(i, take));
        i += take;
        remaining_ -= take;
        if (remaining_ == 0) state_ = State::DataCr;
        break;
      }
      case State::DataCr:
        if (in[i] == '\n') {  // bare LF after the data
          ++i;
          state_ = State::SizeLine;
          break;
        }
        if (in[i++] != '\r') fail("chunk data not followed by CRLF");
        state_ = State::DataLf;
        break;
      case State::DataLf:
        if (in[i++] != '\n') fail("chunk data not followed by CRLF");
        state_ = State::SizeLine;
        break;
      case State::Done:
        break;
    }
  }
  return i;
}

void SseParser::feed(std::string_view bytes) {
  for (char c : bytes) {
    if (after_cr_) {
      after_cr_ = false;
      if (c == '\n') continue;  // the LF of a CRLF whose CR ended the line already
    }
    if (c == '\r' || c == '\n') {
      after_cr_ = c == '\r';
      line(line_);
      line_.clear();
    } else {
      line_ += c;
    }
  }
}

void SseParser::finish() {
  if (!line_.empty()) {
    line(line_);
    line_.clear();
  }
  dispatch();
}

void SseParser::line(std::string_view l) {
  if (l.empty()) {
    dispatch();
    return;
  }
  if (l.front() == ':') return;  // comment (keep-alives)
  const size_t colon = l.find(':');
  const std::string_view field = l.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? std::string_view{} : l.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (field == "data") {
    if (has_data_) current_.data += '\n';
    current_.data.append(value);
    has_data_ = true;
  } else if (field == "event") {
    current_.event.assign(value);
  }
}

void SseParser::dispatch() {
  // An event without data lines is not delivered (the spec's "data buffer is empty").
  if (has_data_) on_event_(current_);
  current_ = SseEvent{};
  has_data_ = false;
}

}  // namespace hearth::bench
