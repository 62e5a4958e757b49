// Launchers of hearth's CUDA kernels: the seam between the host code (cuda_backend.cpp,
// compiled by the C++ compiler) and the .cu files (compiled by nvcc).
//
// Why a seam: nvcc 13 cannot compile fmt 9's consteval format strings, so everything that
// builds messages (hearth::Error, HEARTH_CHECK) stays in .cpp files and the .cu files hold
// only kernels and their launchers. Launchers take raw pointers (bf16 data as void*), assume
// the host code validated every shape and index, enqueue on `stream` and return the launch
// status (cudaGetLastError), which the caller checks with HEARTH_CUDA_CHECK at its call site.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace hearth::cuda {

// ---- elementwise (elementwise_kernels.cu) ----

// out[i, :] = src[rows[i], :] for i < num_rows; bf16 rows of `cols` elements.
// Embedding (rows = token ids) and gather_rows (rows = logits rows) are both this.
cudaError_t launch_copy_rows(const void* src, const int32_t* rows, int num_rows, int64_t cols,
                             void* out, cudaStream_t stream);
// out = silu(gate) * up, bf16, computed in fp32 and rounded once.
cudaError_t launch_swiglu(const void* gate, const void* up, int64_t n, void* out,
                          cudaStream_t stream);
// Dtype conversions used by weight upload and to_host_f32.
cudaError_t launch_f32_to_bf16(const float* src, int64_t n, void* dst, cudaStream_t stream);
cudaError_t launch_f16_to_bf16(const void* src, int64_t n, void* dst, cudaStream_t stream);
cudaError_t launch_bf16_to_f32(const void* src, int64_t n, float* dst, cudaStream_t stream);
// cache[slot_mapping[t], :] = x[t, :] for rows of `row_elems` bf16 (kv_heads * head_dim);
// negative slots are padding and skipped.
cudaError_t launch_kv_cache_write(const void* k, const void* v, const int32_t* slot_mapping,
                                  int tokens, int row_elems, void* k_cache, void* v_cache,
                                  cudaStream_t stream);

// ---- norms and RoPE (norm_kernels.cu) ----

// out[r] = rms_norm(x[r]) * w for rows of `cols`. With residual != nullptr (fused form):
// residual[r] = bf16(residual[r] + x[r]) first, and the norm reads the rounded sum, as HF
// does in bf16.
cudaError_t launch_rms_norm(const void* x, void* residual, const void* w, float eps, int rows,
                            int cols, void* out, cudaStream_t stream);

constexpr int kMaxRopeFrequencies = 256;  // head_dim <= 512
struct RopeArgs {
  float inv_freq[kMaxRopeFrequencies];
  float attention_scaling;
};
// In place on q ([tokens, heads, head_dim]) and k ([tokens, kv_heads, head_dim]): per-head
// RMSNorm with q_w / k_w ([head_dim]), then NeoX RoPE at positions[t].
cudaError_t launch_qk_norm_rope(void* q, void* k, int tokens, int heads, int kv_heads,
                                int head_dim, const void* q_w, const void* k_w, float eps,
                                const RopeArgs& rope, const int32_t* positions,
                                cudaStream_t stream);

// ---- attention (attention_prefill.cu, attention_decode.cu) ----

// What both attention kernels read. Pointers are device memory; bf16 data as void*.
struct AttentionParams {
  const void* q;      // [tokens, heads, head_dim]
  void* out;          // [tokens, heads, head_dim]
  const void* k_cache;  // [num_blocks, block_size, kv_heads, head_dim]
  const void* v_cache;
  const int32_t* query_start;   // [seqs + 1]
  const int32_t* context_lens;  // [seqs]
  const int32_t* block_tables;  // [seqs, max_blocks_per_seq]
  const int32_t* token_seq;     // [tokens]: sequence of each token
  int max_blocks_per_seq;
  int tokens;
  int heads;
  int kv_heads;
  int head_dim;
  int block_size;
  float scale;  // softmax scale (1/sqrt(head_dim) for Qwen3)
};

// FlashAttention-2 style causal prefill over the paged cache. `tiles` holds pairs
// (sequence, first query row) of kPrefillTileRows query rows each. Head dims 64 and 128.
constexpr int kPrefillTileRows = 64;
bool prefill_supports_head_dim(int head_dim);
cudaError_t launch_prefill_attention(const AttentionParams& p, const int32_t* tiles,
                                     int num_tiles, cudaStream_t stream);

// One CTA per (token, kv head, split): every query token attends to its causal context,
// split over `num_splits` chunks of `split_size` positions. With num_splits > 1, partial
// results go to `partial_out` ([tokens, heads, num_splits, head_dim] fp32) and
// `partial_lse` ([tokens, heads, num_splits] fp32, log2 domain) and a combine kernel
// reduces them into p.out. Any head_dim that is a multiple of 8 up to 256; up to 8 query
// heads per kv head.
constexpr int kDecodeMaxHeadDim = 256;
constexpr int kDecodeMaxGroup = 8;
cudaError_t launch_decode_attention(const AttentionParams& p, int num_splits, int split_size,
                                    float* partial_out, float* partial_lse,
                                    cudaStream_t stream);

}  // namespace hearth::cuda
