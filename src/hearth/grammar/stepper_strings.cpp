// String and key lexemes of the stepper: JSON escapes (\uXXXX with surrogate pairs), UTF-8
// validation, code point counts for length bounds, and the automata of patterns, formats,
// enums and object keys, with exact liveness so no accepted byte leads to a dead end.
#include <algorithm>
#include <map>
#include <mutex>

#include "hearth/grammar/stepper.h"
#include "hearth/grammar/utf8.h"

namespace hearth::grammar {

namespace {

int hex_value(uint8_t b) {
  if (b >= '0' && b <= '9') return b - '0';
  if (b >= 'a' && b <= 'f') return b - 'a' + 10;
  if (b >= 'A' && b <= 'F') return b - 'A' + 10;
  return -1;
}

// Suffix values of k continuation bytes read from state t that end in a live state.
void suffixes(const InternedDfa* d, uint32_t t, int k, std::vector<CpRange>& out,
              std::map<std::pair<uint32_t, int>, std::vector<CpRange>>& memo) {
  if (t == 0) return;
  if (k == 0) {
    if (d->info.live[dfa_node(t, 0)]) out.push_back({0, 0});
    return;
  }
  auto key = std::make_pair(t, k);
  auto it = memo.find(key);
  if (it == memo.end()) {
    std::vector<CpRange> r;
    uint32_t span = 1u << (6 * (k - 1));
    for (uint32_t c = 0x80; c <= 0xBF; ++c) {
      std::vector<CpRange> sub;
      suffixes(d, d->dfa.step(t, static_cast<uint8_t>(c)), k - 1, sub, memo);
      uint32_t base = (c & 0x3F) * span;
      for (const CpRange& x : sub) r.push_back({base + x.lo, base + x.hi});
    }
    it = memo.emplace(key, cp_set_normalize(std::move(r))).first;
  }
  out.insert(out.end(), it->second.begin(), it->second.end());
}

// Code points after which an automaton state stays alive, as sorted ranges (memoized in the
// automaton; references stay valid: entries are never erased and map nodes do not move).
const std::vector<CpRange>& live_cps(const InternedDfa* d, uint32_t s) {
  {
    std::lock_guard<std::mutex> lock(d->live_cps_mu);
    auto it = d->live_cps_memo.find(s);
    if (it != d->live_cps_memo.end()) return it->second;
  }
  std::vector<CpRange> r;
  std::map<std::pair<uint32_t, int>, std::vector<CpRange>> memo;
  for (uint32_t b = 0; b < 0x80; ++b) {
    uint32_t t = d->dfa.step(s, static_cast<uint8_t>(b));
    if (t && d->info.live[dfa_node(t, 0)]) r.push_back({b, b});
  }
  for (uint32_t lead = 0xC2; lead <= 0xF4; ++lead) {
    int k = lead < 0xE0 ? 1 : lead < 0xF0 ? 2 : 3;
    uint32_t t1 = d->dfa.step(s, static_cast<uint8_t>(lead));
    if (!t1) continue;
    uint32_t lo = 0x80, hi = 0xBF;
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;
    uint32_t lead_bits = lead & (k == 1 ? 0x1F : k == 2 ? 0x0F : 0x07);
    for (uint32_t c = lo; c <= hi; ++c) {
      std::vector<CpRange> sub;
      suffixes(d, d->dfa.step(t1, static_cast<uint8_t>(c)), k - 1, sub, memo);
      uint32_t base = (lead_bits << (6 * k)) | ((c & 0x3F) << (6 * (k - 1)));
      for (const CpRange& x : sub) r.push_back({base + x.lo, base + x.hi});
    }
  }
  std::vector<CpRange> norm = cp_set_normalize(std::move(r));
  std::lock_guard<std::mutex> lock(d->live_cps_mu);
  return d->live_cps_memo.emplace(s, std::move(norm)).first->second;
}

bool ranges_meet(const std::vector<CpRange>& set, uint32_t lo, uint32_t hi) {
  auto it = std::lower_bound(set.begin(), set.end(), lo,
                             [](const CpRange& r, uint32_t v) { return r.hi < v; });
  return it != set.end() && it->lo <= hi;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Strings and keys

bool Stepper::str_alive(const Frame* f, uint32_t alt, uint32_t state, uint8_t u8, uint32_t count) const {
  if (state == 0) return false;
  const StrSet* ss = static_cast<const StrSet*>(f->leaf);
  const StrAlt& a = ss->alts[alt];
  const DfaInfo& info = a.dfa->info;
  uint32_t node = dfa_node(state, u8);
  if (!info.live[node]) return false;
  if (a.max_len != kUnbounded && static_cast<uint64_t>(count) + info.min_cps[node] > a.max_len) return false;
  if (a.min_len > 0 && info.max_cps[node] != DfaInfo::kInf &&
      static_cast<uint64_t>(count) + info.max_cps[node] < a.min_len) {
    return false;
  }
  if (f->kind == FrameKind::Key) {
    const uint64_t* allowed = static_cast<const uint64_t*>(f->ext);
    const uint32_t lw = static_cast<uint32_t>(info.label_words);
    bool any = false;
    for (uint32_t w = 0; w < lw && !any; ++w) any = (info.reach[static_cast<size_t>(node) * lw + w] & allowed[w]) != 0;
    if (!any) return false;
  }
  return true;
}

void Stepper::feed_cp(const Frame* f, uint32_t cp, StepOut& out) {
  const StrSet* ss = static_cast<const StrSet*>(f->leaf);
  uint8_t bytes[4];
  int n = utf8::encode(cp, bytes);
  Frame* r = arena_.copy(f);
  r->phase = kStrNormal;
  r->aux = 0;
  r->count = f->count + 1;
  bool any = false;
  for (size_t i = 0; i < ss->alts.size(); ++i) {
    uint32_t s = f->st[i];
    if (!s) continue;
    const Dfa& d = ss->alts[i].dfa->dfa;
    for (int k = 0; k < n && s; ++k) s = d.step(s, bytes[k]);
    if (!str_alive(r, static_cast<uint32_t>(i), s, 0, r->count)) s = 0;
    r->st[i] = s;
    any = any || s != 0;
  }
  if (any) out.push(r);
}

bool Stepper::cp_range_feasible(const Frame* f, uint32_t lo, uint32_t hi) const {
  const StrSet* ss = static_cast<const StrSet*>(f->leaf);
  for (size_t i = 0; i < ss->alts.size(); ++i) {
    if (!f->st[i]) continue;
    const StrAlt& a = ss->alts[i];
    if (a.max_len != kUnbounded && f->count + 1 > a.max_len) continue;
    const std::vector<CpRange>& live = live_cps(a.dfa, f->st[i]);
    // Automaton liveness is exact for unbounded value strings; keys (allowed labels) and
    // length bounds need each candidate tried, which a bounded search does (giving up
    // rejects the escape: stricter, never looser).
    bool exact = f->kind == FrameKind::Key || a.max_len != kUnbounded || a.min_len > 0;
    if (!exact) {
      if (ranges_meet(live, lo, hi)) return true;
      continue;
    }
    int budget = 4096;
    auto it = std::lower_bound(live.begin(), live.end(), lo,
                               [](const CpRange& r, uint32_t v) { return r.hi < v; });
    for (; it != live.end() && it->lo <= hi && budget > 0; ++it) {
      for (uint32_t cp = std::max(lo, it->lo); cp <= std::min(hi, it->hi) && budget > 0; ++cp, --budget) {
        uint8_t bytes[4];
        int n = utf8::encode(cp, bytes);
        uint32_t s = f->st[i];
        for (int k = 0; k < n && s; ++k) s = a.dfa->dfa.step(s, bytes[k]);
        if (str_alive(f, static_cast<uint32_t>(i), s, 0, f->count + 1)) return true;
      }
    }
  }
  return false;
}

// Whether the \u escape being read (phase, aux) can still become a code point the string
// accepts.
bool Stepper::escape_possible(const Frame* f) const {
  for (uint32_t cp : {0x22u, 0x5Cu, 0x2Fu, 0x08u, 0x0Cu, 0x0Au, 0x0Du, 0x09u}) {
    if (cp_range_feasible(f, cp, cp)) return true;
  }
  return escape_feasible(f, kStrU0, 0);
}

bool Stepper::escape_feasible(const Frame* f, uint8_t phase, uint32_t aux) const {
  if (phase >= kStrU0 && phase < kStrU0 + 4) {
    int k = phase - kStrU0;  // digits read
    uint32_t shift = 4 * static_cast<uint32_t>(4 - k);
    uint32_t lo = aux << shift, hi = lo + (1u << shift) - 1;
    if (k == 0) {
      lo = 0;
      hi = 0xFFFF;
    }
    if (lo < 0xD800 && cp_range_feasible(f, lo, std::min<uint32_t>(hi, 0xD7FF))) return true;
    if (hi > 0xDFFF && cp_range_feasible(f, std::max<uint32_t>(lo, 0xE000), hi)) return true;
    uint32_t hs_lo = std::max<uint32_t>(lo, 0xD800), hs_hi = std::min<uint32_t>(hi, 0xDBFF);
    if (hs_lo <= hs_hi &&
        cp_range_feasible(f, 0x10000 + ((hs_lo - 0xD800) << 10), 0x10000 + ((hs_hi - 0xD800) << 10) + 0x3FF)) {
      return true;
    }
    return false;
  }
  uint32_t high = aux >> 16;
  uint32_t base = 0x10000 + ((high - 0xD800) << 10);
  if (phase == kStrHs || phase == kStrHsEsc) return cp_range_feasible(f, base, base + 0x3FF);
  int k = phase - kStrL0;
  uint32_t w = aux & 0xFFFF;
  uint32_t shift = 4 * static_cast<uint32_t>(4 - k);
  uint32_t lo = k == 0 ? 0 : w << shift, hi = k == 0 ? 0xFFFF : lo + (1u << shift) - 1;
  lo = std::max<uint32_t>(lo, 0xDC00);
  hi = std::min<uint32_t>(hi, 0xDFFF);
  if (lo > hi) return false;
  return cp_range_feasible(f, base + (lo - 0xDC00), base + (hi - 0xDC00));
}

void Stepper::close_str(const Frame* f, StepOut& out) {
  const StrSet* ss = static_cast<const StrSet*>(f->leaf);
  if (f->kind == FrameKind::Key) {
    const StrAlt& a = ss->alts[0];
    int32_t label = a.dfa->dfa.label[f->st[0]];
    if (label < 0 || f->count < a.min_len || f->count > a.max_len) return;
    const uint64_t* allowed = static_cast<const uint64_t*>(f->ext);
    if (!((allowed[label / 64] >> (label % 64)) & 1)) return;
    const Frame* p = f->parent;
    if (p->kind == FrameKind::Exit) {
      out.exit(static_cast<uint32_t>(label) + 1, true);
      return;
    }
    out.push(obj_after_key(p, static_cast<uint32_t>(label)));
    return;
  }
  for (size_t i = 0; i < ss->alts.size(); ++i) {
    const StrAlt& a = ss->alts[i];
    if (f->st[i] && a.dfa->dfa.label[f->st[i]] >= 0 && f->count >= a.min_len && f->count <= a.max_len) {
      pop_value(f, out);
      return;
    }
  }
}

void Stepper::step_str(const Frame* f, uint8_t b, StepOut& out) {
  const StrSet* ss = static_cast<const StrSet*>(f->leaf);
  switch (f->phase) {
    case kStrNormal: {
      if (f->u8 == 0) {
        if (b == '"') {
          close_str(f, out);
          return;
        }
        if (b == '\\') {
          if (!escape_possible(f)) return;
          Frame* r = arena_.copy(f);
          r->phase = kStrEsc;
          out.push(r);
          return;
        }
        if (b < 0x20) return;
      }
      uint8_t u2 = utf8::step(f->u8, b);
      if (u2 == utf8::kReject) return;
      Frame* r = arena_.copy(f);
      r->u8 = u2;
      if (f->u8 == 0) r->count = f->count + 1;
      bool any = false;
      for (size_t i = 0; i < ss->alts.size(); ++i) {
        uint32_t s = f->st[i];
        if (!s) continue;
        s = ss->alts[i].dfa->dfa.step(s, b);
        if (!str_alive(r, static_cast<uint32_t>(i), s, u2, r->count)) s = 0;
        r->st[i] = s;
        any = any || s != 0;
      }
      if (any) out.push(r);
      return;
    }
    case kStrEsc: {
      uint32_t cp;
      switch (b) {
        case '"': cp = '"'; break;
        case '\\': cp = '\\'; break;
        case '/': cp = '/'; break;
        case 'b': cp = 0x08; break;
        case 'f': cp = 0x0C; break;
        case 'n': cp = 0x0A; break;
        case 'r': cp = 0x0D; break;
        case 't': cp = 0x09; break;
        case 'u': {
          if (!escape_feasible(f, kStrU0, 0)) return;
          Frame* r = arena_.copy(f);
          r->phase = kStrU0;
          r->aux = 0;
          out.push(r);
          return;
        }
        default: return;
      }
      feed_cp(f, cp, out);
      return;
    }
    case kStrHs:
      if (b == '\\') {
        Frame* r = arena_.copy(f);
        r->phase = kStrHsEsc;
        out.push(r);
      }
      return;
    case kStrHsEsc:
      if (b == 'u') {
        if (!escape_feasible(f, kStrL0, f->aux & 0xFFFF0000u)) return;
        Frame* r = arena_.copy(f);
        r->phase = kStrL0;
        r->aux = f->aux & 0xFFFF0000u;
        out.push(r);
      }
      return;
    default: break;
  }
  int d = hex_value(b);
  if (d < 0) return;
  if (f->phase >= kStrU0 && f->phase < kStrU0 + 4) {
    uint32_t v = f->aux * 16 + static_cast<uint32_t>(d);
    int k = f->phase - kStrU0 + 1;
    if (k == 4) {
      if (v >= 0xDC00 && v <= 0xDFFF) return;  // a lone low surrogate
      if (v >= 0xD800 && v <= 0xDBFF) {
        if (!escape_feasible(f, kStrHs, v << 16)) return;
        Frame* r = arena_.copy(f);
        r->phase = kStrHs;
        r->aux = v << 16;
        out.push(r);
        return;
      }
      feed_cp(f, v, out);
      return;
    }
    uint8_t ph = static_cast<uint8_t>(kStrU0 + k);
    if (!escape_feasible(f, ph, v)) return;
    Frame* r = arena_.copy(f);
    r->phase = ph;
    r->aux = v;
    out.push(r);
    return;
  }
  // Low surrogate digits.
  uint32_t high = f->aux >> 16;
  uint32_t w = (f->aux & 0xFFFF) * 16 + static_cast<uint32_t>(d);
  int k = f->phase - kStrL0 + 1;
  if (k == 4) {
    if (w < 0xDC00 || w > 0xDFFF) return;
    feed_cp(f, 0x10000 + ((high - 0xD800) << 10) + (w - 0xDC00), out);
    return;
  }
  uint8_t ph = static_cast<uint8_t>(kStrL0 + k);
  uint32_t aux = (high << 16) | w;
  if (!escape_feasible(f, ph, aux)) return;
  Frame* r = arena_.copy(f);
  r->phase = ph;
  r->aux = aux;
  out.push(r);
}

}  // namespace hearth::grammar
