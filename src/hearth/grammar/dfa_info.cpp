#include "hearth/grammar/dfa_info.h"

#include <algorithm>
#include <array>
#include <deque>
#include <map>
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

// Weak entries: an automaton dies with the last pool that keeps it; its entries then expire
// and are swept once a map has grown to twice its live size (amortized O(1) per insertion).
struct Registry {
  std::mutex mu;
  std::unordered_multimap<uint64_t, std::weak_ptr<const InternedDfa>> by_hash;
  // Pattern text -> automaton, through a link object that the pools of the grammars using
  // the pattern keep: the entry expires with the last of them, even when the automaton
  // itself lives on (e.g. ".*" is the process-lifetime universal automaton).
  struct PatternLink {
    std::shared_ptr<const InternedDfa> dfa;
  };
  std::unordered_map<std::string, std::weak_ptr<const PatternLink>> patterns;
  // Memoized set operations: (op, id a, id b) -> result; the operands are kept weakly too so
  // that the entry goes when any of the three dies.
  struct OpEntry {
    std::weak_ptr<const InternedDfa> a, b, result;
    bool expired() const { return a.expired() || b.expired() || result.expired(); }
  };
  std::map<std::array<uint64_t, 3>, OpEntry> ops;
  size_t hash_live = 0, pattern_live = 0, op_live = 0;  // sizes after the last sweep
  uint64_t next_id = 1;

  void sweep_hash() {
    std::erase_if(by_hash, [](const auto& e) { return e.second.expired(); });
    hash_live = by_hash.size();
  }
  void sweep_patterns() {
    std::erase_if(patterns, [](const auto& e) { return e.second.expired(); });
    pattern_live = patterns.size();
  }
  void sweep_ops() {
    std::erase_if(ops, [](const auto& e) { return e.second.expired(); });
    op_live = ops.size();
  }
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: static pools may outlive it otherwise
  return *r;
}

constexpr size_t kSweepSlack = 256;

}  // namespace

std::shared_ptr<const InternedDfa> dfa_intern_shared(Dfa&& d) {
  Registry& r = registry();
  uint64_t h = d.hash();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    auto range = r.by_hash.equal_range(h);
    for (auto it = range.first; it != range.second; ++it) {
      if (auto live = it->second.lock(); live && live->dfa == d) return live;
    }
  }
  // Analyzed outside the lock (it can take milliseconds); a racing equal automaton is
  // resolved below by keeping the first one registered.
  auto entry = std::shared_ptr<InternedDfa>(new InternedDfa());
  entry->info = dfa_analyze(d);
  FingerprintHasher fh(0xDFA);
  fh.add(d.num_states);
  fh.add(d.num_classes);
  fh.add(d.start);
  fh.add(static_cast<uint64_t>(static_cast<uint32_t>(d.num_labels)));
  fh.add(std::string_view(reinterpret_cast<const char*>(d.cls.data()), d.cls.size()));
  for (uint32_t x : d.next) fh.add(x);
  for (int32_t x : d.label) fh.add(static_cast<uint32_t>(x));
  entry->fp = fh.done();
  entry->dfa = std::move(d);
  std::lock_guard<std::mutex> lock(r.mu);
  auto range = r.by_hash.equal_range(h);
  for (auto it = range.first; it != range.second; ++it) {
    if (auto live = it->second.lock(); live && live->dfa == entry->dfa) return live;
  }
  entry->id = r.next_id++;
  if (r.by_hash.size() >= 2 * r.hash_live + kSweepSlack) r.sweep_hash();
  r.by_hash.emplace(h, entry);
  return entry;
}

const InternedDfa* dfa_intern(Dfa&& d, LeafPool& pool) { return pool.keep(dfa_intern_shared(std::move(d))); }

const InternedDfa* dfa_any_interned() {
  static const std::shared_ptr<const InternedDfa>* any =
      new std::shared_ptr<const InternedDfa>(dfa_intern_shared(dfa_any()));
  return any->get();
}

const InternedDfa* dfa_for_pattern(const std::string& pattern, LeafPool& pool) {
  Registry& r = registry();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    auto it = r.patterns.find(pattern);
    if (it != r.patterns.end()) {
      if (auto live = it->second.lock()) return pool.keep(std::move(live))->dfa.get();
    }
  }
  RegexAst ast = parse_regex(pattern);
  auto link = std::make_shared<Registry::PatternLink>();
  link->dfa = dfa_intern_shared(dfa_from_regex(ast, /*search=*/true));
  std::lock_guard<std::mutex> lock(r.mu);
  if (r.patterns.size() >= 2 * r.pattern_live + kSweepSlack) r.sweep_patterns();
  r.patterns[pattern] = link;
  return pool.keep(std::shared_ptr<const Registry::PatternLink>(std::move(link)))->dfa.get();
}

RegistryStats dfa_registry_stats() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.sweep_hash();
  r.sweep_patterns();
  r.sweep_ops();
  RegistryStats s;
  s.dfas = r.by_hash.size();
  s.patterns = r.patterns.size();
  s.dfa_ops = r.ops.size();
  return s;
}

}  // namespace hearth::grammar

namespace hearth::grammar {

namespace {

template <typename F>
const InternedDfa* memoized(uint64_t op, const InternedDfa* a, const InternedDfa* b, LeafPool& pool, F&& make) {
  Registry& r = registry();
  const std::array<uint64_t, 3> key{op, a->id, b ? b->id : 0};
  {
    std::lock_guard<std::mutex> lock(r.mu);
    auto it = r.ops.find(key);
    if (it != r.ops.end()) {
      if (auto live = it->second.result.lock()) return pool.keep(std::move(live));
    }
  }
  std::shared_ptr<const InternedDfa> res = make();
  Registry::OpEntry e;
  e.a = a->shared_from_this();
  e.b = b ? b->shared_from_this() : a->shared_from_this();
  e.result = res;
  std::lock_guard<std::mutex> lock(r.mu);
  if (r.ops.size() >= 2 * r.op_live + kSweepSlack) r.sweep_ops();
  r.ops[key] = std::move(e);
  return pool.keep(std::move(res));
}

}  // namespace

const InternedDfa* dfa_intersect_interned(const InternedDfa* a, const InternedDfa* b, LeafPool& pool) {
  if (a == b) return pool.keep_raw(a);
  if (a == dfa_any_interned()) return pool.keep_raw(b);
  if (b == dfa_any_interned()) return pool.keep_raw(a);
  if (a->id > b->id) std::swap(a, b);
  return memoized(1, a, b, pool, [&] { return dfa_intern_shared(dfa_intersect(a->dfa, b->dfa)); });
}

const InternedDfa* dfa_union_interned(const InternedDfa* a, const InternedDfa* b, LeafPool& pool) {
  if (a == b) return pool.keep_raw(a);
  if (a->id > b->id) std::swap(a, b);
  return memoized(2, a, b, pool, [&] { return dfa_intern_shared(dfa_union(a->dfa, b->dfa)); });
}

const InternedDfa* dfa_complement_interned(const InternedDfa* a, LeafPool& pool) {
  return memoized(3, a, nullptr, pool, [&] { return dfa_intern_shared(dfa_complement(a->dfa)); });
}

const InternedDfa* dfa_for_literals(const std::vector<std::string>& strings, bool labeled, LeafPool& pool) {
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
  return dfa_intern(std::move(d), pool);
}

}  // namespace hearth::grammar
