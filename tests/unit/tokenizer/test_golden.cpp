// Exactness against Hugging Face: every fixture in tests/golden/tokenizer/ holds HF
// tokenizers' (0.23) answers, written by tools/make_tokenizer_refs.py on the H200 box.
#include <cstdlib>
#include <fmt/format.h>

#include <map>

#include "hearth/tokenizer/unicode.h"
#include "tokenizer_test_util.h"

namespace hearth::test {
namespace {

struct Tally {
  size_t total = 0, matched = 0;
  std::string first_failures;
  void add(bool ok, const std::string& what) {
    ++total;
    if (ok) {
      ++matched;
    } else if (total - matched <= 10) {
      first_failures += "  " + what + "\n";
    }
  }
};

void check_encode_rows(const std::vector<nlohmann::ordered_json>& rows, const Tokenizer& tok, Tally& t) {
  for (const auto& r : rows) {
    if (!r.contains("ids")) continue;
    const std::string text = r.contains("hex") ? from_hex(r["hex"].get<std::string>()) : r["text"].get<std::string>();
    const auto got = tok.encode(text);
    const auto want = ids_of(r["ids"]);
    t.add(got == want, r.value("name", r.contains("text") ? r["text"].dump() : std::string("?")) + ": got " +
                           show_ids(got) + " want " + show_ids(want));
  }
}

TEST(TokenizerGolden, CorpusMatchesHF) {
  HEARTH_REQUIRE_QWEN3();
  Tally t;
  check_encode_rows(read_jsonl(golden_dir() + "/corpus.jsonl"), qwen3(), t);
  EXPECT_EQ(t.matched, t.total) << t.first_failures;
  EXPECT_GT(t.total, 700u);
  std::printf("[ corpus ] %zu/%zu match HF\n", t.matched, t.total);
}

TEST(TokenizerGolden, RandomStressMatchesHF) {
  HEARTH_REQUIRE_QWEN3();
  Tally t;
  check_encode_rows(read_jsonl(golden_dir() + "/stress.jsonl"), qwen3(), t);
  // A larger set (e.g. all 40,000 strings of a refs run, gunzipped) can be named here.
  if (const char* extra = std::getenv("HEARTH_TOKENIZER_STRESS")) {
    check_encode_rows(read_jsonl(extra), qwen3(), t);
  }
  EXPECT_EQ(t.matched, t.total) << t.first_failures;
  EXPECT_GE(t.total, 800u);
  std::printf("[ stress ] %zu/%zu match HF\n", t.matched, t.total);
}

TEST(TokenizerGolden, DecodeMatchesHF) {
  HEARTH_REQUIRE_QWEN3();
  Tally t;
  for (const auto& r : read_jsonl(golden_dir() + "/decode.jsonl")) {
    ASSERT_TRUE(r.contains("text")) << r.dump();
    const auto ids = ids_of(r["ids"]);
    const std::string got = qwen3().decode(ids, r["skip_special"].get<bool>());
    const std::string want = r["text"].get<std::string>();
    t.add(got == want, r["name"].get<std::string>() + ": got " + nlohmann::json(got).dump() + " want " +
                           nlohmann::json(want).dump());
    // Streaming gives the same text.
    StreamDecoder sd(qwen3(), r["skip_special"].get<bool>());
    std::string streamed;
    for (int32_t id : ids) streamed += sd.push(id);
    streamed += sd.flush();
    EXPECT_EQ(streamed, want) << r["name"];
  }
  EXPECT_EQ(t.matched, t.total) << t.first_failures;
  std::printf("[ decode ] %zu/%zu match HF\n", t.matched, t.total);
}

// Added-token flags (lstrip, rstrip, single_word, normalized) on a patched tokenizer.json.
TEST(TokenizerGolden, AddedTokenFlagsMatchHF) {
  HEARTH_REQUIRE_QWEN3();
  const auto rows = read_jsonl(golden_dir() + "/variants.jsonl");
  ASSERT_FALSE(rows.empty());
  const auto& patch = rows[0]["patch"];
  // Patch only the "added_tokens" array (the file's first key), leaving the 11 MB rest as is.
  std::string text = read_text(qwen3_dir() + "/tokenizer.json");
  const size_t begin = text.find('[', text.find("\"added_tokens\""));
  const size_t end = text.find("\n  ],", begin) + 4;
  ASSERT_NE(begin, std::string::npos);
  auto added = nlohmann::ordered_json::parse(text.substr(begin, end - begin));
  for (const auto& s : patch["set"]) {
    for (auto& t : added) {
      if (t["id"] == s["id"]) {
        for (auto it = s.begin(); it != s.end(); ++it) t[it.key()] = it.value();
      }
    }
  }
  for (const auto& a : patch["append"]) added.push_back(a);
  text.replace(begin, end - begin, added.dump());
  const auto tok = Tokenizer::from_json(text, "patched tokenizer.json");
  Tally t;
  check_encode_rows(std::vector<nlohmann::ordered_json>(rows.begin() + 1, rows.end()), *tok, t);
  EXPECT_EQ(t.matched, t.total) << t.first_failures;
  std::printf("[ added-token flags ] %zu/%zu match HF\n", t.matched, t.total);
}

// HF's class of every code point under the split regex (L, N, S(pace), O(ther)), as runs.
TEST(TokenizerGolden, CharClassesMatchHF) {
  std::istringstream in(read_text(golden_dir() + "/unicode_classes.txt"));
  std::vector<std::pair<char32_t, char>> runs;
  std::string hex;
  char cls;
  while (in >> hex >> cls) runs.emplace_back(static_cast<char32_t>(std::stoul(hex, nullptr, 16)), cls);
  ASSERT_FALSE(runs.empty());
  const uint8_t* table = unicode::char_table();
  size_t mismatches = 0;
  std::string first;
  for (size_t r = 0; r < runs.size(); ++r) {
    const char32_t end = r + 1 < runs.size() ? runs[r + 1].first : 0x110000;
    for (char32_t cp = runs[r].first; cp < end; ++cp) {
      if (cp >= 0xD800 && cp <= 0xDFFF) continue;
      const char mine = "OLNS"[unicode::char_class(table, cp)];
      if (mine != runs[r].second) {
        if (++mismatches <= 20) first += fmt::format(" U+{:04X} hf={} ours={}", static_cast<uint32_t>(cp), runs[r].second, mine);
      }
    }
  }
  EXPECT_EQ(mismatches, 0u) << first;
}

// HF's NFC of every code point that NFC changes, and of the NFD of composed characters.
TEST(TokenizerGolden, NfcMatchesHF) {
  std::istringstream in(read_text(golden_dir() + "/unicode_nfc.txt"));
  auto parse_cps = [](std::istringstream& ls, std::string& out, const char* stop) {
    std::string tok;
    while (ls >> tok && tok != stop) unicode::append_utf8(out, static_cast<char32_t>(std::stoul(tok, nullptr, 16)));
  };
  std::string line;
  std::map<char32_t, std::string> changed;
  size_t n = 0, bad = 0;
  std::string first;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::istringstream ls(line);
    std::string input, want, storage;
    if (line[0] == 'D' && line[1] == ' ') {
      ls.ignore(2);
      parse_cps(ls, input, ">");
      parse_cps(ls, want, "");
    } else {
      std::string hex;
      ls >> hex;
      const auto cp = static_cast<char32_t>(std::stoul(hex, nullptr, 16));
      unicode::append_utf8(input, cp);
      parse_cps(ls, want, "");
      changed[cp] = want;
    }
    ++n;
    const std::string got(unicode::nfc(input, storage));
    if (got != want && ++bad <= 10) first += " [" + line + "]";
  }
  EXPECT_GT(n, 1000u);
  // Every other code point is left as it is.
  for (char32_t cp = 0; cp < 0x110000; ++cp) {
    if ((cp >= 0xD800 && cp <= 0xDFFF) || changed.count(cp)) continue;
    std::string s, storage;
    unicode::append_utf8(s, cp);
    if (unicode::nfc(s, storage) != s && ++bad <= 10) first += fmt::format(" U+{:04X} changed", static_cast<uint32_t>(cp));
  }
  EXPECT_EQ(bad, 0u) << first;
}

// HF's NFC of U+0345 + mark and mark + U+0334 for every combining mark: shows which marks
// HF's (older) normalization data reorders.
TEST(TokenizerGolden, CombiningMarksReorderAsHF) {
  std::istringstream in(read_text(golden_dir() + "/probe_ccc.txt"));
  std::string line;
  size_t n = 0, bad = 0;
  std::string first;
  auto cps = [](const std::string& text) {
    std::istringstream ls(text);
    std::string tok, out;
    while (ls >> tok) unicode::append_utf8(out, static_cast<char32_t>(std::stoul(tok, nullptr, 16)));
    return out;
  };
  while (std::getline(in, line)) {
    const size_t bar = line.find(" | ");
    if (bar == std::string::npos) continue;
    std::istringstream head(line.substr(0, bar));
    std::string hex, ccc;
    head >> hex >> ccc;
    std::string mark;
    unicode::append_utf8(mark, static_cast<char32_t>(std::stoul(hex, nullptr, 16)));
    std::string rest;
    std::getline(head, rest);
    std::string s1, s2;
    const std::string got1(unicode::nfc("\u0345" + mark, s1)), got2(unicode::nfc(mark + "\u0334", s2));
    if ((got1 != cps(rest) || got2 != cps(line.substr(bar + 3))) && ++bad <= 10) first += " [" + line + "]";
    ++n;
  }
  EXPECT_GT(n, 900u);
  EXPECT_EQ(bad, 0u) << first;
}

}  // namespace
}  // namespace hearth::test
