// Process-wide interning of scalar leaves (string and number alternative sets), so that
// token-mask caches keyed by them are shared by every grammar that uses the same constraint.
#include <memory>
#include <mutex>
#include <unordered_map>

#include "hearth/grammar/schema_ir.h"

namespace hearth::grammar {

namespace {

struct LeafRegistry {
  std::mutex mu;
  std::unordered_map<std::string, std::unique_ptr<StrSet>> strs;
  std::unordered_map<std::string, std::unique_ptr<NumSet>> nums;
  uint32_t next_id = 1;
};

LeafRegistry& leaves() {
  static LeafRegistry* r = new LeafRegistry();  // referenced until exit
  return *r;
}

}  // namespace

const StrSet* intern_str_set(const std::vector<StrAlt>& alts) {
  std::string key;
  for (const StrAlt& a : alts) {
    key += std::to_string(a.dfa->id) + ":" + std::to_string(a.min_len) + ":" + std::to_string(a.max_len) + ";";
  }
  LeafRegistry& r = leaves();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.strs.find(key);
  if (it != r.strs.end()) return it->second.get();
  auto s = std::make_unique<StrSet>();
  s->id = r.next_id++;
  s->alts = alts;
  const StrSet* out = s.get();
  r.strs.emplace(key, std::move(s));
  return out;
}

const NumSet* intern_num_set(const std::vector<NumSpec>& alts) {
  std::string key;
  for (const NumSpec& n : alts) key += n.key() + ";";
  LeafRegistry& r = leaves();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.nums.find(key);
  if (it != r.nums.end()) return it->second.get();
  auto s = std::make_unique<NumSet>();
  s->id = r.next_id++;
  s->alts = alts;
  for (const NumSpec& n : alts) {
    s->needs_text = s->needs_text || n.needs_text();
    s->allows_frac = s->allows_frac || n.allows_frac();
    s->allows_exp = s->allows_exp || n.allows_exp();
  }
  const NumSet* out = s.get();
  r.nums.emplace(key, std::move(s));
  return out;
}

}  // namespace hearth::grammar
