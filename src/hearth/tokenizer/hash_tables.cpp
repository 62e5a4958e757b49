#include "hearth/tokenizer/hash_tables.h"

#include <algorithm>

#include "hearth/core/error.h"

namespace hearth::tok_detail {

namespace {
inline uint64_t tag_of(uint64_t h) { return (h >> 32) << 32; }
}  // namespace

void StringIdMap::reserve(size_t n) {
  entries_.reserve(n);
  size_t cap = 16;
  while (cap < 2 * n) cap <<= 1;
  if (cap > slots_.size()) rehash(cap);
}

void StringIdMap::rehash(size_t capacity) {
  slots_.assign(capacity, 0);
  mask_ = capacity - 1;
  for (size_t e = 0; e < entries_.size(); ++e) {
    const std::string_view key = std::string_view(arena_).substr(entries_[e].offset, entries_[e].length);
    const uint64_t h = hash_bytes(key);
    *slot_for(key, h) = tag_of(h) | (e + 1);
  }
}

const uint64_t* StringIdMap::find_slot(std::string_view key, uint64_t h) const {
  const uint64_t tag = tag_of(h);
  size_t i = h & mask_;
  while (true) {
    const uint64_t s = slots_[i];
    if (s == 0) return &slots_[i];
    if ((s & ~0xFFFFFFFFull) == tag) {
      const Entry& e = entries_[(s & 0xFFFFFFFFu) - 1];
      if (e.length == key.size() && std::memcmp(arena_.data() + e.offset, key.data(), key.size()) == 0) {
        return &slots_[i];
      }
    }
    i = (i + 1) & mask_;
  }
}

uint64_t* StringIdMap::slot_for(std::string_view key, uint64_t h) {
  return const_cast<uint64_t*>(find_slot(key, h));
}

void StringIdMap::insert(std::string_view key, int32_t id) {
  if (key.size() > UINT32_MAX || arena_.size() > UINT32_MAX - key.size() || entries_.size() >= UINT32_MAX - 1) {
    fail("vocabulary too large");
  }
  if (slots_.empty() || (entries_.size() + 1) * 2 > slots_.size()) rehash(std::max<size_t>(16, slots_.size() * 2));
  const uint64_t h = hash_bytes(key);
  uint64_t* s = slot_for(key, h);
  if (*s != 0) {
    entries_[(*s & 0xFFFFFFFFu) - 1].id = id;
    return;
  }
  const auto offset = static_cast<uint32_t>(arena_.size());
  arena_.append(key);
  entries_.push_back({offset, static_cast<uint32_t>(key.size()), id});
  *s = tag_of(h) | entries_.size();
}

int32_t StringIdMap::find(std::string_view key) const {
  if (slots_.empty()) return -1;
  const uint64_t s = *find_slot(key, hash_bytes(key));
  return s == 0 ? -1 : entries_[(s & 0xFFFFFFFFu) - 1].id;
}

void MergeMap::reserve(size_t n) {
  size_t cap = 16;
  while (cap < 2 * n) cap <<= 1;
  if (cap <= slots_.size()) return;
  std::vector<Slot> old;
  old.swap(slots_);
  slots_.assign(cap, Slot{});
  mask_ = cap - 1;
  count_ = 0;
  for (const Slot& s : old) {
    if (s.key != kEmpty) insert(static_cast<int32_t>(s.key >> 32), static_cast<int32_t>(s.key & 0xFFFFFFFFu), s.value);
  }
}

void MergeMap::grow() { reserve(count_ * 2 + 16); }

void MergeMap::insert(int32_t a, int32_t b, MergeValue v) {
  if (slots_.empty() || (count_ + 1) * 2 > slots_.size()) grow();
  const uint64_t key = pack(a, b);
  size_t i = mix64(key) & mask_;
  while (true) {
    Slot& s = slots_[i];
    if (s.key == key) {
      s.value = v;
      return;
    }
    if (s.key == kEmpty) {
      s.key = key;
      s.value = v;
      ++count_;
      return;
    }
    i = (i + 1) & mask_;
  }
}

}  // namespace hearth::tok_detail
