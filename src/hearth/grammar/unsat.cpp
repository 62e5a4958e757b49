// Why a schema accepts no value: descends from the root through the parts that are empty on
// their own (allOf / $ref parts, required properties, items required by minItems) to the
// contradiction, and names its keyword and JSON pointer. Only runs when the compiled root is
// empty, so a refused schema is one no instance could ever satisfy: refusing it at compile
// time (`hearth schema check` exit 2) beats a request that can only dead-end.
#include <unordered_map>

#include "hearth/grammar/grammar_build.h"
#include "hearth/grammar/schema_refs.h"
#include "hearth/grammar/utf8.h"

namespace hearth::grammar::detail {

namespace {

using Why = std::pair<std::string, std::string>;  // (JSON pointer, what is wrong)

class Explainer {
 public:
  Explainer(Graph& g, const CompileOptions& opts) : g_(g), opts_(opts) {}

  // Whether the node accepts no value (pruned like the runtime grammar would be).
  bool empty(NodeId id) {
    if (id == kNever || id == kNoNode) return true;
    if (id == kAny) return false;
    auto it = memo_.find(id);
    if (it != memo_.end()) return it->second;
    bool ok = true;
    try {
      build_grammar(g_, id, opts_, &ok);
    } catch (const hearth::Error&) {
      ok = true;  // unknown: never blame what could not be decided
    }
    memo_.emplace(id, !ok);
    return !ok;
  }

  Why why(NodeId id, int depth) {
    if (id == kNever || id == kNoNode) return {"", "the schema is false"};
    if (depth > 64) return {g_.nodes[id].ptr, "its keywords contradict each other"};
    if (auto it = g_.empty_cause.find(id); it != g_.empty_cause.end()) return it->second;
    const CNode& n = g_.nodes[id];
    const std::string ptr = n.ptr;
    switch (n.kind) {
      case CKind::Inter: {
        const std::vector<NodeId> parts = n.parts;
        for (NodeId p : parts) {
          if (empty(p)) return why(p, depth + 1);
        }
        // Each part has values, their intersection has none: an object or array reason
        // names the keywords best; otherwise the first two parts that exclude each other.
        Why w = structural(id, depth, /*generic=*/false);
        if (!w.second.empty()) return w;
        for (size_t i = 0; i < parts.size(); ++i) {
          for (size_t j = i + 1; j < parts.size(); ++j) {
            if (!empty(g_.intersect_nodes(parts[i], parts[j]))) continue;
            for (NodeId p : {parts[i], parts[j]}) {
              if (g_.nodes[p].kind == CKind::Not) {
                return {g_.nodes[p].ptr, "'not' excludes every value the other keywords allow"};
              }
            }
            const std::string a = g_.nodes[parts[i]].ptr, b = g_.nodes[parts[j]].ptr;
            return {b, fmt::format("the values allowed at {} and at {} do not overlap", a.empty() ? "/" : a, b)};
          }
        }
        break;
      }
      case CKind::Union: return {ptr, "no branch of 'anyOf' accepts a value"};
      case CKind::OneOf: return {ptr, "no value matches exactly one branch of 'oneOf'"};
      case CKind::Not: return {ptr, "'not' excludes every value the other keywords allow"};
      case CKind::Shape: break;
    }
    return structural(id, depth);
  }

 private:
  static std::string esc(const std::string& name) { return RefResolver::escape_pointer_token(name); }

  Why structural(NodeId id, int depth, bool generic = true) {
    const std::string ptr = g_.nodes[id].ptr;
    const Shape s = g_.shape(id);
    if (s.empty()) {
      if (!generic) return {};
      return {ptr, "its parts (sibling keywords, 'allOf', '$ref') allow no common type or value"};
    }
    for (uint32_t o : s.objs) {
      Why w = why_obj(o, ptr, depth);
      if (!w.second.empty()) return w;
    }
    for (uint32_t a : s.arrs) {
      Why w = why_arr(a, ptr, depth);
      if (!w.second.empty()) return w;
    }
    for (const NumSpec& x : s.nums) {
      if (num_nonempty(x)) continue;
      if (!generic) return {};
      return {ptr, x.has_enum ? "no 'enum' / 'const' number satisfies the numeric keywords"
                              : "no number satisfies 'minimum' / 'maximum' / 'multipleOf' together"};
    }
    if (!generic) return {};
    return {ptr, "its keywords contradict each other"};
  }

  Why why_obj(uint32_t oi, const std::string& ptr, int depth) {
    const ObjSpecC o = g_.objs[oi];  // a copy: key_node may grow g_.objs
    if (o.min_props > o.max_props) return {ptr + "/minProperties", "'minProperties' is greater than 'maxProperties'"};
    std::vector<std::pair<std::string, std::string>> required;  // (name, pointer of its 'required')
    for (const ObjClause& c : o.clauses) {
      for (const std::string& r : c.required) {
        bool dup = false;
        for (const auto& q : required) dup = dup || q.first == r;
        if (!dup) required.emplace_back(r, c.ptr + "/required");
      }
    }
    if (required.size() > o.max_props) {
      return {ptr + "/maxProperties",
              fmt::format("'required' lists {} properties but 'maxProperties' is {}", required.size(), o.max_props)};
    }
    for (const auto& [name, req_ptr] : required) {
      const NodeId kn = g_.key_node(o, name);
      if (!empty(kn)) continue;
      const std::string who = fmt::format("required property '{}' ({})", name, req_ptr);
      for (const ObjClause& c : o.clauses) {
        if (c.names_dfa || c.names_min > 0 || c.names_max != kUnbounded) {
          uint32_t len = 0;
          for (char ch : name) len += utf8::is_lead(static_cast<uint8_t>(ch));
          if ((c.names_dfa && c.names_dfa->dfa.run(name) < 0) || len < c.names_min || len > c.names_max) {
            return {c.ptr + "/propertyNames", who + " is not allowed by 'propertyNames'"};
          }
        }
        bool named = false;
        for (const auto& p : c.props) {
          if (p.first != name) continue;
          named = true;
          if (p.second == kNever) return {c.ptr + "/properties/" + esc(name), who + " has the schema false"};
          if (empty(p.second)) {
            Why inner = why(p.second, depth + 1);
            return {inner.first, who + " accepts no value: " + inner.second};
          }
        }
        bool matched = false;
        for (const auto& p : c.patterns) {
          if (p.first->dfa.run(name) < 0) continue;
          matched = true;
          if (empty(p.second)) {
            Why inner = why(p.second, depth + 1);
            return {inner.first.empty() ? c.ptr + "/patternProperties" : inner.first,
                    who + " matches a 'patternProperties' schema that accepts no value: " + inner.second};
          }
        }
        if (named || matched) continue;
        if (c.additional == kNever) {
          return {c.ptr + "/additionalProperties", who + " is forbidden by 'additionalProperties': false"};
        }
        if (empty(c.additional)) {
          Why inner = why(c.additional, depth + 1);
          return {inner.first.empty() ? c.ptr + "/additionalProperties" : inner.first,
                  who + " falls under 'additionalProperties', which accepts no value: " + inner.second};
        }
      }
      // Each clause allows it, their intersection does not.
      Why inner = why(kn, depth + 1);
      return {inner.first.empty() ? ptr + "/required" : inner.first,
              who + ": the schemas that apply to it have no value in common (" + inner.second + ")"};
    }
    for (const auto& f : o.forbidden) {
      bool all = !f.empty();
      for (const std::string& k : f) {
        bool req = false;
        for (const auto& q : required) req = req || q.first == k;
        all = all && req;
      }
      // Forbidden sets come from `not` and from oneOf's "this branch and not the others".
      if (all) return {ptr, "'required' demands properties that a 'not' or 'oneOf' here forbids together"};
    }
    return {};
  }

  Why why_arr(uint32_t ai, const std::string& ptr, int depth) {
    const ArrSpec a = g_.arrs[ai];
    if (a.min_items > a.max_items) {
      return {ptr + "/minItems", fmt::format("'minItems' ({}) is greater than 'maxItems' ({})", a.min_items, a.max_items)};
    }
    const uint32_t check = std::min<uint32_t>(a.min_items, static_cast<uint32_t>(a.prefix.size()) + 1);
    for (uint32_t i = 0; i < check; ++i) {
      const NodeId item = a.item(i);
      if (item == kNoNode) {
        return {ptr + "/minItems", fmt::format("'minItems' ({}) asks for more items than the item schemas allow ({})",
                                               a.min_items, i)};
      }
      if (empty(item)) {
        Why inner = why(item, depth + 1);
        return {inner.first.empty() ? ptr + "/minItems" : inner.first,
                fmt::format("item {} (required by 'minItems') accepts no value: {}", i, inner.second)};
      }
    }
    return {};
  }

  Graph& g_;
  CompileOptions opts_;
  std::unordered_map<NodeId, bool> memo_;
};

}  // namespace

void refuse_unsatisfiable(Graph& g, NodeId root, const CompileOptions& opts) {
  Explainer e(g, opts);
  Why w = e.why(root, 0);
  refuse(w.first, "unsatisfiable schema: " + w.second);
}

}  // namespace hearth::grammar::detail
