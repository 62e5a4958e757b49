// The flags every model-running subcommand shares: --device, --threads and the GPU memory
// budget (--gpu-memory-utilization, --gpu-memory-budget).
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "hearth/core/units.h"
#include "hearth/engine/device.h"

namespace hearth::cli {

struct DeviceFlags {
  DeviceOptions options;
  std::string budget_text;

  void add_to(CLI::App* cmd) {
    cmd->add_option("--device", options.device, "cpu, cuda or auto (cuda when present)");
    cmd->add_option("--threads", options.threads, "CPU backend threads (0 = all cores)");
    cmd->add_option("--gpu-memory-utilization", options.gpu_memory_utilization,
                    "fraction of the GPU's memory hearth may use (default 0.85)");
    cmd->add_option("--gpu-memory-budget", budget_text, "GPU memory hearth may use, e.g. 14GiB (overrides the fraction)");
  }
  // Call when running: parses the budget and validates everything.
  DeviceOptions resolve() const {
    DeviceOptions o = options;
    if (!budget_text.empty()) o.gpu_memory_budget_bytes = parse_byte_size(budget_text, "--gpu-memory-budget");
    o.validate();
    return o;
  }
};

}  // namespace hearth::cli
