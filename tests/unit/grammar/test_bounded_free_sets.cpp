// The token sets of length-bounded free string states derived from the unbounded set (mask.cpp:
// set_bounded_free_sets) equal those of the whole-vocabulary walk, on the Qwen3 vocabulary,
// at every remaining length where the derivation applies and in every string phase (plain,
// inside a UTF-8 sequence, inside an escape, between surrogate halves).
#include <gtest/gtest.h>

#include <filesystem>

#include "grammar_test_util.h"
#include "hearth/grammar/mask.h"

namespace hearth::grammar::test {
namespace {

struct RestoreBoundedFreeSets {
  ~RestoreBoundedFreeSets() { set_bounded_free_sets(true); }
};

TEST(GrammarBoundedFreeSets, EqualTheFullWalkAtEveryBoundAndPhase) {
  const std::string dir = shared_dir() + "/tokenizer/qwen3";
  if (!std::filesystem::exists(dir + "/vocab.json")) GTEST_SKIP() << "no " << dir << " (set HEARTH_SHARED_DIR)";
  RestoreBoundedFreeSets restore;
  // Separate vocabularies: the mask cache does not tell the two ways apart.
  auto fast = load_qwen_vocab(dir);
  auto reference = load_qwen_vocab(dir);
  const int max_len = 150;
  auto g = compile(R"({"type":"string","maxLength":150})");
  const char* phases[] = {"",         "\xc3",         "\xe4\xb8",       "\xf0\x9f\x98", "\\",
                          "\\u00",    "\\uD83D",      "\\uD83D\\u",     "\\uD83D\\uDC"};
  // Remaining code points: all up to the clamp of the cache key (140) and past it.
  std::vector<int> rems;
  for (int r = 0; r <= 141; ++r) rems.push_back(r);
  rems.push_back(150);
  int compared = 0;
  for (const char* phase : phases) {
    for (int rem : rems) {
      // '"', then max_len - rem letters: rem code points left before the phase's bytes.
      std::string text(1, '"');
      text.append(static_cast<size_t>(max_len - rem), 'a');
      text.append(phase);
      Matcher mf(g, fast), mr(g, reference);
      const bool ok = mf.accept_bytes(text);
      ASSERT_EQ(ok, mr.accept_bytes(text)) << "rem " << rem << " phase '" << phase << "'";
      if (!ok) continue;  // no room for the phase's code point
      set_bounded_free_sets(true);
      const std::vector<uint32_t> got = mf.next_token_bitmask();
      set_bounded_free_sets(false);
      const std::vector<uint32_t> want = mr.next_token_bitmask();
      ASSERT_EQ(got.size(), want.size());
      size_t differ = 0;
      int32_t first = -1;
      for (size_t w = 0; w < got.size(); ++w) {
        if (got[w] == want[w]) continue;
        differ += static_cast<size_t>(__builtin_popcount(got[w] ^ want[w]));
        if (first < 0) first = static_cast<int32_t>(w * 32 + static_cast<size_t>(__builtin_ctz(got[w] ^ want[w])));
      }
      ASSERT_EQ(differ, 0u) << "rem " << rem << " phase '" << phase << "': first token " << first << " '"
                            << (first >= 0 ? fast->token(first) : "") << "'";
      ++compared;
    }
  }
  EXPECT_GT(compared, 1000);  // most (phase, rem) pairs have room
}

}  // namespace
}  // namespace hearth::grammar::test
