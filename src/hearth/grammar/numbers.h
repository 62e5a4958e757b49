// Numeric constraints (type integer/number, bounds, enum/const values, multipleOf with an
// integer divisor) and the two questions the matcher asks while a number is being written:
// can this prefix still become an accepted number, and is the finished text accepted.
// Exponents are accepted (at most 4 exponent digits when the number is constrained), except
// with multipleOf and for integers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hearth/grammar/decimal.h"

namespace hearth::grammar {

enum class NumPhase : uint8_t {
  Minus,      // "-"
  Zero,       // "0" or "-0"
  Int,        // integer digits, first one nonzero
  Dot,        // "...."
  Frac,       // fraction digits
  Exp,        // "...e"
  ExpSign,    // "...e+"
  ExpDigits,  // exponent digits
};

struct NumSpec {
  bool integer = false;
  std::optional<Decimal> lo, hi;
  bool lo_excl = false, hi_excl = false;
  std::optional<uint64_t> multiple_of;  // integer divisor
  bool has_enum = false;
  std::vector<Decimal> enum_values;  // when has_enum
  std::vector<Decimal> excluded;     // values removed by `not`

  bool needs_text() const {
    return lo || hi || multiple_of || has_enum || !excluded.empty();
  }
  bool allows_frac() const { return !integer; }
  bool allows_exp() const { return !integer && !multiple_of; }
  bool operator==(const NumSpec& o) const;
  std::string key() const;  // canonical text, for interning
};

// Whether some completion of `prefix` (a number being written, in `phase`) is accepted.
bool num_feasible(const NumSpec& spec, std::string_view prefix, NumPhase phase);
// Whether a value is accepted.
bool num_accepts_value(const NumSpec& spec, const Decimal& v);
// Whether the complete number text is accepted.
bool num_accepts(const NumSpec& spec, std::string_view text);
// Whether any number at all is accepted.
bool num_nonempty(const NumSpec& spec);
// Intersection; nullopt when provably empty.
std::optional<NumSpec> num_intersect(const NumSpec& a, const NumSpec& b);

}  // namespace hearth::grammar
