// Compile-time graph: what each schema location accepts, as per-type "shapes" combined by
// intersection (allOf, $ref, sibling keywords), union (anyOf, oneOf once proven exact) and
// complement (not). Combinations are resolved lazily, so recursive schemas compile: a
// location may refer to one still being compiled as long as its content is not needed yet.
#pragma once

#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "hearth/grammar/grammar.h"
#include "hearth/grammar/schema_ir.h"

namespace hearth::grammar::detail {

inline constexpr NodeId kNever = 0;
inline constexpr NodeId kAny = 1;

struct ObjClause {
  std::string ptr;  // JSON pointer of the schema object the clause's keywords come from
  std::vector<std::pair<std::string, NodeId>> props;
  std::vector<std::pair<const InternedDfa*, NodeId>> patterns;
  NodeId additional = kAny;
  std::vector<std::string> required;
  const InternedDfa* names_dfa = nullptr;  // propertyNames (string part)
  uint32_t names_min = 0, names_max = kUnbounded;
  std::vector<std::pair<std::string, std::vector<std::string>>> dep_required;
  bool only_required() const {
    return props.empty() && patterns.empty() && additional == kAny && !names_dfa &&
           names_min == 0 && names_max == kUnbounded && dep_required.empty();
  }
};

struct ObjSpecC {
  std::vector<ObjClause> clauses;
  uint32_t min_props = 0, max_props = kUnbounded;
  std::vector<std::vector<std::string>> forbidden;
};

struct Shape {
  bool null_ok = false;
  uint8_t bools = 0;
  std::vector<NumSpec> nums;
  std::vector<StrAlt> strs;
  std::vector<uint32_t> arrs;  // Graph::arrs indices
  std::vector<uint32_t> objs;  // Graph::objs indices
  bool empty() const {
    return !null_ok && !bools && nums.empty() && strs.empty() && arrs.empty() && objs.empty();
  }
};

enum class CKind : uint8_t { Shape, Inter, Union, OneOf, Not };

struct CNode {
  CKind kind = CKind::Shape;
  std::vector<NodeId> parts;
  // JSON pointer of the schema location, for error messages (of a Not: of the `not` itself).
  std::string ptr;
  uint8_t state = 0;  // 0 unresolved, 1 resolving, 2 resolved
  Shape shape;        // the content once resolved (given directly for CKind::Shape)
};

class Graph {
 public:
  Graph();

  NodeId add_shape(Shape s, std::string ptr);
  NodeId add_op(CKind kind, std::vector<NodeId> parts, std::string ptr);
  // Turns a placeholder (allocated before its children were compiled) into its content.
  void set_shape(NodeId id, Shape s);
  void set_op(NodeId id, CKind kind, std::vector<NodeId> parts);
  NodeId add_placeholder(std::string ptr);

  const Shape& shape(NodeId id);
  // Deferred intersection of two nodes (memoized by the set of operands).
  NodeId intersect_nodes(NodeId a, NodeId b);
  // Deferred complement of a node (memoized, so the complement of a recursive schema is a
  // recursive node rather than an endless chain of new ones).
  NodeId not_node(NodeId a, const std::string& ptr);

  Shape intersect(const Shape& a, const Shape& b, const std::string& ptr);
  Shape unite(const Shape& a, const Shape& b, const std::string& ptr);
  Shape complement(const Shape& a, const std::string& ptr);
  bool disjoint(NodeId a, NodeId b, int depth);
  Shape one_of(const std::vector<Shape>& branches, const std::string& ptr);

  static Shape full();
  static Shape none() { return Shape{}; }
  uint32_t add_arr(ArrSpec a);
  uint32_t add_obj(ObjSpecC o);

  // Value node of a key in an object spec (intersection over its clauses).
  NodeId key_node(const ObjSpecC& o, const std::string& key);

  // Everything this compilation interned (intermediate automata included), and the pattern
  // cache entries it used (kept by the grammar, so recompiling its patterns is a lookup).
  LeafPool pool;
  LeafPool patterns;
  std::vector<CNode> nodes;
  std::vector<ArrSpec> arrs;
  std::vector<ObjSpecC> objs;
  // Locations whose own keywords contradict each other (node -> the keyword's pointer and
  // what is wrong), for the unsatisfiable-schema error (unsat.cpp).
  std::unordered_map<NodeId, std::pair<std::string, std::string>> empty_cause;
  uint32_t arr_any = 0, obj_any = 0;

 private:
  uint32_t intersect_arr(uint32_t a, uint32_t b);
  uint32_t intersect_obj(uint32_t a, uint32_t b);
  // Object specs whose union is the objects that break spec `oi` (one per broken constraint).
  std::vector<uint32_t> obj_violations(uint32_t oi, const std::string& ptr);
  std::vector<uint32_t> complement_objs(const std::vector<uint32_t>& specs, const std::string& ptr);
  void check_size() const;
  bool shapes_disjoint(const Shape& a, const Shape& b, int depth);

  std::map<std::vector<NodeId>, NodeId> inter_memo_;
  std::unordered_map<NodeId, NodeId> not_memo_;
  std::map<std::pair<uint32_t, uint32_t>, uint32_t> arr_memo_, obj_memo_;
};

[[noreturn]] void refuse(const std::string& ptr, const std::string& why);

}  // namespace hearth::grammar::detail
