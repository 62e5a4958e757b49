// The tokenizer's tokens as the grammar matcher sees them (CLI glue: grammar/ does not
// depend on tokenizer/): raw bytes per id; `stop_ids` end a value (EOS), the other special
// tokens are never allowed inside one.
#pragma once

#include <algorithm>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_io.h"
#include "hearth/core/error.h"
#include "hearth/grammar/grammar.h"
#include "hearth/grammar/vocabulary.h"
#include "hearth/sampling/constrained_decoder.h"
#include "hearth/tokenizer/tokenizer.h"

namespace hearth::cli {

inline std::shared_ptr<const grammar::Vocabulary> grammar_vocabulary(const Tokenizer& tok,
                                                                     std::span<const int> stop_ids) {
  std::vector<std::string> bytes(static_cast<size_t>(tok.vocab_size()));
  for (int32_t i = 0; i < tok.vocab_size(); ++i) bytes[static_cast<size_t>(i)] = tok.token_bytes(i);
  std::vector<int32_t> stops, specials;
  for (int id : stop_ids)
    if (id >= 0 && id < tok.vocab_size()) stops.push_back(id);
  for (const AddedToken& t : tok.added_tokens())
    if (t.special && std::find(stops.begin(), stops.end(), t.id) == stops.end()) specials.push_back(t.id);
  return std::make_shared<const grammar::Vocabulary>(std::move(bytes), std::move(stops), std::move(specials));
}

// The tokenizer of a --tokenizer DIR flag.
inline std::shared_ptr<const Tokenizer> load_tokenizer_dir(const std::string& dir) {
  if (!Tokenizer::has_tokenizer_files(dir)) fail("--tokenizer: no tokenizer files in '{}'", dir);
  return Tokenizer::load(dir);
}

// A --json-schema FILE compiled into a Constraint over the tokenizer's bytes (its own
// Vocabulary, so its own mask cache).
inline std::shared_ptr<const Constraint> json_schema_constraint(const Tokenizer& tok, const std::string& schema_path,
                                                                std::span<const int> stop_ids) {
  auto c = std::make_shared<Constraint>();
  try {
    c->grammar = grammar::Grammar::from_json_schema(parse_json<nlohmann::json>(read_input(schema_path), schema_path));
  } catch (const Error& e) {
    fail("--json-schema {}: {}", schema_path, e.what());
  }
  c->vocabulary = grammar_vocabulary(tok, stop_ids);
  return c;
}

}  // namespace hearth::cli
