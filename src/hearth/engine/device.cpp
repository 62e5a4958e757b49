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

std::unique_ptr<Backend> make_backend(const DeviceOptions& opts) {
  if (opts.device == "cpu") return make_cpu_backend(opts.threads);
  if (opts.device != "cuda" && opts.device != "auto")
    fail("--device: unknown device '{}' (expected cpu, cuda or auto)", opts.device);
#ifdef HEARTH_WITH_CUDA
  if (cuda_device_available()) return make_cuda_backend(CudaBackendOptions{});
  if (opts.device == "cuda") fail("--device cuda: no usable CUDA device found");
#else
  if (opts.device == "cuda") fail("--device cuda: this hearth was built without the CUDA backend");
#endif
  return make_cpu_backend(opts.threads);
}

}  // namespace hearth
