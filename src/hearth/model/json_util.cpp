#include "hearth/model/json_util.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include "hearth/core/error.h"

namespace hearth::model_detail {

std::string read_text_file(const std::string& path, size_t max_bytes) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) fail("{}: cannot open: {}", path, std::strerror(errno));
  std::string text;
  char buf[1 << 16];
  for (;;) {
    const size_t n = std::fread(buf, 1, sizeof buf, f.get());
    if (n > 0) {
      if (text.size() + n > max_bytes) fail("{}: larger than {} bytes; not a config file", path, max_bytes);
      text.append(buf, n);
    }
    if (n < sizeof buf) {
      if (std::ferror(f.get())) fail("{}: read error: {}", path, std::strerror(errno));
      break;
    }
  }
  return text;
}

json parse_json(std::string_view text, const std::string& source) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    // Drop nlohmann's "[json.exception.parse_error.101] " tag: users need the position only.
    std::string what = e.what();
    if (const size_t p = what.find("] "); what.rfind("[json.exception", 0) == 0 && p != std::string::npos)
      what = what.substr(p + 2);
    fail("{}: malformed JSON: {}", source, what);
  }
}

std::string describe(const json& v) {
  // Never dump containers: a hostile file can nest them deeply and dump() recurses.
  if (v.is_array()) return fmt::format("an array of {}", v.size());
  if (v.is_object()) return fmt::format("an object of {} keys", v.size());
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

std::optional<int64_t> as_int(const json& v, int64_t min, int64_t max) {
  int64_t x = 0;
  if (v.is_number_integer()) {
    if (v.is_number_unsigned()) {
      const uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
      x = static_cast<int64_t>(u);
    } else {
      x = v.get<int64_t>();
    }
  } else if (v.is_number_float()) {
    const double d = v.get<double>();
    // |d| < 2^62 keeps the cast defined; integral check rejects 1.5.
    if (!std::isfinite(d) || std::fabs(d) >= 4.6e18 || d != std::floor(d)) return std::nullopt;
    x = static_cast<int64_t>(d);
  } else {
    return std::nullopt;
  }
  if (x < min || x > max) return std::nullopt;
  return x;
}

const json* JsonFields::get(std::string_view key) const {
  const auto it = obj_.find(key);
  if (it == obj_.end() || it->is_null()) return nullptr;
  return &*it;
}

void JsonFields::fail_field(std::string_view key, const std::string& problem) const {
  fail("{}: {}: {}", source_, field(key), problem);
}

std::optional<int64_t> JsonFields::opt_int(std::string_view key, int64_t min, int64_t max) const {
  const json* v = get(key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number()) fail_field(key, fmt::format("expected an integer, got {}", describe(*v)));
  const auto x = as_int(*v, min, max);
  if (!x) fail_field(key, fmt::format("expected an integer in [{}, {}], got {}", min, max, describe(*v)));
  return x;
}

int64_t JsonFields::req_int(std::string_view key, int64_t min, int64_t max) const {
  const auto x = opt_int(key, min, max);
  if (!x) fail_field(key, "missing (required)");
  return *x;
}

std::optional<double> JsonFields::opt_number(std::string_view key) const {
  const json* v = get(key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number()) fail_field(key, fmt::format("expected a number, got {}", describe(*v)));
  const double d = v->get<double>();
  if (!std::isfinite(d)) fail_field(key, fmt::format("expected a finite number, got {}", describe(*v)));
  return d;
}

std::optional<bool> JsonFields::opt_bool(std::string_view key) const {
  const json* v = get(key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_boolean()) fail_field(key, fmt::format("expected true or false, got {}", describe(*v)));
  return v->get<bool>();
}

std::optional<std::string> JsonFields::opt_string(std::string_view key) const {
  const json* v = get(key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) fail_field(key, fmt::format("expected a string, got {}", describe(*v)));
  return v->get<std::string>();
}

const json* JsonFields::opt_object(std::string_view key) const {
  const json* v = get(key);
  if (v != nullptr && !v->is_object())
    fail_field(key, fmt::format("expected an object, got {}", describe(*v)));
  return v;
}

const json* JsonFields::opt_array(std::string_view key) const {
  const json* v = get(key);
  if (v != nullptr && !v->is_array())
    fail_field(key, fmt::format("expected an array, got {}", describe(*v)));
  return v;
}

}  // namespace hearth::model_detail
