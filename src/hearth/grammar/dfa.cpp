#include "hearth/grammar/dfa.h"

#include <algorithm>
#include <unordered_map>

#include "hearth/core/error.h"

namespace hearth::grammar {

namespace {

struct VecHash {
  size_t operator()(const std::vector<uint32_t>& v) const {
    uint64_t h = 1469598103934665603ull;
    for (uint32_t x : v) h = (h ^ x) * 1099511628211ull;
    return static_cast<size_t>(h ^ (h >> 29));
  }
};

void closure(const Nfa& nfa, std::vector<uint32_t>& set, std::vector<uint8_t>& mark) {
  std::vector<uint32_t> stack(set.begin(), set.end());
  for (uint32_t s : set) mark[s] = 1;
  while (!stack.empty()) {
    uint32_t s = stack.back();
    stack.pop_back();
    for (uint32_t t : nfa.states[s].eps) {
      if (!mark[t]) {
        mark[t] = 1;
        set.push_back(t);
        stack.push_back(t);
      }
    }
  }
  for (uint32_t s : set) mark[s] = 0;
  std::sort(set.begin(), set.end());
}

std::vector<uint32_t> move(const Nfa& nfa, const std::vector<uint32_t>& set, uint16_t sym,
                           std::vector<uint8_t>& mark) {
  std::vector<uint32_t> out;
  for (uint32_t s : set) {
    for (const Nfa::Edge& e : nfa.states[s].edges) {
      if (sym >= e.lo && sym <= e.hi && !mark[e.to]) {
        mark[e.to] = 1;
        out.push_back(e.to);
      }
    }
  }
  for (uint32_t s : out) mark[s] = 0;
  closure(nfa, out, mark);
  return out;
}

}  // namespace

int32_t Dfa::run(const std::string& s) const {
  uint32_t st = start;
  for (char c : s) {
    st = step(st, static_cast<uint8_t>(c));
    if (st == 0) return -1;
  }
  return label[st];
}

uint64_t Dfa::hash() const {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](uint64_t x) { h = (h ^ x) * 1099511628211ull; };
  mix(num_states);
  mix(num_classes);
  mix(start);
  mix(static_cast<uint64_t>(num_labels));
  for (uint8_t c : cls) mix(c);
  for (uint32_t x : next) mix(x);
  for (int32_t x : label) mix(static_cast<uint32_t>(x));
  return h;
}

bool Dfa::operator==(const Dfa& o) const {
  return num_states == o.num_states && num_classes == o.num_classes && start == o.start &&
         num_labels == o.num_labels && cls == o.cls && next == o.next && label == o.label;
}

Dfa dfa_from_nfa(const Nfa& nfa, uint32_t max_states) {
  // Byte classes: maximal intervals on which no edge starts or ends.
  std::array<uint8_t, 257> boundary{};
  boundary[0] = 1;
  for (const Nfa::State& st : nfa.states) {
    for (const Nfa::Edge& e : st.edges) {
      if (e.lo <= 255) boundary[e.lo] = 1;
      if (e.hi < 255) boundary[e.hi + 1u] = 1;
    }
  }
  Dfa d;
  int c = -1;
  for (int b = 0; b < 256; ++b) {
    if (boundary[static_cast<size_t>(b)]) {
      ++c;
    }
    d.cls[static_cast<size_t>(b)] = static_cast<uint8_t>(c);
  }
  d.num_classes = static_cast<uint32_t>(c + 1);

  std::vector<uint8_t> mark(nfa.states.size(), 0);
  std::unordered_map<std::vector<uint32_t>, uint32_t, VecHash> ids;
  std::vector<std::vector<uint32_t>> sets;
  sets.emplace_back();  // dead
  ids[{}] = 0;
  std::vector<uint32_t> init{nfa.start};
  closure(nfa, init, mark);
  std::vector<uint32_t> start_set = move(nfa, init, Nfa::kBos, mark);
  auto intern = [&](std::vector<uint32_t>&& s) -> uint32_t {
    auto it = ids.find(s);
    if (it != ids.end()) return it->second;
    if (sets.size() >= max_states) fail("pattern too complex (more than {} DFA states)", max_states);
    uint32_t id = static_cast<uint32_t>(sets.size());
    ids.emplace(s, id);
    sets.push_back(std::move(s));
    return id;
  };
  d.start = intern(std::move(start_set));
  d.next.assign(d.num_classes, 0);
  d.label.assign(1, -1);
  int32_t max_label = 0;
  size_t work = 0;
  constexpr size_t kMaxWork = 30000000;
  std::vector<std::vector<uint32_t>> targets(d.num_classes);
  for (size_t i = 1; i < sets.size(); ++i) {
    // Transitions of all classes at once: an edge covers a contiguous run of classes.
    for (auto& t : targets) t.clear();
    for (uint32_t s : sets[i]) {
      for (const Nfa::Edge& e : nfa.states[s].edges) {
        if (e.lo > 255) continue;
        uint16_t hi = std::min<uint16_t>(e.hi, 255);
        for (uint32_t k = d.cls[e.lo]; k <= d.cls[hi]; ++k) targets[k].push_back(e.to);
      }
    }
    std::vector<uint32_t> row(d.num_classes, 0);
    for (uint32_t k = 0; k < d.num_classes; ++k) {
      std::vector<uint32_t>& t = targets[k];
      if (t.empty()) continue;
      std::sort(t.begin(), t.end());
      t.erase(std::unique(t.begin(), t.end()), t.end());
      std::vector<uint32_t> set = t;
      closure(nfa, set, mark);
      // Bound the work, not only the states: large sets of NFA states make each step slow.
      work += set.size();
      if (work > kMaxWork) fail("pattern too complex (determinization over {} steps)", kMaxWork);
      row[k] = intern(std::move(set));
    }
    d.next.insert(d.next.end(), row.begin(), row.end());
    int32_t lab = -1;
    std::vector<uint32_t> end = move(nfa, sets[i], Nfa::kEos, mark);
    for (uint32_t s : end) {
      int32_t l = nfa.states[s].label;
      if (l >= 0 && (lab < 0 || l < lab)) lab = l;
    }
    d.label.push_back(lab);
    max_label = std::max(max_label, lab + 1);
  }
  d.num_states = static_cast<uint32_t>(sets.size());
  d.num_labels = std::max(1, max_label);
  return dfa_minimize(d);
}

Dfa dfa_minimize(const Dfa& in) {
  const uint32_t n = in.num_states, nc = in.num_classes;
  // Reachable from start.
  std::vector<uint8_t> reach(n, 0);
  std::vector<uint32_t> stack{in.start};
  reach[in.start] = 1;
  while (!stack.empty()) {
    uint32_t s = stack.back();
    stack.pop_back();
    for (uint32_t k = 0; k < nc; ++k) {
      uint32_t t = in.next[s * nc + k];
      if (!reach[t]) {
        reach[t] = 1;
        stack.push_back(t);
      }
    }
  }
  // Live: can reach a state with a label.
  std::vector<std::vector<uint32_t>> rev(n);
  for (uint32_t s = 0; s < n; ++s) {
    if (!reach[s]) continue;
    for (uint32_t k = 0; k < nc; ++k) rev[in.next[s * nc + k]].push_back(s);
  }
  std::vector<uint8_t> live(n, 0);
  for (uint32_t s = 0; s < n; ++s) {
    if (reach[s] && in.label[s] >= 0) {
      live[s] = 1;
      stack.push_back(s);
    }
  }
  while (!stack.empty()) {
    uint32_t s = stack.back();
    stack.pop_back();
    for (uint32_t p : rev[s]) {
      if (!live[p]) {
        live[p] = 1;
        stack.push_back(p);
      }
    }
  }
  live[0] = 0;
  // Hopcroft refinement (O(k n log n); Moore's rounds are O(n) deep on counters such as
  // (x){0,199}). Block 0 holds the dead state and everything not live.
  std::vector<uint32_t> block(n, 0);
  uint32_t num_blocks = 0;
  {
    // Compact index: 0 is dead, then the live states.
    std::vector<uint32_t> idx(n, 0), states{0};
    for (uint32_t s = 0; s < n; ++s) {
      if (live[s]) {
        idx[s] = static_cast<uint32_t>(states.size());
        states.push_back(s);
      }
    }
    const uint32_t m = static_cast<uint32_t>(states.size());
    auto target = [&](uint32_t i, uint32_t k) -> uint32_t {
      if (i == 0) return 0;
      uint32_t t = in.next[states[i] * nc + k];
      return live[t] ? idx[t] : 0;
    };
    // Predecessors per class, CSR.
    std::vector<uint32_t> pred_start(static_cast<size_t>(nc) * m + 1, 0), preds(static_cast<size_t>(nc) * m);
    for (uint32_t k = 0; k < nc; ++k) {
      for (uint32_t i = 0; i < m; ++i) ++pred_start[static_cast<size_t>(k) * m + target(i, k) + 1];
    }
    for (size_t x = 1; x < pred_start.size(); ++x) pred_start[x] += pred_start[x - 1];
    {
      std::vector<uint32_t> fill(pred_start.begin(), pred_start.end() - 1);
      for (uint32_t k = 0; k < nc; ++k) {
        for (uint32_t i = 0; i < m; ++i) preds[fill[static_cast<size_t>(k) * m + target(i, k)]++] = i;
      }
    }
    // Refinable partition: elements grouped by block in `elems`.
    std::vector<uint32_t> elems(m), loc(m), sidx(m), first, past, mid;
    {
      std::unordered_map<int32_t, uint32_t> by_label;
      std::vector<uint32_t> count;
      std::vector<uint32_t> initial(m);
      for (uint32_t i = 0; i < m; ++i) {
        int32_t key = i == 0 ? -2 : in.label[states[i]];
        auto it = by_label.find(key);
        if (it == by_label.end()) {
          it = by_label.emplace(key, static_cast<uint32_t>(count.size())).first;
          count.push_back(0);
        }
        initial[i] = it->second;
        ++count[it->second];
      }
      uint32_t off = 0;
      for (uint32_t b = 0; b < count.size(); ++b) {
        first.push_back(off);
        mid.push_back(off);
        off += count[b];
        past.push_back(off);
      }
      std::vector<uint32_t> pos(first.begin(), first.end());
      for (uint32_t i = 0; i < m; ++i) {
        uint32_t b = initial[i];
        elems[pos[b]] = i;
        loc[i] = pos[b]++;
        sidx[i] = b;
      }
    }
    std::vector<uint32_t> work;
    std::vector<uint8_t> in_work;
    for (uint32_t b = 0; b < first.size(); ++b) {
      work.push_back(b);
      in_work.push_back(1);
    }
    std::vector<uint32_t> touched, splitter;
    while (!work.empty()) {
      uint32_t a = work.back();
      work.pop_back();
      in_work[a] = 0;
      splitter.assign(elems.begin() + first[a], elems.begin() + past[a]);
      for (uint32_t k = 0; k < nc; ++k) {
        touched.clear();
        for (uint32_t t : splitter) {
          const size_t base = static_cast<size_t>(k) * m + t;
          for (uint32_t x = pred_start[base]; x < pred_start[base + 1]; ++x) {
            uint32_t p = preds[x];
            uint32_t b = sidx[p];
            uint32_t i = loc[p], j = mid[b];
            if (i < j) continue;  // already marked
            std::swap(elems[i], elems[j]);
            loc[elems[i]] = i;
            loc[elems[j]] = j;
            if (mid[b] == first[b]) touched.push_back(b);
            ++mid[b];
          }
        }
        for (uint32_t b : touched) {
          if (mid[b] == past[b]) {
            mid[b] = first[b];
            continue;
          }
          // The marked part becomes a new block.
          uint32_t nb = static_cast<uint32_t>(first.size());
          first.push_back(first[b]);
          past.push_back(mid[b]);
          mid.push_back(first[b]);
          first[b] = mid[b];
          mid[b] = first[b];
          for (uint32_t x = first[nb]; x < past[nb]; ++x) sidx[elems[x]] = nb;
          in_work.push_back(0);
          if (in_work[b]) {
            work.push_back(nb);
            in_work[nb] = 1;
          } else {
            uint32_t smaller = (past[nb] - first[nb]) < (past[b] - first[b]) ? nb : b;
            work.push_back(smaller);
            in_work[smaller] = 1;
          }
        }
      }
    }
    // Block ids with the dead state's block as 0.
    const uint32_t dead_block = sidx[0];
    num_blocks = static_cast<uint32_t>(first.size());
    auto renum = [&](uint32_t b) { return b == dead_block ? 0 : (b == 0 ? dead_block : b); };
    for (uint32_t i = 1; i < m; ++i) block[states[i]] = renum(sidx[i]);
  }
  // Renumber in BFS order from the start so equal languages give identical tables.
  Dfa out;
  out.num_labels = in.num_labels;
  std::vector<int64_t> new_id(num_blocks, -1);
  new_id[0] = 0;
  std::vector<uint32_t> order{0};
  std::vector<uint32_t> rep_of(num_blocks, 0);
  for (uint32_t s = 0; s < n; ++s) {
    if (live[s] && rep_of[block[s]] == 0) rep_of[block[s]] = s;
  }
  if (!live[in.start]) return dfa_empty();
  std::vector<uint32_t> queue{block[in.start]};
  new_id[block[in.start]] = 1;
  order.push_back(block[in.start]);
  for (size_t qi = 0; qi < queue.size(); ++qi) {
    uint32_t b = queue[qi];
    uint32_t s = rep_of[b];
    for (uint32_t k = 0; k < nc; ++k) {
      uint32_t t = in.next[s * nc + k];
      uint32_t tb = live[t] ? block[t] : 0;
      if (new_id[tb] < 0) {
        new_id[tb] = static_cast<int64_t>(order.size());
        order.push_back(tb);
        queue.push_back(tb);
      }
    }
  }
  const uint32_t m = static_cast<uint32_t>(order.size());
  // Merge byte classes whose columns are identical.
  std::vector<std::vector<uint32_t>> cols(nc, std::vector<uint32_t>(m, 0));
  for (uint32_t i = 1; i < m; ++i) {
    uint32_t s = rep_of[order[i]];
    for (uint32_t k = 0; k < nc; ++k) {
      uint32_t t = in.next[s * nc + k];
      cols[k][i] = static_cast<uint32_t>(new_id[live[t] ? block[t] : 0]);
    }
  }
  std::unordered_map<std::vector<uint32_t>, uint32_t, VecHash> col_ids;
  std::vector<uint32_t> class_map(nc);
  std::vector<uint32_t> kept;
  for (uint32_t k = 0; k < nc; ++k) {
    auto it = col_ids.find(cols[k]);
    if (it == col_ids.end()) {
      it = col_ids.emplace(cols[k], static_cast<uint32_t>(kept.size())).first;
      kept.push_back(k);
    }
    class_map[k] = it->second;
  }
  // Canonical class numbering: by first byte.
  std::vector<int> remap(kept.size(), -1);
  int next_cls = 0;
  for (int b = 0; b < 256; ++b) {
    uint32_t k = class_map[in.cls[static_cast<size_t>(b)]];
    if (remap[k] < 0) remap[k] = next_cls++;
    out.cls[static_cast<size_t>(b)] = static_cast<uint8_t>(remap[k]);
  }
  out.num_classes = static_cast<uint32_t>(next_cls);
  out.num_states = m;
  out.next.assign(static_cast<size_t>(m) * out.num_classes, 0);
  out.label.assign(m, -1);
  for (uint32_t i = 1; i < m; ++i) {
    out.label[i] = in.label[rep_of[order[i]]];
    for (uint32_t k = 0; k < kept.size(); ++k) {
      out.next[i * out.num_classes + static_cast<uint32_t>(remap[k])] = cols[kept[k]][i];
    }
  }
  out.start = 1;
  return out;
}

Dfa dfa_product(const std::vector<const Dfa*>& parts,
                const std::function<int32_t(const std::vector<int32_t>&)>& label_fn,
                int32_t num_labels, uint32_t max_states) {
  const size_t np = parts.size();
  Dfa d;
  d.num_labels = num_labels;
  // Joint byte classes.
  std::unordered_map<std::vector<uint32_t>, uint32_t, VecHash> cls_ids;
  std::vector<std::vector<uint32_t>> cls_tuple;
  for (int b = 0; b < 256; ++b) {
    std::vector<uint32_t> t(np);
    for (size_t i = 0; i < np; ++i) t[i] = parts[i]->cls[static_cast<size_t>(b)];
    auto it = cls_ids.find(t);
    if (it == cls_ids.end()) {
      it = cls_ids.emplace(t, static_cast<uint32_t>(cls_tuple.size())).first;
      cls_tuple.push_back(t);
    }
    d.cls[static_cast<size_t>(b)] = static_cast<uint8_t>(it->second);
  }
  d.num_classes = static_cast<uint32_t>(cls_tuple.size());
  std::unordered_map<std::vector<uint32_t>, uint32_t, VecHash> ids;
  std::vector<std::vector<uint32_t>> states;
  std::vector<uint32_t> dead(np, 0);
  ids[dead] = 0;
  states.push_back(dead);
  auto intern = [&](const std::vector<uint32_t>& t) -> uint32_t {
    bool all_dead = true;
    for (uint32_t x : t) all_dead = all_dead && x == 0;
    if (all_dead) return 0;
    auto it = ids.find(t);
    if (it != ids.end()) return it->second;
    if (states.size() >= max_states) fail("automaton too large (more than {} states)", max_states);
    uint32_t id = static_cast<uint32_t>(states.size());
    ids.emplace(t, id);
    states.push_back(t);
    return id;
  };
  std::vector<uint32_t> st(np);
  for (size_t i = 0; i < np; ++i) st[i] = parts[i]->start;
  d.start = intern(st);
  d.next.assign(d.num_classes, 0);
  d.label.assign(1, -1);
  std::vector<int32_t> labels(np);
  for (size_t s = 1; s < states.size(); ++s) {
    std::vector<uint32_t> row(d.num_classes);
    for (uint32_t k = 0; k < d.num_classes; ++k) {
      std::vector<uint32_t> t(np);
      for (size_t i = 0; i < np; ++i) {
        const Dfa& p = *parts[i];
        t[i] = p.next[states[s][i] * p.num_classes + cls_tuple[k][i]];
      }
      row[k] = intern(t);
    }
    d.next.insert(d.next.end(), row.begin(), row.end());
    for (size_t i = 0; i < np; ++i) labels[i] = parts[i]->label[states[s][i]];
    d.label.push_back(label_fn(labels));
  }
  d.num_states = static_cast<uint32_t>(states.size());
  return dfa_minimize(d);
}

Dfa dfa_intersect(const Dfa& a, const Dfa& b) {
  return dfa_product(
      {&a, &b}, [](const std::vector<int32_t>& l) { return (l[0] >= 0 && l[1] >= 0) ? l[0] : -1; },
      a.num_labels);
}

Dfa dfa_union(const Dfa& a, const Dfa& b) {
  return dfa_product(
      {&a, &b}, [](const std::vector<int32_t>& l) { return (l[0] >= 0 || l[1] >= 0) ? 0 : -1; }, 1);
}

Dfa dfa_any() {
  Dfa d;
  d.num_states = 2;
  d.num_classes = 1;
  d.cls.fill(0);
  d.next = {0, 1};
  d.label = {-1, 0};
  d.start = 1;
  return d;
}

Dfa dfa_empty() { return Dfa{}; }

bool dfa_is_empty(const Dfa& d) { return d.start == 0; }

Dfa dfa_complement(const Dfa& d) {
  // Complete the automaton with an explicit sink (state 0 is dead by convention, so the old
  // dead state becomes a fresh accepting sink), then flip acceptance.
  Dfa c;
  c.num_classes = d.num_classes;
  c.cls = d.cls;
  c.num_states = d.num_states + 1;
  c.next.assign(static_cast<size_t>(c.num_states) * c.num_classes, 0);
  c.label.assign(c.num_states, -1);
  const uint32_t sink = d.num_states;
  auto map = [&](uint32_t s) { return s == 0 ? sink : s; };
  for (uint32_t s = 0; s < d.num_states; ++s) {
    uint32_t ns = map(s);
    for (uint32_t k = 0; k < d.num_classes; ++k) {
      c.next[ns * c.num_classes + k] = map(d.next[s * d.num_classes + k]);
    }
    c.label[ns] = (s == 0 || d.label[s] < 0) ? 0 : -1;
  }
  c.start = map(d.start);
  c.num_labels = 1;
  return dfa_minimize(c);
}

Dfa dfa_from_regex(const RegexAst& ast, bool search) {
  Nfa nfa = nfa_build({{&ast, 0}}, search);
  return dfa_from_nfa(nfa);
}

}  // namespace hearth::grammar
