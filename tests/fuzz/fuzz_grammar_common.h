// Shared by the grammar fuzzers: a small byte-level vocabulary (every byte plus some longer
// tokens) and the invariant check that a token mask agrees with accepting each token.
#pragma once

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "hearth/grammar/matcher.h"

namespace hearth::grammar::fuzz {

inline std::shared_ptr<const Vocabulary> fuzz_vocab() {
  static std::shared_ptr<const Vocabulary> v = [] {
    std::vector<std::string> t;
    for (int b = 0; b < 256; ++b) t.emplace_back(1, static_cast<char>(b));
    for (const char* s : {"{\"", "\":", "\",\"", "\"}", "true", "null", "false", "12", "-0.", "e+", "\\u00",
                          "\\ud83d", "\\ude00", "\xC3\xA9", "\xF0\x9F", "\x98\x80", "abc", "\"a\"", "]}", "},{",
                          "2024-", "T12:", "://", "\\\"", "  ", "\n"}) {
      t.emplace_back(s);
    }
    t.emplace_back("<eos>");
    int32_t eos = static_cast<int32_t>(t.size() - 1);
    return std::make_shared<const Vocabulary>(t, std::vector<int32_t>{eos}, std::vector<int32_t>{});
  }();
  return v;
}

// Every token the mask allows is accepted, every other one rejected.
inline void check_mask(Matcher& m, const Vocabulary& v) {
  std::vector<uint32_t> mask = m.next_token_bitmask();
  bool any = false;
  for (int32_t id = 0; id < static_cast<int32_t>(v.size()); ++id) {
    bool in_mask = (mask[static_cast<size_t>(id >> 5)] >> (id & 31)) & 1;
    any = any || in_mask;
    bool ok = m.accept_token(id);
    if (ok && !m.rollback(1)) std::abort();
    if (ok != in_mask) std::abort();
  }
  (void)any;
}

}  // namespace hearth::grammar::fuzz
