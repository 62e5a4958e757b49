// Process-wide interning of scalar leaves (string and number alternative sets), so that
// token-mask caches keyed by them are shared by every grammar alive that uses the same
// constraint. Entries are weak (see leaf_pool.h): a set dies with the last grammar using it.
#include <memory>
#include <mutex>
#include <unordered_map>

#include "hearth/grammar/schema_ir.h"

namespace hearth::grammar {

namespace {

struct LeafRegistry {
  std::mutex mu;
  std::unordered_map<std::string, std::weak_ptr<const StrSet>> strs;
  std::unordered_map<std::string, std::weak_ptr<const NumSet>> nums;
  size_t strs_live = 0, nums_live = 0;  // sizes after the last sweep
  uint64_t next_id = 1;
};

LeafRegistry& leaves() {
  static LeafRegistry* r = new LeafRegistry();  // never destroyed: static pools may outlive it
  return *r;
}

constexpr size_t kSweepSlack = 256;

// Looks `key` up in a weak map; otherwise registers make()'s result (sweeping expired entries
// once the map has doubled since the last sweep: amortized O(1)).
template <typename T, typename F>
std::shared_ptr<const T> lookup_or_add(LeafRegistry& r, std::unordered_map<std::string, std::weak_ptr<const T>>& map,
                                       size_t& live, const std::string& key, F&& make) {
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = map.find(key);
  if (it != map.end()) {
    if (auto s = it->second.lock()) return s;
  }
  std::shared_ptr<T> s = make();
  s->id = r.next_id++;
  if (map.size() >= 2 * live + kSweepSlack) {
    std::erase_if(map, [](const auto& e) { return e.second.expired(); });
    live = map.size();
  }
  map[key] = s;
  return s;
}

}  // namespace

const StrSet* intern_str_set(const std::vector<StrAlt>& alts, LeafPool& pool) {
  std::string key;
  for (const StrAlt& a : alts) {
    key += std::to_string(a.dfa->id) + ":" + std::to_string(a.min_len) + ":" + std::to_string(a.max_len) + ";";
  }
  LeafRegistry& r = leaves();
  return pool.keep(lookup_or_add<StrSet>(r, r.strs, r.strs_live, key, [&] {
    auto s = std::shared_ptr<StrSet>(new StrSet());
    s->alts = alts;
    FingerprintHasher fh(0x57);
    for (const StrAlt& a : alts) {
      s->owned.push_back(a.dfa->shared_from_this());
      fh.add(a.dfa->fp);
      fh.add(a.min_len);
      fh.add(a.max_len);
    }
    s->fp = fh.done();
    return s;
  }));
}

const NumSet* intern_num_set(const std::vector<NumSpec>& alts, LeafPool& pool) {
  std::string key;
  for (const NumSpec& n : alts) key += n.key() + ";";
  LeafRegistry& r = leaves();
  return pool.keep(lookup_or_add<NumSet>(r, r.nums, r.nums_live, key, [&] {
    auto s = std::shared_ptr<NumSet>(new NumSet());
    s->alts = alts;
    FingerprintHasher fh(0x4E);
    fh.add(key);
    s->fp = fh.done();
    for (const NumSpec& n : alts) {
      s->needs_text = s->needs_text || n.needs_text();
      s->allows_frac = s->allows_frac || n.allows_frac();
      s->allows_exp = s->allows_exp || n.allows_exp();
    }
    return s;
  }));
}

RegistryStats registry_stats() {
  RegistryStats s = dfa_registry_stats();
  LeafRegistry& r = leaves();
  std::lock_guard<std::mutex> lock(r.mu);
  std::erase_if(r.strs, [](const auto& e) { return e.second.expired(); });
  std::erase_if(r.nums, [](const auto& e) { return e.second.expired(); });
  r.strs_live = r.strs.size();
  r.nums_live = r.nums.size();
  s.str_sets = r.strs.size();
  s.num_sets = r.nums.size();
  return s;
}

}  // namespace hearth::grammar
