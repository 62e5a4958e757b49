#include "hearth/engine/device.h"

#include "hearth/core/error.h"
#ifdef HEARTH_WITH_CUDA
#include "hearth/backend/cuda/cuda_backend.h"
#endif

namespace hearth {

bool cuda_compiled_in() {
#ifdef HEARTH_WITH_CUDA
  return true;
#else
  return false;
#endif
}

void DeviceOptions::validate() const {
  if (!(gpu_memory_utilization > 0.0 && gpu_memory_utilization <= 1.0))
    fail("--gpu-memory-utilization: {} is not in (0, 1]", gpu_memory_utilization);
  if (threads < 0) fail("--threads: {} is negative", threads);
}

std::unique_ptr<Backend> make_backend(const DeviceOptions& opts) {
  opts.validate();
  if (opts.device == "cpu") return make_cpu_backend(opts.threads);
  if (opts.device != "cuda" && opts.device != "auto")
    fail("--device: unknown device '{}' (expected cpu, cuda or auto)", opts.device);
#ifdef HEARTH_WITH_CUDA
  if (cuda_device_available()) {
    CudaBackendOptions cuda;
    const CudaDeviceInfo info = cuda_device_info(cuda.device);
    cuda.memory_budget_bytes = opts.gpu_memory_budget_bytes > 0
                                   ? opts.gpu_memory_budget_bytes
                                   : static_cast<size_t>(opts.gpu_memory_utilization * static_cast<double>(info.total_bytes));
    return make_cuda_backend(cuda);
  }
  if (opts.device == "cuda") fail("--device cuda: no usable CUDA device found");
#else
  if (opts.device == "cuda") fail("--device cuda: this hearth was built without the CUDA backend");
#endif
  return make_cpu_backend(opts.threads);
}

}  // namespace hearth
