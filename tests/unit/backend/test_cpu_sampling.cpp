// The CPU backend's device-sampling entry points (the reference of the CUDA kernels) and
// SampleBatch::validate.
#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <vector>

#include "hearth/backend/backend.h"
#include "hearth/core/error.h"
#include "hearth/sampling/sampler.h"

namespace hearth {
namespace {

std::vector<float> random_logits(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.0f, 2.5f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(gen);
  return v;
}

// Each row's pick is what a Sampler with those parameters picks (same u stream), and the
// logprobs are compute_logprobs of the raw row.
TEST(CpuSampling, PicksEqualTheSamplers) {
  auto backend = make_cpu_backend(1);
  ASSERT_TRUE(backend->supports_device_sampling());
  const int vocab = 3001, rows = 6;
  std::vector<SamplingParams> params(rows);
  params[0].temperature = 0.0f;
  params[1].temperature = 0.7f;
  params[1].top_p = 0.9f;
  params[2].temperature = 1.1f;
  params[2].top_k = 20;
  params[2].repetition_penalty = 1.4f;
  params[3].temperature = 0.5f;
  params[3].min_p = 0.1f;
  params[3].frequency_penalty = 0.3f;
  params[4].temperature = 0.0f;
  params[4].presence_penalty = 1.0f;
  params[5].temperature = 1.0f;
  const std::vector<int32_t> prompt = {1, 5, 5, 80, 3000};
  std::vector<Sampler> dev, ref;
  for (int r = 0; r < rows; ++r) {
    params[static_cast<size_t>(r)].seed = 100 + static_cast<uint64_t>(r);
    params[static_cast<size_t>(r)].logprobs = 3;
    dev.emplace_back(params[static_cast<size_t>(r)], prompt);
    ref.emplace_back(params[static_cast<size_t>(r)], prompt);
  }
  TensorView logits = backend->alloc(DType::F32, Shape{rows, vocab});
  for (int step = 0; step < 8; ++step) {
    const std::vector<float> host = random_logits(static_cast<size_t>(rows) * vocab, 7 + static_cast<uint32_t>(step));
    std::copy(host.begin(), host.end(), static_cast<float*>(logits.data));
    SampleBatch batch;
    batch.mask_words = (vocab + 31) / 32;
    batch.top_logprobs = 3;
    for (int r = 0; r < rows; ++r)
      batch.rows.push_back(dev[static_cast<size_t>(r)].export_row(vocab, batch.penalty_tokens,
                                                                 batch.penalty_counts, batch.masks));
    backend->upload_sampling(batch);
    backend->enqueue_sample(logits);
    std::vector<GreedyPick> picks(rows);
    backend->read_greedy(picks);
    for (int r = 0; r < rows; ++r) {
      std::vector<float> row(host.begin() + static_cast<ptrdiff_t>(r) * vocab,
                             host.begin() + static_cast<ptrdiff_t>(r + 1) * vocab);
      TokenLogprobs lp;
      const int expected = ref[static_cast<size_t>(r)].sample(row, &lp);
      ASSERT_EQ(picks[static_cast<size_t>(r)].id, expected) << "row " << r << " step " << step;
      EXPECT_EQ(picks[static_cast<size_t>(r)].logprob, lp.logprob);
      EXPECT_EQ(picks[static_cast<size_t>(r)].top, lp.top);
      dev[static_cast<size_t>(r)].accept(expected);
      ref[static_cast<size_t>(r)].accept(expected);
    }
  }
  backend->free(logits);
}

TEST(CpuSampling, NothingToPickIsAnError) {
  auto backend = make_cpu_backend(1);
  TensorView logits = backend->alloc(DType::F32, Shape{2, 40});
  float* x = static_cast<float*>(logits.data);
  for (int i = 0; i < 80; ++i) x[i] = 1.0f;
  SampleBatch batch;
  batch.mask_words = 2;
  batch.masks = {0u, 0u, 1u, 0u};  // row 0: nothing allowed; row 1: token 0
  batch.rows.resize(2);
  batch.rows[0].mask_row = 0;
  batch.rows[1].mask_row = 1;
  backend->upload_sampling(batch);
  backend->enqueue_sample(logits);
  std::vector<GreedyPick> picks(2);
  EXPECT_THROW(backend->read_greedy(picks), Error);
  batch.rows[0].mask_row = 1;
  for (int i = 0; i < 80; ++i) x[i] = 1.0f;  // the logits are scratch: masked to -inf above
  backend->upload_sampling(batch);
  backend->enqueue_sample(logits);
  backend->read_greedy(picks);
  EXPECT_EQ(picks[0].id, 0);
  EXPECT_EQ(picks[1].id, 0);
  // Row counts must agree.
  TensorView three = backend->alloc(DType::F32, Shape{3, 40});
  EXPECT_THROW(backend->enqueue_sample(three), Error);
  backend->free(three);
  backend->free(logits);
}

TEST(SampleBatch, ValidateRejectsBadBatches) {
  const int vocab = 100;
  SampleBatch good;
  good.mask_words = 4;
  good.masks.assign(8, ~0u);
  good.penalty_tokens = {1, 5, 99};
  good.penalty_counts = {0, 2, 1};
  good.rows.resize(2);
  good.rows[0].mask_row = 1;
  good.rows[0].penalty_end = 3;
  good.rows[1].temperature = 0.5f;
  good.rows[1].u = 0.25;
  good.validate(vocab);
  EXPECT_FALSE(good.plain_greedy());
  EXPECT_EQ(good.graph_variant(), 1);

  auto expect_bad = [&](auto&& change) {
    SampleBatch b = good;
    change(b);
    EXPECT_THROW(b.validate(vocab), Error);
  };
  expect_bad([](SampleBatch& b) { b.rows[1].top_p = 0.0f; });
  expect_bad([](SampleBatch& b) { b.rows[1].top_p = 1.5f; });
  expect_bad([](SampleBatch& b) { b.rows[1].min_p = -0.1f; });
  expect_bad([](SampleBatch& b) { b.rows[1].temperature = -1.0f; });
  expect_bad([](SampleBatch& b) { b.rows[1].temperature = std::numeric_limits<float>::quiet_NaN(); });
  expect_bad([](SampleBatch& b) { b.rows[1].repetition_penalty = 0.0f; });
  expect_bad([](SampleBatch& b) { b.rows[1].u = 1.0; });
  expect_bad([](SampleBatch& b) { b.rows[1].mask_row = 2; });
  expect_bad([](SampleBatch& b) { b.masks.push_back(0); });
  expect_bad([](SampleBatch& b) { b.penalty_tokens = {5, 1, 99}; });     // not increasing
  expect_bad([](SampleBatch& b) { b.penalty_tokens = {1, 5, 100}; });    // outside the vocabulary
  expect_bad([](SampleBatch& b) { b.penalty_counts = {0, -1, 1}; });
  expect_bad([](SampleBatch& b) { b.penalty_counts.pop_back(); });
  expect_bad([](SampleBatch& b) { b.rows[0].penalty_end = 4; });
  expect_bad([](SampleBatch& b) { b.rows[0].penalty_begin = 2, b.rows[0].penalty_end = 1; });
  expect_bad([](SampleBatch& b) { b.top_logprobs = 33; });
  EXPECT_THROW(good.validate(sample_math::kMaxVocab + 1), Error);

  SampleBatch greedy;
  greedy.rows.resize(3);
  greedy.validate(vocab);
  EXPECT_TRUE(greedy.plain_greedy());
  EXPECT_EQ(greedy.graph_variant(), 0);
  greedy.rows[1].mask_row = 0;  // constrained greedy: no sampled row
  greedy.mask_words = 4;
  greedy.masks.assign(4, ~0u);
  EXPECT_TRUE(greedy.greedy_only());
  EXPECT_EQ(greedy.graph_variant(), 2);
  greedy.rows[1].temperature = 0.6f;
  EXPECT_EQ(greedy.graph_variant(), 1);
}

}  // namespace
}  // namespace hearth
