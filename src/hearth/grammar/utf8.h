// UTF-8 helpers shared by the regex compiler and the string lexer: an incremental validator
// (so the lexer accepts exactly the well-formed sequences, byte by byte) and the split of a
// code point range into UTF-8 byte-range sequences (so automata run on bytes, as tokens do).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace hearth::grammar::utf8 {

// Validator states: 0 = at a code point boundary; 1..7 = inside a sequence (which bytes may
// follow is encoded in the state, so overlongs, surrogates and > U+10FFFF are rejected at the
// first byte that makes them so); kReject = invalid.
inline constexpr uint8_t kBoundary = 0;
inline constexpr uint8_t kReject = 8;
inline constexpr int kNumStates = 8;

inline uint8_t step(uint8_t state, uint8_t b) {
  switch (state) {
    case 0:
      if (b < 0x80) return 0;
      if (b >= 0xC2 && b <= 0xDF) return 1;
      if (b == 0xE0) return 3;
      if (b == 0xED) return 4;
      if (b >= 0xE1 && b <= 0xEF) return 2;
      if (b == 0xF0) return 6;
      if (b >= 0xF1 && b <= 0xF3) return 5;
      if (b == 0xF4) return 7;
      return kReject;
    case 1: return (b >= 0x80 && b <= 0xBF) ? 0 : kReject;
    case 2: return (b >= 0x80 && b <= 0xBF) ? 1 : kReject;
    case 3: return (b >= 0xA0 && b <= 0xBF) ? 1 : kReject;
    case 4: return (b >= 0x80 && b <= 0x9F) ? 1 : kReject;
    case 5: return (b >= 0x80 && b <= 0xBF) ? 2 : kReject;
    case 6: return (b >= 0x90 && b <= 0xBF) ? 2 : kReject;
    case 7: return (b >= 0x80 && b <= 0x8F) ? 2 : kReject;
    default: return kReject;
  }
}

// True for a byte that starts a code point (what length counts in code points count).
inline bool is_lead(uint8_t b) { return (b & 0xC0) != 0x80; }

inline int encode(uint32_t cp, uint8_t out[4]) {
  if (cp < 0x80) {
    out[0] = static_cast<uint8_t>(cp);
    return 1;
  }
  if (cp < 0x800) {
    out[0] = static_cast<uint8_t>(0xC0 | (cp >> 6));
    out[1] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = static_cast<uint8_t>(0xE0 | (cp >> 12));
    out[1] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
    out[2] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = static_cast<uint8_t>(0xF0 | (cp >> 18));
  out[1] = static_cast<uint8_t>(0x80 | ((cp >> 12) & 0x3F));
  out[2] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
  out[3] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
  return 4;
}

inline void append(std::string& s, uint32_t cp) {
  uint8_t b[4];
  int n = encode(cp, b);
  s.append(reinterpret_cast<const char*>(b), static_cast<size_t>(n));
}

// Decodes one code point at s[i]; returns false on malformed input.
bool decode(const std::string& s, size_t& i, uint32_t& cp);

struct ByteRange {
  uint8_t lo, hi;
};
using Sequence = std::vector<ByteRange>;

// Splits the scalar values in [lo, hi] (surrogates excluded) into sequences of byte ranges
// whose concatenations are exactly their UTF-8 encodings.
void sequences(uint32_t lo, uint32_t hi, std::vector<Sequence>& out);

}  // namespace hearth::grammar::utf8
