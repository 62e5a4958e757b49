// Chooses and creates the compute backend for `--device cpu|cuda|auto`.
#pragma once

#include <memory>
#include <string>

#include "hearth/backend/backend.h"

namespace hearth {

struct DeviceOptions {
  std::string device = "auto";  // auto: cuda when built with CUDA and a GPU is present
  int threads = 0;              // CPU backend threads (0: all)
};

bool cuda_compiled_in();
std::unique_ptr<Backend> make_backend(const DeviceOptions& opts);

}  // namespace hearth
