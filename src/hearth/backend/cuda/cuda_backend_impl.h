// The CUDA backend's class, shared by cuda_backend.cpp (memory, weights, KV cache, batches)
// and cuda_ops.cpp (the ops). Internal: include cuda_backend.h from outside backend/cuda.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "hearth/backend/cuda/cuda_backend.h"
#include "hearth/backend/cuda/device_memory.h"
#include "hearth/backend/cuda/gemm.h"
#include "hearth/backend/cuda/decode_stack.h"
#include "hearth/backend/cuda/kernels.h"

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
  // A fixed batch (upload_batch_fixed): its buffer outlives the step and is rewritten in
  // place, and decode attention splits every context into graph_splits chunks sized on
  // the device (the context grows between replays of one recording).
  bool fixed = false;
  int graph_splits = 0;
  size_t buffer_ints = 0;
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
  void linear_multi(TensorView x, std::span<const Weight* const> ws,
                    std::span<const TensorView> outs) override;
  void qk_norm_rope(TensorView q, TensorView k, const Weight& q_norm, const Weight& k_norm,
                    float eps, const RopeTable& rope, const DeviceBatch& batch) override;
  void attention(int layer, TensorView q, TensorView k, TensorView v, float scale,
                 const DeviceBatch& batch, TensorView out) override;
  void swiglu(TensorView gate, TensorView up, TensorView out) override;
  void swiglu_linear(TensorView gate, TensorView up, const Weight& w, TensorView act,
                     TensorView out) override;
  void gather_rows(TensorView x, const DeviceBatch& batch, TensorView out) override;
  void add_norm_linear(TensorView residual, TensorView proj, const Weight& norm, float eps,
                       TensorView normed, std::span<const Weight* const> ws,
                       std::span<const TensorView> outs, TensorView act) override;
  bool linear_residual(TensorView x, const Weight& w, TensorView out, TensorView residual) override;
  void attention_block(int layer, TensorView q, TensorView k, TensorView v, const Weight& q_norm,
                       const Weight& k_norm, float eps, const RopeTable& rope, float scale,
                       const DeviceBatch& batch, TensorView out) override;
  bool decode_layers(const ModelWeights& weights, TensorView residual, float eps,
                     const RopeTable& rope, float scale, const DeviceBatch& batch) override;
  void to_host_f32(TensorView x, float* dst) override;
  void synchronize() override;
  double measure_copy_bandwidth_gbps() override;

  bool supports_device_greedy() const override { return true; }
  void enqueue_greedy(TensorView logits, int top_logprobs) override;
  void read_greedy(std::span<GreedyPick> out) override;

  bool supports_device_sampling() const override { return true; }
  void upload_sampling(const SampleBatch& batch) override;
  void enqueue_sample(TensorView logits) override;

  bool supports_graphs() const override { return !debug_sync_; }
  const DeviceBatch& upload_batch_fixed(const StepBatch& batch) override;
  bool has_graph(const GraphKey& key) const override { return graphs_.count(key) != 0; }
  void begin_graph(const GraphKey& key) override;
  void end_graph() override;
  void cancel_graph() override;
  void replay_graph(const GraphKey& key) override;
  void invalidate_graphs() override;
  size_t peak_memory_bytes() const override;

  void copy_from_host(TensorView dst, const void* src);
  CudaMemoryStats memory_stats() const;
  int64_t decode_stack_calls() const { return decode_stack_calls_; }

 private:
  Weight upload_weight(const Weight& w);
  // Uploads `ws` into one block, each matrix's rows after the previous one's when they
  // share their input size (else each on its own, as upload_weight).
  std::vector<Weight> upload_adjacent(std::span<const Weight* const> ws);
  void check_uploadable(const Weight& w) const;
  Weight upload_weight_to(const Weight& w, void* dst);  // dst: w.t.numel() bf16 elements
  // Grows the per-step scratch (decode split partials) to at least `bytes`.
  void* scratch(size_t bytes);
  // Grows a buffer whose address recorded step graphs hold to at least `need` bytes (the
  // recordings are dropped; growth while recording is an error naming `what`). True when it
  // was reallocated (contents undefined).
  bool grow_step_buffer(void*& buf, size_t& bytes, size_t need, const char* what);
  // After every op: with debug_sync, wait and check so a fault names its op.
  void op_done(const char* op);
  void check_batch_against_cache(const CudaDeviceBatch& b) const;
  const CudaDeviceBatch& device_batch(const DeviceBatch& batch) const;
  // Validates a step batch and packs its int32 arrays (and the derived per-token sequence
  // and prefill tiles) into `packed`; fills db's host-derived fields and `offsets`.
  void pack_batch(const StepBatch& b, CudaDeviceBatch& db, std::vector<int32_t>& packed,
                  std::vector<size_t>& offsets);
  // Copies `packed` into db.buffer through the pinned staging buffer and sets db's pointers.
  void copy_packed(CudaDeviceBatch& db, const std::vector<int32_t>& packed,
                   const std::vector<size_t>& offsets);
  // Whether linear(x, w) for `tokens` rows can take the GEMV kernel.
  bool gemv_eligible(const TensorView& x, const Weight& w, int64_t tokens) const;
  // Whether linear(x, w) for `tokens` rows can take the small-M tensor-core GEMM.
  bool mma_eligible(const TensorView& x, const Weight& w, int64_t tokens) const;
  // Plans and launches it (split partials and tile counters grown here).
  void run_mma(MmaGemvParams& p);
  // attention's checks (shapes, cache, batch against the cache) and its kernel arguments.
  AttentionParams attention_params(int layer, const TensorView& q, const TensorView& k,
                                   const TensorView& v, float scale, const CudaDeviceBatch& db,
                                   const TensorView& out) const;
  // qk_norm_rope's checks; returns the RoPE arguments of the kernels.
  RopeArgs rope_args(const Weight& q_norm, const Weight& k_norm, const RopeTable& rope,
                     const TensorView& q, const TensorView& k, int tokens) const;
  // The attention kernels after the cache write: prefill, or split decode + combine.
  void run_attention(const AttentionParams& p, const CudaDeviceBatch& db);
  // Decode splits and split size for this batch (split_size 0: sized on the device).
  std::pair<int, int> decode_split_plan(const CudaDeviceBatch& db) const;
  // Zeroed int32 counters for the fused decode attention's split combine (at least n).
  int* attention_counters(size_t n);
  // Decode splits for a batch whose longest context is `max_context` (static) or may grow
  // up to it (graphs).
  int decode_splits(int tokens, int max_context) const;
  void drop_graphs();
  // Greedy pick buffers for `rows` rows of `vocab` with `top` logprobs (grows outside
  // recordings only; growth drops recorded graphs).
  void ensure_greedy_buffers(int rows, int vocab, int top);
  // After launch_greedy (and launch_sample): results to the pinned mirror, done event.
  void finish_picks(int rows, int top, const char* op);

  int device_ = 0;
  int multiprocessors_ = 0;
  bool debug_sync_ = false;
  int gemv_max_rows_ = 1;  // 0 with HEARTH_CUDA_GEMV=0: every linear through cuBLASLt
  // SwiGLU inside the down GEMV's input read. Off by default: on the H200 it ran at 64 %
  // of copy against 84 % for the two ops (its registers allow one CTA per SM), and decode
  // at 184 against 197 tok/s.
  bool fuse_swiglu_ = false;
  // The fused decode forms (add_norm_linear, linear_residual, attention_block as fewer
  // kernels; CudaBackendOptions::fuse_decode, HEARTH_CUDA_FUSE=0 turns them off).
  bool fuse_decode_ = true;
  // GEMV grid: this many CTAs per SM (persistent; 0: one CTA per row group;
  // HEARTH_CUDA_GEMV_CTAS_PER_SM). Two: 128 KB of weight copies in flight per SM; one CTA
  // per SM measured 8.0 against 5.2 ms per token on the H200 (NOTES.md).
  int gemv_ctas_per_sm_ = 2;
  // Decode attention splits: enough CTAs for this many per SM (one wave at 3: the kernel
  // fits about 3 CTAs per SM by registers). HEARTH_CUDA_DECODE_CTAS_PER_SM (1..8) for A/B.
  int decode_ctas_per_sm_ = 3;
  bool decode_ctas_forced_ = false;  // set by HEARTH_CUDA_DECODE_CTAS_PER_SM
  // CudaBackendOptions::gemv_early_split; early_ctas_: the o_proj CTAs that fit beside a
  // one-token attention block of at most one CTA per SM, set by it for the linear_residual
  // right after it, which clears it.
  bool gemv_early_split_ = true;
  int early_ctas_ = 0;
  // Ring stages the GEMV copies before its wait (0: the kernel's default, the whole ring;
  // HEARTH_CUDA_GEMV_PRE_STAGES=2 for the earlier order).
  int gemv_pre_stages_ = 0;
  void gemv_grid(GemvParams& p) const {
    p.max_ctas = gemv_ctas_per_sm_ * multiprocessors_;
    p.pre_stages = gemv_pre_stages_;
  }
  int* counters_ = nullptr;
  size_t counters_n_ = 0;
  // The decode stack (cuda_decode_stack.cpp; CudaBackendOptions::decode_stack,
  // HEARTH_CUDA_STACK=1/0 overrides it): the per-layer pointer table on the device (and the
  // host copy it was made from) and the buffers its step graphs hold.
  bool decode_stack_ = false;
  void* stack_table_ = nullptr;
  size_t stack_table_bytes_ = 0;
  std::vector<StackLayer> stack_table_host_;
  void* stack_buf_ = nullptr;
  size_t stack_buf_bytes_ = 0;
  int64_t decode_stack_calls_ = 0;
  // HEARTH_CUDA_STACK_PROFILE=1: per-phase %globaltimer stamps of the last step, printed
  // to stderr by the destructor (print_stack_profile).
  bool stack_profile_ = false;
  unsigned long long* stack_prof_ = nullptr;  // in stack_buf_; laid out for stack_table_host_
  void print_stack_profile();
  // Small-M tensor-core GEMM: rows routed (2..mma_max_rows_; 0 = off), its K-split cap,
  // and its split partials and per-tile counters (zeroed once; the kernel leaves them zero).
  int mma_max_rows_ = 16;
  // 2 by default. Where the GEMV takes a row count it wins; HEARTH_CUDA_MMA_MIN_ROWS=1
  // with HEARTH_CUDA_GEMV=0 sends single-row linear / linear_residual here (A/B).
  int mma_min_rows_ = 2;
  int mma_max_splits_ = 32;
  // linear_multi over adjacent weights: one GEMM's output before its columns are split.
  bool linear_adjacent(TensorView x, std::span<const Weight* const> ws, std::span<const TensorView> outs,
                       int64_t tokens);
  void* adjacent_out_ = nullptr;
  size_t adjacent_out_bytes_ = 0;
  bool fuse_adjacent_ = true;  // HEARTH_CUDA_FUSE_QKV=0: a GEMM per weight (A/B)
  // add_norm_linear's gate|up + SwiGLU past the small-M GEMM's rows, where the weights are
  // adjacent (gate_up_adjacent; normed already written): up to kGateUpMaxTokens rows one
  // cuBLASLt GEMM over [gate; up] whose rows the SwiGLU kernel reads, past it a GEMM each.
  static constexpr int64_t kGateUpMaxTokens = 256;
  bool gate_up_adjacent(const TensorView& normed, std::span<const Weight* const> ws, const TensorView& act,
                        int64_t tokens) const;
  void gate_up_swiglu(TensorView normed, std::span<const Weight* const> ws, std::span<const TensorView> outs,
                      TensorView act, int64_t tokens);
  bool fuse_gate_up_ = true;   // HEARTH_CUDA_FUSE_GATE_UP=0: two GEMMs + SwiGLU (A/B)
  bool mma_wgmma_ = false;  // m = 17..64 on wgmma where the device runs it
  float* mma_partials_ = nullptr;
  size_t mma_partials_n_ = 0;
  int* mma_counters_ = nullptr;
  size_t mma_counters_n_ = 0;
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

  // Device greedy picks: scratch, results (device) and their pinned host mirror.
  void* greedy_scratch_ = nullptr;
  size_t greedy_scratch_bytes_ = 0;
  int32_t* greedy_results_ = nullptr;
  int32_t* greedy_host_ = nullptr;
  int greedy_rows_capacity_ = 0;
  int greedy_rows_ = 0;  // rows of the last enqueue
  int greedy_top_ = 0;
  cudaEvent_t greedy_done_ = nullptr;

  // Device sampling (sampling.cpp): the uploaded SampleBatch in one device buffer at fixed
  // offsets (rows | masks | penalty tokens | counts | raw logits of penalty tokens | meta),
  // sized by capacities that grow geometrically, staged through a pinned mirror.
  struct PinnedDeleter {
    void operator()(void* p) const;
  };
  struct EventDeleter {
    void operator()(cudaEvent_t e) const;
  };
  struct SampleLayout {
    size_t rows = 0, mask_words = 0, penalties = 0;  // capacities
    size_t rows_off = 0, masks_off = 0, tokens_off = 0, counts_off = 0, raw_off = 0, meta_off = 0;
    size_t bytes = 0;
  };
  SampleLayout sample_layout_;
  void* sample_buffer_ = nullptr;  // device
  std::unique_ptr<void, PinnedDeleter> sample_pinned_;
  std::unique_ptr<std::remove_pointer_t<cudaEvent_t>, EventDeleter> sample_upload_done_;
  void* sample_scratch_ = nullptr;
  size_t sample_scratch_bytes_ = 0;
  int sample_rows_ = -1;        // rows of the last upload (-1: none)
  bool sample_plain_ = false;   // the last upload is SampleBatch::plain_greedy()
  bool sample_greedy_only_ = false;  // ... SampleBatch::greedy_only()
  int sample_top_ = 0;
  int32_t sample_max_token_ = -1;  // largest penalty token of the last upload

  // Step graphs and the fixed batches they read.
  std::map<GraphKey, cudaGraphExec_t> graphs_;
  std::map<StepShape, std::unique_ptr<CudaDeviceBatch>> fixed_batches_;
  bool capturing_ = false;
  GraphKey capture_key_;
  // The picks a recording enqueued (rows, top; rows -1: none), restored by its replay so
  // that read_greedy expects the replayed rows, not those of the last eager enqueue.
  std::pair<int, int> capture_picks_{-1, 0};
  std::map<GraphKey, std::pair<int, int>> graph_picks_;
};

}  // namespace hearth::cuda
