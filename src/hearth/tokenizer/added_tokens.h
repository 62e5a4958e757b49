// Added tokens (special tokens like <|im_end|> and others like <think>) are cut out of the
// text whole before normalization and pre-tokenization, as HF's AddedVocabulary does:
// leftmost match first, the longest one at that position (Aho-Corasick LeftmostLongest).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "hearth/tokenizer/tokenizer.h"

namespace hearth::tok_detail {

class AddedTokenMatcher {
 public:
  // patterns[i] is matched for tokens[i]; single_word/lstrip/rstrip come from the tokens.
  void build(const std::vector<AddedToken>& tokens, const std::vector<std::string>& patterns,
             const uint8_t* char_table);
  bool empty() const { return entries_.empty(); }

  // Calls on_text(piece) for text between matches and on_token(id) for each match, in order.
  template <typename OnText, typename OnToken>
  void split(std::string_view text, OnText&& on_text, OnToken&& on_token) const {
    size_t done = 0;   // text before this has been emitted
    size_t from = 0;   // where the next search starts
    while (true) {
      Match m = find(text, from);
      if (m.entry < 0) break;
      if (m.start > done) on_text(text.substr(done, m.start - done));
      on_token(entries_[static_cast<size_t>(m.entry)].id);
      done = m.stop;
      from = m.stop;
    }
    if (done < text.size()) on_text(text.substr(done));
  }

 private:
  struct Entry {
    std::string pattern;
    int32_t id;
    bool single_word, lstrip, rstrip;
  };
  struct Match {
    int entry = -1;
    size_t start = 0, stop = 0;
  };
  Match find(std::string_view text, size_t from) const;

  std::vector<Entry> entries_;  // longest pattern first
  std::array<bool, 256> first_byte_{};
  int single_first_byte_ = -1;  // the only first byte, when all patterns share it
  const uint8_t* table_ = nullptr;
};

}  // namespace hearth::tok_detail
