// JSON Schema keywords to the compile graph. Every keyword is either enforced, an annotation,
// or refused with its JSON pointer.
#include <nlohmann/json.hpp>

#include <cmath>
#include <unordered_map>

#include "hearth/grammar/compile_graph.h"
#include "hearth/grammar/formats.h"
#include "hearth/grammar/grammar_build.h"
#include "hearth/grammar/schema_refs.h"

namespace hearth::grammar::detail {

using nlohmann::json;

namespace {

// Validation keywords of some JSON Schema draft that hearth does not enforce.
bool is_refused_keyword(const std::string& k) {
  static const char* kRefused[] = {"contains", "minContains", "maxContains", "unevaluatedItems",
                                   "unevaluatedProperties", "$dynamicRef", "$recursiveRef", "extends",
                                   "disallow", "divisibleBy"};
  for (const char* r : kRefused) {
    if (k == r) return true;
  }
  return false;
}

bool as_count(const json& v, uint32_t& out) {
  if (v.is_number_unsigned()) {
    uint64_t x = v.get<uint64_t>();
    out = x > 0xFFFFFFFEull ? 0xFFFFFFFEu : static_cast<uint32_t>(x);
    return true;
  }
  if (v.is_number_integer()) {
    int64_t x = v.get<int64_t>();
    if (x < 0) return false;
    out = x > 0xFFFFFFFELL ? 0xFFFFFFFEu : static_cast<uint32_t>(x);
    return true;
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (d < 0 || d != static_cast<double>(static_cast<int64_t>(d))) return false;
    out = d > 4294967294.0 ? 0xFFFFFFFEu : static_cast<uint32_t>(d);
    return true;
  }
  return false;
}

std::optional<Decimal> json_decimal(const json& v) {
  // nlohmann's is_number_integer() is also true for unsigned values beyond int64.
  if (v.is_number_unsigned()) return Decimal::parse(std::to_string(v.get<uint64_t>()));
  if (v.is_number_integer()) return Decimal::from_int(v.get<int64_t>());
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (!std::isfinite(d)) return std::nullopt;
    return Decimal::parse(v.dump());  // shortest round-trip text, as written
  }
  return std::nullopt;
}

}  // namespace

class Compiler {
 public:
  Compiler(const json& root, const CompileOptions& opts, bool legacy_ref, bool legacy_id, bool has_if)
      : opts_(opts), legacy_ref_(legacy_ref), has_if_(has_if), refs_(root, legacy_id) {}

  Graph g;

  NodeId compile(const json& s, const std::string& ptr, const std::string& parent_base, int depth) {
    if (depth > 256) refuse(ptr, "schema nested too deeply");
    if (s.is_boolean()) return s.get<bool>() ? kAny : kNever;
    if (!s.is_object()) refuse(ptr, "invalid schema: must be an object or a boolean");
    auto memo = memo_.find(&s);
    if (memo != memo_.end()) return memo->second;
    const std::string base = refs_.base_of(s, parent_base);
    NodeId id = g.add_placeholder(ptr);
    memo_.emplace(&s, id);

    auto ref_it = s.find("$ref");
    if (ref_it != s.end() && legacy_ref_) {
      // Drafts 4 to 7: $ref replaces the whole schema; its siblings are ignored.
      NodeId target = compile_ref(*ref_it, ptr + "/$ref", base, depth);
      g.set_op(id, CKind::Inter, {target});
      return id;
    }

    Shape own = Graph::full();
    // The first keyword whose intersection left this location's own keywords with no value.
    std::pair<std::string, std::string> cause;
    // Empty as the runtime grammar sees it: no type left, or only numeric alternatives with
    // no number in their bounds.
    auto own_empty = [&] {
      if (own.null_ok || own.bools || !own.strs.empty() || !own.arrs.empty() || !own.objs.empty()) return false;
      for (const NumSpec& n : own.nums) {
        if (num_nonempty(n)) return false;
      }
      return true;
    };
    auto note = [&](bool was_nonempty, std::string at, std::string why) {
      if (was_nonempty && own_empty() && cause.first.empty()) cause = {std::move(at), std::move(why)};
    };
    std::vector<NodeId> parts;
    for (auto it = s.begin(); it != s.end(); ++it) {
      const std::string& k = it.key();
      const json& v = *it;
      const std::string kp = ptr + "/" + RefResolver::escape_pointer_token(k);
      const bool was_nonempty = !own_empty();
      if (is_refused_keyword(k)) refuse(kp, fmt::format("unsupported keyword '{}'", k));
      if (k == "type") {
        own = g.intersect(own, type_shape(v, kp), kp);
        note(was_nonempty, kp, "'type' allows none of the values the other keywords allow");
      } else if (k == "enum") {
        if (!v.is_array()) refuse(kp, "invalid 'enum': must be an array");
        own = g.intersect(own, literals_shape(v, kp), kp);
      } else if (k == "const") {
        json arr = json::array({v});
        own = g.intersect(own, literals_shape(arr, kp), kp);
      } else if (k == "$ref") {
        parts.push_back(compile_ref(v, kp, base, depth));
      } else if (k == "allOf" || k == "anyOf" || k == "oneOf") {
        if (!v.is_array() || v.empty()) refuse(kp, fmt::format("invalid '{}': must be a non-empty array", k));
        std::vector<NodeId> branches;
        for (size_t i = 0; i < v.size(); ++i) {
          branches.push_back(compile(v[i], kp + "/" + std::to_string(i), base, depth + 1));
        }
        if (k == "allOf") {
          parts.insert(parts.end(), branches.begin(), branches.end());
        } else {
          parts.push_back(g.add_op(k == "anyOf" ? CKind::Union : CKind::OneOf, branches, kp));
        }
      } else if (k == "not") {
        parts.push_back(g.add_op(CKind::Not, {compile(v, kp, base, depth + 1)}, kp));
      } else if (k == "if") {
        // (if and then) or (not if and else); a missing branch is `true`. Drafts 4 and 6
        // have no `if`: there it is an annotation, as any unknown keyword.
        if (has_if_ && (s.contains("then") || s.contains("else"))) {
          const NodeId cond = compile(v, kp, base, depth + 1);
          const NodeId then_n = s.contains("then") ? compile(s["then"], ptr + "/then", base, depth + 1) : kAny;
          const NodeId else_n = s.contains("else") ? compile(s["else"], ptr + "/else", base, depth + 1) : kAny;
          const NodeId yes = g.add_op(CKind::Inter, {cond, then_n}, kp);
          const NodeId no = g.add_op(CKind::Inter, {g.not_node(cond, kp), else_n}, kp);
          parts.push_back(g.add_op(CKind::Union, {yes, no}, kp));
        }
      } else if (k == "uniqueItems") {
        if (!v.is_boolean()) refuse(kp, "invalid 'uniqueItems'");
        if (v.get<bool>()) refuse(kp, "unsupported keyword 'uniqueItems'");
      } else if (k == "dependentSchemas") {
        if (!v.is_object()) refuse(kp, "invalid 'dependentSchemas'");
        for (auto d = v.begin(); d != v.end(); ++d) {
          parts.push_back(dependent_schema(d.key(), *d, kp + "/" + RefResolver::escape_pointer_token(d.key()), base, depth));
        }
      }
    }
    bool was_nonempty = !own_empty();
    apply_string_keywords(s, ptr, own);
    if (was_nonempty && own_empty()) {
      if (length_bounds_cross(s, "minLength", "maxLength")) {
        note(true, ptr + "/minLength", "'minLength' is greater than 'maxLength'");
      } else {
        const char* kw = s.contains("pattern") ? "pattern" : s.contains("format") ? "format" : "maxLength";
        note(true, ptr + "/" + kw, fmt::format("'{}' leaves no string the other keywords allow", kw));
      }
    }
    was_nonempty = !own_empty();
    apply_number_keywords(s, ptr, own);
    if (was_nonempty && own_empty()) {
      const char* kw = "minimum";
      for (const char* k : {"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "multipleOf"}) {
        if (s.contains(k)) {
          kw = k;
          break;
        }
      }
      note(true, ptr + "/" + kw, "no number satisfies the bounds (minimum / maximum / multipleOf / type)");
    }
    if (own_empty()) {
      // An enum or const whose values all fail the other keywords is the usual culprit.
      if (s.contains("const")) cause = {ptr + "/const", "the 'const' value fails the other keywords"};
      else if (s.contains("enum")) cause = {ptr + "/enum", "no 'enum' value satisfies the other keywords"};
      if (cause.first.empty()) cause = {ptr, "its keywords contradict each other"};
      g.empty_cause.emplace(id, std::move(cause));
    }
    apply_array_keywords(s, ptr, base, depth, own);
    apply_object_keywords(s, ptr, base, depth, own, parts);

    if (parts.empty()) {
      g.set_shape(id, std::move(own));
    } else {
      parts.insert(parts.begin(), g.add_shape(std::move(own), ptr));
      g.set_op(id, CKind::Inter, std::move(parts));
    }
    return id;
  }

 private:
  // "When `key` is present, the instance also satisfies `schema`" = not an object, or an
  // object without `key`, or a value of `schema`: a union, no complement needed.
  NodeId dependent_schema(const std::string& key, const json& schema, const std::string& kp, const std::string& base,
                          int depth) {
    const NodeId then_n = compile(schema, kp, base, depth + 1);
    Shape absent = Graph::full();
    ObjSpecC o;
    o.forbidden.push_back({key});
    absent.objs = {g.add_obj(std::move(o))};
    return g.add_op(CKind::Union, {g.add_shape(std::move(absent), kp), then_n}, kp);
  }

  static bool length_bounds_cross(const json& s, const char* lo, const char* hi) {
    uint32_t a = 0, b = 0;
    auto l = s.find(lo), h = s.find(hi);
    return l != s.end() && h != s.end() && as_count(*l, a) && as_count(*h, b) && a > b;
  }

  NodeId compile_ref(const json& v, const std::string& kp, const std::string& base, int depth) {
    if (!v.is_string()) refuse(kp, "invalid '$ref': must be a string");
    RefResolver::Target t = refs_.resolve(v.get<std::string>(), base, kp);
    return compile(*t.node, t.ptr, t.base, depth + 1);
  }

  Shape type_shape(const json& v, const std::string& kp) {
    Shape t;
    auto add = [&](const json& name) {
      if (!name.is_string()) refuse(kp, "invalid 'type'");
      const std::string& n = name.get_ref<const std::string&>();
      if (n == "null") t.null_ok = true;
      else if (n == "boolean") t.bools = 3;
      else if (n == "integer") t = g.unite(t, int_shape(), kp);
      else if (n == "number") t = g.unite(t, num_shape(), kp);
      else if (n == "string") t.strs = {StrAlt{dfa_any_interned(), 0, kUnbounded}};
      else if (n == "array") t.arrs = {g.arr_any};
      else if (n == "object") t.objs = {g.obj_any};
      else refuse(kp, fmt::format("unsupported type '{}'", n));
    };
    if (v.is_array()) {
      for (const json& n : v) add(n);
    } else {
      add(v);
    }
    return t;
  }

  static Shape int_shape() {
    Shape s;
    NumSpec n;
    n.integer = true;
    s.nums = {n};
    return s;
  }
  static Shape num_shape() {
    Shape s;
    s.nums = {NumSpec{}};
    return s;
  }

  Shape literals_shape(const json& values, const std::string& kp) {
    Shape r;
    std::vector<std::string> strings;
    NumSpec nums;
    nums.has_enum = true;
    for (const json& v : values) {
      if (v.is_null()) {
        r.null_ok = true;
      } else if (v.is_boolean()) {
        r.bools |= v.get<bool>() ? 2 : 1;
      } else if (v.is_number()) {
        std::optional<Decimal> d = json_decimal(v);
        if (!d) refuse(kp, "invalid number in 'enum'/'const'");
        nums.enum_values.push_back(*d);
      } else if (v.is_string()) {
        strings.push_back(v.get<std::string>());
      } else {
        r = g.unite(r, structured_literal(v, kp), kp);
      }
    }
    if (!strings.empty()) r.strs.push_back(StrAlt{dfa_for_literals(strings, false, g.pool), 0, kUnbounded});
    if (!nums.enum_values.empty()) r.nums.push_back(nums);
    return r;
  }

  Shape structured_literal(const json& v, const std::string& kp) {
    Shape r;
    if (v.is_array()) {
      ArrSpec a;
      for (const json& e : v) a.prefix.push_back(g.add_shape(literals_shape(json::array({e}), kp), kp));
      a.items = kNoNode;
      a.min_items = a.max_items = static_cast<uint32_t>(v.size());
      r.arrs = {g.add_arr(std::move(a))};
    } else {
      ObjClause c;
      c.ptr = kp;
      for (auto it = v.begin(); it != v.end(); ++it) {
        c.props.emplace_back(it.key(), g.add_shape(literals_shape(json::array({*it}), kp), kp));
        c.required.push_back(it.key());
      }
      c.additional = kNever;
      ObjSpecC o;
      o.clauses.push_back(std::move(c));
      r.objs = {g.add_obj(std::move(o))};
    }
    return r;
  }

  void apply_string_keywords(const json& s, const std::string& ptr, Shape& own) {
    StrAlt c{dfa_any_interned(), 0, kUnbounded};
    bool any = false;
    if (auto it = s.find("minLength"); it != s.end()) {
      if (!as_count(*it, c.min_len)) refuse(ptr + "/minLength", "invalid 'minLength'");
      any = true;
    }
    if (auto it = s.find("maxLength"); it != s.end()) {
      if (!as_count(*it, c.max_len)) refuse(ptr + "/maxLength", "invalid 'maxLength'");
      any = true;
    }
    if (auto it = s.find("pattern"); it != s.end()) {
      if (!it->is_string()) refuse(ptr + "/pattern", "invalid 'pattern'");
      try {
        c.dfa = dfa_intersect_interned(c.dfa, dfa_for_pattern(it->get<std::string>(), g.patterns), g.pool);
      } catch (const SchemaUnsupported&) {
        throw;
      } catch (const hearth::Error& e) {
        refuse(ptr + "/pattern", fmt::format("unsupported 'pattern': {}", e.what()));
      }
      any = true;
    }
    if (auto it = s.find("format"); it != s.end()) {
      if (!it->is_string()) refuse(ptr + "/format", "invalid 'format'");
      const std::string& f = it->get_ref<const std::string&>();
      switch (format_kind(f)) {
        case FormatKind::Enforced:
          c.dfa = dfa_intersect_interned(c.dfa, dfa_for_format(f), g.pool);
          c.max_len = std::min(c.max_len, format_max_length(f));
          any = true;
          break;
        case FormatKind::Unsupported: refuse(ptr + "/format", fmt::format("unsupported format '{}'", f));
        case FormatKind::Unknown:
          if (opts_.strict_formats) refuse(ptr + "/format", fmt::format("unknown format '{}'", f));
          break;
      }
    }
    if (!any) return;
    Shape r = Graph::full();
    r.strs = {c};
    if (c.min_len > c.max_len || c.dfa->dfa.start == 0) r.strs.clear();
    own = g.intersect(own, r, ptr);
  }

  void apply_number_keywords(const json& s, const std::string& ptr, Shape& own) {
    NumSpec c;
    bool any = false;
    auto bound = [&](const char* key) -> std::optional<Decimal> {
      auto it = s.find(key);
      if (it == s.end() || it->is_boolean()) return std::nullopt;
      std::optional<Decimal> d = json_decimal(*it);
      if (!d) refuse(ptr + "/" + key, fmt::format("invalid '{}'", key));
      return d;
    };
    auto flag = [&](const char* key) {
      auto it = s.find(key);
      return it != s.end() && it->is_boolean() && it->get<bool>();
    };
    auto tighten_lo = [&](const Decimal& v, bool excl) {
      if (!c.lo || compare(v, *c.lo) > 0 || (compare(v, *c.lo) == 0 && excl)) {
        c.lo = v;
        c.lo_excl = excl;
      }
      any = true;
    };
    auto tighten_hi = [&](const Decimal& v, bool excl) {
      if (!c.hi || compare(v, *c.hi) < 0 || (compare(v, *c.hi) == 0 && excl)) {
        c.hi = v;
        c.hi_excl = excl;
      }
      any = true;
    };
    if (auto v = bound("minimum")) tighten_lo(*v, flag("exclusiveMinimum"));
    if (auto v = bound("maximum")) tighten_hi(*v, flag("exclusiveMaximum"));
    if (auto v = bound("exclusiveMinimum")) tighten_lo(*v, true);
    if (auto v = bound("exclusiveMaximum")) tighten_hi(*v, true);
    if (auto it = s.find("multipleOf"); it != s.end()) {
      std::optional<Decimal> d = json_decimal(*it);
      if (!d || d->neg || d->is_zero()) refuse(ptr + "/multipleOf", "invalid 'multipleOf'");
      if (!d->is_integer() || d->digits.size() + static_cast<size_t>(d->exp) > 17) {
        refuse(ptr + "/multipleOf", "unsupported 'multipleOf' (only integer divisors up to 10^17)");
      }
      uint64_t m = std::stoull(d->digits);
      for (int64_t i = 0; i < d->exp; ++i) m *= 10;
      if (m > 1) c.multiple_of = m;
      else c.integer = true;
      any = true;
    }
    if (!any) return;
    Shape r = Graph::full();
    r.nums = {c};
    own = g.intersect(own, r, ptr);
  }

  NodeId item_node(const json& v, const std::string& kp, const std::string& base, int depth) {
    NodeId n = compile(v, kp, base, depth + 1);
    return n == kNever ? kNoNode : n;
  }

  void apply_array_keywords(const json& s, const std::string& ptr, const std::string& base, int depth,
                            Shape& own) {
    ArrSpec c;
    c.items = kAny;
    bool any = false;
    auto prefix_items = s.find("prefixItems");
    auto items = s.find("items");
    auto additional = s.find("additionalItems");
    auto load_prefix = [&](const json& arr, const std::string& kp) {
      if (!arr.is_array()) refuse(kp, "invalid item list");
      for (size_t i = 0; i < arr.size(); ++i) {
        NodeId n = compile(arr[i], kp + "/" + std::to_string(i), base, depth + 1);
        c.prefix.push_back(n);
      }
    };
    if (prefix_items != s.end()) {
      load_prefix(*prefix_items, ptr + "/prefixItems");
      if (items != s.end()) c.items = item_node(*items, ptr + "/items", base, depth);
      any = true;
    } else if (items != s.end() && items->is_array()) {
      load_prefix(*items, ptr + "/items");
      if (additional != s.end()) c.items = item_node(*additional, ptr + "/additionalItems", base, depth);
      any = true;
    } else if (items != s.end()) {
      c.items = item_node(*items, ptr + "/items", base, depth);
      any = true;
    }
    if (auto it = s.find("minItems"); it != s.end()) {
      if (!as_count(*it, c.min_items)) refuse(ptr + "/minItems", "invalid 'minItems'");
      any = true;
    }
    if (auto it = s.find("maxItems"); it != s.end()) {
      if (!as_count(*it, c.max_items)) refuse(ptr + "/maxItems", "invalid 'maxItems'");
      any = true;
    }
    if (!any) return;
    Shape r = Graph::full();
    r.arrs = {g.add_arr(std::move(c))};
    own = g.intersect(own, r, ptr);
  }

  std::vector<std::string> string_list(const json& v, const std::string& kp) {
    if (!v.is_array()) refuse(kp, "invalid value: must be an array of strings");
    std::vector<std::string> out;
    for (const json& x : v) {
      if (!x.is_string()) refuse(kp, "invalid value: must be an array of strings");
      out.push_back(x.get<std::string>());
    }
    return out;
  }

  // Conjuncts that are not part of the own shape (dependencies with schemas) go to `parts`.
  void apply_object_keywords(const json& s, const std::string& ptr, const std::string& base, int depth,
                             Shape& own, std::vector<NodeId>& parts) {
    ObjClause cl;
    cl.ptr = ptr;
    ObjSpecC spec;
    std::vector<NodeId> dep_schemas;
    bool any = false;
    if (auto it = s.find("properties"); it != s.end()) {
      if (!it->is_object()) refuse(ptr + "/properties", "invalid 'properties'");
      for (auto p = it->begin(); p != it->end(); ++p) {
        std::string kp = ptr + "/properties/" + RefResolver::escape_pointer_token(p.key());
        cl.props.emplace_back(p.key(), compile(*p, kp, base, depth + 1));
      }
      any = true;
    }
    if (auto it = s.find("patternProperties"); it != s.end()) {
      if (!it->is_object()) refuse(ptr + "/patternProperties", "invalid 'patternProperties'");
      for (auto p = it->begin(); p != it->end(); ++p) {
        std::string kp = ptr + "/patternProperties/" + RefResolver::escape_pointer_token(p.key());
        const InternedDfa* d = nullptr;
        try {
          d = dfa_for_pattern(p.key(), g.patterns);
        } catch (const SchemaUnsupported&) {
          throw;
        } catch (const hearth::Error& e) {
          refuse(kp, fmt::format("unsupported 'patternProperties' pattern: {}", e.what()));
        }
        cl.patterns.emplace_back(d, compile(*p, kp, base, depth + 1));
      }
      any = true;
    }
    if (auto it = s.find("additionalProperties"); it != s.end()) {
      cl.additional = compile(*it, ptr + "/additionalProperties", base, depth + 1);
      any = true;
    }
    if (auto it = s.find("required"); it != s.end()) {
      cl.required = string_list(*it, ptr + "/required");
      any = true;
    }
    if (auto it = s.find("propertyNames"); it != s.end()) {
      std::string kp = ptr + "/propertyNames";
      NodeId n = compile(*it, kp, base, depth + 1);
      Shape ns = g.shape(n);
      if (ns.strs.empty()) {
        cl.names_dfa = dfa_intern(dfa_empty(), g.pool);
      } else if (ns.strs.size() == 1) {
        cl.names_dfa = ns.strs[0].dfa;
        cl.names_min = ns.strs[0].min_len;
        cl.names_max = ns.strs[0].max_len;
      } else {
        refuse(kp, "unsupported 'propertyNames' (several string alternatives)");
      }
      any = true;
    }
    for (const char* key : {"dependencies", "dependentRequired"}) {
      auto it = s.find(key);
      if (it == s.end()) continue;
      std::string kp = ptr + "/" + key;
      if (!it->is_object()) refuse(kp, fmt::format("invalid '{}'", key));
      for (auto d = it->begin(); d != it->end(); ++d) {
        std::string dp = kp + "/" + RefResolver::escape_pointer_token(d.key());
        if (d->is_array()) {
          cl.dep_required.emplace_back(d.key(), string_list(*d, dp));
        } else if (std::string(key) == "dependencies" && d->is_boolean()) {
          if (!d->get<bool>()) spec.forbidden.push_back({d.key()});
        } else if (std::string(key) == "dependencies" && d->is_object()) {
          // A schema that only requires more properties is dependentRequired; others are
          // dependentSchemas.
          bool simple = true;
          for (auto e = d->begin(); e != d->end(); ++e) {
            const std::string& ek = e.key();
            simple = simple && (ek == "required" || ek == "description" || ek == "title" || ek == "$comment");
          }
          if (simple) {
            auto r = d->find("required");
            if (r != d->end()) cl.dep_required.emplace_back(d.key(), string_list(*r, dp + "/required"));
          } else {
            dep_schemas.push_back(dependent_schema(d.key(), *d, dp, base, depth));
          }
        } else {
          refuse(dp, fmt::format("invalid '{}'", key));
        }
      }
      any = true;
    }
    if (auto it = s.find("minProperties"); it != s.end()) {
      if (!as_count(*it, spec.min_props)) refuse(ptr + "/minProperties", "invalid 'minProperties'");
      any = true;
    }
    if (auto it = s.find("maxProperties"); it != s.end()) {
      if (!as_count(*it, spec.max_props)) refuse(ptr + "/maxProperties", "invalid 'maxProperties'");
      any = true;
    }
    parts.insert(parts.end(), dep_schemas.begin(), dep_schemas.end());
    if (!any) return;
    bool clause_used = !cl.props.empty() || !cl.patterns.empty() || cl.additional != kAny || !cl.required.empty() ||
                       cl.names_dfa || !cl.dep_required.empty();
    if (clause_used) spec.clauses.push_back(std::move(cl));
    Shape r = Graph::full();
    r.objs = {g.add_obj(std::move(spec))};
    own = g.intersect(own, r, ptr);
  }

  CompileOptions opts_;
  bool legacy_ref_;
  bool has_if_;
  RefResolver refs_;
  std::unordered_map<const json*, NodeId> memo_;
};

}  // namespace hearth::grammar::detail

namespace hearth::grammar {

GrammarData compile_json_schema(const nlohmann::json& schema, const CompileOptions& opts) {
  using namespace detail;
  bool legacy_ref = false, legacy_id = true, has_if = true;
  if (schema.is_object()) {
    auto it = schema.find("$schema");
    if (it != schema.end() && it->is_string()) {
      const std::string& v = it->get_ref<const std::string&>();
      if (v.find("draft-03") != std::string::npos || v.find("draft-02") != std::string::npos ||
          v.find("draft-01") != std::string::npos) {
        refuse("/$schema", "unsupported draft (3 or older)");
      }
      legacy_ref = v.find("draft-04") != std::string::npos || v.find("draft-06") != std::string::npos ||
                   v.find("draft-07") != std::string::npos;
      legacy_id = v.find("draft-04") != std::string::npos;
      has_if = v.find("draft-04") == std::string::npos && v.find("draft-06") == std::string::npos;
    }
  }
  Compiler c(schema, opts, legacy_ref, legacy_id, has_if);
  NodeId root = c.compile(schema, "", "", 0);
  bool satisfiable = false;
  GrammarData d = build_grammar(c.g, root, opts, &satisfiable);
  if (!satisfiable) refuse_unsatisfiable(c.g, root, opts);
  return d;
}

}  // namespace hearth::grammar
