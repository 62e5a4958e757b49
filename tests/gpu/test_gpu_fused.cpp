// The CUDA backend's fused decode forms (backend.h: add_norm_linear, linear_residual,
// attention_block; kernels in gemv_kernels.cu and attention_decode.cu):
// - add_norm_linear: the normalized input against the CPU's rms_norm, and the projections
//   (and SwiGLU) against a float64 product of the GPU's own normalized input, so that the
//   GEMV is checked separately from the norm's bf16 rounding;
// - linear_residual: the projection against the CPU, the residual against its definition;
// - attention_block: the fused decode kernel (and the prefill path's norm + RoPE + cache
//   write kernel) against a second CUDA backend with the fusions off, whose ops the other
//   parity tests tie to the CPU reference (GpuParity.QkNormRope, GpuAttention.*).
// Shapes cover K not a multiple of the 2,048-value CTA step, rows not a multiple of the
// 8-row group, the fp32 (logits) output, GQA groups 1, 4 and 8 and head dims 64/128/256.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "hearth/core/dtype.h"
#include "parity_util.h"

namespace hearth::gpu_test {
namespace {

constexpr double kRtol = 2 * kBf16Rounding;

// A second CUDA backend with the fused forms off (the reference for attention_block).
Backend& unfused() {
  static std::unique_ptr<Backend> b = [] {
    CudaBackendOptions o;
    o.memory_budget_bytes = 4ull << 30;
    o.debug_sync = true;
    o.fuse_decode = false;
    return make_cuda_backend(o);
  }();
  return *b;
}

std::vector<float> norm_weights(int n, Rng& rng) {
  std::vector<float> w = random_values(static_cast<size_t>(n), rng, 0.5f);
  for (float& x : w) x = bf16_to_f32(f32_to_bf16(1.0f + x));
  return w;
}

// out[r] = sum_k x[k] * w[r, k] in float64; with magnitudes, sum_k |x[k] w[r, k]| (the
// scale of the fp32 accumulation error of the same sum).
std::vector<double> dot_rows(const std::vector<float>& x, const std::vector<float>& w, int rows,
                             bool magnitudes = false) {
  const size_t k = x.size();
  std::vector<double> out(static_cast<size_t>(rows));
  for (int r = 0; r < rows; ++r) {
    double s = 0;
    for (size_t i = 0; i < k; ++i) {
      const double t = static_cast<double>(x[i]) * w[static_cast<size_t>(r) * k + i];
      s += magnitudes ? std::fabs(t) : t;
    }
    out[static_cast<size_t>(r)] = s;
  }
  return out;
}

float to_bf16_value(double v) { return bf16_to_f32(f32_to_bf16(static_cast<float>(v))); }

// Options of a backend whose batched linear ops take cuBLASLt from two rows (the small-M
// GEMM off): the paths of the adjacent-weights tests.
CudaBackendOptions cublas_from_two_rows() {
  CudaBackendOptions o;
  o.memory_budget_bytes = 2ull << 30;
  o.debug_sync = true;
  o.mma_max_rows = 0;
  return o;
}

// A model of one layer l (its other weights unset) for upload_weights, which needs the
// embedding, lm_head and final norm.
ModelWeights one_layer_model(const LayerWeights& l) {
  static float embed[1] = {1.0f}, norm[1] = {1.0f};
  ModelWeights m;
  m.embed_tokens = Weight{TensorView{embed, DType::F32, Shape{1, 1}}, WeightFormat::Dense, "embed"};
  m.lm_head = m.embed_tokens;
  m.norm = Weight{TensorView{norm, DType::F32, Shape{1}}, WeightFormat::Dense, "norm"};
  m.layers.push_back(l);
  return m;
}

// act = bf16(silu(bf16 g) * bf16 u) against float64 g and u over k terms each (g_abs, u_abs:
// the sums of the terms' magnitudes). Bound per element: the output rounding (2^-9 |act|,
// doubled), plus one bf16 step of g or u where the fp32 sum and the float64 reference round
// to neighbouring bf16 values: |silu'| <= 1.1 times 2^-8 |g| times |u|, and |silu(g)| times
// 2^-8 |u|; plus the fp32 accumulation itself, which matters where g or u is a cancellation
// far below its terms (seen at 300 rows: |act| ~3e-7): k additions each off by at most 2^-24
// of the running magnitude, doubled for the tensor cores' inner products, |dg| <= 2 k
// 2^-24 g_abs, times the same derivatives.
void expect_swiglu(const std::vector<float>& got, const std::vector<double>& g, const std::vector<double>& u,
                   const std::vector<double>& g_abs, const std::vector<double>& u_abs, int k,
                   const std::string& tag) {
  ASSERT_EQ(got.size(), g.size()) << tag;
  ASSERT_EQ(g.size(), u.size()) << tag;
  ASSERT_EQ(g_abs.size(), g.size()) << tag;
  ASSERT_EQ(u_abs.size(), u.size()) << tag;
  const double accumulation = 2.0 * k * std::ldexp(1.0, -24);
  int bad = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double gb = to_bf16_value(g[i]), ub = to_bf16_value(u[i]);
    const double silu = gb / (1.0 + std::exp(-gb));
    const double ref = silu * ub;
    const double tol = kRtol * std::fabs(ref) + 1.1 * 4 * kBf16Rounding * std::fabs(gb * ub) +
                       2 * kBf16Rounding * std::fabs(silu * ub) +
                       accumulation * (1.1 * std::fabs(ub) * g_abs[i] + std::fabs(silu) * u_abs[i]) + 1e-30;
    if (!(std::fabs(got[i] - ref) <= tol)) {
      if (bad++ < 5)
        ADD_FAILURE() << "act " << tag << " [" << i << "]: got " << got[i] << ", expected " << ref
                      << " (tolerance " << tol << ")";
    }
  }
  EXPECT_EQ(bad, 0) << tag;
}

TEST(GpuFused, AddNormLinearMatchesReference) {
  HEARTH_REQUIRE_GPU();
  Rng rng(31);
  struct Case {
    int k;
    std::vector<int> rows;
    bool act;
    bool f32;
  };
  // q/k/v-like segments; K = 4104 (513 chunks: a last CTA step with one chunk); an
  // lm_head-like fp32 output of rows not a multiple of 8; gate/up with SwiGLU, rows not
  // a multiple of the 4 + 4 pair layout.
  for (const Case& c : {Case{512, {512, 128, 128}, false, false}, Case{4104, {64, 16}, false, false},
                        Case{520, {1000}, false, true}, Case{256, {301, 301}, true, false}}) {
    std::string tag = std::to_string(c.k);
    tag.insert(0, 1, 'k');
    tag += " segs";
    tag += std::to_string(c.rows.size());
    if (c.act) tag += " act";
    if (c.f32) tag += " f32";
    const std::vector<float> res_v = random_values(static_cast<size_t>(c.k), rng, 2.0f);
    TensorPair res = tensor_pair(res_v, Shape{1, c.k});
    const std::vector<float> nw = norm_weights(c.k, rng);
    WeightPair norm = make_weight(nw, Shape{c.k}, "norm");
    TensorPair normed = alloc_pair(Shape{1, c.k});
    poison_gpu(normed);
    std::vector<std::vector<float>> wv;
    std::vector<WeightPair> w;
    std::vector<TensorView> out_cpu, out_gpu;
    for (int r : c.rows) {
      wv.push_back(random_values(static_cast<size_t>(r) * c.k, rng, 0.05f));
      w.push_back(make_weight(wv.back(), Shape{r, c.k}, "w"));
      out_cpu.push_back(backends().cpu->alloc(DType::F32, Shape{1, r}));
      out_gpu.push_back(backends().gpu->alloc(c.f32 ? DType::F32 : DType::BF16, Shape{1, r}));
    }
    std::vector<const Weight*> ws_cpu, ws_gpu;
    for (const WeightPair& p : w) {
      ws_cpu.push_back(&p.cpu);
      ws_gpu.push_back(&p.gpu);
    }
    TensorPair act{};
    if (c.act) {
      act = alloc_pair(Shape{1, c.rows[0]});
      poison_gpu(act);
    }
    backends().cpu->add_norm_linear(res.cpu, TensorView{}, norm.cpu, 1e-6f, normed.cpu, ws_cpu,
                                    out_cpu, act.cpu);
    backends().gpu->add_norm_linear(res.gpu, TensorView{}, norm.gpu, 1e-6f, normed.gpu, ws_gpu,
                                    out_gpu, act.gpu);
    // The normalized input: as GpuParity.RmsNorm (one bf16 rounding; atol for the fp32
    // order of the sum of squares on values near zero).
    const std::vector<float> normed_gpu = read(*backends().gpu, normed.gpu);
    const std::vector<float> normed_ref = read(*backends().cpu, normed.cpu);
    expect_close(normed_gpu, normed_ref, kRtol, 1e-5 * max_abs(normed_ref), "normed " + tag);
    // The residual is read, not written.
    expect_close(read(*backends().gpu, res.gpu), res_v, 0, 0, "residual untouched " + tag);
    if (!c.act) {
      for (size_t s = 0; s < c.rows.size(); ++s) {
        // As GpuParity.Linear: fp32 accumulation order and the bf16 output rounding (none
        // for fp32 outputs), against float64 over the same (GPU) inputs.
        const std::vector<double> d = dot_rows(normed_gpu, wv[s], c.rows[s]);
        const std::vector<float> ref(d.begin(), d.end());
        expect_close(read(*backends().gpu, out_gpu[s]), ref, c.f32 ? 1e-5 : kRtol, rms(ref) / 4096,
                     "out " + std::to_string(s) + " " + tag);
      }
    } else {
      const std::vector<double> g = dot_rows(normed_gpu, wv[0], c.rows[0]);
      const std::vector<double> u = dot_rows(normed_gpu, wv[1], c.rows[0]);
      expect_swiglu(read(*backends().gpu, act.gpu), g, u, dot_rows(normed_gpu, wv[0], c.rows[0], true),
                    dot_rows(normed_gpu, wv[1], c.rows[0], true), c.k, tag);
      free_pair(act);
    }
    for (TensorView& t : out_cpu) backends().cpu->free(t);
    for (TensorView& t : out_gpu) backends().gpu->free(t);
    free_pair(res);
    free_pair(normed);
  }
}

TEST(GpuFused, LinearResidualMatchesReference) {
  HEARTH_REQUIRE_GPU();
  Rng rng(32);
  struct Case {
    int tokens, k, n;
  };
  // One token takes the GEMV's fused epilogue, two tokens the small-M tensor-core GEMM's
  // (mma_gemv_kernels.cu); both add the residual.
  for (const Case c : {Case{1, 520, 1000}, Case{1, 4104, 64}, Case{2, 256, 96}}) {
    std::string tag = std::to_string(c.tokens);
    tag += "t k";
    tag += std::to_string(c.k);
    tag += " n";
    tag += std::to_string(c.n);
    WeightPair w = make_weight(random_values(size_t(c.n) * c.k, rng, 0.05f), Shape{c.n, c.k}, "w");
    TensorPair x = tensor_pair(random_values(size_t(c.tokens) * c.k, rng), Shape{c.tokens, c.k});
    const std::vector<float> res_v = random_values(size_t(c.tokens) * c.n, rng, 2.0f);
    TensorPair res = tensor_pair(res_v, Shape{c.tokens, c.n});
    TensorPair out = alloc_pair(Shape{c.tokens, c.n});
    poison_gpu(out);
    const bool cpu_added = backends().cpu->linear_residual(x.cpu, w.cpu, out.cpu, res.cpu);
    const bool gpu_added = backends().gpu->linear_residual(x.gpu, w.gpu, out.gpu, res.gpu);
    EXPECT_FALSE(cpu_added);
    EXPECT_TRUE(gpu_added) << tag;
    const std::vector<float> ref = read(*backends().cpu, out.cpu);
    const std::vector<float> got = read(*backends().gpu, out.gpu);
    expect_close(got, ref, kRtol, rms(ref) / 4096, "out " + tag);  // as GpuParity.Linear
    // residual = bf16(residual + bf16 out), both bf16 values: the host computes the same
    // single rounding (round to nearest even), so the match is exact.
    std::vector<float> res_ref = res_v;
    if (gpu_added)
      for (size_t i = 0; i < res_ref.size(); ++i) res_ref[i] = bf16_to_f32(f32_to_bf16(res_v[i] + got[i]));
    expect_close(read(*backends().gpu, res.gpu), res_ref, 0, 0, "residual " + tag);
    free_pair(x);
    free_pair(res);
    free_pair(out);
  }
}

// q|k|v of a layer are uploaded as one block (CudaBackend::upload_adjacent), and at batch
// sizes past the small-M GEMM's rows linear_multi runs them as one cuBLASLt GEMM whose
// columns are split into the three outputs. Checked against a float64 product, on a backend
// with that GEMM and one without (fuse_adjacent_weights off: a GEMM per weight), with rows
// whose bytes leave a 16-byte gap between two weights (then not one matrix: the GEMM per
// weight must still be taken), and at 2,100 rows (past the fused GEMM's 2,048: per weight).
TEST(GpuFused, AdjacentQkvWeightsRunAsOneGemm) {
  HEARTH_REQUIRE_GPU();
  auto backend = [](bool fuse) {
    CudaBackendOptions o = cublas_from_two_rows();
    o.fuse_adjacent_weights = fuse;
    return make_cuda_backend(o);
  };
  std::unique_ptr<Backend> fused = backend(true), per_weight = backend(false);
  Rng rng(33);
  struct Case {
    int k, q_rows, kv_rows;
    bool adjacent;
  };
  for (const Case c : {Case{264, 512, 128, true}, Case{4104, 200, 40, true}, Case{260, 201, 3, false}}) {
    const std::vector<int> rows = {c.q_rows, c.kv_rows, c.kv_rows};
    std::vector<std::vector<float>> wv;
    std::vector<std::vector<uint16_t>> host;
    for (int r : rows) {
      wv.push_back(random_values(size_t(r) * c.k, rng, 0.05f));
      host.push_back(to_bf16(wv.back()));
    }
    LayerWeights l;
    Weight* proj[] = {&l.q_proj, &l.k_proj, &l.v_proj};
    for (size_t i = 0; i < 3; ++i)
      *proj[i] = Weight{TensorView{host[i].data(), DType::BF16, Shape{rows[i], c.k}}, WeightFormat::Dense, "w"};
    const ModelWeights m = one_layer_model(l);
    for (Backend* b : {fused.get(), per_weight.get()}) {
      const ModelWeights up = b->upload_weights(m);
      const LayerWeights& d = up.layers[0];
      const auto* q_end = static_cast<const char*>(d.q_proj.t.data) + d.q_proj.t.nbytes();
      EXPECT_EQ(d.k_proj.t.data == q_end, c.adjacent) << "k " << c.k;
      for (int tokens : {2, 24, 64, 100, 300, 2100}) {
        if (tokens > 2048 && c.k > 1000) continue;  // past 2,048 rows: a GEMM per weight again
        const std::string tag = (b == fused.get() ? "fused k" : "per weight k") + std::to_string(c.k) + " tokens " +
                                std::to_string(tokens);
        const std::vector<float> xv = random_values(size_t(tokens) * c.k, rng);
        const std::vector<uint16_t> xb = to_bf16(xv);
        TensorView x = b->alloc(DType::BF16, Shape{tokens, c.k});
        cuda_copy_from_host(*b, x, xb.data());
        std::vector<TensorView> outs;
        for (int r : rows) outs.push_back(b->alloc(DType::BF16, Shape{tokens, r}));
        const Weight* ws[] = {&d.q_proj, &d.k_proj, &d.v_proj};
        b->linear_multi(x, ws, outs);
        for (size_t i = 0; i < 3; ++i) {
          std::vector<float> ref;
          for (int t = 0; t < tokens; ++t) {
            const std::vector<float> xt(xv.begin() + size_t(t) * c.k, xv.begin() + size_t(t + 1) * c.k);
            for (double v : dot_rows(xt, wv[i], rows[i])) ref.push_back(static_cast<float>(v));
          }
          expect_close(read(*b, outs[i]), ref, kRtol, rms(ref) / 4096, tag + " out " + std::to_string(i));
        }
        b->free(x);
        for (TensorView& t : outs) b->free(t);
      }
    }
  }
}

// gate|up of a layer are uploaded as one block too, and at batch sizes past the small-M
// GEMM's rows up to 256 add_norm_linear with SwiGLU runs them as one cuBLASLt GEMM whose
// [gate | up] rows the SwiGLU kernel reads in place. act against float64 products of the
// GPU's own normalized input, on a backend with that GEMM and one without
// (fuse_gate_up off: gate and up uploaded apart, two GEMMs, then SwiGLU), with ffn sizes
// that are and are not a multiple of 8 (the SwiGLU kernel's vector and scalar paths), and
// at 300 rows (past 256: two GEMMs again).
TEST(GpuFused, AdjacentGateUpRunAsOneGemmWithSwiglu) {
  HEARTH_REQUIRE_GPU();
  auto backend = [](bool fuse) {
    CudaBackendOptions o = cublas_from_two_rows();
    o.fuse_gate_up = fuse;
    return make_cuda_backend(o);
  };
  std::unique_ptr<Backend> fused = backend(true), two_gemms = backend(false);
  Rng rng(34);
  for (const int ffn : {1024, 300, 203}) {
    const int k = 264;
    std::vector<std::vector<float>> wv;
    std::vector<std::vector<uint16_t>> host;
    for (int i = 0; i < 2; ++i) {
      wv.push_back(random_values(size_t(ffn) * k, rng, 0.05f));
      host.push_back(to_bf16(wv.back()));
    }
    const std::vector<float> nw = norm_weights(k, rng);
    LayerWeights l;
    l.gate_proj = Weight{TensorView{host[0].data(), DType::BF16, Shape{ffn, k}}, WeightFormat::Dense, "gate"};
    l.up_proj = Weight{TensorView{host[1].data(), DType::BF16, Shape{ffn, k}}, WeightFormat::Dense, "up"};
    l.post_attention_layernorm = Weight{TensorView{const_cast<float*>(nw.data()), DType::F32, Shape{k}},
                                        WeightFormat::Dense, "norm"};
    const ModelWeights m = one_layer_model(l);
    for (Backend* b : {fused.get(), two_gemms.get()}) {
      const ModelWeights up = b->upload_weights(m);
      const LayerWeights& d = up.layers[0];
      const auto* gate_end = static_cast<const char*>(d.gate_proj.t.data) + d.gate_proj.t.nbytes();
      // 203 x 264 bf16 is a multiple of 16 bytes too: every case is adjacent when fused
      // (two separate uploads may also land adjacent: the option, not the addresses, keeps
      // the unfused backend on two GEMMs).
      if (b == fused.get()) {
        EXPECT_EQ(d.up_proj.t.data, gate_end) << "ffn " << ffn;
      }
      for (int tokens : {2, 24, 64, 256, 300}) {
        const std::string tag = (b == fused.get() ? "one GEMM ffn " : "two GEMMs ffn ") + std::to_string(ffn) +
                                " tokens " + std::to_string(tokens);
        const std::vector<float> rv = random_values(size_t(tokens) * k, rng, 2.0f);
        const std::vector<uint16_t> rb = to_bf16(rv);
        TensorView res = b->alloc(DType::BF16, Shape{tokens, k});
        cuda_copy_from_host(*b, res, rb.data());
        TensorView normed = b->alloc(DType::BF16, Shape{tokens, k});
        TensorView act = b->alloc(DType::BF16, Shape{tokens, ffn});
        std::vector<TensorView> outs = {b->alloc(DType::BF16, Shape{tokens, ffn}),
                                        b->alloc(DType::BF16, Shape{tokens, ffn})};
        const Weight* ws[] = {&d.gate_proj, &d.up_proj};
        b->add_norm_linear(res, TensorView{}, d.post_attention_layernorm, 1e-6f, normed, ws, outs, act);
        const std::vector<float> normed_gpu = read(*b, normed), got = read(*b, act);
        std::vector<double> g, u, g_abs, u_abs;
        for (int t = 0; t < tokens; ++t) {
          const std::vector<float> xt(normed_gpu.begin() + size_t(t) * k, normed_gpu.begin() + size_t(t + 1) * k);
          for (double v : dot_rows(xt, wv[0], ffn)) g.push_back(v);
          for (double v : dot_rows(xt, wv[1], ffn)) u.push_back(v);
          for (double v : dot_rows(xt, wv[0], ffn, true)) g_abs.push_back(v);
          for (double v : dot_rows(xt, wv[1], ffn, true)) u_abs.push_back(v);
        }
        expect_swiglu(got, g, u, g_abs, u_abs, k, tag);
        for (TensorView* t : {&res, &normed, &act, &outs[0], &outs[1]}) b->free(*t);
      }
    }
  }
}

// One backend's side of an attention_block scenario: its own cache, tensors and batches.
struct Side {
  Backend* b;
  std::unique_ptr<DeviceBatch> batch;
  TensorView q, k, v, out;
  Weight q_norm, k_norm;
};

TEST(GpuFused, AttentionBlockMatchesUnfusedOps) {
  HEARTH_REQUIRE_GPU();
  Rng rng(33);
  struct Case {
    int heads, kv_heads, head_dim;
  };
  // Head dim 256 takes attention_block's unfused decode path (kernels.h).
  for (const Case c : {Case{8, 2, 128}, Case{4, 4, 64}, Case{16, 2, 64}, Case{4, 1, 256}}) {
    const int d = c.head_dim, block = 16;
    const std::vector<int> prompts = {1, 37, 300};
    const int decode_steps = 3;
    std::vector<int> lens(prompts.size(), 0);
    std::vector<std::vector<int>> blocks(prompts.size());
    int next_block = 0;
    const int num_blocks = 64;
    RopeTable rope;
    for (int i = 0; i < d / 2; ++i) rope.inv_freq.push_back(static_cast<float>(std::pow(1e6, -2.0 * i / d)));
    const std::vector<float> qw = norm_weights(d, rng), kw = norm_weights(d, rng);
    Side sides[2] = {{backends().gpu.get(), {}, {}, {}, {}, {}, {}, {}},
                     {&unfused(), {}, {}, {}, {}, {}, {}, {}}};
    for (Side& s : sides) {
      s.b->init_kv_cache(KvCacheSpec{2, num_blocks, block, c.kv_heads, d, DType::BF16});
      s.q_norm = upload_weight_to(*s.b, qw, Shape{d}, "q_norm");
      s.k_norm = upload_weight_to(*s.b, kw, Shape{d}, "k_norm");
    }
    // Step 0: every prompt as prefill; steps 1..3: one decode token per sequence.
    for (int step = 0; step <= decode_steps; ++step) {
      StepBatch b;
      b.query_start.push_back(0);
      for (size_t s = 0; s < prompts.size(); ++s) {
        const int n = step == 0 ? prompts[s] : 1;
        for (int i = 0; i < n; ++i) {
          const int pos = lens[s] + i;
          if (pos / block >= static_cast<int>(blocks[s].size())) blocks[s].push_back((next_block++ * 7) % num_blocks);
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
      const std::vector<float> qv = random_values(size_t(t) * c.heads * d, rng, 2.0f);
      const std::vector<float> kv = random_values(size_t(t) * c.kv_heads * d, rng, 2.0f);
      const std::vector<float> vv = random_values(size_t(t) * c.kv_heads * d, rng);
      const std::vector<uint16_t> qb = to_bf16(qv), kb = to_bf16(kv), vb = to_bf16(vv);
      for (Side& s : sides) {
        s.batch = s.b->upload_batch(b);
        s.q = s.b->alloc(DType::BF16, Shape{t, c.heads, d});
        s.k = s.b->alloc(DType::BF16, Shape{t, c.kv_heads, d});
        s.v = s.b->alloc(DType::BF16, Shape{t, c.kv_heads, d});
        s.out = s.b->alloc(DType::BF16, Shape{t, c.heads * d});
        cuda_copy_from_host(*s.b, s.q, qb.data());
        cuda_copy_from_host(*s.b, s.k, kb.data());
        cuda_copy_from_host(*s.b, s.v, vb.data());
        const std::vector<uint16_t> nan(static_cast<size_t>(s.out.numel()), 0x7fc0);
        cuda_copy_from_host(*s.b, s.out, nan.data());
        s.b->attention_block(1, s.q, s.k, s.v, s.q_norm, s.k_norm, 1e-6f, rope,
                             1.0f / std::sqrt(static_cast<float>(d)), *s.batch, s.out);
      }
      // The same roundings (the same norm + RoPE code, bf16 q/k/v, the same combine
      // formula); what may differ is fp32 summation order (the fused path splits the
      // context into chunks of 64 positions, the unfused one into 128) and contraction:
      // ~1e-7 of the largest output, which moves a bf16 output by at most one rounding
      // step (rtol 2^-8) or stays under atol where the output is near zero.
      std::string tag = std::to_string(c.heads);
      tag += "/";
      tag += std::to_string(c.kv_heads);
      tag += "h d";
      tag += std::to_string(d);
      tag += step == 0 ? " prefill" : " decode ";
      if (step > 0) tag += std::to_string(step);
      const std::vector<float> ref = read(*sides[1].b, sides[1].out);
      expect_close(read(*sides[0].b, sides[0].out), ref, 2 * kBf16Rounding, 1e-6 * max_abs(ref),
                   "attention_block " + tag);
      for (Side& s : sides)
        for (TensorView* x : {&s.q, &s.k, &s.v, &s.out}) s.b->free(*x);
    }
  }
}

}  // namespace
}  // namespace hearth::gpu_test
