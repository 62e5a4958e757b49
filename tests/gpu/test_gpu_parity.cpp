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
#include <memory>
#include <string>
#include <vector>

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


// ---- the small-M tensor-core GEMM (batched decode steps, m = 2..64) ----

constexpr int kMmaMaxRowsForTests = 64;  // kMmaGemvMaxM (kernels.h is internal to the backend)

// Two CUDA backends that take the small-M GEMM up to its 64 rows (the default stops at 16):
// one with K splits as planned (partials + last-CTA sum), one that never splits (every
// tile summed by one CTA), so the tests cover both paths at every padding step.
// On a Hopper device two more take m = 17..64 on the kernel's wgmma variant.
Backend& mma_backend(bool split, bool wgmma = false) {
  auto make = [](int splits, bool wg) {
    CudaBackendOptions o;
    o.memory_budget_bytes = 4ull << 30;
    o.mma_max_rows = kMmaMaxRowsForTests;
    o.mma_max_splits = splits;
    o.mma_wgmma = wg;
    return make_cuda_backend(o);
  };
  static std::unique_ptr<Backend> with = make(32, false), without = make(1, false);
  static std::unique_ptr<Backend> wg_with = make(32, true), wg_without = make(1, true);
  if (wgmma) return split ? *wg_with : *wg_without;
  return split ? *with : *without;
}
Backend& unsplit_mma() { return mma_backend(false); }

std::vector<Backend*> mma_backends() {
  std::vector<Backend*> out = {&mma_backend(true), &unsplit_mma()};
  if (cuda_wgmma_gemm_available()) {
    out.push_back(&mma_backend(true, true));
    out.push_back(&mma_backend(false, true));
  }
  return out;
}
std::string mma_tag(const Backend* b) {
  if (b == &mma_backend(true, true)) return "wgmma split ";
  if (b == &mma_backend(false, true)) return "wgmma unsplit ";
  return b == &unsplit_mma() ? "unsplit " : "split ";
}

// The wgmma variant must run where it can (else the tests below would skip it silently).
TEST(GpuParity, SmallMGemmWgmmaRunsOnHopper) {
  HEARTH_REQUIRE_GPU();
  const CudaDeviceInfo info = cuda_device_info(0);
  EXPECT_EQ(cuda_wgmma_gemm_available(), info.compute_major == 9 && info.compute_minor == 0) << info.name;
}

// out[t, r] = sum_k x[t, k] * w[r, k] in float64.
std::vector<float> matmul_ref(const std::vector<float>& x, const std::vector<float>& w, int tokens,
                              int k, int rows) {
  std::vector<float> out(static_cast<size_t>(tokens) * rows);
  for (int t = 0; t < tokens; ++t)
    for (int r = 0; r < rows; ++r) {
      double s = 0;
      for (int i = 0; i < k; ++i)
        s += static_cast<double>(x[static_cast<size_t>(t) * k + i]) * w[static_cast<size_t>(r) * k + i];
      out[static_cast<size_t>(t) * rows + r] = static_cast<float>(s);
    }
  return out;
}

TEST(GpuParity, SmallMGemmMatchesReference) {
  HEARTH_REQUIRE_GPU();
  Rng rng(40);
  struct Case {
    int tokens, k, rows;
  };
  // Token counts at and past each padding step (8, 16, 32, 64); K of one stage, not a
  // multiple of the 64-value stage (200 = 3 stages + 8), and long (4104); row counts not a
  // multiple of the 128-row tile (the wgmma variant: m = 17..32 on N = 32, 33..64 on
  // N = 64, both with K = 4104 and a partial tile); 40,000 rows (more tiles than CTA slots: no split, CTAs
  // with several tiles); 25,600 x 4,096 at m = 3 (on the H200: 2 splits, 2 tiles per CTA).
  for (const Case c : {Case{2, 200, 130}, Case{5, 64, 40000}, Case{3, 4096, 25600}, Case{8, 1024, 300}, Case{9, 4104, 72},
                       Case{16, 512, 256}, Case{17, 200, 129}, Case{31, 1024, 500}, Case{32, 4104, 130}, Case{33, 64, 1000},
                       Case{48, 4104, 200}, Case{64, 1024, 384}, Case{64, 200, 40000}}) {
    const std::vector<float> wv = random_values(size_t(c.rows) * c.k, rng, 0.05f);
    const std::vector<float> xv = random_values(size_t(c.tokens) * c.k, rng);
    WeightPair w = make_weight(wv, Shape{c.rows, c.k}, "w");
    TensorPair x = tensor_pair(xv, Shape{c.tokens, c.k});
    const std::vector<float> ref = matmul_ref(xv, wv, c.tokens, c.k, c.rows);
    const std::string shape = std::to_string(c.tokens) + "x" + std::to_string(c.k) + "->" +
                              std::to_string(c.rows);
    for (Backend* gpu : mma_backends()) {
      backends().gpu->synchronize();
      TensorView out = gpu->alloc(DType::BF16, Shape{c.tokens, c.rows});
      TensorView f = gpu->alloc(DType::F32, Shape{c.tokens, c.rows});
      gpu->linear(x.gpu, w.gpu, out);
      // As GpuParity.Linear: the bf16 output rounding; fp32 summation order (tensor-core
      // products are exact, sums in fp32) is ~sqrt(K) 2^-24 of the output scale.
      expect_close(read(*gpu, out), ref, kRtol, rms(ref) / 4096, mma_tag(gpu) + "mma " + shape);
      gpu->linear(x.gpu, w.gpu, f);
      const std::vector<float> first = read(*gpu, f);
      expect_close(first, ref, 1e-5, rms(ref) * 1e-5, mma_tag(gpu) + "mma f32 " + shape);
      // Split partials are summed in split order by whichever CTA ends last: the result
      // must not change from run to run.
      gpu->linear(x.gpu, w.gpu, f);
      const std::vector<float> second = read(*gpu, f);
      EXPECT_EQ(std::memcmp(first.data(), second.data(), first.size() * sizeof(float)), 0)
          << mma_tag(gpu) << "mma not deterministic " << shape;
      gpu->free(out);
      gpu->free(f);
    }
    free_pair(x);
  }
}

TEST(GpuParity, SmallMGemmSegmentsResidualAndSwiglu) {
  HEARTH_REQUIRE_GPU();
  Rng rng(41);
  // Every warp layout: m <= 8 (K halves), 12 (token halves of one 8-token tile each), 24
  // (two tiles per warp, ldmatrix.x4 of x), 40 and 64 (the m = 64 kernel, 24 padded tokens).
  for (int tokens : {3, 12, 24, 40, 64}) {
    const int k = 264;
    const std::string tag = "tokens " + std::to_string(tokens);
    // linear_multi: q/k/v-like segments whose boundaries fall inside 128-row tiles.
    const std::vector<int> rows = {200, 40, 40};
    const std::vector<float> xv = random_values(size_t(tokens) * k, rng);
    TensorPair x = tensor_pair(xv, Shape{tokens, k});
    std::vector<std::vector<float>> wv;
    std::vector<WeightPair> ws;
    for (int r : rows) {
      wv.push_back(random_values(size_t(r) * k, rng, 0.05f));
      ws.push_back(make_weight(wv.back(), Shape{r, k}, "w"));
    }
    for (Backend* gpu : mma_backends()) {
      backends().gpu->synchronize();
      std::vector<TensorView> outs;
      std::vector<const Weight*> gw;
      for (size_t i = 0; i < rows.size(); ++i) {
        outs.push_back(gpu->alloc(DType::BF16, Shape{tokens, rows[i]}));
        gw.push_back(&ws[i].gpu);
      }
      gpu->linear_multi(x.gpu, gw, outs);
      for (size_t i = 0; i < rows.size(); ++i) {
        const std::vector<float> ref = matmul_ref(xv, wv[i], tokens, k, rows[i]);
        expect_close(read(*gpu, outs[i]), ref, kRtol, rms(ref) / 4096,
                     mma_tag(gpu) + "linear_multi segment " + std::to_string(i) + " " + tag);
      }
      for (TensorView& t : outs) gpu->free(t);
    }

    // linear_residual: out as linear, residual = bf16(residual + bf16 out) exactly.
    {
      const int n = 300;
      const std::vector<float> w_v = random_values(size_t(n) * k, rng, 0.05f);
      WeightPair w = make_weight(w_v, Shape{n, k}, "o");
      const std::vector<float> ref = matmul_ref(xv, w_v, tokens, k, n);
      const std::vector<float> res_v = random_values(size_t(tokens) * n, rng, 2.0f);
      for (Backend* gpu : mma_backends()) {
        backends().gpu->synchronize();
        TensorView out = gpu->alloc(DType::BF16, Shape{tokens, n});
        TensorView res = gpu->alloc(DType::BF16, Shape{tokens, n});
        const std::vector<uint16_t> bits = to_bf16(res_v);
        cuda_copy_from_host(*gpu, res, bits.data());
        EXPECT_TRUE(gpu->linear_residual(x.gpu, w.gpu, out, res)) << tag;
        const std::vector<float> got = read(*gpu, out);
        expect_close(got, ref, kRtol, rms(ref) / 4096, mma_tag(gpu) + "linear_residual out " + tag);
        std::vector<float> res_ref = res_v;
        for (size_t i = 0; i < res_ref.size(); ++i) res_ref[i] = bf16_to_f32(f32_to_bf16(res_v[i] + got[i]));
        expect_close(read(*gpu, res), res_ref, 0, 0, mma_tag(gpu) + "linear_residual residual " + tag);
        gpu->free(out);
        gpu->free(res);
      }
    }

    // add_norm_linear with SwiGLU: the normalized input against the CPU, act against
    // bf16(silu(bf16 g) * bf16 u) of float64 products of the GPU's normalized input.
    {
      const int inter = 136;  // 3 gate/up tile pairs of 64, the last one partial
      const std::vector<float> res_v = random_values(size_t(tokens) * k, rng, 2.0f);
      std::vector<float> nw = random_values(size_t(k), rng, 0.5f);
      for (float& v : nw) v = bf16_to_f32(f32_to_bf16(1.0f + v));
      WeightPair norm = make_weight(nw, Shape{k}, "norm");
      const std::vector<float> gv = random_values(size_t(inter) * k, rng, 0.05f);
      const std::vector<float> uv = random_values(size_t(inter) * k, rng, 0.05f);
      WeightPair gate_w = make_weight(gv, Shape{inter, k}, "gate");
      WeightPair up_w = make_weight(uv, Shape{inter, k}, "up");
      TensorPair res = tensor_pair(res_v, Shape{tokens, k});
      TensorPair normed = alloc_pair(Shape{tokens, k});
      TensorPair gate = alloc_pair(Shape{tokens, inter}), up = alloc_pair(Shape{tokens, inter});
      TensorPair act = alloc_pair(Shape{tokens, inter});
      const Weight* wc[] = {&gate_w.cpu, &up_w.cpu};
      const TensorView oc[] = {gate.cpu, up.cpu};
      backends().cpu->add_norm_linear(res.cpu, TensorView{}, norm.cpu, 1e-6f, normed.cpu, wc, oc, act.cpu);
      const std::vector<float> normed_ref = read(*backends().cpu, normed.cpu);
      for (Backend* gpu : mma_backends()) {
        poison_gpu(act);
        backends().gpu->synchronize();
        TensorView nd = gpu->alloc(DType::BF16, Shape{tokens, k});
        const Weight* wg[] = {&gate_w.gpu, &up_w.gpu};
        const TensorView og[] = {gate.gpu, up.gpu};
        gpu->add_norm_linear(res.gpu, TensorView{}, norm.gpu, 1e-6f, nd, wg, og, act.gpu);
        const std::vector<float> normed_gpu = read(*gpu, nd);
        expect_close(normed_gpu, normed_ref, kRtol, 1e-5 * max_abs(normed_ref), mma_tag(gpu) + "normed " + tag);
        const std::vector<float> g = matmul_ref(normed_gpu, gv, tokens, k, inter);
        const std::vector<float> u = matmul_ref(normed_gpu, uv, tokens, k, inter);
        const std::vector<float> got = read(*gpu, act.gpu);
        int bad = 0;
        for (size_t i = 0; i < got.size(); ++i) {
          // Tolerance as GpuFused.AddNormLinearMatchesReference (output rounding, plus one
          // bf16 step of g or u where the fp32 sum and the float64 one round apart).
          const double gb = bf16_to_f32(f32_to_bf16(g[i])), ub = bf16_to_f32(f32_to_bf16(u[i]));
          const double silu = gb / (1.0 + std::exp(-gb));
          const double want = silu * ub;
          const double tol = kRtol * std::fabs(want) + 1.1 * 4 * kBf16Rounding * std::fabs(gb * ub) +
                             2 * kBf16Rounding * std::fabs(silu * ub) + 1e-30;
          if (!(std::fabs(got[i] - want) <= tol) && bad++ < 5)
            ADD_FAILURE() << mma_tag(gpu) << "act " << tag << " [" << i << "]: got " << got[i]
                          << ", expected " << want << " (tolerance " << tol << ")";
        }
        EXPECT_EQ(bad, 0) << mma_tag(gpu) << tag;
        gpu->free(nd);
      }
      for (TensorPair* t : {&res, &normed, &gate, &up, &act}) free_pair(*t);
    }
    free_pair(x);
  }
}
}  // namespace
}  // namespace hearth::gpu_test
