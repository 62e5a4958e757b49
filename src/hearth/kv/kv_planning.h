// How many KV blocks fit: the arithmetic of memory planning, separate from measuring.
// The GPU start-up measures weights, peak activations (a warm-up step at the largest
// batch) and graph pools, then asks plan_kv_from_memory for the rest; the CPU and tests
// size the cache from a token budget.
#pragma once

#include <cstdint>
#include <string>

namespace hearth {

struct KvLayout {
  int num_layers = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int dtype_bytes = 0;  // bytes per K or V element
  int block_size = 16;

  // K and V of one token across all layers.
  uint64_t bytes_per_token() const {
    return 2ull * static_cast<uint64_t>(num_layers) * static_cast<uint64_t>(num_kv_heads) *
           static_cast<uint64_t>(head_dim) * static_cast<uint64_t>(dtype_bytes);
  }
  uint64_t bytes_per_block() const { return bytes_per_token() * static_cast<uint64_t>(block_size); }
  void validate() const;  // throws hearth::Error naming the field
};

// Device memory already spoken for, in bytes.
struct MemoryUse {
  uint64_t budget = 0;       // what hearth may hold in total
  uint64_t weights = 0;
  uint64_t activations = 0;  // peak measured during the warm-up step
  uint64_t graph_pools = 0;  // memory pools of recorded step graphs
  uint64_t other = 0;        // workspaces, allocator slack the caller wants to keep free
};

struct KvPlan {
  int num_blocks = 0;
  int block_size = 0;
  int64_t tokens = 0;          // num_blocks * block_size
  uint64_t bytes = 0;          // num_blocks * bytes_per_block
  int max_model_len = 0;
  int full_context_seqs = 0;   // sequences that fit at max_model_len tokens each
};

// KV blocks = (budget - weights - activations - graph pools - other) / bytes per block.
// Throws hearth::Error, with every term in the message, when that leaves no room for one
// sequence at max_model_len.
KvPlan plan_kv_from_memory(const MemoryUse& use, const KvLayout& layout, int max_model_len);
// The largest whole number of blocks holding at most `tokens` tokens; the same error
// when that is less than one sequence at max_model_len.
KvPlan plan_kv_from_tokens(int64_t tokens, const KvLayout& layout, int max_model_len);
// Blocks given directly (tests); the same check.
KvPlan plan_kv_from_blocks(int64_t blocks, const KvLayout& layout, int max_model_len);

// The start-up log line: "KV cache: 2,048 blocks x 16 tokens = 32,768 tokens (4.00 GiB);
// 8 concurrent sequences at full context (4,096 tokens)".
std::string describe(const KvPlan& plan);

}  // namespace hearth
