// Deterministic automata over the bytes of a string's content (UTF-8). State 0 is the dead
// state. A state's label says whether the string may end there (label >= 0) and how it is
// classified (object keys: which property); the start and end symbols of the NFA are
// consumed during construction, so stepping is a plain table lookup per byte.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hearth/grammar/nfa.h"

namespace hearth::grammar {

struct Dfa {
  uint32_t num_states = 1;
  uint32_t num_classes = 1;
  std::array<uint8_t, 256> cls{};
  std::vector<uint32_t> next{0};  // [state * num_classes + class]
  std::vector<int32_t> label{-1};
  uint32_t start = 0;
  int32_t num_labels = 1;

  uint32_t step(uint32_t s, uint8_t b) const { return next[s * num_classes + cls[b]]; }
  // The label the whole string gets, or -1 when rejected (tests and tools).
  int32_t run(const std::string& s) const;
  uint64_t hash() const;
  bool operator==(const Dfa& o) const;
};

inline constexpr uint32_t kDfaMaxStates = 20000;

Dfa dfa_from_nfa(const Nfa& nfa, uint32_t max_states = kDfaMaxStates);
// Removes states that cannot reach an end, merges equivalent states and byte classes.
Dfa dfa_minimize(const Dfa& d);
// Runs the automata in lock step; label_fn maps the components' labels to the product's.
Dfa dfa_product(const std::vector<const Dfa*>& parts,
                const std::function<int32_t(const std::vector<int32_t>&)>& label_fn,
                int32_t num_labels, uint32_t max_states = kDfaMaxStates);
Dfa dfa_intersect(const Dfa& a, const Dfa& b);
Dfa dfa_union(const Dfa& a, const Dfa& b);
// Strings (of valid UTF-8) the automaton rejects; labels collapse to 0.
Dfa dfa_complement(const Dfa& d);
Dfa dfa_any();
Dfa dfa_empty();
bool dfa_is_empty(const Dfa& d);

// Compiles a regex (search semantics unless anchored) to a minimal DFA with label 0.
Dfa dfa_from_regex(const RegexAst& ast, bool search);

}  // namespace hearth::grammar
