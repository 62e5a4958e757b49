// Seeded, platform-independent random numbers (seeded sampling, random checkpoints).
// splitmix64 is tiny, fast and gives the same stream on every compiler, unlike
// std::uniform_real_distribution.
#pragma once

#include <cstdint>

namespace hearth {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : state_(seed) {}
  uint64_t next_u64() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 24 bits of mantissa.
  float uniform() { return static_cast<float>(next_u64() >> 40) * (1.0f / 16777216.0f); }

 private:
  uint64_t state_;
};

}  // namespace hearth
