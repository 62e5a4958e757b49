#include "hearth/grammar/decimal.h"

#include <algorithm>

namespace hearth::grammar {

namespace {

// std::string::insert(0, ...) trips a GCC 12 -Wrestrict false positive; build a new string.
void prepend(std::string& s, size_t n, char c) {
  std::string t(n, c);
  t += s;
  s.swap(t);
}

void normalize(Decimal& d) {
  size_t lead = 0;
  while (lead < d.digits.size() && d.digits[lead] == '0') ++lead;
  d.digits.erase(0, lead);
  while (!d.digits.empty() && d.digits.back() == '0') {
    d.digits.pop_back();
    ++d.exp;
  }
  if (d.digits.empty()) {
    d.neg = false;
    d.exp = 0;
  }
}

// Compares magnitudes.
int compare_abs(const Decimal& a, const Decimal& b) {
  if (a.digits.empty() || b.digits.empty()) {
    return a.digits.empty() ? (b.digits.empty() ? 0 : -1) : 1;
  }
  // Order of magnitude of the leading digit.
  int64_t ma = static_cast<int64_t>(a.digits.size()) + a.exp;
  int64_t mb = static_cast<int64_t>(b.digits.size()) + b.exp;
  if (ma != mb) return ma < mb ? -1 : 1;
  size_t n = std::max(a.digits.size(), b.digits.size());
  for (size_t i = 0; i < n; ++i) {
    char ca = i < a.digits.size() ? a.digits[i] : '0';
    char cb = i < b.digits.size() ? b.digits[i] : '0';
    if (ca != cb) return ca < cb ? -1 : 1;
  }
  return 0;
}

// Magnitude plus 10^k (k may be below or above the current digits).
Decimal add_pow10_abs(const Decimal& a, int64_t k) {
  Decimal r = a;
  r.neg = false;
  if (r.digits.empty()) {
    r.digits.assign(1, '1');
    r.exp = k;
    return r;
  }
  if (k < r.exp) {
    r.digits.append(static_cast<size_t>(r.exp - k), '0');
    r.exp = k;
  }
  int64_t top = static_cast<int64_t>(r.digits.size()) + r.exp;  // exponent above the leading digit
  if (k >= top) {
    prepend(r.digits, static_cast<size_t>(k - top + 1), '0');
  }
  size_t pos = r.digits.size() - 1 - static_cast<size_t>(k - r.exp);
  for (;;) {
    if (r.digits[pos] == '9') {
      r.digits[pos] = '0';
      if (pos == 0) {
        prepend(r.digits, 1, '1');
        break;
      }
      --pos;
    } else {
      ++r.digits[pos];
      break;
    }
  }
  normalize(r);
  return r;
}

}  // namespace

std::optional<Decimal> Decimal::parse(std::string_view s) {
  Decimal d;
  size_t i = 0;
  if (i < s.size() && s[i] == '-') {
    d.neg = true;
    ++i;
  }
  size_t int_start = i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  if (i == int_start) return std::nullopt;
  d.digits.assign(s.substr(int_start, i - int_start));
  if (i < s.size() && s[i] == '.') {
    ++i;
    size_t f = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == f) return std::nullopt;
    d.digits.append(s.substr(f, i - f));
    d.exp -= static_cast<int64_t>(i - f);
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool eneg = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
      eneg = s[i] == '-';
      ++i;
    }
    size_t e0 = i;
    int64_t e = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (e < 100000000) e = e * 10 + (s[i] - '0');
      ++i;
    }
    if (i == e0) return std::nullopt;
    d.exp += eneg ? -e : e;
  }
  if (i != s.size()) return std::nullopt;
  normalize(d);
  return d;
}

Decimal Decimal::from_int(int64_t v) {
  Decimal d;
  d.neg = v < 0;
  uint64_t m = v < 0 ? static_cast<uint64_t>(-(v + 1)) + 1 : static_cast<uint64_t>(v);
  d.digits = std::to_string(m);
  normalize(d);
  return d;
}

Decimal Decimal::negate() const {
  Decimal r = *this;
  if (!r.digits.empty()) r.neg = !r.neg;
  return r;
}

Decimal Decimal::shift(int64_t k) const {
  Decimal r = *this;
  if (!r.digits.empty()) r.exp += k;
  return r;
}

Decimal Decimal::add_ulp(int64_t k) const {
  Decimal r = add_pow10_abs(*this, k);
  r.neg = neg && !r.digits.empty();
  return r;
}

Decimal Decimal::floor() const {
  if (is_integer()) return *this;
  Decimal r = *this;
  int64_t keep = static_cast<int64_t>(r.digits.size()) + r.exp;  // integer digits
  bool neg_ = r.neg;
  if (keep <= 0) {
    r = Decimal{};
  } else {
    r.digits.resize(static_cast<size_t>(keep));
    r.exp = 0;
    normalize(r);
    r.neg = neg_ && !r.digits.empty();
  }
  if (neg_) {
    // Truncation moved a negative number up; one more down.
    Decimal one = add_pow10_abs(r, 0);
    one.neg = true;
    return one;
  }
  return r;
}

Decimal Decimal::ceil() const { return negate().floor().negate(); }

std::string Decimal::str() const {
  if (digits.empty()) return "0";
  std::string s = neg ? "-" : "";
  s += digits;
  if (exp != 0) {
    s += 'e';
    s += std::to_string(exp);
  }
  return s;
}

int compare(const Decimal& a, const Decimal& b) {
  bool an = a.neg && !a.digits.empty(), bn = b.neg && !b.digits.empty();
  if (an != bn) return an ? -1 : 1;
  int c = compare_abs(a, b);
  return an ? -c : c;
}

namespace {

// Magnitude arithmetic on digit strings aligned to a common exponent.
std::string aligned(const Decimal& a, int64_t e, size_t width) {
  std::string s = a.digits;
  s.append(static_cast<size_t>(a.exp - e), '0');
  if (s.size() < width) prepend(s, width - s.size(), '0');
  return s;
}

Decimal add_abs(const Decimal& a, const Decimal& b) {
  int64_t e = std::min(a.exp, b.exp);
  size_t w = std::max(a.digits.size() + static_cast<size_t>(a.exp - e),
                      b.digits.size() + static_cast<size_t>(b.exp - e)) + 1;
  std::string x = aligned(a, e, w), y = aligned(b, e, w), r(w, '0');
  int carry = 0;
  for (size_t i = w; i-- > 0;) {
    int v = (x[i] - '0') + (y[i] - '0') + carry;
    r[i] = static_cast<char>('0' + v % 10);
    carry = v / 10;
  }
  Decimal d;
  d.digits = r;
  d.exp = e;
  normalize(d);
  return d;
}

// |a| - |b| with |a| >= |b|.
Decimal sub_abs(const Decimal& a, const Decimal& b) {
  int64_t e = std::min(a.exp, b.exp);
  size_t w = std::max(a.digits.size() + static_cast<size_t>(a.exp - e),
                      b.digits.size() + static_cast<size_t>(b.exp - e));
  std::string x = aligned(a, e, w), y = aligned(b, e, w), r(w, '0');
  int borrow = 0;
  for (size_t i = w; i-- > 0;) {
    int v = (x[i] - '0') - (y[i] - '0') - borrow;
    borrow = v < 0;
    if (v < 0) v += 10;
    r[i] = static_cast<char>('0' + v);
  }
  Decimal d;
  d.digits = r;
  d.exp = e;
  normalize(d);
  return d;
}

}  // namespace

Decimal add(const Decimal& a, const Decimal& b) {
  if (a.is_zero()) return b;
  if (b.is_zero()) return a;
  if (a.neg == b.neg) {
    Decimal r = add_abs(a, b);
    r.neg = a.neg && !r.digits.empty();
    return r;
  }
  int c = compare_abs(a, b);
  if (c == 0) return Decimal{};
  Decimal r = c > 0 ? sub_abs(a, b) : sub_abs(b, a);
  r.neg = (c > 0 ? a.neg : b.neg) && !r.digits.empty();
  return r;
}

Decimal sub(const Decimal& a, const Decimal& b) { return add(a, b.negate()); }

uint64_t mod_abs(const Decimal& a, uint64_t m) {
  // m <= 10^17 (callers check), so r * 10 + 9 never overflows.
  uint64_t r = 0;
  for (char c : a.digits) r = (r * 10 + static_cast<uint64_t>(c - '0')) % m;
  for (int64_t i = 0; i < a.exp && r != 0; ++i) r = (r * 10) % m;
  return r;
}

}  // namespace hearth::grammar
