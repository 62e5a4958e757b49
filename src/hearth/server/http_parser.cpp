#include "hearth/server/http_parser.h"

#include <algorithm>
#include <utility>

namespace hearth::server {
namespace {

bool is_tchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>((c >= 'A' && c <= 'Z') ? c + 32 : c);
  return out;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Field values: visible characters, spaces, tabs and obs-text; no other control bytes.
bool valid_field_value(std::string_view v) {
  for (unsigned char c : v)
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  return true;
}

bool valid_target(std::string_view t) {
  if (t.empty()) return false;
  for (unsigned char c : t)
    if (c <= 0x20 || c == 0x7f) return false;
  return true;
}

}  // namespace

bool is_http_token(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return is_tchar(static_cast<unsigned char>(c)); });
}

bool HttpRequest::keep_alive() const {
  const std::string* c = header("connection");
  std::string v = c ? lower(*c) : std::string();
  auto has = [&](std::string_view word) {
    size_t pos = 0;
    while ((pos = v.find(word, pos)) != std::string::npos) {
      const bool left = pos == 0 || v[pos - 1] == ',' || v[pos - 1] == ' ';
      const size_t end = pos + word.size();
      const bool right = end == v.size() || v[end] == ',' || v[end] == ' ';
      if (left && right) return true;
      pos = end;
    }
    return false;
  };
  if (version_minor == 0) return has("keep-alive");
  return !has("close");
}

void HttpRequestParser::set_error(int status, std::string message) {
  state_ = State::kError;
  error_status_ = status;
  error_message_ = std::move(message);
}

bool HttpRequestParser::on_request_line(std::string_view line) {
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    set_error(400, "malformed request line");
    return false;
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!is_http_token(method)) {
    set_error(400, "malformed request method");
    return false;
  }
  if (!valid_target(target)) {
    set_error(400, "malformed request target");
    return false;
  }
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' || version[5] < '0' ||
      version[5] > '9' || version[7] < '0' || version[7] > '9') {
    set_error(400, "malformed HTTP version");
    return false;
  }
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) {
    set_error(400, "HTTP version not supported (HTTP/1.0 and HTTP/1.1 are)");
    return false;
  }
  req_.method = std::string(method);
  req_.target = std::string(target);
  req_.version_minor = version[7] - '0';
  std::string_view path = target;
  // absolute-form (proxies): keep the path part.
  if (path.substr(0, 7) == "http://" || path.substr(0, 8) == "https://") {
    const size_t slash = path.find('/', path.find("//") + 2);
    path = slash == std::string_view::npos ? std::string_view("/") : path.substr(slash);
  } else if (path != "*" && path.front() != '/') {
    set_error(400, "malformed request target");
    return false;
  }
  const size_t q = path.find('?');
  req_.path = std::string(path.substr(0, q));
  req_.query = q == std::string_view::npos ? std::string() : std::string(path.substr(q + 1));
  const size_t hash = req_.path.find('#');
  if (hash != std::string::npos) req_.path.resize(hash);
  return true;
}

bool HttpRequestParser::on_header_line(std::string_view line) {
  if (line.front() == ' ' || line.front() == '\t') {
    set_error(400, "obsolete header line folding is not accepted");
    return false;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || !is_http_token(line.substr(0, colon))) {
    set_error(400, "malformed header line");
    return false;
  }
  const std::string_view value = trim_ows(line.substr(colon + 1));
  if (!valid_field_value(value)) {
    set_error(400, "control character in a header value");
    return false;
  }
  if (req_.headers.size() >= limits_.max_headers) {
    set_error(431, "too many header fields");
    return false;
  }
  req_.headers.emplace_back(lower(line.substr(0, colon)), std::string(value));
  return true;
}

bool HttpRequestParser::on_headers_end() {
  const std::string* te = nullptr;
  bool has_length = false;
  uint64_t length = 0;
  for (const auto& [name, value] : req_.headers) {
    if (name == "transfer-encoding") {
      if (te) {
        set_error(400, "several Transfer-Encoding fields");
        return false;
      }
      te = &value;
    } else if (name == "content-length") {
      // Digits only; a list of equal values ("5, 5") is tolerated by RFC 9110 but refused
      // here like any other oddity of this field.
      if (value.empty() || value.size() > 19 ||
          !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        set_error(400, "malformed Content-Length");
        return false;
      }
      const uint64_t v = std::stoull(value);
      if (has_length && v != length) {
        set_error(400, "conflicting Content-Length fields");
        return false;
      }
      has_length = true;
      length = v;
    } else if (name == "expect") {
      if (lower(value) != "100-continue") {
        set_error(417, "only 'Expect: 100-continue' is understood");
        return false;
      }
      expect_continue_ = req_.version_minor >= 1;
    }
  }
  if (te) {
    if (has_length) {
      set_error(400, "both Transfer-Encoding and Content-Length");
      return false;
    }
    if (lower(*te) != "chunked" || req_.version_minor == 0) {
      set_error(400, "Transfer-Encoding '" + *te + "' is not supported (chunked is)");
      return false;
    }
    phase_ = Phase::kChunkSize;
    return true;
  }
  if (length > limits_.max_body_bytes) {
    set_error(413, "request body of " + std::to_string(length) + " bytes exceeds the limit of " +
                       std::to_string(limits_.max_body_bytes));
    return false;
  }
  remaining_ = length;
  req_.body.reserve(length);
  phase_ = length > 0 ? Phase::kBody : Phase::kDone;
  return true;
}

bool HttpRequestParser::on_chunk_size_line(std::string_view line) {
  const size_t semi = line.find(';');
  const std::string_view size = trim_ows(line.substr(0, semi));
  if (size.empty() || size.size() > 15) {
    set_error(400, "malformed chunk size");
    return false;
  }
  uint64_t v = 0;
  for (char c : size) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else {
      set_error(400, "malformed chunk size");
      return false;
    }
    v = v * 16 + static_cast<uint64_t>(d);
  }
  if (semi != std::string_view::npos && !valid_field_value(line.substr(semi))) {
    set_error(400, "malformed chunk extension");
    return false;
  }
  if (v > limits_.max_body_bytes || req_.body.size() + v > limits_.max_body_bytes) {
    set_error(413, "request body exceeds the limit of " + std::to_string(limits_.max_body_bytes) + " bytes");
    return false;
  }
  remaining_ = v;
  phase_ = v == 0 ? Phase::kTrailers : Phase::kChunkData;
  return true;
}

size_t HttpRequestParser::feed(std::string_view data) {
  size_t i = 0;
  while (state_ == State::kNeedMore && i < data.size()) {
    switch (phase_) {
      case Phase::kRequestLine:
      case Phase::kHeaders:
      case Phase::kChunkSize:
      case Phase::kChunkDataEnd:
      case Phase::kTrailers: {
        const size_t nl = data.find('\n', i);
        const size_t take = (nl == std::string_view::npos ? data.size() : nl + 1) - i;
        const bool head = phase_ == Phase::kRequestLine || phase_ == Phase::kHeaders;
        if (head) {
          header_bytes_ += take;
          if (phase_ == Phase::kRequestLine && line_.size() + take > limits_.max_request_line) {
            set_error(414, "request line too long");
            return i;
          }
          if (header_bytes_ > limits_.max_header_bytes) {
            set_error(phase_ == Phase::kRequestLine ? 414 : 431, phase_ == Phase::kRequestLine
                                                                    ? "request line too long"
                                                                    : "request header section too large");
            return i;
          }
        } else {
          trailer_bytes_ += take;
          if (trailer_bytes_ > limits_.max_header_bytes) {
            set_error(phase_ == Phase::kTrailers ? 431 : 400,
                      phase_ == Phase::kTrailers ? "chunked trailer section too large" : "chunk size line too long");
            return i;
          }
        }
        line_.append(data.substr(i, take));
        i += take;
        if (nl == std::string_view::npos) break;
        std::string_view line = line_;
        line.remove_suffix(1);  // '\n'
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.find('\r') != std::string_view::npos || line.find('\0') != std::string_view::npos) {
          set_error(400, "stray CR or NUL in a line");
          return i;
        }
        bool ok = true;
        switch (phase_) {
          case Phase::kRequestLine:
            if (line.empty() && !started_) break;  // RFC 9112 2.2: ignore empty lines first
            started_ = true;
            ok = on_request_line(line);
            if (ok) phase_ = Phase::kHeaders;
            break;
          case Phase::kHeaders:
            if (line.empty()) ok = on_headers_end();
            else ok = on_header_line(line);
            break;
          case Phase::kChunkSize:
            ok = on_chunk_size_line(line);
            trailer_bytes_ = 0;
            break;
          case Phase::kChunkDataEnd:
            if (!line.empty()) {
              set_error(400, "chunk data longer than its size");
              ok = false;
            }
            phase_ = Phase::kChunkSize;
            trailer_bytes_ = 0;
            break;
          case Phase::kTrailers:
            if (line.empty()) {
              phase_ = Phase::kDone;
            } else if (line.find(':') == std::string_view::npos) {
              set_error(400, "malformed trailer line");
              ok = false;
            }
            break;
          default:
            break;
        }
        line_.clear();
        if (!ok) return i;
        if (phase_ == Phase::kRequestLine && !started_) header_bytes_ = 0;
        break;
      }
      case Phase::kBody:
      case Phase::kChunkData: {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, data.size() - i));
        req_.body.append(data.substr(i, take));
        i += take;
        remaining_ -= take;
        if (remaining_ == 0) phase_ = phase_ == Phase::kBody ? Phase::kDone : Phase::kChunkDataEnd;
        break;
      }
      case Phase::kDone:
        break;
    }
    if (phase_ == Phase::kDone) state_ = State::kComplete;
  }
  if (phase_ == Phase::kDone) state_ = State::kComplete;
  return i;
}

HttpRequest HttpRequestParser::take() {
  HttpRequest out = std::move(req_);
  *this = HttpRequestParser(limits_);
  return out;
}

const char* status_text(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

}  // namespace hearth::server
