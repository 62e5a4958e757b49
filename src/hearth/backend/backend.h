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

#include <compare>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "hearth/backend/kv_fp8.h"
#include "hearth/core/error.h"
#include "hearth/core/tensor.h"
#include "hearth/model/config.h"
#include "hearth/model/weights.h"
#include "hearth/sampling/sample_row.h"

namespace hearth {

struct KvCacheSpec {
  int num_layers = 0;
  int num_blocks = 0;
  int block_size = 16;
  int num_kv_heads = 0;
  int head_dim = 0;
  DType dtype = DType::F32;
  // fp8 (kv_fp8.h): K and V stored as e4m3(x / scale), read as e4m3 * scale, one scale
  // per tensor (1.0: vLLM's --kv-cache-dtype fp8 without calibrated scales). The CUDA
  // cache then holds one byte per element; the CPU reference keeps fp32 storage and
  // rounds every written value through e4m3, so both read the same values.
  KvCacheDtype cache_dtype = KvCacheDtype::Auto;
  float k_scale = 1.0f;
  float v_scale = 1.0f;

  bool fp8() const { return cache_dtype == KvCacheDtype::Fp8E4M3; }
  // Bytes of one stored K or V element (what KvLayout::dtype_bytes plans with).
  size_t element_bytes() const { return fp8() ? 1 : dtype_size(dtype); }
  size_t bytes_per_layer() const {
    return 2ull * num_blocks * block_size * num_kv_heads * head_dim * element_bytes();
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
  // Checks that the fields agree with each other (sizes, offsets, rows); every backend's
  // upload_batch calls it. Throws hearth::Error ("internal check failed": a caller bug).
  void validate() const;
};

// The shape of a step: what a recorded step graph depends on besides buffer addresses.
struct StepShape {
  int tokens = 0;
  int seqs = 0;
  int max_blocks_per_seq = 0;
  int logits_rows = 0;
  auto operator<=>(const StepShape&) const = default;
};
inline StepShape step_shape(const StepBatch& b) {
  return {b.num_tokens(), b.num_seqs(), b.max_blocks_per_seq, static_cast<int>(b.logits_rows.size())};
}

// A recorded step: its batch shape plus a caller-chosen variant (e.g. how many logprobs
// the recorded sampling reports).
struct GraphKey {
  StepShape shape;
  int variant = 0;
  auto operator<=>(const GraphKey&) const = default;
};

// The greedy pick of one logits row, with log-probabilities of the raw logits (the
// sampler's conventions: lowest id on ties, NaN never picked; top: best first).
struct GreedyPick {
  int32_t id = -1;
  float logprob = 0.0f;
  std::vector<std::pair<int, float>> top;
};

// SampleRow (one logits row's sampling parameters and u) lives in sampling/sample_row.h,
// next to the arithmetic every backend reproduces.

// The sampling inputs of one step: one SampleRow per logits row, in logits-row order.
struct SampleBatch {
  std::vector<SampleRow> rows;
  // [mask rows, mask_words]: bit (i % 32) of word i / 32 set = token i allowed (the
  // ConstrainedDecoder's bitmask); ids at or past mask_words * 32 are not allowed.
  std::vector<uint32_t> masks;
  int32_t mask_words = 0;
  // Per row, its distinct penalized tokens (prompt and generated, sorted) with the number of
  // times each was generated (0: prompt only). The repetition penalty applies to every listed
  // token, presence / frequency to those with a count > 0 (Sampler's rules).
  std::vector<int32_t> penalty_tokens;
  std::vector<int32_t> penalty_counts;
  // Top alternatives reported per row (log-softmax of the raw logits, <= 32).
  int32_t top_logprobs = 0;

  // Checks sizes, ranges and parameter values (vocab_size <= sample_math::kMaxVocab;
  // penalty tokens strictly increasing per row and inside the vocabulary; masks a whole
  // number of mask_words rows); throws hearth::Error ("internal check": a caller bug).
  void validate(int vocab_size) const;
  // Every row greedy without mask or penalties: the greedy kernels alone pick them.
  bool plain_greedy() const;
  // Every row greedy (some with a mask or penalties): no top-k / top-p / draw kernels.
  bool greedy_only() const;
  // What a recorded enqueue_sample depends on besides buffer addresses, the row count and
  // top_logprobs: fold it into GraphKey::variant. 0: plain_greedy(); 2: greedy_only() (e.g.
  // constrained greedy decoding); 1: a batch with sampled rows.
  int graph_variant() const { return plain_greedy() ? 0 : greedy_only() ? 2 : 1; }
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
  // outs[i] = x @ ws[i]^T for weights sharing one input (q/k/v, gate/up). A backend may
  // run them as one pass (the CUDA decode GEMV does); the default runs linear per weight.
  virtual void linear_multi(TensorView x, std::span<const Weight* const> ws,
                            std::span<const TensorView> outs) {
    for (size_t i = 0; i < ws.size() && i < outs.size(); ++i) linear(x, *ws[i], outs[i]);
  }
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
  // out = swiglu(gate, up) @ w^T, with `act` ([tokens, intermediate]) as the swiglu
  // output where the backend materializes it (the default does; the CUDA decode GEMV
  // computes swiglu inside its input read and leaves act untouched).
  virtual void swiglu_linear(TensorView gate, TensorView up, const Weight& w, TensorView act,
                             TensorView out) {
    swiglu(gate, up, act);
    linear(act, w, out);
  }
  // ---- fused forms (a backend may run each as fewer kernels; the defaults compose the
  // ops above, so every backend has them) ----
  // residual += proj (skipped when proj has no data); normed = rms_norm(residual) * norm;
  // outs[i] = normed @ ws[i]^T. With act set (two weights: gate and up), act =
  // silu(outs[0]) * outs[1] too, and outs may be left unwritten (the CUDA decode GEMV
  // computes act in its epilogue and stores only that).
  virtual void add_norm_linear(TensorView residual, TensorView proj, const Weight& norm, float eps,
                               TensorView normed, std::span<const Weight* const> ws,
                               std::span<const TensorView> outs, TensorView act) {
    if (proj.data != nullptr)
      add_rms_norm(residual, proj, norm, eps, normed);
    else
      rms_norm(residual, norm, eps, normed);
    linear_multi(normed, ws, outs);
    if (act.data != nullptr) {
      HEARTH_CHECK(outs.size() == 2, "add_norm_linear: act needs two outputs (gate, up), got {}",
                   outs.size());
      swiglu(outs[0], outs[1], act);
    }
  }
  // out = x @ w^T. A backend that can fold the next residual add into this op also does
  // residual += out and returns true; then the caller passes no proj to the next
  // add_norm_linear. false (the default): residual is untouched.
  virtual bool linear_residual(TensorView x, const Weight& w, TensorView out,
                               TensorView /*residual*/) {
    linear(x, w, out);
    return false;
  }
  // Every decoder layer of a one-token step (batch.host(): one sequence, one token) as one
  // call, where a backend can fuse them across layers (the CUDA decode stack: one kernel).
  // On entry residual ([1, hidden]) holds the embedding; on true it holds the residual
  // stream after the last layer with every projection added (the caller then runs only the
  // final norm and lm_head), and each layer's k/v row is in the cache. false (the default,
  // and wherever the fused form does not apply): nothing was done; run the layers op by op.
  virtual bool decode_layers(const ModelWeights& /*weights*/, TensorView /*residual*/,
                             float /*eps*/, const RopeTable& /*rope*/, float /*scale*/,
                             const DeviceBatch& /*batch*/) {
    return false;
  }
  // qk_norm_rope, then attention (KV-cache write included), as one call so that a backend
  // can fuse them (the CUDA decode path is one kernel). q and k are the projections before
  // norm and RoPE; their contents afterwards are unspecified.
  virtual void attention_block(int layer, TensorView q, TensorView k, TensorView v,
                               const Weight& q_norm, const Weight& k_norm, float eps,
                               const RopeTable& rope, float scale, const DeviceBatch& batch,
                               TensorView out) {
    qk_norm_rope(q, k, q_norm, k_norm, eps, rope, batch);
    attention(layer, q, k, v, scale, batch, out);
  }

  // Gathers rows batch.logits_rows of x ([tokens, hidden]) into out ([rows, hidden]).
  virtual void gather_rows(TensorView x, const DeviceBatch& batch, TensorView out) = 0;
  // Copies x to host memory as fp32 (dst holds x.numel() floats).
  virtual void to_host_f32(TensorView x, float* dst) = 0;
  virtual void synchronize() = 0;

  // ---- sampling on the device ----
  // Greedy picks where the logits are, so that full logits never cross to the host.
  // enqueue_greedy() queues the pick of every row of `logits` ([rows, vocab] F32, this
  // backend's memory) with `top_logprobs` (<= 32) alternatives; it can be recorded into a
  // step graph. read_greedy() waits for the last enqueued picks and returns them (out holds
  // one per row). Backends without it say false and the caller copies logits to the host.
  virtual bool supports_device_greedy() const { return false; }
  virtual void enqueue_greedy(TensorView /*logits*/, int /*top_logprobs*/) {
    unsupported("enqueue_greedy");
  }
  virtual void read_greedy(std::span<GreedyPick> /*out*/) { unsupported("read_greedy"); }

  // ---- general sampling on the device (issue 4: full logits never cross to the host) ----
  // upload_sampling() copies a SampleBatch into device buffers kept at fixed addresses
  // (rewritten in place each step, so a recorded step graph reads the new rows; call it
  // outside a recording, before the replay; it validates the batch). Growing those buffers
  // (more rows, longer penalty lists, more mask rows) drops recorded graphs, as the greedy
  // scratch does; they grow geometrically, so this is rare.
  // enqueue_sample() queues, for every row of `logits` ([rows, vocab] F32, this backend's
  // memory, rows == the uploaded batch's rows): mask -> repetition / presence / frequency
  // penalties -> greedy, or temperature -> min-p -> top-k -> top-p -> draw with u
  // (sampling/row_sampler.h: sample_row), plus the raw logits' logprob of the pick and the
  // batch's top_logprobs alternatives. `logits` is scratch: the penalties are applied in
  // place (after the logprobs have read the raw values), so its contents afterwards are
  // unspecified. It can be recorded into a step graph (what the recording depends on:
  // SampleBatch::graph_variant() and top_logprobs); read_greedy() returns its picks and
  // throws hearth::Error for a row where no token can be picked. The CPU backend implements
  // it with sample_row, the reference the CUDA kernels are tested against: same picks for
  // the same logits and u, exactly.
  virtual bool supports_device_sampling() const { return false; }
  virtual void upload_sampling(const SampleBatch& /*batch*/) { unsupported("upload_sampling"); }
  virtual void enqueue_sample(TensorView /*logits*/) { unsupported("enqueue_sample"); }

  // ---- step graphs (decode) ----
  // Record a step's ops once and replay them (CUDA graphs). The contract:
  // - upload_batch_fixed() copies a pure decode batch (one token per sequence) into a
  //   device batch kept at one address per StepShape, rewritten in place by every upload
  //   of that shape; it validates the batch against the KV cache each time;
  // - ops enqueued between begin_graph(key) and end_graph() with that batch (and buffers
  //   at fixed addresses: the caller's activations) are recorded, not run; replay_graph(key)
  //   runs them again against the batch's current contents;
  // - the caller drops every recording with invalidate_graphs() when it reallocates a
  //   recorded buffer; init_kv_cache drops them too. cancel_graph() ends a recording that
  //   failed half-way and discards it.
  virtual bool supports_graphs() const { return false; }
  virtual const DeviceBatch& upload_batch_fixed(const StepBatch& /*batch*/) {
    unsupported("upload_batch_fixed");
  }
  virtual bool has_graph(const GraphKey& /*key*/) const { return false; }
  virtual void begin_graph(const GraphKey& /*key*/) { unsupported("begin_graph"); }
  virtual void end_graph() { unsupported("end_graph"); }
  virtual void cancel_graph() {}
  virtual void replay_graph(const GraphKey& /*key*/) { unsupported("replay_graph"); }
  virtual void invalidate_graphs() {}

  // ---- measurement (benchmarks) ----
  // Device-to-device copy bandwidth in GB/s, counting bytes read plus bytes written, as
  // measured now by the backend itself (0 if it cannot measure).
  virtual double measure_copy_bandwidth_gbps() { return 0.0; }
  // Peak bytes of device memory this backend has held (weights, KV, activations).
  virtual size_t peak_memory_bytes() const { return 0; }

 protected:
  [[noreturn]] void unsupported(const char* what) const {
    throw Error("backend '" + name() + "' does not support " + what);
  }
};

// The CPU reference backend. threads <= 0: all hardware threads.
std::unique_ptr<Backend> make_cpu_backend(int threads = 0);

}  // namespace hearth
