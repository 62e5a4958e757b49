#include "hearth/backend/cpu/cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "hearth/core/error.h"

namespace hearth {

namespace {

constexpr size_t kAlignment = 64;  // a cache line; also enough for any SIMD load

void check_f32(const TensorView& t, const char* what) {
  HEARTH_CHECK(t.data != nullptr, "{} has no data", what);
  HEARTH_CHECK(t.dtype == DType::F32, "{} must be F32 on the CPU backend, got {}", what,
               dtype_name(t.dtype));
}

void check_dense_weight(const Weight& w, int ndim) {
  HEARTH_CHECK(w.format == WeightFormat::Dense, "weight '{}': the CPU backend reads only dense "
               "weights", w.name);
  HEARTH_CHECK(w.t.data != nullptr, "weight '{}' has no data", w.name);
  HEARTH_CHECK(w.t.dtype == DType::F32 || w.t.dtype == DType::F16 || w.t.dtype == DType::BF16,
               "weight '{}' has dtype {}; expected F32, F16 or BF16", w.name,
               dtype_name(w.t.dtype));
  HEARTH_CHECK(w.t.shape.ndim == ndim, "weight '{}' has shape {}; expected {} dimensions",
               w.name, w.t.shape.str(), ndim);
}

// Number of rows of width `cols` in t (its last dimension must be `cols`).
int64_t rows_of(const TensorView& t, int64_t cols, const char* what) {
  HEARTH_CHECK(cols > 0 && t.shape.ndim >= 1 && t.shape[t.shape.ndim - 1] == cols,
               "{} has shape {}; expected last dimension {}", what, t.shape.str(), cols);
  return t.numel() / cols;
}

class CpuDeviceBatch final : public DeviceBatch {
 public:
  explicit CpuDeviceBatch(StepBatch b) : batch_(std::move(b)) {}
  const StepBatch& host() const override { return batch_; }

 private:
  StepBatch batch_;
};

}  // namespace

CpuBackend::CpuBackend(int threads) : pool_(threads) {}

CpuBackend::~CpuBackend() {
  for (void* p : live_) std::free(p);
}

TensorView CpuBackend::alloc(DType dtype, const Shape& shape) {
  TensorView t;
  t.dtype = dtype;
  t.shape = shape;
  HEARTH_CHECK(shape.numel() >= 0, "negative tensor shape {}", shape.str());
  // aligned_alloc needs a size that is a multiple of the alignment (and not 0).
  const size_t bytes = std::max<size_t>(kAlignment, (t.nbytes() + kAlignment - 1) / kAlignment *
                                                        kAlignment);
  t.data = std::aligned_alloc(kAlignment, bytes);
  if (t.data == nullptr) fail("out of host memory allocating {} bytes for a {} tensor", bytes,
                              shape.str());
  std::memset(t.data, 0, bytes);
  std::lock_guard<std::mutex> lock(alloc_mu_);
  live_.insert(t.data);
  return t;
}

void CpuBackend::free(TensorView& t) {
  if (t.data == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(alloc_mu_);
    HEARTH_CHECK(live_.erase(t.data) == 1, "free of memory that this backend did not allocate "
                 "(or already freed), shape {}", t.shape.str());
  }
  std::free(t.data);
  t.data = nullptr;
}

ModelWeights CpuBackend::upload_weights(const ModelWeights& host) {
  auto check = [](const Weight& w, int ndim) { check_dense_weight(w, ndim); };
  check(host.embed_tokens, 2);
  check(host.norm, 1);
  check(host.lm_head, 2);
  for (const LayerWeights& l : host.layers) {
    for (const Weight* w : {&l.input_layernorm, &l.q_norm, &l.k_norm, &l.post_attention_layernorm})
      check(*w, 1);
    for (const Weight* w : {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.gate_proj, &l.up_proj,
                            &l.down_proj})
      check(*w, 2);
  }
  return host;  // host memory is the CPU backend's memory: same views
}

void CpuBackend::init_kv_cache(const KvCacheSpec& spec) {
  HEARTH_CHECK(spec.dtype == DType::F32, "the CPU KV cache is fp32, got {}",
               dtype_name(spec.dtype));
  HEARTH_CHECK(!spec.fp8() || (std::isfinite(spec.k_scale) && spec.k_scale > 0.0f &&
                               std::isfinite(spec.v_scale) && spec.v_scale > 0.0f),
               "fp8 KV cache scales must be positive and finite, got k {} v {}", spec.k_scale,
               spec.v_scale);
  HEARTH_CHECK(spec.num_layers > 0 && spec.num_blocks > 0 && spec.block_size > 0 &&
                   spec.num_kv_heads > 0 && spec.head_dim > 0,
               "invalid KV cache spec (layers {}, blocks {}, block size {}, kv heads {}, "
               "head dim {})",
               spec.num_layers, spec.num_blocks, spec.block_size, spec.num_kv_heads,
               spec.head_dim);
  k_cache_.clear();
  v_cache_.clear();
  kv_spec_ = spec;
  const size_t floats = static_cast<size_t>(spec.num_blocks) * spec.block_size *
                        spec.num_kv_heads * spec.head_dim;
  for (int l = 0; l < spec.num_layers; ++l) {
    // calloc: large blocks come zeroed from the OS lazily, so an oversized cache costs
    // only the pages that are used.
    for (auto* cache : {&k_cache_, &v_cache_}) {
      auto* p = static_cast<float*>(std::calloc(floats, sizeof(float)));
      if (p == nullptr) {
        k_cache_.clear();
        v_cache_.clear();
        kv_spec_ = {};
        fail("out of host memory allocating the KV cache ({} bytes per layer)",
             spec.bytes_per_layer());
      }
      cache->emplace_back(p);
    }
  }
}

cpu::PagedKvLayer CpuBackend::kv_layer(int layer) const {
  HEARTH_CHECK(layer >= 0 && layer < static_cast<int>(k_cache_.size()),
               "layer {} outside the KV cache ({} layers; init_kv_cache called?)", layer,
               k_cache_.size());
  cpu::PagedKvLayer c;
  c.k = k_cache_[layer].get();
  c.v = v_cache_[layer].get();
  c.num_blocks = kv_spec_.num_blocks;
  c.block_size = kv_spec_.block_size;
  c.kv_heads = kv_spec_.num_kv_heads;
  c.head_dim = kv_spec_.head_dim;
  c.fp8 = kv_spec_.fp8();
  c.k_scale = kv_spec_.k_scale;
  c.v_scale = kv_spec_.v_scale;
  return c;
}

std::unique_ptr<DeviceBatch> CpuBackend::upload_batch(const StepBatch& b) {
  b.validate();
  return std::make_unique<CpuDeviceBatch>(b);
}

// ---- ops ----

void CpuBackend::embedding(const Weight& table, const DeviceBatch& batch, TensorView out) {
  check_dense_weight(table, 2);
  check_f32(out, "embedding output");
  const StepBatch& b = batch.host();
  HEARTH_CHECK(rows_of(out, table.t.shape[1], "embedding output") == b.num_tokens(),
               "embedding output has shape {} for {} tokens", out.shape.str(), b.num_tokens());
  cpu::embedding(pool_, table, b.token_ids, out.as<float>());
}

void CpuBackend::rms_norm(TensorView x, const Weight& w, float eps, TensorView out) {
  check_dense_weight(w, 1);
  check_f32(x, "rms_norm input");
  check_f32(out, "rms_norm output");
  const int64_t cols = w.t.shape[0];
  const int64_t rows = rows_of(x, cols, "rms_norm input");
  HEARTH_CHECK(out.numel() == x.numel(), "rms_norm output {} vs input {}", out.shape.str(),
               x.shape.str());
  cpu::rms_norm(pool_, x.as<float>(), w, eps, rows, cols, out.as<float>());
}

void CpuBackend::add_rms_norm(TensorView residual, TensorView x, const Weight& w, float eps,
                              TensorView out) {
  check_dense_weight(w, 1);
  check_f32(residual, "add_rms_norm residual");
  check_f32(x, "add_rms_norm input");
  check_f32(out, "add_rms_norm output");
  const int64_t cols = w.t.shape[0];
  const int64_t rows = rows_of(residual, cols, "add_rms_norm residual");
  HEARTH_CHECK(x.numel() == residual.numel() && out.numel() == residual.numel(),
               "add_rms_norm shapes: residual {}, x {}, out {}", residual.shape.str(),
               x.shape.str(), out.shape.str());
  HEARTH_CHECK(out.data != residual.data, "add_rms_norm output must not alias the residual");
  cpu::add_rms_norm(pool_, residual.as<float>(), x.as<float>(), w, eps, rows, cols,
                    out.as<float>());
}

void CpuBackend::linear(TensorView x, const Weight& w, TensorView out) {
  check_dense_weight(w, 2);
  check_f32(x, "linear input");
  check_f32(out, "linear output");
  const int64_t n_out = w.t.shape[0], n_in = w.t.shape[1];
  const int64_t tokens = rows_of(x, n_in, "linear input");
  HEARTH_CHECK(out.numel() == tokens * n_out && rows_of(out, n_out, "linear output") == tokens,
               "linear '{}' [{}, {}]: output {} for input {}", w.name, n_out, n_in,
               out.shape.str(), x.shape.str());
  HEARTH_CHECK(out.data != x.data, "linear output must not alias its input");
  cpu::linear(pool_, x.as<float>(), tokens, w, out.as<float>());
}

void CpuBackend::qk_norm_rope(TensorView q, TensorView k, const Weight& q_norm,
                              const Weight& k_norm, float eps, const RopeTable& rope,
                              const DeviceBatch& batch) {
  check_dense_weight(q_norm, 1);
  check_dense_weight(k_norm, 1);
  check_f32(q, "qk_norm_rope q");
  check_f32(k, "qk_norm_rope k");
  const StepBatch& b = batch.host();
  const int64_t head_dim = q_norm.t.shape[0];
  HEARTH_CHECK(k_norm.t.shape[0] == head_dim && head_dim % 2 == 0,
               "q_norm '{}' / k_norm '{}' sizes {} / {} (must be equal and even)", q_norm.name,
               k_norm.name, head_dim, k_norm.t.shape[0]);
  HEARTH_CHECK(static_cast<int64_t>(rope.inv_freq.size()) == head_dim / 2,
               "RoPE table has {} frequencies for head_dim {}", rope.inv_freq.size(), head_dim);
  const int64_t tokens = b.num_tokens();
  const int64_t per_token = tokens * head_dim;
  HEARTH_CHECK(per_token > 0 && q.numel() % per_token == 0 && k.numel() % per_token == 0,
               "qk_norm_rope: q {} / k {} are not [{} tokens, heads, {}]", q.shape.str(),
               k.shape.str(), tokens, head_dim);
  cpu::qk_norm_rope(pool_, q.as<float>(), static_cast<int>(q.numel() / per_token), k.as<float>(),
                    static_cast<int>(k.numel() / per_token), static_cast<int>(head_dim), q_norm,
                    k_norm, eps, rope, b.positions);
}

void CpuBackend::attention(int layer, TensorView q, TensorView k, TensorView v, float scale,
                           const DeviceBatch& batch, TensorView out) {
  const cpu::PagedKvLayer cache = kv_layer(layer);
  check_f32(q, "attention q");
  check_f32(k, "attention k");
  check_f32(v, "attention v");
  check_f32(out, "attention output");
  const StepBatch& b = batch.host();
  const int64_t tokens = b.num_tokens();
  const int64_t kv_numel = tokens * cache.kv_heads * cache.head_dim;
  HEARTH_CHECK(k.numel() == kv_numel && v.numel() == kv_numel,
               "attention: k {} / v {} are not [{} tokens, {} kv heads, {}]", k.shape.str(),
               v.shape.str(), tokens, cache.kv_heads, cache.head_dim);
  const int64_t per_token = tokens * cache.head_dim;
  HEARTH_CHECK(tokens > 0 && q.numel() % per_token == 0, "attention: q {} is not [{} tokens, "
               "heads, {}]", q.shape.str(), tokens, cache.head_dim);
  const int heads = static_cast<int>(q.numel() / per_token);
  HEARTH_CHECK(heads % cache.kv_heads == 0, "attention: {} query heads for {} kv heads", heads,
               cache.kv_heads);
  HEARTH_CHECK(out.numel() == q.numel(), "attention output {} vs q {}", out.shape.str(),
               q.shape.str());
  cpu::attention(pool_, cache, q.as<float>(), k.as<float>(), v.as<float>(), heads, scale, b,
                 out.as<float>());
}

void CpuBackend::swiglu(TensorView gate, TensorView up, TensorView out) {
  check_f32(gate, "swiglu gate");
  check_f32(up, "swiglu up");
  check_f32(out, "swiglu output");
  HEARTH_CHECK(gate.numel() == up.numel() && out.numel() == gate.numel(),
               "swiglu shapes: gate {}, up {}, out {}", gate.shape.str(), up.shape.str(),
               out.shape.str());
  cpu::swiglu(pool_, gate.as<float>(), up.as<float>(), gate.numel(), out.as<float>());
}

void CpuBackend::gather_rows(TensorView x, const DeviceBatch& batch, TensorView out) {
  check_f32(x, "gather_rows input");
  check_f32(out, "gather_rows output");
  const std::vector<int32_t>& rows = batch.host().logits_rows;
  HEARTH_CHECK(x.shape.ndim >= 1 && x.shape[0] > 0, "gather_rows input {}", x.shape.str());
  const int64_t row_len = x.numel() / x.shape[0];
  HEARTH_CHECK(out.numel() == static_cast<int64_t>(rows.size()) * row_len,
               "gather_rows output {} for {} rows of {}", out.shape.str(), rows.size(), row_len);
  for (size_t i = 0; i < rows.size(); ++i) {
    HEARTH_CHECK(rows[i] >= 0 && rows[i] < x.shape[0], "gather_rows: row {} outside [0, {})",
                 rows[i], x.shape[0]);
    std::memcpy(out.as<float>() + i * row_len, x.as<float>() + rows[i] * row_len,
                row_len * sizeof(float));
  }
}

void CpuBackend::to_host_f32(TensorView x, float* dst) {
  HEARTH_CHECK(x.dtype == DType::F32 || x.dtype == DType::F16 || x.dtype == DType::BF16,
               "to_host_f32 of a {} tensor", dtype_name(x.dtype));
  if (x.dtype == DType::F32) {
    std::memcpy(dst, x.data, x.nbytes());
    return;
  }
  for (int64_t i = 0; i < x.numel(); ++i) dst[i] = load_as_f32(x.data, x.dtype, i);
}

std::unique_ptr<Backend> make_cpu_backend(int threads) {
  return std::make_unique<CpuBackend>(threads);
}

}  // namespace hearth
