// JSON Schema `format` values hearth enforces, as regular languages (RFC 3339 dates and
// times with real month lengths and leap years, RFC 3986 URIs, RFC 1123 host names, ...).
#pragma once

#include <string>

#include "hearth/grammar/dfa_info.h"

namespace hearth::grammar {

enum class FormatKind {
  Enforced,     // compiled to an automaton
  Unsupported,  // a format the JSON Schema specification defines that hearth cannot enforce
  Unknown,      // not defined by the specification: an annotation, as the spec prescribes
};

FormatKind format_kind(const std::string& name);
// The automaton for an enforced format (process-wide, compiled once); nullptr otherwise.
const InternedDfa* dfa_for_format(const std::string& name);
// Upper bound on the length in code points some formats also impose (hostname: 253).
uint32_t format_max_length(const std::string& name);
// The regex source (anchored) for an enforced format, for tests.
std::string format_regex(const std::string& name);

}  // namespace hearth::grammar
