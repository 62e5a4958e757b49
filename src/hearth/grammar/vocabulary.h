// The model's vocabulary as the matcher sees it: raw token bytes, the stop tokens (allowed only
// when the value is complete) and special tokens (never allowed inside a constraint). Owns the
// token tries and the process-lifetime cache of per-state token masks; shared by every
// matcher that uses this vocabulary, from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "hearth/grammar/token_trie.h"

namespace hearth::grammar {

// Tokens accepted from some state, stored densely (bitset) or sparsely (sorted ids).
struct TokenSet {
  std::vector<uint32_t> bits;
  std::vector<int32_t> ids;
  void apply(uint32_t* words) const;
  size_t memory() const { return bits.size() * 4 + ids.size() * 4; }
};

// What the token mask of a top-of-stack frame is, whatever lies below it: the tokens that
// stay inside it, and for each way it can finish, the tokens' remainders to try on the real
// parent (a trie of remainders), or "the whole vocabulary" (then the parent's own mask).
struct MaskEntry {
  std::shared_ptr<const TokenSet> inside;
  struct Exit {
    uint32_t sig = 0;
    bool full = false;
    TokenTrie rem;
  };
  std::vector<Exit> exits;
  size_t memory() const;
};

class Vocabulary {
 public:
  Vocabulary(std::vector<std::string> token_bytes, std::vector<int32_t> stop_ids,
             std::vector<int32_t> special_ids);

  size_t size() const { return tokens_.size(); }
  size_t mask_words() const { return (tokens_.size() + 31) / 32; }
  const std::string& token(int32_t id) const { return tokens_[static_cast<size_t>(id)]; }
  bool is_stop(int32_t id) const { return kind_[static_cast<size_t>(id)] == 1; }
  bool is_special(int32_t id) const { return kind_[static_cast<size_t>(id)] == 2; }
  const std::vector<int32_t>& stop_ids() const { return stop_ids_; }

  const TokenTrie& trie() const { return trie_; }
  const TokenTrie& quote_trie() const { return quote_trie_; }
  // Per node of trie(): the most code points a token in its subtree can add to a string (its
  // bytes that are not UTF-8 continuation bytes, at most 65,535), so that a walk that only
  // cares about long tokens can skip the subtrees of short ones.
  const std::vector<uint16_t>& trie_max_cps() const { return trie_max_cps_; }

  std::shared_ptr<const MaskEntry> cache_get(const std::string& key) const;
  // The shared copy of a dense token set (many states accept the same tokens).
  std::shared_ptr<const TokenSet> intern_set(std::shared_ptr<const TokenSet> s) const;
  void cache_put(const std::string& key, std::shared_ptr<const MaskEntry> e) const;
  size_t cache_entries() const;
  size_t cache_bytes() const;
  void cache_clear() const;
  // Bytes the cache may hold before it is emptied (default 512 MiB).
  void set_cache_limit(size_t bytes) { cache_limit_ = bytes; }

 private:
  std::vector<std::string> tokens_;
  std::vector<uint8_t> kind_;  // 0 normal, 1 stop, 2 special
  std::vector<int32_t> stop_ids_;
  TokenTrie trie_;
  TokenTrie quote_trie_;  // tokens containing '"' (the only way to leave a string)
  std::vector<uint16_t> trie_max_cps_;

  mutable std::shared_mutex mu_;
  mutable std::unordered_map<std::string, std::shared_ptr<const MaskEntry>> cache_;
  mutable std::unordered_multimap<uint64_t, std::shared_ptr<const TokenSet>> sets_;
  mutable size_t cache_bytes_ = 0;
  size_t cache_limit_ = size_t{512} << 20;
};

}  // namespace hearth::grammar
