// Helpers for the CPU backend tests: seeded random data, weights in any float dtype
// (with the exact fp32 values they hold, for the references), and host<->backend copies.
#pragma once

#include <cstring>
#include <random>
#include <vector>

#include "hearth/backend/backend.h"
#include "hearth/core/dtype.h"

namespace hearth::testing {

inline std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(gen);
  return v;
}

// A weight that owns its bytes. `values` are the fp32 values the bytes encode exactly
// (after rounding to the storage dtype), which is what the references must use.
struct OwnedWeight {
  std::vector<uint8_t> bytes;
  std::vector<float> values;
  Weight w;
};

inline OwnedWeight make_weight(const Shape& shape, DType dtype, uint32_t seed, float scale = 1.0f,
                               float offset = 0.0f) {
  OwnedWeight o;
  const auto n = static_cast<size_t>(shape.numel());
  o.values = random_floats(n, seed, scale);
  for (float& x : o.values) x += offset;
  o.bytes.resize(n * dtype_size(dtype));
  for (size_t i = 0; i < n; ++i) {
    switch (dtype) {
      case DType::F32:
        std::memcpy(o.bytes.data() + 4 * i, &o.values[i], 4);
        break;
      case DType::BF16: {
        const uint16_t h = f32_to_bf16(o.values[i]);
        std::memcpy(o.bytes.data() + 2 * i, &h, 2);
        o.values[i] = bf16_to_f32(h);
        break;
      }
      case DType::F16: {
        const uint16_t h = f32_to_f16(o.values[i]);
        std::memcpy(o.bytes.data() + 2 * i, &h, 2);
        o.values[i] = f16_to_f32(h);
        break;
      }
      default:
        break;
    }
  }
  o.w.t.data = o.bytes.data();
  o.w.t.dtype = dtype;
  o.w.t.shape = shape;
  o.w.name = "test.weight";
  return o;
}

// A backend tensor filled from host floats; freed by the destructor.
class DeviceTensor {
 public:
  DeviceTensor(Backend& b, const Shape& shape) : b_(b), t_(b.alloc(DType::F32, shape)) {}
  DeviceTensor(Backend& b, const Shape& shape, const std::vector<float>& host)
      : DeviceTensor(b, shape) {
    std::memcpy(t_.data, host.data(), t_.nbytes());
  }
  ~DeviceTensor() { b_.free(t_); }
  DeviceTensor(const DeviceTensor&) = delete;
  DeviceTensor& operator=(const DeviceTensor&) = delete;

  TensorView view() const { return t_; }
  std::vector<float> host() const {
    std::vector<float> v(static_cast<size_t>(t_.numel()));
    b_.to_host_f32(t_, v.data());
    return v;
  }

 private:
  Backend& b_;
  TensorView t_;
};

// A batch of one token per sequence with no KV cache use (for the position-only ops).
inline StepBatch positions_batch(const std::vector<int32_t>& positions) {
  StepBatch b;
  const int n = static_cast<int>(positions.size());
  b.positions = positions;
  b.token_ids.assign(positions.size(), 0);
  b.slot_mapping.assign(positions.size(), -1);
  for (int i = 0; i <= n; ++i) b.query_start.push_back(i);
  b.context_lens.assign(positions.size(), 1);
  return b;
}

}  // namespace hearth::testing
