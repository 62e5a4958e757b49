// Paged attention against a dense causal softmax attention over each sequence's full K/V
// history: prefill of several sequences of different lengths, then decode steps and a
// chunked-prefill step continuing them through non-contiguous block tables.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "cpu_test_util.h"
#include "hearth/backend/cpu/cpu_backend.h"
#include "hearth/core/error.h"

namespace hearth {
namespace {

using testing::DeviceTensor;
using testing::random_floats;

struct AttnConfig {
  int heads, kv_heads, head_dim, block_size;
};

struct Sequence {
  std::vector<int32_t> blocks;
  int len = 0;
  std::vector<float> k, v;  // full history, [len, kv_heads, head_dim]
};

class PagedAttentionHarness {
 public:
  PagedAttentionHarness(const AttnConfig& c, int num_seqs, int threads, int num_layers = 1)
      : c_(c), backend_(threads), seqs_(static_cast<size_t>(num_seqs)) {
    KvCacheSpec spec;
    spec.num_layers = num_layers;
    spec.num_blocks = 64;
    spec.block_size = c.block_size;
    spec.num_kv_heads = c.kv_heads;
    spec.head_dim = c.head_dim;
    backend_.init_kv_cache(spec);
    free_blocks_.resize(static_cast<size_t>(spec.num_blocks));
    std::iota(free_blocks_.begin(), free_blocks_.end(), 0);
    std::shuffle(free_blocks_.begin(), free_blocks_.end(), std::mt19937(99));  // non-contiguous
  }

  CpuBackend& backend() { return backend_; }

  // One step: sequence new_tokens[i].first gets new_tokens[i].second tokens. Runs the
  // backend and checks every output against the dense reference.
  void step(const std::vector<std::pair<int, int>>& new_tokens, int layer = 0) {
    const int kvd = c_.kv_heads * c_.head_dim, qd = c_.heads * c_.head_dim;
    StepBatch b;
    b.query_start.push_back(0);
    for (const auto& [s, n] : new_tokens) {
      Sequence& seq = seqs_[static_cast<size_t>(s)];
      for (int i = 0; i < n; ++i) {
        const int pos = seq.len + i;
        if (pos / c_.block_size >= static_cast<int>(seq.blocks.size())) {
          seq.blocks.push_back(free_blocks_.back());
          free_blocks_.pop_back();
        }
        b.token_ids.push_back(0);
        b.positions.push_back(pos);
        b.slot_mapping.push_back(seq.blocks[pos / c_.block_size] * c_.block_size +
                                 pos % c_.block_size);
      }
      b.query_start.push_back(b.query_start.back() + n);
      b.context_lens.push_back(seq.len + n);
    }
    for (const auto& [s, n] : new_tokens) {  // + 1: a -1 padded column, as the engine has
      const int used = static_cast<int>(seqs_[static_cast<size_t>(s)].blocks.size());
      b.max_blocks_per_seq = std::max(b.max_blocks_per_seq, used + 1);
    }
    for (const auto& [s, n] : new_tokens) {
      const auto& blocks = seqs_[static_cast<size_t>(s)].blocks;
      for (int i = 0; i < b.max_blocks_per_seq; ++i)
        b.block_tables.push_back(i < static_cast<int>(blocks.size()) ? blocks[i] : -1);
    }

    const int T = b.num_tokens();
    const auto q = random_floats(static_cast<size_t>(T * qd), seed_++);
    const auto k = random_floats(static_cast<size_t>(T * kvd), seed_++);
    const auto v = random_floats(static_cast<size_t>(T * kvd), seed_++);
    DeviceTensor dq(backend_, {T, c_.heads, c_.head_dim}, q),
        dk(backend_, {T, c_.kv_heads, c_.head_dim}, k), dv(backend_, {T, kvd}, v),
        out(backend_, {T, qd});
    auto db = backend_.upload_batch(b);
    const float scale = 1.0f / std::sqrt(static_cast<float>(c_.head_dim));
    backend_.attention(layer, dq.view(), dk.view(), dv.view(), scale, *db, out.view());
    const auto got = out.host();

    // The cache holds this step's k/v at the slots.
    const cpu::PagedKvLayer cache = backend_.kv_layer(layer);
    for (int t = 0; t < T; ++t)
      for (int i = 0; i < kvd; ++i) {
        ASSERT_EQ(cache.k[b.slot_mapping[t] * kvd + i], k[t * kvd + i]);
        ASSERT_EQ(cache.v[b.slot_mapping[t] * kvd + i], v[t * kvd + i]);
      }

    // Dense reference over the full history.
    int t = 0;
    for (const auto& [s, n] : new_tokens) {
      Sequence& seq = seqs_[static_cast<size_t>(s)];
      seq.k.insert(seq.k.end(), k.begin() + t * kvd, k.begin() + (t + n) * kvd);
      seq.v.insert(seq.v.end(), v.begin() + t * kvd, v.begin() + (t + n) * kvd);
      for (int i = 0; i < n; ++i, ++t) {
        const int pos = seq.len + i;
        for (int h = 0; h < c_.heads; ++h) {
          const int kh = h / (c_.heads / c_.kv_heads);
          const float* qv = &q[(t * c_.heads + h) * c_.head_dim];
          std::vector<double> scores(static_cast<size_t>(pos + 1));
          for (int p = 0; p <= pos; ++p) {
            double d = 0;
            for (int e = 0; e < c_.head_dim; ++e)
              d += static_cast<double>(qv[e]) * seq.k[(p * c_.kv_heads + kh) * c_.head_dim + e];
            scores[p] = d * scale;
          }
          const double mx = *std::max_element(scores.begin(), scores.end());
          double z = 0;
          for (double& x : scores) z += (x = std::exp(x - mx));
          for (int e = 0; e < c_.head_dim; ++e) {
            double ref = 0;
            for (int p = 0; p <= pos; ++p)
              ref += scores[p] / z * seq.v[(p * c_.kv_heads + kh) * c_.head_dim + e];
            // Convex combination of O(1) values with fp32 softmax: ~1e-6 absolute.
            ASSERT_NEAR(got[(t * c_.heads + h) * c_.head_dim + e], ref, 1e-5)
                << "seq " << s << " token " << i << " head " << h << " dim " << e;
          }
        }
      }
      seq.len += n;
    }
  }

 private:
  AttnConfig c_;
  CpuBackend backend_;
  std::vector<Sequence> seqs_;
  std::vector<int32_t> free_blocks_;
  uint32_t seed_ = 1;
};

class CpuAttention : public ::testing::TestWithParam<AttnConfig> {};

TEST_P(CpuAttention, PrefillThenDecodeThroughPagedCache) {
  PagedAttentionHarness h(GetParam(), 3, 3);
  h.step({{0, 5}, {1, 1}, {2, 13}});        // prefill, different lengths
  for (int i = 0; i < 4; ++i) h.step({{0, 1}, {1, 1}, {2, 1}});  // decode
  h.step({{1, 6}, {0, 1}});                 // chunked prefill next to a decode
  h.step({{2, 1}});                         // a single sequence alone
}

INSTANTIATE_TEST_SUITE_P(Shapes, CpuAttention,
                         ::testing::Values(AttnConfig{4, 2, 8, 4},     // GQA
                                           AttnConfig{3, 3, 6, 4},     // MHA
                                           AttnConfig{4, 1, 16, 2},    // MQA
                                           AttnConfig{8, 2, 12, 16}),  // one block per seq
                         [](const auto& info) {
                           const AttnConfig& c = info.param;
                           return "h" + std::to_string(c.heads) + "kv" +
                                  std::to_string(c.kv_heads) + "d" + std::to_string(c.head_dim) +
                                  "bs" + std::to_string(c.block_size);
                         });

TEST(CpuAttentionLayers, LayersHaveSeparateCaches) {
  // A sequence lives in layer 0; writing slot 0 of layer 1 must leave layer 0 unchanged,
  // and layer 0's next decode step must still match its own history.
  const AttnConfig c{2, 1, 8, 4};
  PagedAttentionHarness layer0(c, 1, 1, 2);
  layer0.step({{0, 6}}, 0);
  CpuBackend& be = layer0.backend();
  const cpu::PagedKvLayer l0 = be.kv_layer(0), l1 = be.kv_layer(1);
  EXPECT_NE(l0.k, l1.k);
  std::vector<float> before(l0.k, l0.k + 64 * 4 * 8);
  StepBatch b = testing::positions_batch({0});
  b.slot_mapping = {0};
  b.block_tables = {0};
  b.max_blocks_per_seq = 1;
  auto db = be.upload_batch(b);
  DeviceTensor q(be, {1, 2, 8}, random_floats(16, 5)), k(be, {1, 8}, random_floats(8, 6)),
      v(be, {1, 8}, random_floats(8, 7)), out(be, {1, 16});
  be.attention(1, q.view(), k.view(), v.view(), 0.3f, *db, out.view());
  EXPECT_TRUE(std::equal(before.begin(), before.end(), l0.k));  // layer 0 untouched
  layer0.step({{0, 1}}, 0);  // and its decode still matches its own history
}

TEST(CpuAttentionErrors, BadSlotsBlocksAndLayersThrow) {
  CpuBackend be(1);
  StepBatch b = testing::positions_batch({0});
  b.slot_mapping = {0};
  b.block_tables = {0};
  b.max_blocks_per_seq = 1;
  DeviceTensor q(be, {1, 2, 8}), k(be, {1, 8}), v(be, {1, 8}), out(be, {1, 16});
  {
    auto db = be.upload_batch(b);
    EXPECT_THROW(be.attention(0, q.view(), k.view(), v.view(), 1.0f, *db, out.view()), Error)
        << "no KV cache yet";
  }
  KvCacheSpec spec{1, 4, 4, 1, 8, DType::F32};
  be.init_kv_cache(spec);
  auto run = [&](const StepBatch& sb, int layer) {
    auto db = be.upload_batch(sb);
    be.attention(layer, q.view(), k.view(), v.view(), 1.0f, *db, out.view());
  };
  EXPECT_NO_THROW(run(b, 0));
  EXPECT_THROW(run(b, 1), Error);
  StepBatch bad_slot = b;
  bad_slot.slot_mapping = {16};
  EXPECT_THROW(run(bad_slot, 0), Error);
  StepBatch bad_block = b;
  bad_block.block_tables = {-1};
  EXPECT_THROW(run(bad_block, 0), Error);
  StepBatch too_long = b;
  too_long.context_lens = {5};  // needs 2 blocks, table has 1
  EXPECT_THROW(run(too_long, 0), Error);
  KvCacheSpec bf16_spec = spec;
  bf16_spec.dtype = DType::BF16;
  EXPECT_THROW(be.init_kv_cache(bf16_spec), Error);
}

}  // namespace
}  // namespace hearth
