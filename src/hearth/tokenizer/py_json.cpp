#include "hearth/tokenizer/py_json.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "hearth/core/error.h"

namespace hearth::tok_detail {
namespace {

void append_string(const std::string& s, std::string& out) {
  out.push_back('"');
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

}  // namespace

std::string python_float_repr(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";  // json.dumps spelling
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, r.ptr);
  // sci: [-]D[.DDD]e(+|-)XX
  std::string out;
  size_t i = 0;
  if (sci[0] == '-') {
    out.push_back('-');
    i = 1;
  }
  const size_t e = sci.find('e');
  std::string digits;
  for (size_t k = i; k < e; ++k) {
    if (sci[k] != '.') digits.push_back(sci[k]);
  }
  const int exp10 = std::stoi(sci.substr(e + 1));
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  const int decpt = exp10 + 1;  // digits d1d2... mean 0.d1d2... * 10^decpt
  const int nd = static_cast<int>(digits.size());
  if (decpt <= -4 || decpt > 16) {
    out += digits[0];
    if (nd > 1) {
      out.push_back('.');
      out.append(digits, 1, std::string::npos);
    }
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    out += eb;
  } else if (decpt <= 0) {
    out += "0.";
    out.append(static_cast<size_t>(-decpt), '0');
    out += digits;
  } else if (decpt >= nd) {
    out += digits;
    out.append(static_cast<size_t>(decpt - nd), '0');
    out += ".0";
  } else {
    out.append(digits, 0, static_cast<size_t>(decpt));
    out.push_back('.');
    out.append(digits, static_cast<size_t>(decpt), std::string::npos);
  }
  return out;
}

namespace {

constexpr int kMaxDepth = 256;  // deeper values are refused rather than risking the stack

template <typename Json>
void dump(const Json& j, std::string& out, int depth) {
  if (depth > kMaxDepth) fail("tojson: value nested deeper than {} levels", kMaxDepth);
  switch (j.type()) {
    case nlohmann::json::value_t::null: out += "null"; return;
    case nlohmann::json::value_t::boolean: out += j.template get<bool>() ? "true" : "false"; return;
    case nlohmann::json::value_t::number_integer: out += std::to_string(j.template get<int64_t>()); return;
    case nlohmann::json::value_t::number_unsigned: out += std::to_string(j.template get<uint64_t>()); return;
    case nlohmann::json::value_t::number_float: out += python_float_repr(j.template get<double>()); return;
    case nlohmann::json::value_t::string: append_string(j.template get_ref<const std::string&>(), out); return;
    case nlohmann::json::value_t::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& v : j) {
        if (!first) out += ", ";
        first = false;
        dump(v, out, depth + 1);
      }
      out.push_back(']');
      return;
    }
    case nlohmann::json::value_t::object: {
      out.push_back('{');
      bool first = true;
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (!first) out += ", ";
        first = false;
        append_string(it.key(), out);
        out += ": ";
        dump(it.value(), out, depth + 1);
      }
      out.push_back('}');
      return;
    }
    default:
      fail("tojson: binary or discarded JSON values cannot be written");
  }
}

}  // namespace

template <typename Json>
void python_json_dump(const Json& j, std::string& out) {
  dump(j, out, 0);
}

template void python_json_dump<nlohmann::json>(const nlohmann::json&, std::string&);
template void python_json_dump<nlohmann::ordered_json>(const nlohmann::ordered_json&, std::string&);

}  // namespace hearth::tok_detail
