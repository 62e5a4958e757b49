#include "hearth/grammar/numbers.h"

#include <algorithm>

namespace hearth::grammar {

namespace {

// An interval of reals with optional infinite ends.
struct Interval {
  bool lo_inf = true, hi_inf = true;
  Decimal lo, hi;
  bool lo_closed = false, hi_closed = false;
};

Interval bounds_of(const NumSpec& s) {
  Interval c;
  if (s.lo) {
    c.lo_inf = false;
    c.lo = *s.lo;
    c.lo_closed = !s.lo_excl;
  }
  if (s.hi) {
    c.hi_inf = false;
    c.hi = *s.hi;
    c.hi_closed = !s.hi_excl;
  }
  return c;
}

Interval meet(const Interval& a, const Interval& b) {
  Interval r;
  if (a.lo_inf) {
    r.lo_inf = b.lo_inf;
    r.lo = b.lo;
    r.lo_closed = b.lo_closed;
  } else if (b.lo_inf) {
    r.lo_inf = false;
    r.lo = a.lo;
    r.lo_closed = a.lo_closed;
  } else {
    r.lo_inf = false;
    int c = compare(a.lo, b.lo);
    r.lo = c >= 0 ? a.lo : b.lo;
    r.lo_closed = c > 0 ? a.lo_closed : c < 0 ? b.lo_closed : (a.lo_closed && b.lo_closed);
  }
  if (a.hi_inf) {
    r.hi_inf = b.hi_inf;
    r.hi = b.hi;
    r.hi_closed = b.hi_closed;
  } else if (b.hi_inf) {
    r.hi_inf = false;
    r.hi = a.hi;
    r.hi_closed = a.hi_closed;
  } else {
    r.hi_inf = false;
    int c = compare(a.hi, b.hi);
    r.hi = c <= 0 ? a.hi : b.hi;
    r.hi_closed = c < 0 ? a.hi_closed : c > 0 ? b.hi_closed : (a.hi_closed && b.hi_closed);
  }
  return r;
}

bool contains(const Interval& iv, const Decimal& v) {
  if (!iv.lo_inf) {
    int c = compare(v, iv.lo);
    if (c < 0 || (c == 0 && !iv.lo_closed)) return false;
  }
  if (!iv.hi_inf) {
    int c = compare(v, iv.hi);
    if (c > 0 || (c == 0 && !iv.hi_closed)) return false;
  }
  return true;
}

bool is_excluded(const NumSpec& s, const Decimal& v) {
  for (const Decimal& e : s.excluded) {
    if (e == v) return true;
  }
  return false;
}

bool multiple_ok(const NumSpec& s, const Decimal& v) {
  if (!s.multiple_of) return true;
  return v.is_integer() && mod_abs(v, *s.multiple_of) == 0;
}

// Integer bounds [L, U] of an interval (finite ends only).
Decimal int_lo(const Interval& iv) {
  Decimal c = iv.lo.ceil();
  if (!iv.lo_closed && c == iv.lo) c = add(c, Decimal::from_int(1));
  return c;
}
Decimal int_hi(const Interval& iv) {
  Decimal f = iv.hi.floor();
  if (!iv.hi_closed && f == iv.hi) f = sub(f, Decimal::from_int(1));
  return f;
}

// Whether `iv` (reals, or integers when `integer`) holds a value the spec accepts, ignoring
// enum (callers handle enum by membership).
bool interval_feasible(const NumSpec& s, const Interval& iv, bool integer) {
  if (integer || s.multiple_of) {
    bool lo_inf = iv.lo_inf, hi_inf = iv.hi_inf;
    Decimal L, U;
    if (!lo_inf) L = int_lo(iv);
    if (!hi_inf) U = int_hi(iv);
    if (!lo_inf && !hi_inf && compare(L, U) > 0) return false;
    if (s.multiple_of) {
      if (lo_inf || hi_inf) return true;  // an unbounded integer range holds multiples
      Decimal m = Decimal::from_int(static_cast<int64_t>(*s.multiple_of));
      // First multiple at or above L.
      uint64_t r = mod_abs(L, *s.multiple_of);
      Decimal first = L;
      if (r != 0) {
        Decimal step = L.neg ? Decimal::from_int(static_cast<int64_t>(r))
                             : Decimal::from_int(static_cast<int64_t>(*s.multiple_of - r));
        first = add(L, step);
      }
      // Excluded points are finitely many; skip past them.
      for (size_t guard = 0; guard <= s.excluded.size(); ++guard) {
        if (compare(first, U) > 0) return false;
        if (!is_excluded(s, first)) return true;
        first = add(first, m);
      }
      return false;
    }
    if (lo_inf || hi_inf || s.excluded.empty()) return true;
    Decimal x = L;
    for (size_t guard = 0; guard <= s.excluded.size(); ++guard) {
      if (compare(x, U) > 0) return false;
      if (!is_excluded(s, x)) return true;
      x = add(x, Decimal::from_int(1));
    }
    return false;
  }
  if (iv.lo_inf || iv.hi_inf) return true;
  int c = compare(iv.lo, iv.hi);
  if (c < 0) return true;  // a continuum; finitely many exclusions cannot empty it
  if (c > 0) return false;
  return iv.lo_closed && iv.hi_closed && !is_excluded(s, iv.lo);
}

bool enum_feasible(const NumSpec& s, const Interval& piece) {
  for (const Decimal& v : s.enum_values) {
    if (contains(piece, v) && num_accepts_value(s, v)) return true;
  }
  return false;
}

}  // namespace

bool num_accepts_value(const NumSpec& s, const Decimal& v) {
  if (s.integer && !v.is_integer()) return false;
  if (!contains(bounds_of(s), v)) return false;
  if (!multiple_ok(s, v)) return false;
  if (is_excluded(s, v)) return false;
  if (s.has_enum) {
    bool found = false;
    for (const Decimal& e : s.enum_values) found = found || e == v;
    if (!found) return false;
  }
  return true;
}

bool num_accepts(const NumSpec& s, std::string_view text) {
  if (!s.needs_text() && !s.integer) return true;
  std::optional<Decimal> v = Decimal::parse(text);
  if (!v) return false;
  if (s.integer && (text.find('.') != std::string_view::npos || text.find('e') != std::string_view::npos ||
                    text.find('E') != std::string_view::npos)) {
    return false;
  }
  return num_accepts_value(s, *v);
}

namespace {

constexpr int64_t kMaxExp = 9999;  // exponents of constrained numbers: at most 4 digits

int64_t order_of(const Decimal& x) { return static_cast<int64_t>(x.digits.size()) + x.exp; }

// Magnitudes on one side of zero that the bounds allow: [lo, hi] (hi infinite when
// hi_inf), as an Interval over magnitudes.
Interval side_magnitudes(const Interval& c, bool neg) {
  Interval m;
  if (!neg) {
    m = c;
  } else {
    m.lo_inf = c.hi_inf;
    m.lo = c.hi.negate();
    m.lo_closed = c.hi_closed;
    m.hi_inf = c.lo_inf;
    m.hi = c.lo.negate();
    m.hi_closed = c.lo_closed;
  }
  return m;
}

}  // namespace

bool num_feasible(const NumSpec& s, std::string_view prefix, NumPhase phase) {
  if (!s.needs_text()) return true;
  bool neg = !prefix.empty() && prefix[0] == '-';
  std::string_view body = prefix.substr(neg ? 1 : 0);
  size_t epos = body.find_first_of("eE");
  std::string_view mantissa = body.substr(0, epos);
  size_t dot = mantissa.find('.');
  std::string_view int_part = mantissa.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : mantissa.substr(dot + 1);
  const Interval bounds = bounds_of(s);
  bool integer = s.integer;

  // Pieces of magnitudes reachable from the prefix, as [a, b) (b infinite when unbounded),
  // mirrored for negative numbers.
  auto check_piece = [&](const Decimal& a, const Decimal* b, bool a_closed) {
    Interval piece;
    if (!neg) {
      piece.lo_inf = false;
      piece.lo = a;
      piece.lo_closed = a_closed;
      if (b) {
        piece.hi_inf = false;
        piece.hi = *b;
        piece.hi_closed = false;
      }
    } else {
      piece.hi_inf = false;
      piece.hi = a.negate();
      piece.hi_closed = a_closed;
      if (b) {
        piece.lo_inf = false;
        piece.lo = b->negate();
        piece.lo_closed = false;
      }
    }
    if (s.has_enum) return enum_feasible(s, piece);
    return interval_feasible(s, meet(piece, bounds), integer);
  };

  // With an exponent still to come, the mantissa piece [a, b) scales by any power of ten.
  auto scaled = [&](const Decimal& a, const Decimal& b) {
    if (!s.allows_exp()) return false;
    if (a.is_zero()) return check_piece(Decimal{}, nullptr, true);
    const Interval mag = side_magnitudes(bounds, neg);
    if (s.has_enum) {
      for (const Decimal& v : s.enum_values) {
        if (v.is_zero() || v.neg != neg) continue;
        Decimal av = neg ? v.negate() : v;
        for (int64_t d = -1; d <= 1; ++d) {
          int64_t e = order_of(av) - order_of(a) + d;
          if (e < -kMaxExp || e > kMaxExp) continue;
          Decimal pa = a.shift(e), pb = b.shift(e);
          if (compare(av, pa) >= 0 && compare(av, pb) < 0 && num_accepts_value(s, v)) return true;
        }
      }
      return false;
    }
    // Unbounded above on this side, or reaching down to zero: some power of ten fits.
    if (mag.hi_inf) return true;
    if (mag.hi.neg || mag.hi.is_zero()) return false;
    if (mag.lo_inf || mag.lo.neg || mag.lo.is_zero()) return true;
    int64_t from = order_of(mag.lo) - order_of(b) - 1, to = order_of(mag.hi) - order_of(a) + 1;
    from = std::max(from, -kMaxExp);
    to = std::min(to, kMaxExp);
    for (int64_t e = from; e <= to && e - from < 800; ++e) {
      Decimal pa = a.shift(e), pb = b.shift(e);
      if (check_piece(pa, &pb, true)) return true;
    }
    return false;
  };

  switch (phase) {
    case NumPhase::Minus: return check_piece(Decimal{}, nullptr, true);
    case NumPhase::Zero: {
      Decimal one = Decimal::from_int(1);
      // Only 0 itself over the integers; [0, 1) with a fraction; anything with an exponent.
      if (check_piece(Decimal{}, &one, true)) return true;
      return scaled(Decimal{}, one);
    }
    case NumPhase::Int: {
      Decimal I = *Decimal::parse(int_part);
      Decimal I1 = I.add_ulp(0);
      if (!integer && scaled(I, I1)) return true;
      // The integer part has these digits followed by k more, k >= 0.
      const Decimal* far = neg ? (bounds.lo_inf ? nullptr : &bounds.lo) : (bounds.hi_inf ? nullptr : &bounds.hi);
      int64_t max_k = 0;
      if (s.has_enum) {
        for (const Decimal& v : s.enum_values) max_k = std::max<int64_t>(max_k, order_of(v));
      } else if (far) {
        max_k = order_of(*far);
      } else {
        // Unbounded away from zero: appending digits reaches every constraint on the other
        // side, and a long enough integer range holds multiples and avoids finite exclusions.
        return true;
      }
      max_k = max_k - static_cast<int64_t>(int_part.size()) + 2;
      if (max_k > 400) max_k = 400;
      for (int64_t k = 0; k <= std::max<int64_t>(max_k, 0); ++k) {
        Decimal a = I.shift(k);
        Decimal b = I1.shift(k);
        if (check_piece(a, &b, true)) return true;
      }
      return false;
    }
    case NumPhase::Dot: {
      Decimal I = *Decimal::parse(int_part);
      Decimal b = I.add_ulp(0);
      return check_piece(I, &b, true) || scaled(I, b);
    }
    case NumPhase::Frac: {
      std::string text(int_part);
      text += '.';
      text += frac;
      Decimal a = *Decimal::parse(text);
      Decimal b = a.add_ulp(-static_cast<int64_t>(frac.size()));
      return check_piece(a, &b, true) || scaled(a, b);
    }
    default: break;
  }
  // In the exponent: the mantissa is fixed, the exponent is a prefix of digits.
  if (!s.allows_exp() || epos == std::string_view::npos) return false;
  std::string mtext(int_part);
  if (!frac.empty()) {
    mtext += '.';
    mtext += frac;
  }
  Decimal m = *Decimal::parse(mtext);
  std::string_view et = body.substr(epos + 1);
  int sign = 0;  // 0: either, 1: +, -1: -
  if (!et.empty() && (et[0] == '+' || et[0] == '-')) {
    sign = et[0] == '-' ? -1 : 1;
    et.remove_prefix(1);
  }
  if (et.size() > 4) return false;
  std::vector<std::pair<int64_t, int64_t>> ranges;  // exponent ranges reachable
  if (et.empty()) {
    ranges.push_back({sign > 0 ? 0 : -kMaxExp, sign < 0 ? 0 : kMaxExp});
  } else {
    int64_t d = 0;
    for (char ch : et) d = d * 10 + (ch - '0');
    int64_t p = 1;
    for (size_t k = 0; et.size() + k <= 4; ++k, p *= 10) {
      int64_t lo = d * p, hi = d * p + p - 1;
      if (sign < 0) ranges.push_back({-hi, -lo});
      else ranges.push_back({lo, hi});
    }
  }
  auto value = [&](int64_t e) {
    Decimal v = m.shift(e);
    return neg ? v.negate() : v;
  };
  for (const auto& [e1, e2] : ranges) {
    if (m.is_zero()) {
      if (num_accepts_value(s, Decimal{})) return true;
      continue;
    }
    if (s.has_enum) {
      for (const Decimal& v : s.enum_values) {
        if (v.is_zero() || v.neg != neg || v.digits != m.digits) continue;
        int64_t e = v.exp - m.exp;
        if (e >= e1 && e <= e2 && num_accepts_value(s, v)) return true;
      }
      continue;
    }
    // |value| grows with the exponent: find the exponents whose value is within bounds.
    auto within_lo = [&](int64_t e) {
      Decimal v = value(e);
      if (bounds.lo_inf) return true;
      int c = compare(v, bounds.lo);
      return c > 0 || (c == 0 && bounds.lo_closed);
    };
    auto within_hi = [&](int64_t e) {
      Decimal v = value(e);
      if (bounds.hi_inf) return true;
      int c = compare(v, bounds.hi);
      return c < 0 || (c == 0 && bounds.hi_closed);
    };
    // For positive values within_lo is monotone false->true and within_hi true->false in e;
    // for negative values the other way round.
    auto first_true = [&](auto pred, int64_t a, int64_t b) {  // pred monotone false->true
      if (!pred(b)) return b + 1;
      while (a < b) {
        int64_t mid = a + (b - a) / 2;
        if (pred(mid)) b = mid;
        else a = mid + 1;
      }
      return a;
    };
    int64_t lo_e, hi_e;
    if (!neg) {
      lo_e = first_true(within_lo, e1, e2);
      hi_e = first_true([&](int64_t e) { return !within_hi(e); }, e1, e2) - 1;
    } else {
      lo_e = first_true(within_hi, e1, e2);
      hi_e = first_true([&](int64_t e) { return !within_lo(e); }, e1, e2) - 1;
    }
    for (int64_t e = lo_e; e <= hi_e && e - lo_e <= static_cast<int64_t>(s.excluded.size()); ++e) {
      if (num_accepts_value(s, value(e))) return true;
    }
  }
  return false;
}

bool num_nonempty(const NumSpec& s) {
  if (s.has_enum) {
    for (const Decimal& v : s.enum_values) {
      if (num_accepts_value(s, v)) return true;
    }
    return false;
  }
  return interval_feasible(s, bounds_of(s), s.integer);
}

std::optional<NumSpec> num_intersect(const NumSpec& a, const NumSpec& b) {
  NumSpec r;
  r.integer = a.integer || b.integer;
  Interval iv = meet(bounds_of(a), bounds_of(b));
  if (!iv.lo_inf) {
    r.lo = iv.lo;
    r.lo_excl = !iv.lo_closed;
  }
  if (!iv.hi_inf) {
    r.hi = iv.hi;
    r.hi_excl = !iv.hi_closed;
  }
  if (a.multiple_of && b.multiple_of) {
    uint64_t x = *a.multiple_of, y = *b.multiple_of;
    uint64_t g = x, h = y;
    while (h) {
      uint64_t t = g % h;
      g = h;
      h = t;
    }
    uint64_t l = x / g;
    if (l > 100000000000000000ull / y) return std::nullopt;  // lcm too large to check
    r.multiple_of = l * y;
  } else {
    r.multiple_of = a.multiple_of ? a.multiple_of : b.multiple_of;
  }
  r.excluded = a.excluded;
  r.excluded.insert(r.excluded.end(), b.excluded.begin(), b.excluded.end());
  if (a.has_enum || b.has_enum) {
    r.has_enum = true;
    const std::vector<Decimal>& src = a.has_enum ? a.enum_values : b.enum_values;
    for (const Decimal& v : src) {
      if (num_accepts_value(a, v) && num_accepts_value(b, v)) r.enum_values.push_back(v);
    }
  }
  if (!num_nonempty(r)) return std::nullopt;
  return r;
}

bool NumSpec::operator==(const NumSpec& o) const { return key() == o.key(); }

std::string NumSpec::key() const {
  std::string k = integer ? "i" : "n";
  if (lo) {
    k += lo_excl ? ">" : ">=";
    k += lo->str();
  }
  if (hi) {
    k += hi_excl ? "<" : "<=";
    k += hi->str();
  }
  if (multiple_of) {
    k += '%';
    k += std::to_string(*multiple_of);
  }
  if (has_enum) {
    k += "{";
    for (const Decimal& v : enum_values) {
      k += v.str();
      k += ',';
    }
    k += "}";
  }
  if (!excluded.empty()) {
    k += "!{";
    for (const Decimal& v : excluded) {
      k += v.str();
      k += ',';
    }
    k += "}";
  }
  return k;
}

}  // namespace hearth::grammar
