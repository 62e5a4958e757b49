// Weight reading, embedding lookup and SwiGLU.
#include <cmath>
#include <cstring>

#include "hearth/backend/cpu/cpu_kernels.h"
#include "hearth/core/error.h"

namespace hearth::cpu {

void load_row_f32(const TensorView& w, int64_t row, int64_t cols, float* dst) {
  const size_t base = static_cast<size_t>(row * cols);
  switch (w.dtype) {
    case DType::F32:
      std::memcpy(dst, w.as<const float>() + base, static_cast<size_t>(cols) * sizeof(float));
      return;
    case DType::BF16: {
      const uint16_t* src = w.as<const uint16_t>() + base;
      for (int64_t i = 0; i < cols; ++i) dst[i] = bf16_to_f32(src[i]);
      return;
    }
    case DType::F16: {
      const uint16_t* src = w.as<const uint16_t>() + base;
      for (int64_t i = 0; i < cols; ++i) dst[i] = f16_to_f32(src[i]);
      return;
    }
    default:
      fail("weight of dtype {} cannot be read as floats", dtype_name(w.dtype));
  }
}

std::vector<float> load_vector_f32(const Weight& w) {
  std::vector<float> v(static_cast<size_t>(w.t.numel()));
  load_row_f32(w.t, 0, w.t.numel(), v.data());
  return v;
}

void embedding(ThreadPool& pool, const Weight& table, std::span<const int32_t> ids, float* out) {
  const int64_t vocab = table.t.shape[0];
  const int64_t hidden = table.t.shape[1];
  // Checked up front so that a bad id throws on the calling thread, before any work.
  for (size_t t = 0; t < ids.size(); ++t) {
    if (ids[t] < 0 || ids[t] >= vocab)
      fail("token id {} (position {} of the batch) is outside the vocabulary [0, {}) of '{}'",
           ids[t], t, vocab, table.name);
  }
  pool.parallel_for(static_cast<int64_t>(ids.size()), 4, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t)
      load_row_f32(table.t, ids[static_cast<size_t>(t)], hidden, out + t * hidden);
  });
}

void swiglu(ThreadPool& pool, const float* gate, const float* up, int64_t n, float* out) {
  pool.parallel_for(n, 16384, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float g = gate[i];
      out[i] = g / (1.0f + std::exp(-g)) * up[i];  // silu(g) * u
    }
  });
}

}  // namespace hearth::cpu
