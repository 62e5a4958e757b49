#include "hearth/engine/memory_plan.h"

#include <algorithm>
#include <fmt/format.h>

#include "hearth/core/error.h"
#include "hearth/core/log.h"
#include "hearth/backend/kv_fp8.h"
#ifdef HEARTH_WITH_CUDA
#include "hearth/backend/cuda/cuda_backend.h"
#endif

namespace hearth {

namespace {

// Default KV cap when no size is given and the backend cannot report its memory: plenty for
// the CPU backend and the tests.
constexpr uint64_t kDefaultKvBytesCap = 4ull << 30;

KvLayout layout_of(const ModelConfig& c, DType kv_dtype, int block_size, const std::string& cache_dtype) {
  KvLayout layout;
  layout.num_layers = c.num_hidden_layers;
  layout.num_kv_heads = c.num_key_value_heads;
  layout.head_dim = c.head_dim;
  layout.dtype_bytes = parse_kv_cache_dtype(cache_dtype) == KvCacheDtype::Fp8E4M3 ? 1 : static_cast<int>(dtype_size(kv_dtype));
  layout.block_size = block_size;
  return layout;
}

std::string gib(uint64_t b) { return fmt::format("{:.2f} GiB", static_cast<double>(b) / (1ull << 30)); }

#ifdef HEARTH_WITH_CUDA
// A step of `tokens` tokens over `seqs` sequences that writes no KV (slot -1) and reads block
// 0 only: the shapes of the largest step, for measuring its memory with a one-block cache.
StepBatch warm_up_step(int tokens, int seqs, int block_size) {
  StepBatch b;
  const int base = tokens / seqs, extra = tokens % seqs;
  const int longest = base + (extra > 0 ? 1 : 0);
  b.max_blocks_per_seq = (longest + block_size - 1) / block_size;
  b.block_tables.assign(static_cast<size_t>(seqs) * static_cast<size_t>(b.max_blocks_per_seq), 0);
  b.query_start.push_back(0);
  for (int s = 0; s < seqs; ++s) {
    const int n = base + (s < extra ? 1 : 0);
    for (int p = 0; p < n; ++p) {
      b.token_ids.push_back(0);
      b.positions.push_back(p);
      b.slot_mapping.push_back(-1);
    }
    b.query_start.push_back(static_cast<int32_t>(b.token_ids.size()));
    b.context_lens.push_back(n);
    b.logits_rows.push_back(static_cast<int32_t>(b.token_ids.size()) - 1);
  }
  return b;
}

// The memory terms (MeasuredPlan::use); the plan is made by the caller.
MeasuredPlan measure(const EngineOptions& o, ModelRunner& runner, int max_model_len) {
  Backend& backend = runner.backend();
  Qwen3Model& model = runner.model();
  const CudaMemoryStats before = cuda_memory_stats(backend);
  const uint64_t weights = before.reserved;

  // 1. The largest step, eagerly, with a one-block cache (the kernels read block 0 only).
  runner.init_kv_cache(1);
  const uint64_t warm_kv = cuda_memory_stats(backend).reserved - before.reserved;
  // A step holds up to max_num_batched_tokens tokens, a sequence fewer than max_model_len.
  const int tokens = std::max(1, o.max_num_batched_tokens);
  const int seqs = std::min(tokens, std::max({1, std::min(o.max_num_seqs, tokens),
                                              (tokens + max_model_len - 2) / std::max(max_model_len - 1, 1)}));
  {
    const StepBatch step = warm_up_step(tokens, seqs, o.block_size);
    // Picks sized for the most alternatives a request may ask (32); their values are unused
    // (the logits of this step are meaningless), so they are never read.
    model.launch(step, backend.supports_device_greedy() ? StepPicks::greedy(32) : StepPicks::none());
    backend.synchronize();
  }
  const CudaMemoryStats after_step = cuda_memory_stats(backend);
  const uint64_t activations = after_step.reserved - before.reserved - warm_kv;

  // 2. One decode graph at the largest bucket: the driver memory a recording takes (outside
  // hearth's allocator), times the recordings a run keeps (one per bucket, two table widths).
  uint64_t graph_pools = 0;
  const int bucket = std::max(1, o.max_num_seqs);
  if (model.graph_eligible(warm_up_step(bucket, bucket, o.block_size))) {
    const StepBatch step = warm_up_step(bucket, bucket, o.block_size);
    const size_t free_before = cuda_device_info().free_bytes;
    const uint64_t arena_before = cuda_memory_stats(backend).reserved;
    model.launch(step, backend.supports_device_greedy() ? StepPicks::greedy(0) : StepPicks::none());
    backend.synchronize();
    const size_t free_after = cuda_device_info().free_bytes;
    const uint64_t arena_delta = cuda_memory_stats(backend).reserved - arena_before;
    const uint64_t one = free_before > free_after + arena_delta ? free_before - free_after - arena_delta : 0;
    int buckets = 0;
    for (int n = 1; n <= o.max_num_seqs; n = decode_bucket(n, o.max_num_seqs) + 1) ++buckets;
    graph_pools = one * static_cast<uint64_t>(buckets) * 2;
  }

  MeasuredPlan m;
  m.measured = true;
  m.use.budget = before.budget;
  m.use.weights = weights;
  m.use.activations = activations;
  m.use.graph_pools = graph_pools;
  m.use.other = m.use.budget / 50 + warm_kv;  // reserve; the warm-up block goes when the cache is made
  return m;
}
#endif

}  // namespace

KvPlan plan_engine_kv_cache(const EngineOptions& o, const ModelConfig& c, DType kv_dtype, int max_model_len) {
  KvLayout layout = layout_of(c, kv_dtype, o.block_size, o.kv_cache_dtype);
  if (o.num_kv_blocks > 0) return plan_kv_from_blocks(o.num_kv_blocks, layout, max_model_len);
  if (o.kv_cache_tokens > 0) return plan_kv_from_tokens(o.kv_cache_tokens, layout, max_model_len);
  if (o.kv_cache_bytes > 0) {
    MemoryUse use;
    use.budget = o.kv_cache_bytes;
    return plan_kv_from_memory(use, layout, max_model_len);
  }
  layout.validate();
  const int64_t full_seq = static_cast<int64_t>((max_model_len + o.block_size - 1) / o.block_size) * o.block_size;
  const int64_t cap = static_cast<int64_t>(kDefaultKvBytesCap / layout.bytes_per_token());
  const int64_t tokens = std::max(full_seq, std::min(static_cast<int64_t>(o.max_num_seqs) * full_seq, cap));
  return plan_kv_from_tokens(tokens, layout, max_model_len);
}

MeasuredPlan plan_kv_cache(const EngineOptions& o, ModelRunner& runner, int max_model_len) {
  const bool given = o.num_kv_blocks > 0 || o.kv_cache_tokens > 0 || o.kv_cache_bytes > 0;
#ifdef HEARTH_WITH_CUDA
  if (!given && runner.backend().name() == "cuda") {
    MeasuredPlan m;
    try {
      m = measure(o, runner, max_model_len);
    } catch (const Error& e) {
      // A failed measurement falls back to the default size, loudly.
      log::warn("KV cache planning: the warm-up measurement failed ({}); using the default size", e.what());
    }
    if (m.measured) {
      // Not caught: a budget that leaves no room for one sequence is the user's to fix.
      m.plan = plan_kv_from_memory(m.use, layout_of(runner.config(), runner.backend().activation_dtype(), o.block_size, o.kv_cache_dtype),
                                   max_model_len);
      return m;
    }
  }
#endif
  (void)given;
  MeasuredPlan m;
  m.plan = plan_engine_kv_cache(o, runner.config(), runner.backend().activation_dtype(), max_model_len);
  return m;
}

std::string MeasuredPlan::describe() const {
  if (!measured) return "KV cache sized from the options (no memory measurement)";
  return fmt::format("memory: budget {} - weights {} - activations {} (warm-up peak) - graph pools {} - reserve {} "
                     "-> KV cache {}",
                     gib(use.budget), gib(use.weights), gib(use.activations), gib(use.graph_pools), gib(use.other),
                     gib(plan.bytes));
}

}  // namespace hearth
