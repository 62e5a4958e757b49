// Loading: the vocab.json + merges.txt form equals tokenizer.json; malformed files give a
// hearth::Error that names the file, never a crash.
#include <filesystem>
#include <random>

#include "hearth/core/error.h"
#include "tokenizer_test_util.h"

namespace hearth::test {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("hearth_tok_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

TEST(TokenizerLoader, VocabAndMergesEqualTokenizerJson) {
  HEARTH_REQUIRE_QWEN3();
  const fs::path d = temp_dir("vm");
  for (const char* f : {"vocab.json", "merges.txt", "tokenizer_config.json"}) fs::copy_file(qwen3_dir() + "/" + f, d / f);
  ASSERT_TRUE(Tokenizer::has_tokenizer_files(d.string()));
  const auto tok = Tokenizer::load(d.string());
  EXPECT_EQ(tok->vocab_size(), qwen3().vocab_size());
  size_t n = 0;
  for (const char* file : {"/corpus.jsonl", "/stress.jsonl"}) {
    for (const auto& r : read_jsonl(golden_dir() + file)) {
      const std::string text = r.contains("hex") ? from_hex(r["hex"].get<std::string>()) : r["text"].get<std::string>();
      EXPECT_EQ(tok->encode(text), qwen3().encode(text)) << r.value("name", text);
      ++n;
    }
  }
  EXPECT_GT(n, 1000u);
  for (int32_t id = 0; id < tok->vocab_size(); ++id) {
    ASSERT_EQ(tok->token_bytes(id), qwen3().token_bytes(id)) << id;
    ASSERT_EQ(tok->is_special(id), qwen3().is_special(id)) << id;
  }
  fs::remove_all(d);
}

TEST(TokenizerLoader, MissingFilesAreNamed) {
  const fs::path d = temp_dir("missing");
  EXPECT_FALSE(Tokenizer::has_tokenizer_files(d.string()));
  try {
    Tokenizer::load(d.string());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.json"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Tokenizer::load((d / "nope").string()), Error);
  fs::remove_all(d);
}

void expect_refused(const std::string& text, const std::string& needle) {
  try {
    Tokenizer::from_json(text, "bad/tokenizer.json");
    ADD_FAILURE() << "accepted: " << text.substr(0, 200);
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("bad/tokenizer.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << "message lacks '" << needle << "': " << msg;
  }
}

const char* kMinimal = R"({"added_tokens": [], "normalizer": {"type": "NFC"},
  "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false},
    {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]},
  "post_processor": null, "decoder": {"type": "ByteLevel"},
  "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3}, "merges": [["a", "b"]]}})";

TEST(TokenizerLoader, MinimalFileWorks) {
  const auto tok = Tokenizer::from_json(kMinimal, "minimal");
  EXPECT_EQ(tok->encode("ab ab"), (std::vector<int32_t>{2, 3, 2}));
  EXPECT_EQ(tok->encode("ba"), (std::vector<int32_t>{1, 0}));
  // Bytes without a token are dropped, as HF's BPE without unk does.
  EXPECT_EQ(tok->encode("xa"), (std::vector<int32_t>{0}));
  EXPECT_EQ(tok->decode(std::vector<int32_t>{2, 3, 1}), "ab b");
}

TEST(TokenizerLoader, MalformedFilesAreRefusedWithContext) {
  const std::string ok = kMinimal;
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = ok;
    const size_t p = s.find(from);
    EXPECT_NE(p, std::string::npos) << from;
    return s.replace(p, from.size(), to);
  };
  expect_refused("", "expected '{'");
  expect_refused("{", "");
  expect_refused("[1, 2]", "expected '{'");
  expect_refused(ok + "x", "unexpected text");
  expect_refused(replace("\"merges\": [[\"a\", \"b\"]]", "\"merges\": [[\"a\", \"zz\"]]"), "not in the vocabulary");
  expect_refused(replace("\"merges\": [[\"a\", \"b\"]]", "\"merges\": [\"a b c\"]"), "one space");
  expect_refused(replace("\"ab\": 2", "\"ab\": -2"), "out of range");
  expect_refused(replace("\"ab\": 2", "\"ab\": 99999999999"), "");
  expect_refused(replace("\"ab\": 2", "\"ab\": 2.5"), "integer");
  expect_refused(replace("{\"type\": \"NFC\"}", "{\"type\": \"NFKC\"}"), "/normalizer");
  expect_refused(replace("\"behavior\": \"Isolated\"", "\"behavior\": \"Removed\""), "/pre_tokenizer");
  expect_refused(replace("(?i:'s", "(?i:'x"), "Qwen2 pattern");
  expect_refused(replace("\"decoder\": {\"type\": \"ByteLevel\"}", "\"decoder\": null"), "/decoder");
  expect_refused(replace("\"post_processor\": null", "\"post_processor\": {\"type\": \"TemplateProcessing\"}"),
                 "/post_processor");
  expect_refused(replace("\"type\": \"BPE\"", "\"type\": \"WordPiece\""), "/model/type");
  expect_refused(replace("\"type\": \"BPE\"", "\"type\": \"BPE\", \"dropout\": 0.1"), "dropout");
  expect_refused(replace("\"added_tokens\": []", "\"added_tokens\": [{\"id\": \"x\", \"content\": \"<a>\"}]"), "/added_tokens/0/id");
  expect_refused(replace("\"added_tokens\": []", "\"added_tokens\": {}"), "/added_tokens");
  expect_refused(replace("\"vocab\": {", "\"vocab\": {\"\\ud800\": 7, "), "surrogate");
  expect_refused(replace("\"vocab\": {", "\"vocab\": {\"\xff\": 7, "), "UTF-8");
  expect_refused(replace("\"model\": {", "\"model\": {\"x\": [[[["), "");
}

TEST(TokenizerLoader, TruncatedAndMutatedFilesNeverCrash) {
  const std::string ok = kMinimal;
  for (size_t cut = 0; cut < ok.size(); ++cut) {
    EXPECT_THROW(Tokenizer::from_json(ok.substr(0, cut), "cut"), Error) << cut;
  }
  std::mt19937 rng(17);
  for (int i = 0; i < 3000; ++i) {
    std::string s = ok;
    for (int k = 0; k < 3; ++k) s[rng() % s.size()] = static_cast<char>(rng());
    try {
      const auto tok = Tokenizer::from_json(s, "mutated");
      tok->encode("ab ab\xff <x>");
    } catch (const Error&) {
    }
  }
}

}  // namespace
}  // namespace hearth::test
