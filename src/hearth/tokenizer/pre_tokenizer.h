// The Qwen2 pre-tokenizer: HF's Split with the regex
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// and behavior "Isolated", matched by hand with the regex's exact leftmost-first semantics
// (HF runs it with Oniguruma). Every position matches some alternative, so the pieces
// cover the text with no gaps.
#pragma once

#include <cstddef>
#include <string_view>

namespace hearth::tok_detail {

// The exact pattern string as it appears in a Qwen2/Qwen3 tokenizer.json.
extern const std::string_view kQwen2SplitPattern;

// End (byte offset) of the regex match that starts at byte i of valid UTF-8 text (i < size).
size_t qwen2_match_end(std::string_view text, size_t i, const uint8_t* char_table);

template <typename F>
void qwen2_split(std::string_view text, const uint8_t* char_table, F&& fn) {
  size_t i = 0;
  while (i < text.size()) {
    const size_t j = qwen2_match_end(text, i, char_table);
    fn(text.substr(i, j - i));
    i = j;
  }
}

}  // namespace hearth::tok_detail
