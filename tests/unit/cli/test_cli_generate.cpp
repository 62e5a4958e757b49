// Black-box tests of the `hearth generate` CLI contract (docs/cli.md).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "common/run_command.h"
#include "common/tiny_model.h"

using hearth::testing::run_command;
using hearth::testing::TempDir;
using nlohmann::json;

namespace {

class CliGenerate : public ::testing::Test {
 protected:
  void SetUp() override { model_ = "random:" + dir_.write("config.json", hearth::testing::tiny_config_json().dump()); }
  std::string hearth(const std::string& args) const {
    return std::string(HEARTH_BINARY) + " generate --model " + model_ + " --device cpu --threads 1 " + args;
  }
  TempDir dir_;
  std::string model_;
};

}  // namespace

TEST_F(CliGenerate, JsonOutputFollowsTheContract) {
  const auto r = run_command(hearth("--prompt-ids 1,2,3 --max-tokens 5 --temperature 0 --logprobs 4 --json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json j = json::parse(r.output);
  ASSERT_EQ(j["ids"].size(), 5u);
  EXPECT_EQ(j["text"], "");  // a random model has no tokenizer
  EXPECT_EQ(j["finish_reason"], "length");
  ASSERT_EQ(j["logprobs"].size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    const json& lp = j["logprobs"][i];
    EXPECT_EQ(lp["id"], j["ids"][i]);
    ASSERT_EQ(lp["top"].size(), 4u);
    // Greedy: the chosen token is the most likely one.
    EXPECT_EQ(lp["top"][0][0], lp["id"]);
    EXPECT_FLOAT_EQ(lp["top"][0][1].get<float>(), lp["logprob"].get<float>());
    EXPECT_LE(lp["logprob"].get<float>(), 0.0f);
  }
  // Without --logprobs there is no logprobs key.
  const auto plain = run_command(hearth("--prompt-ids 1,2,3 --max-tokens 2 --temperature 0 --json"));
  ASSERT_EQ(plain.exit_code, 0);
  EXPECT_FALSE(json::parse(plain.output).contains("logprobs"));
}

TEST_F(CliGenerate, BatchFileKeepsInputOrderAndMatchesSingleRuns) {
  const std::string batch = dir_.write("batch.jsonl",
                                       "{\"prompt_ids\": [5, 6, 7], \"max_tokens\": 4}\n"
                                       "\n"
                                       "{\"prompt_ids\": [9], \"max_tokens\": 2, \"temperature\": 0}\n"
                                       "{\"prompt_ids\": [100, 200], \"seed\": 3, \"temperature\": 0.8}\n");
  const auto r = run_command(hearth("--batch-file " + batch + " --temperature 0 --max-tokens 3"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::istringstream lines(r.output);
  std::vector<json> out;
  for (std::string line; std::getline(lines, line);) out.push_back(json::parse(line));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0]["ids"].size(), 4u);
  EXPECT_EQ(out[1]["ids"].size(), 2u);
  EXPECT_EQ(out[2]["ids"].size(), 3u);  // the command's --max-tokens is the line's default
  const auto single0 = json::parse(run_command(hearth("--prompt-ids 5,6,7 --max-tokens 4 --temperature 0 --json")).output);
  const auto single2 =
      json::parse(run_command(hearth("--prompt-ids 100,200 --max-tokens 3 --temperature 0.8 --seed 3 --json")).output);
  EXPECT_EQ(out[0]["ids"], single0["ids"]);
  EXPECT_EQ(out[2]["ids"], single2["ids"]);
}

TEST_F(CliGenerate, BadInputGivesClearErrors) {
  struct Case {
    std::string args, needle;
  };
  const std::string bad_key = dir_.write("bad_key.jsonl", "{\"prompt_ids\": [1]}\n{\"prompt_ids\": [1], \"topp\": 1}\n");
  const std::string bad_json = dir_.write("bad_json.jsonl", "{\"prompt_ids\": [1]\n");
  const std::string bad_id = dir_.write("bad_id.jsonl", "{\"prompt_ids\": [1, 99999]}\n");
  const std::vector<Case> cases = {
      {"--prompt-ids 1,x,3", "'x' is not a token id"},
      {"--prompt-ids 1,,3", "empty item"},
      {"--prompt-ids 1,2 --top-p 0", "top_p"},
      {"--prompt-ids 1,400", "outside the vocabulary"},
      {"--prompt-ids 1 --batch-file " + bad_key, "exactly one of"},
      {"--batch-file " + bad_key, "bad_key.jsonl:2: unknown key 'topp'"},
      {"--batch-file " + bad_json, "bad_json.jsonl:1: not valid JSON"},
      {"--batch-file " + bad_id, "request 1: prompt token 99999"},
      {"--batch-file /nonexistent/x.jsonl", "cannot open '/nonexistent/x.jsonl'"},
      {"--prompt hello", "no tokenizer"},
      {"--prompt-ids 1 --gpu-memory-utilization 1.5", "--gpu-memory-utilization: 1.5 is not in (0, 1]"},
      {"--prompt-ids 1 --gpu-memory-budget 14gigs", "--gpu-memory-budget: unknown unit"},
  };
  for (const Case& c : cases) {
    const auto r = run_command(hearth(c.args), /*merge_stderr=*/true);
    EXPECT_NE(r.exit_code, 0) << c.args;
    EXPECT_NE(r.output.find(c.needle), std::string::npos) << c.args << "\n got: " << r.output;
    EXPECT_EQ(r.output.find("internal check failed"), std::string::npos) << r.output;
  }
  const auto tpu = run_command(std::string(HEARTH_BINARY) + " generate --model " + model_ + " --prompt-ids 1 --device tpu", true);
  EXPECT_NE(tpu.exit_code, 0);
  EXPECT_NE(tpu.output.find("unknown device 'tpu'"), std::string::npos) << tpu.output;
  const auto missing = run_command(std::string(HEARTH_BINARY) + " generate --model /nonexistent/model --prompt-ids 1", true);
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.output.find("/nonexistent/model"), std::string::npos) << missing.output;
}
