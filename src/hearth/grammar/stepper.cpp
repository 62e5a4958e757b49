#include "hearth/grammar/stepper.h"

#include <algorithm>

#include "hearth/grammar/utf8.h"

namespace hearth::grammar {

namespace {

const char* const kLiterals[3] = {"null", "true", "false"};
constexpr uint8_t kLitLen[3] = {4, 4, 5};

bool is_ws(uint8_t b) { return b == ' ' || b == '\n' || b == '\t' || b == '\r'; }

bool final_num_phase(uint8_t p) {
  auto ph = static_cast<NumPhase>(p);
  return ph == NumPhase::Zero || ph == NumPhase::Int || ph == NumPhase::Frac || ph == NumPhase::ExpDigits;
}

}  // namespace

const Frame* Stepper::sentinel() {
  static const Frame s = [] {
    Frame f;
    std::memset(&f, 0, sizeof(f));
    f.kind = FrameKind::Exit;
    return f;
  }();
  return &s;
}

const Frame* Stepper::initial() {
  Frame* root = arena_.make();
  root->kind = FrameKind::Root;
  if (g_.root_kind == RootKind::Raw) {
    Frame* raw = arena_.make();
    raw->kind = FrameKind::Raw;
    raw->parent = root;
    raw->leaf = g_.raw_dfa;
    raw->st[0] = g_.raw_dfa->dfa.start;
    return raw;
  }
  Frame* v = arena_.make();
  v->kind = FrameKind::Value;
  v->parent = root;
  v->spec = g_.root;
  return v;
}

const Frame* Stepper::detach(const Frame* top) {
  Frame* f = arena_.copy(top);
  f->parent = sentinel();
  return f;
}

size_t Stepper::ext_bytes(const Frame* f, const GrammarData& g) {
  switch (f->kind) {
    case FrameKind::Obj: {
      const ObjSpec& o = g.objs[f->spec];
      return o.num_labels > 128 ? o.label_words * 8 : 0;
    }
    case FrameKind::Key: return g.objs[f->spec].label_words * 8;
    case FrameKind::Num: return f->ext ? f->count : 0;
    default: return 0;
  }
}

bool Stepper::same_stack(const Frame* a, const Frame* b, const GrammarData& g) {
  while (a != b) {
    if (!a || !b) return false;
    if (a->kind != b->kind || a->phase != b->phase || a->u8 != b->u8 || a->ws != b->ws || a->spec != b->spec ||
        a->count != b->count || a->aux != b->aux || a->depth != b->depth || a->leaf != b->leaf ||
        std::memcmp(a->st, b->st, sizeof(a->st)) != 0) {
      return false;
    }
    size_t n = ext_bytes(a, g);
    if ((a->ext == nullptr) != (b->ext == nullptr)) return false;
    if (n && a->ext != b->ext && std::memcmp(a->ext, b->ext, n) != 0) return false;
    a = a->parent;
    b = b->parent;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Values

void Stepper::value_start(const Frame* parent, NodeId node_id, uint32_t depth, uint8_t ws, uint8_t b,
                          StepOut& out) {
  if (node_id == kNoNode) return;
  const Node& node = g_.nodes[node_id];
  if (is_ws(b)) {
    if (ws < g_.max_ws) {
      Frame* v = arena_.make();
      v->kind = FrameKind::Value;
      v->parent = parent;
      v->spec = node_id;
      v->depth = depth;
      v->ws = static_cast<uint8_t>(ws + 1);
      out.push(v);
    }
    return;
  }
  switch (b) {
    case 'n':
    case 't':
    case 'f': {
      uint32_t lit = b == 'n' ? 0 : b == 't' ? 1 : 2;
      bool ok = lit == 0 ? node.null_ok : (node.bools & (lit == 1 ? 2 : 1)) != 0;
      if (!ok) return;
      Frame* f = arena_.make();
      f->kind = FrameKind::Lit;
      f->parent = parent;
      f->spec = lit;
      f->u8 = 1;
      f->depth = depth;
      out.push(f);
      return;
    }
    case '"': {
      if (!node.strs) return;
      Frame* f = arena_.make();
      f->kind = FrameKind::Str;
      f->parent = parent;
      f->leaf = node.strs;
      f->depth = depth;
      f->spec = node_id;
      bool any = false;
      for (size_t i = 0; i < node.strs->alts.size(); ++i) {
        uint32_t s = node.strs->alts[i].dfa->dfa.start;
        f->st[i] = str_alive(f, static_cast<uint32_t>(i), s, 0, 0) ? s : 0;
        any = any || f->st[i] != 0;
      }
      if (any) out.push(f);
      return;
    }
    case '[': {
      if (depth >= g_.max_depth) return;
      for (uint32_t a : node.arrs) {
        Frame* f = arena_.make();
        f->kind = FrameKind::Arr;
        f->parent = parent;
        f->spec = a;
        f->phase = kArrStart;
        f->depth = depth + 1;
        out.push(f);
      }
      return;
    }
    case '{': {
      if (depth >= g_.max_depth) return;
      for (uint32_t o : node.objs) {
        Frame* f = arena_.make();
        f->kind = FrameKind::Obj;
        f->parent = parent;
        f->spec = o;
        f->phase = kObjStart;
        f->depth = depth + 1;
        const ObjSpec& spec = g_.objs[o];
        if (spec.num_labels > 128) {
          void* bits = arena_.alloc(spec.label_words * 8);
          std::memset(bits, 0, spec.label_words * 8);
          f->ext = bits;
        }
        out.push(f);
      }
      return;
    }
    default: break;
  }
  if (b == '-' || (b >= '0' && b <= '9')) {
    if (!node.nums) return;
    const NumSet& ns = *node.nums;
    NumPhase ph = b == '-' ? NumPhase::Minus : b == '0' ? NumPhase::Zero : NumPhase::Int;
    char text[1] = {static_cast<char>(b)};
    uint32_t alive = 0;
    for (size_t i = 0; i < ns.alts.size(); ++i) {
      const NumSpec& a = ns.alts[i];
      if (!a.needs_text() || num_feasible(a, std::string_view(text, 1), ph)) alive |= 1u << i;
    }
    if (!alive) return;
    Frame* f = arena_.make();
    f->kind = FrameKind::Num;
    f->parent = parent;
    f->leaf = &ns;
    f->phase = static_cast<uint8_t>(ph);
    f->aux = alive;
    f->depth = depth;
    f->count = 1;
    if (ns.needs_text) {
      char* t = static_cast<char*>(arena_.alloc(1));
      t[0] = static_cast<char>(b);
      f->ext = t;
    }
    out.push(f);
  }
}

void Stepper::pop_value(const Frame* f, StepOut& out) {
  const Frame* p = f->parent;
  if (p->kind == FrameKind::Exit) {
    out.exit(0, true);
    return;
  }
  out.push(p);
}

void Stepper::pop_unconsumed(const Frame* f, uint8_t b, StepOut& out) {
  const Frame* p = f->parent;
  if (p->kind == FrameKind::Exit) {
    out.exit(0, false);
    return;
  }
  step(p, b, out);
}

void Stepper::after_exit(const Frame* parent, uint32_t sig, StepOut& out) {
  if (sig == 0) {
    out.push(parent);
    return;
  }
  out.push(obj_after_key(parent, sig - 1));
}

bool Stepper::accepts_eos(const Frame* f) const {
  switch (f->kind) {
    case FrameKind::Root: return true;
    case FrameKind::Num: return final_num_phase(f->phase) && num_complete(f) && accepts_eos(f->parent);
    case FrameKind::Raw: {
      const InternedDfa* d = static_cast<const InternedDfa*>(f->leaf);
      return f->u8 == 0 && d->dfa.label[f->st[0]] >= 0;
    }
    default: return false;
  }
}

void Stepper::step(const Frame* f, uint8_t b, StepOut& out) {
  switch (f->kind) {
    case FrameKind::Root:
      if (is_ws(b) && f->ws < g_.max_ws) {
        Frame* r = arena_.copy(f);
        r->ws = static_cast<uint8_t>(f->ws + 1);
        out.push(r);
      }
      return;
    case FrameKind::Value: value_start(f->parent, f->spec, f->depth, f->ws, b, out); return;
    case FrameKind::Lit: {
      uint32_t lit = f->spec;
      if (b != static_cast<uint8_t>(kLiterals[lit][f->u8])) return;
      if (f->u8 + 1 == kLitLen[lit]) {
        pop_value(f, out);
        return;
      }
      Frame* r = arena_.copy(f);
      r->u8 = static_cast<uint8_t>(f->u8 + 1);
      out.push(r);
      return;
    }
    case FrameKind::Num: step_num(f, b, out); return;
    case FrameKind::Str:
    case FrameKind::Key: step_str(f, b, out); return;
    case FrameKind::Obj: step_obj(f, b, out); return;
    case FrameKind::Arr: step_arr(f, b, out); return;
    case FrameKind::Raw: {
      const InternedDfa* d = static_cast<const InternedDfa*>(f->leaf);
      uint8_t u2 = utf8::step(f->u8, b);
      if (u2 == utf8::kReject) return;
      uint32_t s = d->dfa.step(f->st[0], b);
      if (!s || !d->info.live[dfa_node(s, u2)]) return;
      Frame* r = arena_.copy(f);
      r->st[0] = s;
      r->u8 = u2;
      out.push(r);
      return;
    }
    case FrameKind::Exit: return;
  }
}

// ---------------------------------------------------------------------------------------------
// Numbers

bool Stepper::num_complete(const Frame* f) const {
  const NumSet& ns = *static_cast<const NumSet*>(f->leaf);
  std::string_view text(static_cast<const char*>(f->ext), f->ext ? f->count : 0);
  for (size_t i = 0; i < ns.alts.size(); ++i) {
    if (!((f->aux >> i) & 1)) continue;
    const NumSpec& a = ns.alts[i];
    if (!a.needs_text() || num_accepts(a, text)) return true;
  }
  return false;
}

void Stepper::step_num(const Frame* f, uint8_t b, StepOut& out) {
  const NumSet& ns = *static_cast<const NumSet*>(f->leaf);
  auto ph = static_cast<NumPhase>(f->phase);
  bool digit = b >= '0' && b <= '9';
  int next = -1;
  switch (ph) {
    case NumPhase::Minus:
      if (b == '0') next = static_cast<int>(NumPhase::Zero);
      else if (digit) next = static_cast<int>(NumPhase::Int);
      break;
    case NumPhase::Zero:
    case NumPhase::Int:
      if (digit && ph == NumPhase::Int) next = static_cast<int>(NumPhase::Int);
      else if (b == '.') next = static_cast<int>(NumPhase::Dot);
      else if (b == 'e' || b == 'E') next = static_cast<int>(NumPhase::Exp);
      break;
    case NumPhase::Dot:
      if (digit) next = static_cast<int>(NumPhase::Frac);
      break;
    case NumPhase::Frac:
      if (digit) next = static_cast<int>(NumPhase::Frac);
      else if (b == 'e' || b == 'E') next = static_cast<int>(NumPhase::Exp);
      break;
    case NumPhase::Exp:
      if (b == '+' || b == '-') next = static_cast<int>(NumPhase::ExpSign);
      else if (digit) next = static_cast<int>(NumPhase::ExpDigits);
      break;
    case NumPhase::ExpSign:
    case NumPhase::ExpDigits:
      if (digit) next = static_cast<int>(NumPhase::ExpDigits);
      break;
  }
  if (next >= 0) {
    auto np = static_cast<NumPhase>(next);
    bool frac = np == NumPhase::Dot || np == NumPhase::Frac;
    bool exp = np == NumPhase::Exp || np == NumPhase::ExpSign || np == NumPhase::ExpDigits;
    constexpr uint32_t kMaxText = 64;
    if (ns.needs_text && f->count >= kMaxText) return;
    char* text = nullptr;
    if (ns.needs_text) {
      text = static_cast<char*>(arena_.alloc(f->count + 1));
      std::memcpy(text, f->ext, f->count);
      text[f->count] = static_cast<char>(b);
    }
    uint32_t alive = 0;
    for (size_t i = 0; i < ns.alts.size(); ++i) {
      if (!((f->aux >> i) & 1)) continue;
      const NumSpec& a = ns.alts[i];
      if (frac && !a.allows_frac()) continue;
      if (exp && !a.allows_exp()) continue;
      if (a.needs_text() && !num_feasible(a, std::string_view(text, f->count + 1), np)) continue;
      alive |= 1u << i;
    }
    if (alive) {
      Frame* r = arena_.copy(f);
      r->phase = static_cast<uint8_t>(next);
      r->aux = alive;
      r->count = f->count + 1;
      if (ns.needs_text) r->ext = text;
      out.push(r);
      return;
    }
    if (digit) return;  // JSON never lets a digit follow a number
  }
  if (final_num_phase(f->phase) && num_complete(f)) pop_unconsumed(f, b, out);
}

// ---------------------------------------------------------------------------------------------
// Objects

bool Stepper::seen(const Frame* obj, uint32_t label) const {
  const uint32_t* bits = obj->ext ? static_cast<const uint32_t*>(obj->ext) : obj->st;
  return (bits[label / 32] >> (label % 32)) & 1;
}

bool Stepper::obj_close_ok(const Frame* f) const {
  const ObjSpec& o = g_.objs[f->spec];
  if (f->count < o.min_props) return false;
  for (uint32_t w = 0; w < o.label_words; ++w) {
    uint64_t req = o.required[w];
    while (req) {
      uint32_t l = w * 64 + static_cast<uint32_t>(__builtin_ctzll(req));
      req &= req - 1;
      if (!seen(f, l)) return false;
    }
  }
  for (const auto& d : o.deps) {
    if (!seen(f, d.first)) continue;
    for (uint32_t l : d.second) {
      if (!seen(f, l)) return false;
    }
  }
  return true;
}

const uint64_t* Stepper::allowed_labels(const Frame* f) {
  const ObjSpec& o = g_.objs[f->spec];
  uint64_t* bits = static_cast<uint64_t*>(arena_.alloc(o.label_words * 8));
  std::memset(bits, 0, o.label_words * 8);
  if (f->count >= o.max_props) return bits;
  // Labels that must still appear: required and dependencies of present keys.
  std::vector<uint8_t> need;
  uint32_t missing = 0;
  bool simple = o.deps.empty() && o.forbidden.empty() && o.max_props == kUnbounded;
  if (!simple) {
    need.assign(o.num_labels, 0);
    for (uint32_t l = 0; l < o.num_labels; ++l) {
      if (((o.required[l / 64] >> (l % 64)) & 1) && !seen(f, l)) need[l] = 1;
    }
    for (const auto& d : o.deps) {
      if (!seen(f, d.first)) continue;
      for (uint32_t l : d.second) {
        if (!seen(f, l)) need[l] = 1;
      }
    }
    for (uint8_t x : need) missing += x;
  }
  for (uint32_t l = 0; l < o.num_labels; ++l) {
    if (o.label_node[l] == kNoNode) continue;
    if (l >= o.num_classes && seen(f, l)) continue;  // no duplicate named keys
    if (!simple) {
      uint32_t after = missing - (need[l] ? 1 : 0);
      for (const auto& d : o.deps) {
        if (d.first != l) continue;
        for (uint32_t r : d.second) {
          if (r != l && !seen(f, r) && !need[r]) ++after;
        }
      }
      if (static_cast<uint64_t>(f->count) + 1 + after > o.max_props) continue;
      bool bad = false;
      for (const auto& fs : o.forbidden) {
        bool all = true;
        for (uint32_t x : fs) all = all && (x == l || seen(f, x));
        if (all) {
          bad = true;
          break;
        }
      }
      if (bad) continue;
    }
    bits[l / 64] |= uint64_t{1} << (l % 64);
  }
  return bits;
}

const Frame* Stepper::obj_after_key(const Frame* p, uint32_t label) {
  const ObjSpec& o = g_.objs[p->spec];
  Frame* r = arena_.copy(p);
  r->phase = kObjKey;
  r->aux = label;
  r->ws = 0;
  r->count = p->count + 1;
  if (p->ext) {
    uint32_t* bits = static_cast<uint32_t*>(arena_.alloc(o.label_words * 8));
    std::memcpy(bits, p->ext, o.label_words * 8);
    bits[label / 32] |= 1u << (label % 32);
    r->ext = bits;
  } else {
    r->st[label / 32] |= 1u << (label % 32);
  }
  return r;
}

// Whitespace between an object's or array's tokens: one more byte of the bounded run
// (flexible mode); true when `b` was whitespace (handled, or a dead end past the bound).
bool Stepper::step_container_ws(const Frame* f, uint8_t b, StepOut& out) {
  if (!is_ws(b)) return false;
  if (f->ws < g_.max_ws) {
    Frame* r = arena_.copy(f);
    r->ws = static_cast<uint8_t>(f->ws + 1);
    out.push(r);
  }
  return true;
}

void Stepper::step_obj(const Frame* f, uint8_t b, StepOut& out) {
  const ObjSpec& o = g_.objs[f->spec];
  if (step_container_ws(f, b, out)) return;
  switch (f->phase) {
    case kObjStart:
    case kObjComma:
      if (b == '"') {
        const uint64_t* allowed = allowed_labels(f);
        bool any = false;
        for (uint32_t w = 0; w < o.label_words; ++w) any = any || allowed[w] != 0;
        if (!any) return;
        Frame* k = arena_.make();
        k->kind = FrameKind::Key;
        k->parent = f;
        k->spec = f->spec;
        k->depth = f->depth;
        k->leaf = o.key_strs;
        k->ext = allowed;
        k->st[0] = o.key_dfa->dfa.start;
        if (!str_alive(k, 0, k->st[0], 0, 0)) return;
        out.push(k);
        return;
      }
      if (b == '}' && f->phase == kObjStart && obj_close_ok(f)) pop_value(f, out);
      return;
    case kObjKey:
      if (b == ':') {
        Frame* p = arena_.copy(f);
        p->phase = kObjValue;
        p->ws = 0;
        Frame* v = arena_.make();
        v->kind = FrameKind::Value;
        v->parent = p;
        v->spec = o.label_node[f->aux];
        v->depth = f->depth;
        out.push(v);
      }
      return;
    case kObjValue:
      if (b == ',') {
        const uint64_t* allowed = allowed_labels(f);
        bool any = false;
        for (uint32_t w = 0; w < o.label_words; ++w) any = any || allowed[w] != 0;
        if (!any) return;
        Frame* r = arena_.copy(f);
        r->phase = kObjComma;
        r->ws = 0;
        out.push(r);
        return;
      }
      if (b == '}' && obj_close_ok(f)) pop_value(f, out);
      return;
    default: return;
  }
}

// ---------------------------------------------------------------------------------------------
// Arrays

void Stepper::step_arr(const Frame* f, uint8_t b, StepOut& out) {
  const ArrSpec& a = g_.arrs[f->spec];
  if (step_container_ws(f, b, out)) return;
  switch (f->phase) {
    case kArrStart:
      if (b == ']') {
        if (a.min_items == 0) pop_value(f, out);
        return;
      }
      [[fallthrough]];
    case kArrComma: {
      if (f->count >= a.max_items) return;
      NodeId item = a.item(f->count);
      if (item == kNoNode) return;
      Frame* p = arena_.copy(f);
      p->phase = kArrValue;
      p->ws = 0;
      p->count = f->count + 1;
      value_start(p, item, f->depth, 0, b, out);
      return;
    }
    case kArrValue:
      if (b == ',') {
        if (f->count < a.max_items && a.item(f->count) != kNoNode) {
          Frame* r = arena_.copy(f);
          r->phase = kArrComma;
          r->ws = 0;
          out.push(r);
        }
        return;
      }
      if (b == ']' && f->count >= a.min_items) pop_value(f, out);
      return;
    default: return;
  }
}

}  // namespace hearth::grammar
