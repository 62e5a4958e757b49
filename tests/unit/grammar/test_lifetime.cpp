// Interned leaves (automata, string / number constraint sets, pattern and set-operation
// caches) are owned by the grammars that use them: a server compiling a schema per request
// gets its registry memory back when the last grammar goes.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "grammar_test_util.h"
#include "hearth/grammar/leaf_pool.h"
#include "hearth/grammar/mask.h"

namespace hearth::grammar::test {
namespace {

// A schema that interns a bit of everything: a pattern per key, enums, numeric bounds, a
// pattern intersected with a format, a union of string automata and a complement.
std::string varied_schema(int i) {
  return fmt::format(
      R"({{"type":"object","properties":{{"k{0}":{{"type":"string","pattern":"^p{0}-[a-z]+$"}},)"
      R"("e":{{"enum":["x{0}","y{0}",{0}]}},"n":{{"type":"integer","minimum":{0},"maximum":{1}}},)"
      R"("d":{{"allOf":[{{"pattern":"^2{{2}}"}},{{"format":"date"}}]}},)"
      R"("u":{{"anyOf":[{{"type":"string","pattern":"^q{0}"}},{{"type":"string","maxLength":{3}}}]}},)"
      R"("c":{{"type":"string","not":{{"pattern":"z{0}"}}}}}},"required":["k{0}"],"additionalProperties":false}})",
      i, i + 1000, 0, i % 7 + 1);
}

TEST(GrammarLifetime, RegistriesReturnToBaselineAfter10000Schemas) {
  auto vocab = small_vocab();
  // Process-lifetime entries (the universal automaton, the format automata) exist first.
  { compile(varied_schema(-1)); }
  const RegistryStats base = registry_stats();
  RegistryStats during;
  std::shared_ptr<const Grammar> held;
  for (int i = 0; i < 10000; ++i) {
    auto g = compile(varied_schema(i));
    if (i % 500 == 0) {
      // Masks and matching use the leaves (and cache masks keyed by their fingerprints).
      Matcher m(g, vocab);
      ASSERT_TRUE(m.accept_bytes(fmt::format(R"({{"k{0}":"p{0}-ab","e":"x{0}","n":{0})", i)));
      EXPECT_FALSE(m.next_token_bitmask().empty());
    }
    if (i == 5000) held = g;
  }
  during = registry_stats();
  EXPECT_GT(during.total(), base.total()) << "a live grammar keeps its leaves";
  EXPECT_LT(during.total(), base.total() + 64) << "dropped grammars' leaves are gone";
  // The held grammar still works after 5,000 later schemas came and went.
  EXPECT_TRUE(accepts(held, R"({"k5000":"p5000-zz","n":5500,"d":"2222-01-01","c":"abc"})"));
  EXPECT_FALSE(accepts(held, R"({"k5000":"p5000-zz","c":"z5000"})"));
  held.reset();
  const RegistryStats after = registry_stats();
  EXPECT_EQ(after.dfas, base.dfas);
  EXPECT_EQ(after.patterns, base.patterns);
  EXPECT_EQ(after.dfa_ops, base.dfa_ops);
  EXPECT_EQ(after.str_sets, base.str_sets);
  EXPECT_EQ(after.num_sets, base.num_sets);
}

TEST(GrammarLifetime, LiveGrammarsShareLeavesAndOutliveEachOther) {
  const std::string schema = R"({"type":"string","pattern":"^shared-[0-9]+$"})";
  const RegistryStats base = registry_stats();
  auto a = compile(schema);
  const RegistryStats one = registry_stats();
  auto b = compile(schema);
  const RegistryStats two = registry_stats();
  EXPECT_GT(one.dfas, base.dfas);
  EXPECT_EQ(two.dfas, one.dfas) << "the same pattern is interned once while alive";
  EXPECT_EQ(two.str_sets, one.str_sets);
  a.reset();
  EXPECT_TRUE(accepts(b, R"("shared-42")"));
  EXPECT_FALSE(accepts(b, R"("shared-x")"));
  b.reset();
  EXPECT_EQ(registry_stats().total(), base.total());
}

TEST(GrammarLifetime, MasksStayCachedAcrossRecompilation) {
  // Scalar states' masks are keyed by content fingerprints, not registry ids: the same
  // constraint compiled again after its first grammar was freed reuses the cached masks.
  auto vocab = small_vocab();
  const std::string schema = R"({"type":"string","pattern":"^r[0-9]{2}$"})";
  auto run = [&] {
    auto g = compile(schema);
    Matcher m(g, vocab);
    std::vector<uint32_t> mask = m.next_token_bitmask();
    EXPECT_TRUE(m.accept_bytes(R"("r)"));
    mask = m.next_token_bitmask();
    return std::make_pair(mask, m.mask_computer().misses());
  };
  auto first = run();
  auto second = run();
  EXPECT_GT(first.second, 0u);
  EXPECT_EQ(second.second, 0u) << "every mask of the recompiled schema came from the cache";
  EXPECT_EQ(first.first, second.first);
}

}  // namespace
}  // namespace hearth::grammar::test
