// Thompson NFA over bytes, with two extra symbols for the start and end of the string so
// that `^` and `$` become ordinary transitions and unanchored search (JSON Schema's pattern
// semantics) is "any bytes, pattern, any bytes".
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "hearth/grammar/regex.h"

namespace hearth::grammar {

struct Nfa {
  static constexpr uint16_t kBos = 256;
  static constexpr uint16_t kEos = 257;
  struct Edge {
    uint16_t lo, hi;  // symbol range, inclusive
    uint32_t to;
  };
  struct State {
    std::vector<Edge> edges;
    std::vector<uint32_t> eps;
    int32_t label = -1;  // accepting with this label once the end symbol was read
  };
  std::vector<State> states;
  uint32_t start = 0;
  size_t max_states = 60000;

  uint32_t add_state();
};

struct NfaPart {
  const RegexAst* ast;
  int32_t label;
};

// One automaton for the union of the parts; every input is BOS bytes EOS. With `search`, each
// part matches when its pattern occurs anywhere (^ and $ still anchor).
// Throws hearth::Error when the automaton would exceed nfa.max_states.
Nfa nfa_build(const std::vector<NfaPart>& parts, bool search);

}  // namespace hearth::grammar
