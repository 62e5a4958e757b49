// The CUDA backend's class, shared by cuda_backend.cpp (memory, weights, KV cache, batches)
// and cuda_ops.cpp (the ops). Internal: include cuda_backend.h from outside backend/cuda.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "hearth/backend/cuda/cuda_backend.h"
#include "hearth/backend/cuda/device_memory.h"
#include "hearth/backend/cuda/gemm.h"

namespace hearth::cuda {

// A StepBatch in device memory: every int32 array in one buffer (one upload per step),
// plus what the host derives once per step: each token's sequence, the prefill tiles
// (pairs of sequence and first row, heaviest first) and the longest query and context.
class CudaDeviceBatch final : public DeviceBatch {
 public:
  CudaDeviceBatch(StepBatch host, DeviceMemory& memory) : host_(std::move(host)), memory_(memory) {}
  ~CudaDeviceBatch() override { memory_.release(buffer); }
  const StepBatch& host() const override { return host_; }

  StepBatch host_;
  DeviceMemory& memory_;
  int32_t* buffer = nullptr;
  const int32_t* token_ids = nullptr;
  const int32_t* positions = nullptr;
  const int32_t* slot_mapping = nullptr;
  const int32_t* query_start = nullptr;
  const int32_t* context_lens = nullptr;
  const int32_t* block_tables = nullptr;
  const int32_t* logits_rows = nullptr;
  const int32_t* token_seq = nullptr;
  const int32_t* prefill_tiles = nullptr;
  int num_prefill_tiles = 0;
  int max_q_len = 0;
  int max_context = 0;
  // KV-cache geometry (num_blocks, block_size) the block tables were last checked against.
  mutable int checked_num_blocks = -1;
  mutable int checked_block_size = -1;
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(const CudaBackendOptions& options);
  ~CudaBackend() override;

  std::string name() const override { return "cuda"; }
  DType activation_dtype() const override { return DType::BF16; }

  TensorView alloc(DType dtype, const Shape& shape) override;
  void free(TensorView& t) override;
  ModelWeights upload_weights(const ModelWeights& host) override;
  void init_kv_cache(const KvCacheSpec& spec) override;
  const KvCacheSpec& kv_cache_spec() const override { return kv_spec_; }
  std::unique_ptr<DeviceBatch> upload_batch(const StepBatch& batch) override;

  void embedding(const Weight& table, const DeviceBatch& batch, TensorView out) override;
  void rms_norm(TensorView x, const Weight& w, float eps, TensorView out) override;
  void add_rms_norm(TensorView residual, TensorView x, const Weight& w, float eps,
                    TensorView out) override;
  void linear(TensorView x, const Weight& w, TensorView out) override;
  void qk_norm_rope(TensorView q, TensorView k, const Weight& q_norm, const Weight& k_norm,
                    float eps, const RopeTable& rope, const DeviceBatch& batch) override;
  void attention(int layer, TensorView q, TensorView k, TensorView v, float scale,
                 const DeviceBatch& batch, TensorView out) override;
  void swiglu(TensorView gate, TensorView up, TensorView out) override;
  void gather_rows(TensorView x, const DeviceBatch& batch, TensorView out) override;
  void to_host_f32(TensorView x, float* dst) override;
  void synchronize() override;
  double measure_copy_bandwidth_gbps() override;
  size_t peak_memory_bytes() const override;

  void copy_from_host(TensorView dst, const void* src);
  CudaMemoryStats memory_stats() const;

 private:
  Weight upload_weight(const Weight& w);
  // Grows the per-step scratch (decode split partials) to at least `bytes`.
  void* scratch(size_t bytes);
  // After every op: with debug_sync, wait and check so a fault names its op.
  void op_done(const char* op);
  void check_batch_against_cache(const CudaDeviceBatch& b) const;
  const CudaDeviceBatch& device_batch(const DeviceBatch& batch) const;

  int device_ = 0;
  int multiprocessors_ = 0;
  bool debug_sync_ = false;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<DeviceMemory> memory_;
  std::unique_ptr<Gemm> gemm_;
  std::vector<void*> weight_blocks_;  // device copies made by upload_weights
  KvCacheSpec kv_spec_;
  void* kv_base_ = nullptr;  // [layers][K, V][num_blocks, block_size, kv_heads, head_dim]
  void* scratch_ = nullptr;
  size_t scratch_bytes_ = 0;
  // Pinned staging for batch uploads (a truly asynchronous copy); upload_done_ marks when
  // the previous copy has left it.
  void* pinned_ = nullptr;
  size_t pinned_bytes_ = 0;
  cudaEvent_t upload_done_ = nullptr;
};

}  // namespace hearth::cuda
