// The CLI contract of `hearth tokenize`, `hearth detokenize` and `hearth bench tokenizer`,
// driven as a black box against the HF references in tests/golden/tokenizer/.
#include <filesystem>

#include "common/run_command.h"
#include "tokenizer_test_util.h"

namespace hearth::test {
namespace {

namespace fs = std::filesystem;
using hearth::testing::run_command;

class TokenizeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    HEARTH_REQUIRE_QWEN3();
    if (!fs::exists(HEARTH_BINARY)) GTEST_SKIP() << HEARTH_BINARY << " not built";
    dir_ = fs::temp_directory_path() / ("hearth_tok_cli_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string file(const std::string& name, const std::string& content) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }
  std::string hearth(const std::string& args) { return std::string(HEARTH_BINARY) + " " + args; }
  std::string model() { return "--model " + qwen3_dir(); }
  fs::path dir_;
};

TEST_F(TokenizeCli, TextFileAndBatchMatchHF) {
  const auto rows = read_jsonl(golden_dir() + "/corpus.jsonl");
  std::string batch;
  std::vector<std::string> want;
  size_t n = 0;
  for (const auto& r : rows) {
    if (!r.contains("text") || n >= 40) continue;
    ++n;
    const std::string text = r["text"].get<std::string>();
    const auto res = run_command(hearth("tokenize " + model() + " --text-file " + file("t.txt", text)));
    ASSERT_EQ(res.exit_code, 0);
    EXPECT_EQ(res.output, nlohmann::json(r["ids"]).dump() + "\n") << r["name"];
    batch += nlohmann::ordered_json{{"text", text}}.dump() + "\n";
    want.push_back(nlohmann::json(r["ids"]).dump());
  }
  // Invalid UTF-8 in a file is replaced, as HF encodes Python's errors="replace" decoding.
  for (const auto& r : rows) {
    if (!r.contains("hex")) continue;
    const auto res = run_command(hearth("tokenize " + model() + " --text-file " + file("b.bin", from_hex(r["hex"].get<std::string>()))));
    ASSERT_EQ(res.exit_code, 0);
    EXPECT_EQ(res.output, nlohmann::json(r["ids"]).dump() + "\n") << r["name"];
  }
  const auto res = run_command(hearth("tokenize " + model() + " --batch-file " + file("b.jsonl", batch)));
  ASSERT_EQ(res.exit_code, 0);
  std::string expected;
  for (const auto& w : want) expected += w + "\n";
  EXPECT_EQ(res.output, expected);
}

TEST_F(TokenizeCli, MessagesMatchTransformers) {
  size_t checked = 0;
  std::string batch, expected;
  for (const auto& r : read_jsonl(golden_dir() + "/chat.jsonl")) {
    if (r["template"] != "qwen3") continue;
    nlohmann::ordered_json line{{"messages", r["messages"]}, {"add_generation_prompt", r["add_generation_prompt"]}};
    if (r.contains("enable_thinking")) line["enable_thinking"] = r["enable_thinking"];
    if (r.contains("tools")) line["tools"] = r["tools"];
    batch += line.dump() + "\n";
    expected += nlohmann::json(r["ids"]).dump() + "\n";
    // --messages with the flags, for the cases the flags can express.
    const bool think_default = !r.contains("enable_thinking"), think_false = !think_default && !r["enable_thinking"].get<bool>();
    if (!r.contains("tools") && (think_default || think_false) && checked < 30) {
      std::string args = "tokenize " + model() + " --messages " + file("m.json", r["messages"].dump());
      if (think_false) args += " --no-thinking";
      if (!r["add_generation_prompt"].get<bool>()) args += " --no-generation-prompt";
      const auto res = run_command(hearth(args));
      ASSERT_EQ(res.exit_code, 0) << r["name"];
      EXPECT_EQ(res.output, nlohmann::json(r["ids"]).dump() + "\n") << r["name"];
      ++checked;
    }
  }
  EXPECT_GE(checked, 20u);
  const auto res = run_command(hearth("tokenize " + model() + " --batch-file " + file("c.jsonl", batch)));
  ASSERT_EQ(res.exit_code, 0);
  EXPECT_EQ(res.output, expected);
}

TEST_F(TokenizeCli, DetokenizeMatchesHF) {
  std::string batch, expected;
  size_t n = 0;
  for (const auto& r : read_jsonl(golden_dir() + "/decode.jsonl")) {
    const bool skip = r["skip_special"].get<bool>();
    batch += nlohmann::ordered_json{{"ids", r["ids"]}, {"skip_special_tokens", skip}}.dump() + "\n";
    expected += nlohmann::json(r["text"]).dump() + "\n";
    if (n++ < 30 && !r["ids"].empty()) {
      std::string list;
      for (const auto& id : r["ids"]) {
        if (!list.empty()) list += ',';
        list += std::to_string(id.get<int>());
      }
      const std::string flags = skip ? " --skip-special-tokens" : "";
      auto res = run_command(hearth("detokenize " + model() + " --ids " + list + flags));
      ASSERT_EQ(res.exit_code, 0);
      EXPECT_EQ(res.output, r["text"].get<std::string>()) << r["name"];
      res = run_command(hearth("detokenize " + model() + " --json --ids-file " + file("i.json", r["ids"].dump()) + flags));
      ASSERT_EQ(res.exit_code, 0);
      EXPECT_EQ(res.output, nlohmann::json(r["text"]).dump() + "\n") << r["name"];
    }
  }
  const auto res = run_command(hearth("detokenize " + model() + " --batch-file " + file("d.jsonl", batch)));
  ASSERT_EQ(res.exit_code, 0);
  EXPECT_EQ(res.output, expected);
}

TEST_F(TokenizeCli, BadInputGivesAnErrorNotACrash) {
  const std::vector<std::string> cases = {
      "tokenize " + model(),
      "tokenize " + model() + " --text-file " + (dir_ / "missing.txt").string(),
      "tokenize --model " + dir_.string() + " --text-file " + file("x.txt", "x"),
      "tokenize " + model() + " --messages " + file("bad.json", "{not json"),
      "tokenize " + model() + " --messages " + file("bad2.json", "[{\"role\": \"user\", \"content\": [1]}]"),
      "tokenize " + model() + " --batch-file " + file("bad.jsonl", "{\"text\": 1}\n"),
      "tokenize " + model() + " --batch-file " + file("bad2.jsonl", "{\"foo\": 1}\n"),
      "detokenize " + model() + " --ids 1,-2",
      "detokenize " + model() + " --ids 1,,2",
      "detokenize " + model() + " --ids-file " + file("ids.json", "[1, \"a\"]"),
      "detokenize " + model(),
  };
  for (const auto& c : cases) {
    const auto res = run_command(hearth(c), true);
    EXPECT_NE(res.exit_code, 0) << c;
    EXPECT_TRUE(res.exit_code == 1 || res.exit_code == 105 || res.exit_code == 106 || res.exit_code == 109) << c << " -> " << res.exit_code;
    EXPECT_NE(res.output.find("rror"), std::string::npos) << c << ": " << res.output;
  }
}

TEST_F(TokenizeCli, BenchPrintsJson) {
  const auto res = run_command(hearth("bench tokenizer " + model() + " --repeat 1"));
  ASSERT_EQ(res.exit_code, 0) << res.output;
  const auto j = nlohmann::json::parse(res.output);
  EXPECT_GT(j["load_ms"].get<double>(), 0.0);
  ASSERT_EQ(j["samples"].size(), 2u);
  for (const auto& s : j["samples"]) {
    EXPECT_GT(s["encode_MBps"].get<double>(), 0.0);
    EXPECT_GT(s["decode_MBps"].get<double>(), 0.0);
    EXPECT_GT(s["tokens"].get<int>(), 0);
  }
}

}  // namespace
}  // namespace hearth::test
