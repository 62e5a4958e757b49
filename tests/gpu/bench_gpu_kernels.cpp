// Kernel timings of the CUDA backend at Qwen3-8B shapes (32 query heads, 8 kv heads,
// head_dim 128, hidden 4096, intermediate 12288), as fractions of the copy bandwidth the
// backend measures itself (memory-bound ops) or as TFLOP/s (GEMMs, prefill attention).
// Not a test: a tool for the GPU machine, staged by scripts/bundle_gpu.sh.
//
// Timing: each op is queued `reps` times between two synchronize() calls and the host
// clock divides the span; short kernels therefore include their launch gaps (~2-5 us),
// which CUDA graphs remove later. Inputs are random bf16 (zeros can run faster).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <tuple>
#include <functional>
#include <vector>

#include "hearth/backend/cuda/cuda_backend.h"
#include "hearth/core/dtype.h"
#include "hearth/core/rng.h"

namespace hearth {
namespace {

constexpr int kHeads = 32, kKvHeads = 8, kHeadDim = 128, kHidden = 4096, kInter = 12288;
constexpr int kBlock = 16;

Backend* g_gpu = nullptr;

TensorView random_tensor(const Shape& shape, Rng& rng, float scale = 1.0f) {
  TensorView t = g_gpu->alloc(DType::BF16, shape);
  std::vector<uint16_t> v(static_cast<size_t>(t.numel()));
  for (auto& x : v) x = f32_to_bf16((rng.uniform() * 2.0f - 1.0f) * scale);
  cuda_copy_from_host(*g_gpu, t, v.data());
  return t;
}

// Median of 5 timed runs of `reps` back-to-back calls, in seconds per call.
double time_op(const std::function<void()>& op, int reps) {
  op();
  g_gpu->synchronize();
  std::vector<double> runs;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) op();
    g_gpu->synchronize();
    runs.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
                   reps);
  }
  std::sort(runs.begin(), runs.end());
  return runs[2];
}

StepBatch sequences(int num_seqs, int cached, int new_tokens) {
  StepBatch b;
  const int ctx = cached + new_tokens;
  const int blocks = (ctx + kBlock - 1) / kBlock;
  b.max_blocks_per_seq = blocks;
  b.query_start.push_back(0);
  for (int s = 0; s < num_seqs; ++s) {
    for (int i = 0; i < new_tokens; ++i) {
      const int pos = cached + i;
      b.token_ids.push_back(0);
      b.positions.push_back(pos);
      b.slot_mapping.push_back((s * blocks + pos / kBlock) * kBlock + pos % kBlock);
    }
    b.query_start.push_back(b.num_tokens());
    b.context_lens.push_back(ctx);
    for (int i = 0; i < blocks; ++i) b.block_tables.push_back(s * blocks + i);
  }
  return b;
}

void bench_attention(double copy_gbps, Rng& rng) {
  std::printf("\n%-34s %10s %10s %9s\n", "attention (32/8 heads, d128)", "us", "GB/s|TF/s", "%copy");
  const float scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
  struct Config {
    int seqs, ctx;
  };
  for (const Config c : {Config{1, 1024}, Config{1, 8192}, Config{1, 32768}, Config{16, 1024},
                         Config{16, 8192}}) {
    {
      const int seqs = c.seqs, ctx = c.ctx;
      KvCacheSpec spec;
      spec.num_layers = 1;
      spec.num_blocks = seqs * ((ctx + 1 + kBlock - 1) / kBlock);
      spec.block_size = kBlock;
      spec.num_kv_heads = kKvHeads;
      spec.head_dim = kHeadDim;
      spec.dtype = DType::BF16;
      g_gpu->init_kv_cache(spec);
      // Prefill: the whole context as new tokens (fills the cache with random K/V).
      {
        StepBatch sb = sequences(seqs, 0, ctx);
        auto batch = g_gpu->upload_batch(sb);
        const int t = sb.num_tokens();
        TensorView q = random_tensor(Shape{t, kHeads, kHeadDim}, rng, 4.0f);
        TensorView k = random_tensor(Shape{t, kKvHeads, kHeadDim}, rng);
        TensorView v = random_tensor(Shape{t, kKvHeads, kHeadDim}, rng);
        TensorView out = g_gpu->alloc(DType::BF16, Shape{t, kHeads * kHeadDim});
        const double s = time_op([&] { g_gpu->attention(0, q, k, v, scale, *batch, out); },
                                 ctx >= 8192 ? 2 : 5);
        // Causal: QK^T and PV over ctx^2/2 pairs per head, 2 FLOP per multiply-add.
        const double flop = 4.0 * seqs * kHeads * kHeadDim * (double(ctx) * ctx / 2);
        std::printf("prefill  %2d x %-6d               %10.1f %10.1f TF\n", seqs, ctx, s * 1e6,
                    flop / s / 1e12);
        for (TensorView* x : {&q, &k, &v, &out}) g_gpu->free(*x);
      }
      // Decode: one new token per sequence over the ctx cached ones.
      {
        StepBatch sb = sequences(seqs, ctx, 1);
        auto batch = g_gpu->upload_batch(sb);
        TensorView q = random_tensor(Shape{seqs, kHeads, kHeadDim}, rng, 4.0f);
        TensorView k = random_tensor(Shape{seqs, kKvHeads, kHeadDim}, rng);
        TensorView v = random_tensor(Shape{seqs, kKvHeads, kHeadDim}, rng);
        TensorView out = g_gpu->alloc(DType::BF16, Shape{seqs, kHeads * kHeadDim});
        const double s = time_op([&] { g_gpu->attention(0, q, k, v, scale, *batch, out); }, 50);
        const double bytes = 2.0 * seqs * (ctx + 1.0) * kKvHeads * kHeadDim * 2;  // K + V
        std::printf("decode   %2d x %-6d               %10.1f %10.1f    %6.1f\n", seqs, ctx,
                    s * 1e6, bytes / s / 1e9, 100.0 * bytes / s / 1e9 / copy_gbps);
        for (TensorView* x : {&q, &k, &v, &out}) g_gpu->free(*x);
      }
    }
  }
}

// Weights of under 256 MB are rotated over enough copies that the set exceeds the L2
// (50 MB on the H200): back-to-back calls on one small weight would time the cache.
int copies_for(double bytes) { return bytes >= 256e6 ? 1 : static_cast<int>(std::ceil(256e6 / bytes)); }

void bench_linear(double copy_gbps, Rng& rng) {
  std::printf("\n%-34s %10s %10s %9s\n", "linear x[m,k] w[n,k]^T", "us", "GB/s|TF/s", "%copy");
  struct Shape3 {
    int n, k;
    const char* name;
  };
  for (const Shape3 w : {Shape3{kHeads * kHeadDim, kHidden, "q|o"},
                         Shape3{kHeads * kHeadDim + 2 * kKvHeads * kHeadDim, kHidden, "qkv"},
                         Shape3{kInter, kHidden, "gate|up"}, Shape3{kHidden, kInter, "down"},
                         Shape3{151936, kHidden, "lm_head"}}) {
    const double wbytes = 2.0 * w.n * w.k;
    const int copies = copies_for(wbytes);
    std::vector<TensorView> wts;
    std::vector<Weight> weights;
    for (int c = 0; c < copies; ++c) {
      wts.push_back(random_tensor(Shape{w.n, w.k}, rng, 0.05f));
      weights.push_back(Weight{wts.back(), WeightFormat::Dense, w.name});
    }
    for (int m : {1, 2, 4, 8, 16, 2048}) {
      TensorView x = random_tensor(Shape{m, w.k}, rng);
      TensorView out = g_gpu->alloc(DType::BF16, Shape{m, w.n});
      int next = 0;
      const double s = time_op([&] { g_gpu->linear(x, weights[next++ % copies], out); },
                               m == 2048 ? 10 : 60);
      const double bytes = 2.0 * (double(w.n) * w.k + double(m) * w.k + double(m) * w.n);
      const double flop = 2.0 * m * w.n * double(w.k);
      if (m < 2048)
        std::printf("%-8s m=%-5d n=%-6d k=%-6d %10.1f %10.1f    %6.1f\n", w.name, m, w.n, w.k,
                    s * 1e6, bytes / s / 1e9, 100.0 * bytes / s / 1e9 / copy_gbps);
      else
        std::printf("%-8s m=%-5d n=%-6d k=%-6d %10.1f %10.1f TF\n", w.name, m, w.n, w.k, s * 1e6,
                    flop / s / 1e12);
      g_gpu->free(x);
      g_gpu->free(out);
    }
    for (TensorView& t : wts) g_gpu->free(t);
  }

  // The fused projections of a decode step: one GEMV launch over weights sharing the input.
  struct Multi {
    const char* name;
    std::vector<int> rows;
    int k;
  };
  for (const Multi& mm : {Multi{"q,k,v", {kHeads * kHeadDim, kKvHeads * kHeadDim, kKvHeads * kHeadDim}, kHidden},
                         Multi{"gate,up", {kInter, kInter}, kHidden}}) {
    double wbytes = 0;
    for (int r : mm.rows) wbytes += 2.0 * r * mm.k;
    const int copies = copies_for(wbytes);
    std::vector<std::vector<Weight>> sets(static_cast<size_t>(copies));
    std::vector<TensorView> owned;
    for (auto& set : sets)
      for (int r : mm.rows) {
        owned.push_back(random_tensor(Shape{r, mm.k}, rng, 0.05f));
        set.push_back(Weight{owned.back(), WeightFormat::Dense, mm.name});
      }
    TensorView x = random_tensor(Shape{1, mm.k}, rng);
    std::vector<TensorView> outs;
    for (int r : mm.rows) outs.push_back(g_gpu->alloc(DType::BF16, Shape{1, r}));
    int next = 0;
    const double s = time_op([&] {
      const auto& set = sets[static_cast<size_t>(next++ % copies)];
      std::vector<const Weight*> ws;
      for (const Weight& w : set) ws.push_back(&w);
      g_gpu->linear_multi(x, ws, outs);
    }, 60);
    std::printf("%-8s m=1 (one launch)  k=%-6d %10.1f %10.1f    %6.1f\n", mm.name, mm.k, s * 1e6,
                wbytes / s / 1e9, 100.0 * wbytes / s / 1e9 / copy_gbps);
    g_gpu->free(x);
    for (TensorView& t : outs) g_gpu->free(t);
    for (TensorView& t : owned) g_gpu->free(t);
  }

  // The down projection with SwiGLU fused into its input read, against the two ops.
  {
    const double wbytes = 2.0 * kHidden * kInter;
    const int copies = copies_for(wbytes);
    std::vector<TensorView> wts;
    std::vector<Weight> weights;
    for (int c = 0; c < copies; ++c) {
      wts.push_back(random_tensor(Shape{kHidden, kInter}, rng, 0.05f));
      weights.push_back(Weight{wts.back(), WeightFormat::Dense, "down"});
    }
    TensorView gate = random_tensor(Shape{1, kInter}, rng);
    TensorView up = random_tensor(Shape{1, kInter}, rng);
    TensorView act = g_gpu->alloc(DType::BF16, Shape{1, kInter});
    TensorView out = g_gpu->alloc(DType::BF16, Shape{1, kHidden});
    int next = 0;
    double s = time_op([&] { g_gpu->swiglu_linear(gate, up, weights[next++ % copies], act, out); }, 60);
    std::printf("swiglu+down m=1 (fused)    k=%-6d %10.1f %10.1f    %6.1f\n", kInter, s * 1e6,
                wbytes / s / 1e9, 100.0 * wbytes / s / 1e9 / copy_gbps);
    s = time_op([&] {
      g_gpu->swiglu(gate, up, act);
      g_gpu->linear(act, weights[next++ % copies], out);
    }, 60);
    std::printf("swiglu, down m=1 (two ops) k=%-6d %10.1f %10.1f    %6.1f\n", kInter, s * 1e6,
                wbytes / s / 1e9, 100.0 * wbytes / s / 1e9 / copy_gbps);
    for (TensorView* t : {&gate, &up, &act, &out}) g_gpu->free(*t);
    for (TensorView& t : wts) g_gpu->free(t);
  }

  // Greedy pick over a Qwen3 vocabulary (fp32 logits, one row).
  {
    const int vocab = 151936;
    TensorView logits = g_gpu->alloc(DType::F32, Shape{1, vocab});
    std::vector<float> v(static_cast<size_t>(vocab));
    for (float& x : v) x = rng.uniform() * 10.0f;
    cuda_copy_from_host(*g_gpu, logits, v.data());
    std::vector<GreedyPick> picks(1);
    for (int top : {0, 20}) {
      const double s = time_op([&] {
        g_gpu->enqueue_greedy(logits, top);
        g_gpu->read_greedy(picks);
      }, 50);
      std::printf("greedy pick vocab %d, top %-2d      %10.1f (with the host round trip)\n",
                  vocab, top, s * 1e6);
    }
    g_gpu->free(logits);
  }
}

void bench_elementwise(double copy_gbps, Rng& rng) {
  std::printf("\n%-34s %10s %10s %9s\n", "elementwise (bf16)", "us", "GB/s", "%copy");
  for (int m : {1, 2048}) {
    TensorView x = random_tensor(Shape{m, kHidden}, rng);
    TensorView res = random_tensor(Shape{m, kHidden}, rng);
    TensorView out = g_gpu->alloc(DType::BF16, Shape{m, kHidden});
    TensorView nw = random_tensor(Shape{kHidden}, rng);
    Weight w{nw, WeightFormat::Dense, "norm"};
    double s = time_op([&] { g_gpu->add_rms_norm(res, x, w, 1e-6f, out); }, 100);
    double bytes = 2.0 * m * kHidden * 4;  // read x, res; write res, out
    std::printf("add_rms_norm m=%-5d                %10.1f %10.1f    %6.1f\n", m, s * 1e6,
                bytes / s / 1e9, 100.0 * bytes / s / 1e9 / copy_gbps);
    TensorView gate = random_tensor(Shape{m, kInter}, rng);
    TensorView up = random_tensor(Shape{m, kInter}, rng);
    TensorView act = g_gpu->alloc(DType::BF16, Shape{m, kInter});
    s = time_op([&] { g_gpu->swiglu(gate, up, act); }, 100);
    bytes = 2.0 * m * kInter * 3;
    std::printf("swiglu       m=%-5d                %10.1f %10.1f    %6.1f\n", m, s * 1e6,
                bytes / s / 1e9, 100.0 * bytes / s / 1e9 / copy_gbps);
    for (TensorView* t : {&x, &res, &out, &nw, &gate, &up, &act}) g_gpu->free(*t);
  }
}

// The fused decode forms at Qwen3-8B shapes, one token: each GEMV form alone (weights
// rotated past the L2), the fused decode attention against the ops it replaces, and the
// q/k norm + RoPE kernel at prefill sizes.
void bench_fused(double copy_gbps, Rng& rng) {
  std::printf("\n%-34s %10s %10s %9s\n", "fused decode forms (m=1)", "us", "GB/s", "%copy");
  const float eps = 1e-6f;
  TensorView res = random_tensor(Shape{1, kHidden}, rng);
  TensorView normed = g_gpu->alloc(DType::BF16, Shape{1, kHidden});
  TensorView nw_t = random_tensor(Shape{kHidden}, rng, 0.1f);
  Weight nw{nw_t, WeightFormat::Dense, "norm"};
  auto weight_sets = [&](const std::vector<std::pair<int, int>>& shapes, int copies) {
    std::vector<std::vector<Weight>> sets(static_cast<size_t>(copies));
    for (auto& set : sets)
      for (auto [n, k] : shapes) set.push_back(Weight{random_tensor(Shape{n, k}, rng, 0.05f), WeightFormat::Dense, "w"});
    return sets;
  };
  auto free_sets = [&](std::vector<std::vector<Weight>>& sets) {
    for (auto& set : sets)
      for (Weight& w : set) g_gpu->free(w.t);
  };
  auto report = [&](const char* name, double s, double bytes) {
    std::printf("%-34s %10.1f %10.1f    %6.1f\n", name, s * 1e6, bytes / s / 1e9,
                100.0 * bytes / s / 1e9 / copy_gbps);
  };
  const TensorView none{};
  {  // input norm + q|k|v
    const std::vector<std::pair<int, int>> shapes = {{kHeads * kHeadDim, kHidden}, {kKvHeads * kHeadDim, kHidden}, {kKvHeads * kHeadDim, kHidden}};
    const double bytes = 2.0 * kHidden * (kHeads + 2 * kKvHeads) * kHeadDim;
    auto sets = weight_sets(shapes, copies_for(bytes));
    std::vector<TensorView> outs;
    for (auto [n, k] : shapes) outs.push_back(g_gpu->alloc(DType::BF16, Shape{1, n}));
    int next = 0;
    const double s = time_op([&] {
      const auto& set = sets[static_cast<size_t>(next++) % sets.size()];
      const Weight* ws[] = {&set[0], &set[1], &set[2]};
      g_gpu->add_norm_linear(res, none, nw, eps, normed, ws, outs, none);
    }, 200);
    report("norm + q|k|v (add_norm_linear)", s, bytes);
    for (TensorView& t : outs) g_gpu->free(t);
    free_sets(sets);
  }
  {  // o_proj / down_proj + residual add
    for (auto [n, k, name] : {std::tuple{kHidden, kHeads * kHeadDim, "o_proj + residual"},
                              std::tuple{kHidden, kInter, "down_proj + residual"}}) {
      const double bytes = 2.0 * n * k;
      auto sets = weight_sets({{n, k}}, copies_for(bytes));
      TensorView x = random_tensor(Shape{1, k}, rng);
      TensorView out = g_gpu->alloc(DType::BF16, Shape{1, n});
      TensorView r = random_tensor(Shape{1, n}, rng);
      int next = 0;
      const double s = time_op([&] {
        g_gpu->linear_residual(x, sets[static_cast<size_t>(next++) % sets.size()][0], out, r);
      }, 200);
      report(name, s, bytes);
      for (TensorView* t : {&x, &out, &r}) g_gpu->free(*t);
      free_sets(sets);
    }
  }
  {  // post-attention norm + gate|up + SwiGLU
    const double bytes = 2.0 * 2 * kInter * kHidden;
    auto sets = weight_sets({{kInter, kHidden}, {kInter, kHidden}}, copies_for(bytes));
    TensorView gate = g_gpu->alloc(DType::BF16, Shape{1, kInter});
    TensorView up = g_gpu->alloc(DType::BF16, Shape{1, kInter});
    TensorView act = g_gpu->alloc(DType::BF16, Shape{1, kInter});
    const TensorView outs[] = {gate, up};
    int next = 0;
    const double s = time_op([&] {
      const auto& set = sets[static_cast<size_t>(next++) % sets.size()];
      const Weight* ws[] = {&set[0], &set[1]};
      g_gpu->add_norm_linear(res, none, nw, eps, normed, ws, outs, act);
    }, 100);
    report("norm + gate|up + swiglu", s, bytes);
    for (TensorView* t : {&gate, &up, &act}) g_gpu->free(*t);
    free_sets(sets);
  }
  {  // final norm + lm_head (fp32 logits)
    const int vocab = 151936;
    const double bytes = 2.0 * vocab * kHidden;
    auto sets = weight_sets({{vocab, kHidden}}, 1);
    TensorView logits = g_gpu->alloc(DType::F32, Shape{1, vocab});
    const TensorView outs[] = {logits};
    const Weight* ws[] = {&sets[0][0]};
    const double s = time_op([&] { g_gpu->add_norm_linear(res, none, nw, eps, normed, ws, outs, none); }, 30);
    report("norm + lm_head (fp32 out)", s, bytes);
    g_gpu->free(logits);
    free_sets(sets);
  }

  // Decode attention: fused (norm + RoPE + cache write + attention + combine) against the
  // ops it replaces (qk_norm_rope, attention = cache write + attention + combine).
  std::printf("\n%-34s %10s %10s %9s\n", "decode attention block (32/8, d128)", "us", "GB/s", "%copy");
  RopeTable rope;
  for (int i = 0; i < kHeadDim / 2; ++i) rope.inv_freq.push_back(static_cast<float>(std::pow(1e6, -2.0 * i / kHeadDim)));
  TensorView qn_t = random_tensor(Shape{kHeadDim}, rng, 0.1f), kn_t = random_tensor(Shape{kHeadDim}, rng, 0.1f);
  Weight qn{qn_t, WeightFormat::Dense, "q_norm"}, kn{kn_t, WeightFormat::Dense, "k_norm"};
  const float scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
  for (int ctx : {640, 8192, 32768}) {
    KvCacheSpec spec;
    spec.num_layers = 1;
    spec.num_blocks = (ctx + 1 + kBlock - 1) / kBlock;
    spec.block_size = kBlock;
    spec.num_kv_heads = kKvHeads;
    spec.head_dim = kHeadDim;
    spec.dtype = DType::BF16;
    g_gpu->init_kv_cache(spec);
    StepBatch sb = sequences(1, ctx - 1, 1);
    auto batch = g_gpu->upload_batch(sb);
    TensorView q = random_tensor(Shape{1, kHeads, kHeadDim}, rng);
    TensorView k = random_tensor(Shape{1, kKvHeads, kHeadDim}, rng);
    TensorView v = random_tensor(Shape{1, kKvHeads, kHeadDim}, rng);
    TensorView out = g_gpu->alloc(DType::BF16, Shape{1, kHeads * kHeadDim});
    const double bytes = 2.0 * ctx * kKvHeads * kHeadDim * 2;
    char name[64];
    double s = time_op([&] { g_gpu->attention_block(0, q, k, v, qn, kn, eps, rope, scale, *batch, out); }, 200);
    std::snprintf(name, sizeof(name), "fused    ctx %-6d", ctx);
    report(name, s, bytes);
    s = time_op([&] {
      g_gpu->qk_norm_rope(q, k, qn, kn, eps, rope, *batch);
      g_gpu->attention(0, q, k, v, scale, *batch, out);
    }, 200);
    std::snprintf(name, sizeof(name), "separate ctx %-6d", ctx);
    report(name, s, bytes);
    for (TensorView* t : {&q, &k, &v, &out}) g_gpu->free(*t);
  }
  {  // q/k norm + RoPE at prefill sizes (bytes: q and k read and written)
    for (int tokens : {2048, 8192}) {
      StepBatch sb = sequences(1, 0, tokens);
      KvCacheSpec spec{1, (tokens + kBlock - 1) / kBlock, kBlock, kKvHeads, kHeadDim, DType::BF16};
      g_gpu->init_kv_cache(spec);
      auto batch = g_gpu->upload_batch(sb);
      TensorView q = random_tensor(Shape{tokens, kHeads, kHeadDim}, rng);
      TensorView k = random_tensor(Shape{tokens, kKvHeads, kHeadDim}, rng);
      const double bytes = 2.0 * 2 * tokens * (kHeads + kKvHeads) * kHeadDim;
      const double s = time_op([&] { g_gpu->qk_norm_rope(q, k, qn, kn, eps, rope, *batch); }, 20);
      char name[64];
      std::snprintf(name, sizeof(name), "qk_norm_rope %d tokens", tokens);
      report(name, s, bytes);
      g_gpu->free(q);
      g_gpu->free(k);
    }
  }

  for (TensorView* t : {&res, &normed, &nw_t, &qn_t, &kn_t}) g_gpu->free(*t);
}

// A chain of decode layers: the five launches of a fused layer, 8 layers of their own
// weights (3.1 GB, far past the L2), one token at context 640, back-to-back launches as in
// a step (eager, programmatic launch), against the weight bytes.
void bench_chain(double copy_gbps, Rng& rng) {
  const float eps = 1e-6f;
  const TensorView none{};
  TensorView normed = g_gpu->alloc(DType::BF16, Shape{1, kHidden});
  TensorView nw_t = random_tensor(Shape{kHidden}, rng, 0.1f);
  Weight nw{nw_t, WeightFormat::Dense, "norm"};
  RopeTable rope;
  for (int i = 0; i < kHeadDim / 2; ++i) rope.inv_freq.push_back(static_cast<float>(std::pow(1e6, -2.0 * i / kHeadDim)));
  TensorView qn_t = random_tensor(Shape{kHeadDim}, rng, 0.1f), kn_t = random_tensor(Shape{kHeadDim}, rng, 0.1f);
  Weight qn{qn_t, WeightFormat::Dense, "q_norm"}, kn{kn_t, WeightFormat::Dense, "k_norm"};
  const float scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
  auto report = [&](const char* name, double s, double bytes) {
    std::printf("%-34s %10.1f %10.1f    %6.1f\n", name, s * 1e6, bytes / s / 1e9,
                100.0 * bytes / s / 1e9 / copy_gbps);
  };
  {
    constexpr int kLayers = 8;
    const int ctx = 640;
    KvCacheSpec spec{kLayers, (ctx + kBlock) / kBlock, kBlock, kKvHeads, kHeadDim, DType::BF16};
    g_gpu->init_kv_cache(spec);
    StepBatch sb = sequences(1, ctx - 1, 1);
    auto batch = g_gpu->upload_batch(sb);
    struct Layer {
      std::vector<Weight> w;  // q, k, v, o, gate, up, down
    };
    std::vector<Layer> layers(kLayers);
    const std::vector<std::pair<int, int>> shapes = {
        {kHeads * kHeadDim, kHidden}, {kKvHeads * kHeadDim, kHidden}, {kKvHeads * kHeadDim, kHidden},
        {kHidden, kHeads * kHeadDim}, {kInter, kHidden}, {kInter, kHidden}, {kHidden, kInter}};
    double layer_bytes = 0;
    for (auto [n, k] : shapes) layer_bytes += 2.0 * n * k;
    // One random host buffer per shape, uploaded to every layer (distinct addresses).
    for (auto [n, k] : shapes) {
      TensorView first = random_tensor(Shape{n, k}, rng, 0.05f);
      std::vector<uint16_t> host(static_cast<size_t>(n) * k);
      g_gpu->synchronize();
      std::vector<float> tmp(host.size());
      g_gpu->to_host_f32(first, tmp.data());
      for (size_t i = 0; i < host.size(); ++i) host[i] = f32_to_bf16(tmp[i]);
      for (int l = 0; l < kLayers; ++l) {
        TensorView t = l == 0 ? first : g_gpu->alloc(DType::BF16, Shape{n, k});
        if (l > 0) cuda_copy_from_host(*g_gpu, t, host.data());
        layers[static_cast<size_t>(l)].w.push_back(Weight{t, WeightFormat::Dense, "w"});
      }
    }
    TensorView q = g_gpu->alloc(DType::BF16, Shape{1, kHeads, kHeadDim});
    TensorView k = g_gpu->alloc(DType::BF16, Shape{1, kKvHeads, kHeadDim});
    TensorView v = g_gpu->alloc(DType::BF16, Shape{1, kKvHeads, kHeadDim});
    TensorView attn = g_gpu->alloc(DType::BF16, Shape{1, kHeads * kHeadDim});
    TensorView proj = g_gpu->alloc(DType::BF16, Shape{1, kHidden});
    TensorView gate = g_gpu->alloc(DType::BF16, Shape{1, kInter});
    TensorView up = g_gpu->alloc(DType::BF16, Shape{1, kInter});
    TensorView act = g_gpu->alloc(DType::BF16, Shape{1, kInter});
    TensorView residual = random_tensor(Shape{1, kHidden}, rng);
    TensorView q2 = q, k2 = k, v2 = v;
    q2.shape = {1, kHeads * kHeadDim};
    k2.shape = v2.shape = {1, kKvHeads * kHeadDim};
    const double s = time_op([&] {
      for (int l = 0; l < kLayers; ++l) {
        const std::vector<Weight>& w = layers[static_cast<size_t>(l)].w;
        const Weight* qkv[] = {&w[0], &w[1], &w[2]};
        const TensorView qkv_out[] = {q2, k2, v2};
        g_gpu->add_norm_linear(residual, none, nw, eps, normed, qkv, qkv_out, none);
        g_gpu->attention_block(l, q, k, v, qn, kn, eps, rope, scale, *batch, attn);
        g_gpu->linear_residual(attn, w[3], proj, residual);
        const Weight* gu[] = {&w[4], &w[5]};
        const TensorView gu_out[] = {gate, up};
        g_gpu->add_norm_linear(residual, none, nw, eps, normed, gu, gu_out, act);
        g_gpu->linear_residual(act, w[6], proj, residual);
      }
    }, 20) / kLayers;
    report("decode layer chain (ctx 640)", s, layer_bytes);
    std::printf("  projected step: 36 such layers + lm_head at the copy bandwidth = %.1f tok/s\n",
                1.0 / (36 * s + 2.0 * 151936 * kHidden / (copy_gbps * 1e9)));
    for (TensorView* t : {&q, &k, &v, &attn, &proj, &gate, &up, &act, &residual}) g_gpu->free(*t);
    for (Layer& l : layers)
      for (Weight& w : l.w) g_gpu->free(w.t);
  }
  for (TensorView* t : {&normed, &nw_t, &qn_t, &kn_t}) g_gpu->free(*t);
}

// Batched decode (m = 2..256 rows): the projections of a layer as the model calls them
// (q|k|v one call, o_proj and down_proj with the residual add, norm + gate|up + SwiGLU,
// lm_head with fp32 logits), on this backend and on one with the small-M tensor-core GEMM
// off (cuBLASLt per weight, the norm and SwiGLU separate), against the weight bytes.
void bench_batched(double copy_gbps, Rng& rng) {
  CudaBackendOptions off;
  off.mma_max_rows = 0;
  off.memory_budget_bytes = 8ull << 30;
  auto cublas = make_cuda_backend(off);
  std::printf("\n%-34s %10s %10s %9s %12s\n", "batched decode projections", "us", "GB/s", "%copy",
              "cuBLASLt us");
  const float eps = 1e-6f;
  TensorView nw_t = random_tensor(Shape{kHidden}, rng, 0.1f);
  Weight nw{nw_t, WeightFormat::Dense, "norm"};
  struct Proj {
    const char* name;
    std::vector<std::pair<int, int>> shapes;  // (rows, k) per weight
    int kind;  // 0 linear_multi, 1 linear_residual, 2 add_norm_linear + act, 3 lm_head f32
  };
  const std::vector<Proj> projs = {
      {"q|k|v", {{kHeads * kHeadDim, kHidden}, {kKvHeads * kHeadDim, kHidden}, {kKvHeads * kHeadDim, kHidden}}, 0},
      {"o_proj + residual", {{kHidden, kHeads * kHeadDim}}, 1},
      {"norm + gate|up + swiglu", {{kInter, kHidden}, {kInter, kHidden}}, 2},
      {"down_proj + residual", {{kHidden, kInter}}, 1},
      {"lm_head (fp32)", {{151936, kHidden}}, 3}};
  std::vector<int> ms = {2, 4, 8, 16, 32, 48, 64, 128, 256};
  // HEARTH_BENCH_M=16,32,64: only these (e.g. under ncu, or the wgmma A/B).
  if (const char* only = std::getenv("HEARTH_BENCH_M")) {
    ms.clear();
    for (const char* c = only; *c != '\0';) {
      ms.push_back(std::atoi(c));
      while (*c != '\0' && *c != ',') ++c;
      if (*c == ',') ++c;
    }
  }
  std::vector<double> layer_us(2 * ms.size(), 0.0);
  for (const Proj& pr : projs) {
    double wbytes = 0;
    for (auto [n, k] : pr.shapes) wbytes += 2.0 * n * k;
    const int copies = copies_for(wbytes);
    std::vector<std::vector<Weight>> sets(static_cast<size_t>(copies));
    for (auto& set : sets)
      for (auto [n, k] : pr.shapes) set.push_back(Weight{random_tensor(Shape{n, k}, rng, 0.05f), WeightFormat::Dense, "w"});
    const int k = pr.shapes[0].second;
    for (size_t mi = 0; mi < ms.size(); ++mi) {
      const int m = ms[mi];
      TensorView x = random_tensor(Shape{m, k}, rng);
      TensorView res = random_tensor(Shape{m, pr.kind == 1 ? pr.shapes[0].first : kHidden}, rng);
      TensorView normed = g_gpu->alloc(DType::BF16, Shape{m, k});
      std::vector<TensorView> outs;
      for (auto [n, kk] : pr.shapes) outs.push_back(g_gpu->alloc(pr.kind == 3 ? DType::F32 : DType::BF16, Shape{m, n}));
      TensorView act = g_gpu->alloc(DType::BF16, Shape{m, pr.shapes[0].first});
      double t[2] = {0, 0};
      Backend* bs[2] = {g_gpu, cublas.get()};
      for (int b = 0; b < 2; ++b) {
        Backend* be = bs[b];
        g_gpu->synchronize();
        int next = 0;
        const TensorView none{};
        auto op = [&] {
          const auto& set = sets[static_cast<size_t>(next++) % sets.size()];
          std::vector<const Weight*> ws;
          for (const Weight& w : set) ws.push_back(&w);
          if (pr.kind == 0) be->linear_multi(x, ws, outs);
          else if (pr.kind == 1) be->linear_residual(x, *ws[0], outs[0], res);
          else if (pr.kind == 2) be->add_norm_linear(res, none, nw, eps, normed, ws, outs, act);
          else be->add_norm_linear(res, none, nw, eps, normed, ws, outs, none);
        };
        op();
        be->synchronize();
        std::vector<double> runs;
        const int reps = pr.kind == 3 ? 10 : 40;
        for (int r = 0; r < 5; ++r) {
          const auto t0 = std::chrono::steady_clock::now();
          for (int i = 0; i < reps; ++i) op();
          be->synchronize();
          runs.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps);
        }
        std::sort(runs.begin(), runs.end());
        t[b] = runs[2];
      }
      if (pr.kind != 3) {
        layer_us[mi] += t[0] * 1e6;
        layer_us[ms.size() + mi] += t[1] * 1e6;
      }
      std::printf("%-24s m=%-4d %10.1f %10.1f    %6.1f %12.1f\n", pr.name, m, t[0] * 1e6, wbytes / t[0] / 1e9,
                  100.0 * wbytes / t[0] / 1e9 / copy_gbps, t[1] * 1e6);
      for (TensorView* tv : {&x, &res, &normed, &act}) g_gpu->free(*tv);
      for (TensorView& tv : outs) g_gpu->free(tv);
    }
    for (auto& set : sets)
      for (Weight& w : set) g_gpu->free(w.t);
  }
  const double layer_bytes = 2.0 * kHidden * (2 * kHeads * kHeadDim + 2 * kKvHeads * kHeadDim + 3 * kInter);
  for (size_t mi = 0; mi < ms.size(); ++mi)
    std::printf("layer projections m=%-4d %8.1f us (%5.1f %% of copy); cuBLASLt path %8.1f us\n", ms[mi],
                layer_us[mi], 100.0 * layer_bytes / (layer_us[mi] * 1e-6) / 1e9 / copy_gbps,
                layer_us[ms.size() + mi]);
  g_gpu->free(nw_t);
}

}  // namespace
}  // namespace hearth

int main(int argc, char** argv) {
  using namespace hearth;
  if (!cuda_device_available()) {
    std::fprintf(stderr, "bench_gpu_kernels: no CUDA device\n");
    return 1;
  }
  try {
    const CudaDeviceInfo info = cuda_device_info(0);
    auto gpu = make_cuda_backend({});
    g_gpu = gpu.get();
    const double copy_gbps = gpu->measure_copy_bandwidth_gbps();
    std::printf("device: %s (sm_%d%d, %d SMs); copy bandwidth %.0f GB/s (read + write)\n",
                info.name.c_str(), info.compute_major, info.compute_minor, info.multiprocessors,
                copy_gbps);
    Rng rng(42);
    // Sections: all by default, or those named (fused, chain, elementwise, linear, attention,
    // batched).
    auto want = [&](const char* name) {
      if (argc <= 1) return true;
      for (int i = 1; i < argc; ++i)
        if (std::strcmp(argv[i], name) == 0) return true;
      return false;
    };
    if (want("fused")) bench_fused(copy_gbps, rng);
    if (want("chain")) bench_chain(copy_gbps, rng);
    if (want("elementwise")) bench_elementwise(copy_gbps, rng);
    if (want("linear")) bench_linear(copy_gbps, rng);
    if (want("attention")) bench_attention(copy_gbps, rng);
    if (want("batched")) bench_batched(copy_gbps, rng);
    std::printf("\npeak device memory: %.2f GiB\n",
                static_cast<double>(gpu->peak_memory_bytes()) / (1ull << 30));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_gpu_kernels: %s\n", e.what());
    return 1;
  }
  return 0;
}
