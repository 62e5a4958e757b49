// Unicode support for the tokenizer: UTF-8 scanning with the documented replacement of
// invalid input, the character classes of the Qwen2 pre-tokenizer regex, and NFC.
//
// Invalid UTF-8 is replaced by U+FFFD once per "maximal subpart" (Unicode 15, section 3.9,
// the practice of Python's bytes.decode(errors="replace") and Rust's String::from_utf8_lossy),
// so encoding invalid bytes equals what HF does on the text Python would decode them to.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hearth::unicode {

// What the regex classes of the Qwen2 split pattern see in a code point. kLetter is \p{L}
// (Lu Ll Lt Lm Lo), kNumber is \p{N} (Nd Nl No), kSpace is \s (Oniguruma's Unicode \s:
// U+0009..U+000D, U+0085, Zs, Zl, Zp, the same set as the White_Space property), kOther all else.
enum CharClass : uint8_t { kOther = 0, kLetter = 1, kNumber = 2, kSpace = 3 };

// Bits of a table entry.
inline constexpr uint8_t kClassMask = 0x3;
// Set when the code point is a starter that never composes with what precedes it and is
// unchanged by NFC (NFC_QC=Yes, ccc=0): text can be cut before it without changing NFC.
inline constexpr uint8_t kNfcBoundary = 0x4;
// Set (with kNfcBoundary) for code points HF's NFC treats as inert starters although
// Unicode gives them a combining class or a composition: its normalization data is older
// than Unicode 15 (marks added since, and U+11930 of the pair U+11935 U+11930 -> U+11938).
// Text is cut before and after them.
inline constexpr uint8_t kNfcIsolated = 0x8;
// A word character for an added token's single_word flag (HF's \w).
inline constexpr uint8_t kWordChar = 0x10;

// One byte per code point (U+0000..U+10FFFF), built once from utf8proc on first use and
// corrected to what HF tokenizers 0.23 does where its Unicode data differs (see
// unicode_hf_data.inc, generated from probes of HF on every code point).
const uint8_t* char_table();

inline CharClass char_class(const uint8_t* table, char32_t cp) {
  return static_cast<CharClass>(table[cp] & kClassMask);
}

// Decodes the code point at p, which must start a well-formed sequence of len bytes.
inline char32_t decode_valid(const unsigned char* p, uint32_t& len) {
  const unsigned char b0 = p[0];
  if (b0 < 0x80) {
    len = 1;
    return b0;
  }
  if (b0 < 0xE0) {
    len = 2;
    return (char32_t(b0 & 0x1F) << 6) | (p[1] & 0x3F);
  }
  if (b0 < 0xF0) {
    len = 3;
    return (char32_t(b0 & 0x0F) << 12) | (char32_t(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
  }
  len = 4;
  return (char32_t(b0 & 0x07) << 18) | (char32_t(p[1] & 0x3F) << 12) |
         (char32_t(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
}

enum class Utf8Status { kValid, kInvalid, kIncomplete };

// Looks at the sequence starting at p (n > 0 bytes available). kValid: len is the length of
// the well-formed character. kInvalid: len is the length of the maximal subpart to replace by
// one U+FFFD. kIncomplete: the n bytes are a proper prefix of a well-formed character.
Utf8Status scan_utf8(const unsigned char* p, size_t n, size_t& len);

bool is_valid_utf8(std::string_view s);

// Appends s to out with each maximal invalid subpart replaced by U+FFFD (a truncated
// character at the end counts as one).
void append_sanitized(std::string& out, std::string_view s);

void append_utf8(std::string& out, char32_t cp);

// NFC of valid UTF-8. Returns s itself when it is already NFC-stable (the common case,
// detected without allocating); otherwise the normalized text, built in storage.
std::string_view nfc(std::string_view s, std::string& storage);

}  // namespace hearth::unicode
