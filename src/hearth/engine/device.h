// Chooses and creates the compute backend for `--device cpu|cuda|auto`.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "hearth/backend/backend.h"

namespace hearth {

struct DeviceOptions {
  std::string device = "auto";  // auto: cuda when built with CUDA and a GPU is present
  int threads = 0;              // CPU backend threads (0: all)
  // GPU memory hearth may hold (weights + KV cache + activations + workspaces): an absolute
  // budget when gpu_memory_budget_bytes > 0, else this fraction of the device's total
  // memory (vLLM's --gpu-memory-utilization).
  double gpu_memory_utilization = 0.85;
  uint64_t gpu_memory_budget_bytes = 0;

  void validate() const;  // throws hearth::Error naming the flag
};

bool cuda_compiled_in();
std::unique_ptr<Backend> make_backend(const DeviceOptions& opts);

}  // namespace hearth
