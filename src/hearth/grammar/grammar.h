// Public entry points of the constrained-decoding engine: compile a JSON Schema (or the
// json_object mode, a regex, a choice list) once into an immutable Grammar, then run one
// Matcher per request over the model's vocabulary (matcher.h).
//
// Fail closed: a schema keyword hearth does not enforce makes compilation throw
// SchemaUnsupported naming the keyword and its JSON pointer; nothing is silently left
// unconstrained. Keywords outside the JSON Schema vocabulary (vendor extensions) and `format`
// values the specification does not define are annotations and are ignored, as the
// specification prescribes.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hearth/core/error.h"
#include "hearth/grammar/schema_ir.h"

namespace hearth::grammar {

// The schema cannot be enforced (unsupported keyword, invalid schema, unresolvable $ref).
class SchemaUnsupported : public hearth::Error {
 public:
  explicit SchemaUnsupported(const std::string& what) : hearth::Error(what) {}
};

struct CompileOptions {
  // Compact output (no whitespace) unless set; then at most max_whitespace consecutive
  // whitespace bytes where JSON allows them, so a model cannot loop on whitespace.
  bool flexible_whitespace = false;
  uint32_t max_whitespace = 8;
  // Refuse `format` values the specification does not define instead of ignoring them.
  bool strict_formats = false;
  // Maximum nesting of arrays and objects in generated values.
  uint32_t max_depth = 64;
};

class Grammar {
 public:
  static std::shared_ptr<const Grammar> from_json_schema(const nlohmann::json& schema,
                                                         const CompileOptions& opts = {});
  static std::shared_ptr<const Grammar> from_json_schema_text(std::string_view text,
                                                              const CompileOptions& opts = {});
  // Any JSON object (OpenAI's json_object response format).
  static std::shared_ptr<const Grammar> any_json_object(const CompileOptions& opts = {});
  // The whole output must match the regex (full match, ECMAScript syntax subset).
  static std::shared_ptr<const Grammar> from_regex(const std::string& pattern);
  // The whole output must be one of the strings.
  static std::shared_ptr<const Grammar> from_choices(const std::vector<std::string>& choices);

  const GrammarData& data() const { return data_; }
  explicit Grammar(GrammarData d) : data_(std::move(d)) {}

 private:
  GrammarData data_;
};

// Compiles into GrammarData (used by Grammar::from_json_schema).
GrammarData compile_json_schema(const nlohmann::json& schema, const CompileOptions& opts);
uint64_t next_grammar_uid();

}  // namespace hearth::grammar
