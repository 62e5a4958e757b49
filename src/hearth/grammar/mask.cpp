#include "hearth/grammar/mask.h"

#include <algorithm>
#include <atomic>
#include <map>

namespace hearth::grammar {

namespace {

constexpr size_t kMaxDepth = 256;  // bytes of the longest token walked (the trie is bounded)

uint32_t clamp_dist(uint64_t a, uint64_t b) {
  // max(a - b, 0) clamped: a token adds at most ~130 units of anything, so farther is equal.
  if (a == kUnbounded) return 0xFFFF;
  if (a <= b) return 0;
  return static_cast<uint32_t>(std::min<uint64_t>(a - b, 140));
}

template <typename T>
void put(std::string& k, const T& v) {
  k.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

}  // namespace

struct MaskComputer::Level {
  const Frame* cfg[kMaxConfigs];
  uint32_t n = 0;
  Arena::Mark mark;
  uint32_t node = 0;
};

struct MaskComputer::Sink {
  uint32_t* words = nullptr;          // runtime: accepted tokens go here
  std::vector<int32_t>* ids = nullptr;  // detached: accepted tokens go here (unless skip_inside)
  bool skip_inside = false;
  struct ExitRec {
    const TokenTrie* trie;
    uint32_t node;
    uint32_t sig;
    bool self;
  };
  std::vector<ExitRec>* exits = nullptr;
  const TokenTrie* trie = nullptr;

  void accept(const TokenTrie& t, uint32_t node) {
    uint32_t b = t.tok_begin[node], e = t.tok_begin[node + 1];
    if (words) {
      for (uint32_t i = b; i < e; ++i) {
        int32_t id = t.tok_ids[i];
        words[id >> 5] |= 1u << (id & 31);
      }
    } else if (ids && !skip_inside) {
      for (uint32_t i = b; i < e; ++i) ids->push_back(t.tok_ids[i]);
    }
  }
};

MaskComputer::MaskComputer(const Vocabulary& vocab, const GrammarData& g, Arena& arena, Stepper& stepper)
    : vocab_(vocab), g_(g), arena_(arena), stepper_(stepper), levels_(new Level[kMaxDepth + 2]) {}

MaskComputer::~MaskComputer() = default;

void MaskComputer::walk(const TokenTrie& t, uint32_t root, const Frame* const* init, uint32_t n_init,
                        bool include_root, Sink& sink, const uint16_t* max_cps, uint32_t skip_le) {
  if (n_init == 0) return;
  if (include_root) sink.accept(t, root);
  Level* lv = levels_.get();
  lv[0].n = n_init;
  std::copy(init, init + n_init, lv[0].cfg);
  lv[0].node = root;
  const uint32_t base = t.depth[root];
  uint32_t live = 1;  // levels [0, live) hold states
  StepOut out;
  uint32_t i = root + 1;
  const uint32_t end = t.skip[root];
  while (i < end) {
    uint32_t d = t.depth[i] - base;
    if (d > kMaxDepth || (max_cps != nullptr && max_cps[i] <= skip_le)) {
      i = t.skip[i];
      continue;
    }
    if (live > d) {
      arena_.reset(lv[d].mark);
      live = d;
    }
    Level& parent = lv[d - 1];
    Level& cur = lv[d];
    cur.mark = arena_.mark();
    out.clear();
    const uint8_t b = t.byte[i];
    for (uint32_t k = 0; k < parent.n; ++k) stepper_.step(parent.cfg[k], b, out);
    if (out.nex && sink.exits) {
      for (uint32_t k = 0; k < out.nex; ++k) {
        const StepOut::Exit& x = out.ex[k];
        Sink::ExitRec rec{&t, x.consumed ? i : parent.node, x.sig, x.consumed};
        const Sink::ExitRec* last = sink.exits->empty() ? nullptr : &sink.exits->back();
        if (!last || last->node != rec.node || last->sig != rec.sig || last->self != rec.self) {
          sink.exits->push_back(rec);
        }
      }
    }
    if (out.n == 0) {
      arena_.reset(cur.mark);
      i = t.skip[i];
      continue;
    }
    // Merge identical alternatives (anyOf branches that met again).
    uint32_t n = 0;
    for (uint32_t k = 0; k < out.n; ++k) {
      bool dup = false;
      for (uint32_t j = 0; j < n && !dup; ++j) dup = Stepper::same_stack(cur.cfg[j], out.cfg[k], g_);
      if (!dup) cur.cfg[n++] = out.cfg[k];
    }
    cur.n = n;
    cur.node = i;
    live = d + 1;
    sink.accept(t, i);
    ++i;
  }
  if (live > 1) arena_.reset(lv[1].mark);
}

std::string MaskComputer::key_of(const Frame* f) const {
  std::string k;
  k.reserve(96);
  put(k, f->kind);
  put(k, f->phase);
  put(k, f->ws);
  put(k, static_cast<uint8_t>(g_.max_ws));
  switch (f->kind) {
    case FrameKind::Root: break;
    case FrameKind::Value: {
      const Node& n = g_.nodes[f->spec];
      if (n.is_leaf) {
        put(k, n.leaf_key);
      } else {
        put(k, g_.uid);
        put(k, f->spec);
        put(k, clamp_dist(g_.max_depth, f->depth));
      }
      break;
    }
    case FrameKind::Lit:
      put(k, f->spec);
      put(k, f->u8);
      break;
    case FrameKind::Num: {
      const NumSet* ns = static_cast<const NumSet*>(f->leaf);
      put(k, ns->fp);
      put(k, f->aux);
      if (f->ext) k.append(static_cast<const char*>(f->ext), f->count);
      break;
    }
    case FrameKind::Str:
    case FrameKind::Key: {
      const StrSet* ss = static_cast<const StrSet*>(f->leaf);
      put(k, ss->fp);
      put(k, f->u8);
      put(k, f->aux);
      for (size_t i = 0; i < ss->alts.size(); ++i) {
        put(k, f->st[i]);
        const StrAlt& a = ss->alts[i];
        if (a.min_len) put(k, clamp_dist(a.min_len, f->count));
        if (a.max_len != kUnbounded) put(k, clamp_dist(a.max_len, f->count));
      }
      if (f->kind == FrameKind::Key) {
        k.append(static_cast<const char*>(f->ext), g_.objs[f->spec].label_words * 8);
      }
      break;
    }
    case FrameKind::Obj: {
      const ObjSpec& o = g_.objs[f->spec];
      put(k, g_.uid);
      put(k, f->spec);
      if (f->phase == kObjKey) put(k, f->aux);
      if (f->ext) k.append(static_cast<const char*>(f->ext), o.label_words * 8);
      else k.append(reinterpret_cast<const char*>(f->st), sizeof(f->st));
      put(k, clamp_dist(o.min_props, f->count));
      put(k, clamp_dist(o.max_props, f->count));
      put(k, clamp_dist(g_.max_depth, f->depth));
      break;
    }
    case FrameKind::Arr: {
      const ArrSpec& a = g_.arrs[f->spec];
      put(k, g_.uid);
      put(k, f->spec);
      put(k, std::min<uint32_t>(f->count, static_cast<uint32_t>(a.prefix.size())));
      put(k, clamp_dist(a.min_items, f->count));
      put(k, clamp_dist(a.max_items, f->count));
      put(k, clamp_dist(g_.max_depth, f->depth));
      break;
    }
    case FrameKind::Raw: {
      const InternedDfa* d = static_cast<const InternedDfa*>(f->leaf);
      put(k, d->fp);
      put(k, f->st[0]);
      put(k, f->u8);
      break;
    }
    case FrameKind::Exit: break;
  }
  return k;
}

bool MaskComputer::is_free(const Frame* f, uint32_t& rem) const {
  if (f->kind != FrameKind::Str && f->kind != FrameKind::Key) return false;
  const StrSet* ss = static_cast<const StrSet*>(f->leaf);
  uint64_t mask = f->kind == FrameKind::Key ? static_cast<const uint64_t*>(f->ext)[0] : 1;
  rem = 0;
  bool any = false;
  for (size_t i = 0; i < ss->alts.size(); ++i) {
    if (!f->st[i]) continue;
    const StrAlt& a = ss->alts[i];
    // Mid-escape, the code point is checked against the automaton; treat as free only when
    // the automaton takes anything.
    uint8_t u8 = f->phase == kStrNormal ? f->u8 : 0;
    uint32_t node = dfa_node(f->st[i], u8);
    const DfaInfo& info = a.dfa->info;
    if (!(info.common[node] & mask)) return false;
    if (a.max_len != kUnbounded && !info.universal[node]) return false;
    rem = std::max(rem, clamp_dist(a.max_len, f->count));
    any = true;
  }
  return any;
}

namespace {
std::atomic<bool> g_bounded_free_sets{true};
}  // namespace

void set_bounded_free_sets(bool on) { g_bounded_free_sets = on; }

std::shared_ptr<const TokenSet> MaskComputer::free_set(const Frame* f, uint32_t rem) {
  std::string key = "FREE";
  put(key, f->phase);
  put(key, f->u8);
  put(key, f->aux);
  put(key, rem);
  if (auto e = vocab_.cache_get(key)) return e->inside;
  ++misses_;
  LeafPool pool;  // the set only lives for this walk (the cache key does not name it)
  const StrSet* any = intern_str_set({StrAlt{dfa_any_interned(), 0, rem == 0xFFFF ? kUnbounded : rem}}, pool);
  Frame* s = arena_.make();
  s->kind = FrameKind::Str;
  s->parent = Stepper::sentinel();
  s->phase = f->phase;
  s->u8 = f->u8;
  s->aux = f->aux;
  s->leaf = any;
  s->st[0] = dfa_any_interned()->dfa.start;
  std::vector<int32_t> ids;
  std::vector<Sink::ExitRec> exits;
  Sink sink;
  sink.ids = &ids;
  sink.exits = &exits;
  const Frame* init[1] = {s};
  auto set = std::make_shared<TokenSet>();
  // A length bound only matters to tokens that add about as many code points: a token adds
  // at most one per byte that is not a UTF-8 continuation byte (a code point is counted at its
  // first byte, an escape at its last), and the bound is checked as count + (at most one still
  // pending: an escape, a surrogate's other half, a code point's tail) <= bound. So a token
  // adding at most rem - kSlack code points is accepted under the bound exactly when it is
  // without one: those come from the unbounded set (one walk per phase), and the walk skips
  // the subtrees holding only such tokens, instead of walking the whole vocabulary per rem.
  // tests/unit/grammar/test_bounded_free_sets.cpp checks the sets equal the full walk's.
  constexpr uint32_t kSlack = 2;
  const TokenTrie& trie = vocab_.trie();
  if (g_bounded_free_sets && rem != 0xFFFF && rem > kSlack) {
    const uint32_t skip_le = rem - kSlack;
    const std::vector<uint16_t>& max_cps = vocab_.trie_max_cps();
    set->bits = free_set(f, 0xFFFF)->bits;
    // Clear the long tokens (the walk sets those the bound allows): the nodes the walk visits,
    // with the code points of their paths (a visited node's parent was visited: its subtree
    // holds the node's long token).
    std::vector<uint32_t> cps(1, 0);
    for (uint32_t i = 1; i < trie.size();) {
      if (max_cps[i] <= skip_le) {
        i = trie.skip[i];
        continue;
      }
      const uint32_t d = trie.depth[i];
      if (cps.size() <= d) cps.resize(d + 1, 0);
      cps[d] = cps[d - 1] + ((trie.byte[i] & 0xC0) != 0x80 ? 1 : 0);
      if (cps[d] > skip_le) {
        for (uint32_t q = trie.tok_begin[i]; q < trie.tok_begin[i + 1]; ++q) {
          const int32_t id = trie.tok_ids[q];
          set->bits[static_cast<size_t>(id) >> 5] &= ~(1u << (id & 31));
        }
      }
      ++i;
    }
    walk(trie, 0, init, 1, false, sink, max_cps.data(), skip_le);
  } else {
    set->bits.assign(vocab_.mask_words(), 0);
    walk(trie, 0, init, 1, false, sink);
  }
  for (int32_t id : ids) set->bits[id >> 5] |= 1u << (id & 31);
  auto entry = std::make_shared<MaskEntry>();
  entry->inside = vocab_.intern_set(set);
  vocab_.cache_put(key, entry);
  return entry->inside;
}

std::shared_ptr<const MaskEntry> MaskComputer::compute_entry(const Frame* top) {
  const Arena::Mark mark = arena_.mark();
  const Frame* det = stepper_.detach(top);
  std::vector<int32_t> ids;
  std::vector<Sink::ExitRec> exits;
  Sink sink;
  sink.ids = &ids;
  sink.exits = &exits;
  auto entry = std::make_shared<MaskEntry>();
  uint32_t rem = 0;
  const Frame* init[1] = {det};
  if (is_free(top, rem)) {
    entry->inside = free_set(top, rem);
    sink.skip_inside = true;
    walk(vocab_.quote_trie(), 0, init, 1, false, sink);
  } else {
    walk(vocab_.trie(), 0, init, 1, false, sink);
    auto set = std::make_shared<TokenSet>();
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    if (ids.size() * 32 > vocab_.size()) {
      set->bits.assign(vocab_.mask_words(), 0);
      for (int32_t id : ids) set->bits[id >> 5] |= 1u << (id & 31);
      entry->inside = vocab_.intern_set(set);
    } else {
      set->ids = std::move(ids);
      entry->inside = set;
    }
  }
  // Group exits by signature into remainder tries.
  std::map<uint32_t, std::vector<std::pair<std::string_view, int32_t>>> rems;
  std::map<uint32_t, bool> full;
  for (const Sink::ExitRec& x : exits) {
    const TokenTrie& t = *x.trie;
    if (x.node == 0 && !x.self) {
      full[x.sig] = true;
      continue;
    }
    auto& list = rems[x.sig];
    const uint32_t d = t.depth[x.node];
    uint32_t from = x.self ? x.node : x.node + 1;
    for (uint32_t j = from; j < t.skip[x.node]; ++j) {
      for (uint32_t q = t.tok_begin[j]; q < t.tok_begin[j + 1]; ++q) {
        int32_t id = t.tok_ids[q];
        list.emplace_back(std::string_view(vocab_.token(id)).substr(d), id);
      }
    }
  }
  for (auto& [sig, f] : full) {
    MaskEntry::Exit e;
    e.sig = sig;
    e.full = true;
    entry->exits.push_back(std::move(e));
    rems.erase(sig);
  }
  for (auto& [sig, list] : rems) {
    std::sort(list.begin(), list.end());
    list.erase(std::unique(list.begin(), list.end()), list.end());
    MaskEntry::Exit e;
    e.sig = sig;
    // Tokens ending exactly where the frame finished have an empty remainder; keep them at
    // the root of the remainder trie.
    std::vector<std::pair<std::string_view, int32_t>> nonempty;
    std::vector<int32_t> at_root;
    for (auto& p : list) {
      if (p.first.empty()) at_root.push_back(p.second);
      else nonempty.push_back(p);
    }
    e.rem = TokenTrie::build(std::move(nonempty));
    if (!at_root.empty()) {
      std::sort(at_root.begin(), at_root.end());
      at_root.erase(std::unique(at_root.begin(), at_root.end()), at_root.end());
      e.rem.tok_ids.insert(e.rem.tok_ids.begin(), at_root.begin(), at_root.end());
      for (size_t j = 1; j < e.rem.tok_begin.size(); ++j) e.rem.tok_begin[j] += static_cast<uint32_t>(at_root.size());
    }
    entry->exits.push_back(std::move(e));
  }
  arena_.reset(mark);
  return entry;
}

std::shared_ptr<const MaskEntry> MaskComputer::entry_for(const Frame* top) {
  std::string key = key_of(top);
  if (auto e = vocab_.cache_get(key)) {
    ++hits_;
    return e;
  }
  ++misses_;
  auto e = compute_entry(top);
  vocab_.cache_put(key, e);
  return e;
}

void MaskComputer::add_config(const Frame* top, uint32_t* words, int depth) {
  if (depth > 512) return;
  std::shared_ptr<const MaskEntry> e = entry_for(top);
  if (e->inside) e->inside->apply(words);
  for (const MaskEntry::Exit& x : e->exits) {
    const Arena::Mark mark = arena_.mark();
    StepOut p;
    stepper_.after_exit(top->parent, x.sig, p);
    if (x.full) {
      for (uint32_t k = 0; k < p.n; ++k) add_config(p.cfg[k], words, depth + 1);
    } else {
      Sink sink;
      sink.words = words;
      walk(x.rem, 0, p.cfg, p.n, true, sink);
    }
    arena_.reset(mark);
  }
}

}  // namespace hearth::grammar
