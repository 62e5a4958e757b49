// random:<preset> / random:<config.json>: a model of the exact shape with seeded random
// weights and no files, for benchmarks and tests.
//
// Values come from a counter-based generator: element i of a tensor is a pure function of
// (seed, tensor name, i), so the bytes are identical for any thread count and any chunking.
// Scales follow HF's initializer (std 0.02 for linears and embeddings) with norm weights
// near 1, which keeps a forward pass finite: every linear sees an RMS-normalised input, so
// its outputs have std ~0.02 * sqrt(fan_in) ~ 1-2 and the residual stream grows only as
// sqrt(layers).
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "hearth/core/error.h"
#include "hearth/core/log.h"
#include "hearth/core/thread_pool.h"
#include "hearth/model/checkpoint.h"
#include "hearth/model/checkpoint_loader.h"
#include "hearth/model/weight_layout.h"

namespace hearth {

namespace {

constexpr double kLinearStd = 0.02;
constexpr double kEmbeddingStd = 0.02;
constexpr double kNormNoiseStd = 0.02;

uint64_t mix64(uint64_t z) {  // splitmix64's finaliser
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// Stores element i of a fill: the float becomes the storage type.
template <DType T>
inline void store(uint8_t* out, size_t i, float x) {
  if constexpr (T == DType::BF16) {
    reinterpret_cast<uint16_t*>(out)[i] = f32_to_bf16(x);
  } else if constexpr (T == DType::F16) {
    reinterpret_cast<uint16_t*>(out)[i] = f32_to_f16(x);
  } else {
    reinterpret_cast<float*>(out)[i] = x;
  }
}

// Fills elements [0, n) of `out` with center + uniform(-a, a), a = std * sqrt(3).
// One 64-bit hash yields four 16-bit uniforms: plenty of resolution for bf16's 8-bit
// mantissa, and cheap enough that page faults, not arithmetic, bound the fill.
template <DType T>
void fill_typed(ThreadPool& pool, uint8_t* out, int64_t n, uint64_t key, float center, double std) {
  const float a = static_cast<float>(std * std::sqrt(3.0));
  // u16 -> center + (2 * (u16 + 0.5) / 65536 - 1) * a, folded into one multiply-add.
  const float scale = 2.0f * a / 65536.0f;
  const float offset = center + (scale * 0.5f - a);
  const int64_t blocks = (n + 3) / 4;
  pool.parallel_for(blocks, 1 << 14, [&](int64_t b0, int64_t b1) {
    const int64_t full_end = std::min(b1, n / 4);
    int64_t b = b0;
    for (; b < full_end; ++b) {
      const uint64_t h = mix64(key + static_cast<uint64_t>(b) * 0x9e3779b97f4a7c15ull);
      const size_t i = static_cast<size_t>(b) * 4;
      store<T>(out, i + 0, static_cast<float>(h & 0xffffu) * scale + offset);
      store<T>(out, i + 1, static_cast<float>((h >> 16) & 0xffffu) * scale + offset);
      store<T>(out, i + 2, static_cast<float>((h >> 32) & 0xffffu) * scale + offset);
      store<T>(out, i + 3, static_cast<float>(h >> 48) * scale + offset);
    }
    for (; b < b1; ++b) {  // the last, partial block
      const uint64_t h = mix64(key + static_cast<uint64_t>(b) * 0x9e3779b97f4a7c15ull);
      for (int64_t k = 0; b * 4 + k < n; ++k)
        store<T>(out, static_cast<size_t>(b * 4 + k), static_cast<float>((h >> (16 * k)) & 0xffffu) * scale + offset);
    }
  });
}

void fill(ThreadPool& pool, uint8_t* out, DType t, int64_t n, uint64_t key, float center, double std) {
  switch (t) {
    case DType::BF16: fill_typed<DType::BF16>(pool, out, n, key, center, std); break;
    case DType::F16: fill_typed<DType::F16>(pool, out, n, key, center, std); break;
    default: fill_typed<DType::F32>(pool, out, n, key, center, std); break;
  }
}

// An anonymous mapping: page-aligned, and pages are zeroed by the kernel on first touch,
// which the parallel fill spreads over all threads. No MADV_HUGEPAGE: measured on a busy
// machine, the direct compaction it triggers cost 4x more system time than the 4 KB
// faults it saves (qwen3-0.6b: 2.1 s vs 0.5 s).
uint8_t* map_buffer(size_t bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
}

double physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<double>(pages) * static_cast<double>(page) : 0.0;
}

}  // namespace

std::unique_ptr<Checkpoint> CheckpointLoader::open_random(const std::string& spec, const LoadOptions& opts) {
  const std::string source = "random:" + spec;
  if (spec.empty()) {
    std::string known;
    for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
    fail("random: needs a preset or a config.json path, e.g. random:qwen3-0.6b (presets: {})", known);
  }
  if (opts.random_dtype != DType::BF16 && opts.random_dtype != DType::F16 && opts.random_dtype != DType::F32)
    fail("{}: random weights must be F32, F16 or BF16, not {}", source, dtype_name(opts.random_dtype));

  std::unique_ptr<Checkpoint> ck(new Checkpoint());
  std::error_code ec;
  const bool is_file = std::filesystem::is_regular_file(spec, ec);
  const bool looks_like_path = spec.find('/') != std::string::npos ||
                               (spec.size() > 5 && spec.compare(spec.size() - 5, 5, ".json") == 0);
  if (is_file || looks_like_path) {
    if (!is_file) fail("{}: {}: no such config file", source, spec);
    ck->config_ = load_model_config(spec);
  } else {
    ck->config_ = preset_config(spec);
    validate_model_config(ck->config_, source);
  }
  const ModelConfig& cfg = ck->config_;
  merge_eos_ids(*ck, source);

  const std::vector<TensorSpec> specs = expected_tensors(cfg);
  const std::vector<Weight*> slots = weight_slots(cfg, ck->weights_);
  const size_t esize = dtype_size(opts.random_dtype);
  double total = 0;
  for (const TensorSpec& s : specs) total += static_cast<double>(s.shape.numel()) * static_cast<double>(esize);
  const double ram = physical_memory_bytes();
  if (ram > 0 && total > 0.9 * ram)
    fail("{}: {} weights need {:.1f} GB of host memory but this machine has {:.1f} GB", source,
         dtype_name(opts.random_dtype), total / 1e9, ram / 1e9);

  const auto t0 = std::chrono::steady_clock::now();
  ThreadPool pool(opts.threads);
  const uint64_t seed_key = mix64(opts.random_seed ^ 0x6865617274682d72ull);  // "hearth-r"
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorSpec& s = specs[i];
    const int64_t n = s.shape.numel();
    const size_t bytes = static_cast<size_t>(n) * esize;
    const size_t mapped = std::max<size_t>(bytes, 1);
    uint8_t* p = map_buffer(mapped);
    if (p == nullptr) fail("{}: out of memory allocating {} ({} bytes)", source, s.name, bytes);
    ck->random_buffers_.emplace_back(p, Checkpoint::UnmapDeleter{mapped});
    const uint64_t key = mix64(seed_key ^ fnv1a(s.name));
    switch (s.kind) {
      case WeightKind::Norm: fill(pool, p, opts.random_dtype, n, key, 1.0f, kNormNoiseStd); break;
      case WeightKind::Embedding: fill(pool, p, opts.random_dtype, n, key, 0.0f, kEmbeddingStd); break;
      case WeightKind::Linear: fill(pool, p, opts.random_dtype, n, key, 0.0f, kLinearStd); break;
    }
    Weight& w = *slots[i];
    w.t = TensorView{p, opts.random_dtype, s.shape};
    w.format = WeightFormat::Dense;
    w.name = s.name;
  }
  if (cfg.tie_word_embeddings) tie_lm_head(ck->weights_);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log::info("{}: generated {:.2f}B random {} parameters ({:.2f} GB) in {:.2f} s on {} threads", source,
            static_cast<double>(cfg.num_parameters()) / 1e9, dtype_name(opts.random_dtype), total / 1e9, secs,
            pool.size());
  return ck;
}

}  // namespace hearth
