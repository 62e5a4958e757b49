// Prefix caching: finds KV blocks already computed for the same token prefix.
//
// Each cached block is an entry (parent, tokens): `tokens` are the block_size token ids it
// holds and `parent` names the contents of everything before it. The map key is a chained
// hash, xxh3(tokens, seed = parent), as in vLLM/nano-vllm, but `parent` is not the previous
// block's hash: it is the previous entry's content id, a number handed out once and never
// reused. A lookup compares parent and tokens exactly, so two different prefixes never
// share a block even if their 64-bit hashes collide (a collision only costs a miss): the
// entries form a trie whose edges are verified, not trusted.
//
// The cache does not own blocks: BlockAllocator counts references and decides when a free
// block is reused; the owner (KvCacheManager) calls evict() before a cached block is
// handed out for other contents.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "hearth/kv/block_allocator.h"

namespace hearth {

class PrefixCache {
 public:
  // Content id of the empty prefix (the parent of every sequence's first block).
  static constexpr uint64_t kRootId = 0;

  // `hash_mask` keeps only some bits of the hash: tests narrow it to force collisions.
  PrefixCache(int num_blocks, int block_size, uint64_t hash_mask = ~uint64_t{0});

  struct Found {
    BlockId block = -1;  // -1: miss
    uint64_t id = 0;     // content id of the entry
  };
  // The block holding exactly `tokens` (block_size ids) after the prefix `parent`.
  Found find(uint64_t parent, std::span<const int32_t> tokens) const;

  // Offers a block whose KV for `tokens` after prefix `parent` is written. Returns the
  // content id that names these contents from now on:
  // - the block's new entry's id when it was registered;
  // - the existing entry's id when identical contents are already cached (the block then
  //   stays private: sharing goes through the existing entry);
  // - a fresh id, not registered, when the hash slot holds other contents (collision) or
  //   the block is already registered under other contents.
  uint64_t insert(BlockId block, uint64_t parent, std::span<const int32_t> tokens);

  bool contains(BlockId block) const { return entries_[static_cast<size_t>(block)].cached; }
  // Drops the block's entry (before the block is reused); no-op for an uncached block.
  void evict(BlockId block);
  size_t size() const { return map_.size(); }
  int block_size() const { return block_size_; }

  // Throws (internal check) unless map and entries agree one to one.
  void check_invariants() const;

 private:
  struct Entry {
    bool cached = false;
    uint64_t hash = 0;
    uint64_t parent = 0;
    uint64_t id = 0;
  };
  uint64_t hash_of(uint64_t parent, std::span<const int32_t> tokens) const;
  bool same_contents(BlockId block, uint64_t parent, std::span<const int32_t> tokens) const;

  int block_size_;
  uint64_t hash_mask_;
  uint64_t next_id_ = kRootId + 1;
  std::vector<Entry> entries_;       // [num_blocks]
  std::vector<int32_t> tokens_;      // [num_blocks * block_size] contents of cached blocks
  std::unordered_map<uint64_t, BlockId> map_;  // hash -> block
};

}  // namespace hearth
