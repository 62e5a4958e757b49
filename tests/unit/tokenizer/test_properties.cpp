// Properties that hold for any input: decode(encode(x)) == NFC(x), streaming equals whole
// decoding and never splits a character, encoding is deterministic across threads.
#include <cstdlib>
#include <random>
#include <thread>

#include "hearth/tokenizer/byte_level.h"
#include "hearth/tokenizer/unicode.h"
#include "tokenizer_test_util.h"

namespace hearth::test {
namespace {

// NFC as HF computes it: unicode::nfc (checked against HF on every code point in
// test_golden.cpp, and against utf8proc's whole-string NFC in test_unicode.cpp).
std::string nfc_reference(const std::string& s) {
  std::string storage;
  return std::string(unicode::nfc(s, storage));
}

std::string random_text(std::mt19937& rng, size_t max_len) {
  static const char32_t pool[] = {' ', ' ', '\t', '\n', '\r', 'a', 'b', 'Z', '\'', 's', 'L', '1', '9', '.', '!', '<', '>', '|',
                                  0xE9, 0x0301, 0x0323, 0x00A0, 0x3000, 0x2028, 0x4E2D, 0x1F600, 0x200D, 0xFE0F, 0x0663,
                                  0x0967, 0x2167, 0x00BD, 0x017F, 0x1100, 0x1161, 0x11A8, 0x212B, 0x0958, 0xFFFD};
  std::string s;
  const size_t n = rng() % (max_len + 1);
  for (size_t i = 0; i < n; ++i) {
    const unsigned r = rng() % 100;
    char32_t cp;
    if (r < 60) {
      cp = pool[rng() % (sizeof pool / sizeof pool[0])];
    } else if (r < 90) {
      cp = 0x20 + rng() % 0x3000;
    } else {
      cp = rng() % 0x110000;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
    unicode::append_utf8(s, cp);
    if (rng() % 40 == 0) s += "<|im_end|>";
  }
  return s;
}

TEST(TokenizerProperties, DecodeOfEncodeIsNfc) {
  HEARTH_REQUIRE_QWEN3();
  std::mt19937 rng(7);
  for (int i = 0; i < 3000; ++i) {
    const std::string s = random_text(rng, 60);
    ASSERT_EQ(qwen3().decode(qwen3().encode(s)), nfc_reference(s)) << nlohmann::json(s).dump();
  }
  for (const auto& r : read_jsonl(golden_dir() + "/corpus.jsonl")) {
    const std::string raw = r.contains("hex") ? from_hex(r["hex"].get<std::string>()) : r["text"].get<std::string>();
    std::string clean;
    unicode::append_sanitized(clean, raw);
    EXPECT_EQ(qwen3().decode(qwen3().encode(raw)), nfc_reference(clean)) << r["name"];
  }
}

TEST(TokenizerProperties, InvalidUtf8NeverThrows) {
  HEARTH_REQUIRE_QWEN3();
  std::mt19937 rng(11);
  for (int i = 0; i < 2000; ++i) {
    std::string s(rng() % 64, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    std::vector<int32_t> ids;
    ASSERT_NO_THROW(ids = qwen3().encode(s));
    std::string clean;
    unicode::append_sanitized(clean, s);
    EXPECT_EQ(qwen3().decode(ids), nfc_reference(clean));
  }
}

TEST(TokenizerProperties, StreamingEqualsDecodeAndKeepsCharactersWhole) {
  HEARTH_REQUIRE_QWEN3();
  std::mt19937 rng(3);
  const int vocab = qwen3().vocab_size();
  for (int iter = 0; iter < 2000; ++iter) {
    std::vector<int32_t> ids;
    const size_t n = rng() % 30;
    for (size_t k = 0; k < n; ++k) {
      // Mix arbitrary ids with the tokens of single bytes, which split characters.
      ids.push_back(rng() % 3 ? static_cast<int32_t>(rng() % (vocab + 10)) - 5
                              : *qwen3().token_to_id(tok_detail::bytes_to_byte_level(std::string(1, static_cast<char>(rng())))));
    }
    for (bool skip : {false, true}) {
      StreamDecoder sd(qwen3(), skip);
      std::string all;
      for (int32_t id : ids) {
        const std::string part = sd.push(id);
        ASSERT_TRUE(unicode::is_valid_utf8(part));
        all += part;
      }
      all += sd.flush();
      ASSERT_EQ(all, qwen3().decode(ids, skip));
    }
  }
}

TEST(TokenizerProperties, SameResultFromManyThreads) {
  HEARTH_REQUIRE_QWEN3();
  std::vector<std::string> texts;
  for (const auto& r : read_jsonl(golden_dir() + "/corpus.jsonl")) {
    if (r.contains("text")) texts.push_back(r["text"].get<std::string>());
  }
  std::vector<std::vector<int32_t>> want;
  for (const auto& t : texts) want.push_back(qwen3().encode(t));
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      int good = 0;
      for (int rep = 0; rep < 3; ++rep) {
        for (size_t i = 0; i < texts.size(); ++i) good += qwen3().encode(texts[(i + static_cast<size_t>(t) * 7) % texts.size()]) ==
                                                         want[(i + static_cast<size_t>(t) * 7) % texts.size()];
      }
      ok[static_cast<size_t>(t)] = good;
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(ok[static_cast<size_t>(t)], static_cast<int>(3 * texts.size()));
}

TEST(TokenizerProperties, TokenLookups) {
  HEARTH_REQUIRE_QWEN3();
  const Tokenizer& tok = qwen3();
  EXPECT_EQ(tok.vocab_size(), 151669);
  for (const AddedToken& a : tok.added_tokens()) {
    EXPECT_EQ(tok.token_to_id(a.content), a.id);
    EXPECT_EQ(tok.id_to_token(a.id), a.content);
    EXPECT_EQ(tok.is_special(a.id), a.special);
    EXPECT_EQ(tok.token_bytes(a.id), a.content);
    EXPECT_EQ(tok.encode(a.content), std::vector<int32_t>{a.id});
  }
  std::mt19937 rng(5);
  for (int i = 0; i < 5000; ++i) {
    const auto id = static_cast<int32_t>(rng() % 151643);
    const std::string t = tok.id_to_token(id);
    ASSERT_FALSE(t.empty());
    EXPECT_EQ(tok.token_to_id(t), id);
    EXPECT_FALSE(tok.is_special(id));
    EXPECT_EQ(tok.decode(std::vector<int32_t>{id}), [&] {
      std::string clean;
      unicode::append_sanitized(clean, tok.token_bytes(id));
      return clean;
    }());
  }
  EXPECT_EQ(tok.token_bytes(-1), "");
  EXPECT_EQ(tok.token_bytes(tok.vocab_size()), "");
  EXPECT_FALSE(tok.token_to_id("no such token at all").has_value());
}

}  // namespace
}  // namespace hearth::test
