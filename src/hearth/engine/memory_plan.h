// Sizing the serving engine's KV cache. Given sizes (blocks, tokens, bytes) are used as they
// are; otherwise, on a backend that can report its memory (CUDA), the cache takes what is
// left of the memory budget after a warm-up (issue 5: KV blocks = budget - weights - peak
// activations - graph pools), and on the CPU a default capacity.
#pragma once

#include <string>

#include "hearth/engine.h"
#include "hearth/engine/model_runner.h"
#include "hearth/kv/kv_planning.h"

namespace hearth {

// The KV cache size EngineOptions asks for (see EngineOptions: blocks, tokens, bytes, or
// the default). Throws hearth::Error when it cannot hold one sequence at max_model_len.
KvPlan plan_engine_kv_cache(const EngineOptions& opts, const ModelConfig& config, DType kv_dtype, int max_model_len);

struct MeasuredPlan {
  KvPlan plan;
  bool measured = false;  // from a warm-up on the device (else plan_engine_kv_cache)
  MemoryUse use;          // the terms, when measured
  std::string describe() const;  // the start-up log line of the terms
};

// Plans the cache for `runner` (weights uploaded, no KV cache yet). With no size in `opts`
// and a backend that reports memory, runs a warm-up step of max_num_batched_tokens tokens
// over min(max_num_seqs, tokens) sequences (KV slots -1: nothing written; a one-block warm-up
// cache) and records the largest decode bucket's step graph, measuring the peak activation
// memory and the graph's driver memory; the cache gets the rest of the budget (minus a
// 2 % reserve for allocator rounding and growth of sampling buffers).
MeasuredPlan plan_kv_cache(const EngineOptions& opts, ModelRunner& runner, int max_model_len);

}  // namespace hearth
