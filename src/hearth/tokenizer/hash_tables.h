// Flat open-addressing tables for the vocabulary (string -> id) and the merges
// ((id, id) -> rank, id): built once at load, read-only afterwards, so lookups need no lock.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::tok_detail {

inline uint64_t mix64(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

inline uint64_t hash_bytes(std::string_view s) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (s.size() * 0x100000001b3ull);
  const char* p = s.data();
  size_t n = s.size();
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ w) * 0x9E3779B97F4A7C15ull;
  }
  return mix64(h);
}

// Strings are kept in one arena; the table maps a string to an int32 id.
class StringIdMap {
 public:
  void reserve(size_t n);
  // Later inserts of an existing key overwrite its id (as a JSON object read into a map).
  void insert(std::string_view key, int32_t id);
  // -1 when absent.
  int32_t find(std::string_view key) const;
  size_t size() const { return entries_.size(); }
  // Calls fn(key, id) for every entry.
  template <typename F>
  void for_each(F&& fn) const {
    for (const Entry& e : entries_) fn(std::string_view(arena_).substr(e.offset, e.length), e.id);
  }

 private:
  struct Entry {
    uint32_t offset;
    uint32_t length;
    int32_t id;
  };
  void rehash(size_t capacity);
  // The slot holding key, or the empty slot where it belongs.
  uint64_t* slot_for(std::string_view key, uint64_t h);
  const uint64_t* find_slot(std::string_view key, uint64_t h) const;

  std::string arena_;
  std::vector<Entry> entries_;
  // 0 when empty; else the key's hash tag (high 32 bits) and its entry index + 1: a
  // probe compares tags first and reads the arena only on a likely match.
  std::vector<uint64_t> slots_;
  size_t mask_ = 0;
};

struct MergeValue {
  int32_t rank;
  int32_t id;
};

class MergeMap {
 public:
  void reserve(size_t n);
  void insert(int32_t a, int32_t b, MergeValue v);  // overwrites, as HF's HashMap does
  // Rank -1 when the pair does not merge.
  MergeValue find(int32_t a, int32_t b) const {
    if (slots_.empty()) return {-1, -1};
    const uint64_t key = pack(a, b);
    size_t i = mix64(key) & mask_;
    while (true) {
      const Slot& s = slots_[i];
      if (s.key == key) return s.value;
      if (s.key == kEmpty) return {-1, -1};
      i = (i + 1) & mask_;
    }
  }
  size_t size() const { return count_; }

 private:
  static constexpr uint64_t kEmpty = ~0ull;
  static uint64_t pack(int32_t a, int32_t b) {
    return (uint64_t(uint32_t(a)) << 32) | uint32_t(b);
  }
  struct Slot {
    uint64_t key = kEmpty;
    MergeValue value{-1, -1};
  };
  void grow();

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t count_ = 0;
};

}  // namespace hearth::tok_detail
