#include "hearth/grammar/grammar_build.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <unordered_map>

namespace hearth::grammar {

uint64_t next_grammar_uid() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1);
}

}  // namespace hearth::grammar

namespace hearth::grammar::detail {

namespace {

bool str_alt_nonempty(const StrAlt& s) {
  if (s.min_len > s.max_len || s.dfa->dfa.start == 0) return false;
  uint32_t node = dfa_node(s.dfa->dfa.start, 0);
  const DfaInfo& info = s.dfa->info;
  if (!info.live[node] || info.min_cps[node] > s.max_len) return false;
  return info.max_cps[node] == DfaInfo::kInf || info.max_cps[node] >= s.min_len;
}

void set_bit(std::vector<uint64_t>& bits, uint32_t i) { bits[i / 64] |= uint64_t{1} << (i % 64); }
bool get_bit(const std::vector<uint64_t>& bits, uint32_t i) { return (bits[i / 64] >> (i % 64)) & 1; }

class Builder {
 public:
  Builder(Graph& g, const CompileOptions& opts) : g_(g) {
    out_.flexible_ws = opts.flexible_whitespace;
    out_.max_ws = opts.flexible_whitespace ? opts.max_whitespace : 0;
    out_.max_depth = opts.max_depth;
  }

  GrammarData run(NodeId root, bool* root_nonempty) {
    out_.root = rt(root);
    for (size_t i = 0; i < work_.size(); ++i) convert(work_[i], static_cast<NodeId>(i));
    prune();
    if (root_nonempty) *root_nonempty = ne_[out_.root] != 0;
    for (Node& n : out_.nodes) {
      if (n.arrs.empty() && n.objs.empty()) {
        FingerprintHasher fh(0x1EAF);
        fh.add(uint64_t{n.null_ok});
        fh.add(uint64_t{n.bools});
        fh.add(n.nums ? n.nums->fp : Fingerprint{});
        fh.add(n.strs ? n.strs->fp : Fingerprint{});
        n.is_leaf = true;
        n.leaf_key = fh.done();
      }
    }
    out_.uid = next_grammar_uid();
    out_.root_kind = RootKind::Json;
    // The grammar keeps what its runtime form points to; the compilation's intermediates go
    // with the compile graph.
    auto keep = std::make_shared<LeafPool>();
    for (const Node& n : out_.nodes) {
      keep->keep_raw(n.nums);
      keep->keep_raw(n.strs);
    }
    for (const ObjSpec& o : out_.objs) {
      keep->keep_raw(o.key_dfa);
      keep->keep_raw(o.key_strs);
    }
    keep->absorb(std::move(g_.patterns));
    out_.leaves = std::move(keep);
    return std::move(out_);
  }

 private:
  NodeId rt(NodeId compile_id) {
    if (compile_id == kNoNode) return kNoNode;
    auto it = node_map_.find(compile_id);
    if (it != node_map_.end()) return it->second;
    NodeId id = static_cast<NodeId>(work_.size());
    node_map_.emplace(compile_id, id);
    work_.push_back(compile_id);
    out_.nodes.emplace_back();
    if (work_.size() > 200000) throw SchemaUnsupported("schema too complex (more than 200000 value nodes)");
    return id;
  }

  void convert(NodeId compile_id, NodeId rid) {
    Shape s = g_.shape(compile_id);
    Node n;
    n.null_ok = s.null_ok;
    n.bools = s.bools;
    if (!s.nums.empty()) n.nums = intern_num_set(s.nums, g_.pool);
    if (!s.strs.empty()) n.strs = intern_str_set(s.strs, g_.pool);
    for (uint32_t a : s.arrs) n.arrs.push_back(arr(a));
    for (uint32_t o : s.objs) n.objs.push_back(obj(o));
    out_.nodes[rid] = std::move(n);
  }

  uint32_t arr(uint32_t compile_idx) {
    auto it = arr_map_.find(compile_idx);
    if (it != arr_map_.end()) return it->second;
    ArrSpec a = g_.arrs[compile_idx];
    for (NodeId& p : a.prefix) p = rt(p);
    a.items = rt(a.items);
    if (a.min_items > a.max_items) a.max_items = 0;  // pruned as empty below
    uint32_t id = static_cast<uint32_t>(out_.arrs.size());
    out_.arrs.push_back(std::move(a));
    arr_map_.emplace(compile_idx, id);
    return id;
  }

  uint32_t obj(uint32_t compile_idx) {
    auto it = obj_map_.find(compile_idx);
    if (it != obj_map_.end()) return it->second;
    const ObjSpecC spec = g_.objs[compile_idx];
    ObjSpec o;
    o.min_props = spec.min_props;
    o.max_props = spec.max_props;
    // Names the object tracks: properties, required, dependencies, forbidden sets.
    std::vector<std::string> names;
    std::unordered_map<std::string, uint32_t> name_idx;
    auto add_name = [&](const std::string& k) {
      if (name_idx.emplace(k, static_cast<uint32_t>(names.size())).second) names.push_back(k);
    };
    for (const ObjClause& c : spec.clauses) {
      for (const auto& p : c.props) add_name(p.first);
      for (const auto& r : c.required) add_name(r);
      for (const auto& d : c.dep_required) {
        add_name(d.first);
        for (const auto& r : d.second) add_name(r);
      }
    }
    for (const auto& f : spec.forbidden) {
      for (const auto& k : f) add_name(k);
    }
    if (names.size() > 4096) throw SchemaUnsupported("schema too complex (object with over 4096 named properties)");
    // Key automaton: names, patterns, propertyNames, everything else.
    std::vector<const Dfa*> comps;
    const InternedDfa* names_dfa = names.empty() ? dfa_intern(dfa_empty(), g_.pool) : dfa_for_literals(names, true, g_.pool);
    comps.push_back(&names_dfa->dfa);
    comps.push_back(&dfa_any_interned()->dfa);
    struct Pat {
      const InternedDfa* dfa;
      NodeId node;
      size_t clause;
    };
    std::vector<Pat> pats;
    uint32_t kmin = 0, kmax = kUnbounded;
    std::vector<const InternedDfa*> name_constraints;
    for (size_t ci = 0; ci < spec.clauses.size(); ++ci) {
      const ObjClause& c = spec.clauses[ci];
      for (const auto& p : c.patterns) pats.push_back({p.first, p.second, ci});
      if (c.names_dfa) name_constraints.push_back(c.names_dfa);
      kmin = std::max(kmin, c.names_min);
      kmax = std::min(kmax, c.names_max);
    }
    for (const Pat& p : pats) comps.push_back(&p.dfa->dfa);
    for (const InternedDfa* d : name_constraints) comps.push_back(&d->dfa);
    const size_t first_constraint = 2 + pats.size();
    const int32_t num_names = static_cast<int32_t>(names.size());
    std::map<std::string, int32_t> class_ids;  // subset of matched patterns, one char each
    std::vector<NodeId> class_nodes;
    auto label_fn = [&](const std::vector<int32_t>& l) -> int32_t {
      for (size_t i = first_constraint; i < l.size(); ++i) {
        if (l[i] < 0) return -1;
      }
      if (l[0] >= 0) return l[0];
      if (l[1] < 0) return -1;
      std::string subset(pats.size(), '0');
      for (size_t i = 0; i < pats.size(); ++i) subset[i] = l[2 + i] >= 0 ? '1' : '0';
      auto it = class_ids.find(subset);
      if (it != class_ids.end()) return it->second < 0 ? -1 : num_names + it->second;
      NodeId node = kAny;
      for (size_t ci = 0; ci < spec.clauses.size(); ++ci) {
        NodeId cn = kAny;
        bool matched = false;
        for (size_t i = 0; i < pats.size(); ++i) {
          if (pats[i].clause == ci && subset[i] == '1') {
            cn = g_.intersect_nodes(cn, pats[i].node);
            matched = true;
          }
        }
        if (!matched) cn = spec.clauses[ci].additional;
        node = g_.intersect_nodes(node, cn);
      }
      if (node == kNever) {
        class_ids.emplace(subset, -1);
        return -1;
      }
      int32_t id = static_cast<int32_t>(class_nodes.size());
      class_nodes.push_back(node);
      class_ids.emplace(subset, id);
      return num_names + id;
    };
    Dfa key = dfa_product(comps, label_fn, num_names + 64);
    const uint32_t num_classes = static_cast<uint32_t>(class_nodes.size());
    for (int32_t& l : key.label) {
      if (l < 0) continue;
      l = l < num_names ? static_cast<int32_t>(num_classes) + l : l - num_names;
    }
    key.num_labels = std::max<int32_t>(1, static_cast<int32_t>(num_classes) + num_names);
    o.key_dfa = dfa_intern(std::move(key), g_.pool);
    o.key_strs = intern_str_set({StrAlt{o.key_dfa, kmin, kmax}}, g_.pool);
    o.num_classes = num_classes;
    o.names = names;
    o.num_labels = num_classes + static_cast<uint32_t>(num_names);
    o.label_words = (o.num_labels + 63) / 64;
    if (o.label_words == 0) o.label_words = 1;
    o.required.assign(o.label_words, 0);
    o.label_node.assign(o.num_labels, kNoNode);
    for (uint32_t c = 0; c < num_classes; ++c) o.label_node[c] = rt(class_nodes[c]);
    for (uint32_t i = 0; i < names.size(); ++i) {
      NodeId n = g_.key_node(spec, names[i]);
      o.label_node[o.name_label(i)] = n == kNever ? kNoNode : rt(n);
    }
    for (const ObjClause& c : spec.clauses) {
      for (const auto& r : c.required) set_bit(o.required, o.name_label(name_idx[r]));
      for (const auto& d : c.dep_required) {
        std::vector<uint32_t> labels;
        for (const auto& r : d.second) labels.push_back(o.name_label(name_idx[r]));
        o.deps.emplace_back(o.name_label(name_idx[d.first]), std::move(labels));
      }
    }
    for (const auto& f : spec.forbidden) {
      std::vector<uint32_t> labels;
      for (const auto& k : f) labels.push_back(o.name_label(name_idx[k]));
      std::sort(labels.begin(), labels.end());
      labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
      o.forbidden.push_back(std::move(labels));
    }
    uint32_t id = static_cast<uint32_t>(out_.objs.size());
    out_.objs.push_back(std::move(o));
    obj_map_.emplace(compile_idx, id);
    return id;
  }

  bool arr_ok(const ArrSpec& a, const std::vector<uint8_t>& ne) const {
    if (a.min_items > a.max_items) return false;
    for (uint32_t i = 0; i < a.min_items; ++i) {
      NodeId n = a.item(i);
      if (n == kNoNode || !ne[n]) return false;
      if (i >= a.prefix.size()) break;  // the rest are `items`, already checked
    }
    return true;
  }

  bool obj_ok(const ObjSpec& o, const std::vector<uint8_t>& ne) const {
    if (o.min_props > o.max_props) return false;
    uint32_t required = 0;
    for (uint32_t l = 0; l < o.num_labels; ++l) {
      if (!get_bit(o.required, l)) continue;
      ++required;
      if (o.label_node[l] == kNoNode || !ne[o.label_node[l]]) return false;
    }
    if (required > o.max_props) return false;
    for (const auto& f : o.forbidden) {
      bool all = !f.empty();
      for (uint32_t l : f) all = all && get_bit(o.required, l);
      if (all) return false;
    }
    if (o.min_props > required) {
      uint64_t possible = 0;
      for (uint32_t l = 0; l < o.num_labels; ++l) {
        if (o.label_node[l] == kNoNode || !ne[o.label_node[l]]) continue;
        possible += l < o.num_classes ? 0x100000000ull : 1;  // a class stands for many keys
      }
      if (possible < o.min_props) return false;
    }
    return true;
  }

  void prune() {
    const size_t n = out_.nodes.size();
    std::vector<uint8_t>& ne = ne_;
    ne.assign(n, 0);
    bool changed = true;
    while (changed) {
      changed = false;
      for (size_t i = 0; i < n; ++i) {
        if (ne[i]) continue;
        const Node& node = out_.nodes[i];
        bool ok = node.null_ok || node.bools;
        if (!ok && node.nums) {
          for (const NumSpec& s : node.nums->alts) ok = ok || num_nonempty(s);
        }
        if (!ok && node.strs) {
          for (const StrAlt& s : node.strs->alts) ok = ok || str_alt_nonempty(s);
        }
        for (uint32_t a : node.arrs) ok = ok || arr_ok(out_.arrs[a], ne);
        for (uint32_t o : node.objs) ok = ok || obj_ok(out_.objs[o], ne);
        if (ok) {
          ne[i] = 1;
          changed = true;
        }
      }
    }
    for (ArrSpec& a : out_.arrs) {
      uint32_t limit = a.max_items;
      for (uint32_t i = 0; i < a.prefix.size() && i < limit; ++i) {
        if (a.prefix[i] == kNoNode || !ne[a.prefix[i]]) {
          limit = i;
          break;
        }
      }
      if (limit > a.prefix.size() && (a.items == kNoNode || !ne[a.items])) {
        limit = static_cast<uint32_t>(a.prefix.size());
      }
      a.max_items = limit;
      if (a.items != kNoNode && !ne[a.items]) a.items = kNoNode;
    }
    for (ObjSpec& o : out_.objs) {
      for (NodeId& l : o.label_node) {
        if (l != kNoNode && !ne[l]) l = kNoNode;
      }
    }
    std::vector<uint8_t> arr_good(out_.arrs.size()), obj_good(out_.objs.size());
    for (size_t a = 0; a < out_.arrs.size(); ++a) arr_good[a] = arr_ok(out_.arrs[a], ne);
    for (size_t o = 0; o < out_.objs.size(); ++o) obj_good[o] = obj_ok(out_.objs[o], ne);
    for (Node& node : out_.nodes) {
      if (node.nums) {
        std::vector<NumSpec> keep;
        for (const NumSpec& s : node.nums->alts) {
          if (num_nonempty(s)) keep.push_back(s);
        }
        node.nums = keep.empty() ? nullptr : intern_num_set(keep, g_.pool);
      }
      if (node.strs) {
        std::vector<StrAlt> keep;
        for (const StrAlt& s : node.strs->alts) {
          if (str_alt_nonempty(s)) keep.push_back(s);
        }
        node.strs = keep.empty() ? nullptr : intern_str_set(keep, g_.pool);
      }
      std::erase_if(node.arrs, [&](uint32_t a) { return !arr_good[a]; });
      std::erase_if(node.objs, [&](uint32_t o) { return !obj_good[o]; });
    }
  }

  Graph& g_;
  GrammarData out_;
  std::vector<uint8_t> ne_;  // per runtime node: accepts some value
  std::vector<NodeId> work_;
  std::unordered_map<NodeId, NodeId> node_map_;
  std::unordered_map<uint32_t, uint32_t> arr_map_, obj_map_;
};

}  // namespace

GrammarData build_grammar(Graph& g, NodeId root, const CompileOptions& opts, bool* root_nonempty) {
  return Builder(g, opts).run(root, root_nonempty);
}

}  // namespace hearth::grammar::detail
