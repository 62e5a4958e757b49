#include "hearth/grammar/vocabulary.h"

#include <algorithm>
#include <mutex>

#include "hearth/core/error.h"

namespace hearth::grammar {

void TokenSet::apply(uint32_t* words) const {
  if (!bits.empty()) {
    for (size_t i = 0; i < bits.size(); ++i) words[i] |= bits[i];
  }
  for (int32_t id : ids) words[id >> 5] |= 1u << (id & 31);
}

size_t MaskEntry::memory() const {
  size_t m = sizeof(MaskEntry);
  for (const Exit& e : exits) m += sizeof(Exit) + e.rem.memory();
  return m;
}

Vocabulary::Vocabulary(std::vector<std::string> token_bytes, std::vector<int32_t> stop_ids,
                       std::vector<int32_t> special_ids)
    : tokens_(std::move(token_bytes)), kind_(tokens_.size(), 0) {
  for (int32_t id : special_ids) {
    if (id < 0 || static_cast<size_t>(id) >= tokens_.size()) fail("vocabulary: special id {} out of range", id);
    kind_[static_cast<size_t>(id)] = 2;
  }
  for (int32_t id : stop_ids) {
    if (id < 0 || static_cast<size_t>(id) >= tokens_.size()) fail("vocabulary: stop id {} out of range", id);
    kind_[static_cast<size_t>(id)] = 1;
    stop_ids_.push_back(id);
  }
  std::vector<std::pair<std::string_view, int32_t>> all, quoted;
  for (size_t i = 0; i < tokens_.size(); ++i) {
    if (kind_[i] != 0 || tokens_[i].empty()) continue;
    all.emplace_back(tokens_[i], static_cast<int32_t>(i));
    if (tokens_[i].find('"') != std::string::npos) quoted.emplace_back(tokens_[i], static_cast<int32_t>(i));
  }
  trie_ = TokenTrie::build(std::move(all));
  // Code points on the path to each node (preorder: a node's parent is the last node seen one
  // level up), then the most of any token in each subtree (reverse preorder: children first).
  const uint32_t n = trie_.size();
  std::vector<uint32_t> path_cps(n, 0), at_depth;
  for (uint32_t i = 1; i < n; ++i) {
    const uint32_t d = trie_.depth[i];
    if (at_depth.size() < d + 1) at_depth.resize(d + 1, 0);
    at_depth[d] = i;
    path_cps[i] = path_cps[at_depth[d - 1]] + ((trie_.byte[i] & 0xC0) != 0x80 ? 1 : 0);
  }
  trie_max_cps_.assign(n, 0);
  for (uint32_t i = n; i-- > 0;) {
    uint32_t m = trie_.tok_begin[i] < trie_.tok_begin[i + 1] ? path_cps[i] : 0;
    for (uint32_t j = i + 1; j < trie_.skip[i]; j = trie_.skip[j]) m = std::max<uint32_t>(m, trie_max_cps_[j]);
    trie_max_cps_[i] = static_cast<uint16_t>(std::min<uint32_t>(m, 0xFFFF));
  }
  quote_trie_ = TokenTrie::build(std::move(quoted));
}

std::shared_ptr<const MaskEntry> Vocabulary::cache_get(const std::string& key) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = cache_.find(key);
  return it == cache_.end() ? nullptr : it->second;
}

std::shared_ptr<const TokenSet> Vocabulary::intern_set(std::shared_ptr<const TokenSet> s) const {
  uint64_t h = 1469598103934665603ull;
  for (uint32_t w : s->bits) h = (h ^ w) * 1099511628211ull;
  for (int32_t id : s->ids) h = (h ^ static_cast<uint32_t>(id)) * 1099511628211ull;
  std::unique_lock<std::shared_mutex> lock(mu_);
  auto range = sets_.equal_range(h);
  for (auto it = range.first; it != range.second; ++it) {
    if (it->second->bits == s->bits && it->second->ids == s->ids) return it->second;
  }
  cache_bytes_ += s->memory() + 64;
  sets_.emplace(h, s);
  return s;
}

void Vocabulary::cache_put(const std::string& key, std::shared_ptr<const MaskEntry> e) const {
  // Interned (dense) sets are counted when interned; small ones with their entry.
  size_t m = e->memory() + key.size() + 64;
  if (e->inside && e->inside->bits.empty()) m += e->inside->memory();
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (cache_bytes_ + m > cache_limit_) {
    cache_.clear();
    sets_.clear();
    cache_bytes_ = 0;
  }
  if (cache_.emplace(key, std::move(e)).second) cache_bytes_ += m;
}

size_t Vocabulary::cache_entries() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return cache_.size();
}

size_t Vocabulary::cache_bytes() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return cache_bytes_;
}

void Vocabulary::cache_clear() const {
  std::unique_lock<std::shared_mutex> lock(mu_);
  cache_.clear();
  sets_.clear();
  cache_bytes_ = 0;
}

}  // namespace hearth::grammar
