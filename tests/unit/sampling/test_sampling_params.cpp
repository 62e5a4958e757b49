#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "hearth/core/error.h"
#include "hearth/sampling/sampling_params.h"

namespace hearth {
namespace {

constexpr int kVocab = 1000;

// Expects validate() to throw an Error whose message names `field`.
void expect_rejected(const std::function<void(SamplingParams&)>& mutate, const std::string& field) {
  SamplingParams p;
  mutate(p);
  try {
    p.validate(kVocab);
    ADD_FAILURE() << "no error for a bad '" << field << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'" + field + "'"), std::string::npos) << e.what();
  }
}

TEST(SamplingParams, DefaultsAndEdgeValuesAreValid) {
  SamplingParams p;
  EXPECT_NO_THROW(p.validate(kVocab));
  p.temperature = 0.0f;
  p.top_k = -1;
  p.top_p = 1.0f;
  p.min_p = 1.0f;
  p.repetition_penalty = 0.5f;
  p.presence_penalty = -2.0f;
  p.frequency_penalty = 2.0f;
  p.max_tokens = 1;
  p.logprobs = 20;
  p.stop_token_ids = {0, kVocab - 1};
  EXPECT_NO_THROW(p.validate(kVocab));
  p.top_k = 0;
  p.top_p = 1e-6f;
  p.min_p = 0.0f;
  EXPECT_NO_THROW(p.validate(kVocab));
}

TEST(SamplingParams, ErrorsNameTheField) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  expect_rejected([](SamplingParams& p) { p.temperature = -0.1f; }, "temperature");
  expect_rejected([&](SamplingParams& p) { p.temperature = nan; }, "temperature");
  expect_rejected([&](SamplingParams& p) { p.temperature = inf; }, "temperature");
  expect_rejected([](SamplingParams& p) { p.top_k = -2; }, "top_k");
  expect_rejected([](SamplingParams& p) { p.top_p = 0.0f; }, "top_p");
  expect_rejected([](SamplingParams& p) { p.top_p = 1.01f; }, "top_p");
  expect_rejected([&](SamplingParams& p) { p.top_p = nan; }, "top_p");
  expect_rejected([](SamplingParams& p) { p.min_p = -0.01f; }, "min_p");
  expect_rejected([](SamplingParams& p) { p.min_p = 1.5f; }, "min_p");
  expect_rejected([&](SamplingParams& p) { p.min_p = nan; }, "min_p");
  expect_rejected([](SamplingParams& p) { p.repetition_penalty = 0.0f; }, "repetition_penalty");
  expect_rejected([&](SamplingParams& p) { p.repetition_penalty = inf; }, "repetition_penalty");
  expect_rejected([](SamplingParams& p) { p.presence_penalty = 2.5f; }, "presence_penalty");
  expect_rejected([&](SamplingParams& p) { p.presence_penalty = nan; }, "presence_penalty");
  expect_rejected([](SamplingParams& p) { p.frequency_penalty = -2.5f; }, "frequency_penalty");
  expect_rejected([](SamplingParams& p) { p.max_tokens = 0; }, "max_tokens");
  expect_rejected([](SamplingParams& p) { p.logprobs = -1; }, "logprobs");
  expect_rejected([](SamplingParams& p) { p.logprobs = 21; }, "logprobs");
  expect_rejected([](SamplingParams& p) { p.stop_token_ids = {5, kVocab}; }, "stop_token_ids");
  expect_rejected([](SamplingParams& p) { p.stop_token_ids = {-1}; }, "stop_token_ids");
}

}  // namespace
}  // namespace hearth
