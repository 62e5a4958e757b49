#include <gtest/gtest.h>

#include "hearth/core/error.h"
#include "hearth/engine/request_rules.h"

using namespace hearth;

TEST(RequestRules, StopAndLengthFollowTheGeneratorsRules) {
  SamplingParams p;
  p.max_tokens = 5;
  p.stop_token_ids = {42};
  const std::vector<int> eos = {7};
  EXPECT_EQ(check_stop(p, eos, 7, 10, 1, 100), FinishReason::Stop);
  EXPECT_EQ(check_stop(p, eos, 42, 10, 1, 100), FinishReason::Stop);
  EXPECT_EQ(check_stop(p, eos, 8, 10, 1, 100), FinishReason::None);
  EXPECT_EQ(check_stop(p, eos, 8, 10, 5, 100), FinishReason::Length);   // max_tokens
  EXPECT_EQ(check_stop(p, eos, 8, 10, 2, 12), FinishReason::Length);    // context full
  EXPECT_EQ(check_stop(p, eos, 7, 10, 5, 100), FinishReason::Stop);     // a stop beats length
  p.ignore_eos = true;
  EXPECT_EQ(check_stop(p, eos, 7, 10, 1, 100), FinishReason::None);
  EXPECT_EQ(check_stop(p, eos, 42, 10, 1, 100), FinishReason::Stop);   // stop ids still stop
  EXPECT_STREQ(to_string(FinishReason::Length), "length");
  EXPECT_STREQ(to_string(FinishReason::Abort), "abort");
}

TEST(RequestRules, ValidationNamesTheProblem) {
  SamplingParams p;
  const std::vector<int32_t> ok = {1, 2};
  EXPECT_NO_THROW(validate_request(ok, p, 10, 8));
  auto message = [&](std::vector<int32_t> prompt, const SamplingParams& params, int len) {
    try {
      validate_request(prompt, params, 10, len);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({}, p, 8).find("empty"), std::string::npos);
  EXPECT_NE(message({1, 10}, p, 8).find("token 10 at index 1"), std::string::npos);
  EXPECT_NE(message({1, 2, 3}, p, 3).find("context is 3 tokens"), std::string::npos);
  SamplingParams bad;
  bad.top_p = 0.0f;
  EXPECT_NE(message(ok, bad, 8).find("top_p"), std::string::npos);
}

TEST(RequestRules, DeviceGreedyOnlyWithoutPenaltiesOrSampling) {
  SamplingParams p;
  EXPECT_FALSE(device_greedy_eligible(p));  // temperature 1
  p.temperature = 0.0f;
  EXPECT_TRUE(device_greedy_eligible(p));
  p.logprobs = 33;
  EXPECT_FALSE(device_greedy_eligible(p));
  p.logprobs = 5;
  p.repetition_penalty = 1.1f;
  EXPECT_FALSE(device_greedy_eligible(p));
}
