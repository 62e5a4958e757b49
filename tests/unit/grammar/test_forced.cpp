// Forced-token fast-forward: Matcher::forced_tokens spells the bytes the grammar forces with
// the vocabulary's tokens, greedily, and leaves the last ones to the model when a longer
// allowed token could start there.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "grammar_test_util.h"

namespace hearth::grammar::test {
namespace {

std::string spell(const Vocabulary& v, const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += v.token(id);
  return s;
}

int32_t id_of(const Vocabulary& v, const std::string& text) {
  for (int32_t i = 0; i < static_cast<int32_t>(v.size()); ++i) {
    if (v.token(i) == text && !v.is_stop(i) && !v.is_special(i)) return i;
  }
  return -1;
}

// Invariants of any fast-forward: the tokens spell a prefix of the forced bytes, each is
// accepted in turn, each is the longest vocabulary token at its position inside the forced
// text, and the state is unchanged by the query.
void expect_valid_forced(Matcher& m, const Vocabulary& v, const std::vector<int32_t>& forced, const std::string& where) {
  const std::string bytes = m.jump_forward_bytes();
  const std::string spelled = spell(v, forced);
  ASSERT_EQ(bytes.compare(0, spelled.size(), spelled), 0) << where << ": '" << spelled << "' vs '" << bytes << "'";
  size_t pos = 0;
  for (int32_t id : forced) {
    for (int32_t other = 0; other < static_cast<int32_t>(v.size()); ++other) {
      if (v.is_stop(other) || v.is_special(other)) continue;
      const std::string& t = v.token(other);
      EXPECT_FALSE(t.size() > v.token(id).size() && bytes.compare(pos, t.size(), t) == 0 && pos + t.size() <= bytes.size())
          << where << ": '" << t << "' is longer than '" << v.token(id) << "' at " << pos;
    }
    pos += v.token(id).size();
  }
  const std::vector<uint32_t> before = m.next_token_bitmask();
  for (size_t i = 0; i < forced.size(); ++i) ASSERT_TRUE(m.accept_token(forced[i])) << where << " token " << i;
  ASSERT_TRUE(m.rollback(forced.size()));
  EXPECT_EQ(m.next_token_bitmask(), before) << where;
}

TEST(GrammarForced, SpellsTheForcedKeyAndLeavesTheOpenEndToTheModel) {
  auto v = small_vocab();
  auto g = compile(R"({"type":"object","properties":{"name":{"type":"string"}},"required":["name"],"additionalProperties":false})");
  Matcher m(g, v);
  ASSERT_EQ(m.jump_forward_bytes(), "{\"name\":\"");
  std::vector<int32_t> f = m.forced_tokens();
  expect_valid_forced(m, *v, f, "object start");
  // `":` then `"`: the last `"` is not forced as a token because `"a` and `"ab"` (allowed:
  // the string's first byte comes with the quote) start there too.
  const std::vector<int32_t> want = {id_of(*v, "{"), id_of(*v, "\""), id_of(*v, "n"), id_of(*v, "a"),
                                     id_of(*v, "m"), id_of(*v, "e"), id_of(*v, "\":")};
  EXPECT_EQ(f, want) << spell(*v, f);
  for (int32_t id : f) ASSERT_TRUE(m.accept_token(id));
  std::vector<uint32_t> mask = m.next_token_bitmask();
  const int32_t qa = id_of(*v, "\"a");
  EXPECT_TRUE((mask[static_cast<size_t>(qa) / 32] >> (qa % 32)) & 1) << "the model still chooses the string's start";
}

TEST(GrammarForced, ClosingBraceAndEnumPrefix) {
  auto v = small_vocab();
  auto g = compile(R"({"type":"object","properties":{"name":{"type":"string"}},"required":["name"],"additionalProperties":false})");
  Matcher m(g, v);
  ASSERT_TRUE(m.accept_bytes("{\"name\":\"x\""));
  EXPECT_EQ(m.forced_tokens(), std::vector<int32_t>{id_of(*v, "}")});

  auto e = compile(R"({"enum":["abc_long","abc_short"]})");
  Matcher me(e, v);
  std::vector<int32_t> f = me.forced_tokens();
  expect_valid_forced(me, *v, f, "enum");
  EXPECT_EQ(spell(*v, f), "\"abc_");
  EXPECT_EQ(f.front(), id_of(*v, "\"a")) << "greedy: the longest token first";
}

TEST(GrammarForced, NothingWhenChoiceOrCompleteAndBoundedByMax) {
  auto v = small_vocab();
  auto num = compile(R"({"type":"integer"})");
  Matcher m(num, v);
  EXPECT_TRUE(m.forced_tokens().empty()) << "a digit or '-' is a choice";
  ASSERT_TRUE(m.accept_bytes("12"));
  EXPECT_TRUE(m.forced_tokens().empty()) << "complete: ending is a choice";
  auto g = compile(R"({"const":"abcdefgh"})");
  Matcher mc(g, v);
  EXPECT_EQ(mc.forced_tokens(3).size(), 3u);
  std::vector<int32_t> all = mc.forced_tokens();
  expect_valid_forced(mc, *v, all, "const");
  EXPECT_EQ(spell(*v, all), "\"abcdefgh\"") << "nothing can follow the closing quote: it is forced too";
  for (int32_t id : all) ASSERT_TRUE(mc.accept_token(id));
  EXPECT_TRUE(mc.is_complete());
}

TEST(GrammarForced, RandomWalksKeepTheInvariants) {
  auto v = small_vocab();
  const char* schemas[] = {
      R"({"type":"object","properties":{"alpha":{"enum":["one","two"]},"beta":{"type":"array","items":{"const":"xyz"},"minItems":2}},"required":["alpha","beta"],"additionalProperties":false})",
      R"({"anyOf":[{"const":"abc"},{"const":"abd"},{"type":"null"}]})",
      R"({"type":"array","prefixItems":[{"const":true},{"const":null}],"items":false,"minItems":2})",
  };
  for (const char* s : schemas) {
    auto g = compile(s);
    for (int seed = 0; seed < 10; ++seed) {
      std::mt19937 rng(static_cast<uint32_t>(seed));
      Matcher m(g, v);
      for (int step = 0; step < 40 && !m.is_terminated(); ++step) {
        std::vector<int32_t> f = m.forced_tokens();
        expect_valid_forced(m, *v, f, std::string(s) + " step " + std::to_string(step));
        if (HasFatalFailure()) return;
        if (!f.empty() && rng() % 2) {
          for (int32_t id : f) ASSERT_TRUE(m.accept_token(id));
          continue;
        }
        std::vector<uint32_t> mask = m.next_token_bitmask();
        std::vector<int32_t> allowed;
        for (int32_t id = 0; id < static_cast<int32_t>(v->size()); ++id) {
          if ((mask[static_cast<size_t>(id) / 32] >> (id % 32)) & 1) allowed.push_back(id);
        }
        ASSERT_FALSE(allowed.empty());
        ASSERT_TRUE(m.accept_token(allowed[rng() % allowed.size()]));
      }
    }
  }
}

TEST(GrammarForced, QwenVocabularySpellsKeysInFewTokens) {
  const std::string dir = shared_dir() + "/tokenizer/qwen3";
  if (!std::filesystem::exists(dir + "/vocab.json")) GTEST_SKIP() << "needs ../shared/tokenizer/qwen3 (absent: " << dir << ")";
  auto v = load_qwen_vocab(dir);
  // One property: its key is forced (with two, either may come first).
  auto g = compile(R"({"type":"object","properties":{"description":{"type":"string"}},"required":["description"],"additionalProperties":false})");
  Matcher m(g, v);
  std::vector<int32_t> f = m.forced_tokens();
  expect_valid_forced(m, *v, f, "qwen start");
  const std::string bytes = m.jump_forward_bytes();
  EXPECT_EQ(bytes, "{\"description\":\"");
  EXPECT_GE(f.size(), 2u);
  EXPECT_LE(f.size(), 4u) << spell(*v, f);  // e.g. {" description ":"
  for (int32_t id : f) ASSERT_TRUE(m.accept_token(id));
  ASSERT_TRUE(m.accept_bytes(bytes.substr(spell(*v, f).size())));  // what was left to the model
  ASSERT_TRUE(m.accept_bytes("remote\""));
  f = m.forced_tokens();
  expect_valid_forced(m, *v, f, "qwen end");
  EXPECT_EQ(spell(*v, f), "}");
}

}  // namespace
}  // namespace hearth::grammar::test
