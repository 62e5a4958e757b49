// ConstrainedDecoder's fast-forward API, as the engine uses it: forced_tokens() then
// accept_forced() with one mask refresh.
#include <gtest/gtest.h>

#include "grammar_test_util.h"
#include "hearth/sampling/constrained_decoder.h"

namespace hearth {
namespace {

using grammar::test::compile;
using grammar::test::small_vocab;

TEST(ConstrainedDecoderForced, ForcedTokensThenAcceptForced) {
  auto v = small_vocab();
  const int eos = static_cast<int>(v->size() - 2);
  auto c = std::make_shared<Constraint>();
  c->grammar = compile(R"({"type":"object","properties":{"k":{"const":"v"}},"required":["k"],"additionalProperties":false})");
  c->vocabulary = v;
  const std::vector<int> eos_ids = {eos};
  ConstrainedDecoder d(c, eos_ids);
  grammar::Matcher ref(c->grammar, v);
  std::vector<int32_t> f = d.forced_tokens();
  EXPECT_EQ(f, ref.forced_tokens());
  std::string spelled;
  for (int32_t id : f) spelled += v->token(id);
  EXPECT_EQ(spelled, "{\"k\":\"v\"}") << "everything is forced, the closing brace included";
  d.accept_forced(f);
  EXPECT_TRUE(d.finished()) << "complete, and nothing but EOS can follow";
  EXPECT_TRUE(d.forced_tokens().empty());
}

TEST(ConstrainedDecoderForced, NothingBeforeTheStartTokenAndRejectsWrongTokens) {
  auto v = small_vocab();
  auto c = std::make_shared<Constraint>();
  c->grammar = compile(R"({"const":"ab"})");
  c->vocabulary = v;
  c->start_after_token = 7;
  const std::vector<int> eos_ids = {static_cast<int>(v->size() - 2)};
  ConstrainedDecoder d(c, eos_ids);
  EXPECT_TRUE(d.forced_tokens().empty());
  d.accept(7);
  std::vector<int32_t> f = d.forced_tokens(1);
  ASSERT_EQ(f.size(), 1u);
  const std::vector<int32_t> wrong = {f[0] + 1};
  EXPECT_THROW(d.accept_forced(wrong), Error);
}

}  // namespace
}  // namespace hearth
