// Intersection, union and complement of shapes; lazy resolution of combined nodes.
#include <algorithm>

#include "hearth/grammar/compile_graph.h"

namespace hearth::grammar::detail {

void refuse(const std::string& ptr, const std::string& why) {
  throw SchemaUnsupported(fmt::format("{} at {}", why, ptr.empty() ? "/" : ptr));
}

namespace {

constexpr size_t kMaxNodes = 200000;
constexpr size_t kMaxAlts = 32;

bool is_any_num(const NumSpec& n) { return !n.integer && !n.needs_text(); }
bool is_any_str(const StrAlt& s) {
  return s.dfa == dfa_any_interned() && s.min_len == 0 && s.max_len == kUnbounded;
}

bool str_alt_nonempty(const StrAlt& s) {
  if (s.min_len > s.max_len || s.dfa->dfa.start == 0) return false;
  uint32_t node = dfa_node(s.dfa->dfa.start, 0);
  const DfaInfo& info = s.dfa->info;
  if (!info.live[node]) return false;
  if (info.min_cps[node] > s.max_len) return false;
  if (info.max_cps[node] != DfaInfo::kInf && info.max_cps[node] < s.min_len) return false;
  return true;
}

void push_num(std::vector<NumSpec>& v, const NumSpec& n) {
  for (const NumSpec& x : v) {
    if (x == n) return;
  }
  v.push_back(n);
}

void push_str(std::vector<StrAlt>& v, const StrAlt& s) {
  if (!str_alt_nonempty(s)) return;
  for (const StrAlt& x : v) {
    if (x == s) return;
  }
  v.push_back(s);
}

void push_id(std::vector<uint32_t>& v, uint32_t id) {
  if (std::find(v.begin(), v.end(), id) == v.end()) v.push_back(id);
}

// The lexer tracks at most kMaxStrAlts string alternatives: merge those with equal length
// bounds into one automaton.
void fit_strs(std::vector<StrAlt>& v, const std::string& ptr, LeafPool& pool) {
  if (v.size() <= kMaxStrAlts) return;
  std::vector<StrAlt> out;
  for (const StrAlt& s : v) {
    bool merged = false;
    for (StrAlt& o : out) {
      if (o.min_len == s.min_len && o.max_len == s.max_len) {
        o.dfa = dfa_union_interned(o.dfa, s.dfa, pool);
        merged = true;
        break;
      }
    }
    if (!merged) out.push_back(s);
  }
  if (out.size() > kMaxStrAlts) refuse(ptr, "too many distinct string alternatives (length bounds)");
  v = std::move(out);
}

}  // namespace

Graph::Graph() {
  CNode never;
  never.state = 2;
  nodes.push_back(std::move(never));
  CNode any;
  any.state = 2;
  nodes.push_back(std::move(any));
  ArrSpec aa;
  aa.items = kAny;
  arrs.push_back(aa);
  arr_any = 0;
  objs.push_back(ObjSpecC{});
  obj_any = 0;
  nodes[kAny].shape = full();
}

Shape Graph::full() {
  Shape s;
  s.null_ok = true;
  s.bools = 3;
  s.nums = {NumSpec{}};
  s.strs = {StrAlt{dfa_any_interned(), 0, kUnbounded}};
  s.arrs = {0};
  s.objs = {0};
  return s;
}

void Graph::check_size() const {
  if (nodes.size() > kMaxNodes || arrs.size() > kMaxNodes || objs.size() > kMaxNodes) {
    throw SchemaUnsupported("schema too complex (more than 200000 combined subschemas)");
  }
}

NodeId Graph::add_shape(Shape s, std::string ptr) {
  check_size();
  CNode n;
  n.kind = CKind::Shape;
  n.state = 2;
  n.shape = std::move(s);
  n.ptr = std::move(ptr);
  nodes.push_back(std::move(n));
  return static_cast<NodeId>(nodes.size() - 1);
}

NodeId Graph::add_op(CKind kind, std::vector<NodeId> parts, std::string ptr) {
  check_size();
  CNode n;
  n.kind = kind;
  n.parts = std::move(parts);
  n.ptr = std::move(ptr);
  nodes.push_back(std::move(n));
  return static_cast<NodeId>(nodes.size() - 1);
}

NodeId Graph::add_placeholder(std::string ptr) {
  check_size();
  CNode n;
  n.state = 1;  // content needed before it is set means the schema is circular
  n.ptr = std::move(ptr);
  nodes.push_back(std::move(n));
  return static_cast<NodeId>(nodes.size() - 1);
}

void Graph::set_shape(NodeId id, Shape s) {
  nodes[id].kind = CKind::Shape;
  nodes[id].shape = std::move(s);
  nodes[id].state = 2;
}

void Graph::set_op(NodeId id, CKind kind, std::vector<NodeId> parts) {
  nodes[id].kind = kind;
  nodes[id].parts = std::move(parts);
  nodes[id].state = 0;
}

uint32_t Graph::add_arr(ArrSpec a) {
  check_size();
  arrs.push_back(std::move(a));
  return static_cast<uint32_t>(arrs.size() - 1);
}

uint32_t Graph::add_obj(ObjSpecC o) {
  check_size();
  objs.push_back(std::move(o));
  return static_cast<uint32_t>(objs.size() - 1);
}

const Shape& Graph::shape(NodeId id) {
  if (nodes[id].state == 2) return nodes[id].shape;
  if (nodes[id].state == 1) {
    refuse(nodes[id].ptr, "circular schema (a location whose value depends on itself through $ref or combinators)");
  }
  nodes[id].state = 1;
  const CKind kind = nodes[id].kind;
  const std::vector<NodeId> parts = nodes[id].parts;
  const std::string ptr = nodes[id].ptr;
  Shape s;
  switch (kind) {
    case CKind::Shape: s = nodes[id].shape; break;
    case CKind::Inter: {
      s = full();
      for (NodeId p : parts) {
        Shape ps = shape(p);
        s = intersect(s, ps, ptr);
      }
      break;
    }
    case CKind::Union: {
      for (NodeId p : parts) {
        Shape ps = shape(p);
        s = unite(s, ps, ptr);
      }
      break;
    }
    case CKind::OneOf: {
      std::vector<Shape> branches;
      for (NodeId p : parts) branches.push_back(shape(p));
      s = one_of(branches, ptr);
      break;
    }
    case CKind::Not: {
      Shape ps = shape(parts[0]);
      s = complement(ps, ptr);
      break;
    }
  }
  nodes[id].shape = std::move(s);
  nodes[id].state = 2;
  return nodes[id].shape;
}

NodeId Graph::not_node(NodeId a, const std::string& ptr) {
  if (a == kAny) return kNever;
  if (a == kNever) return kAny;
  auto it = not_memo_.find(a);
  if (it != not_memo_.end()) return it->second;
  const NodeId n = add_op(CKind::Not, {a}, ptr);
  not_memo_.emplace(a, n);
  return n;
}

NodeId Graph::intersect_nodes(NodeId a, NodeId b) {
  if (a == kNever || b == kNever) return kNever;
  if (a == kAny) return b;
  if (b == kAny || a == b) return a;
  std::vector<NodeId> atoms;
  for (NodeId x : {a, b}) {
    if (nodes[x].kind == CKind::Inter && nodes[x].state != 1 && nodes[x].ptr == "(intersection)") {
      atoms.insert(atoms.end(), nodes[x].parts.begin(), nodes[x].parts.end());
    } else {
      atoms.push_back(x);
    }
  }
  std::sort(atoms.begin(), atoms.end());
  atoms.erase(std::unique(atoms.begin(), atoms.end()), atoms.end());
  auto it = inter_memo_.find(atoms);
  if (it != inter_memo_.end()) return it->second;
  NodeId id = add_op(CKind::Inter, atoms, "(intersection)");
  inter_memo_.emplace(atoms, id);
  return id;
}

uint32_t Graph::intersect_arr(uint32_t a, uint32_t b) {
  if (a == arr_any) return b;
  if (b == arr_any || a == b) return a;
  auto key = std::make_pair(std::min(a, b), std::max(a, b));
  auto it = arr_memo_.find(key);
  if (it != arr_memo_.end()) return it->second;
  const ArrSpec A = arrs[a], B = arrs[b];
  ArrSpec r;
  r.min_items = std::max(A.min_items, B.min_items);
  r.max_items = std::min(A.max_items, B.max_items);
  size_t n = std::max(A.prefix.size(), B.prefix.size());
  bool cut = false;
  for (size_t i = 0; i < n; ++i) {
    NodeId x = A.item(static_cast<uint32_t>(i)), y = B.item(static_cast<uint32_t>(i));
    if (x == kNoNode || y == kNoNode) {
      r.max_items = std::min<uint32_t>(r.max_items, static_cast<uint32_t>(i));
      cut = true;
      break;
    }
    r.prefix.push_back(intersect_nodes(x, y));
  }
  if (!cut) {
    r.items = (A.items == kNoNode || B.items == kNoNode) ? kNoNode : intersect_nodes(A.items, B.items);
  }
  uint32_t id = add_arr(std::move(r));
  arr_memo_.emplace(key, id);
  return id;
}

uint32_t Graph::intersect_obj(uint32_t a, uint32_t b) {
  if (a == obj_any) return b;
  if (b == obj_any || a == b) return a;
  auto key = std::make_pair(std::min(a, b), std::max(a, b));
  auto it = obj_memo_.find(key);
  if (it != obj_memo_.end()) return it->second;
  const ObjSpecC A = objs[a], B = objs[b];
  ObjSpecC r = A;
  r.clauses.insert(r.clauses.end(), B.clauses.begin(), B.clauses.end());
  r.min_props = std::max(A.min_props, B.min_props);
  r.max_props = std::min(A.max_props, B.max_props);
  r.forbidden.insert(r.forbidden.end(), B.forbidden.begin(), B.forbidden.end());
  uint32_t id = add_obj(std::move(r));
  obj_memo_.emplace(key, id);
  return id;
}

Shape Graph::intersect(const Shape& a, const Shape& b, const std::string& ptr) {
  Shape r;
  r.null_ok = a.null_ok && b.null_ok;
  r.bools = a.bools & b.bools;
  for (const NumSpec& x : a.nums) {
    for (const NumSpec& y : b.nums) {
      if (is_any_num(x)) push_num(r.nums, y);
      else if (is_any_num(y)) push_num(r.nums, x);
      else if (auto z = num_intersect(x, y)) push_num(r.nums, *z);
    }
  }
  for (const StrAlt& x : a.strs) {
    for (const StrAlt& y : b.strs) {
      StrAlt z;
      z.dfa = dfa_intersect_interned(x.dfa, y.dfa, pool);
      z.min_len = std::max(x.min_len, y.min_len);
      z.max_len = std::min(x.max_len, y.max_len);
      push_str(r.strs, z);
    }
  }
  for (uint32_t x : a.arrs) {
    for (uint32_t y : b.arrs) push_id(r.arrs, intersect_arr(x, y));
  }
  for (uint32_t x : a.objs) {
    for (uint32_t y : b.objs) push_id(r.objs, intersect_obj(x, y));
  }
  if (r.nums.size() > kMaxNumAlts || r.arrs.size() > kMaxAlts || r.objs.size() > kMaxAlts) {
    refuse(ptr, "schema too complex (too many alternatives of one type)");
  }
  fit_strs(r.strs, ptr, pool);
  return r;
}

Shape Graph::unite(const Shape& a, const Shape& b, const std::string& ptr) {
  Shape r = a;
  r.null_ok = a.null_ok || b.null_ok;
  r.bools = a.bools | b.bools;
  for (const NumSpec& n : b.nums) push_num(r.nums, n);
  for (const StrAlt& s : b.strs) push_str(r.strs, s);
  for (uint32_t x : b.arrs) push_id(r.arrs, x);
  for (uint32_t x : b.objs) push_id(r.objs, x);
  // An unconstrained alternative subsumes the others.
  for (const NumSpec& n : r.nums) {
    if (is_any_num(n)) {
      r.nums = {NumSpec{}};
      break;
    }
  }
  for (const StrAlt& s : r.strs) {
    if (is_any_str(s)) {
      r.strs = {s};
      break;
    }
  }
  if (std::find(r.arrs.begin(), r.arrs.end(), arr_any) != r.arrs.end()) r.arrs = {arr_any};
  if (std::find(r.objs.begin(), r.objs.end(), obj_any) != r.objs.end()) r.objs = {obj_any};
  if (r.nums.size() > kMaxNumAlts || r.arrs.size() > kMaxAlts || r.objs.size() > kMaxAlts) {
    refuse(ptr, "schema too complex (too many alternatives of one type)");
  }
  fit_strs(r.strs, ptr, pool);
  return r;
}

Shape Graph::complement(const Shape& s, const std::string& ptr) {
  Shape r;
  r.null_ok = !s.null_ok;
  r.bools = static_cast<uint8_t>(~s.bools & 3);
  // Numbers.
  if (s.nums.empty()) {
    r.nums = {NumSpec{}};
  } else if (std::any_of(s.nums.begin(), s.nums.end(), is_any_num)) {
    // nothing
  } else {
    bool enum_only = true;
    for (const NumSpec& n : s.nums) {
      enum_only = enum_only && n.has_enum && !n.integer && !n.lo && !n.hi && !n.multiple_of && n.excluded.empty();
    }
    if (enum_only) {
      NumSpec x;
      for (const NumSpec& n : s.nums) x.excluded.insert(x.excluded.end(), n.enum_values.begin(), n.enum_values.end());
      r.nums = {x};
    } else if (s.nums.size() == 1 && !s.nums[0].integer && !s.nums[0].has_enum && !s.nums[0].multiple_of &&
               s.nums[0].excluded.empty()) {
      const NumSpec& n = s.nums[0];
      if (n.lo) {
        NumSpec below;
        below.hi = n.lo;
        below.hi_excl = !n.lo_excl;
        r.nums.push_back(below);
      }
      if (n.hi) {
        NumSpec above;
        above.lo = n.hi;
        above.lo_excl = !n.hi_excl;
        r.nums.push_back(above);
      }
    } else {
      refuse(ptr, "unsupported 'not' of a numeric constraint");
    }
  }
  // Strings: the complement of a union is the intersection of the complements.
  if (s.strs.empty()) {
    r.strs = {StrAlt{dfa_any_interned(), 0, kUnbounded}};
  } else {
    std::vector<StrAlt> acc = {StrAlt{dfa_any_interned(), 0, kUnbounded}};
    for (const StrAlt& a : s.strs) {
      std::vector<StrAlt> comp;
      if (a.dfa != dfa_any_interned()) comp.push_back({dfa_complement_interned(a.dfa, pool), 0, kUnbounded});
      if (a.min_len > 0) comp.push_back({dfa_any_interned(), 0, a.min_len - 1});
      if (a.max_len != kUnbounded) comp.push_back({dfa_any_interned(), a.max_len + 1, kUnbounded});
      std::vector<StrAlt> next;
      for (const StrAlt& x : acc) {
        for (const StrAlt& y : comp) {
          push_str(next, StrAlt{dfa_intersect_interned(x.dfa, y.dfa, pool), std::max(x.min_len, y.min_len),
                                std::min(x.max_len, y.max_len)});
        }
      }
      acc = std::move(next);
      if (acc.size() > 4 * kMaxStrAlts) refuse(ptr, "unsupported 'not' of string constraints (too many cases)");
    }
    r.strs = std::move(acc);
    fit_strs(r.strs, ptr, pool);
  }
  // Arrays.
  if (s.arrs.empty()) {
    r.arrs = {arr_any};
  } else if (std::find(s.arrs.begin(), s.arrs.end(), arr_any) == s.arrs.end()) {
    refuse(ptr, "unsupported 'not' of an array constraint");
  }
  // Objects.
  if (s.objs.empty()) {
    r.objs = {obj_any};
  } else if (std::find(s.objs.begin(), s.objs.end(), obj_any) == s.objs.end()) {
    bool required_only = true;
    for (uint32_t o : s.objs) {
      const ObjSpecC& spec = objs[o];
      required_only = required_only && spec.clauses.size() == 1 && spec.clauses[0].only_required() &&
                      spec.min_props == 0 && spec.max_props == kUnbounded && spec.forbidden.empty();
    }
    if (required_only) {
      ObjSpecC c;
      for (uint32_t o : s.objs) c.forbidden.push_back(objs[o].clauses[0].required);
      r.objs = {add_obj(std::move(c))};
    } else if (s.objs.size() == 1 && objs[s.objs[0]].clauses.empty() && objs[s.objs[0]].forbidden.empty()) {
      // Copies: add_obj may reallocate `objs`.
      const uint32_t min_props = objs[s.objs[0]].min_props, max_props = objs[s.objs[0]].max_props;
      if (min_props > 0) {
        ObjSpecC c;
        c.max_props = min_props - 1;
        r.objs.push_back(add_obj(std::move(c)));
      }
      if (max_props != kUnbounded) {
        ObjSpecC c;
        c.min_props = max_props + 1;
        r.objs.push_back(add_obj(std::move(c)));
      }
    } else {
      r.objs = complement_objs(s.objs, ptr);
    }
  }
  return r;
}

std::vector<uint32_t> Graph::obj_violations(uint32_t oi, const std::string& ptr) {
  const ObjSpecC o = objs[oi];  // a copy: add_obj may reallocate `objs`
  std::vector<uint32_t> out;
  std::vector<std::string> required;
  std::vector<std::pair<std::string, NodeId>> named;  // per name, the intersection over clauses
  for (const ObjClause& c : o.clauses) {
    // "Some key breaks a patternProperties / additionalProperties / propertyNames rule" is
    // existential over keys: not expressible as clauses, which constrain every key.
    if (!c.patterns.empty() || c.additional != kAny || c.names_dfa || c.names_min > 0 || c.names_max != kUnbounded) {
      refuse(ptr, "unsupported 'not' of an object constraint (patternProperties, additionalProperties or propertyNames)");
    }
    for (const auto& p : c.props) {
      auto it = std::find_if(named.begin(), named.end(), [&](const auto& x) { return x.first == p.first; });
      if (it == named.end()) named.push_back(p);
      else it->second = intersect_nodes(it->second, p.second);
    }
    for (const std::string& r : c.required) {
      if (std::find(required.begin(), required.end(), r) == required.end()) required.push_back(r);
    }
    // Present key without one of its dependencies.
    for (const auto& [key, deps] : c.dep_required) {
      for (const std::string& d : deps) {
        ObjSpecC v;
        ObjClause vc;
        vc.ptr = c.ptr;
        vc.required = {key};
        v.clauses.push_back(std::move(vc));
        v.forbidden.push_back({d});
        out.push_back(add_obj(std::move(v)));
      }
    }
  }
  // A named property present with a value its schema rejects.
  for (const auto& [name, node] : named) {
    if (node == kAny) continue;
    ObjSpecC v;
    ObjClause vc;
    vc.ptr = ptr;
    vc.props.emplace_back(name, node == kNever ? kAny : not_node(node, ptr));
    vc.required = {name};
    v.clauses.push_back(std::move(vc));
    out.push_back(add_obj(std::move(v)));
  }
  // Not every required property present.
  if (!required.empty()) {
    ObjSpecC v;
    v.forbidden.push_back(required);
    out.push_back(add_obj(std::move(v)));
  }
  // Too few or too many properties; all of a forbidden set present.
  if (o.min_props > 0) {
    ObjSpecC v;
    v.max_props = o.min_props - 1;
    out.push_back(add_obj(std::move(v)));
  }
  if (o.max_props != kUnbounded) {
    ObjSpecC v;
    v.min_props = o.max_props + 1;
    out.push_back(add_obj(std::move(v)));
  }
  for (const auto& f : o.forbidden) {
    ObjSpecC v;
    ObjClause vc;
    vc.ptr = ptr;
    vc.required = f;
    v.clauses.push_back(std::move(vc));
    out.push_back(add_obj(std::move(v)));
  }
  if (out.size() > kMaxAlts) refuse(ptr, "unsupported 'not' of an object constraint (too many cases)");
  return out;
}

// Objects outside every spec of `specs`: an object fails a spec when it breaks one of its
// constraints (obj_violations: each a spec of its own), so the complement of a union is the
// intersection, over the specs, of the union of their violations.
std::vector<uint32_t> Graph::complement_objs(const std::vector<uint32_t>& specs, const std::string& ptr) {
  std::vector<uint32_t> acc = {obj_any};
  for (uint32_t s : specs) {
    const std::vector<uint32_t> v = obj_violations(s, ptr);
    std::vector<uint32_t> next;
    for (uint32_t a : acc) {
      for (uint32_t b : v) push_id(next, intersect_obj(a, b));
    }
    if (next.size() > kMaxAlts) refuse(ptr, "unsupported 'not' of an object constraint (too many cases)");
    acc = std::move(next);
  }
  return acc;
}

namespace {

// The part of a shape of one JSON type (0 null, 1 boolean, 2 number, 3 string, 4 array,
// 5 object).
Shape restrict_type(const Shape& s, int t) {
  Shape r;
  switch (t) {
    case 0: r.null_ok = s.null_ok; break;
    case 1: r.bools = s.bools; break;
    case 2: r.nums = s.nums; break;
    case 3: r.strs = s.strs; break;
    case 4: r.arrs = s.arrs; break;
    default: r.objs = s.objs; break;
  }
  return r;
}

}  // namespace

// oneOf, decided per JSON type (a value has one type, so "exactly one branch" holds per
// type): a type's parts that are pairwise disjoint are simply united; otherwise each part
// minus the others, when the complements are expressible.
Shape Graph::one_of(const std::vector<Shape>& branches, const std::string& ptr) {
  Shape out;
  for (int t = 0; t < 6; ++t) {
    std::vector<Shape> parts;
    for (const Shape& b : branches) {
      Shape p = restrict_type(b, t);
      if (!p.empty()) parts.push_back(std::move(p));
    }
    if (parts.empty()) continue;
    if (t == 0) {
      out.null_ok = parts.size() == 1;
      continue;
    }
    if (t == 1) {
      uint8_t once = 0, twice = 0;
      for (const Shape& p : parts) {
        twice |= once & p.bools;
        once |= p.bools;
      }
      out.bools = once & static_cast<uint8_t>(~twice);
      continue;
    }
    bool disjoint_parts = true;
    for (size_t i = 0; i < parts.size() && disjoint_parts; ++i) {
      for (size_t j = i + 1; j < parts.size() && disjoint_parts; ++j) {
        disjoint_parts = shapes_disjoint(parts[i], parts[j], 3);
      }
    }
    if (disjoint_parts) {
      for (const Shape& p : parts) out = unite(out, p, ptr);
      continue;
    }
    std::vector<Shape> comps;
    try {
      for (const Shape& p : parts) comps.push_back(complement(p, ptr));
    } catch (const SchemaUnsupported&) {
      refuse(ptr, "unsupported 'oneOf': branches are not provably disjoint and cannot be made exclusive");
    }
    for (size_t i = 0; i < parts.size(); ++i) {
      Shape b = parts[i];
      for (size_t j = 0; j < parts.size(); ++j) {
        if (j != i) b = intersect(b, comps[j], ptr);
      }
      out = unite(out, b, ptr);
    }
  }
  return out;
}

NodeId Graph::key_node(const ObjSpecC& o, const std::string& key) {
  NodeId r = kAny;
  for (const ObjClause& c : o.clauses) {
    if (c.names_dfa || c.names_min > 0 || c.names_max != kUnbounded) {
      uint32_t len = 0;
      for (char ch : key) len += utf8::is_lead(static_cast<uint8_t>(ch));
      if ((c.names_dfa && c.names_dfa->dfa.run(key) < 0) || len < c.names_min || len > c.names_max) return kNever;
    }
    NodeId n = kAny;
    bool named = false;
    for (const auto& p : c.props) {
      if (p.first == key) {
        n = intersect_nodes(n, p.second);
        named = true;
      }
    }
    bool matched = false;
    for (const auto& p : c.patterns) {
      if (p.first->dfa.run(key) >= 0) {
        n = intersect_nodes(n, p.second);
        matched = true;
      }
    }
    if (!named && !matched) n = c.additional;
    r = intersect_nodes(r, n);
  }
  return r;
}

bool Graph::disjoint(NodeId a, NodeId b, int depth) {
  Shape x = shape(a);
  Shape y = shape(b);
  return shapes_disjoint(x, y, depth);
}

bool Graph::shapes_disjoint(const Shape& a, const Shape& b, int depth) {
  if (a.null_ok && b.null_ok) return false;
  if (a.bools & b.bools) return false;
  for (const NumSpec& x : a.nums) {
    for (const NumSpec& y : b.nums) {
      if (num_intersect(x, y)) return false;
    }
  }
  for (const StrAlt& x : a.strs) {
    for (const StrAlt& y : b.strs) {
      StrAlt z{dfa_intersect_interned(x.dfa, y.dfa, pool), std::max(x.min_len, y.min_len), std::min(x.max_len, y.max_len)};
      if (str_alt_nonempty(z)) return false;
    }
  }
  for (uint32_t xi : a.arrs) {
    for (uint32_t yi : b.arrs) {
      const ArrSpec x = arrs[xi], y = arrs[yi];
      if (std::max(x.min_items, y.min_items) > std::min(x.max_items, y.max_items)) continue;
      bool dis = false;
      uint32_t both = std::min(x.min_items, y.min_items);
      for (uint32_t i = 0; i < both && !dis && depth > 0; ++i) {
        NodeId p = x.item(i), q = y.item(i);
        if (p == kNoNode || q == kNoNode) dis = true;
        else dis = disjoint(p, q, depth - 1);
      }
      if (!dis) return false;
    }
  }
  for (uint32_t xi : a.objs) {
    for (uint32_t yi : b.objs) {
      const ObjSpecC x = objs[xi], y = objs[yi];
      if (std::max(x.min_props, y.min_props) > std::min(x.max_props, y.max_props)) continue;
      bool dis = false;
      auto required_of = [](const ObjSpecC& o) {
        std::vector<std::string> r;
        for (const ObjClause& c : o.clauses) r.insert(r.end(), c.required.begin(), c.required.end());
        return r;
      };
      auto forbids = [&](const ObjSpecC& o, const std::string& k) {
        for (const auto& f : o.forbidden) {
          if (f.size() == 1 && f[0] == k) return true;
        }
        return key_node(o, k) == kNever;
      };
      std::vector<std::string> rx = required_of(x), ry = required_of(y);
      for (const std::string& k : rx) dis = dis || forbids(y, k);
      for (const std::string& k : ry) dis = dis || forbids(x, k);
      if (!dis && depth > 0) {
        for (const std::string& k : rx) {
          if (dis) break;
          if (std::find(ry.begin(), ry.end(), k) == ry.end()) continue;
          dis = disjoint(key_node(x, k), key_node(y, k), depth - 1);
        }
      }
      if (!dis) return false;
    }
  }
  return true;
}

}  // namespace hearth::grammar::detail
