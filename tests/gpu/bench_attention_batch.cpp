// Decode attention timings over batch x context at Qwen3-8B shapes (32/8 heads, d128,
// block 16): the fused attention_block the model calls on decode steps (q/k norm + RoPE,
// cache write, attention, split combine), bf16 and fp8 caches, the tensor-core kernel and
// (bf16) the SIMT one. Prints one JSON object: the copy bandwidth measured by the backend
// and per case the time per call, the K/V bytes it reads and their rate as a fraction of
// the copy bandwidth. Caches span several layers (cycled) so a case reads >= 400 MB per
// sweep, past the 50 MB L2. Not a test; run on the GPU machine.
//
//   bench_attention_batch [--batches 1,16,64,256] [--contexts 256,1024,4096,8192]
//                         [--variants -1,0,1] [--kernels mma,mma-token-major,simt]
//                         [--layouts scattered,contiguous,kvh1]
// device_copy_gbps is the last backend's measurement; each case's pct_copy uses its own
// backend's (they differed by 9 % between two backends in one process: compare us).
// Variants: the tensor-core kernel's shared-memory rings (HEARTH_CUDA_DECODE_VARIANT, set
// before each backend is made so that its split plan uses the variant's CTAs per SM);
// -1 (the default) leaves the choice to the kernel's launcher as in the engine and runs as
// kernel "mma-auto"; 0 runs as "mma", 1 as "mma-v1"; the token-major and SIMT A/B run only
// with variant 0.
// Kernels: mma (the default tensor-core kernel), mma-token-major (tokens fastest in the
// grid), simt (bf16 only). Layouts (probes of the
// access pattern, same K/V bytes per call): scattered (the default: blocks spread over the
// cache by a coprime stride), contiguous (block table i -> i: each sequence's blocks in
// address order), kvh1 (1 kv head and 4 query heads per token, batch x 8 sequences: the
// same CTAs and bytes as 32/8 heads, but a CTA reads whole 256-byte / 128-byte cache slots,
// i.e. its block is one contiguous 4 KB / 2 KB run instead of 16 strided pieces).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "hearth/backend/cuda/cuda_backend.h"
#include "hearth/core/dtype.h"

namespace {

using namespace hearth;

std::vector<int> parse_list(const char* s) {
  std::vector<int> out;
  while (*s != '\0') {
    out.push_back(std::atoi(s));
    const char* comma = std::strchr(s, ',');
    if (comma == nullptr) break;
    s = comma + 1;
  }
  return out;
}

std::vector<std::string> parse_names(const char* s) {
  std::vector<std::string> out;
  while (*s != '\0') {
    const char* comma = std::strchr(s, ',');
    out.emplace_back(s, comma == nullptr ? std::strlen(s) : static_cast<size_t>(comma - s));
    if (comma == nullptr) break;
    s = comma + 1;
  }
  return out;
}

struct Result {
  int batch, ctx;
  std::string cache, kernel;
  std::string layout;
  int splits_hint;
  double us, gbytes, gbps;
  double copy_gbps;  // measured by the backend the case ran on (one per variant)
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> batches = {1, 16, 64, 256}, contexts = {256, 1024, 4096, 8192}, variants = {-1};
  std::vector<std::string> kernels = {"mma", "mma-token-major", "simt"}, layouts = {"scattered"};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--batches") == 0) batches = parse_list(argv[i + 1]);
    if (std::strcmp(argv[i], "--contexts") == 0) contexts = parse_list(argv[i + 1]);
    if (std::strcmp(argv[i], "--variants") == 0) variants = parse_list(argv[i + 1]);
    if (std::strcmp(argv[i], "--kernels") == 0) kernels = parse_names(argv[i + 1]);
    if (std::strcmp(argv[i], "--layouts") == 0) layouts = parse_names(argv[i + 1]);
  }
  try {
    std::vector<Result> results;
    double copy_gbps = 0.0;
    for (const int variant : variants) {
      const std::string vs = variant < 0 ? "auto" : std::to_string(variant);
      if (variant < 0) {
        unsetenv("HEARTH_CUDA_DECODE_VARIANT");
      } else {
        setenv("HEARTH_CUDA_DECODE_VARIANT", vs.c_str(), 1);
      }
      CudaBackendOptions opts;
      auto gpu = make_cuda_backend(opts);
      copy_gbps = gpu->measure_copy_bandwidth_gbps();
      const int d = 128, bs = 16;
      const float scale = 1.0f / std::sqrt(static_cast<float>(d));
      RopeTable rope;
      for (int i = 0; i < d / 2; ++i) rope.inv_freq.push_back(static_cast<float>(std::pow(1e6, -2.0 * i / d)));
      std::vector<uint16_t> ones(d, f32_to_bf16(1.0f));
      Weight qn, kn;
      for (Weight* w : {&qn, &kn}) {
        w->name = "norm";
        w->t = gpu->alloc(DType::BF16, Shape{d});
        cuda_copy_from_host(*gpu, w->t, ones.data());
      }
      for (const bool fp8 : {false, true}) {
        for (const int batch : batches) {
          for (const int ctx : contexts) {
            for (const std::string& layout : layouts) {
              const bool kvh1 = layout == "kvh1", contiguous = layout == "contiguous";
              const int heads = kvh1 ? 4 : 32, kv_heads = kvh1 ? 1 : 8;
              const int seqs = kvh1 ? batch * 8 : batch;
              const int nb = (ctx + bs - 1) / bs;
              const double eb = fp8 ? 1.0 : 2.0;
              const double layer_bytes = 2.0 * seqs * nb * bs * kv_heads * d * eb;
              const int layers = std::clamp(static_cast<int>(std::ceil(400e6 / layer_bytes)), 1, 16);
              KvCacheSpec spec{layers, seqs * nb, bs, kv_heads, d, DType::BF16};
              spec.cache_dtype = fp8 ? KvCacheDtype::Fp8E4M3 : KvCacheDtype::Auto;
              gpu->init_kv_cache(spec);
              StepBatch b;
              b.max_blocks_per_seq = nb;
              b.query_start.push_back(0);
              const int64_t total = static_cast<int64_t>(seqs) * nb;
              // Blocks scattered over the cache (a stride coprime with the block count), or
              // in address order (contiguous).
              int64_t stride = contiguous ? 1 : 7919;
              while (std::gcd(stride, total) != 1) ++stride;
              for (int s = 0; s < seqs; ++s) {
                for (int i = 0; i < nb; ++i)
                  b.block_tables.push_back(static_cast<int32_t>((static_cast<int64_t>(s) * nb + i) * stride % total));
                const int pos = ctx - 1;
                b.token_ids.push_back(0);
                b.positions.push_back(pos);
                b.slot_mapping.push_back(b.block_tables[static_cast<size_t>(s) * nb + pos / bs] * bs + pos % bs);
                b.query_start.push_back(s + 1);
                b.context_lens.push_back(ctx);
              }
              auto db = gpu->upload_batch(b);
              TensorView q = gpu->alloc(DType::BF16, Shape{seqs, heads, d});
              TensorView k = gpu->alloc(DType::BF16, Shape{seqs, kv_heads, d});
              TensorView v = gpu->alloc(DType::BF16, Shape{seqs, kv_heads, d});
              TensorView out = gpu->alloc(DType::BF16, Shape{seqs, heads * d});
              const double call_bytes = static_cast<double>(seqs) * ctx * kv_heads * d * 2 * eb;
              for (const std::string& kernel : kernels) {
                const bool mma = kernel != "simt";
                if (fp8 && !mma) continue;  // SIMT: bf16 caches only
                if (variant != 0 && (kernel == "mma-token-major" || !mma)) continue;
                const std::string name =
                    variant == 0 ? kernel : kernel + (variant < 0 ? "-" : "-v") + vs;
                setenv("HEARTH_CUDA_DECODE_MMA", mma ? "1" : "0", 1);
                setenv("HEARTH_CUDA_DECODE_KVH_FASTEST", kernel == "mma-token-major" ? "0" : "1", 1);
                auto call = [&](int l) {
                  gpu->attention_block(l % layers, q, k, v, qn, kn, 1e-6f, rope, scale, *db, out);
                };
                for (int l = 0; l < layers; ++l) call(l);  // warm-up (sizes scratch)
                gpu->synchronize();
                const int iters = std::clamp(static_cast<int>(3e9 / call_bytes), 20, 400);
                const auto t0 = std::chrono::steady_clock::now();
                for (int i = 0; i < iters; ++i) call(i);
                gpu->synchronize();
                const auto t1 = std::chrono::steady_clock::now();
                const double us = std::chrono::duration<double, std::micro>(t1 - t0).count() / iters;
                results.push_back({batch, ctx, fp8 ? "fp8" : "bf16", name, layout, layers, us,
                                   call_bytes / 1e9, call_bytes / us / 1e3, copy_gbps});
                std::fprintf(stderr, "%-4s %-15s %-10s batch %3d ctx %5d: %9.1f us %8.1f GB/s %5.1f %%\n",
                             fp8 ? "fp8" : "bf16", name.c_str(), layout.c_str(), batch, ctx, us,
                             call_bytes / us / 1e3, 100.0 * call_bytes / us / 1e3 / copy_gbps);
              }
              unsetenv("HEARTH_CUDA_DECODE_MMA");
              unsetenv("HEARTH_CUDA_DECODE_KVH_FASTEST");
              for (TensorView* x : {&q, &k, &v, &out}) gpu->free(*x);
            }
          }
        }
      }
      for (Weight* w : {&qn, &kn}) gpu->free(w->t);
    }
    unsetenv("HEARTH_CUDA_DECODE_VARIANT");
    std::printf("{\"device_copy_gbps\": %.1f, \"shape\": \"32/8 heads d128 block 16, attention_block, "
                "host-timed back-to-back\", \"cases\": [\n", copy_gbps);
    for (size_t i = 0; i < results.size(); ++i) {
      const Result& r = results[i];
      std::printf("  {\"batch\": %d, \"context\": %d, \"cache\": \"%s\", \"kernel\": \"%s\", "
                  "\"layout\": \"%s\", \"layers_cycled\": %d, \"us\": %.2f, \"kv_gbytes\": %.4f, \"gbps\": %.1f, "
                  "\"pct_copy\": %.1f}%s\n",
                  r.batch, r.ctx, r.cache.c_str(), r.kernel.c_str(), r.layout.c_str(), r.splits_hint, r.us, r.gbytes,
                  r.gbps, 100.0 * r.gbps / r.copy_gbps, i + 1 < results.size() ? "," : "");
    }
    std::printf("]}\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_attention_batch: %s\n", e.what());
    return 1;
  }
  return 0;
}
