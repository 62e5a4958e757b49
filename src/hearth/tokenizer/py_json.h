// JSON text exactly as Python's json.dumps(x, ensure_ascii=False) writes it, which is what
// transformers' `tojson` Jinja filter produces in chat templates: ", " and ": " separators,
// keys in the object's order, non-ASCII kept, floats as Python's repr.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace hearth::tok_detail {

template <typename Json>
void python_json_dump(const Json& j, std::string& out);

template <typename Json>
std::string python_json_dumps(const Json& j) {
  std::string s;
  python_json_dump(j, s);
  return s;
}

// Python's repr() of a float (shortest round-trip digits; exponent form outside 1e-4..1e16).
std::string python_float_repr(double d);

}  // namespace hearth::tok_detail
