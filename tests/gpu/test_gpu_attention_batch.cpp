// Decode attention at batch sizes > 1 (the serving engine's decode steps) and the fp8
// (e4m3) KV cache, on CUDA against the CPU reference:
// - the fp8 encoding of the CUDA cache write against kv_fp8.h's, bit for bit, over every
//   finite bf16 value (the CPU reference's fp8 cache relies on it);
// - decode batches of 1..64 sequences with contexts up to ~2k (tensor-core kernel, and the
//   SIMT kernel for bf16 through HEARTH_CUDA_DECODE_MMA=0), bf16 and fp8 caches, GQA
//   groups 4 and 8, head dims 64 and 128, block sizes 16 and 7, shuffled block tables;
// - decode through a fixed batch (splits sized on the device, as in graph replays);
// - the fused attention_block against the unfused ops on a second CUDA backend.
//
// Tolerance against the CPU: both caches hold the same values (bf16: identical bf16
// inputs; fp8: the same e4m3 rounding of identical inputs, checked by the first test), so
// the differences are the kernels' own roundings: P to bf16 (bf16 cache, 2^-9 relative per
// weight, <= 2^-9 * max|v| on the output) or to fp16 (fp8 cache, 2^-11), and the output to
// bf16 (2^-9 relative). atol = 2^-8 * max|v| and rtol = 2^-8 are twice the bf16 bounds, as
// in test_gpu_attention.cpp; exp2 vs exp and summation order add ~1e-6.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "hearth/backend/cuda/kernels.h"
#include "hearth/backend/kv_fp8.h"
#include "hearth/core/dtype.h"
#include "parity_util.h"

namespace hearth::gpu_test {
namespace {

TEST(GpuAttentionBatch, Fp8EncodingMatchesCpu) {
  HEARTH_REQUIRE_GPU();
  // Every finite bf16 value as one "k" and one "v" row element.
  std::vector<uint16_t> bits;
  for (uint32_t u = 0; u < 65536; ++u) {
    const float f = bf16_to_f32(static_cast<uint16_t>(u));
    if (std::isfinite(f)) bits.push_back(static_cast<uint16_t>(u));
  }
  const int row = 1024;
  const int tokens = static_cast<int>((bits.size() + row - 1) / row);
  bits.resize(static_cast<size_t>(tokens) * row, 0);
  std::vector<int32_t> slots(tokens);
  std::iota(slots.begin(), slots.end(), 0);
  void *d_x = nullptr, *d_cache_k = nullptr, *d_cache_v = nullptr, *d_slots = nullptr;
  ASSERT_EQ(cudaMalloc(&d_x, bits.size() * 2), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&d_cache_k, bits.size()), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&d_cache_v, bits.size()), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&d_slots, slots.size() * 4), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(d_x, bits.data(), bits.size() * 2, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(d_slots, slots.data(), slots.size() * 4, cudaMemcpyHostToDevice), cudaSuccess);
  for (const float scale : {1.0f, 0.75f, 16.0f}) {
    ASSERT_EQ(cuda::launch_kv_cache_write_fp8(d_x, d_x, static_cast<const int32_t*>(d_slots), tokens,
                                              row, scale, scale, d_cache_k, d_cache_v, nullptr),
              cudaSuccess);
    std::vector<uint8_t> got(bits.size());
    ASSERT_EQ(cudaMemcpy(got.data(), d_cache_k, got.size(), cudaMemcpyDeviceToHost), cudaSuccess);
    const float inv = 1.0f / scale;
    int bad = 0;
    for (size_t i = 0; i < bits.size(); ++i) {
      const uint8_t want = f32_to_e4m3(bf16_to_f32(bits[i]) * inv);
      if (got[i] != want && ++bad <= 5)
        ADD_FAILURE() << "scale " << scale << ": bf16 0x" << std::hex << bits[i] << " -> cuda 0x"
                      << int(got[i]) << ", cpu 0x" << int(want) << std::dec;
    }
    EXPECT_EQ(bad, 0) << "scale " << scale;
  }
  // Decoding: every non-NaN code round-trips through the CPU decoder and encoder.
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7F) == 0x7F) continue;
    EXPECT_EQ(f32_to_e4m3(e4m3_to_f32(static_cast<uint8_t>(c))), c == 0x80 ? 0x80 : c) << c;
  }
  cudaFree(d_x);
  cudaFree(d_cache_k);
  cudaFree(d_cache_v);
  cudaFree(d_slots);
}

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (had_) setenv(name_, old_.c_str(), 1);
    else unsetenv(name_);
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

class BatchScenario {
 public:
  BatchScenario(int heads, int kv_heads, int head_dim, int block_size, int num_blocks,
                uint64_t seed, bool fp8, float q_scale = 4.0f)
      : heads_(heads), kv_heads_(kv_heads), head_dim_(head_dim), block_size_(block_size),
        num_blocks_(num_blocks), fp8_(fp8), rng_(seed), q_scale_(q_scale) {
    KvCacheSpec spec;
    spec.num_layers = 2;  // layer 1: the per-layer offset is exercised
    spec.num_blocks = num_blocks;
    spec.block_size = block_size;
    spec.num_kv_heads = kv_heads;
    spec.head_dim = head_dim;
    spec.cache_dtype = fp8 ? KvCacheDtype::Fp8E4M3 : KvCacheDtype::Auto;
    spec.dtype = DType::F32;
    backends().cpu->init_kv_cache(spec);
    spec.dtype = DType::BF16;
    backends().gpu->init_kv_cache(spec);
    free_blocks_.resize(num_blocks);
    std::iota(free_blocks_.begin(), free_blocks_.end(), 0);
    for (int i = num_blocks - 1; i > 0; --i)
      std::swap(free_blocks_[i], free_blocks_[rng_.next_u64() % (i + 1)]);
  }

  // One step: sequence s gets n new tokens, for each (s, n). `fixed`: the GPU runs it
  // through upload_batch_fixed (decode only; splits sized on the device) with a block
  // table `table_width` entries wide. `pad`: padding sequences appended as the serving
  // engine pads decode batches to a bucket (make_step_batch): one token each, slot -1
  // (written nowhere), context 1 through a table whose only entry is pad_block().
  void step(const std::vector<std::pair<int, int>>& work, const std::string& label,
            bool fixed = false, int table_width = 0, int pad = 0) {
    StepBatch b;
    int max_blocks = std::max(table_width, pad > 0 ? 1 : 0);
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
    for (int i = 0; i < pad; ++i) {
      b.token_ids.push_back(0);
      b.positions.push_back(0);
      b.slot_mapping.push_back(-1);
      b.query_start.push_back(b.num_tokens());
      b.context_lens.push_back(1);
      for (int j = 0; j < max_blocks; ++j) b.block_tables.push_back(j == 0 ? pad_block_ : -1);
    }
    const int t = b.num_tokens();
    auto cpu_batch = backends().cpu->upload_batch(b);
    std::unique_ptr<DeviceBatch> gpu_owned;
    const DeviceBatch* gpu_batch = nullptr;
    if (fixed) {
      gpu_batch = &backends().gpu->upload_batch_fixed(b);
    } else {
      gpu_owned = backends().gpu->upload_batch(b);
      gpu_batch = gpu_owned.get();
    }
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
                 std::string(fp8_ ? "fp8 " : "bf16 ") + std::to_string(heads_) + "/" +
                     std::to_string(kv_heads_) + "h d" + std::to_string(head_dim_) + " bs" +
                     std::to_string(block_size_) + " " + label);
    free_pair(q);
    free_pair(k);
    free_pair(v);
    free_pair(out);
  }

  // Writes NaN K and V into every slot of both caches (layer 1), so that a kernel that
  // reads a slot nobody wrote (or lets a masked, zero-weighted position into a sum: 0 x NaN)
  // shows NaN where the CPU reference, which reads written slots only, does not. Real
  // caches start zeroed, but a freed block keeps stale rows, and fp8 bytes 0x7F / 0xFF are
  // NaN. Call before any step: every sequence starts over.
  void poison() {
    StepBatch b;
    b.max_blocks_per_seq = 1;
    b.query_start.push_back(0);
    for (int blk = 0; blk < num_blocks_; ++blk) {
      for (int i = 0; i < block_size_; ++i) {
        b.token_ids.push_back(0);
        b.positions.push_back(0);
        b.slot_mapping.push_back(blk * block_size_ + i);
        b.query_start.push_back(b.num_tokens());
        b.context_lens.push_back(1);
        b.block_tables.push_back(blk);
      }
    }
    const int t = b.num_tokens();
    auto cpu_batch = backends().cpu->upload_batch(b);
    auto gpu_batch = backends().gpu->upload_batch(b);
    const std::vector<float> nan(size_t(t) * kv_heads_ * head_dim_, std::nanf(""));
    TensorPair q = tensor_pair(std::vector<float>(size_t(t) * heads_ * head_dim_, 0.0f),
                               Shape{t, heads_, head_dim_});
    TensorPair k = tensor_pair(nan, Shape{t, kv_heads_, head_dim_});
    TensorPair v = tensor_pair(nan, Shape{t, kv_heads_, head_dim_});
    TensorPair out = alloc_pair(Shape{t, heads_ * head_dim_});
    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim_));
    backends().cpu->attention(1, q.cpu, k.cpu, v.cpu, scale, *cpu_batch, out.cpu);
    backends().gpu->attention(1, q.gpu, k.gpu, v.gpu, scale, *gpu_batch, out.gpu);
    backends().gpu->synchronize();
    free_pair(q);
    free_pair(k);
    free_pair(v);
    free_pair(out);
  }

  // Sequence dst starts as a prefix-cache hit on src: it shares src's first `n` blocks
  // (full ones) and its next step continues after them.
  void share_prefix(int dst, int src, int n) {
    if (dst >= static_cast<int>(lens_.size())) {
      lens_.resize(dst + 1, 0);
      blocks_.resize(dst + 1);
    }
    ASSERT_TRUE(blocks_[dst].empty());
    ASSERT_LE(n * block_size_, lens_[src]);
    blocks_[dst].assign(blocks_[src].begin(), blocks_[src].begin() + n);
    lens_[dst] = n * block_size_;
  }

  // Sequence s ends (or is preempted): its blocks go back to the free list, stale rows and
  // all, and are the next ones handed out.
  void release(int s) {
    for (int blk : blocks_[s]) free_blocks_.push_back(blk);
    blocks_[s].clear();
    lens_[s] = 0;
  }

  int len(int s) const { return lens_[s]; }
  // The block padding sequences attend to (the engine uses block 0): after poison() it
  // must be a written one.
  void set_pad_block(int s) { pad_block_ = blocks_[s][0]; }

  // Prefill of `lens[i]` tokens for sequences first.., then `decodes` decode steps of all.
  void run(const std::vector<int>& lens, int decodes, const std::string& label) {
    std::vector<std::pair<int, int>> prefill, decode;
    for (size_t i = 0; i < lens.size(); ++i) {
      prefill.emplace_back(static_cast<int>(i), lens[i]);
      decode.emplace_back(static_cast<int>(i), 1);
    }
    step(prefill, label + " prefill");
    for (int d = 0; d < decodes; ++d) step(decode, label + " decode " + std::to_string(d));
  }

 private:
  int heads_, kv_heads_, head_dim_, block_size_;
  int num_blocks_ = 0;
  int pad_block_ = 0;
  bool fp8_;
  Rng rng_;
  float q_scale_;
  double max_v_ = 0.0;
  std::vector<int> lens_;
  std::vector<std::vector<int>> blocks_;
  std::vector<int> free_blocks_;
};

std::vector<int> lengths(int n, int base, int spread, uint64_t seed) {
  Rng rng(seed);
  std::vector<int> out(static_cast<size_t>(n));
  for (int& x : out) x = base + static_cast<int>(rng.next_u64() % static_cast<uint64_t>(spread));
  return out;
}

void decode_batches(bool fp8) {
  // Qwen3-8B's group (32/8 -> 4 per kv head, scaled down to 8/2), d128, block 16.
  {
    BatchScenario s(8, 2, 128, 16, 2048, 51, fp8);
    s.run(lengths(64, 1, 120, 1), 2, "64 seqs ctx 1..120");
  }
  {
    BatchScenario s(8, 2, 128, 16, 2048, 52, fp8);
    s.run(lengths(16, 300, 500, 2), 2, "16 seqs ctx 300..800");
  }
  {  // long contexts: splits of the context over several CTAs
    BatchScenario s(8, 2, 128, 16, 1024, 53, fp8);
    s.run({2100, 1500, 17}, 2, "3 seqs ctx 2100/1500/17");
    s.run({1}, 1, "1 seq");
  }
  {  // group 8, head dim 64, block size 7, peaked scores
    BatchScenario s(16, 2, 64, 7, 2048, 54, fp8, 24.0f);
    s.run(lengths(24, 1, 400, 3), 2, "24 seqs ctx 1..400 peaked");
  }
  {  // MHA-like group 1 and group 2
    BatchScenario s(4, 4, 128, 16, 512, 55, fp8);
    s.run(lengths(8, 30, 200, 4), 1, "8 seqs group 1");
    BatchScenario s2(4, 2, 64, 16, 512, 56, fp8);
    s2.run(lengths(8, 30, 200, 5), 1, "8 seqs group 2");
  }
}

TEST(GpuAttentionBatch, DecodeBatchesBf16) {
  HEARTH_REQUIRE_GPU();
  decode_batches(false);
}

TEST(GpuAttentionBatch, DecodeBatchesBf16SimtKernel) {
  HEARTH_REQUIRE_GPU();
  ScopedEnv env("HEARTH_CUDA_DECODE_MMA", "0");
  decode_batches(false);
}

TEST(GpuAttentionBatch, DecodeBatchesFp8) {
  HEARTH_REQUIRE_GPU();
  decode_batches(true);
}

TEST(GpuAttentionBatch, FixedBatchDeviceSplits) {
  HEARTH_REQUIRE_GPU();
  for (const bool fp8 : {false, true}) {
    BatchScenario s(8, 2, 128, 16, 1024, 57, fp8);
    s.run({700, 40, 1}, 0, "3 seqs");
    // A table 256 blocks wide: the splits are sized for 4,096 positions, most stay empty.
    for (int d = 0; d < 3; ++d)
      s.step({{0, 1}, {1, 1}, {2, 1}}, "fixed decode " + std::to_string(d), true, 256);
  }
}

// The serving engine's step shapes over a cache whose unwritten slots hold NaN (poison()):
// chunked prefill continuing a cached prefix mixed with decode tokens, decode steps padded
// to a bucket (slot -1 rows, fixed batches as in graph replays), a preempted sequence's
// blocks reused stale by a recompute, a prefix-cache hit (shared blocks), and a batch of
// 256. Looking for the fp8 throughput run's NaN logits (15 of 256 requests): any read of a
// slot nobody wrote, or 0 x NaN from a masked position, shows up as a NaN mismatch.
void engine_like_steps(bool fp8) {
  {
    BatchScenario s(8, 2, 128, 16, 1024, 59, fp8);
    s.poison();
    s.step({{0, 100}, {1, 64}, {2, 1}, {3, 300}}, "chunks 100/64/1/300");
    s.set_pad_block(0);
    s.step({{0, 57}, {1, 1}, {2, 1}, {3, 129}, {4, 33}}, "continue 57, decode, continue 129, new 33");
    s.step({{0, 1}, {1, 1}, {2, 1}, {3, 1}, {4, 1}}, "decode 5 padded to 8", false, 0, 3);
    for (int d = 0; d < 3; ++d)
      s.step({{0, 1}, {1, 1}, {2, 1}, {3, 1}, {4, 1}}, "fixed decode padded " + std::to_string(d), true,
             64, 3);
    // Preemption by recompute: sequence 1's blocks go back (stale), sequence 5 re-prefills
    // its tokens and more in two chunks next to decodes.
    const int n1 = s.len(1);
    s.release(1);
    s.step({{5, 48}, {0, 1}, {2, 1}}, "recompute chunk 48 + decodes");
    s.step({{5, n1 - 48 + 20}, {0, 1}, {3, 1}}, "recompute rest + decodes");
    // Prefix-cache hit: sequence 6 shares sequence 3's first 20 blocks.
    s.share_prefix(6, 3, 20);
    s.step({{6, 45}, {0, 1}, {4, 1}}, "prefix hit 320 + 45");
    s.step({{6, 1}, {0, 1}, {2, 1}, {3, 1}, {4, 1}, {5, 1}}, "decode 6 padded to 8", false, 0, 2);
    for (int d = 0; d < 2; ++d)
      s.step({{6, 1}, {0, 1}, {2, 1}, {3, 1}, {4, 1}, {5, 1}}, "fixed decode 6 padded " + std::to_string(d),
             true, 64, 2);
  }
  {  // a decode batch of 256 (250 padded to 256), fixed and not
    BatchScenario s(8, 2, 128, 16, 3072, 60, fp8);
    s.poison();
    const std::vector<int> lens = lengths(250, 1, 300, 8);
    std::vector<std::pair<int, int>> prefill, decode;
    for (int i = 0; i < 250; ++i) {
      prefill.emplace_back(i, lens[static_cast<size_t>(i)]);
      decode.emplace_back(i, 1);
    }
    s.step(prefill, "250 seqs prefill");
    s.set_pad_block(0);
    s.step(decode, "250 decode padded to 256", false, 0, 6);
    for (int d = 0; d < 2; ++d) s.step(decode, "250 fixed decode padded " + std::to_string(d), true, 64, 6);
  }
}

TEST(GpuAttentionBatch, EngineLikeStepsBf16) {
  HEARTH_REQUIRE_GPU();
  engine_like_steps(false);
}

TEST(GpuAttentionBatch, EngineLikeStepsFp8) {
  HEARTH_REQUIRE_GPU();
  engine_like_steps(true);
}

// attention_block (fused decode kernel: q/k norm + RoPE, cache write, attention, combine)
// against a second CUDA backend with the fusions off (qk_norm_rope, then attention), both
// caches bf16 or both fp8. The same roundings on both sides (the same norm + RoPE code,
// the same split plan and tiles); what may differ is the split combine's fp32 summation
// order: ~1e-7 of the largest output, one bf16 step at most (rtol 2^-8).
TEST(GpuAttentionBatch, FusedBlockMatchesUnfused) {
  HEARTH_REQUIRE_GPU();
  CudaBackendOptions o;
  o.memory_budget_bytes = 4ull << 30;
  o.fuse_decode = false;
  std::unique_ptr<Backend> unfused = make_cuda_backend(o);
  Rng rng(58);
  const int heads = 32, kv_heads = 8, d = 128, block = 16, num_blocks = 1024;
  RopeTable rope;
  for (int i = 0; i < d / 2; ++i) rope.inv_freq.push_back(static_cast<float>(std::pow(1e6, -2.0 * i / d)));
  std::vector<float> qw = random_values(d, rng, 0.5f), kw = random_values(d, rng, 0.5f);
  for (float& x : qw) x = bf16_to_f32(f32_to_bf16(1.0f + x));
  for (float& x : kw) x = bf16_to_f32(f32_to_bf16(1.0f + x));
  for (const bool fp8 : {false, true}) {
    Backend* sides[2] = {backends().gpu.get(), unfused.get()};
    Weight qn[2], kn[2];
    for (int i = 0; i < 2; ++i) {
      KvCacheSpec spec{2, num_blocks, block, kv_heads, d, DType::BF16};
      spec.cache_dtype = fp8 ? KvCacheDtype::Fp8E4M3 : KvCacheDtype::Auto;
      sides[i]->init_kv_cache(spec);
      qn[i] = upload_weight_to(*sides[i], qw, Shape{d}, "q_norm");
      kn[i] = upload_weight_to(*sides[i], kw, Shape{d}, "k_norm");
    }
    const std::vector<int> prompts = lengths(16, 1, 600, fp8 ? 7 : 6);
    std::vector<int> lens(prompts.size(), 0);
    std::vector<std::vector<int>> blocks(prompts.size());
    int next = 0;
    for (int step = 0; step <= 3; ++step) {
      StepBatch b;
      b.query_start.push_back(0);
      for (size_t s = 0; s < prompts.size(); ++s) {
        const int n = step == 0 ? prompts[s] : 1;
        for (int i = 0; i < n; ++i) {
          const int pos = lens[s] + i;
          if (pos / block >= static_cast<int>(blocks[s].size())) blocks[s].push_back((next++ * 7) % num_blocks);
          b.token_ids.push_back(0);
          b.positions.push_back(pos);
          b.slot_mapping.push_back(blocks[s][pos / block] * block + pos % block);
        }
        lens[s] += n;
        b.query_start.push_back(b.num_tokens());
        b.context_lens.push_back(lens[s]);
      }
      b.max_blocks_per_seq = 0;
      for (const auto& bl : blocks) b.max_blocks_per_seq = std::max<int>(b.max_blocks_per_seq, static_cast<int>(bl.size()));
      for (const auto& bl : blocks)
        for (int i = 0; i < b.max_blocks_per_seq; ++i)
          b.block_tables.push_back(i < static_cast<int>(bl.size()) ? bl[static_cast<size_t>(i)] : -1);
      const int t = b.num_tokens();
      const std::vector<uint16_t> qb = to_bf16(random_values(size_t(t) * heads * d, rng, 2.0f));
      const std::vector<uint16_t> kb = to_bf16(random_values(size_t(t) * kv_heads * d, rng, 2.0f));
      const std::vector<uint16_t> vb = to_bf16(random_values(size_t(t) * kv_heads * d, rng));
      std::vector<float> outs[2];
      for (int i = 0; i < 2; ++i) {
        Backend& be = *sides[i];
        auto batch = be.upload_batch(b);
        TensorView q = be.alloc(DType::BF16, Shape{t, heads, d});
        TensorView k = be.alloc(DType::BF16, Shape{t, kv_heads, d});
        TensorView v = be.alloc(DType::BF16, Shape{t, kv_heads, d});
        TensorView out = be.alloc(DType::BF16, Shape{t, heads * d});
        cuda_copy_from_host(be, q, qb.data());
        cuda_copy_from_host(be, k, kb.data());
        cuda_copy_from_host(be, v, vb.data());
        be.attention_block(1, q, k, v, qn[i], kn[i], 1e-6f, rope, 1.0f / std::sqrt(float(d)), *batch, out);
        outs[i] = read(be, out);
        for (TensorView* x : {&q, &k, &v, &out}) be.free(*x);
      }
      expect_close(outs[0], outs[1], 2 * kBf16Rounding, 1e-6 * max_abs(outs[1]),
                   std::string(fp8 ? "fp8" : "bf16") + " attention_block step " + std::to_string(step));
    }
  }
}

}  // namespace
}  // namespace hearth::gpu_test
