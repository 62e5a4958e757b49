// The KV cache's control plane: which blocks each sequence holds, shared prefixes, and
// what is evicted when memory runs out. Pure bookkeeping on the host; the K/V tensors
// themselves live in the backend (Backend::init_kv_cache) and are addressed through the
// block tables built here.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "hearth/kv/block_allocator.h"
#include "hearth/kv/prefix_cache.h"

namespace hearth {

// One sequence's KV: position p lives in slot blocks[p / block_size] * block_size +
// p % block_size.
struct SeqKv {
  std::vector<BlockId> blocks;
  // Content id (PrefixCache) of each full block whose KV is written, a prefix of `blocks`;
  // the parent of the next block to register.
  std::vector<uint64_t> content_ids;
};

// Cached full blocks at the start of a sequence's tokens.
struct PrefixMatch {
  std::vector<BlockId> blocks;
  std::vector<uint64_t> content_ids;
};

struct KvCacheStats {
  uint64_t query_tokens = 0;  // tokens of sequences looked up at admission (re-admissions too)
  uint64_t hit_tokens = 0;    // of which were found cached
  uint64_t evictions = 0;     // cached blocks handed out for other contents
  double hit_rate() const { return query_tokens ? static_cast<double>(hit_tokens) / static_cast<double>(query_tokens) : 0.0; }
};

class KvCacheManager {
 public:
  KvCacheManager(int num_blocks, int block_size, bool enable_prefix_caching = true);

  int num_blocks() const { return allocator_.num_blocks(); }
  int block_size() const { return block_size_; }
  int num_free_blocks() const { return allocator_.num_free(); }
  bool prefix_caching() const { return prefix_caching_; }
  int blocks_for(int tokens) const { return (tokens + block_size_ - 1) / block_size_; }
  const KvCacheStats& stats() const { return stats_; }
  const BlockAllocator& allocator() const { return allocator_; }

  // The longest run of cached full blocks at the start of `tokens`, leaving at least the
  // last token uncached (its logits must be computed). Empty when prefix caching is off.
  PrefixMatch match(std::span<const int32_t> tokens) const;
  // Whether a sequence holding no blocks can take `match` and grow to `num_tokens` slots.
  bool can_admit(const PrefixMatch& match, int num_tokens) const;
  // Gives `seq` (holding no blocks) the matched blocks, shared without copies, and grows
  // it to `num_tokens` slots; `query_tokens` (the sequence's length) feeds the hit rate.
  // Requires can_admit().
  void admit(SeqKv& seq, const PrefixMatch& match, int num_tokens, int query_tokens);
  // Grows the block table to cover `num_tokens` slots. Returns false, changing nothing,
  // when not enough blocks are free.
  bool grow(SeqKv& seq, int num_tokens);
  // After a step wrote the KV of tokens[0, num_computed): registers the newly full blocks
  // with the prefix cache.
  void commit(SeqKv& seq, std::span<const int32_t> tokens, int num_computed);
  // Releases every block of `seq`, the last first: freed cached blocks queue for reuse in
  // that order, so a prefix outlives its tail (a tail is useless without its prefix).
  void free(SeqKv& seq);

  // Throws (internal check) unless the allocator and cache are consistent and every
  // block's ref_count equals the number of `live` tables holding it (no leak, no double
  // ownership).
  void check_invariants(std::span<const SeqKv* const> live) const;

 private:
  BlockId allocate();

  int block_size_;
  bool prefix_caching_;
  BlockAllocator allocator_;
  PrefixCache cache_;
  KvCacheStats stats_;
};

}  // namespace hearth
