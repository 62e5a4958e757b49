// Paged attention on CUDA against the CPU reference: prefill batches of sequences of
// different lengths (1, lengths that are and are not multiples of the 64-row tile), steps
// that continue a cached prefix, mixed prefill + decode batches, pure decode batches
// (split-KV), a context past 8k, GQA groups 1..8, MHA, head dims 64/128 (tensor-core
// prefill) and 96/256 (generic kernel), odd block sizes and shuffled block tables.
//
// Tolerance: inputs are identical bf16 values. The prefill kernel rounds the softmax
// weights P to bf16 before P.V (relative error <= 2^-9 each, so <= 2^-9 * max|v| on the
// output) and both kernels round the output (2^-9 relative). atol = 2^-8 * max|v| is twice
// the first bound, rtol = 2^-8 twice the second; exp2 vs exp and the accumulation order
// add ~1e-6.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "parity_util.h"

namespace hearth::gpu_test {
namespace {

class AttentionScenario {
 public:
  AttentionScenario(int heads, int kv_heads, int head_dim, int block_size, int num_blocks,
                    uint64_t seed, float q_scale = 4.0f)
      : heads_(heads), kv_heads_(kv_heads), head_dim_(head_dim), block_size_(block_size),
        rng_(seed), q_scale_(q_scale) {
    KvCacheSpec spec;
    spec.num_layers = 2;  // the tests use layer 1: the per-layer offset is exercised
    spec.num_blocks = num_blocks;
    spec.block_size = block_size;
    spec.num_kv_heads = kv_heads;
    spec.head_dim = head_dim;
    spec.dtype = DType::F32;
    backends().cpu->init_kv_cache(spec);
    spec.dtype = DType::BF16;
    backends().gpu->init_kv_cache(spec);
    free_blocks_.resize(num_blocks);
    std::iota(free_blocks_.begin(), free_blocks_.end(), 0);
    // Shuffled: a sequence's blocks are scattered over the cache, as after real churn.
    for (int i = num_blocks - 1; i > 0; --i)
      std::swap(free_blocks_[i], free_blocks_[rng_.next_u64() % (i + 1)]);
  }

  // One step: sequence s gets work[i].second new tokens after its cached ones.
  void step(const std::vector<std::pair<int, int>>& work, const std::string& label) {
    StepBatch b;
    int max_blocks = 0;
    for (auto [s, n] : work) {
      if (s >= static_cast<int>(lens_.size())) {
        lens_.resize(s + 1, 0);
        blocks_.resize(s + 1);
      }
      const int ctx = lens_[s] + n;
      while (static_cast<int>(blocks_[s].size()) * block_size_ < ctx) {
        ASSERT_FALSE(free_blocks_.empty()) << "scenario ran out of KV blocks";
        blocks_[s].push_back(free_blocks_.back());
        free_blocks_.pop_back();
      }
      max_blocks = std::max(max_blocks, static_cast<int>(blocks_[s].size()));
    }
    b.max_blocks_per_seq = max_blocks;
    b.query_start.push_back(0);
    for (auto [s, n] : work) {
      for (int i = 0; i < n; ++i) {
        const int pos = lens_[s] + i;
        b.token_ids.push_back(0);
        b.positions.push_back(pos);
        b.slot_mapping.push_back(blocks_[s][pos / block_size_] * block_size_ + pos % block_size_);
      }
      lens_[s] += n;
      b.query_start.push_back(b.num_tokens());
      b.context_lens.push_back(lens_[s]);
      for (int i = 0; i < max_blocks; ++i)
        b.block_tables.push_back(i < static_cast<int>(blocks_[s].size()) ? blocks_[s][i] : -1);
    }
    const int t = b.num_tokens();
    auto cpu_batch = backends().cpu->upload_batch(b);
    auto gpu_batch = backends().gpu->upload_batch(b);
    TensorPair q = tensor_pair(random_values(size_t(t) * heads_ * head_dim_, rng_, q_scale_),
                             Shape{t, heads_, head_dim_});
    const std::vector<float> vv = random_values(size_t(t) * kv_heads_ * head_dim_, rng_);
    max_v_ = std::max(max_v_, max_abs(vv));
    TensorPair k = tensor_pair(random_values(size_t(t) * kv_heads_ * head_dim_, rng_),
                             Shape{t, kv_heads_, head_dim_});
    TensorPair v = tensor_pair(vv, Shape{t, kv_heads_, head_dim_});
    TensorPair out = alloc_pair(Shape{t, heads_ * head_dim_});
    poison_gpu(out);
    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim_));
    backends().cpu->attention(1, q.cpu, k.cpu, v.cpu, scale, *cpu_batch, out.cpu);
    backends().gpu->attention(1, q.gpu, k.gpu, v.gpu, scale, *gpu_batch, out.gpu);
    expect_close(read(*backends().gpu, out.gpu), read(*backends().cpu, out.cpu),
                 2 * kBf16Rounding, 2 * kBf16Rounding * max_v_,
                 "attention " + std::to_string(heads_) + "/" + std::to_string(kv_heads_) + "h d" +
                     std::to_string(head_dim_) + " bs" + std::to_string(block_size_) + " " + label);
    free_pair(q);
    free_pair(k);
    free_pair(v);
    free_pair(out);
  }

 private:
  int heads_, kv_heads_, head_dim_, block_size_;
  Rng rng_;
  float q_scale_;
  double max_v_ = 0.0;
  std::vector<int> lens_;
  std::vector<std::vector<int>> blocks_;
  std::vector<int> free_blocks_;
};

TEST(GpuAttention, Gqa4HeadDim128PrefillContinueDecode) {
  HEARTH_REQUIRE_GPU();
  AttentionScenario s(8, 2, 128, 16, 256, 11);
  s.step({{0, 1}, {1, 17}, {2, 64}, {3, 100}, {4, 200}}, "prefill 1/17/64/100/200");
  s.step({{0, 1}, {1, 37}, {3, 1}, {4, 130}}, "mixed continue + decode");
  s.step({{0, 1}, {1, 1}, {2, 1}, {3, 1}, {4, 1}}, "decode x5");
  s.step({{2, 1}}, "decode x1");
}

TEST(GpuAttention, MhaHeadDim64OddBlockSize) {
  HEARTH_REQUIRE_GPU();
  AttentionScenario s(4, 4, 64, 7, 256, 12);
  s.step({{0, 65}, {1, 3}, {2, 128}}, "prefill 65/3/128");
  s.step({{0, 1}, {1, 70}, {2, 1}}, "mixed");
  s.step({{0, 1}, {1, 1}, {2, 1}}, "decode x3");
}

TEST(GpuAttention, Group8AndPeakedScores) {
  HEARTH_REQUIRE_GPU();
  // q scaled so that scores span tens of units: the softmax is nearly one-hot, which
  // stresses the running-max rescaling.
  AttentionScenario s(16, 2, 64, 16, 128, 13, 24.0f);
  s.step({{0, 33}, {1, 150}}, "prefill 33/150");
  s.step({{0, 1}, {1, 1}}, "decode x2");
}

TEST(GpuAttention, LongContextPast8k) {
  HEARTH_REQUIRE_GPU();
  AttentionScenario s(4, 1, 128, 16, 700, 14);
  s.step({{0, 9000}}, "prefill 9000");
  s.step({{0, 1}, {1, 5}}, "mixed decode@9001 + prefill 5");
  s.step({{0, 1}, {1, 1}}, "decode @9002 + @6 (split-KV)");
  s.step({{0, 100}}, "continue 100 on 9002 cached");
  s.step({{0, 1}}, "decode @9103 alone");
}

TEST(GpuAttention, GenericHeadDims) {
  HEARTH_REQUIRE_GPU();
  {
    AttentionScenario s(4, 2, 96, 16, 64, 15);  // 12 lanes of 16 active
    s.step({{0, 5}, {1, 70}}, "prefill 5/70");
    s.step({{0, 1}, {1, 1}}, "decode x2");
  }
  {
    AttentionScenario s(2, 2, 256, 16, 64, 16);
    s.step({{0, 3}, {1, 80}}, "prefill 3/80");
    s.step({{0, 1}, {1, 1}}, "decode x2");
  }
}

}  // namespace
}  // namespace hearth::gpu_test
