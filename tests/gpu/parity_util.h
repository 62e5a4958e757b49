// Shared helpers of the CUDA parity tests: one CPU and one CUDA backend for the whole
// binary, bf16-representable random data fed identically to both, weight pairs, and an
// element-wise comparison that reports the worst element.
//
// Why bf16-representable inputs: the CUDA backend stores activations and weights in bf16,
// the CPU reference in fp32. Feeding both the same bf16 values makes the inputs identical,
// so every difference comes from the CUDA side's arithmetic and its bf16 output rounding.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hearth/backend/backend.h"
#include "hearth/backend/cuda/cuda_backend.h"
#include "hearth/core/rng.h"

namespace hearth::gpu_test {

// bf16 keeps 8 significant bits: one round-to-nearest has relative error <= 2^-9.
constexpr double kBf16Rounding = 1.0 / 512.0;

struct Backends {
  std::unique_ptr<Backend> cpu;
  std::unique_ptr<Backend> gpu;
};
// Made on first use; gpu is null without a CUDA device.
Backends& backends();

#define HEARTH_REQUIRE_GPU()                                                   \
  do {                                                                         \
    if (::hearth::gpu_test::backends().gpu == nullptr)                         \
      GTEST_SKIP() << "no CUDA device: the parity tests run on a GPU machine"; \
  } while (0)

// Uniform values in [-scale, scale] rounded to bf16. Values under 2^-10 * scale become 0,
// so that every value is also exact in fp16 (whose subnormals start at 2^-14).
std::vector<float> random_values(size_t n, Rng& rng, float scale = 1.0f);
std::vector<uint16_t> to_bf16(const std::vector<float>& v);
std::vector<uint16_t> to_f16(const std::vector<float>& v);

// The same values in both backends' activation dtype.
struct TensorPair {
  TensorView cpu, gpu;
};
TensorPair tensor_pair(const std::vector<float>& values, const Shape& shape);
TensorPair alloc_pair(const Shape& shape);
void free_pair(TensorPair& p);
// Fills the GPU tensor with bf16 NaN, so an element an op forgets to write is caught.
void poison_gpu(const TensorPair& p);
std::vector<float> read(Backend& b, const TensorView& t);

// A weight stored on the host in `host_dtype` (exact for random_values data), uploaded to
// each backend through upload_weights.
struct WeightPair {
  Weight cpu, gpu;
};
WeightPair make_weight(const std::vector<float>& values, const Shape& shape,
                       const std::string& name, DType host_dtype = DType::BF16);
// The same bf16 weight uploaded to another backend (e.g. a second CUDA backend).
Weight upload_weight_to(Backend& b, const std::vector<float>& values, const Shape& shape,
                        const std::string& name);

// |got - ref| <= atol + rtol * |ref| for every element, no NaN/Inf in got. On failure the
// message names the worst element; the normwise relative error is always in the log.
void expect_close(const std::vector<float>& got, const std::vector<float>& ref, double rtol,
                  double atol, const std::string& what);
double max_abs(const std::vector<float>& v);
double rms(const std::vector<float>& v);

}  // namespace hearth::gpu_test
