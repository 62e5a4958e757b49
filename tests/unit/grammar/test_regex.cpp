// Regex subset, automata operations, exact decimals and numeric feasibility.
#include <gtest/gtest.h>

#include "hearth/core/error.h"
#include "hearth/grammar/decimal.h"
#include "hearth/grammar/dfa_info.h"
#include "hearth/grammar/formats.h"
#include "hearth/grammar/numbers.h"

namespace hearth::grammar {
namespace {

bool search(const std::string& pattern, const std::string& s) {
  LeafPool pool;
  return dfa_for_pattern(pattern, pool)->dfa.run(s) >= 0;
}

TEST(GrammarRegex, SearchSemanticsAndAnchors) {
  EXPECT_TRUE(search("abc", "xxabcxx"));
  EXPECT_FALSE(search("^abc", "xabc"));
  EXPECT_TRUE(search("^abc", "abcx"));
  EXPECT_FALSE(search("abc$", "abcx"));
  EXPECT_FALSE(search("^abc$", "abc\n"));  // ECMAScript: $ is only the very end
  EXPECT_TRUE(search("", "anything"));
  EXPECT_TRUE(search("^(a|b)*$", "abba"));
  EXPECT_FALSE(search("^(a|b)*$", "abca"));
}

TEST(GrammarRegex, ClassesQuantifiersEscapes) {
  EXPECT_TRUE(search("^[^a-c]{2}$", "xy"));
  EXPECT_FALSE(search("^[^a-c]{2}$", "xb"));
  EXPECT_TRUE(search("^a{2,}$", "aaaa"));
  EXPECT_FALSE(search("^a{2,}$", "a"));
  EXPECT_TRUE(search("^a{1,3}?$", "aaa"));
  EXPECT_TRUE(search("^x{$", "x{"));  // Annex B: a brace that is not a quantifier is literal
  EXPECT_TRUE(search("^\\x41\\u0042\\t$", "AB\t"));
  EXPECT_TRUE(search("^[\\d.-]+$", "1.2-3"));
  EXPECT_TRUE(search("^\\ud83d\\ude00$", "\xF0\x9F\x98\x80"));
  EXPECT_TRUE(search("^[\xC3\xA9-\xC3\xAB]$", "\xC3\xAA"));
  EXPECT_TRUE(search("^(?:ab)+(?<name>c)$", "ababc"));
  EXPECT_FALSE(search("^[]$", ""));  // [] matches nothing
  EXPECT_TRUE(search("^[^]$", "z"));
}

TEST(GrammarRegex, RefusesWhatItCannotModel) {
  for (const char* p : {"(?=a)", "(?!a)", "(?<=a)b", "(a)\\1", "\\bword", "a\\B", "(?i)a", "\\p{L}", "(", "[a", "a{2,1}"}) {
    LeafPool pool;
    EXPECT_THROW(dfa_for_pattern(p, pool), hearth::Error) << p;
  }
}

TEST(GrammarDfa, SetOperations) {
  LeafPool pool;
  const InternedDfa* a = dfa_for_pattern("^a+$", pool);
  const InternedDfa* b = dfa_for_pattern("^[ab]{2}$", pool);
  const InternedDfa* i = dfa_intersect_interned(a, b, pool);
  EXPECT_EQ(i->dfa.run("aa"), 0);
  EXPECT_LT(i->dfa.run("ab"), 0);
  EXPECT_LT(i->dfa.run("aaa"), 0);
  const InternedDfa* u = dfa_union_interned(a, b, pool);
  EXPECT_EQ(u->dfa.run("aaa"), 0);
  EXPECT_EQ(u->dfa.run("ba"), 0);
  const InternedDfa* c = dfa_complement_interned(a, pool);
  EXPECT_EQ(c->dfa.run("b"), 0);
  EXPECT_EQ(c->dfa.run(""), 0);
  EXPECT_LT(c->dfa.run("aa"), 0);
  // Interning: the same language from a different pattern is the same automaton.
  EXPECT_EQ(dfa_for_pattern("^aa*$", pool), a);
}

TEST(GrammarDfa, Analysis) {
  LeafPool pool;
  const InternedDfa* d = dfa_for_pattern("^ab?$", pool);
  uint32_t start = dfa_node(d->dfa.start, 0);
  EXPECT_EQ(d->info.min_cps[start], 1u);
  EXPECT_EQ(d->info.max_cps[start], 2u);
  const InternedDfa* any = dfa_any_interned();
  uint32_t s = dfa_node(any->dfa.start, 0);
  EXPECT_EQ(any->info.max_cps[s], DfaInfo::kInf);
  EXPECT_TRUE(any->info.universal[s]);
  EXPECT_EQ(any->info.common[s] & 1, 1u);
  // Search for "x": every state can still reach a match, so every state is free.
  const InternedDfa* x = dfa_for_pattern("x", pool);
  EXPECT_EQ(x->info.common[dfa_node(x->dfa.start, 0)] & 1, 1u);
  EXPECT_FALSE(x->info.universal[dfa_node(x->dfa.start, 0)]);
}

TEST(GrammarDecimal, ExactComparison) {
  auto d = [](const char* s) { return *Decimal::parse(s); };
  EXPECT_EQ(compare(d("0.1"), d("1e-1")), 0);
  EXPECT_LT(compare(d("-0.5"), d("0")), 0);
  EXPECT_EQ(compare(d("-0"), d("0")), 0);
  EXPECT_GT(compare(d("100"), d("99.999999999999999999")), 0);
  EXPECT_EQ(d("2.5").floor().str(), "2");
  EXPECT_EQ(d("-2.5").floor().str(), "-3");
  EXPECT_EQ(d("-2.5").ceil().str(), "-2");
  EXPECT_EQ(add(d("0.25"), d("-1")).str(), "-75e-2");
  EXPECT_EQ(mod_abs(d("1e20"), 7), 2u);  // 10^20 = 3^20 = 2 (mod 7)
  EXPECT_FALSE(Decimal::parse("1."));
  EXPECT_FALSE(Decimal::parse("+1"));
}

TEST(GrammarNumbers, PrefixFeasibility) {
  NumSpec s;
  s.integer = true;
  s.lo = *Decimal::parse("10");
  s.hi = *Decimal::parse("20");
  EXPECT_TRUE(num_feasible(s, "1", NumPhase::Int));   // 10..19
  EXPECT_TRUE(num_feasible(s, "2", NumPhase::Int));   // 20
  EXPECT_FALSE(num_feasible(s, "3", NumPhase::Int));  // 3, 30.. are out
  EXPECT_FALSE(num_feasible(s, "-", NumPhase::Minus));
  EXPECT_FALSE(num_feasible(s, "21", NumPhase::Int));
  NumSpec r;
  r.lo = *Decimal::parse("0.5");
  r.hi = *Decimal::parse("0.75");
  EXPECT_TRUE(num_feasible(r, "0", NumPhase::Zero));
  EXPECT_TRUE(num_feasible(r, "0.7", NumPhase::Frac));
  EXPECT_FALSE(num_feasible(r, "0.8", NumPhase::Frac));
  EXPECT_TRUE(num_feasible(r, "0.75", NumPhase::Frac));
  EXPECT_FALSE(num_feasible(r, "0.751", NumPhase::Frac));
  EXPECT_FALSE(num_feasible(r, "1", NumPhase::Int));  // 1..., 1.x e-1: none in [0.5, 0.75]
  EXPECT_TRUE(num_feasible(r, "6", NumPhase::Int));   // 6e-1
  NumSpec t;
  t.lo = *Decimal::parse("0.1");
  t.hi = *Decimal::parse("0.2");
  EXPECT_TRUE(num_feasible(t, "1", NumPhase::Int));       // 1e-1, 1.5e-1
  EXPECT_TRUE(num_feasible(t, "2", NumPhase::Int));       // 2e-1
  EXPECT_FALSE(num_feasible(t, "5", NumPhase::Int));      // no power of ten puts 5... in [0.1, 0.2]
  EXPECT_TRUE(num_feasible(t, "15e-", NumPhase::ExpSign));      // 15e-2
  EXPECT_TRUE(num_feasible(t, "15e-2", NumPhase::ExpDigits));
  EXPECT_FALSE(num_feasible(t, "15e-3", NumPhase::ExpDigits));  // 15e-3, 15e-3x: too small
  EXPECT_FALSE(num_feasible(t, "15e+", NumPhase::ExpSign));     // 15 and up
}

TEST(GrammarFormats, Kinds) {
  EXPECT_EQ(format_kind("date"), FormatKind::Enforced);
  EXPECT_EQ(format_kind("iri"), FormatKind::Unsupported);
  EXPECT_EQ(format_kind("int32"), FormatKind::Unknown);
}

}  // namespace
}  // namespace hearth::grammar
