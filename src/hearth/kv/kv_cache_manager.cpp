#include "hearth/kv/kv_cache_manager.h"

#include "hearth/core/error.h"

namespace hearth {

KvCacheManager::KvCacheManager(int num_blocks, int block_size, bool enable_prefix_caching)
    : block_size_(block_size),
      prefix_caching_(enable_prefix_caching),
      allocator_(num_blocks),
      cache_(num_blocks, block_size) {}

PrefixMatch KvCacheManager::match(std::span<const int32_t> tokens) const {
  PrefixMatch m;
  if (!prefix_caching_ || tokens.empty()) return m;
  const size_t bs = static_cast<size_t>(block_size_);
  // Whole blocks strictly before the last token: a fully cached sequence would leave no
  // token to compute logits from (vLLM drops the last hit in that case too).
  const size_t max_blocks = (tokens.size() - 1) / bs;
  uint64_t parent = PrefixCache::kRootId;
  for (size_t i = 0; i < max_blocks; ++i) {
    const PrefixCache::Found f = cache_.find(parent, tokens.subspan(i * bs, bs));
    if (f.block < 0) break;
    m.blocks.push_back(f.block);
    m.content_ids.push_back(f.id);
    parent = f.id;
  }
  return m;
}

bool KvCacheManager::can_admit(const PrefixMatch& match, int num_tokens) const {
  // Matched blocks that are free now leave the free list when taken.
  int revived = 0;
  for (BlockId b : match.blocks) revived += allocator_.ref_count(b) == 0;
  const int needed = blocks_for(num_tokens) - static_cast<int>(match.blocks.size());
  return needed <= allocator_.num_free() - revived;
}

void KvCacheManager::admit(SeqKv& seq, const PrefixMatch& match, int num_tokens, int query_tokens) {
  HEARTH_CHECK(seq.blocks.empty(), "admitting a sequence that still holds {} blocks", seq.blocks.size());
  HEARTH_CHECK(can_admit(match, num_tokens), "admit() without room for {} tokens", num_tokens);
  for (BlockId b : match.blocks) allocator_.retain(b);
  seq.blocks = match.blocks;
  seq.content_ids = match.content_ids;
  const bool grown = grow(seq, num_tokens);
  HEARTH_CHECK(grown, "admit() could not grow to {} tokens", num_tokens);
  stats_.query_tokens += static_cast<uint64_t>(query_tokens);
  stats_.hit_tokens += match.blocks.size() * static_cast<uint64_t>(block_size_);
}

BlockId KvCacheManager::allocate() {
  const BlockId b = allocator_.peek_free();
  if (b >= 0 && cache_.contains(b)) {
    cache_.evict(b);
    ++stats_.evictions;
  }
  return allocator_.allocate();
}

bool KvCacheManager::grow(SeqKv& seq, int num_tokens) {
  const int needed = blocks_for(num_tokens) - static_cast<int>(seq.blocks.size());
  if (needed <= 0) return true;
  if (needed > allocator_.num_free()) return false;
  for (int i = 0; i < needed; ++i) seq.blocks.push_back(allocate());
  return true;
}

void KvCacheManager::commit(SeqKv& seq, std::span<const int32_t> tokens, int num_computed) {
  if (!prefix_caching_) return;
  HEARTH_CHECK(num_computed >= 0 && static_cast<size_t>(num_computed) <= tokens.size(),
               "{} computed of {} tokens", num_computed, tokens.size());
  const size_t bs = static_cast<size_t>(block_size_);
  const size_t full = static_cast<size_t>(num_computed) / bs;
  HEARTH_CHECK(full <= seq.blocks.size(), "{} full blocks but a table of {}", full, seq.blocks.size());
  for (size_t i = seq.content_ids.size(); i < full; ++i) {
    const uint64_t parent = i == 0 ? PrefixCache::kRootId : seq.content_ids[i - 1];
    seq.content_ids.push_back(cache_.insert(seq.blocks[i], parent, tokens.subspan(i * bs, bs)));
  }
}

void KvCacheManager::free(SeqKv& seq) {
  for (auto it = seq.blocks.rbegin(); it != seq.blocks.rend(); ++it)
    allocator_.release(*it, cache_.contains(*it));
  seq.blocks.clear();
  seq.content_ids.clear();
}

void KvCacheManager::check_invariants(std::span<const SeqKv* const> live) const {
  allocator_.check_invariants();
  cache_.check_invariants();
  std::vector<int32_t> refs(static_cast<size_t>(num_blocks()), 0);
  std::vector<size_t> seen_in(static_cast<size_t>(num_blocks()), live.size());  // last table holding it
  for (size_t t = 0; t < live.size(); ++t) {
    const SeqKv* s = live[t];
    HEARTH_CHECK(s->content_ids.size() <= s->blocks.size(), "{} content ids for {} blocks",
                 s->content_ids.size(), s->blocks.size());
    for (size_t i = 0; i < s->blocks.size(); ++i) {
      const BlockId b = s->blocks[i];
      HEARTH_CHECK(b >= 0 && b < num_blocks(), "block table entry {} = {}", i, b);
      HEARTH_CHECK(seen_in[static_cast<size_t>(b)] != t, "block {} twice in one table", b);
      seen_in[static_cast<size_t>(b)] = t;
      ++refs[static_cast<size_t>(b)];
    }
  }
  for (BlockId b = 0; b < num_blocks(); ++b) {
    HEARTH_CHECK(allocator_.ref_count(b) == refs[static_cast<size_t>(b)],
                 "block {}: ref_count {} but {} tables hold it ({})", b, allocator_.ref_count(b),
                 refs[static_cast<size_t>(b)],
                 allocator_.ref_count(b) > refs[static_cast<size_t>(b)] ? "leak" : "double free");
  }
}

}  // namespace hearth
