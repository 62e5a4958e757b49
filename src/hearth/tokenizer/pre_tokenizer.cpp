#include "hearth/tokenizer/pre_tokenizer.h"

#include <cstdint>

#include "hearth/tokenizer/unicode.h"

namespace hearth::tok_detail {

const std::string_view kQwen2SplitPattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

namespace {

using unicode::CharClass;

struct Cursor {
  const unsigned char* p;
  size_t n;
  const uint8_t* table;

  // Class and length of the code point at i (i < n).
  CharClass at(size_t i, uint32_t& len) const {
    if (p[i] < 0x80) {
      len = 1;
      return unicode::char_class(table, p[i]);
    }
    const char32_t cp = unicode::decode_valid(p + i, len);
    return unicode::char_class(table, cp);
  }
  CharClass at(size_t i) const {
    uint32_t len;
    return at(i, len);
  }
  // End of the run of code points of class c starting at i.
  size_t run(size_t i, CharClass c) const {
    while (i < n) {
      uint32_t len;
      if (at(i, len) != c) break;
      i += len;
    }
    return i;
  }
  bool is_crlf(size_t i) const { return i < n && (p[i] == '\r' || p[i] == '\n'); }
};

// Lower-cased ASCII letter at i, or 0. Case-insensitive 's also matches U+017F (long s),
// whose simple case folding is 's'; no other code point folds to the contraction letters.
char folded_letter(const Cursor& c, size_t i, uint32_t& len) {
  if (i >= c.n) return 0;
  const unsigned char b = c.p[i];
  len = 1;
  if (b >= 'A' && b <= 'Z') return static_cast<char>(b - 'A' + 'a');
  if (b >= 'a' && b <= 'z') return static_cast<char>(b);
  if (b == 0xC5 && i + 1 < c.n && c.p[i + 1] == 0xBF) {
    len = 2;
    return 's';
  }
  return 0;
}

size_t contraction_end(const Cursor& c, size_t i) {
  // c.p[i] == '\''
  uint32_t l1 = 0, l2 = 0;
  const char a = folded_letter(c, i + 1, l1);
  switch (a) {
    case 's': case 't': case 'm': case 'd':
      return i + 1 + l1;
    case 'r': case 'v':
      if (folded_letter(c, i + 2, l2) == 'e') return i + 3 + (l2 - 1);
      return 0;
    case 'l':
      if (folded_letter(c, i + 2, l2) == 'l') return i + 3 + (l2 - 1);
      return 0;
    default:
      return 0;
  }
}

}  // namespace

size_t qwen2_match_end(std::string_view text, size_t i, const uint8_t* table) {
  const Cursor c{reinterpret_cast<const unsigned char*>(text.data()), text.size(), table};
  const unsigned char b0 = c.p[i];

  // (?i:'s|'t|'re|'ve|'m|'ll|'d)
  if (b0 == '\'') {
    const size_t e = contraction_end(c, i);
    if (e != 0) return e;
  }

  uint32_t len0 = 0;
  const CharClass k0 = c.at(i, len0);
  const size_t i1 = i + len0;

  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (k0 == unicode::kLetter) return c.run(i1, unicode::kLetter);
  if (k0 != unicode::kNumber && b0 != '\r' && b0 != '\n' && i1 < c.n && c.at(i1) == unicode::kLetter) {
    return c.run(i1, unicode::kLetter);
  }

  // \p{N}
  if (k0 == unicode::kNumber) return i1;

  // " ?[^\s\p{L}\p{N}]+[\r\n]*"
  size_t other_start = c.n;
  if (k0 == unicode::kOther) {
    other_start = i;
  } else if (b0 == ' ' && i1 < c.n && c.at(i1) == unicode::kOther) {
    other_start = i1;
  }
  if (other_start != c.n) {
    size_t j = c.run(other_start, unicode::kOther);
    while (c.is_crlf(j)) ++j;
    return j;
  }

  // Now k0 is \s. Find the whitespace run [i, end) and the last CR/LF in it.
  size_t end = i;
  size_t last_crlf = c.n;
  size_t last_start = i;  // start of the run's last code point
  while (end < c.n) {
    uint32_t len;
    if (c.at(end, len) != unicode::kSpace) break;
    if (c.p[end] == '\r' || c.p[end] == '\n') last_crlf = end;
    last_start = end;
    end += len;
  }
  // \s*[\r\n]+ : backtracking \s* lands on the last CR/LF of the run.
  if (last_crlf != c.n) return last_crlf + 1;
  // \s+(?!\S) : the whole run at the end of the text, else all but its last code point.
  if (end == c.n) return end;
  if (last_start > i) return last_start;
  // \s+
  return end;
}

}  // namespace hearth::tok_detail
