// Prefill timing on the GPU machine (not a test):
//   1. prefill attention alone (32/8 heads, head_dim 128, one sequence) at 1k/2k/8k/32k,
//      for each prefill kernel that runs here (fa2, sm90), in causal TFLOP/s;
//   2. a whole prefill of a Qwen3 model (default random:qwen3-8b, bf16) at the given
//      lengths: the end-to-end time (median of 3, no synchronization between ops) per
//      kernel, and a breakdown by op from one run with a synchronization around each op
//      (host clock; each op pays one synchronize, ~10-20 us, so the breakdown sums to a
//      little more than the end-to-end time).
//   With --batch N, both parts run N sequences of each length as one varlen prefill step
//   (the serving load's chunked prefill: 32 x 512 = one 16,384-token step), the attention
//   part at the --lengths given instead of its fixed list; the model part then asks logits
//   for every sequence's last row, as a serving step does.
//   Memory-bound ops report GB/s of the bytes they must move (reads + writes, bf16).
//
//   bench_prefill [--model M] [--lengths 2048,8192] [--batch N] [--kernels fa2,sm90]
//                 [--skip-model] [--skip-attention]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "hearth/backend/cuda/cuda_backend.h"
#include "hearth/core/dtype.h"
#include "hearth/core/rng.h"
#include "hearth/engine/generator.h"
#include "hearth/engine/qwen3.h"
#include "hearth/model/checkpoint.h"

namespace hearth {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Forwards every op to `inner`; with profile() on, synchronizes around each op and adds
// its time to a per-op (per-weight-kind for linears) account.
class TimingBackend final : public Backend {
 public:
  explicit TimingBackend(Backend& inner) : inner_(inner) {}

  struct Account {
    int calls = 0;
    double seconds = 0.0;
    double flop = 0.0;
    double bytes = 0.0;
  };
  void profile(bool on) { profiling_ = on; }
  void reset() { accounts_.clear(); }
  const std::map<std::string, Account>& accounts() const { return accounts_; }

  std::string name() const override { return inner_.name(); }
  DType activation_dtype() const override { return inner_.activation_dtype(); }
  TensorView alloc(DType dtype, const Shape& shape) override { return inner_.alloc(dtype, shape); }
  void free(TensorView& t) override { inner_.free(t); }
  ModelWeights upload_weights(const ModelWeights& host) override { return inner_.upload_weights(host); }
  void init_kv_cache(const KvCacheSpec& spec) override { inner_.init_kv_cache(spec); }
  const KvCacheSpec& kv_cache_spec() const override { return inner_.kv_cache_spec(); }
  std::unique_ptr<DeviceBatch> upload_batch(const StepBatch& batch) override {
    return inner_.upload_batch(batch);
  }
  void embedding(const Weight& table, const DeviceBatch& batch, TensorView out) override {
    timed("embedding", 0, [&] { inner_.embedding(table, batch, out); });
  }
  void rms_norm(TensorView x, const Weight& w, float eps, TensorView out) override {
    timed("rms_norm", 0, [&] { inner_.rms_norm(x, w, eps, out); }, 2.0 * bf16_bytes(x));
  }
  void add_rms_norm(TensorView residual, TensorView x, const Weight& w, float eps,
                    TensorView out) override {
    timed("add_rms_norm", 0, [&] { inner_.add_rms_norm(residual, x, w, eps, out); },
          4.0 * bf16_bytes(x));
  }
  void linear(TensorView x, const Weight& w, TensorView out) override {
    const double m = static_cast<double>(x.numel() / w.t.shape[1]);
    const double flop = 2.0 * m * static_cast<double>(w.t.shape[0]) * static_cast<double>(w.t.shape[1]);
    timed("linear " + kind_of(w.name), flop, [&] { inner_.linear(x, w, out); });
  }
  void linear_multi(TensorView x, std::span<const Weight* const> ws,
                    std::span<const TensorView> outs) override {
    double flop = 0.0;
    std::string kinds;
    for (const Weight* w : ws) {
      const double m = static_cast<double>(x.numel() / w->t.shape[1]);
      flop += 2.0 * m * static_cast<double>(w->t.shape[0]) * static_cast<double>(w->t.shape[1]);
      if (!kinds.empty()) kinds += '+';
      kinds += kind_of(w->name);
    }
    timed("linear " + kinds, flop, [&] { inner_.linear_multi(x, ws, outs); });
  }
  void qk_norm_rope(TensorView q, TensorView k, const Weight& q_norm, const Weight& k_norm,
                    float eps, const RopeTable& rope, const DeviceBatch& batch) override {
    timed("qk_norm_rope", 0, [&] { inner_.qk_norm_rope(q, k, q_norm, k_norm, eps, rope, batch); },
          2.0 * (bf16_bytes(q) + bf16_bytes(k)));
  }
  void attention(int layer, TensorView q, TensorView k, TensorView v, float scale,
                 const DeviceBatch& batch, TensorView out) override {
    // Causal FLOP of QK^T and PV: 4 * heads * head_dim * sum over sequences of the
    // (query, key) pairs each new token sees.
    const StepBatch& b = batch.host();
    double pairs = 0.0;
    for (int s = 0; s < b.num_seqs(); ++s) {
      const double n = b.query_start[s + 1] - b.query_start[s];
      const double past = b.context_lens[s] - n;
      pairs += n * past + n * (n + 1) / 2;
    }
    const double flop = 4.0 * static_cast<double>(q.numel()) / b.num_tokens() * pairs;
    timed("attention", flop, [&] { inner_.attention(layer, q, k, v, scale, batch, out); });
  }
  void swiglu(TensorView gate, TensorView up, TensorView out) override {
    timed("swiglu", 0, [&] { inner_.swiglu(gate, up, out); }, 3.0 * bf16_bytes(gate));
  }
  void gather_rows(TensorView x, const DeviceBatch& batch, TensorView out) override {
    timed("gather_rows", 0, [&] { inner_.gather_rows(x, batch, out); });
  }
  void to_host_f32(TensorView x, float* dst) override {
    timed("to_host_f32", 0, [&] { inner_.to_host_f32(x, dst); });
  }
  void synchronize() override { inner_.synchronize(); }
  double measure_copy_bandwidth_gbps() override { return inner_.measure_copy_bandwidth_gbps(); }
  size_t peak_memory_bytes() const override { return inner_.peak_memory_bytes(); }

 private:
  static std::string kind_of(const std::string& name) {
    for (const char* k : {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                          "down_proj", "lm_head", "embed"})
      if (name.find(k) != std::string::npos) return k;
    return name;
  }
  static double bf16_bytes(const TensorView& t) { return 2.0 * static_cast<double>(t.numel()); }
  void timed(const std::string& op, double flop, const std::function<void()>& f, double bytes = 0.0) {
    if (!profiling_) {
      f();
      return;
    }
    inner_.synchronize();
    const auto t0 = Clock::now();
    f();
    inner_.synchronize();
    Account& a = accounts_[op];
    a.calls += 1;
    a.seconds += seconds_since(t0);
    a.flop += flop;
    a.bytes += bytes;
  }

  Backend& inner_;
  bool profiling_ = false;
  std::map<std::string, Account> accounts_;
};

// n_seqs sequences of n tokens each, one varlen prefill step over disjoint cache blocks;
// logits for each sequence's last row when want_logits.
StepBatch many_sequences(int n_seqs, int n, int block, bool want_logits) {
  StepBatch b;
  const int blocks = (n + block - 1) / block;
  b.max_blocks_per_seq = blocks;
  b.query_start = {0};
  for (int s = 0; s < n_seqs; ++s) {
    for (int i = 0; i < n; ++i) {
      b.token_ids.push_back(0);
      b.positions.push_back(i);
      b.slot_mapping.push_back(s * blocks * block + i);
    }
    for (int i = 0; i < blocks; ++i) b.block_tables.push_back(s * blocks + i);
    b.query_start.push_back((s + 1) * n);
    b.context_lens.push_back(n);
    if (want_logits) b.logits_rows.push_back((s + 1) * n - 1);
  }
  return b;
}

TensorView random_tensor(Backend& gpu, const Shape& shape, Rng& rng, float scale) {
  TensorView t = gpu.alloc(DType::BF16, shape);
  std::vector<uint16_t> v(static_cast<size_t>(t.numel()));
  for (auto& x : v) x = f32_to_bf16((rng.uniform() * 2.0f - 1.0f) * scale);
  cuda_copy_from_host(gpu, t, v.data());
  return t;
}

std::vector<std::string> g_kernels = {"fa2", "sm90"};  // --kernels
int g_batch = 1;                                        // --batch

void bench_attention(Backend& gpu, const std::vector<int>& lengths) {
  constexpr int kHeads = 32, kKvHeads = 8, kHeadDim = 128, kBlock = 16;
  const int nb = g_batch;
  std::printf("\nprefill attention alone (32/8 heads, d128, %d sequence(s) of ctx tokens; includes "
              "the K/V cache write)\n", nb);
  std::printf("%-8s %8s %8s %12s %10s\n", "kernel", "seqs", "ctx", "us", "TFLOP/s");
  Rng rng(7);
  const float scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
  const std::vector<int> ctxs = nb > 1 ? lengths : std::vector<int>{1024, 2048, 8192, 32768};
  for (int ctx : ctxs) {
    const int tokens = nb * ctx;
    KvCacheSpec spec{1, nb * ((ctx + kBlock - 1) / kBlock), kBlock, kKvHeads, kHeadDim, DType::BF16};
    gpu.init_kv_cache(spec);
    auto batch = gpu.upload_batch(many_sequences(nb, ctx, kBlock, false));
    TensorView q = random_tensor(gpu, Shape{tokens, kHeads, kHeadDim}, rng, 4.0f);
    TensorView k = random_tensor(gpu, Shape{tokens, kKvHeads, kHeadDim}, rng, 1.0f);
    TensorView v = random_tensor(gpu, Shape{tokens, kKvHeads, kHeadDim}, rng, 1.0f);
    TensorView out = gpu.alloc(DType::BF16, Shape{tokens, kHeads * kHeadDim});
    const double flop = 4.0 * kHeads * kHeadDim * nb * (double(ctx) * (ctx + 1) / 2);
    for (const std::string& kern_s : g_kernels) {
      const char* kern = kern_s.c_str();
      setenv("HEARTH_PREFILL_KERNEL", kern, 1);
      const int reps = tokens >= 32768 ? 3 : tokens >= 8192 ? 10 : 50;
      gpu.attention(0, q, k, v, scale, *batch, out);  // warm-up
      gpu.synchronize();
      std::vector<double> runs;
      for (int r = 0; r < 5; ++r) {
        const auto t0 = Clock::now();
        for (int i = 0; i < reps; ++i) gpu.attention(0, q, k, v, scale, *batch, out);
        gpu.synchronize();
        runs.push_back(seconds_since(t0) / reps);
      }
      std::sort(runs.begin(), runs.end());
      std::printf("%-8s %8d %8d %12.1f %10.1f\n", kern, nb, ctx, runs[2] * 1e6, flop / runs[2] / 1e12);
    }
    for (TensorView* t : {&q, &k, &v, &out}) gpu.free(*t);
  }
  unsetenv("HEARTH_PREFILL_KERNEL");
}

void bench_model(Backend& gpu, const std::string& model_name, const std::vector<int>& lengths) {
  std::printf("\nwhole prefill: %s\n", model_name.c_str());
  const auto t_load = Clock::now();
  auto checkpoint = Checkpoint::open(model_name);
  const ModelConfig& cfg = checkpoint->config();
  TimingBackend timing(gpu);
  Qwen3Model model(cfg, gpu.upload_weights(checkpoint->weights()), timing);
  std::printf("load + upload: %.1f s\n", seconds_since(t_load));
  const int nb = g_batch;
  std::vector<float> logits(static_cast<size_t>(cfg.vocab_size) * static_cast<size_t>(nb));
  Rng rng(3);
  for (int n : lengths) {
    const int block = 16;
    const int kv_blocks = (n + block - 1) / block;
    gpu.init_kv_cache(KvCacheSpec{cfg.num_hidden_layers, nb * kv_blocks, block,
                                  cfg.num_key_value_heads, cfg.head_dim, gpu.activation_dtype()});
    std::vector<int32_t> prompt(static_cast<size_t>(n) * static_cast<size_t>(nb));
    for (int32_t& id : prompt) id = static_cast<int32_t>(rng.next_u64() % static_cast<uint64_t>(cfg.vocab_size));
    auto run = [&] {
      StepBatch step;
      if (nb > 1) {
        step = many_sequences(nb, n, block, true);
        step.token_ids = prompt;
      } else {
        step = single_sequence_step(prompt, 0, kv_blocks, true);
      }
      auto dev = timing.upload_batch(step);
      model.forward(*dev, logits.data());
    };
    for (const std::string& kern_s : g_kernels) {
      const char* kern = kern_s.c_str();
      setenv("HEARTH_PREFILL_KERNEL", kern, 1);
      run();  // warm-up (buffers, cuBLASLt plans)
      std::vector<double> ms;
      for (int r = 0; r < 3; ++r) {
        const auto t0 = Clock::now();
        run();
        ms.push_back(seconds_since(t0) * 1e3);
      }
      std::sort(ms.begin(), ms.end());
      std::printf("prefill %d x %5d tokens [%s]: %.2f ms (median of 3; min %.2f, max %.2f)\n", nb, n,
                  kern, ms[1], ms[0], ms[2]);
    }
    // Breakdown with each kernel.
    for (const std::string& kern : g_kernels) {
      setenv("HEARTH_PREFILL_KERNEL", kern.c_str(), 1);
      timing.reset();
      timing.profile(true);
      const auto t0 = Clock::now();
      run();
      const double total = seconds_since(t0);
      timing.profile(false);
      std::printf("breakdown at %d x %d tokens [%s] (synchronized per op; total %.2f ms):\n", nb, n,
                  kern.c_str(), total * 1e3);
      std::printf("  %-28s %6s %10s %7s %10s %8s\n", "op", "calls", "ms", "%", "TFLOP/s", "GB/s");
      std::vector<std::pair<std::string, TimingBackend::Account>> rows(timing.accounts().begin(),
                                                                       timing.accounts().end());
      std::sort(rows.begin(), rows.end(),
                [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
      double sum = 0.0;
      for (const auto& [op, a] : rows) {
        sum += a.seconds;
        char tflops[32] = "-", gbps[32] = "-";
        if (a.flop > 0) std::snprintf(tflops, sizeof tflops, "%.1f", a.flop / a.seconds / 1e12);
        if (a.bytes > 0) std::snprintf(gbps, sizeof gbps, "%.0f", a.bytes / a.seconds / 1e9);
        std::printf("  %-28s %6d %10.3f %6.1f%% %10s %8s\n", op.c_str(), a.calls, a.seconds * 1e3,
                    100.0 * a.seconds / total, tflops, gbps);
      }
      std::printf("  %-28s %6s %10.3f %6.1f%%\n", "sum of ops", "", sum * 1e3, 100.0 * sum / total);
    }
    unsetenv("HEARTH_PREFILL_KERNEL");
  }
}

}  // namespace
}  // namespace hearth

int main(int argc, char** argv) {
  using namespace hearth;
  std::string model = "random:qwen3-8b";
  std::vector<int> lengths = {2048, 8192};
  bool skip_model = false, skip_attention = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--model") == 0 && i + 1 < argc) {
      model = argv[++i];
    } else if (std::strcmp(argv[i], "--lengths") == 0 && i + 1 < argc) {
      lengths.clear();
      for (const char* s = argv[++i]; *s != '\0';) {
        char* end = nullptr;
        const long v = std::strtol(s, &end, 10);
        if (end == s || v < 1 || v > (1 << 20)) {
          std::fprintf(stderr, "bench_prefill: bad --lengths\n");
          return 2;
        }
        lengths.push_back(static_cast<int>(v));
        s = *end == ',' ? end + 1 : end;
      }
    } else if (std::strcmp(argv[i], "--kernels") == 0 && i + 1 < argc) {
      g_kernels.clear();
      std::string list = argv[++i];
      for (size_t pos = 0; pos <= list.size();) {
        const size_t comma = std::min(list.find(',', pos), list.size());
        if (comma > pos) g_kernels.push_back(list.substr(pos, comma - pos));
        pos = comma + 1;
      }
    } else if (std::strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
      g_batch = std::atoi(argv[++i]);
      if (g_batch < 1 || g_batch > 4096) {
        std::fprintf(stderr, "bench_prefill: bad --batch\n");
        return 2;
      }
    } else if (std::strcmp(argv[i], "--skip-model") == 0) {
      skip_model = true;
    } else if (std::strcmp(argv[i], "--skip-attention") == 0) {
      skip_attention = true;
    } else {
      std::fprintf(stderr, "usage: bench_prefill [--model M] [--lengths 2048,8192] [--batch N] "
                           "[--kernels fa2,sm90] [--skip-model] [--skip-attention]\n");
      return 2;
    }
  }
  if (!cuda_device_available()) {
    std::fprintf(stderr, "bench_prefill: no CUDA device\n");
    return 1;
  }
  try {
    const CudaDeviceInfo info = cuda_device_info(0);
    std::printf("device: %s (sm_%d%d, %d SMs)\n", info.name.c_str(), info.compute_major,
                info.compute_minor, info.multiprocessors);
    auto gpu = make_cuda_backend({});
    if (!skip_attention) bench_attention(*gpu, lengths);
    if (!skip_model) bench_model(*gpu, model, lengths);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_prefill: %s\n", e.what());
    return 1;
  }
  return 0;
}
