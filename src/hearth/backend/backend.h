// The op interface: everything the Qwen3 graph (model/qwen3.cpp) needs from a device.
// The CPU backend is the readable oracle; the CUDA backend must match it (parity tests).
//
// Conventions
// - Activations are row-major [tokens, features] in activation_dtype() (CPU: F32,
//   CUDA: BF16). Weights keep HF's [out, in] layout; linear computes x @ w^T with fp32
//   accumulation.
// - One step processes a flattened batch of tokens from several sequences. The host
//   describes it in a StepBatch; upload_batch() turns it into a DeviceBatch that the ops
//   take explicitly (no global per-step state).
// - The KV cache is paged: per layer, K and V are [num_blocks, block_size, kv_heads,
//   head_dim]. Token t of a step writes its K/V to slot_mapping[t] = block * block_size +
//   offset; sequence s reads its context through block_table row s.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hearth/core/tensor.h"
#include "hearth/model/config.h"
#include "hearth/model/weights.h"

namespace hearth {

struct KvCacheSpec {
  int num_layers = 0;
  int num_blocks = 0;
  int block_size = 16;
  int num_kv_heads = 0;
  int head_dim = 0;
  DType dtype = DType::F32;

  size_t bytes_per_layer() const {
    return 2ull * num_blocks * block_size * num_kv_heads * head_dim * dtype_size(dtype);
  }
};

// Host-side description of one forward step.
struct StepBatch {
  std::vector<int32_t> token_ids;     // [num_tokens], sequences concatenated
  std::vector<int32_t> positions;     // [num_tokens], position of each token in its sequence
  std::vector<int32_t> slot_mapping;  // [num_tokens], KV slot each token writes
  std::vector<int32_t> query_start;   // [num_seqs + 1], offsets of each sequence's tokens
  std::vector<int32_t> context_lens;  // [num_seqs], KV length after this step (cached + new)
  std::vector<int32_t> block_tables;  // [num_seqs * max_blocks_per_seq], -1 padded
  int max_blocks_per_seq = 0;
  std::vector<int32_t> logits_rows;   // token rows whose logits are wanted, in output order

  int num_tokens() const { return static_cast<int>(token_ids.size()); }
  int num_seqs() const { return static_cast<int>(context_lens.size()); }
};

// A backend's own copy of a StepBatch (device memory on CUDA).
class DeviceBatch {
 public:
  virtual ~DeviceBatch() = default;
  virtual const StepBatch& host() const = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual DType activation_dtype() const = 0;

  // ---- memory ----
  virtual TensorView alloc(DType dtype, const Shape& shape) = 0;
  virtual void free(TensorView& t) = 0;
  // Makes backend-resident weights from host weights (the CPU backend returns views of
  // the same memory; CUDA copies them to the device). The host weights must outlive
  // the returned views on the CPU backend.
  virtual ModelWeights upload_weights(const ModelWeights& host) = 0;
  // Allocates the paged KV cache (replaces any previous one).
  virtual void init_kv_cache(const KvCacheSpec& spec) = 0;
  virtual const KvCacheSpec& kv_cache_spec() const = 0;
  virtual std::unique_ptr<DeviceBatch> upload_batch(const StepBatch& batch) = 0;

  // ---- ops ----
  // out[t] = table[ids[t]]          out: [tokens, hidden]
  virtual void embedding(const Weight& table, const DeviceBatch& batch, TensorView out) = 0;
  // out = x / rms(x) * w            x, out: [tokens, hidden]
  virtual void rms_norm(TensorView x, const Weight& w, float eps, TensorView out) = 0;
  // residual += x; out = rms_norm(residual) * w       (fused residual add + norm)
  virtual void add_rms_norm(TensorView residual, TensorView x, const Weight& w, float eps,
                            TensorView out) = 0;
  // out = x @ w^T                   x: [tokens, in], w: [out, in], out: [tokens, out]
  // out is in activation_dtype(), or F32 (the model asks for fp32 logits).
  virtual void linear(TensorView x, const Weight& w, TensorView out) = 0;
  // In place: per-head RMSNorm of q ([tokens, heads, head_dim]) and k ([tokens,
  // kv_heads, head_dim]) with their weights, then NeoX RoPE at batch positions.
  virtual void qk_norm_rope(TensorView q, TensorView k, const Weight& q_norm, const Weight& k_norm,
                            float eps, const RopeTable& rope, const DeviceBatch& batch) = 0;
  // Writes k, v ([tokens, kv_heads, head_dim]) into layer's cache at slot_mapping, then
  // causal GQA attention of q ([tokens, heads, head_dim]) over each sequence's context.
  // out: [tokens, heads * head_dim].
  virtual void attention(int layer, TensorView q, TensorView k, TensorView v, float scale,
                         const DeviceBatch& batch, TensorView out) = 0;
  // out = silu(gate) * up           gate, up, out: [tokens, intermediate]
  virtual void swiglu(TensorView gate, TensorView up, TensorView out) = 0;
  // Gathers rows batch.logits_rows of x ([tokens, hidden]) into out ([rows, hidden]).
  virtual void gather_rows(TensorView x, const DeviceBatch& batch, TensorView out) = 0;
  // Copies x to host memory as fp32 (dst holds x.numel() floats).
  virtual void to_host_f32(TensorView x, float* dst) = 0;
  virtual void synchronize() = 0;

  // ---- measurement (benchmarks) ----
  // Device-to-device copy bandwidth in GB/s, counting bytes read plus bytes written, as
  // measured now by the backend itself (0 if it cannot measure).
  virtual double measure_copy_bandwidth_gbps() { return 0.0; }
  // Peak bytes of device memory this backend has held (weights, KV, activations).
  virtual size_t peak_memory_bytes() const { return 0; }
};

// The CPU reference backend. threads <= 0: all hardware threads.
std::unique_ptr<Backend> make_cpu_backend(int threads = 0);

}  // namespace hearth
