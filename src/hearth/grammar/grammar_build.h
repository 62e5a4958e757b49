// From the compile graph to the runtime grammar: resolves the nodes reachable from the root,
// builds each object's key automaton, and prunes what can never be completed, so the matcher
// never offers a token that leads to a dead end.
#pragma once

#include "hearth/grammar/compile_graph.h"

namespace hearth::grammar::detail {

GrammarData build_grammar(Graph& g, NodeId root, const CompileOptions& opts);

}  // namespace hearth::grammar::detail
