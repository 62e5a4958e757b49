// What the matcher needs to know about a string automaton beyond its transitions: for each
// (DFA state, UTF-8 decoder state) pair, whether the string can still end well, how many code
// points that takes, which labels stay reachable and whether every continuation keeps it
// alive ("free": the token mask of such a state is the same as an unconstrained string's).
// Interned automata are shared process-wide, so mask caches keyed by them are too.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <string>
#include <vector>

#include "hearth/grammar/dfa.h"
#include "hearth/grammar/fingerprint.h"
#include "hearth/grammar/leaf_pool.h"
#include "hearth/grammar/utf8.h"

namespace hearth::grammar {

struct DfaInfo {
  static constexpr uint32_t kInf = 0xFFFFFFFFu;
  // Nodes are state * 8 + utf8 decoder state.
  std::vector<uint8_t> live;
  std::vector<uint32_t> min_cps;  // code points still needed before the string can end
  std::vector<uint32_t> max_cps;  // most code points it can still take (kInf: unbounded)
  int label_words = 1;
  std::vector<uint64_t> reach;    // [node * label_words]: labels it can still end with
  std::vector<uint64_t> common;   // labels (< 64) every reachable node can still end with
  std::vector<uint8_t> universal; // every continuation is alive and may end at once
};

DfaInfo dfa_analyze(const Dfa& d);

inline uint32_t dfa_node(uint32_t state, uint8_t u8) { return state * 8u + u8; }

// Ids are never reused in a process (memo keys), so an id outlives its automaton harmlessly;
// mask caches use the content fingerprint instead, which survives re-interning.
struct InternedDfa : std::enable_shared_from_this<InternedDfa> {
  uint64_t id = 0;
  Fingerprint fp;
  Dfa dfa;
  DfaInfo info;
  // Per state, the code points after which it stays alive (stepper_strings.cpp), filled on
  // first use and freed with the automaton.
  mutable std::mutex live_cps_mu;
  mutable std::unordered_map<uint32_t, std::vector<CpRange>> live_cps_memo;
};

// Process-wide registry: equal automata alive at the same time are the same object with one
// id (thread safe). The registry holds weak references; `pool` keeps the result alive (see
// leaf_pool.h).
const InternedDfa* dfa_intern(Dfa&& d, LeafPool& pool);
std::shared_ptr<const InternedDfa> dfa_intern_shared(Dfa&& d);
// Universal string automaton (any content, label 0); lives until exit.
const InternedDfa* dfa_any_interned();
// Regex (JSON Schema `pattern`, search semantics); the pattern's cache entry (and the
// automaton) live while `pool` does.
const InternedDfa* dfa_for_pattern(const std::string& pattern, LeafPool& pool);
// The automaton registry's part of registry_stats() (sweeps expired entries first).
RegistryStats dfa_registry_stats();

}  // namespace hearth::grammar

namespace hearth::grammar {

// Memoized process-wide set operations on interned automata (memo entries die with their
// operands or result).
const InternedDfa* dfa_intersect_interned(const InternedDfa* a, const InternedDfa* b, LeafPool& pool);
const InternedDfa* dfa_union_interned(const InternedDfa* a, const InternedDfa* b, LeafPool& pool);
const InternedDfa* dfa_complement_interned(const InternedDfa* a, LeafPool& pool);
// Exactly these strings (UTF-8 content), label 0; or label i for strings[i] when `labeled`.
const InternedDfa* dfa_for_literals(const std::vector<std::string>& strings, bool labeled, LeafPool& pool);

}  // namespace hearth::grammar
