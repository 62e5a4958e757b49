// The decode path of the CUDA backend: the small-M GEMV (linear and linear_multi, bf16 and
// fp32 outputs) against the CPU reference, the device greedy pick against the CPU
// sampler's argmax and compute_logprobs, and a model decoded through recorded step graphs
// against the same model decoded with eager launches.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/tiny_model.h"
#include "hearth/engine/generator.h"
#include "hearth/engine/qwen3.h"
#include "hearth/model/checkpoint.h"
#include "hearth/sampling/logits_processors.h"
#include "hearth/sampling/sampler.h"
#include "parity_util.h"

namespace hearth::gpu_test {
namespace {

// As in GpuParity.Linear: bf16 output rounding, plus an atol for outputs near zero.
constexpr double kRtol = 2 * kBf16Rounding;

// A second CUDA backend with the paths the default one leaves off (measured slower on the
// H200, kept for other GPUs and batch sizes): the GEMV for up to 8 rows and the fused
// SwiGLU read. Tensors made by backends().gpu are used on it after a synchronize() (the
// two backends have their own streams).
Backend& wide_gemv() {
  static std::unique_ptr<Backend> b = [] {
    CudaBackendOptions o;
    o.gemv_max_rows = 8;
    o.fuse_swiglu = true;
    return make_cuda_backend(o);
  }();
  return *b;
}

TEST(GpuDecode, GemvMatchesCpuForSmallM) {
  HEARTH_REQUIRE_GPU();
  Rng rng(11);
  struct Case {
    int tokens, in, out;
  };
  // M = 1..8 (the GEMV up to 4, cuBLASLt past it), K from one 16-byte chunk to past the
  // 256 chunks a block covers per step, row counts that are not a multiple of the 8 rows a
  // block covers.
  for (const Case c : {Case{1, 8, 1}, Case{1, 4096, 77}, Case{2, 72, 33}, Case{3, 1000, 130},
                       Case{4, 2056, 17}, Case{5, 512, 250}, Case{8, 1024, 64}, Case{8, 136, 9}}) {
    WeightPair w = make_weight(random_values(size_t(c.out) * c.in, rng), Shape{c.out, c.in}, "w");
    TensorPair x = tensor_pair(random_values(size_t(c.tokens) * c.in, rng), Shape{c.tokens, c.in});
    TensorPair out = alloc_pair(Shape{c.tokens, c.out});
    backends().cpu->linear(x.cpu, w.cpu, out.cpu);
    const std::vector<float> ref = read(*backends().cpu, out.cpu);
    TensorView f = backends().gpu->alloc(DType::F32, Shape{c.tokens, c.out});
    for (Backend* gpu : {backends().gpu.get(), &wide_gemv()}) {
      const std::string what = std::string(gpu == &wide_gemv() ? "gemv<=8 " : "gemv ") +
                               std::to_string(c.tokens) + "x" + std::to_string(c.in) + "->" +
                               std::to_string(c.out);
      poison_gpu(out);
      backends().gpu->synchronize();
      gpu->linear(x.gpu, w.gpu, out.gpu);
      expect_close(read(*gpu, out.gpu), ref, kRtol, rms(ref) / 4096, what);
      // fp32 output (the logits path): only the fp32 summation order differs from the
      // CPU, about sqrt(K) * 2^-24 of the output scale.
      gpu->linear(x.gpu, w.gpu, f);
      expect_close(read(*gpu, f), ref, 1e-5, rms(ref) * 1e-5, what + " f32");
    }
    backends().gpu->free(f);
    free_pair(x);
    free_pair(out);
  }
}

TEST(GpuDecode, LinearMultiMatchesSeparateLinears) {
  HEARTH_REQUIRE_GPU();
  Rng rng(12);
  const int in = 264;
  for (int tokens : {1, 3, 8, 9}) {  // 9: past the GEMV, cuBLASLt per weight
    const std::vector<int> rows = {96, 40, 40};
    std::vector<WeightPair> ws;
    std::vector<TensorPair> outs;
    for (int r : rows) {
      ws.push_back(make_weight(random_values(size_t(r) * in, rng), Shape{r, in}, "w"));
      outs.push_back(alloc_pair(Shape{tokens, r}));
      poison_gpu(outs.back());
    }
    TensorPair x = tensor_pair(random_values(size_t(tokens) * in, rng), Shape{tokens, in});
    std::vector<const Weight*> gw;
    std::vector<TensorView> go;
    for (size_t i = 0; i < rows.size(); ++i) {
      gw.push_back(&ws[i].gpu);
      go.push_back(outs[i].gpu);
      backends().cpu->linear(x.cpu, ws[i].cpu, outs[i].cpu);
    }
    for (Backend* gpu : {backends().gpu.get(), &wide_gemv()}) {
      for (const TensorPair& o : outs) poison_gpu(o);
      backends().gpu->synchronize();
      gpu->linear_multi(x.gpu, gw, go);
      for (size_t i = 0; i < rows.size(); ++i) {
        const std::vector<float> ref = read(*backends().cpu, outs[i].cpu);
        expect_close(read(*gpu, outs[i].gpu), ref, kRtol, rms(ref) / 4096,
                     std::string(gpu == &wide_gemv() ? "gemv<=8 " : "") + "linear_multi tokens " +
                         std::to_string(tokens) + " segment " + std::to_string(i));
      }
    }
    for (TensorPair& o : outs) free_pair(o);
    free_pair(x);
  }
}

// SwiGLU fused into the down projection's input read against the two ops run separately
// on the GPU: the same bf16 rounding of silu(gate) * up and the same summation, so the
// outputs agree to the bf16 output rounding at most.
TEST(GpuDecode, SwigluLinearMatchesSwigluThenLinear) {
  HEARTH_REQUIRE_GPU();
  Backend& gpu = wide_gemv();  // the fused read is off on the default backend
  Rng rng(14);
  for (int tokens : {1, 2, 4, 6}) {
    const int inter = 1032, hidden = 72;
    WeightPair w = make_weight(random_values(size_t(hidden) * inter, rng), Shape{hidden, inter}, "down");
    TensorPair gate = tensor_pair(random_values(size_t(tokens) * inter, rng, 4.0f), Shape{tokens, inter});
    TensorPair up = tensor_pair(random_values(size_t(tokens) * inter, rng), Shape{tokens, inter});
    backends().gpu->synchronize();
    TensorView act = gpu.alloc(DType::BF16, Shape{tokens, inter});
    TensorView fused = gpu.alloc(DType::BF16, Shape{tokens, hidden});
    TensorView split = gpu.alloc(DType::BF16, Shape{tokens, hidden});
    gpu.swiglu_linear(gate.gpu, up.gpu, w.gpu, act, fused);
    gpu.swiglu(gate.gpu, up.gpu, act);
    gpu.linear(act, w.gpu, split);
    const std::vector<float> ref = read(gpu, split);
    expect_close(read(gpu, fused), ref, kBf16Rounding, rms(ref) / 4096,
                 "swiglu_linear tokens " + std::to_string(tokens));
    for (TensorView* t : {&act, &fused, &split}) gpu.free(*t);
    free_pair(gate);
    free_pair(up);
  }
}

// Logits with the cases the ranking must get right: ties at the top (lowest id wins),
// -inf entries, and repeated values inside the top K.
std::vector<float> tricky_logits(int vocab, Rng& rng) {
  std::vector<float> v(static_cast<size_t>(vocab));
  for (float& x : v) x = (rng.uniform() * 2.0f - 1.0f) * 8.0f;
  if (vocab > 100) {
    const float top = 9.5f;
    v[static_cast<size_t>(vocab / 3)] = top;
    v[static_cast<size_t>(vocab / 2)] = top;  // tie: the lower id (vocab/3) must win
    v[7] = 9.0f;
    v[static_cast<size_t>(vocab - 1)] = 9.0f;
    for (int i = 0; i < vocab; i += 97) v[static_cast<size_t>(i) + 1] = -std::numeric_limits<float>::infinity();
  }
  return v;
}

TEST(GpuDecode, GreedyPickMatchesCpuSampler) {
  HEARTH_REQUIRE_GPU();
  Backend& gpu = *backends().gpu;
  Rng rng(13);
  for (int vocab : {5, 1000, 2049, 151936}) {
    for (int rows : {1, 3}) {
      std::vector<float> host;
      for (int r = 0; r < rows; ++r) {
        const std::vector<float> row = tricky_logits(vocab, rng);
        host.insert(host.end(), row.begin(), row.end());
      }
      TensorView logits = gpu.alloc(DType::F32, Shape{rows, vocab});
      cuda_copy_from_host(gpu, logits, host.data());
      for (int top : {0, 1, 5, 20}) {
        std::vector<GreedyPick> picks(static_cast<size_t>(rows));
        gpu.enqueue_greedy(logits, top);
        gpu.read_greedy(picks);
        for (int r = 0; r < rows; ++r) {
          const std::span<const float> row(host.data() + static_cast<size_t>(r) * vocab,
                                           static_cast<size_t>(vocab));
          const int id = argmax_logit(row);
          const TokenLogprobs ref = compute_logprobs(row, id, top);
          const std::string what = "vocab " + std::to_string(vocab) + " row " +
                                   std::to_string(r) + " top " + std::to_string(top);
          const GreedyPick& p = picks[static_cast<size_t>(r)];
          EXPECT_EQ(p.id, id) << what;
          // The device sums exp() in fp32 over the row, the CPU in double: the
          // log-sum-exp (about 12 for 151,936 logits of this spread) differs by a few
          // fp32 ulps, well under 1e-4.
          EXPECT_NEAR(p.logprob, ref.logprob, 1e-4) << what;
          ASSERT_EQ(p.top.size(), ref.top.size()) << what;
          for (size_t k = 0; k < ref.top.size(); ++k) {
            EXPECT_EQ(p.top[k].first, ref.top[k].first) << what << " rank " << k;
            if (std::isfinite(ref.top[k].second))
              EXPECT_NEAR(p.top[k].second, ref.top[k].second, 1e-4) << what << " rank " << k;
            else
              EXPECT_EQ(p.top[k].second, ref.top[k].second) << what << " rank " << k;
          }
        }
      }
      gpu.free(logits);
    }
  }
}

TEST(GpuDecode, GreedyPickOfAllMaskedRowFails) {
  HEARTH_REQUIRE_GPU();
  Backend& gpu = *backends().gpu;
  std::vector<float> host(300, -std::numeric_limits<float>::infinity());
  TensorView logits = gpu.alloc(DType::F32, Shape{1, 300});
  cuda_copy_from_host(gpu, logits, host.data());
  std::vector<GreedyPick> picks(1);
  gpu.enqueue_greedy(logits, 0);
  EXPECT_THROW(gpu.read_greedy(picks), Error);
  gpu.free(logits);
}

// A random model at `seed` of these sizes.
std::unique_ptr<Checkpoint> sized_model(const hearth::testing::TempDir& dir, const hearth::testing::TinySizes& sizes,
                                        uint64_t seed) {
  LoadOptions opts;
  opts.random_seed = seed;
  return Checkpoint::open("random:" + dir.write("config.json", hearth::testing::sized_config_json(sizes).dump()), opts);
}

// Greedy generation (3 logprobs, EOS ignored) of a synthetic prompt of prompt_len tokens
// (ids < 1000) on gpu and on the CPU reference: {gpu result, cpu result}.
std::pair<GenerationResult, GenerationResult> generate_greedy_gpu_cpu(const Checkpoint& ckpt,
                                                                      Backend& gpu, int prompt_len,
                                                                      int max_tokens) {
  auto cpu = make_cpu_backend(2);
  Generator g_gpu(ckpt, gpu), g_cpu(ckpt, *cpu);
  GenerationRequest req;
  for (int i = 0; i < prompt_len; ++i) req.prompt_ids.push_back((i * 53 + 3) % 1000);
  req.params.temperature = 0.0f;
  req.params.max_tokens = max_tokens;
  req.params.ignore_eos = true;
  req.params.logprobs = 3;
  return {g_gpu.generate(req), g_cpu.generate(req)};
}

std::unique_ptr<Checkpoint> small_model(const hearth::testing::TempDir& dir) {
  return sized_model(dir, {1000, 256, 512, 8, 2, 64}, 5);
}

TEST(GpuDecode, StepGraphsMatchEagerDecode) {
  HEARTH_REQUIRE_GPU();
  hearth::testing::TempDir dir;
  auto ckpt = small_model(dir);
  const ModelConfig& cfg = ckpt->config();
  auto gpu_a = make_cuda_backend({});
  auto gpu_b = make_cuda_backend({});
  Qwen3Model graphs(cfg, gpu_a->upload_weights(ckpt->weights()), *gpu_a);
  Qwen3Model eager(cfg, gpu_b->upload_weights(ckpt->weights()), *gpu_b);
  eager.set_use_graphs(false);
  const int prompt_len = 37, steps = 150, block = 16;
  const int kv_blocks = (prompt_len + steps + block - 1) / block;
  for (Backend* b : {gpu_a.get(), gpu_b.get()})
    b->init_kv_cache(KvCacheSpec{cfg.num_hidden_layers, kv_blocks, block, cfg.num_key_value_heads,
                                 cfg.head_dim, DType::BF16});
  std::vector<int32_t> prompt;
  for (int i = 0; i < prompt_len; ++i) prompt.push_back((i * 131 + 7) % cfg.vocab_size);
  std::vector<GreedyPick> pa, pb;
  graphs.forward_greedy(single_sequence_step(prompt, 0, kv_blocks, true), 5, pa);
  eager.forward_greedy(single_sequence_step(prompt, 0, kv_blocks, true), 5, pb);
  int token = pb.at(0).id;
  int flips = 0;
  for (int i = 0; i < steps; ++i) {
    const int32_t t = token;
    const StepBatch step = single_sequence_step(std::span(&t, 1), prompt_len + i, kv_blocks, true);
    graphs.forward_greedy(step, 5, pa);
    eager.forward_greedy(step, 5, pb);
    ASSERT_TRUE(graphs.last_step_used_graph());
    ASSERT_FALSE(eager.last_step_used_graph());
    const GreedyPick &a = pa.at(0), &b = pb.at(0);
    // Same kernels except the attention splits (by device-side sizes in the graph): fp32
    // summation order only, so the logprobs agree to well under the bf16 activations'
    // rounding; an id may differ only where the two best logprobs are that close.
    EXPECT_NEAR(a.logprob, b.logprob, 2e-2) << "step " << i;
    if (a.id != b.id) {
      ++flips;
      ASSERT_GE(b.top.size(), 2u);
      EXPECT_LT(std::abs(b.top[0].second - b.top[1].second), 2e-2) << "step " << i;
    }
    token = b.id;  // both continue from the eager pick
  }
  EXPECT_LE(flips, 2);
}

// The fused decode forms (norm in the GEMV prologue, residual add and SwiGLU in its
// epilogue, q/k norm + RoPE + cache write + combine inside decode attention, the final norm
// with lm_head) against the same model on a backend with them off, both through step
// graphs, fed the same tokens.
TEST(GpuDecode, FusedDecodeMatchesUnfused) {
  HEARTH_REQUIRE_GPU();
  hearth::testing::TempDir dir;
  auto ckpt = small_model(dir);
  const ModelConfig& cfg = ckpt->config();
  CudaBackendOptions off;
  off.fuse_decode = false;
  auto gpu_a = make_cuda_backend({});
  auto gpu_b = make_cuda_backend(off);
  Qwen3Model fused(cfg, gpu_a->upload_weights(ckpt->weights()), *gpu_a);
  Qwen3Model plain(cfg, gpu_b->upload_weights(ckpt->weights()), *gpu_b);
  const int prompt_len = 29, steps = 100, block = 16;
  const int kv_blocks = (prompt_len + steps + block - 1) / block;
  for (Backend* b : {gpu_a.get(), gpu_b.get()})
    b->init_kv_cache(KvCacheSpec{cfg.num_hidden_layers, kv_blocks, block, cfg.num_key_value_heads,
                                 cfg.head_dim, DType::BF16});
  std::vector<int32_t> prompt;
  for (int i = 0; i < prompt_len; ++i) prompt.push_back((i * 71 + 3) % cfg.vocab_size);
  std::vector<GreedyPick> pa, pb;
  fused.forward_greedy(single_sequence_step(prompt, 0, kv_blocks, true), 5, pa);
  plain.forward_greedy(single_sequence_step(prompt, 0, kv_blocks, true), 5, pb);
  EXPECT_EQ(pa.at(0).id, pb.at(0).id);
  int token = pb.at(0).id;
  int flips = 0;
  for (int i = 0; i < steps; ++i) {
    const int32_t t = token;
    const StepBatch step = single_sequence_step(std::span(&t, 1), prompt_len + i, kv_blocks, true);
    fused.forward_greedy(step, 5, pa);
    plain.forward_greedy(step, 5, pb);
    ASSERT_TRUE(fused.last_step_used_graph());
    const GreedyPick &a = pa.at(0), &b = pb.at(0);
    // The same roundings to bf16 in both; only fp32 summation orders differ (the norm's
    // sum of squares per CTA, the residual add in the GEMV epilogue), so the logprobs
    // agree to well under the bf16 activations' rounding, as in StepGraphsMatchEagerDecode.
    EXPECT_NEAR(a.logprob, b.logprob, 2e-2) << "step " << i;
    if (a.id != b.id) {
      ++flips;
      ASSERT_GE(b.top.size(), 2u);
      EXPECT_LT(std::abs(b.top[0].second - b.top[1].second), 2e-2) << "step " << i;
    }
    token = b.id;
  }
  EXPECT_LE(flips, 2);
}

// The GEMV's two copy orders (CudaBackendOptions::gemv_pre_stages: the whole ring copied
// before the wait on the previous kernel, each slot refilled right after its use; or one
// stage less, each slot refilled one step before its use) change only when bytes move,
// not what is summed in which order: decoded through step graphs they give the same bits.
// The model is large enough that every GEMV CTA walks several row groups of several steps
// (gate|up: 8,192 rows over K = 2,560; down: K = 8,192). The early/late o_proj split
// (CudaBackendOptions::gemv_early_split) also only moves work between CTAs.
TEST(GpuDecode, DecodeVariantsComputeTheSameBits) {
  HEARTH_REQUIRE_GPU();
  hearth::testing::TempDir dir;
  auto ckpt = sized_model(dir, {3000, 2560, 8192, 16, 4, 64}, 9);
  const ModelConfig& cfg = ckpt->config();
  CudaBackendOptions pre2;
  pre2.memory_budget_bytes = 4ull << 30;
  pre2.gemv_pre_stages = 2;  // the third version's order
  CudaBackendOptions pre3 = pre2;
  pre3.gemv_pre_stages = 3;
  // The o_proj GEMV after a one-CTA-per-SM attention block split into early and late CTAs
  // (hidden 2,560: 320 row groups over the 2-per-SM grid) or not: the timing changes only.
  CudaBackendOptions plain = pre3;
  plain.gemv_early_split = false;
  std::vector<std::unique_ptr<Backend>> gpus;
  std::vector<std::unique_ptr<Qwen3Model>> models;
  for (const CudaBackendOptions& o : {pre2, pre3, plain}) {
    gpus.push_back(make_cuda_backend(o));
    models.push_back(std::make_unique<Qwen3Model>(cfg, gpus.back()->upload_weights(ckpt->weights()),
                                                  *gpus.back()));
  }
  const int prompt_len = 41, steps = 40, block = 16;
  const int kv_blocks = (prompt_len + steps + block - 1) / block;
  for (auto& b : gpus)
    b->init_kv_cache(KvCacheSpec{cfg.num_hidden_layers, kv_blocks, block, cfg.num_key_value_heads,
                                 cfg.head_dim, DType::BF16});
  std::vector<int32_t> prompt;
  for (int i = 0; i < prompt_len; ++i) prompt.push_back((i * 97 + 11) % cfg.vocab_size);
  std::vector<std::vector<GreedyPick>> picks(models.size());
  auto same = [&](int step) {
    for (size_t v = 1; v < models.size(); ++v) {
      const GreedyPick &a = picks[0].at(0), &b = picks[v].at(0);
      ASSERT_EQ(a.id, b.id) << "variant " << v << " step " << step;
      ASSERT_EQ(a.logprob, b.logprob) << "variant " << v << " step " << step;
      ASSERT_EQ(a.top.size(), b.top.size());
      for (size_t j = 0; j < a.top.size(); ++j) {
        EXPECT_EQ(a.top[j].first, b.top[j].first) << "variant " << v << " step " << step;
        EXPECT_EQ(a.top[j].second, b.top[j].second) << "variant " << v << " step " << step;
      }
    }
  };
  for (size_t v = 0; v < models.size(); ++v)
    models[v]->forward_greedy(single_sequence_step(prompt, 0, kv_blocks, true), 5, picks[v]);
  same(-1);
  int token = picks[0].at(0).id;
  for (int i = 0; i < steps; ++i) {
    const int32_t t = token;
    const StepBatch step = single_sequence_step(std::span(&t, 1), prompt_len + i, kv_blocks, true);
    for (size_t v = 0; v < models.size(); ++v) {
      models[v]->forward_greedy(step, 5, picks[v]);
      ASSERT_TRUE(i == 0 || models[v]->last_step_used_graph());
    }
    same(i);
    token = picks[0].at(0).id;
  }
}

// The decode stack (every layer as one kernel) against the op-by-op fused forms, teacher-
// forced over the same tokens with step graphs, at a context long enough that attention
// items outnumber the CTAs (splits of 128 positions, several items per CTA) and at a short
// one (splits of 16). The GEMVs round as the op-by-op path does; the attention differs
// (fp32 P here, bf16 P in the tensor-core kernel: up to 2^-9 relative per weight, then the
// attention output rounds to bf16 on both paths), so the picks agree to bf16 rounding: the
// op-by-op pick's logprob within 2e-2 (the bf16-vs-fp32 budget of the CPU comparison
// below is 5e-2 for ~10 roundings; here one op differs) and its id among the stack's top 5.
TEST(GpuDecode, DecodeStackTracksLayerByLayer) {
  HEARTH_REQUIRE_GPU();
  struct Case {
    hearth::testing::TinySizes sizes;
    int prompt_len;
  };
  const Case cases[] = {{{2000, 1024, 2816, 16, 4, 128, 16384}, 9000},
                        {{2000, 512, 1536, 8, 8, 128, 1024}, 45}};
  for (const Case& c : cases) {
    SCOPED_TRACE("prompt " + std::to_string(c.prompt_len));
    hearth::testing::TempDir dir;
    auto ckpt = sized_model(dir, c.sizes, 21);
    const ModelConfig& cfg = ckpt->config();
    CudaBackendOptions on;
    on.memory_budget_bytes = 4ull << 30;
    on.decode_stack = true;
    CudaBackendOptions off = on;
    off.decode_stack = false;
    auto gpu_on = make_cuda_backend(on), gpu_off = make_cuda_backend(off);
    Qwen3Model stack(cfg, gpu_on->upload_weights(ckpt->weights()), *gpu_on);
    Qwen3Model plain(cfg, gpu_off->upload_weights(ckpt->weights()), *gpu_off);
    const int steps = 24, block = 16;
    const int kv_blocks = (c.prompt_len + steps + block - 1) / block;
    for (Backend* b : {gpu_on.get(), gpu_off.get()})
      b->init_kv_cache(KvCacheSpec{cfg.num_hidden_layers, kv_blocks, block, cfg.num_key_value_heads,
                                   cfg.head_dim, DType::BF16});
    std::vector<int32_t> prompt;
    for (int i = 0; i < c.prompt_len; ++i) prompt.push_back((i * 131 + 7) % cfg.vocab_size);
    std::vector<GreedyPick> pa, pb;
    stack.forward_greedy(single_sequence_step(prompt, 0, kv_blocks, true), 5, pa);
    plain.forward_greedy(single_sequence_step(prompt, 0, kv_blocks, true), 5, pb);
    ASSERT_EQ(cuda_decode_stack_calls(*gpu_on), 0);  // a prefill step is not one token
    int token = pb.at(0).id;
    for (int i = 0; i < steps; ++i) {
      const int32_t t = token;
      const StepBatch step = single_sequence_step(std::span(&t, 1), c.prompt_len + i, kv_blocks, true);
      stack.forward_greedy(step, 5, pa);
      plain.forward_greedy(step, 5, pb);
      ASSERT_TRUE(i == 0 || stack.last_step_used_graph());
      const GreedyPick &a = pa.at(0), &b = pb.at(0);
      ASSERT_TRUE(std::isfinite(a.logprob)) << "step " << i;
      bool found = false;
      for (const auto& [id, lp] : a.top) {
        if (id != b.id) continue;
        found = true;
        EXPECT_NEAR(lp, b.logprob, 2e-2) << "step " << i;
      }
      EXPECT_TRUE(found) << "step " << i << ": op-by-op pick " << b.id << " not in the stack's top 5";
      EXPECT_GE(a.logprob, b.logprob - 2e-2) << "step " << i;
      token = b.id;
    }
    // The first decode step runs eagerly, then is recorded (two calls); the other steps
    // replay the recording.
    EXPECT_EQ(cuda_decode_stack_calls(*gpu_on), 2);
    EXPECT_EQ(cuda_decode_stack_calls(*gpu_off), 0);
  }
}

// The decode stack against the CPU reference: the first decode step after a prompt.
TEST(GpuDecode, DecodeStackTracksCpu) {
  HEARTH_REQUIRE_GPU();
  hearth::testing::TempDir dir;
  auto ckpt = sized_model(dir, {1000, 256, 768, 4, 2, 128}, 23);
  CudaBackendOptions on;
  on.decode_stack = true;
  auto gpu = make_cuda_backend(on);
  const auto [a, b] = generate_greedy_gpu_cpu(*ckpt, *gpu, 300, 8);
  EXPECT_GT(cuda_decode_stack_calls(*gpu), 0);
  ASSERT_EQ(a.ids.size(), b.ids.size());
  ASSERT_GE(a.logprobs.size(), 2u);
  ASSERT_EQ(a.ids[0], b.ids[0]);  // the prefill step's pick: the same input to the decode step
  // ids[1] is the first pick of a decode step (ids[0] comes from the prefill step).
  EXPECT_EQ(a.ids[1], b.ids[1]);
  // As GeneratorGreedyOnDeviceTracksCpu: bf16 activations against fp32.
  EXPECT_NEAR(a.logprobs[1].logprob, b.logprobs[1].logprob, 5e-2);
}

// The generator's device-greedy path (step graphs on the CUDA backend) against the CPU
// reference's generator. bf16 activations against fp32 can flip near-ties later in the
// continuation, so the first pick and its logprobs are what is compared.
TEST(GpuDecode, GeneratorGreedyOnDeviceTracksCpu) {
  HEARTH_REQUIRE_GPU();
  hearth::testing::TempDir dir;
  auto ckpt = small_model(dir);
  auto gpu = make_cuda_backend({});
  const auto [a, b] = generate_greedy_gpu_cpu(*ckpt, *gpu, 20, 24);
  ASSERT_EQ(a.ids.size(), b.ids.size());
  ASSERT_EQ(a.logprobs.size(), a.ids.size());
  EXPECT_EQ(a.ids[0], b.ids[0]);
  // bf16 activations against fp32: each of the ~10 bf16 roundings on the way to the logits
  // adds up to 2^-9 relative error; logits of this model are O(1), so the logprob (a
  // difference of two such numbers) agrees to a few 1e-2, and 5e-2 leaves a margin.
  EXPECT_NEAR(a.logprobs[0].logprob, b.logprobs[0].logprob, 5e-2);
  EXPECT_EQ(a.logprobs[0].top.size(), 3u);
}

}  // namespace
}  // namespace hearth::gpu_test
