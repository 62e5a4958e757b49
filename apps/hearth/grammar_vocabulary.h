// The tokenizer's tokens as the grammar matcher sees them (CLI glue: grammar/ does not
// depend on tokenizer/): raw bytes per id; `stop_ids` end a value (EOS), the other special
// tokens are never allowed inside one.
#pragma once

#include <algorithm>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "hearth/grammar/vocabulary.h"
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

}  // namespace hearth::cli
