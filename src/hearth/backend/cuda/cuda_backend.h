// The CUDA backend: bf16 activations, bf16 weights and KV cache on one GPU. This header has
// no CUDA includes, so any module can pick the backend without the CUDA toolkit's headers.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "hearth/backend/backend.h"

namespace hearth {

struct CudaBackendOptions {
  int device = 0;
  // The most device memory the backend may hold: weights + KV cache + activations +
  // workspaces. Allocations past it throw hearth::Error giving needed against available.
  // 0: the memory free on the device when the backend is made.
  size_t memory_budget_bytes = 0;
  // Synchronize and check after every op, so that an asynchronous fault is reported by the
  // op that caused it (slow; also on with the environment variable HEARTH_CUDA_SYNC=1).
  bool debug_sync = false;
  // linear with up to this many rows takes hearth's GEMV instead of cuBLASLt (at most 8).
  // 1: measured fastest on the H200 (backend/cuda/NOTES.md); tests raise it to cover the
  // kernel's multi-row path. HEARTH_CUDA_GEMV=0 turns the GEMV off.
  int gemv_max_rows = 1;
  // SwiGLU inside the down projection's input read (swiglu_linear). Off: slower on the
  // H200 (NOTES.md). HEARTH_CUDA_FUSE_SWIGLU=1 turns it on too.
  bool fuse_swiglu = false;
  // Fused decode forms at one row (backend.h: add_norm_linear, linear_residual,
  // attention_block): rms_norm in the GEMV prologue, residual add and SwiGLU in its
  // epilogue, q/k norm + RoPE + KV-cache write + split combine inside decode attention.
  // HEARTH_CUDA_FUSE=0 turns them off (A/B timing).
  bool fuse_decode = true;
  // q|k|v uploaded as one block (rows one after the other) and, at batch sizes past the
  // small-M GEMM's rows up to 2,048 rows, run as one cuBLASLt GEMM whose columns are split
  // into the three outputs (HEARTH_CUDA_FUSE_QKV=0 turns the GEMM back into one per weight).
  bool fuse_adjacent_weights = true;
  // gate|up uploaded as one block too and, at batch sizes past the small-M GEMM's rows up
  // to 256 rows, run as one cuBLASLt GEMM whose [gate | up] rows the SwiGLU kernel reads in
  // place (neither gate nor up is stored). HEARTH_CUDA_FUSE_GATE_UP=0/1 overrides it.
  bool fuse_gate_up = true;
  // linear (and the fused forms) with 2..this many rows takes hearth's tensor-core GEMM
  // for small M (mma_gemv_kernels.cu: batched decode steps) instead of cuBLASLt; at most
  // 64. 16: on the H200 the 8-request throughput bench ran 13 % faster with it, a layer's
  // projections at m = 16 take 123-126 us against cuBLASLt's 134-139 us, and from m = 32
  // the kernel loses to cuBLASLt (146 / 140 us; NOTES.md "Batched GEMM, session 3").
  // HEARTH_CUDA_MMA=N overrides it (0: off, for A/B) unless this is 0.
  int mma_max_rows = 16;
  // The most K splits that GEMM may use (1: none, every tile summed by one CTA; tests
  // cover both paths). HEARTH_CUDA_MMA_SPLITS overrides it.
  int mma_max_splits = 32;
  // Weight stages the GEMV copies before it waits for the previous kernel: 2 or 3 (0: the
  // default, 3). Same bits either way, only the timing differs (backend/cuda/NOTES.md,
  // fifth version). HEARTH_CUDA_GEMV_PRE_STAGES overrides it.
  int gemv_pre_stages = 0;
  // On a Hopper (sm_90a) device, m = 17..64 of that GEMM on wgmma (the same tiles and
  // epilogues; mma_gemv_kernels.cu, NOTES.md "Hopper wgmma GEMM, session 3") instead of
  // mma.sync. HEARTH_CUDA_WGMMA=0/1 overrides it.
  bool mma_wgmma = false;
  // One-token decode steps run every layer as one persistent kernel (decode_stack.cu:
  // the weights stream through one ring per CTA across all layers, grid barriers between
  // dependent phases) where it applies (head_dim 128, bf16 weights and KV cache). Off by
  // default: on the H200 it decodes at 175 tok/s against 219 for the op-by-op fused forms
  // (NOTES.md "Decode stack"; those reach 231 since session 5). HEARTH_CUDA_STACK=1 / =0
  // overrides it.
  bool decode_stack = false;
  // After a one-token attention block of one CTA per SM, the o_proj GEMV gives its first
  // CTAs (those that become resident beside attention and copy their first weights early)
  // longer runs of row groups (GemvParams::early_ctas). Same bits either way.
  // HEARTH_CUDA_GEMV_EARLY=0/1 overrides it.
  bool gemv_early_split = true;
};

struct CudaDeviceInfo {
  std::string name;
  int compute_major = 0, compute_minor = 0;
  int multiprocessors = 0;
  size_t total_bytes = 0, free_bytes = 0;
};

// True when the CUDA runtime finds at least one device (false without a driver).
bool cuda_device_available();
// Throws hearth::Error when the device does not exist.
CudaDeviceInfo cuda_device_info(int device = 0);

std::unique_ptr<Backend> make_cuda_backend(const CudaBackendOptions& options = {});

// Whether the current device runs the small-M GEMM's wgmma variant (CudaBackendOptions::
// mma_wgmma): an SM 9.0 device and a build with sm_90a code.
bool cuda_wgmma_gemm_available();

// Helpers for a backend made by make_cuda_backend (they throw for any other backend).
// Copies dst.nbytes() bytes from host memory into the device tensor dst.
void cuda_copy_from_host(Backend& backend, TensorView dst, const void* src);

struct CudaMemoryStats {
  size_t budget = 0;
  size_t in_use = 0;    // live allocations
  size_t reserved = 0;  // live + cached blocks held from the driver
  size_t peak_in_use = 0;
};
CudaMemoryStats cuda_memory_stats(const Backend& backend);
// Steps that ran their layers as the decode stack (decode_layers returned true), for tests.
int64_t cuda_decode_stack_calls(const Backend& backend);

}  // namespace hearth
