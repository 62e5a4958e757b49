// The CPU reference backend. Declared here (not only behind make_cpu_backend) so that
// tests and tools can inspect its KV cache.
#pragma once

#include <cstdlib>
#include <memory>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "hearth/backend/backend.h"
#include "hearth/backend/cpu/cpu_kernels.h"
#include "hearth/core/thread_pool.h"
#include "hearth/sampling/logits_processors.h"

namespace hearth {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads);
  ~CpuBackend() override;

  std::string name() const override { return "cpu"; }
  DType activation_dtype() const override { return DType::F32; }

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
  void synchronize() override {}

  // Sampling "on the device" (cpu_sampling.cpp): sample_row per row, the reference of the
  // CUDA kernels. Picks are made in enqueue_sample and handed out by read_greedy.
  bool supports_device_sampling() const override { return true; }
  void upload_sampling(const SampleBatch& batch) override;
  void enqueue_sample(TensorView logits) override;
  void read_greedy(std::span<GreedyPick> out) override;

  // The K and V of one layer of the KV cache (fp32, [num_blocks, block_size, kv_heads,
  // head_dim]); init_kv_cache must have been called.
  cpu::PagedKvLayer kv_layer(int layer) const;
  int threads() const { return pool_.size(); }

 private:
  struct FreeDeleter {
    void operator()(float* p) const { std::free(p); }
  };
  using HostBuffer = std::unique_ptr<float, FreeDeleter>;

  ThreadPool pool_;
  std::mutex alloc_mu_;
  std::unordered_set<void*> live_;  // alloc()'d blocks, to reject foreign or double frees
  KvCacheSpec kv_spec_;
  std::vector<HostBuffer> k_cache_, v_cache_;  // one buffer per layer

  SampleBatch sampling_;              // the last upload_sampling
  bool sampling_uploaded_ = false;
  std::vector<GreedyPick> picks_;     // the last enqueue_sample's picks
  std::vector<float> raw_row_;        // a row's raw logits (logprobs)
  std::vector<Candidate> candidates_;
};

}  // namespace hearth
