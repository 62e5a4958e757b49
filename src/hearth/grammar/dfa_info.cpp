#include "hearth/grammar/dfa_info.h"

#include <algorithm>
#include <array>
#include <deque>
#include <mutex>
#include <unordered_map>

namespace hearth::grammar {

DfaInfo dfa_analyze(const Dfa& d) {
  const uint32_t nn = d.num_states * 8u;
  const int lw = (d.num_labels + 63) / 64;
  DfaInfo info;
  info.label_words = lw;
  info.live.assign(nn, 0);
  info.min_cps.assign(nn, DfaInfo::kInf);
  info.max_cps.assign(nn, 0);
  info.reach.assign(static_cast<size_t>(nn) * static_cast<size_t>(lw), 0);
  info.common.assign(nn, 0);
  info.universal.assign(nn, 0);

  // Edges of the product with the UTF-8 decoder, deduplicated.
  struct Edge {
    uint32_t to;
    uint8_t w;
  };
  std::vector<std::vector<Edge>> out(nn);
  std::vector<uint8_t> dead_edge(nn, 0);
  // Bytes that behave alike for both the automaton and the UTF-8 decoder: one representative
  // each (a few dozen instead of 256).
  std::vector<uint8_t> reps;
  {
    std::vector<std::array<uint8_t, 9>> seen;
    for (int b = 0; b < 256; ++b) {
      std::array<uint8_t, 9> sig;
      sig[0] = d.cls[static_cast<size_t>(b)];
      for (uint8_t u = 0; u < 8; ++u) sig[u + 1u] = utf8::step(u, static_cast<uint8_t>(b));
      if (std::find(seen.begin(), seen.end(), sig) == seen.end()) {
        seen.push_back(sig);
        reps.push_back(static_cast<uint8_t>(b));
      }
    }
  }
  for (uint32_t s = 1; s < d.num_states; ++s) {
    for (uint8_t u = 0; u < 8; ++u) {
      uint32_t p = dfa_node(s, u);
      std::vector<Edge>& e = out[p];
      for (uint8_t b : reps) {
        uint8_t u2 = utf8::step(u, b);
        if (u2 == utf8::kReject) continue;
        uint32_t t = d.step(s, b);
        if (t == 0) {
          dead_edge[p] = 1;
          continue;
        }
        e.push_back({dfa_node(t, u2), static_cast<uint8_t>(u == 0 ? 1 : 0)});
      }
      std::sort(e.begin(), e.end(), [](const Edge& a, const Edge& b) {
        return a.to != b.to ? a.to < b.to : a.w > b.w;
      });
      e.erase(std::unique(e.begin(), e.end(), [](const Edge& a, const Edge& b) { return a.to == b.to; }),
              e.end());
    }
  }
  std::vector<std::vector<uint32_t>> in(nn);
  for (uint32_t p = 0; p < nn; ++p) {
    for (const Edge& e : out[p]) in[e.to].push_back(p);
  }
  auto accepting = [&](uint32_t p) { return (p & 7u) == 0 && d.label[p >> 3] >= 0; };

  // Shortest remaining length: 0-1 BFS backwards from the accepting nodes.
  std::deque<uint32_t> dq;
  for (uint32_t p = 0; p < nn; ++p) {
    if ((p >> 3) != 0 && accepting(p)) {
      info.min_cps[p] = 0;
      dq.push_back(p);
    }
  }
  while (!dq.empty()) {
    uint32_t q = dq.front();
    dq.pop_front();
    for (uint32_t p : in[q]) {
      for (const Edge& e : out[p]) {
        if (e.to != q) continue;
        uint32_t cand = info.min_cps[q] + e.w;
        if (cand < info.min_cps[p]) {
          info.min_cps[p] = cand;
          if (e.w == 0) dq.push_front(p);
          else dq.push_back(p);
        }
      }
    }
  }
  for (uint32_t p = 0; p < nn; ++p) info.live[p] = info.min_cps[p] != DfaInfo::kInf;

  // Longest remaining length: peel nodes with no live successor left (reverse topological
  // order); what is never peeled reaches a cycle and is unbounded.
  std::vector<uint32_t> outdeg(nn, 0);
  for (uint32_t p = 0; p < nn; ++p) {
    if (!info.live[p]) continue;
    for (const Edge& e : out[p]) outdeg[p] += info.live[e.to];
  }
  std::vector<uint32_t> queue;
  std::vector<uint8_t> peeled(nn, 0);
  for (uint32_t p = 0; p < nn; ++p) {
    if (info.live[p] && outdeg[p] == 0) queue.push_back(p);
  }
  for (size_t qi = 0; qi < queue.size(); ++qi) {
    uint32_t q = queue[qi];
    peeled[q] = 1;
    uint32_t best = accepting(q) ? 0 : 0;
    for (const Edge& e : out[q]) {
      if (info.live[e.to]) best = std::max(best, info.max_cps[e.to] + e.w);
    }
    info.max_cps[q] = best;
    for (uint32_t p : in[q]) {
      if (info.live[p] && --outdeg[p] == 0) queue.push_back(p);
    }
  }
  for (uint32_t p = 0; p < nn; ++p) {
    if (info.live[p] && !peeled[p]) info.max_cps[p] = DfaInfo::kInf;
  }

  // Reachable labels: backward propagation to a fixed point.
  std::vector<uint32_t> work;
  std::vector<uint8_t> queued(nn, 0);
  for (uint32_t p = 0; p < nn; ++p) {
    if ((p >> 3) != 0 && accepting(p)) {
      int32_t l = d.label[p >> 3];
      info.reach[static_cast<size_t>(p) * lw + static_cast<size_t>(l / 64)] |= 1ull << (l % 64);
      work.push_back(p);
      queued[p] = 1;
    }
  }
  while (!work.empty()) {
    uint32_t q = work.back();
    work.pop_back();
    queued[q] = 0;
    for (uint32_t p : in[q]) {
      bool changed = false;
      for (int w = 0; w < lw; ++w) {
        uint64_t& dst = info.reach[static_cast<size_t>(p) * lw + static_cast<size_t>(w)];
        uint64_t add = info.reach[static_cast<size_t>(q) * lw + static_cast<size_t>(w)] & ~dst;
        if (add) {
          dst |= add;
          changed = true;
        }
      }
      if (changed && !queued[p]) {
        queued[p] = 1;
        work.push_back(p);
      }
    }
  }

  // Labels common to every reachable node, and universality: greatest fixed points.
  for (uint32_t p = 0; p < nn; ++p) {
    if (!info.live[p] || dead_edge[p]) continue;
    info.common[p] = info.reach[static_cast<size_t>(p) * lw];
    info.universal[p] = ((p & 7u) != 0 || accepting(p)) ? 1 : 0;
  }
  bool changed = true;
  while (changed) {
    changed = false;
    for (uint32_t p = 0; p < nn; ++p) {
      uint64_t c = info.common[p];
      uint8_t un = info.universal[p];
      if (!c && !un) continue;
      for (const Edge& e : out[p]) {
        c &= info.common[e.to];
        un = un && info.universal[e.to];
      }
      if (c != info.common[p] || un != info.universal[p]) {
        info.common[p] = c;
        info.universal[p] = un;
        changed = true;
      }
    }
  }
  return info;
}

namespace {

struct Registry {
  std::mutex mu;
  std::unordered_multimap<uint64_t, std::unique_ptr<InternedDfa>> by_hash;
  std::unordered_map<std::string, const InternedDfa*> patterns;
  uint32_t next_id = 1;
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: entries are referenced until exit
  return *r;
}

}  // namespace

const InternedDfa* dfa_intern(Dfa&& d) {
  Registry& r = registry();
  uint64_t h = d.hash();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    auto range = r.by_hash.equal_range(h);
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second->dfa == d) return it->second.get();
    }
  }
  auto entry = std::make_unique<InternedDfa>();
  entry->info = dfa_analyze(d);
  entry->dfa = std::move(d);
  std::lock_guard<std::mutex> lock(r.mu);
  auto range = r.by_hash.equal_range(h);
  for (auto it = range.first; it != range.second; ++it) {
    if (it->second->dfa == entry->dfa) return it->second.get();
  }
  entry->id = r.next_id++;
  const InternedDfa* out = entry.get();
  r.by_hash.emplace(h, std::move(entry));
  return out;
}

const InternedDfa* dfa_any_interned() {
  static const InternedDfa* any = dfa_intern(dfa_any());
  return any;
}

const InternedDfa* dfa_for_pattern(const std::string& pattern) {
  Registry& r = registry();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    auto it = r.patterns.find(pattern);
    if (it != r.patterns.end()) return it->second;
  }
  RegexAst ast = parse_regex(pattern);
  const InternedDfa* d = dfa_intern(dfa_from_regex(ast, /*search=*/true));
  std::lock_guard<std::mutex> lock(r.mu);
  r.patterns.emplace(pattern, d);
  return d;
}

}  // namespace hearth::grammar

namespace hearth::grammar {

namespace {

struct OpMemo {
  std::mutex mu;
  std::unordered_map<uint64_t, const InternedDfa*> map;
};

OpMemo& op_memo() {
  static OpMemo* m = new OpMemo();
  return *m;
}

template <typename F>
const InternedDfa* memoized(uint64_t key, F&& make) {
  OpMemo& m = op_memo();
  {
    std::lock_guard<std::mutex> lock(m.mu);
    auto it = m.map.find(key);
    if (it != m.map.end()) return it->second;
  }
  const InternedDfa* r = make();
  std::lock_guard<std::mutex> lock(m.mu);
  m.map.emplace(key, r);
  return r;
}

}  // namespace

const InternedDfa* dfa_intersect_interned(const InternedDfa* a, const InternedDfa* b) {
  if (a == b) return a;
  if (a == dfa_any_interned()) return b;
  if (b == dfa_any_interned()) return a;
  if (a->id > b->id) std::swap(a, b);
  uint64_t key = (uint64_t{1} << 62) | (uint64_t{a->id} << 31) | b->id;
  return memoized(key, [&] { return dfa_intern(dfa_intersect(a->dfa, b->dfa)); });
}

const InternedDfa* dfa_union_interned(const InternedDfa* a, const InternedDfa* b) {
  if (a == b) return a;
  if (a->id > b->id) std::swap(a, b);
  uint64_t key = (uint64_t{2} << 62) | (uint64_t{a->id} << 31) | b->id;
  return memoized(key, [&] { return dfa_intern(dfa_union(a->dfa, b->dfa)); });
}

const InternedDfa* dfa_complement_interned(const InternedDfa* a) {
  uint64_t key = (uint64_t{3} << 62) | a->id;
  return memoized(key, [&] { return dfa_intern(dfa_complement(a->dfa)); });
}

const InternedDfa* dfa_for_literals(const std::vector<std::string>& strings, bool labeled) {
  Nfa nfa;
  nfa.max_states = 2000000;
  nfa.start = nfa.add_state();
  uint32_t in = nfa.add_state();
  nfa.states[nfa.start].edges.push_back({Nfa::kBos, Nfa::kBos, in});
  for (size_t i = 0; i < strings.size(); ++i) {
    uint32_t cur = in;
    for (char c : strings[i]) {
      uint32_t nx = nfa.add_state();
      uint16_t b = static_cast<uint8_t>(c);
      nfa.states[cur].edges.push_back({b, b, nx});
      cur = nx;
    }
    uint32_t acc = nfa.add_state();
    nfa.states[acc].label = labeled ? static_cast<int32_t>(i) : 0;
    nfa.states[cur].edges.push_back({Nfa::kEos, Nfa::kEos, acc});
  }
  Dfa d = dfa_from_nfa(nfa, 1000000);
  if (labeled) d.num_labels = std::max<int32_t>(1, static_cast<int32_t>(strings.size()));
  return dfa_intern(std::move(d));
}

}  // namespace hearth::grammar
