// The decode stack (decode_stack.cu): every decoder layer of a one-token decode step as one
// persistent kernel. The seam between cuda_decode_stack.cpp (host) and the kernel, as
// kernels.h is for the other kernels.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "hearth/backend/cuda/kernels.h"

namespace hearth::cuda {

// Every decoder layer of a one-token decode step as one persistent kernel: per layer
// q|k|v (input norm in the prologue), attention (q/k norm + RoPE, the k/v row into the
// cache, split-KV attention and combine), o_proj + residual, gate|up + SwiGLU (norm in the
// prologue), down + residual, with grid barriers between them and one weight ring per CTA
// streaming across all of them. residual ([hidden] bf16) holds the embedding on entry and
// the residual stream after the last layer on exit (the caller's final norm follows).
// head_dim 128, <= 8 query heads per kv head, bf16 weights ([out, in]) and bf16 cache.
struct StackLayer {
  const void* in_norm;
  const void* post_norm;
  const void* q_norm;
  const void* k_norm;
  const void *wq, *wk, *wv, *wo, *wg, *wu, *wd;
  void* k_cache;  // this layer's [num_blocks, block_size, kv_heads, 128]
  void* v_cache;
};
struct StackParams {
  const StackLayer* layers;  // device array [num_layers]
  int num_layers;
  int hidden, heads, kv_heads, head_dim, inter;
  float eps, scale;
  RopeArgs rope;
  void* residual;  // [hidden] bf16
  void* qkv;       // [(heads + 2 kv_heads) * 128] bf16
  void* attn;      // [heads * 128] bf16
  void* act;       // [inter] bf16
  float* part_o;   // [heads, max_splits, 128]
  float* part_lse;  // [heads, max_splits]
  unsigned* counters;  // [kv_heads], zero between launches (self-resetting)
  unsigned* barrier;   // [2], zero-initialized once
  const int32_t* positions;     // [1]
  const int32_t* slot_mapping;  // [1]
  const int32_t* context_lens;  // [1]
  const int32_t* block_tables;  // [max_blocks_per_seq]
  int block_size;
  int max_splits;  // decode_stack_max_splits(block table capacity, ...)
  // Non-null: CTA c stamps %globaltimer at event e of layer l into
  // prof[(l * kStackEvents + e) * grid + c] (HEARTH_CUDA_STACK_PROFILE=1; the backend
  // prints a per-phase summary when it is destroyed).
  unsigned long long* prof = nullptr;
};
// Events per layer: start and end of each of the five phases (qkv, attn, o, gu, down).
constexpr int kStackEvents = 10;
// The kernel's grid (CTAs resident at once on the current device; 0: it cannot run).
int decode_stack_grid();
// The most attention splits per kv head for contexts up to `capacity` positions.
int decode_stack_max_splits(int capacity, int grid, int kv_heads);
cudaError_t launch_decode_stack(const StackParams& p, cudaStream_t stream);

}  // namespace hearth::cuda
