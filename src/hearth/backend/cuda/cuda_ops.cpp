// The CUDA backend's ops: host-side validation (every shape, dtype and index a kernel will
// trust), then one or two kernel launches on the backend's stream. Kernels are in the .cu
// files behind kernels.h; GEMMs go through cuBLASLt (gemm.cpp).
#include <algorithm>
#include <utility>

#include "hearth/backend/cuda/cuda_backend_impl.h"
#include "hearth/backend/cuda/cuda_check.h"
#include "hearth/backend/cuda/kernels.h"
#include "hearth/core/error.h"

namespace hearth::cuda {

namespace {

void check_bf16(const TensorView& t, const char* what) {
  HEARTH_CHECK(t.data != nullptr, "{} has no data", what);
  HEARTH_CHECK(t.dtype == DType::BF16, "{} must be BF16 on the CUDA backend, got {}", what,
               dtype_name(t.dtype));
}

// Device weights are always bf16 (upload_weights converts F32/F16).
void check_weight(const Weight& w, int ndim) {
  HEARTH_CHECK(w.format == WeightFormat::Dense, "weight '{}': only dense weights are supported "
               "on CUDA so far", w.name);
  HEARTH_CHECK(w.t.data != nullptr, "weight '{}' has no data", w.name);
  HEARTH_CHECK(w.t.dtype == DType::BF16, "weight '{}' has dtype {} on the CUDA backend; device "
               "weights come from upload_weights (bf16)", w.name, dtype_name(w.t.dtype));
  HEARTH_CHECK(w.t.shape.ndim == ndim, "weight '{}' has shape {}; expected {} dimensions",
               w.name, w.t.shape.str(), ndim);
}

int64_t rows_of(const TensorView& t, int64_t cols, const char* what) {
  HEARTH_CHECK(cols > 0 && t.shape.ndim >= 1 && t.shape[t.shape.ndim - 1] == cols,
               "{} has shape {}; expected last dimension {}", what, t.shape.str(), cols);
  return t.numel() / cols;
}

// Decode splits: enough CTAs for a full wave (the kernel fits about 3 CTAs per SM by
// registers), but no split under kMinSplit positions (below that the combine costs more
// than the parallelism gains). H200, 32/8 heads, batch 1, 32k context: 4 CTAs per SM-wave
// reached 24% of the copy bandwidth with 2 CTAs per SM. The CTAs per SM are
// CudaBackend::decode_ctas_per_sm_ (3 by default).
constexpr int kMinSplit = 128;
constexpr int kMaxSplits = 128;
constexpr int kSplitRound = 64;
// Positions per split up to which a one-token step's attention takes one CTA per SM
// (CudaBackend::decode_splits): measured better at 136 (2k context) and 264 (4k), worse at
// 520 (8k).
constexpr int kShortSplit = 320;

}  // namespace

void CudaBackend::embedding(const Weight& table, const DeviceBatch& batch, TensorView out) {
  check_weight(table, 2);
  check_bf16(out, "embedding output");
  const CudaDeviceBatch& db = device_batch(batch);
  const StepBatch& b = db.host();
  const int64_t vocab = table.t.shape[0], hidden = table.t.shape[1];
  HEARTH_CHECK(rows_of(out, hidden, "embedding output") == b.num_tokens(),
               "embedding output has shape {} for {} tokens", out.shape.str(), b.num_tokens());
  // The kernel trusts the ids: an out-of-range id must fail here, not read past the table.
  for (int t = 0; t < b.num_tokens(); ++t) {
    HEARTH_CHECK(b.token_ids[t] >= 0 && b.token_ids[t] < vocab, "token id {} at row {} is "
                 "outside the vocabulary of {} ('{}')", b.token_ids[t], t, vocab, table.name);
  }
  HEARTH_CUDA_CHECK(
      launch_copy_rows(table.t.data, db.token_ids, b.num_tokens(), hidden, out.data, stream_));
  op_done("embedding");
}

void CudaBackend::rms_norm(TensorView x, const Weight& w, float eps, TensorView out) {
  check_weight(w, 1);
  check_bf16(x, "rms_norm input");
  check_bf16(out, "rms_norm output");
  const int64_t cols = w.t.shape[0];
  const int64_t rows = rows_of(x, cols, "rms_norm input");
  HEARTH_CHECK(out.numel() == x.numel(), "rms_norm output {} vs input {}", out.shape.str(),
               x.shape.str());
  HEARTH_CUDA_CHECK(launch_rms_norm(x.data, nullptr, w.t.data, eps, static_cast<int>(rows),
                                    static_cast<int>(cols), out.data, stream_));
  op_done("rms_norm");
}

void CudaBackend::add_rms_norm(TensorView residual, TensorView x, const Weight& w, float eps,
                               TensorView out) {
  check_weight(w, 1);
  check_bf16(residual, "add_rms_norm residual");
  check_bf16(x, "add_rms_norm input");
  check_bf16(out, "add_rms_norm output");
  const int64_t cols = w.t.shape[0];
  const int64_t rows = rows_of(residual, cols, "add_rms_norm residual");
  HEARTH_CHECK(x.numel() == residual.numel() && out.numel() == residual.numel(),
               "add_rms_norm shapes: residual {}, x {}, out {}", residual.shape.str(),
               x.shape.str(), out.shape.str());
  HEARTH_CHECK(out.data != residual.data, "add_rms_norm output must not alias the residual");
  HEARTH_CUDA_CHECK(launch_rms_norm(x.data, residual.data, w.t.data, eps, static_cast<int>(rows),
                                    static_cast<int>(cols), out.data, stream_));
  op_done("add_rms_norm");
}

namespace {

// linear's checks; returns the token count.
int64_t check_linear(const TensorView& x, const Weight& w, const TensorView& out) {
  check_weight(w, 2);
  check_bf16(x, "linear input");
  HEARTH_CHECK(out.data != nullptr, "linear output has no data");
  HEARTH_CHECK(out.dtype == DType::BF16 || out.dtype == DType::F32, "linear output must be BF16 "
               "or F32 on the CUDA backend, got {}", dtype_name(out.dtype));
  const int64_t n_out = w.t.shape[0], n_in = w.t.shape[1];
  const int64_t tokens = rows_of(x, n_in, "linear input");
  HEARTH_CHECK(out.numel() == tokens * n_out && rows_of(out, n_out, "linear output") == tokens,
               "linear '{}' [{}, {}]: output {} for input {}", w.name, n_out, n_in,
               out.shape.str(), x.shape.str());
  HEARTH_CHECK(out.data != x.data, "linear output must not alias its input");
  return tokens;
}

}  // namespace

bool CudaBackend::gemv_eligible(const TensorView& x, const Weight& w, int64_t tokens) const {
  // Rows routed (gemv_max_rows_, default 1): measured on the H200 (NOTES.md), at m = 1 the
  // GEMV reads at 67-102 % of copy (cuBLASLt 76-81 % on the large matrices); at m = 2..4 it
  // falls to 39-71 % while cuBLASLt at m = 8 reaches 59-98 %.
  return tokens >= 1 && tokens <= gemv_max_rows_ && w.t.shape[1] % 8 == 0 && aligned16(x.data) &&
         aligned16(w.t.data);
}

bool CudaBackend::mma_eligible(const TensorView& x, const Weight& w, int64_t tokens) const {
  // Batched decode steps (m = 2..64): the weights streamed once through the tensor cores,
  // instead of cuBLASLt's compute-shaped tiles and split-K reduce kernels (NOTES.md).
  return tokens >= mma_min_rows_ && tokens <= mma_max_rows_ && w.t.shape[1] % 8 == 0 && aligned16(x.data) &&
         aligned16(w.t.data);
}

void CudaBackend::run_mma(MmaGemvParams& p) {
  p.wgmma = mma_wgmma_;
  const MmaGemvPlan plan = mma_gemv_plan(p, mma_max_splits_);
  int64_t rows = 0;
  for (int s = 0; s < p.num_segments; ++s) rows += p.seg[s].rows;
  HEARTH_CHECK(plan.tiles > 0 || rows == 0, "the small-M GEMM has no plan for m = {}, k = {}",
               p.m, p.k);
  p.splits = plan.splits;
  if (plan.splits > 1) {
    // Recorded graphs hold these addresses: a recording sizes them in its eager run first.
    if (plan.partial_floats > mma_partials_n_ || static_cast<size_t>(plan.tiles) > mma_counters_n_) {
      HEARTH_CHECK(!capturing_, "small-M GEMM buffers grew while a step graph was being recorded");
      drop_graphs();
    }
    if (plan.partial_floats > mma_partials_n_) {
      if (mma_partials_ != nullptr) memory_->release(mma_partials_);
      mma_partials_ = nullptr;
      mma_partials_n_ = 0;
      mma_partials_ = static_cast<float*>(
          memory_->allocate(plan.partial_floats * sizeof(float), "small-M GEMM split partials"));
      mma_partials_n_ = plan.partial_floats;
    }
    if (static_cast<size_t>(plan.tiles) > mma_counters_n_) {
      if (mma_counters_ != nullptr) memory_->release(mma_counters_);
      mma_counters_ = nullptr;
      mma_counters_n_ = 0;
      const size_t n = std::max<size_t>(static_cast<size_t>(plan.tiles), 1024);
      mma_counters_ = static_cast<int*>(memory_->allocate(n * sizeof(int), "small-M GEMM counters"));
      HEARTH_CUDA_CHECK(cudaMemsetAsync(mma_counters_, 0, n * sizeof(int), stream_));
      mma_counters_n_ = n;
    }
    p.partials = mma_partials_;
    p.counters = mma_counters_;
  }
  HEARTH_CUDA_CHECK(launch_mma_gemv(p, plan, stream_));
}

void CudaBackend::linear(TensorView x, const Weight& w, TensorView out) {
  const int64_t tokens = check_linear(x, w, out);
  const int64_t n_out = w.t.shape[0], n_in = w.t.shape[1];
  if (gemv_eligible(x, w, tokens)) {
    // Decode: a stream over the weights, where cuBLASLt reached 76-81 % of the copy
    // bandwidth on the H200 and this kernel aims past 90 %.
    GemvParams p{};
    p.x = x.data;
    p.m = static_cast<int>(tokens);
    p.k = n_in;
    p.out_f32 = out.dtype == DType::F32;
    p.num_segments = 1;
    p.seg[0] = GemvSegment{w.t.data, out.data, n_out};
    gemv_grid(p);
    HEARTH_CUDA_CHECK(launch_gemv(p, stream_));
  } else if (mma_eligible(x, w, tokens)) {
    MmaGemvParams p{};
    p.x = x.data;
    p.m = static_cast<int>(tokens);
    p.k = n_in;
    p.out_f32 = out.dtype == DType::F32;
    p.num_segments = 1;
    p.seg[0] = GemvSegment{w.t.data, out.data, n_out};
    run_mma(p);
  } else {
    gemm_->bf16_xwt(x.data, w.t.data, out.data, tokens, n_out, n_in, out.dtype == DType::F32);
  }
  op_done("linear");
}

void CudaBackend::linear_multi(TensorView x, std::span<const Weight* const> ws,
                               std::span<const TensorView> outs) {
  HEARTH_CHECK(ws.size() == outs.size(), "linear_multi: {} weights for {} outputs", ws.size(),
               outs.size());
  if (ws.empty()) return;
  int64_t tokens = -1;
  bool one_pass = ws.size() <= static_cast<size_t>(kGemvMaxSegments);
  bool mma_pass = one_pass;
  for (size_t i = 0; i < ws.size(); ++i) {
    const int64_t t = check_linear(x, *ws[i], outs[i]);
    tokens = t;
    const bool same = ws[i]->t.shape[1] == ws[0]->t.shape[1] && outs[i].dtype == outs[0].dtype;
    one_pass = one_pass && gemv_eligible(x, *ws[i], t) && same;
    mma_pass = mma_pass && mma_eligible(x, *ws[i], t) && same;
    for (size_t j = 0; j < i; ++j)
      HEARTH_CHECK(outs[i].data != outs[j].data, "linear_multi outputs {} and {} alias", j, i);
  }
  if (!one_pass && mma_pass) {
    // Batched decode: q/k/v (gate/up) in one small-M GEMM launch.
    MmaGemvParams p{};
    p.x = x.data;
    p.m = static_cast<int>(tokens);
    p.k = ws[0]->t.shape[1];
    p.out_f32 = outs[0].dtype == DType::F32;
    p.num_segments = static_cast<int>(ws.size());
    for (size_t i = 0; i < ws.size(); ++i)
      p.seg[i] = GemvSegment{ws[i]->t.data, outs[i].data, ws[i]->t.shape[0]};
    run_mma(p);
    op_done("linear_multi");
    return;
  }
  if (!one_pass) {
    if (!mma_pass && linear_adjacent(x, ws, outs, tokens)) return;
    for (size_t i = 0; i < ws.size(); ++i) linear(x, *ws[i], outs[i]);
    return;
  }
  GemvParams p{};
  p.x = x.data;
  p.m = static_cast<int>(tokens);
  p.k = ws[0]->t.shape[1];
  p.out_f32 = outs[0].dtype == DType::F32;
  p.num_segments = static_cast<int>(ws.size());
  for (size_t i = 0; i < ws.size(); ++i)
    p.seg[i] = GemvSegment{ws[i]->t.data, outs[i].data, ws[i]->t.shape[0]};
  gemv_grid(p);
  HEARTH_CUDA_CHECK(launch_gemv(p, stream_));
  op_done("linear_multi");
}

bool CudaBackend::linear_adjacent(TensorView x, std::span<const Weight* const> ws,
                                  std::span<const TensorView> outs, int64_t tokens) {
  // Weights uploaded one after the other (upload_adjacent: q|k|v) are one [sum n, k]
  // matrix: one cuBLASLt GEMM into a staging buffer, then its columns into the outputs
  // (cheaper than a GEMM per weight: at m = 64 the k and v GEMMs ran at 24 % of the copy
  // bandwidth, split-K plus a reduce each).
  // Up to 2,048 rows: at 16,384 (a prefill chunk) the column split's copy (3.3 ms per step
  // on the H200) costs more than the GEMM per weight loses; at 2,048 both measured even
  // (45.1 / 45.2 ms prefill), at decode sizes the one GEMM wins (NOTES.md, session 3).
  constexpr int64_t kMaxTokens = 2048;
  if (!fuse_adjacent_ || tokens > kMaxTokens || ws.size() < 2 || ws.size() > static_cast<size_t>(kMaxColumnSplits))
    return false;
  int64_t rows = 0;
  const char* next = static_cast<const char*>(ws[0]->t.data);
  for (size_t i = 0; i < ws.size(); ++i) {
    if (ws[i]->t.data != next || outs[i].dtype != DType::BF16) return false;
    next += ws[i]->t.nbytes();
    rows += ws[i]->t.shape[0];
  }
  const size_t bytes = static_cast<size_t>(tokens * rows) * sizeof(uint16_t);
  grow_step_buffer(adjacent_out_, adjacent_out_bytes_, bytes, "the adjacent-weights GEMM output");
  gemm_->bf16_xwt(x.data, ws[0]->t.data, adjacent_out_, tokens, rows, ws[0]->t.shape[1], false);
  ColumnSplit split{};
  split.count = static_cast<int>(ws.size());
  for (size_t i = 0; i < ws.size(); ++i) {
    split.dst[i] = outs[i].data;
    split.cols[i] = static_cast<int>(ws[i]->t.shape[0]);
  }
  HEARTH_CUDA_CHECK(launch_split_columns(adjacent_out_, static_cast<int>(tokens), split, stream_));
  op_done("linear_multi");
  return true;
}

bool CudaBackend::gate_up_adjacent(const TensorView& normed, std::span<const Weight* const> ws,
                                   const TensorView& act, int64_t tokens) const {
  if (!fuse_gate_up_ || tokens < 1 || ws.size() != 2) return false;
  const Weight& g = *ws[0];
  const Weight& u = *ws[1];
  const int64_t ffn = g.t.shape[0];
  return g.t.shape == u.t.shape && g.t.dtype == DType::BF16 && u.t.dtype == DType::BF16 &&
         u.t.data == static_cast<const char*>(g.t.data) + g.t.nbytes() &&
         act.dtype == DType::BF16 && act.numel() == tokens * ffn && act.data != normed.data &&
         normed.numel() == tokens * g.t.shape[1];
}

void CudaBackend::gate_up_swiglu(TensorView normed, std::span<const Weight* const> ws,
                                 std::span<const TensorView> outs, TensorView act, int64_t tokens) {
  const int64_t ffn = ws[0]->t.shape[0];
  if (tokens > kGateUpMaxTokens) {
    // Prefill chunks: a GEMM per weight into gate and up, then SwiGLU. One GEMM would need
    // a [tokens, 2 x ffn] staging buffer that the KV-cache planning does not measure, and
    // linear_multi's adjacent path (one GEMM + column split) measured slower: a 2,048-token
    // prefill took 48.0 / 48.4 ms that way against 46.8 / 46.3 with a GEMM each (H200).
    linear(normed, *ws[0], outs[0]);
    linear(normed, *ws[1], outs[1]);
    swiglu(outs[0], outs[1], act);
    return;
  }
  // Decode batches: one GEMM over [gate; up] (12.6 MB of staging for Qwen3-8B at 256 rows),
  // SwiGLU read from its rows in place; gate and up are not stored.
  const size_t bytes = static_cast<size_t>(tokens * 2 * ffn) * sizeof(uint16_t);
  grow_step_buffer(adjacent_out_, adjacent_out_bytes_, bytes, "the adjacent-weights GEMM output");
  gemm_->bf16_xwt(normed.data, ws[0]->t.data, adjacent_out_, tokens, 2 * ffn, ws[0]->t.shape[1], false);
  const auto* gate_up = static_cast<const uint16_t*>(adjacent_out_);
  HEARTH_CUDA_CHECK(launch_swiglu_rows(gate_up, gate_up + ffn, tokens, ffn, 2 * ffn, act.data, stream_));
}

RopeArgs CudaBackend::rope_args(const Weight& q_norm, const Weight& k_norm, const RopeTable& rope,
                                const TensorView& q, const TensorView& k, int tokens) const {
  check_weight(q_norm, 1);
  check_weight(k_norm, 1);
  check_bf16(q, "qk_norm_rope q");
  check_bf16(k, "qk_norm_rope k");
  const int64_t head_dim = q_norm.t.shape[0];
  HEARTH_CHECK(k_norm.t.shape[0] == head_dim && head_dim % 2 == 0,
               "q_norm '{}' / k_norm '{}' sizes {} / {} (must be equal and even)", q_norm.name,
               k_norm.name, head_dim, k_norm.t.shape[0]);
  HEARTH_CHECK(head_dim / 2 <= kMaxRopeFrequencies, "head_dim {} exceeds the CUDA RoPE limit "
               "of {}", head_dim, 2 * kMaxRopeFrequencies);
  HEARTH_CHECK(static_cast<int64_t>(rope.inv_freq.size()) == head_dim / 2,
               "RoPE table has {} frequencies for head_dim {}", rope.inv_freq.size(), head_dim);
  const int64_t per_token = static_cast<int64_t>(tokens) * head_dim;
  HEARTH_CHECK(per_token > 0 && q.numel() % per_token == 0 && k.numel() % per_token == 0,
               "qk_norm_rope: q {} / k {} are not [{} tokens, heads, {}]", q.shape.str(),
               k.shape.str(), tokens, head_dim);
  RopeArgs args{};
  std::copy(rope.inv_freq.begin(), rope.inv_freq.end(), args.inv_freq);
  args.attention_scaling = rope.attention_scaling;
  return args;
}

void CudaBackend::qk_norm_rope(TensorView q, TensorView k, const Weight& q_norm,
                               const Weight& k_norm, float eps, const RopeTable& rope,
                               const DeviceBatch& batch) {
  const CudaDeviceBatch& db = device_batch(batch);
  const int tokens = db.host().num_tokens();
  const RopeArgs args = rope_args(q_norm, k_norm, rope, q, k, tokens);
  const int64_t head_dim = q_norm.t.shape[0];
  const int64_t per_token = tokens * head_dim;
  HEARTH_CUDA_CHECK(launch_qk_norm_rope(
      q.data, k.data, tokens, static_cast<int>(q.numel() / per_token),
      static_cast<int>(k.numel() / per_token), static_cast<int>(head_dim), q_norm.t.data,
      k_norm.t.data, eps, args, db.positions, stream_));
  op_done("qk_norm_rope");
}

// The kernels index the cache through the block tables and slot mapping without bounds
// checks, so every entry they can read is checked here, once per batch and cache geometry.
void CudaBackend::check_batch_against_cache(const CudaDeviceBatch& db) const {
  if (db.checked_num_blocks == kv_spec_.num_blocks &&
      db.checked_block_size == kv_spec_.block_size)
    return;
  const StepBatch& b = db.host();
  const int bs = kv_spec_.block_size;
  const int64_t num_slots = static_cast<int64_t>(kv_spec_.num_blocks) * bs;
  for (int t = 0; t < b.num_tokens(); ++t) {
    HEARTH_CHECK(b.slot_mapping[t] < num_slots, "slot_mapping[{}] = {} outside the KV cache "
                 "of {} slots", t, b.slot_mapping[t], num_slots);
  }
  for (int s = 0; s < b.num_seqs(); ++s) {
    const int context = b.context_lens[s];
    HEARTH_CHECK(static_cast<int64_t>(context) <= static_cast<int64_t>(b.max_blocks_per_seq) * bs,
                 "sequence {}: context length {} exceeds its block table ({} blocks of {})", s,
                 context, b.max_blocks_per_seq, bs);
    const int used_blocks = (context + bs - 1) / bs;
    for (int i = 0; i < used_blocks; ++i) {
      const int32_t block = b.block_tables[static_cast<size_t>(s) * b.max_blocks_per_seq + i];
      HEARTH_CHECK(block >= 0 && block < kv_spec_.num_blocks,
                   "sequence {}: block table entry {} = {} outside [0, {})", s, i, block,
                   kv_spec_.num_blocks);
    }
  }
  db.checked_num_blocks = kv_spec_.num_blocks;
  db.checked_block_size = kv_spec_.block_size;
}

AttentionParams CudaBackend::attention_params(int layer, const TensorView& q, const TensorView& k,
                                              const TensorView& v, float scale,
                                              const CudaDeviceBatch& db,
                                              const TensorView& out) const {
  HEARTH_CHECK(kv_base_ != nullptr, "attention before init_kv_cache");
  HEARTH_CHECK(layer >= 0 && layer < kv_spec_.num_layers, "layer {} outside the KV cache ({} "
               "layers)", layer, kv_spec_.num_layers);
  check_bf16(q, "attention q");
  check_bf16(k, "attention k");
  check_bf16(v, "attention v");
  check_bf16(out, "attention output");
  const StepBatch& b = db.host();
  const int tokens = b.num_tokens();
  const int kv_heads = kv_spec_.num_kv_heads;
  const int head_dim = kv_spec_.head_dim;
  const int64_t kv_numel = static_cast<int64_t>(tokens) * kv_heads * head_dim;
  HEARTH_CHECK(k.numel() == kv_numel && v.numel() == kv_numel,
               "attention: k {} / v {} are not [{} tokens, {} kv heads, {}]", k.shape.str(),
               v.shape.str(), tokens, kv_heads, head_dim);
  const int64_t per_token = static_cast<int64_t>(tokens) * head_dim;
  HEARTH_CHECK(tokens > 0 && q.numel() % per_token == 0, "attention: q {} is not [{} tokens, "
               "heads, {}]", q.shape.str(), tokens, head_dim);
  const int heads = static_cast<int>(q.numel() / per_token);
  HEARTH_CHECK(heads % kv_heads == 0, "attention: {} query heads for {} kv heads", heads,
               kv_heads);
  HEARTH_CHECK(out.numel() == q.numel(), "attention output {} vs q {}", out.shape.str(),
               q.shape.str());
  HEARTH_CHECK(aligned16(q.data) && aligned16(out.data), "attention: q and out must be 16-byte "
               "aligned for the CUDA kernels");
  check_batch_against_cache(db);

  char* layer_base = static_cast<char*>(kv_base_) + layer * kv_spec_.bytes_per_layer();
  AttentionParams p{};
  p.q = q.data;
  p.out = out.data;
  p.k_cache = layer_base;
  p.v_cache = layer_base + kv_spec_.bytes_per_layer() / 2;
  p.query_start = db.query_start;
  p.context_lens = db.context_lens;
  p.block_tables = db.block_tables;
  p.token_seq = db.token_seq;
  p.max_blocks_per_seq = b.max_blocks_per_seq;
  p.tokens = tokens;
  p.heads = heads;
  p.kv_heads = kv_heads;
  p.head_dim = head_dim;
  p.block_size = kv_spec_.block_size;
  p.scale = scale;
  p.token_is_seq = db.max_q_len == 1 && b.num_seqs() == tokens;
  p.kv_fp8 = kv_spec_.fp8();
  p.k_scale = kv_spec_.k_scale;
  p.v_scale = kv_spec_.v_scale;
  return p;
}

std::pair<int, int> CudaBackend::decode_split_plan(const CudaDeviceBatch& db) const {
  const int max_context = std::max(db.max_context, 1);
  if (db.fixed) {
    // A recorded step: the context grows between replays, so the kernel sizes each
    // sequence's splits itself (split_size 0) over a count fixed for the recording.
    return {db.graph_splits, 0};
  }
  if (db.max_q_len != 1) return {1, max_context};
  int splits = decode_splits(db.host().num_tokens(), max_context);
  int split_size = (max_context + splits - 1) / splits;
  split_size = (split_size + kSplitRound - 1) / kSplitRound * kSplitRound;
  splits = (max_context + split_size - 1) / split_size;
  return {splits, split_size};
}

void CudaBackend::run_attention(const AttentionParams& p, const CudaDeviceBatch& db) {
  if (db.max_q_len > 1 && prefill_supports_head_dim(p.head_dim)) {
    HEARTH_CUDA_CHECK(launch_prefill_attention(p, db.prefill_tiles, db.num_prefill_tiles, stream_));
    return;
  }
  // Decode steps, and prefill for head dims the tensor-core kernel does not cover.
  HEARTH_CHECK(p.heads / p.kv_heads <= kDecodeMaxGroup, "attention: {} query heads per kv head; "
               "the CUDA decode kernel handles up to {}", p.heads / p.kv_heads, kDecodeMaxGroup);
  const auto [splits, split_size] = decode_split_plan(db);
  float* partial_out = nullptr;
  float* partial_lse = nullptr;
  if (splits > 1 || db.fixed) {
    const size_t rows = static_cast<size_t>(p.tokens) * p.heads * splits;
    auto* base = static_cast<float*>(scratch(rows * (p.head_dim + 1) * sizeof(float)));
    partial_out = base;
    partial_lse = base + rows * p.head_dim;
  }
  HEARTH_CUDA_CHECK(
      launch_decode_attention(p, splits, split_size, partial_out, partial_lse, stream_));
}

void CudaBackend::attention(int layer, TensorView q, TensorView k, TensorView v, float scale,
                            const DeviceBatch& batch, TensorView out) {
  const CudaDeviceBatch& db = device_batch(batch);
  const AttentionParams p = attention_params(layer, q, k, v, scale, db, out);
  if (p.kv_fp8) {
    HEARTH_CUDA_CHECK(launch_kv_cache_write_fp8(k.data, v.data, db.slot_mapping, p.tokens,
                                                p.kv_heads * p.head_dim, p.k_scale, p.v_scale,
                                                const_cast<void*>(p.k_cache),
                                                const_cast<void*>(p.v_cache), stream_));
  } else {
    HEARTH_CUDA_CHECK(launch_kv_cache_write(k.data, v.data, db.slot_mapping, p.tokens,
                                            p.kv_heads * p.head_dim, const_cast<void*>(p.k_cache),
                                            const_cast<void*>(p.v_cache), stream_));
  }
  run_attention(p, db);
  op_done("attention");
}

int* CudaBackend::attention_counters(size_t n) {
  if (n <= counters_n_) return counters_;
  // Recorded graphs hold the old address; a recording sizes this in its eager run first.
  HEARTH_CHECK(!capturing_, "attention counters grew while a step graph was being recorded");
  drop_graphs();
  if (counters_ != nullptr) memory_->release(counters_);
  counters_ = nullptr;
  counters_n_ = 0;
  const size_t grow = std::max<size_t>(n, 1024);
  counters_ = static_cast<int*>(memory_->allocate(grow * sizeof(int), "attention counters"));
  HEARTH_CUDA_CHECK(cudaMemsetAsync(counters_, 0, grow * sizeof(int), stream_));
  counters_n_ = grow;
  return counters_;
}

void CudaBackend::attention_block(int layer, TensorView q, TensorView k, TensorView v,
                                  const Weight& q_norm, const Weight& k_norm, float eps,
                                  const RopeTable& rope, float scale, const DeviceBatch& batch,
                                  TensorView out) {
  early_ctas_ = 0;
  if (!fuse_decode_) {
    Backend::attention_block(layer, q, k, v, q_norm, k_norm, eps, rope, scale, batch, out);
    return;
  }
  const CudaDeviceBatch& db = device_batch(batch);
  const int tokens = db.host().num_tokens();
  const RopeArgs args = rope_args(q_norm, k_norm, rope, q, k, tokens);
  const AttentionParams p = attention_params(layer, q, k, v, scale, db, out);
  HEARTH_CHECK(q_norm.t.shape[0] == p.head_dim, "q_norm '{}' has {} elements; the KV cache's "
               "head_dim is {}", q_norm.name, q_norm.t.shape[0], p.head_dim);
  const bool aligned = aligned16(k.data) && aligned16(v.data) && aligned16(q_norm.t.data) &&
                       aligned16(k_norm.t.data);
  if (db.max_q_len == 1 && decode_fusion_supported(p.head_dim) && aligned &&
      p.heads / p.kv_heads <= kDecodeMaxGroup) {
    // Decode: one kernel for q/k norm + RoPE, the cache write, attention and the combine.
    const auto [splits, split_size] = decode_split_plan(db);
    // One CTA per SM or fewer (decode_splits): an SM holding a = 0..2 attention CTAs has
    // room for 2 - a o_proj CTAs of the 2-per-SM GEMV, 2 SMs - attention CTAs in all.
    const int64_t attention_ctas = int64_t{splits} * p.kv_heads;
    if (gemv_early_split_ && gemv_ctas_per_sm_ == 2 && tokens == 1 &&
        attention_ctas <= multiprocessors_)
      early_ctas_ = static_cast<int>(2 * multiprocessors_ - attention_ctas);
    float* partial_out = nullptr;
    float* partial_lse = nullptr;
    int* counters = nullptr;
    if (splits > 1) {
      const size_t rows = static_cast<size_t>(p.tokens) * p.heads * splits;
      auto* base = static_cast<float*>(scratch(rows * (p.head_dim + 1) * sizeof(float)));
      partial_out = base;
      partial_lse = base + rows * p.head_dim;
      counters = attention_counters(static_cast<size_t>(p.tokens) * p.kv_heads);
    }
    DecodeFusion f{};
    f.k_new = k.data;
    f.v_new = v.data;
    f.q_w = q_norm.t.data;
    f.k_w = k_norm.t.data;
    f.eps = eps;
    f.positions = db.positions;
    f.slot_mapping = db.slot_mapping;
    f.counters = counters;
    f.rope = args;
    HEARTH_CUDA_CHECK(launch_decode_attention_fused(p, f, splits, split_size, partial_out,
                                                    partial_lse, stream_));
  } else {
    // Prefill: q/k norm + RoPE with the cache write in one kernel, then attention.
    const QkCacheWrite cache{v.data, db.slot_mapping, const_cast<void*>(p.k_cache),
                             const_cast<void*>(p.v_cache), p.kv_fp8, p.k_scale, p.v_scale};
    HEARTH_CUDA_CHECK(launch_qk_norm_rope(q.data, k.data, tokens, p.heads, p.kv_heads, p.head_dim,
                                          q_norm.t.data, k_norm.t.data, eps, args, db.positions,
                                          stream_, &cache));
    run_attention(p, db);
  }
  op_done("attention_block");
}

int CudaBackend::decode_splits(int tokens, int max_context) const {
  const int64_t ctas = static_cast<int64_t>(std::max(tokens, 1)) * kv_spec_.num_kv_heads;
  int per_sm = decode_ctas_per_sm_;
  // One-token steps on the tensor-core kernel: one CTA per SM while the splits stay within
  // kShortSplit positions. The attention block then leaves room on every SM for a CTA of
  // the o_proj GEMV, which lands and copies its first weights while attention runs, and a
  // split's first tiles (2 per warp) are all copied before the kernel waits on the q|k|v
  // GEMV. H200, batch-1 decode (notes/decode-batch1.md, session 5): +2.4 % at 2k context,
  // +2.0 % at 4k, -3.3 % at 8k. HEARTH_CUDA_DECODE_CTAS_PER_SM forces a count.
  if (tokens == 1 && decode_mma_enabled() && !decode_ctas_forced_) {
    const int64_t splits1 = std::max<int64_t>(1, multiprocessors_ / ctas);
    if ((std::max(max_context, 1) + splits1 - 1) / splits1 <= kShortSplit) per_sm = 1;
  }
  const int64_t slots = int64_t{per_sm} * multiprocessors_;
  // Tensor-core kernel: as many splits as fit in one wave (batch 16 on 132 SMs: 2 splits,
  // 256 CTAs in 264 slots; rounding up gave 3, 384 CTAs, a second wave 45 % full).
  const int64_t fit = decode_mma_enabled() ? std::max<int64_t>(1, slots / ctas) : (slots + ctas - 1) / ctas;
  const auto want = static_cast<int>(std::min<int64_t>(kMaxSplits, fit));
  // With the combine inside the fused kernel a split costs less: 64 positions (one
  // iteration of the kernel's loop at GQA group 4) instead of 128. The tensor-core kernel
  // takes 64 either way (one 16-position tile per warp), so its fused and unfused forms
  // split alike and compute the same sums.
  const int min_split = fuse_decode_ || decode_mma_enabled() ? kMinSplit / 2 : kMinSplit;
  const int by_length = (std::max(max_context, 1) + min_split - 1) / min_split;
  return std::clamp(std::min(want, by_length), 1, kMaxSplits);
}

void CudaBackend::swiglu_linear(TensorView gate, TensorView up, const Weight& w, TensorView act,
                                TensorView out) {
  check_bf16(gate, "swiglu gate");
  check_bf16(up, "swiglu up");
  HEARTH_CHECK(gate.numel() == up.numel() && gate.shape == up.shape,
               "swiglu_linear shapes: gate {}, up {}", gate.shape.str(), up.shape.str());
  const int64_t tokens = check_linear(gate, w, out);
  if (!fuse_swiglu_ || !gemv_eligible(gate, w, tokens) || !aligned16(up.data)) {
    Backend::swiglu_linear(gate, up, w, act, out);
    return;
  }
  HEARTH_CHECK(out.data != up.data, "swiglu_linear output must not alias its input");
  GemvParams p{};
  p.x = gate.data;
  p.x_up = up.data;
  p.m = static_cast<int>(tokens);
  p.k = w.t.shape[1];
  p.out_f32 = out.dtype == DType::F32;
  p.num_segments = 1;
  p.seg[0] = GemvSegment{w.t.data, out.data, w.t.shape[0]};
  gemv_grid(p);
  HEARTH_CUDA_CHECK(launch_gemv(p, stream_));
  op_done("swiglu_linear");
}

void CudaBackend::swiglu(TensorView gate, TensorView up, TensorView out) {
  check_bf16(gate, "swiglu gate");
  check_bf16(up, "swiglu up");
  check_bf16(out, "swiglu output");
  HEARTH_CHECK(gate.numel() == up.numel() && out.numel() == gate.numel(),
               "swiglu shapes: gate {}, up {}, out {}", gate.shape.str(), up.shape.str(),
               out.shape.str());
  HEARTH_CUDA_CHECK(launch_swiglu(gate.data, up.data, gate.numel(), out.data, stream_));
  op_done("swiglu");
}

bool CudaBackend::linear_residual(TensorView x, const Weight& w, TensorView out,
                                  TensorView residual) {
  const int early_ctas = std::exchange(early_ctas_, 0);  // for this launch only
  const int64_t tokens = check_linear(x, w, out);
  const bool gemv = tokens == 1 && gemv_eligible(x, w, tokens);
  const bool batched = !gemv && mma_eligible(x, w, tokens);
  if (!fuse_decode_ || out.dtype != DType::BF16 || residual.data == nullptr || (!gemv && !batched)) {
    linear(x, w, out);
    return false;
  }
  const int64_t n_out = w.t.shape[0];
  check_bf16(residual, "linear_residual residual");
  HEARTH_CHECK(residual.numel() == tokens * n_out, "linear_residual '{}': residual {} for {} x {} "
               "outputs", w.name, residual.shape.str(), tokens, n_out);
  HEARTH_CHECK(residual.data != out.data && residual.data != x.data,
               "linear_residual: the residual must not alias the input or the output");
  if (batched) {
    // Batched decode: the small-M GEMM with the residual add in its epilogue.
    MmaGemvParams p{};
    p.x = x.data;
    p.m = static_cast<int>(tokens);
    p.k = w.t.shape[1];
    p.out_f32 = false;
    p.num_segments = 1;
    p.seg[0] = GemvSegment{w.t.data, out.data, n_out};
    p.residual = residual.data;
    run_mma(p);
    op_done("linear_residual");
    return true;
  }
  GemvParams p{};
  p.x = x.data;
  p.m = 1;
  p.k = w.t.shape[1];
  p.out_f32 = false;
  p.num_segments = 1;
  p.seg[0] = GemvSegment{w.t.data, out.data, n_out};
  p.residual = residual.data;
  gemv_grid(p);
  p.early_ctas = early_ctas;
  HEARTH_CUDA_CHECK(launch_gemv(p, stream_));
  op_done("linear_residual");
  return true;
}

void CudaBackend::add_norm_linear(TensorView residual, TensorView proj, const Weight& norm,
                                  float eps, TensorView normed, std::span<const Weight* const> ws,
                                  std::span<const TensorView> outs, TensorView act) {
  // The fused form: one row, the residual already up to date (linear_residual did the
  // add), one GEMV launch with the norm in its prologue (and SwiGLU in its epilogue).
  bool fused = fuse_decode_ && proj.data == nullptr && !ws.empty() &&
               ws.size() == outs.size() && ws.size() <= static_cast<size_t>(kGemvMaxSegments) &&
               residual.data != nullptr && normed.data != nullptr;
  int64_t cols = 0;
  if (fused) {
    check_weight(norm, 1);
    check_bf16(residual, "add_norm_linear residual");
    check_bf16(normed, "add_norm_linear normed");
    cols = norm.t.shape[0];
    fused = rows_of(residual, cols, "add_norm_linear residual") == 1 &&
            normed.numel() == cols && aligned16(residual.data) && aligned16(normed.data) &&
            aligned16(norm.t.data) && cols % 8 == 0 && normed.data != residual.data;
  }
  for (size_t i = 0; fused && i < ws.size(); ++i) {
    const int64_t t = check_linear(normed, *ws[i], outs[i]);
    fused = gemv_eligible(normed, *ws[i], t) && outs[i].dtype == outs[0].dtype;
    for (size_t j = 0; j < i; ++j)
      HEARTH_CHECK(outs[i].data != outs[j].data, "add_norm_linear outputs {} and {} alias", j, i);
  }
  if (fused && act.data != nullptr) {
    check_bf16(act, "add_norm_linear act");
    fused = ws.size() == 2 && ws[0]->t.shape[0] == ws[1]->t.shape[0] &&
            act.numel() == ws[0]->t.shape[0] && outs[0].dtype == DType::BF16;
  }
  if (!fused) {
    if (fuse_decode_ && act.data != nullptr && ws.size() == 2 && outs.size() == 2 &&
        residual.data != nullptr && normed.data != nullptr) {
      // Batched decode: the norm (with the pending residual add), then gate and up in one
      // small-M GEMM whose epilogue stores SwiGLU, or past its rows (weights adjacent) in
      // gate_up_swiglu (at decode sizes one cuBLASLt GEMM whose rows SwiGLU reads). Where
      // a small-M GEMM or the one GEMM runs, gate and up are not stored.
      check_weight(*ws[0], 2);
      check_weight(*ws[1], 2);
      check_bf16(act, "add_norm_linear act");
      const int64_t t0 = check_linear(normed, *ws[0], outs[0]);
      const int64_t t1 = check_linear(normed, *ws[1], outs[1]);
      const bool mma = t0 == t1 && mma_eligible(normed, *ws[0], t0) && mma_eligible(normed, *ws[1], t1) &&
                       ws[0]->t.shape == ws[1]->t.shape && act.numel() == t0 * ws[0]->t.shape[0] &&
                       outs[0].dtype == DType::BF16 && act.data != normed.data;
      const bool adjacent = !mma && t0 == t1 && gate_up_adjacent(normed, ws, act, t0);
      if (mma || adjacent) {
        if (proj.data != nullptr)
          add_rms_norm(residual, proj, norm, eps, normed);
        else
          rms_norm(residual, norm, eps, normed);
        if (adjacent) {
          gate_up_swiglu(normed, ws, outs, act, t0);
          op_done("add_norm_linear");
          return;
        }
        MmaGemvParams p{};
        p.x = normed.data;
        p.m = static_cast<int>(t0);
        p.k = ws[0]->t.shape[1];
        p.out_f32 = false;
        p.num_segments = 2;
        p.seg[0] = GemvSegment{ws[0]->t.data, outs[0].data, ws[0]->t.shape[0]};
        p.seg[1] = GemvSegment{ws[1]->t.data, outs[1].data, ws[1]->t.shape[0]};
        p.act = act.data;
        run_mma(p);
        op_done("add_norm_linear");
        return;
      }
    }
    Backend::add_norm_linear(residual, proj, norm, eps, normed, ws, outs, act);
    return;
  }
  GemvParams p{};
  p.x = residual.data;
  p.m = 1;
  p.k = cols;
  p.out_f32 = outs[0].dtype == DType::F32;
  p.num_segments = static_cast<int>(ws.size());
  for (size_t i = 0; i < ws.size(); ++i)
    p.seg[i] = GemvSegment{ws[i]->t.data, outs[i].data, ws[i]->t.shape[0]};
  p.norm_w = norm.t.data;
  p.eps = eps;
  p.normed = normed.data;
  p.act = act.data;
  gemv_grid(p);
  HEARTH_CUDA_CHECK(launch_gemv(p, stream_));
  op_done("add_norm_linear");
}

void CudaBackend::gather_rows(TensorView x, const DeviceBatch& batch, TensorView out) {
  check_bf16(x, "gather_rows input");
  check_bf16(out, "gather_rows output");
  const CudaDeviceBatch& db = device_batch(batch);
  const std::vector<int32_t>& rows = db.host().logits_rows;
  HEARTH_CHECK(x.shape.ndim >= 1 && x.shape[0] > 0, "gather_rows input {}", x.shape.str());
  const int64_t row_len = x.numel() / x.shape[0];
  HEARTH_CHECK(out.numel() == static_cast<int64_t>(rows.size()) * row_len,
               "gather_rows output {} for {} rows of {}", out.shape.str(), rows.size(), row_len);
  for (int32_t r : rows)
    HEARTH_CHECK(r >= 0 && r < x.shape[0], "gather_rows: row {} outside [0, {})", r, x.shape[0]);
  HEARTH_CUDA_CHECK(launch_copy_rows(x.data, db.logits_rows, static_cast<int>(rows.size()),
                                     row_len, out.data, stream_));
  op_done("gather_rows");
}

}  // namespace hearth::cuda
