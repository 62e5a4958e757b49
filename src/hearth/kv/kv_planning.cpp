#include "hearth/kv/kv_planning.h"

#include <fmt/format.h>

#include <limits>

#include "hearth/core/error.h"

namespace hearth {

namespace {

std::string gib(uint64_t bytes) { return fmt::format("{:.2f} GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0)); }

// 1234567 -> "1,234,567" (capacities are read by people at start-up).
std::string grouped(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return v < 0 ? "-" + out : out;
}

int blocks_per_full_seq(const KvLayout& layout, int max_model_len) {
  return (max_model_len + layout.block_size - 1) / layout.block_size;
}

}  // namespace

void KvLayout::validate() const {
  if (num_layers <= 0) fail("KV layout: num_layers must be positive, got {}", num_layers);
  if (num_kv_heads <= 0) fail("KV layout: num_kv_heads must be positive, got {}", num_kv_heads);
  if (head_dim <= 0) fail("KV layout: head_dim must be positive, got {}", head_dim);
  if (dtype_bytes <= 0) fail("KV layout: dtype_bytes must be positive, got {}", dtype_bytes);
  if (block_size <= 0) fail("KV layout: block_size must be positive, got {}", block_size);
}

KvPlan plan_kv_from_blocks(int64_t blocks, const KvLayout& layout, int max_model_len) {
  layout.validate();
  if (max_model_len <= 0) fail("max model length must be positive, got {}", max_model_len);
  const int per_seq = blocks_per_full_seq(layout, max_model_len);
  if (blocks < per_seq)
    fail("the KV cache holds {} blocks of {} tokens ({} tokens) but one sequence at the full "
         "context of {} tokens needs {} blocks; lower --max-model-len or give the KV cache more memory",
         blocks, layout.block_size, blocks * layout.block_size, max_model_len, per_seq);
  // Block ids and slots are int32 in the step batch.
  const int64_t max_blocks = std::numeric_limits<int32_t>::max() / layout.block_size;
  if (blocks > max_blocks) blocks = max_blocks;
  KvPlan p;
  p.num_blocks = static_cast<int>(blocks);
  p.block_size = layout.block_size;
  p.tokens = blocks * layout.block_size;
  p.bytes = static_cast<uint64_t>(blocks) * layout.bytes_per_block();
  p.max_model_len = max_model_len;
  p.full_context_seqs = static_cast<int>(blocks / per_seq);
  return p;
}

KvPlan plan_kv_from_tokens(int64_t tokens, const KvLayout& layout, int max_model_len) {
  layout.validate();
  if (tokens <= 0) fail("KV cache token budget must be positive, got {}", tokens);
  return plan_kv_from_blocks(tokens / layout.block_size, layout, max_model_len);
}

KvPlan plan_kv_from_memory(const MemoryUse& use, const KvLayout& layout, int max_model_len) {
  layout.validate();
  const uint64_t spoken = use.weights + use.activations + use.graph_pools + use.other;
  const std::string terms = fmt::format("budget {} - weights {} - activations {} - graph pools {} - other {}",
                                        gib(use.budget), gib(use.weights), gib(use.activations),
                                        gib(use.graph_pools), gib(use.other));
  if (spoken >= use.budget) fail("no memory left for the KV cache: {} <= 0", terms);
  const uint64_t left = use.budget - spoken;
  const uint64_t blocks = left / layout.bytes_per_block();
  const int per_seq = blocks_per_full_seq(layout, max_model_len);
  if (blocks < static_cast<uint64_t>(per_seq))
    fail("the KV cache gets {} ({}), {} blocks of {} tokens, but one sequence at the full context of {} "
         "tokens needs {} blocks ({}); lower --max-model-len or raise the memory budget",
         gib(left), terms, blocks, layout.block_size, max_model_len, per_seq,
         gib(static_cast<uint64_t>(per_seq) * layout.bytes_per_block()));
  const uint64_t capped = std::min<uint64_t>(blocks, static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
  return plan_kv_from_blocks(static_cast<int64_t>(capped), layout, max_model_len);
}

std::string describe(const KvPlan& p) {
  return fmt::format("KV cache: {} blocks x {} tokens = {} tokens ({}); {} concurrent sequences at full context ({} tokens)",
                     grouped(p.num_blocks), p.block_size, grouped(p.tokens), gib(p.bytes),
                     grouped(p.full_context_seqs), grouped(p.max_model_len));
}

}  // namespace hearth
