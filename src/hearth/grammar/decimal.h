// Exact decimal numbers for JSON Schema's numeric bounds: an instance is compared with the
// bound as written, never through binary floating point (0.1 <= 0.1 must hold).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hearth::grammar {

struct Decimal {
  bool neg = false;
  std::string digits;  // no leading or trailing zeros; empty means zero
  int64_t exp = 0;     // value = digits * 10^exp

  static std::optional<Decimal> parse(std::string_view json_number);
  static Decimal from_int(int64_t v);
  bool is_zero() const { return digits.empty(); }
  bool is_integer() const { return digits.empty() || exp >= 0; }
  Decimal floor() const;
  Decimal ceil() const;
  Decimal negate() const;
  // this * 10^k
  Decimal shift(int64_t k) const;
  // |this| + 10^k with the sign of this, used for "prefix + one unit in the last place"
  Decimal add_ulp(int64_t k) const;
  std::string str() const;
};

int compare(const Decimal& a, const Decimal& b);
Decimal add(const Decimal& a, const Decimal& b);
Decimal sub(const Decimal& a, const Decimal& b);
// Remainder of an integer-valued decimal's magnitude by m (0 < m <= 10^17).
uint64_t mod_abs(const Decimal& a, uint64_t m);
inline bool operator<(const Decimal& a, const Decimal& b) { return compare(a, b) < 0; }
inline bool operator==(const Decimal& a, const Decimal& b) { return compare(a, b) == 0; }

}  // namespace hearth::grammar
