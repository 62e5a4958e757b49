#include "hearth/tokenizer/bpe.h"

#include <atomic>
#include <climits>
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "hearth/tokenizer/byte_level.h"

namespace hearth::tok_detail {
namespace {

// Words up to this many symbols merge by rescanning an array (fast for short words);
// longer ones use a heap, as HF does, so that a 1 MB run of letters stays O(n log n).
constexpr size_t kSmallWord = 48;

std::atomic<uint64_t> g_next_instance{1};

// Recent pre-tokens and their ids, per thread: a direct-mapped table of one cache line
// per entry (no allocation, bounded memory: 1 MiB per thread). Pre-tokens of up to
// kKeyBytes bytes with up to kIds ids are cached; natural text is mostly such words.
struct CacheSlot {
  static constexpr size_t kKeyBytes = 22, kIds = 8;
  uint64_t hash;
  uint8_t key_len;
  uint8_t n_ids;
  char key[kKeyBytes];
  int32_t ids[kIds];
};
static_assert(sizeof(CacheSlot) == 64);
constexpr size_t kCacheSlots = 1 << 14;

struct WordCache {
  uint64_t owner = 0;
  std::unique_ptr<CacheSlot[]> slots;
};

CacheSlot* thread_cache(uint64_t owner) {
  thread_local WordCache cache;
  if (cache.owner != owner) {
    if (!cache.slots) cache.slots = std::make_unique<CacheSlot[]>(kCacheSlots);
    for (size_t i = 0; i < kCacheSlots; ++i) cache.slots[i].key_len = 0xFF;  // empty
    cache.owner = owner;
  }
  return cache.slots.get();
}

}  // namespace

BpeModel::BpeModel() : instance_id_(g_next_instance.fetch_add(1)) { byte_ids.fill(-1); }

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.size() == 1) {
    const int32_t id = byte_ids[static_cast<unsigned char>(word[0])];
    if (id >= 0) {
      out.push_back(id);
    } else if (unk_id >= 0) {
      out.push_back(unk_id);
    }
    return;
  }
  if (word.size() > CacheSlot::kKeyBytes) {
    encode_word_uncached(word, out);
    return;
  }
  const uint64_t h = hash_bytes(word);
  CacheSlot& slot = thread_cache(instance_id_)[h & (kCacheSlots - 1)];
  if (slot.hash == h && slot.key_len == word.size() && std::memcmp(slot.key, word.data(), word.size()) == 0) {
    out.insert(out.end(), slot.ids, slot.ids + slot.n_ids);
    return;
  }
  const size_t mark = out.size();
  encode_word_uncached(word, out);
  const size_t n = out.size() - mark;
  if (n <= CacheSlot::kIds) {
    slot.hash = h;
    slot.key_len = static_cast<uint8_t>(word.size());
    slot.n_ids = static_cast<uint8_t>(n);
    std::memcpy(slot.key, word.data(), word.size());
    std::memcpy(slot.ids, out.data() + mark, n * sizeof(int32_t));
  }
}

void BpeModel::encode_word_uncached(std::string_view word, std::vector<int32_t>& out) const {
  if (ignore_merges && vocab != nullptr) {
    const int32_t id = vocab->find(bytes_to_byte_level(word));
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  std::vector<int32_t> symbols;
  symbols.reserve(word.size());
  for (unsigned char b : word) {
    const int32_t id = byte_ids[b];
    if (id >= 0) {
      symbols.push_back(id);
    } else if (unk_id >= 0) {
      symbols.push_back(unk_id);
    }
  }
  if (symbols.size() <= kSmallWord) {
    merge_small(symbols);
  } else {
    merge_large(symbols);
  }
  out.insert(out.end(), symbols.begin(), symbols.end());
}

void BpeModel::merge_small(std::vector<int32_t>& sym) const {
  size_t n = sym.size();
  if (n < 2) return;
  // ranks[i]/ids[i]: the merge of (sym[i], sym[i+1]); rank INT_MAX when none.
  MergeValue pairs[kSmallWord];
  for (size_t i = 0; i + 1 < n; ++i) {
    pairs[i] = merges.find(sym[i], sym[i + 1]);
    if (pairs[i].rank < 0) pairs[i].rank = INT_MAX;
  }
  while (n > 1) {
    size_t best = 0;
    int32_t best_rank = INT_MAX;
    for (size_t i = 0; i + 1 < n; ++i) {
      if (pairs[i].rank < best_rank) {
        best_rank = pairs[i].rank;
        best = i;
      }
    }
    if (best_rank == INT_MAX) break;
    sym[best] = pairs[best].id;
    for (size_t i = best + 1; i + 1 < n; ++i) sym[i] = sym[i + 1];
    for (size_t i = best + 1; i + 2 < n; ++i) pairs[i] = pairs[i + 1];
    --n;
    if (best + 1 < n) {
      pairs[best] = merges.find(sym[best], sym[best + 1]);
      if (pairs[best].rank < 0) pairs[best].rank = INT_MAX;
    }
    if (best > 0) {
      pairs[best - 1] = merges.find(sym[best - 1], sym[best]);
      if (pairs[best - 1].rank < 0) pairs[best - 1].rank = INT_MAX;
    }
  }
  sym.resize(n);
}

void BpeModel::merge_large(std::vector<int32_t>& sym) const {
  // HF's algorithm: a heap of candidate merges ordered by (rank, position); a candidate
  // whose two symbols have changed since it was pushed is stale and skipped when popped.
  const size_t n = sym.size();
  std::vector<int32_t> prev(n), next(n);
  for (size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<int32_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
  }
  struct Cand {
    int32_t rank;
    int32_t pos;
    int32_t left, right, id;  // the pair it merges, and the result
  };
  auto later = [](const Cand& a, const Cand& b) { return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos; };
  std::vector<Cand> heap;
  heap.reserve(n);
  for (size_t i = 0; i + 1 < n; ++i) {
    const MergeValue m = merges.find(sym[i], sym[i + 1]);
    if (m.rank >= 0) heap.push_back({m.rank, static_cast<int32_t>(i), sym[i], sym[i + 1], m.id});
  }
  std::make_heap(heap.begin(), heap.end(), later);
  constexpr int32_t kDead = -1;
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const Cand c = heap.back();
    heap.pop_back();
    const auto p = static_cast<size_t>(c.pos);
    if (sym[p] != c.left || next[p] < 0) continue;
    const auto q = static_cast<size_t>(next[p]);
    if (sym[q] != c.right) continue;
    sym[p] = c.id;
    sym[q] = kDead;
    next[p] = next[q];
    if (next[q] >= 0) prev[static_cast<size_t>(next[q])] = c.pos;
    if (prev[p] >= 0) {
      const auto l = static_cast<size_t>(prev[p]);
      const MergeValue m = merges.find(sym[l], sym[p]);
      if (m.rank >= 0) {
        heap.push_back({m.rank, prev[p], sym[l], sym[p], m.id});
        std::push_heap(heap.begin(), heap.end(), later);
      }
    }
    if (next[p] >= 0) {
      const auto r = static_cast<size_t>(next[p]);
      const MergeValue m = merges.find(sym[p], sym[r]);
      if (m.rank >= 0) {
        heap.push_back({m.rank, c.pos, sym[p], sym[r], m.id});
        std::push_heap(heap.begin(), heap.end(), later);
      }
    }
  }
  size_t w = 0;
  for (size_t i = 0; i < n; ++i) {
    if (sym[i] != kDead) sym[w++] = sym[i];
  }
  sym.resize(w);
}

}  // namespace hearth::tok_detail
