#include "hearth/tokenizer/json_scan.h"

#include <algorithm>

#include "hearth/core/error.h"
#include "hearth/tokenizer/unicode.h"

namespace hearth::tok_detail {
namespace {
constexpr int kMaxDepth = 512;  // deeper input is refused rather than risking the stack
}

void JsonScanner::error(std::string_view msg) const {
  const size_t at = std::min(pos_, text_.size());
  size_t line = 1, col = 1;
  for (size_t i = 0; i < at; ++i) {
    if (text_[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  fail("{}: line {}, column {}: {}", what_, line, col, msg);
}

void JsonScanner::skip_ws() {
  while (pos_ < text_.size()) {
    const char c = text_[pos_];
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') break;
    ++pos_;
  }
}

bool JsonScanner::at_end() {
  skip_ws();
  return pos_ >= text_.size();
}

char JsonScanner::peek() {
  skip_ws();
  return pos_ < text_.size() ? text_[pos_] : '\0';
}

void JsonScanner::expect(char c) {
  if (peek() != c) {
    if (pos_ >= text_.size()) error(fmt::format("expected '{}', found the end of the file", c));
    error(fmt::format("expected '{}', found '{}'", c, text_[pos_]));
  }
  ++pos_;
}

bool JsonScanner::accept(char c) {
  if (peek() != c) return false;
  ++pos_;
  return true;
}

uint32_t JsonScanner::read_hex4() {
  if (pos_ + 4 > text_.size()) error("truncated \\u escape");
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    const char c = text_[pos_++];
    v <<= 4;
    if (c >= '0' && c <= '9') {
      v |= static_cast<uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      v |= static_cast<uint32_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      v |= static_cast<uint32_t>(c - 'A' + 10);
    } else {
      error("invalid hex digit in \\u escape");
    }
  }
  return v;
}

void JsonScanner::append_escape(std::string& out) {
  // pos_ is just past the backslash.
  if (pos_ >= text_.size()) error("truncated escape in string");
  const char c = text_[pos_++];
  switch (c) {
    case '"': out.push_back('"'); return;
    case '\\': out.push_back('\\'); return;
    case '/': out.push_back('/'); return;
    case 'b': out.push_back('\b'); return;
    case 'f': out.push_back('\f'); return;
    case 'n': out.push_back('\n'); return;
    case 'r': out.push_back('\r'); return;
    case 't': out.push_back('\t'); return;
    case 'u': {
      uint32_t cp = read_hex4();
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (pos_ + 2 <= text_.size() && text_[pos_] == '\\' && text_[pos_ + 1] == 'u') {
          pos_ += 2;
          const uint32_t lo = read_hex4();
          if (lo < 0xDC00 || lo > 0xDFFF) error("unpaired surrogate in \\u escape");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else {
          error("unpaired surrogate in \\u escape");
        }
      } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        error("unpaired surrogate in \\u escape");
      }
      unicode::append_utf8(out, cp);
      return;
    }
    default:
      --pos_;
      error(fmt::format("invalid escape '\\{}'", c));
  }
}

void JsonScanner::read_string(std::string& out) {
  expect('"');
  size_t run = pos_;
  while (true) {
    if (pos_ >= text_.size()) error("unterminated string");
    const char c = text_[pos_];
    if (c == '"') {
      out.append(text_.data() + run, pos_ - run);
      ++pos_;
      break;
    }
    if (c == '\\') {
      out.append(text_.data() + run, pos_ - run);
      ++pos_;
      append_escape(out);
      run = pos_;
      continue;
    }
    if (static_cast<unsigned char>(c) < 0x20) error("control character in string");
    if (static_cast<unsigned char>(c) >= 0x80) {
      size_t len = 0;
      const auto* p = reinterpret_cast<const unsigned char*>(text_.data() + pos_);
      if (unicode::scan_utf8(p, text_.size() - pos_, len) != unicode::Utf8Status::kValid) {
        error("invalid UTF-8 in string");
      }
      pos_ += len;
      continue;
    }
    ++pos_;
  }
}

int64_t JsonScanner::read_integer() {
  skip_ws();
  const size_t start = pos_;
  bool neg = false;
  if (pos_ < text_.size() && text_[pos_] == '-') {
    neg = true;
    ++pos_;
  }
  int64_t v = 0;
  size_t digits = 0;
  while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
    if (v > (INT64_C(1) << 40)) error("integer out of range");
    v = v * 10 + (text_[pos_] - '0');
    ++pos_;
    ++digits;
  }
  if (digits == 0) {
    pos_ = start;
    error("expected an integer");
  }
  if (pos_ < text_.size() && (text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E')) {
    error("expected an integer, found a fraction");
  }
  return neg ? -v : v;
}

void JsonScanner::skip_string() {
  ++pos_;  // opening quote
  while (true) {
    if (pos_ >= text_.size()) error("unterminated string");
    const char c = text_[pos_++];
    if (c == '"') return;
    if (c == '\\') {
      if (pos_ >= text_.size()) error("unterminated string");
      ++pos_;
    }
  }
}

std::string_view JsonScanner::skip_value() {
  const char c = peek();
  const size_t start = pos_;
  if (c == '"') {
    skip_string();
  } else if (c == '{' || c == '[') {
    if (++depth_ > kMaxDepth) error("nesting too deep");
    const char close = c == '{' ? '}' : ']';
    ++pos_;
    if (!accept(close)) {
      while (true) {
        if (c == '{') {
          if (peek() != '"') error("expected a string key");
          skip_string();
          expect(':');
        }
        skip_value();
        if (accept(',')) continue;
        expect(close);
        break;
      }
    }
    --depth_;
  } else if (c == '\0') {
    error("expected a value, found the end of the file");
  } else {
    // Literal or number: scan its characters; nlohmann validates what is kept.
    while (pos_ < text_.size()) {
      const char d = text_[pos_];
      if ((d >= '0' && d <= '9') || (d >= 'a' && d <= 'z') || (d >= 'A' && d <= 'Z') ||
          d == '-' || d == '+' || d == '.') {
        ++pos_;
      } else {
        break;
      }
    }
    if (pos_ == start) error(fmt::format("unexpected character '{}'", c));
  }
  return text_.substr(start, pos_ - start);
}

}  // namespace hearth::tok_detail
