// 128-bit content fingerprints of interned leaves (automata, string and number sets). Mask
// caches are keyed by them rather than by registry ids, so a constraint freed with its last
// grammar and compiled again later (the next request with the same schema, or another schema
// with the same `pattern`) finds its token masks still cached. Two independent 64-bit
// multiply-xorshift streams: a collision between two different contents (which would give one
// the other's mask) has probability ~2^-128 per pair, far below hardware error rates.
#pragma once

#include <cstdint>
#include <string_view>

namespace hearth::grammar {

struct Fingerprint {
  uint64_t a = 0, b = 0;
  bool operator==(const Fingerprint& o) const { return a == o.a && b == o.b; }
};

class FingerprintHasher {
 public:
  explicit FingerprintHasher(uint64_t domain) { add(domain); }
  void add(uint64_t x) {
    a_ = mix(a_ ^ x, 0x9E3779B97F4A7C15ull);
    b_ = mix(b_ + x, 0xC2B2AE3D27D4EB4Full);
  }
  void add(const Fingerprint& f) {
    add(f.a);
    add(f.b);
  }
  void add(std::string_view s) {
    add(s.size());
    uint64_t w = 0;
    size_t n = 0;
    for (char c : s) {
      w = (w << 8) | static_cast<uint8_t>(c);
      if (++n == 8) {
        add(w);
        w = 0;
        n = 0;
      }
    }
    add(w);
  }
  Fingerprint done() const { return {mix(a_, 0xFF51AFD7ED558CCDull), mix(b_, 0xC4CEB9FE1A85EC53ull)}; }

 private:
  static uint64_t mix(uint64_t x, uint64_t k) {
    x ^= x >> 33;
    x *= k;
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 32;
    return x;
  }
  uint64_t a_ = 0x243F6A8885A308D3ull, b_ = 0x13198A2E03707344ull;
};

}  // namespace hearth::grammar
