// Every non-attention op of the CUDA backend against the CPU reference backend, over
// shapes that take the vector and the scalar paths (sizes that are and are not multiples
// of 8), single tokens, and weights stored on the host as BF16, F16 and F32.
//
// Tolerances: inputs are identical bf16 values in both backends (parity_util.h), so the
// CUDA result differs from the CPU's fp32 result by its final rounding to bf16 (relative
// error <= 2^-9) plus fp32 arithmetic done in another order or with other intrinsics
// (~1e-6 relative). rtol = 2^-8 is twice the rounding bound; each atol below says why.
#include <cmath>
#include <cstring>

#include "hearth/core/error.h"
#include "parity_util.h"

namespace hearth::gpu_test {
namespace {

constexpr double kRtol = 2 * kBf16Rounding;

StepBatch one_sequence(const std::vector<int32_t>& ids) {
  StepBatch b;
  const int n = static_cast<int>(ids.size());
  b.token_ids = ids;
  for (int i = 0; i < n; ++i) {
    b.positions.push_back(i);
    b.slot_mapping.push_back(i);
  }
  b.query_start = {0, n};
  b.context_lens = {n};
  b.max_blocks_per_seq = 0;
  return b;
}

struct BatchPair {
  std::unique_ptr<DeviceBatch> cpu, gpu;
};
BatchPair upload(const StepBatch& b) {
  return {backends().cpu->upload_batch(b), backends().gpu->upload_batch(b)};
}

TEST(GpuParity, Embedding) {
  HEARTH_REQUIRE_GPU();
  Rng rng(1);
  for (int hidden : {256, 100}) {  // 100: rows not a multiple of 8 -> scalar copy
    for (int tokens : {1, 37}) {
      const int vocab = 1000;
      WeightPair table = make_weight(random_values(size_t(vocab) * hidden, rng),
                                     Shape{vocab, hidden}, "embed");
      std::vector<int32_t> ids;
      for (int t = 0; t < tokens; ++t) ids.push_back(static_cast<int32_t>(rng.next_u64() % vocab));
      ids[0] = vocab - 1;
      if (tokens > 1) ids[1] = 0;
      BatchPair b = upload(one_sequence(ids));
      TensorPair out = alloc_pair(Shape{tokens, hidden});
      poison_gpu(out);
      backends().cpu->embedding(table.cpu, *b.cpu, out.cpu);
      backends().gpu->embedding(table.gpu, *b.gpu, out.gpu);
      // A copy: exact.
      expect_close(read(*backends().gpu, out.gpu), read(*backends().cpu, out.cpu), 0, 0,
                   "embedding h" + std::to_string(hidden) + " t" + std::to_string(tokens));
      free_pair(out);
    }
  }
}

TEST(GpuParity, WeightsStoredAsF32AndF16AreConvertedExactly) {
  HEARTH_REQUIRE_GPU();
  Rng rng(2);
  const int vocab = 50, hidden = 64;
  const std::vector<float> values = random_values(size_t(vocab) * hidden, rng);
  std::vector<int32_t> ids;
  for (int i = 0; i < vocab; ++i) ids.push_back(i);
  BatchPair b = upload(one_sequence(ids));
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    WeightPair table = make_weight(values, Shape{vocab, hidden}, "embed", dt);
    TensorPair out = alloc_pair(Shape{vocab, hidden});
    backends().gpu->embedding(table.gpu, *b.gpu, out.gpu);
    // random_values are exact in bf16 and fp16, so conversion on upload is lossless.
    expect_close(read(*backends().gpu, out.gpu), values, 0, 0,
                 std::string("upload from ") + std::string(dtype_name(dt)));
    free_pair(out);
  }
}

TEST(GpuParity, TiedEmbeddingsAreUploadedOnce) {
  HEARTH_REQUIRE_GPU();
  Rng rng(3);
  static std::vector<uint16_t> table = to_bf16(random_values(1000 * 64, rng));
  static std::vector<uint16_t> norm = to_bf16(random_values(64, rng));
  ModelWeights m;
  m.embed_tokens = Weight{TensorView{table.data(), DType::BF16, Shape{1000, 64}}, {}, "embed"};
  m.lm_head = m.embed_tokens;
  m.lm_head.name = "lm_head";
  m.norm = Weight{TensorView{norm.data(), DType::BF16, Shape{64}}, {}, "norm"};
  const size_t before = cuda_memory_stats(*backends().gpu).in_use;
  ModelWeights up = backends().gpu->upload_weights(m);
  const size_t used = cuda_memory_stats(*backends().gpu).in_use - before;
  EXPECT_EQ(up.embed_tokens.t.data, up.lm_head.t.data);
  EXPECT_EQ(up.lm_head.name, "lm_head");
  EXPECT_LT(used, 2 * table.size() * sizeof(uint16_t));
}

TEST(GpuParity, RmsNorm) {
  HEARTH_REQUIRE_GPU();
  Rng rng(4);
  for (int cols : {64, 1003, 4096}) {  // 1003: scalar path
    for (int rows : {1, 5, 33}) {
      std::vector<float> wv = random_values(cols, rng, 0.5f);
      for (float& x : wv) x = bf16_to_f32(f32_to_bf16(1.0f + x));
      WeightPair w = make_weight(wv, Shape{cols}, "norm");
      TensorPair x = tensor_pair(random_values(size_t(rows) * cols, rng, 3.0f), Shape{rows, cols});
      TensorPair out = alloc_pair(Shape{rows, cols});
      poison_gpu(out);
      backends().cpu->rms_norm(x.cpu, w.cpu, 1e-6f, out.cpu);
      backends().gpu->rms_norm(x.gpu, w.gpu, 1e-6f, out.gpu);
      // Relative errors only (the norm scales each row); atol covers exact zeros.
      expect_close(read(*backends().gpu, out.gpu), read(*backends().cpu, out.cpu), kRtol, 1e-7,
                   "rms_norm " + std::to_string(rows) + "x" + std::to_string(cols));
      free_pair(x);
      free_pair(out);
    }
  }
}

TEST(GpuParity, AddRmsNorm) {
  HEARTH_REQUIRE_GPU();
  Rng rng(5);
  for (int cols : {128, 1003, 2048}) {
    for (int rows : {1, 9}) {
      for (bool out_aliases_x : {false, true}) {
        WeightPair w = make_weight(random_values(cols, rng, 2.0f), Shape{cols}, "norm");
        TensorPair res = tensor_pair(random_values(size_t(rows) * cols, rng, 4.0f), Shape{rows, cols});
        TensorPair x = tensor_pair(random_values(size_t(rows) * cols, rng, 1.0f), Shape{rows, cols});
        TensorPair out = out_aliases_x ? x : alloc_pair(Shape{rows, cols});
        if (!out_aliases_x) poison_gpu(out);
        backends().cpu->add_rms_norm(res.cpu, x.cpu, w.cpu, 1e-6f, out.cpu);
        backends().gpu->add_rms_norm(res.gpu, x.gpu, w.gpu, 1e-6f, out.gpu);
        const std::string tag = std::to_string(rows) + "x" + std::to_string(cols) +
                                (out_aliases_x ? " (out=x)" : "");
        // The residual is one bf16 rounding of an exact sum: relative error <= 2^-9.
        expect_close(read(*backends().gpu, res.gpu), read(*backends().cpu, res.cpu), kRtol, 1e-7,
                     "add_rms_norm residual " + tag);
        // The CUDA norm reads the bf16-rounded residual (as HF does): the input (2^-9), its
        // rms (2^-9) and the output rounding (2^-9) add up to 3 * 2^-9 < 2^-7.
        expect_close(read(*backends().gpu, out.gpu), read(*backends().cpu, out.cpu),
                     4 * kBf16Rounding, 1e-7, "add_rms_norm out " + tag);
        free_pair(res);
        free_pair(x);
        if (!out_aliases_x) free_pair(out);
      }
    }
  }
}

TEST(GpuParity, Linear) {
  HEARTH_REQUIRE_GPU();
  Rng rng(6);
  struct Case {
    int tokens, in, out;
  };
  // Single token (GEMV shape), odd token counts, K not a multiple of 8 (1004: rows of
  // 2008 bytes, not 16-byte aligned), a vocabulary-sized output.
  for (const Case c : {Case{1, 256, 384}, Case{7, 1024, 96}, Case{64, 512, 512},
                       Case{129, 1004, 72}, Case{3, 256, 5000}}) {
    WeightPair w = make_weight(random_values(size_t(c.out) * c.in, rng), Shape{c.out, c.in}, "w");
    TensorPair x = tensor_pair(random_values(size_t(c.tokens) * c.in, rng), Shape{c.tokens, c.in});
    TensorPair out = alloc_pair(Shape{c.tokens, c.out});
    poison_gpu(out);
    backends().cpu->linear(x.cpu, w.cpu, out.cpu);
    backends().gpu->linear(x.gpu, w.gpu, out.gpu);
    const std::vector<float> ref = read(*backends().cpu, out.cpu);
    // Both accumulate in fp32, in different orders: for random data the difference is
    // about sqrt(K) * 2^-24 of the output scale (< 1e-5 for K <= 1024), far under the
    // atol of 2^-12 of the output rms that guards outputs near zero, where the relative
    // bound of the bf16 rounding says nothing.
    expect_close(read(*backends().gpu, out.gpu), ref, kRtol, rms(ref) / 4096,
                 "linear " + std::to_string(c.tokens) + "x" + std::to_string(c.in) + "->" +
                     std::to_string(c.out));
    free_pair(x);
    free_pair(out);
  }
}

TEST(GpuParity, QkNormRope) {
  HEARTH_REQUIRE_GPU();
  Rng rng(7);
  struct Case {
    int tokens, heads, kv_heads, head_dim;
    float attention_scaling;
  };
  for (const Case c : {Case{1, 8, 2, 128, 1.0f}, Case{19, 4, 4, 64, 1.0f},
                       Case{5, 16, 8, 128, 1.2f}, Case{3, 2, 1, 96, 1.0f}}) {
    const int d = c.head_dim;
    RopeTable rope;
    for (int i = 0; i < d / 2; ++i)
      rope.inv_freq.push_back(static_cast<float>(std::pow(1e6, -2.0 * i / d)));
    rope.attention_scaling = c.attention_scaling;
    std::vector<float> qw = random_values(d, rng, 0.5f), kw = random_values(d, rng, 0.5f);
    for (float& x : qw) x = bf16_to_f32(f32_to_bf16(1.0f + x));
    for (float& x : kw) x = bf16_to_f32(f32_to_bf16(1.0f + x));
    WeightPair q_norm = make_weight(qw, Shape{d}, "q_norm");
    WeightPair k_norm = make_weight(kw, Shape{d}, "k_norm");
    StepBatch sb = one_sequence(std::vector<int32_t>(c.tokens, 0));
    // Positions up to 40000: large angles, where fp32 argument reduction matters.
    for (int t = 0; t < c.tokens; ++t)
      sb.positions[t] = t == 0 ? 0 : static_cast<int32_t>(rng.next_u64() % 40000);
    BatchPair b = upload(sb);
    TensorPair q = tensor_pair(random_values(size_t(c.tokens) * c.heads * d, rng, 2.0f),
                             Shape{c.tokens, c.heads, d});
    TensorPair k = tensor_pair(random_values(size_t(c.tokens) * c.kv_heads * d, rng, 2.0f),
                             Shape{c.tokens, c.kv_heads, d});
    backends().cpu->qk_norm_rope(q.cpu, k.cpu, q_norm.cpu, k_norm.cpu, 1e-6f, rope, *b.cpu);
    backends().gpu->qk_norm_rope(q.gpu, k.gpu, q_norm.gpu, k_norm.gpu, 1e-6f, rope, *b.gpu);
    const std::string tag = std::to_string(c.tokens) + "t " + std::to_string(c.heads) + "/" +
                            std::to_string(c.kv_heads) + "h d" + std::to_string(d);
    // x1*cos - x2*sin can cancel to near 0: the fp32 differences (sincosf vs cosf/sinf,
    // rsqrtf; ~1e-6 of the operands) then exceed the relative bound, so atol is 1e-5 of
    // the largest output. Everything else is the one bf16 output rounding.
    const std::vector<float> q_ref = read(*backends().cpu, q.cpu);
    const std::vector<float> k_ref = read(*backends().cpu, k.cpu);
    expect_close(read(*backends().gpu, q.gpu), q_ref, kRtol, 1e-5 * max_abs(q_ref), "qk_norm_rope q " + tag);
    expect_close(read(*backends().gpu, k.gpu), k_ref, kRtol, 1e-5 * max_abs(k_ref), "qk_norm_rope k " + tag);
    free_pair(q);
    free_pair(k);
  }
}

TEST(GpuParity, Swiglu) {
  HEARTH_REQUIRE_GPU();
  Rng rng(8);
  for (int64_t n : {int64_t{1}, int64_t{37}, int64_t{8192 + 5}, int64_t{3 * 4096}}) {
    TensorPair gate = tensor_pair(random_values(n, rng, 8.0f), Shape{n});  // saturating silu too
    TensorPair up = tensor_pair(random_values(n, rng, 2.0f), Shape{n});
    TensorPair out = alloc_pair(Shape{n});
    poison_gpu(out);
    backends().cpu->swiglu(gate.cpu, up.cpu, out.cpu);
    backends().gpu->swiglu(gate.gpu, up.gpu, out.gpu);
    // __expf is within ~10 ulp for |x| <= 8 (~1e-6 relative); atol covers exact zeros.
    expect_close(read(*backends().gpu, out.gpu), read(*backends().cpu, out.cpu), kRtol, 1e-7,
                 "swiglu n" + std::to_string(n));
    free_pair(gate);
    free_pair(up);
    free_pair(out);
  }
}

TEST(GpuParity, GatherRows) {
  HEARTH_REQUIRE_GPU();
  Rng rng(9);
  for (int hidden : {128, 100}) {
    StepBatch sb = one_sequence(std::vector<int32_t>(10, 0));
    sb.logits_rows = {9, 0, 3, 3};
    BatchPair b = upload(sb);
    TensorPair x = tensor_pair(random_values(size_t(10) * hidden, rng), Shape{10, hidden});
    TensorPair out = alloc_pair(Shape{4, hidden});
    poison_gpu(out);
    backends().cpu->gather_rows(x.cpu, *b.cpu, out.cpu);
    backends().gpu->gather_rows(x.gpu, *b.gpu, out.gpu);
    expect_close(read(*backends().gpu, out.gpu), read(*backends().cpu, out.cpu), 0, 0,
                 "gather_rows h" + std::to_string(hidden));
    free_pair(x);
    free_pair(out);
  }
}

TEST(GpuParity, ToHostF32OfF32AndBf16Tensors) {
  HEARTH_REQUIRE_GPU();
  Rng rng(10);
  Backend& gpu = *backends().gpu;
  const std::vector<float> values = random_values(1000, rng);
  TensorView f = gpu.alloc(DType::F32, Shape{10, 100});
  cuda_copy_from_host(gpu, f, values.data());
  expect_close(read(gpu, f), values, 0, 0, "to_host_f32 F32");
  TensorView h = gpu.alloc(DType::BF16, Shape{1000});
  const std::vector<uint16_t> bits = to_bf16(values);
  cuda_copy_from_host(gpu, h, bits.data());
  expect_close(read(gpu, h), values, 0, 0, "to_host_f32 BF16");
  gpu.free(f);
  gpu.free(h);
}

}  // namespace
}  // namespace hearth::gpu_test
