#include "hearth/kv/prefix_cache.h"

#include <xxhash.h>

#include <algorithm>

#include "hearth/core/error.h"

namespace hearth {

PrefixCache::PrefixCache(int num_blocks, int block_size, uint64_t hash_mask)
    : block_size_(block_size), hash_mask_(hash_mask) {
  if (num_blocks <= 0 || block_size <= 0)
    fail("prefix cache needs blocks and a block size, got {} blocks of {}", num_blocks, block_size);
  entries_.resize(static_cast<size_t>(num_blocks));
  tokens_.resize(static_cast<size_t>(num_blocks) * static_cast<size_t>(block_size));
  map_.reserve(static_cast<size_t>(num_blocks));
}

uint64_t PrefixCache::hash_of(uint64_t parent, std::span<const int32_t> tokens) const {
  HEARTH_CHECK(static_cast<int>(tokens.size()) == block_size_, "{} tokens for a block of {}",
               tokens.size(), block_size_);
  return XXH3_64bits_withSeed(tokens.data(), tokens.size_bytes(), parent) & hash_mask_;
}

bool PrefixCache::same_contents(BlockId block, uint64_t parent, std::span<const int32_t> tokens) const {
  const Entry& e = entries_[static_cast<size_t>(block)];
  if (!e.cached || e.parent != parent) return false;
  const int32_t* stored = tokens_.data() + static_cast<size_t>(block) * static_cast<size_t>(block_size_);
  return std::equal(tokens.begin(), tokens.end(), stored);
}

PrefixCache::Found PrefixCache::find(uint64_t parent, std::span<const int32_t> tokens) const {
  const auto it = map_.find(hash_of(parent, tokens));
  if (it == map_.end() || !same_contents(it->second, parent, tokens)) return {};
  return {it->second, entries_[static_cast<size_t>(it->second)].id};
}

uint64_t PrefixCache::insert(BlockId block, uint64_t parent, std::span<const int32_t> tokens) {
  HEARTH_CHECK(block >= 0 && block < static_cast<BlockId>(entries_.size()), "block id {}", block);
  const uint64_t h = hash_of(parent, tokens);
  Entry& e = entries_[static_cast<size_t>(block)];
  const auto it = map_.find(h);
  if (it != map_.end()) {
    if (same_contents(it->second, parent, tokens)) return entries_[static_cast<size_t>(it->second)].id;
    return next_id_++;  // a 64-bit collision: these contents stay uncached
  }
  if (e.cached) return next_id_++;  // the block already names other contents
  e = {true, h, parent, next_id_++};
  std::copy(tokens.begin(), tokens.end(),
            tokens_.begin() + static_cast<std::ptrdiff_t>(block) * block_size_);
  map_.emplace(h, block);
  return e.id;
}

void PrefixCache::evict(BlockId block) {
  Entry& e = entries_[static_cast<size_t>(block)];
  if (!e.cached) return;
  const auto it = map_.find(e.hash);
  HEARTH_CHECK(it != map_.end() && it->second == block, "cached block {} missing from the map", block);
  map_.erase(it);
  e = {};
}

void PrefixCache::check_invariants() const {
  size_t cached = 0;
  for (size_t b = 0; b < entries_.size(); ++b) {
    const Entry& e = entries_[b];
    if (!e.cached) continue;
    ++cached;
    const auto it = map_.find(e.hash);
    HEARTH_CHECK(it != map_.end() && it->second == static_cast<BlockId>(b),
                 "cached block {} is not what its hash maps to", b);
    const auto stored = std::span(tokens_).subspan(b * static_cast<size_t>(block_size_),
                                                   static_cast<size_t>(block_size_));
    HEARTH_CHECK(hash_of(e.parent, stored) == e.hash, "block {}: stored hash does not match its tokens", b);
  }
  HEARTH_CHECK(cached == map_.size(), "{} cached blocks but {} map entries", cached, map_.size());
}

}  // namespace hearth
