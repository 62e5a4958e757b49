// Internal to hearth/model: reading small JSON files (config.json, generation_config.json,
// model.safetensors.index.json) with errors of the form "<source>: <field>: <problem>".
// nlohmann::json exceptions never leave this module: every failure becomes hearth::Error.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hearth::model_detail {

using json = nlohmann::json;

// Whole file as text; config files are small, so anything past `max_bytes` is refused
// rather than read (a mistaken path to a multi-GB file must not be slurped).
std::string read_text_file(const std::string& path, size_t max_bytes = 64u << 20);

// Parses `text`; a syntax error becomes "<source>: malformed JSON: <detail>".
json parse_json(std::string_view text, const std::string& source);

// Typed access to the members of one JSON object. `prefix` is prepended to field names in
// messages ("rope_scaling." for a nested object). A member that is absent or null reads
// as "not given": HF writes null for unset optional fields.
class JsonFields {
 public:
  JsonFields(const json& obj, const std::string& source, std::string prefix = {})
      : obj_(obj), source_(source), prefix_(std::move(prefix)) {}

  const json* get(std::string_view key) const;
  bool has(std::string_view key) const { return get(key) != nullptr; }

  std::optional<int64_t> opt_int(std::string_view key, int64_t min, int64_t max) const;
  int64_t req_int(std::string_view key, int64_t min, int64_t max) const;
  std::optional<double> opt_number(std::string_view key) const;  // finite only
  std::optional<bool> opt_bool(std::string_view key) const;
  std::optional<std::string> opt_string(std::string_view key) const;
  const json* opt_object(std::string_view key) const;
  const json* opt_array(std::string_view key) const;

  std::string field(std::string_view key) const { return prefix_ + std::string(key); }
  [[noreturn]] void fail_field(std::string_view key, const std::string& problem) const;
  const std::string& source() const { return source_; }

 private:
  const json& obj_;
  const std::string& source_;
  std::string prefix_;
};

// A short rendering of a JSON value for error messages (bounded length).
std::string describe(const json& v);

// A JSON number as an integer in [min, max]; nullopt when it is not an integral number or
// is out of range. Integral floats (1024.0) are accepted, as Python's json would round-trip.
std::optional<int64_t> as_int(const json& v, int64_t min, int64_t max);

}  // namespace hearth::model_detail
