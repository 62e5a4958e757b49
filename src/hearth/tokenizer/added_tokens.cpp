#include "hearth/tokenizer/added_tokens.h"

#include <algorithm>
#include <cstring>

#include "hearth/tokenizer/unicode.h"

namespace hearth::tok_detail {
namespace {

// Code point that ends text[0, end) (end > 0, valid UTF-8).
char32_t last_code_point(std::string_view text, size_t end, size_t& start) {
  size_t i = end - 1;
  while (i > 0 && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) --i;
  start = i;
  uint32_t len;
  return unicode::decode_valid(reinterpret_cast<const unsigned char*>(text.data()) + i, len);
}

// HF decides single_word with the regex \w (probed into the table's kWordChar bit).
bool is_word_char(const uint8_t* table, char32_t cp) { return (table[cp] & unicode::kWordChar) != 0; }

}  // namespace

void AddedTokenMatcher::build(const std::vector<AddedToken>& tokens,
                              const std::vector<std::string>& patterns, const uint8_t* char_table) {
  table_ = char_table;
  entries_.clear();
  first_byte_.fill(false);
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (patterns[i].empty()) continue;  // HF never matches an empty token
    entries_.push_back({patterns[i], tokens[i].id, tokens[i].single_word, tokens[i].lstrip,
                        tokens[i].rstrip});
  }
  // Longest first so that the first hit at a position is the longest; equal patterns keep
  // their file order (the first one wins, as in HF's trie).
  std::stable_sort(entries_.begin(), entries_.end(),
                   [](const Entry& a, const Entry& b) { return a.pattern.size() > b.pattern.size(); });
  int distinct = 0;
  for (const Entry& e : entries_) {
    const auto b = static_cast<unsigned char>(e.pattern[0]);
    if (!first_byte_[b]) {
      first_byte_[b] = true;
      ++distinct;
      single_first_byte_ = b;
    }
  }
  if (distinct != 1) single_first_byte_ = -1;
}

AddedTokenMatcher::Match AddedTokenMatcher::find(std::string_view text, size_t from) const {
  Match m;
  if (entries_.empty()) return m;
  const char* base = text.data();
  const size_t n = text.size();
  size_t i = from;
  while (i < n) {
    if (single_first_byte_ >= 0) {
      const void* hit = std::memchr(base + i, single_first_byte_, n - i);
      if (hit == nullptr) return m;
      i = static_cast<size_t>(static_cast<const char*>(hit) - base);
    } else if (!first_byte_[static_cast<unsigned char>(base[i])]) {
      ++i;
      continue;
    }
    int hit = -1;
    for (size_t e = 0; e < entries_.size(); ++e) {
      const Entry& en = entries_[e];
      if (en.pattern.size() <= n - i && std::memcmp(base + i, en.pattern.data(), en.pattern.size()) == 0) {
        hit = static_cast<int>(e);
        break;
      }
    }
    if (hit < 0) {
      ++i;
      continue;
    }
    const Entry& en = entries_[static_cast<size_t>(hit)];
    size_t start = i, stop = i + en.pattern.size();
    if (en.single_word) {
      size_t s0;
      const bool word_before = start > 0 && is_word_char(table_, last_code_point(text, start, s0));
      uint32_t len = 0;
      const bool word_after =
          stop < n && is_word_char(table_, unicode::decode_valid(
                                               reinterpret_cast<const unsigned char*>(base) + stop, len));
      // HF's matcher reports only this leftmost-longest match here and resumes after it.
      if (word_before || word_after) {
        i = stop;
        continue;
      }
    }
    if (en.lstrip) {
      while (start > from) {
        size_t s0;
        if (unicode::char_class(table_, last_code_point(text, start, s0)) != unicode::kSpace) break;
        start = s0;
      }
    }
    if (en.rstrip) {
      while (stop < n) {
        uint32_t len = 0;
        const char32_t cp = unicode::decode_valid(reinterpret_cast<const unsigned char*>(base) + stop, len);
        if (unicode::char_class(table_, cp) != unicode::kSpace) break;
        stop += len;
      }
    }
    m.entry = hit;
    m.start = start;
    m.stop = stop;
    return m;
  }
  return m;
}

}  // namespace hearth::tok_detail
