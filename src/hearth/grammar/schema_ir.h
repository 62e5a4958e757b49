// The compiled form of a schema the matcher runs on: a graph of value nodes, each the union of
// what it accepts per JSON type. Scalars are leaves interned process-wide (string automata,
// numeric constraints), so token-mask caches keyed by them are shared across schemas; arrays
// and objects refer to other nodes by id (recursion through $ref is a cycle in this graph).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hearth/grammar/dfa_info.h"
#include "hearth/grammar/numbers.h"

namespace hearth::grammar {

using NodeId = uint32_t;
inline constexpr NodeId kNoNode = 0xFFFFFFFFu;
inline constexpr uint32_t kUnbounded = 0xFFFFFFFFu;

struct StrAlt {
  const InternedDfa* dfa = nullptr;
  uint32_t min_len = 0;
  uint32_t max_len = kUnbounded;
  bool operator==(const StrAlt& o) const {
    return dfa == o.dfa && min_len == o.min_len && max_len == o.max_len;
  }
};

// A union of string alternatives (at most kMaxStrAlts, the lexer tracks one automaton state
// per alternative).
inline constexpr size_t kMaxStrAlts = 4;
// Interned (leaf_registry.cpp): ids are never reused, the set owns its automata.
struct StrSet : std::enable_shared_from_this<StrSet> {
  uint64_t id = 0;
  Fingerprint fp;  // of the content, for mask-cache keys (fingerprint.h)
  std::vector<StrAlt> alts;
  std::vector<std::shared_ptr<const InternedDfa>> owned;  // alts' automata
};

// A union of numeric alternatives (at most 32: the lexer keeps a bit mask of live ones).
inline constexpr size_t kMaxNumAlts = 32;
struct NumSet : std::enable_shared_from_this<NumSet> {
  uint64_t id = 0;
  Fingerprint fp;
  std::vector<NumSpec> alts;
  bool needs_text = false;  // some alternative needs the digits written so far
  bool allows_frac = false;
  bool allows_exp = false;
};

// Shared while some pool keeps them (see leaf_pool.h).
const StrSet* intern_str_set(const std::vector<StrAlt>& alts, LeafPool& pool);
const NumSet* intern_num_set(const std::vector<NumSpec>& alts, LeafPool& pool);

struct Node {
  bool null_ok = false;
  uint8_t bools = 0;  // bit 0: false, bit 1: true
  const NumSet* nums = nullptr;
  const StrSet* strs = nullptr;
  std::vector<uint32_t> arrs;  // ArrSpec indices
  std::vector<uint32_t> objs;  // ObjSpec indices
  // When the node has no arrays or objects (is_leaf): a content identity of what it accepts,
  // so caches of "a value of this node starts here" are shared across grammars.
  bool is_leaf = false;
  Fingerprint leaf_key;
};

struct ArrSpec {
  std::vector<NodeId> prefix;
  NodeId items = kNoNode;  // kNoNode: no items after the prefix
  uint32_t min_items = 0;
  uint32_t max_items = kUnbounded;  // already clamped to what the item nodes allow
  NodeId item(uint32_t i) const { return i < prefix.size() ? prefix[i] : items; }
};

struct ObjSpec {
  // Keys are strings lexed with key_strs (one alternative: key_dfa and length bounds).
  // Labels of key_dfa: [0, num_classes) are keys outside `names` (grouped by which
  // patternProperties they match), then one label per name.
  const InternedDfa* key_dfa = nullptr;
  const StrSet* key_strs = nullptr;
  uint32_t num_classes = 0;
  std::vector<std::string> names;
  std::vector<NodeId> label_node;  // kNoNode: a key with this label is never allowed
  uint32_t num_labels = 0;
  uint32_t label_words = 1;
  std::vector<uint64_t> required;  // label bit set
  uint32_t num_required = 0;
  uint32_t min_props = 0;
  uint32_t max_props = kUnbounded;
  // label -> labels that become required once it is present (dependentRequired)
  std::vector<std::pair<uint32_t, std::vector<uint32_t>>> deps;
  // sets of labels that must not all be present (`not` of `required`)
  std::vector<std::vector<uint32_t>> forbidden;
  uint32_t name_label(uint32_t i) const { return num_classes + i; }
};

enum class RootKind : uint8_t { Json, Raw };

struct GrammarData {
  uint64_t uid = 0;  // process-unique, keys the mask caches of non-leaf states
  RootKind root_kind = RootKind::Json;
  NodeId root = kNoNode;
  const InternedDfa* raw_dfa = nullptr;  // RootKind::Raw: the whole output, full match
  std::vector<Node> nodes;
  std::vector<ArrSpec> arrs;
  std::vector<ObjSpec> objs;
  bool flexible_ws = false;
  uint32_t max_ws = 0;      // consecutive whitespace bytes allowed where whitespace may go
  uint32_t max_depth = 64;  // nesting of arrays and objects
  // Keeps alive the interned leaves the fields above point to (and nothing else the
  // compilation made on the way), so they are freed with the grammar.
  std::shared_ptr<const LeafPool> leaves;
};

}  // namespace hearth::grammar
