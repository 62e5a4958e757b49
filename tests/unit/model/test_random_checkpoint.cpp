#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "hearth/model/checkpoint.h"
#include "hearth/model/weight_layout.h"
#include "model_test_util.h"

namespace hearth {
namespace {

using test::expect_error;
using test::json;
using test::TempDir;
using test::tiny_config;

std::vector<const Weight*> all_weights(const ModelWeights& w) {
  std::vector<const Weight*> out{&w.embed_tokens};
  for (const auto& l : w.layers)
    for (const Weight* x : {&l.input_layernorm, &l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.q_norm, &l.k_norm,
                            &l.post_attention_layernorm, &l.gate_proj, &l.up_proj, &l.down_proj})
      out.push_back(x);
  out.push_back(&w.norm);
  out.push_back(&w.lm_head);
  return out;
}

bool same_bytes(const Checkpoint& a, const Checkpoint& b) {
  const auto wa = all_weights(a.weights()), wb = all_weights(b.weights());
  for (size_t i = 0; i < wa.size(); ++i) {
    if (wa[i]->t.nbytes() != wb[i]->t.nbytes()) return false;
    if (std::memcmp(wa[i]->t.data, wb[i]->t.data, wa[i]->t.nbytes()) != 0) return false;
  }
  return true;
}

struct Stats {
  double mean = 0, std = 0, min = 1e30, max = -1e30;
};
Stats stats(const Weight& w) {
  Stats s;
  const int64_t n = w.t.numel();
  double sum = 0, sq = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double x = load_as_f32(w.t.data, w.t.dtype, static_cast<size_t>(i));
    sum += x;
    sq += x * x;
    s.min = std::min(s.min, x);
    s.max = std::max(s.max, x);
  }
  s.mean = sum / static_cast<double>(n);
  s.std = std::sqrt(std::max(0.0, sq / static_cast<double>(n) - s.mean * s.mean));
  return s;
}

class RandomCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    json cfg = tiny_config(/*tied=*/false);
    cfg["eos_token_id"] = {5, 6};
    cfg["hidden_size"] = 256;
    cfg["intermediate_size"] = 512;
    cfg["vocab_size"] = 1000;
    test::write_text(dir_.file("config.json"), cfg.dump());
    model_ = "random:" + dir_.file("config.json");
  }
  TempDir dir_;
  std::string model_;
};

TEST_F(RandomCheckpoint, ShapesMatchTheConfig) {
  const auto ck = Checkpoint::open(model_);
  EXPECT_TRUE(ck->is_random());
  EXPECT_TRUE(ck->directory().empty());
  EXPECT_EQ(ck->generation_config().eos_token_ids, (std::vector<int>{5, 6}));
  const auto specs = expected_tensors(ck->config());
  const auto weights = all_weights(ck->weights());
  ASSERT_EQ(specs.size(), weights.size());  // untied: lm_head is in both lists, last
  for (size_t i = 0; i < specs.size(); ++i) {
    EXPECT_EQ(weights[i]->name, specs[i].name);
    EXPECT_EQ(weights[i]->t.shape, specs[i].shape) << specs[i].name;
    EXPECT_EQ(weights[i]->t.dtype, DType::BF16);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(weights[i]->t.data) % 64, 0u);
  }
  EXPECT_NE(ck->weights().lm_head.t.data, ck->weights().embed_tokens.t.data);
}

TEST_F(RandomCheckpoint, DeterministicForASeedWhateverTheThreadCount) {
  LoadOptions one{.random_seed = 42, .random_dtype = DType::BF16, .threads = 1};
  LoadOptions many{.random_seed = 42, .random_dtype = DType::BF16, .threads = 3};
  const auto a = Checkpoint::open(model_, one);
  const auto b = Checkpoint::open(model_, many);
  EXPECT_TRUE(same_bytes(*a, *b));
  LoadOptions other = one;
  other.random_seed = 43;
  const auto c = Checkpoint::open(model_, other);
  // Every tensor differs, not just some.
  const auto wa = all_weights(a->weights()), wc = all_weights(c->weights());
  for (size_t i = 0; i < wa.size(); ++i)
    EXPECT_NE(std::memcmp(wa[i]->t.data, wc[i]->t.data, wa[i]->t.nbytes()), 0) << wa[i]->name;
  // Tensors of equal shape within one model are not copies of each other.
  EXPECT_NE(std::memcmp(a->weights().layers[0].gate_proj.t.data, a->weights().layers[0].up_proj.t.data,
                        a->weights().layers[0].up_proj.t.nbytes()),
            0);
}

TEST_F(RandomCheckpoint, ValueScales) {
  for (DType dt : {DType::BF16, DType::F16, DType::F32}) {
    SCOPED_TRACE(std::string(dtype_name(dt)));
    const auto ck = Checkpoint::open(model_, LoadOptions{.random_seed = 7, .random_dtype = dt});
    const ModelWeights& w = ck->weights();
    EXPECT_EQ(w.layers[0].up_proj.t.dtype, dt);
    // Linear and embedding weights: mean 0, std 0.02 (uniform in +-0.02*sqrt(3)).
    for (const Weight* x : {&w.embed_tokens, &w.layers[1].up_proj, &w.lm_head}) {
      const Stats s = stats(*x);
      EXPECT_NEAR(s.mean, 0.0, 0.002) << x->name;
      EXPECT_NEAR(s.std, 0.02, 0.001) << x->name;
      EXPECT_LE(s.max, 0.02 * std::sqrt(3.0) * 1.01) << x->name;
      EXPECT_GE(s.min, -0.02 * std::sqrt(3.0) * 1.01) << x->name;
    }
    // Norm weights: around 1.
    const Stats n = stats(w.norm);
    EXPECT_NEAR(n.mean, 1.0, 0.01);
    EXPECT_GT(n.std, 0.005);
    EXPECT_LT(n.std, 0.03);
  }
}

TEST(RandomCheckpointPreset, TiedPresetModel) {
  // qwen3-0.6b at full size (1.2 GB of bf16): the real shapes, tied head, preset eos ids.
  const auto ck = Checkpoint::open("random:qwen3-0.6b", LoadOptions{.random_seed = 1});
  const ModelConfig& c = ck->config();
  EXPECT_EQ(c.hidden_size, 1024);
  EXPECT_EQ(ck->weights().layers.size(), 28u);
  EXPECT_EQ(ck->weights().layers[27].q_proj.t.shape, (Shape{2048, 1024}));
  EXPECT_EQ(ck->weights().embed_tokens.t.shape, (Shape{151936, 1024}));
  EXPECT_EQ(ck->weights().lm_head.t.data, ck->weights().embed_tokens.t.data);
  EXPECT_EQ(ck->generation_config().eos_token_ids, (std::vector<int>{151645, 151643}));
  EXPECT_TRUE(ck->directory().empty());
  const Stats s = stats(ck->weights().layers[27].down_proj);
  EXPECT_NEAR(s.std, 0.02, 0.0005);
}

TEST(RandomCheckpointPreset, ShapesOfEveryPreset) {
  // Checked without allocating: the same layout function builds the random weights.
  for (const std::string& name : preset_names()) {
    SCOPED_TRACE(name);
    const ModelConfig c = preset_config(name);
    const auto specs = expected_tensors(c);
    EXPECT_EQ(specs.size(), 1 + 11 * static_cast<size_t>(c.num_hidden_layers) + 1 + (c.tie_word_embeddings ? 0 : 1));
    int64_t total = 0;
    for (const auto& s : specs) total += s.shape.numel();
    EXPECT_EQ(total, c.num_parameters());
  }
}

TEST(RandomCheckpointPreset, Errors) {
  expect_error([] { Checkpoint::open("random:"); }, {"random:", "qwen3-0.6b"});
  expect_error([] { Checkpoint::open("random:qwen3-70b"); }, {"qwen3-70b", "known: qwen3-0.6b"});
  expect_error([] { Checkpoint::open("random:/no/such/config.json"); }, {"/no/such/config.json", "no such config file"});
  expect_error([] { Checkpoint::open("random:qwen3-0.6b", LoadOptions{.random_dtype = DType::I32}); },
               {"must be F32, F16 or BF16"});
  TempDir dir;
  test::write_text(dir.file("config.json"), "{\"architectures\": [\"GPT2LMHeadModel\"]}");
  expect_error([&] { Checkpoint::open("random:" + dir.file("config.json")); }, {dir.file("config.json"), "GPT2LMHeadModel"});
}

}  // namespace
}  // namespace hearth
