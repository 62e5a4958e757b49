#include "parity_util.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>

#include "hearth/core/dtype.h"

namespace hearth::gpu_test {

Backends& backends() {
  static Backends b = [] {
    Backends r;
    r.cpu = make_cpu_backend(0);
    if (cuda_device_available()) {
      CudaBackendOptions o;
      o.memory_budget_bytes = 8ull << 30;  // far more than any test needs
      o.debug_sync = true;                 // a kernel fault is reported by its op
      r.gpu = make_cuda_backend(o);
    }
    return r;
  }();
  return b;
}

std::vector<float> random_values(size_t n, Rng& rng, float scale) {
  std::vector<float> v(n);
  for (float& x : v) {
    float u = (rng.uniform() * 2.0f - 1.0f) * scale;
    if (std::fabs(u) < scale * (1.0f / 1024.0f)) u = 0.0f;
    x = bf16_to_f32(f32_to_bf16(u));
  }
  return v;
}

std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
  std::vector<uint16_t> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = f32_to_bf16(v[i]);
  return r;
}

std::vector<uint16_t> to_f16(const std::vector<float>& v) {
  std::vector<uint16_t> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = f32_to_f16(v[i]);
  return r;
}

TensorPair alloc_pair(const Shape& shape) {
  TensorPair p;
  p.cpu = backends().cpu->alloc(DType::F32, shape);
  p.gpu = backends().gpu->alloc(DType::BF16, shape);
  return p;
}

TensorPair tensor_pair(const std::vector<float>& values, const Shape& shape) {
  EXPECT_EQ(static_cast<int64_t>(values.size()), shape.numel());
  TensorPair p = alloc_pair(shape);
  std::memcpy(p.cpu.data, values.data(), values.size() * sizeof(float));
  const std::vector<uint16_t> b = to_bf16(values);
  cuda_copy_from_host(*backends().gpu, p.gpu, b.data());
  return p;
}

void free_pair(TensorPair& p) {
  backends().cpu->free(p.cpu);
  backends().gpu->free(p.gpu);
}

void poison_gpu(const TensorPair& p) {
  const std::vector<uint16_t> nan(static_cast<size_t>(p.gpu.numel()), 0x7fc0);
  cuda_copy_from_host(*backends().gpu, p.gpu, nan.data());
}

std::vector<float> read(Backend& b, const TensorView& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  b.to_host_f32(t, v.data());
  return v;
}

namespace {

// Host storage of test weights; a deque never moves its elements, so views stay valid for
// the whole run (the CPU backend's weights are views of host memory).
std::deque<std::vector<uint16_t>>& weight_storage_u16() {
  static std::deque<std::vector<uint16_t>> s;
  return s;
}
std::deque<std::vector<float>>& weight_storage_f32() {
  static std::deque<std::vector<float>> s;
  return s;
}

// upload_weights takes a whole model; the CPU backend checks that embed_tokens, norm and
// lm_head exist, so the weight under test sits in its matching slot and a tiny dummy fills
// the others.
Weight upload_one(Backend& b, const Weight& w) {
  static float dummy2[1] = {1.0f};
  static float dummy1[1] = {1.0f};
  ModelWeights m;
  Weight d2{TensorView{dummy2, DType::F32, Shape{1, 1}}, WeightFormat::Dense, "dummy2"};
  Weight d1{TensorView{dummy1, DType::F32, Shape{1}}, WeightFormat::Dense, "dummy1"};
  const bool two_d = w.t.shape.ndim == 2;
  m.embed_tokens = two_d ? w : d2;
  m.lm_head = d2;
  m.norm = two_d ? d1 : w;
  ModelWeights up = b.upload_weights(m);
  return two_d ? up.embed_tokens : up.norm;
}

}  // namespace

WeightPair make_weight(const std::vector<float>& values, const Shape& shape,
                       const std::string& name, DType host_dtype) {
  EXPECT_EQ(static_cast<int64_t>(values.size()), shape.numel());
  Weight host;
  host.name = name;
  host.t.shape = shape;
  host.t.dtype = host_dtype;
  switch (host_dtype) {
    case DType::BF16:
      host.t.data = weight_storage_u16().emplace_back(to_bf16(values)).data();
      break;
    case DType::F16:
      host.t.data = weight_storage_u16().emplace_back(to_f16(values)).data();
      break;
    default:
      host.t.data = weight_storage_f32().emplace_back(values).data();
      break;
  }
  WeightPair p;
  p.cpu = upload_one(*backends().cpu, host);
  p.gpu = upload_one(*backends().gpu, host);
  return p;
}

Weight upload_weight_to(Backend& b, const std::vector<float>& values, const Shape& shape,
                        const std::string& name) {
  EXPECT_EQ(static_cast<int64_t>(values.size()), shape.numel());
  Weight host;
  host.name = name;
  host.t.shape = shape;
  host.t.dtype = DType::BF16;
  host.t.data = weight_storage_u16().emplace_back(to_bf16(values)).data();
  return upload_one(b, host);
}

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, static_cast<double>(std::fabs(x)));
  return m;
}

double rms(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return v.empty() ? 0.0 : std::sqrt(s / static_cast<double>(v.size()));
}

void expect_close(const std::vector<float>& got, const std::vector<float>& ref, double rtol,
                  double atol, const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  double worst_excess = 0.0, num = 0.0, den = 0.0;
  size_t worst = 0, bad = 0, nonfinite = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], r = ref[i];
    if (!std::isfinite(g)) {
      if (nonfinite++ == 0) worst = i;
      continue;
    }
    const double d = std::fabs(g - r);
    num += d * d;
    den += r * r;
    const double excess = d - (atol + rtol * std::fabs(r));
    if (excess > 0) {
      ++bad;
      if (excess > worst_excess && nonfinite == 0) {
        worst_excess = excess;
        worst = i;
      }
    }
  }
  const double rel_l2 = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  double max_err = 0.0;
  for (size_t i = 0; i < got.size(); ++i)
    if (std::isfinite(got[i])) max_err = std::max(max_err, std::fabs(double(got[i]) - ref[i]));
  // One line per comparison: the figures the parity report quotes.
  std::printf("[parity] %-44s n=%-9zu rel_l2=%.2e max_err=%.2e max_ref=%.2e\n", what.c_str(),
              got.size(), rel_l2, max_err, max_abs(ref));
  EXPECT_EQ(nonfinite, 0u) << what << ": " << nonfinite << " non-finite outputs, first at "
                           << worst;
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size()
                     << " elements outside |d| <= " << atol << " + " << rtol
                     << "|ref|; worst at " << worst << ": got " << got[worst] << ", ref "
                     << ref[worst] << " (normwise relative error " << rel_l2 << ")";
}

}  // namespace hearth::gpu_test
