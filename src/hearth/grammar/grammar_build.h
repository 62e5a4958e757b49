// From the compile graph to the runtime grammar: resolves the nodes reachable from the root,
// builds each object's key automaton, and prunes what can never be completed, so the matcher
// never offers a token that leads to a dead end.
#pragma once

#include "hearth/grammar/compile_graph.h"

namespace hearth::grammar::detail {

// root_nonempty (when given) says whether the root accepts any value; otherwise the result
// is a grammar that accepts nothing.
GrammarData build_grammar(Graph& g, NodeId root, const CompileOptions& opts, bool* root_nonempty = nullptr);

// Throws SchemaUnsupported explaining why `root` accepts no value: the keyword and JSON
// pointer of the contradiction (required vs additionalProperties: false, minItems >
// maxItems, an enum no value of which passes the other keywords, ...), found by descending
// into the empty parts (unsat.cpp).
[[noreturn]] void refuse_unsatisfiable(Graph& g, NodeId root, const CompileOptions& opts);

}  // namespace hearth::grammar::detail
