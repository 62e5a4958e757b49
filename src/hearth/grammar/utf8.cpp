#include "hearth/grammar/utf8.h"

namespace hearth::grammar::utf8 {

bool decode(const std::string& s, size_t& i, uint32_t& cp) {
  uint8_t state = kBoundary;
  uint32_t value = 0;
  size_t start = i;
  while (i < s.size()) {
    uint8_t b = static_cast<uint8_t>(s[i]);
    uint8_t next = step(state, b);
    if (next == kReject) return false;
    if (i == start) {
      value = b < 0x80 ? b : b >= 0xF0 ? (b & 0x07u) : b >= 0xE0 ? (b & 0x0Fu) : (b & 0x1Fu);
    } else {
      value = (value << 6) | (b & 0x3Fu);
    }
    ++i;
    state = next;
    if (state == kBoundary) {
      cp = value;
      return true;
    }
  }
  return false;
}

namespace {

constexpr uint32_t kMaxCp = 0x10FFFF;

void split(uint32_t lo, uint32_t hi, std::vector<Sequence>& out) {
  if (lo > hi) return;
  // Surrogates are not scalar values and have no UTF-8 encoding.
  if (lo <= 0xDFFF && hi >= 0xD800) {
    if (lo < 0xD800) split(lo, 0xD7FF, out);
    if (hi > 0xDFFF) split(0xE000, hi, out);
    return;
  }
  for (uint32_t bound : {0x7Fu, 0x7FFu, 0xFFFFu}) {
    if (lo <= bound && hi > bound) {
      split(lo, bound, out);
      split(bound + 1, hi, out);
      return;
    }
  }
  if (hi <= 0x7F) {
    out.push_back({{static_cast<uint8_t>(lo), static_cast<uint8_t>(hi)}});
    return;
  }
  // Make every position a full range below the first one that differs, so the byte ranges
  // can be combined position by position.
  for (int i = 1; i < 4; ++i) {
    uint32_t m = (1u << (6 * i)) - 1;
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        split(lo, lo | m, out);
        split((lo | m) + 1, hi, out);
        return;
      }
      if ((hi & m) != m) {
        split(lo, (hi & ~m) - 1, out);
        split(hi & ~m, hi, out);
        return;
      }
    }
  }
  uint8_t a[4], b[4];
  int n = encode(lo, a);
  encode(hi, b);
  Sequence seq;
  for (int i = 0; i < n; ++i) seq.push_back({a[i], b[i]});
  out.push_back(std::move(seq));
}

}  // namespace

void sequences(uint32_t lo, uint32_t hi, std::vector<Sequence>& out) {
  if (hi > kMaxCp) hi = kMaxCp;
  split(lo, hi, out);
}

}  // namespace hearth::grammar::utf8
