// Matcher behaviour: token masks equal brute force (every token tried on the state), EOS only
// when complete, special tokens never, rollback, jump-forward, whitespace bounds, and the
// json_object / regex / choice modes.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "grammar_test_util.h"

namespace hearth::grammar::test {
namespace {

// Every token tried on a copy of the state (accept + rollback) must agree with the mask.
void expect_mask_is_exact(Matcher& m, const Vocabulary& v, const std::string& where) {
  std::vector<uint32_t> mask = m.next_token_bitmask();
  for (int32_t id = 0; id < static_cast<int32_t>(v.size()); ++id) {
    bool in_mask = (mask[static_cast<size_t>(id >> 5)] >> (id & 31)) & 1;
    bool ok = m.accept_token(id);
    if (ok) m.rollback(1);
    ASSERT_EQ(in_mask, ok) << where << ": token " << id << " '" << v.token(id) << "'";
  }
}

TEST(GrammarMatcher, MaskEqualsBruteForceSmallVocab) {
  auto vocab = small_vocab();
  const char* schemas[] = {
      R"({"type":"object","properties":{"a":{"type":"integer"},"ab":{"type":"string","maxLength":3}},"required":["a"],"additionalProperties":false})",
      R"({"type":"array","items":{"type":"number","minimum":-5,"maximum":15}})",
      R"({"anyOf":[{"type":"string","pattern":"^a*$"},{"type":"boolean"},{"type":"null"}]})",
      R"({"type":"object"})",
      R"({"enum":["ab","a\u00e9",12,true]})",
  };
  // Drive each schema along random accepted tokens and compare at every state.
  for (const char* s : schemas) {
    auto g = compile(s);
    for (int seed = 0; seed < 20; ++seed) {
      std::mt19937 rng(static_cast<uint32_t>(seed));
      Matcher m(g, vocab);
      for (int step = 0; step < 12; ++step) {
        expect_mask_is_exact(m, *vocab, std::string(s) + " step " + std::to_string(step));
        if (HasFatalFailure()) return;
        std::vector<uint32_t> mask = m.next_token_bitmask();
        std::vector<int32_t> allowed;
        for (int32_t id = 0; id < static_cast<int32_t>(vocab->size()); ++id) {
          if ((mask[static_cast<size_t>(id >> 5)] >> (id & 31)) & 1) allowed.push_back(id);
        }
        // Never a dead end: something is always allowed until the end.
        ASSERT_FALSE(allowed.empty()) << s;
        int32_t pick = allowed[rng() % allowed.size()];
        ASSERT_TRUE(m.accept_token(pick));
        if (m.is_terminated()) break;
      }
    }
  }
}

TEST(GrammarMatcher, EosOnlyWhenCompleteAndSpecialNever) {
  auto vocab = small_vocab();
  const int32_t eos = static_cast<int32_t>(vocab->size() - 2), special = eos + 1;
  auto g = compile(R"({"type":"integer"})");
  Matcher m(g, vocab);
  EXPECT_FALSE(m.accept_token(eos));
  EXPECT_FALSE(m.accept_token(special));
  ASSERT_TRUE(m.accept_bytes("12"));
  EXPECT_TRUE(m.is_complete());  // a number may end at the end of output
  std::vector<uint32_t> mask = m.next_token_bitmask();
  EXPECT_TRUE((mask[static_cast<size_t>(eos >> 5)] >> (eos & 31)) & 1);
  EXPECT_FALSE((mask[static_cast<size_t>(special >> 5)] >> (special & 31)) & 1);
  EXPECT_TRUE(m.accept_token(eos));
  EXPECT_TRUE(m.is_terminated());
  EXPECT_FALSE(m.accept_token(7));
  EXPECT_TRUE(m.rollback(1));
  EXPECT_FALSE(m.is_terminated());
}

TEST(GrammarMatcher, RollbackRestoresState) {
  auto vocab = small_vocab();
  auto g = compile(R"({"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":false})");
  Matcher m(g, vocab);
  ASSERT_TRUE(m.accept_bytes("{\"a\":"));
  std::vector<uint32_t> before = m.next_token_bitmask();
  ASSERT_TRUE(m.accept_bytes("1"));
  ASSERT_TRUE(m.accept_bytes("2"));
  EXPECT_TRUE(m.rollback(2));
  EXPECT_EQ(m.next_token_bitmask(), before);
  EXPECT_FALSE(m.rollback(100));
}

TEST(GrammarMatcher, JumpForwardAndForcedToken) {
  auto vocab = small_vocab();
  auto g = compile(R"({"type":"object","properties":{"name":{"type":"string"}},"required":["name"],"additionalProperties":false})");
  Matcher m(g, vocab);
  EXPECT_EQ(m.jump_forward_bytes(), "{\"name\":\"");
  ASSERT_TRUE(m.accept_bytes("{\"name\":\"x\""));
  EXPECT_EQ(m.jump_forward_bytes(), "}");
  EXPECT_EQ(m.forced_token(), 1);  // "}" is the only token
}

TEST(GrammarMatcher, WhitespaceCompactByDefaultAndBounded) {
  auto compact = compile(R"({"type":"array","items":{"type":"integer"}})");
  EXPECT_FALSE(accepts(compact, "[1, 2]"));
  CompileOptions flex;
  flex.flexible_whitespace = true;
  flex.max_whitespace = 3;
  auto g = compile(R"({"type":"array","items":{"type":"integer"}})", flex);
  EXPECT_TRUE(accepts(g, " [ 1 ,\n2 ] "));
  EXPECT_TRUE(accepts(g, "[1,   2]"));
  EXPECT_FALSE(accepts(g, "[1,    2]"));  // four consecutive whitespace bytes
}

TEST(GrammarMatcher, Modes) {
  auto obj = Grammar::any_json_object();
  EXPECT_TRUE(accepts(obj, R"({"a":[1,{"b":null}]})"));
  EXPECT_FALSE(accepts(obj, "[]"));
  auto re = Grammar::from_regex("^(yes|no)-[0-9]{2}$");
  EXPECT_TRUE(accepts(re, "yes-12"));
  EXPECT_FALSE(accepts(re, "yes-1"));
  EXPECT_FALSE(accepts(re, "\"yes-12\""));
  EXPECT_THROW(Grammar::from_regex("a^b"), SchemaUnsupported);
  auto choice = Grammar::from_choices({"positive", "negative", "neutral"});
  EXPECT_TRUE(accepts(choice, "neutral"));
  EXPECT_FALSE(accepts(choice, "neutra"));
  EXPECT_FALSE(accepts(choice, "positive!"));
}

TEST(GrammarMatcher, DepthIsBounded) {
  CompileOptions opts;
  opts.max_depth = 3;
  auto g = compile("{}", opts);
  EXPECT_TRUE(accepts(g, "[[[1]]]"));
  EXPECT_FALSE(accepts(g, "[[[[1]]]]"));
}

TEST(GrammarMatcher, MaskEqualsBruteForceQwenVocab) {
  const std::string dir = shared_dir() + "/tokenizer/qwen3";
  if (!std::filesystem::exists(dir + "/vocab.json")) GTEST_SKIP() << "no " << dir << " (set HEARTH_SHARED_DIR)";
  auto vocab = load_qwen_vocab(dir);
  ASSERT_EQ(vocab->size(), 151669u);
  struct Drive {
    const char* schema;
    const char* instance;
  };
  Drive drives[] = {
      {R"({"type":"object","properties":{"name":{"type":"string","maxLength":20},"age":{"type":"integer","minimum":0,"maximum":150},"tags":{"type":"array","items":{"enum":["a","b"]}}},"required":["name"]})",
       R"({"name":"Ana \"M\" \u00e9","age":42,"tags":["a","b"],"x":{"y":[1.5e3,true]}})"},
      {R"({"type":"string","format":"date-time"})", R"("2024-02-29T12:00:00Z")"},
      {R"({"anyOf":[{"type":"object","properties":{"k":{"const":1}},"required":["k"]},{"type":"array"}]})",
       R"({"k":1,"z":"q"})"},
  };
  for (const Drive& d : drives) {
    auto g = compile(d.schema);
    Matcher m(g, vocab);
    std::string text = d.instance;
    for (size_t i = 0; i <= text.size(); ++i) {
      if (i % 5 == 0 || i == text.size()) {
        expect_mask_is_exact(m, *vocab, std::string(d.schema) + " after " + text.substr(0, i));
        if (HasFatalFailure()) return;
      }
      if (i < text.size()) {
        ASSERT_TRUE(m.accept_bytes(text.substr(i, 1))) << text.substr(0, i + 1);
      }
    }
    EXPECT_TRUE(m.is_complete());
  }
}

}  // namespace
}  // namespace hearth::grammar::test
