#include "hearth/engine/qwen3.h"

#include <algorithm>
#include <cmath>
#include <span>
#include <utility>

#include "hearth/core/error.h"
#include "hearth/sampling/logits_processors.h"
#include "hearth/sampling/sampler.h"

namespace hearth {

Qwen3Model::Qwen3Model(const ModelConfig& config, ModelWeights weights, Backend& backend)
    : config_(config), weights_(std::move(weights)), backend_(backend), rope_(make_rope_table(config)) {
  HEARTH_CHECK(static_cast<int>(weights_.layers.size()) == config_.num_hidden_layers,
               "{} layers of weights for {} in config", weights_.layers.size(), config_.num_hidden_layers);
}

Qwen3Model::~Qwen3Model() { free_buffers(); }

void Qwen3Model::free_buffers() {
  for (TensorView* t : {&residual_, &hidden_, &proj_, &q_, &k_, &v_, &attn_out_, &gate_, &up_, &mlp_act_, &rows_, &logits_})
    if (t->data != nullptr) backend_.free(*t);
  capacity_tokens_ = capacity_rows_ = 0;
}

void Qwen3Model::ensure_capacity(int tokens, int rows) {
  if (tokens <= capacity_tokens_ && rows <= capacity_rows_) return;
  // Recorded step graphs hold the old buffers' addresses.
  backend_.invalidate_graphs();
  tokens = std::max(tokens, capacity_tokens_);  // grow monotonically: fewer re-recordings
  rows = std::max(rows, capacity_rows_);
  free_buffers();
  const DType a = backend_.activation_dtype();
  const int64_t n = tokens;
  const ModelConfig& c = config_;
  residual_ = backend_.alloc(a, {n, c.hidden_size});
  hidden_ = backend_.alloc(a, {n, c.hidden_size});
  proj_ = backend_.alloc(a, {n, c.hidden_size});
  q_ = backend_.alloc(a, {n, c.q_dim()});
  k_ = backend_.alloc(a, {n, c.kv_dim()});
  v_ = backend_.alloc(a, {n, c.kv_dim()});
  attn_out_ = backend_.alloc(a, {n, c.q_dim()});
  gate_ = backend_.alloc(a, {n, c.intermediate_size});
  up_ = backend_.alloc(a, {n, c.intermediate_size});
  mlp_act_ = backend_.alloc(a, {n, c.intermediate_size});
  rows_ = backend_.alloc(a, {rows, c.hidden_size});
  logits_ = backend_.alloc(DType::F32, {rows, c.vocab_size});  // fp32 logits for exact logprobs
  capacity_tokens_ = tokens;
  capacity_rows_ = rows;
}

void Qwen3Model::forward(const DeviceBatch& batch, float* logits) {
  const StepBatch& b = batch.host();
  HEARTH_CHECK(b.num_tokens() > 0, "empty step");
  ensure_capacity(b.num_tokens(), std::max(static_cast<int>(b.logits_rows.size()), 1));
  TensorView out = run_step(batch);
  if (out.data != nullptr) backend_.to_host_f32(out, logits);
}

int StepPicks::graph_variant() const {
  switch (kind) {
    case Kind::None: return -1;
    case Kind::Greedy: return top_logprobs;
    case Kind::Sample:
      // Disjoint from the greedy variants (0..32): 64 + 64 * (the backend's sampling path).
      return 64 + 64 * sample->graph_variant() + sample->top_logprobs;
  }
  return -1;
}

bool Qwen3Model::graph_eligible(const StepBatch& step) const {
  if (!use_graphs_ || !backend_.supports_graphs()) return false;
  const int n = step.num_tokens();
  if (n == 0 || step.num_seqs() != n || static_cast<int>(step.logits_rows.size()) != n) return false;
  for (int s = 0; s < n; ++s) {
    if (step.query_start[static_cast<size_t>(s) + 1] - step.query_start[static_cast<size_t>(s)] != 1) return false;
    if (step.logits_rows[static_cast<size_t>(s)] != s) return false;
  }
  return true;
}

TensorView Qwen3Model::launch(const StepBatch& step, const StepPicks& picks) {
  const int n = step.num_tokens();
  const int rows = static_cast<int>(step.logits_rows.size());
  HEARTH_CHECK(n > 0, "empty step");
  HEARTH_CHECK(picks.kind != StepPicks::Kind::Sample ||
                   (picks.sample != nullptr && static_cast<int>(picks.sample->rows.size()) == rows),
               "launch: sampling rows do not match the step's {} logits rows", rows);
  HEARTH_CHECK(picks.kind != StepPicks::Kind::Greedy || (picks.top_logprobs >= 0 && picks.top_logprobs <= 32),
               "launch: {} greedy logprobs asked (0..32)", picks.top_logprobs);
  last_graph_ = false;
  ensure_capacity(n, std::max(rows, 1));
  // Before any graph lookup: a sampling upload that grows the backend's buffers drops the
  // recordings that hold the old ones.
  if (picks.kind == StepPicks::Kind::Sample) backend_.upload_sampling(*picks.sample);
  auto enqueue_picks = [&](TensorView logits) {
    if (rows == 0) return;
    if (picks.kind == StepPicks::Kind::Greedy) backend_.enqueue_greedy(logits, picks.top_logprobs);
    if (picks.kind == StepPicks::Kind::Sample) backend_.enqueue_sample(logits);
  };

  if (graph_eligible(step)) {
    // A replay runs no op code: the checks the ops would make on the host happen here
    // (token ids) and in upload_batch_fixed (KV slots and block tables).
    for (int t = 0; t < n; ++t) {
      const int32_t id = step.token_ids[static_cast<size_t>(t)];
      if (id < 0 || id >= config_.vocab_size)
        fail("token id {} at row {} is outside the vocabulary of {}", id, t, config_.vocab_size);
    }
    const DeviceBatch& batch = backend_.upload_batch_fixed(step);
    const GraphKey key{step_shape(step), picks.graph_variant()};
    last_graph_ = true;
    TensorView logits = logits_.rows(0, rows);
    if (backend_.has_graph(key)) {
      backend_.replay_graph(key);
      return logits;
    }
    // First step of this key: run it eagerly (this sizes every workspace the recording will
    // use, and its picks are this step's), then record the same ops for the next steps.
    // Recording runs nothing, so the KV cache is written once.
    logits = run_step(batch);
    enqueue_picks(logits);
    backend_.begin_graph(key);
    try {
      run_step(batch);
      enqueue_picks(logits);
      backend_.end_graph();
    } catch (...) {
      backend_.cancel_graph();
      throw;
    }
    return logits;
  }

  // Eager: the batch must outlive the queued ops. A backend's step batch owns its device
  // copy; it is kept until the next launch (CUDA releases device memory into a cache that
  // only work queued later reuses, so dropping it earlier would be safe there too).
  eager_batch_ = backend_.upload_batch(step);
  TensorView logits = run_step(*eager_batch_);
  enqueue_picks(logits);
  return logits;
}

void Qwen3Model::forward_greedy(const StepBatch& step, int top_logprobs, std::vector<GreedyPick>& picks) {
  HEARTH_CHECK(top_logprobs >= 0, "negative logprobs count {}", top_logprobs);
  const int rows = static_cast<int>(step.logits_rows.size());
  picks.assign(static_cast<size_t>(rows), GreedyPick{});
  if (backend_.supports_device_greedy() && top_logprobs <= 32) {
    launch(step, StepPicks::greedy(top_logprobs));
    if (rows > 0) backend_.read_greedy(picks);
    return;
  }
  const TensorView logits = launch(step, StepPicks::none());
  if (rows == 0) return;
  const auto vocab = static_cast<size_t>(config_.vocab_size);
  std::vector<float> host(static_cast<size_t>(rows) * vocab);
  backend_.to_host_f32(logits, host.data());
  for (int r = 0; r < rows; ++r) {
    const std::span<const float> row(host.data() + static_cast<size_t>(r) * vocab, vocab);
    const int id = argmax_logit(row);
    const TokenLogprobs lp = compute_logprobs(row, id, top_logprobs);
    GreedyPick& p = picks[static_cast<size_t>(r)];
    p.id = id;
    p.logprob = lp.logprob;
    p.top = lp.top;
  }
}

TensorView Qwen3Model::run_step(const DeviceBatch& batch) {
  const StepBatch& b = batch.host();
  const int n = b.num_tokens();
  const int rows = static_cast<int>(b.logits_rows.size());
  const ModelConfig& c = config_;
  const float eps = c.rms_norm_eps;
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));

  // Views of the first n tokens of each buffer.
  TensorView residual = residual_.rows(0, n), hidden = hidden_.rows(0, n), proj = proj_.rows(0, n);
  TensorView q = q_.rows(0, n), k = k_.rows(0, n), v = v_.rows(0, n);
  TensorView attn = attn_out_.rows(0, n);
  TensorView gate = gate_.rows(0, n), up = up_.rows(0, n), act = mlp_act_.rows(0, n);
  // The same q/k/v memory seen per head: [n, heads, head_dim].
  TensorView q_heads = q, k_heads = k, v_heads = v;
  q_heads.shape = {n, c.num_attention_heads, c.head_dim};
  k_heads.shape = {n, c.num_key_value_heads, c.head_dim};
  v_heads.shape = {n, c.num_key_value_heads, c.head_dim};

  // residual: the running residual stream; hidden: the normed input of each sub-block;
  // proj: the output of o_proj / down_proj. The residual add of proj happens in the next
  // add_norm_linear (fused add + norm, as in vLLM), or already in linear_residual where the
  // backend folds it into the projection (then `pending` is false and no proj is passed).
  // Each sub-block is three calls a backend may fuse: add + norm + projections (+ SwiGLU),
  // q/k norm + RoPE + cache write + attention, projection (+ residual add).
  const TensorView none{};
  bool pending = false;  // proj holds an output not yet added to the residual
  backend_.embedding(weights_.embed_tokens, batch, residual);
  // A one-token step may run every layer as one call (the CUDA decode stack).
  const bool stacked = n == 1 && backend_.decode_layers(weights_, residual, eps, rope_, scale, batch);
  for (int l = stacked ? c.num_hidden_layers : 0; l < c.num_hidden_layers; ++l) {
    const LayerWeights& w = weights_.layers[static_cast<size_t>(l)];
    {
      const Weight* ws[] = {&w.q_proj, &w.k_proj, &w.v_proj};
      const TensorView outs[] = {q, k, v};
      backend_.add_norm_linear(residual, pending ? proj : none, w.input_layernorm, eps, hidden, ws,
                               outs, none);
    }
    backend_.attention_block(l, q_heads, k_heads, v_heads, w.q_norm, w.k_norm, eps, rope_, scale,
                             batch, attn);
    pending = !backend_.linear_residual(attn, w.o_proj, proj, residual);
    {
      const Weight* ws[] = {&w.gate_proj, &w.up_proj};
      const TensorView outs[] = {gate, up};
      backend_.add_norm_linear(residual, pending ? proj : none, w.post_attention_layernorm, eps,
                               hidden, ws, outs, act);
    }
    pending = !backend_.linear_residual(act, w.down_proj, proj, residual);
  }
  if (rows == 0) {
    if (pending)
      backend_.add_rms_norm(residual, proj, weights_.norm, eps, hidden);
    else
      backend_.rms_norm(residual, weights_.norm, eps, hidden);
    return {};
  }
  TensorView out = logits_.rows(0, rows);
  bool identity_rows = rows == n;
  for (int r = 0; r < rows && identity_rows; ++r) identity_rows = b.logits_rows[static_cast<size_t>(r)] == r;
  if (identity_rows) {
    // Every row wanted in order (decode): the final norm goes with the lm_head projection.
    const Weight* ws[] = {&weights_.lm_head};
    const TensorView outs[] = {out};
    backend_.add_norm_linear(residual, pending ? proj : none, weights_.norm, eps, hidden, ws, outs,
                             none);
    return out;
  }
  if (pending)
    backend_.add_rms_norm(residual, proj, weights_.norm, eps, hidden);
  else
    backend_.rms_norm(residual, weights_.norm, eps, hidden);
  TensorView sel = rows_.rows(0, rows);
  backend_.gather_rows(hidden, batch, sel);
  backend_.linear(sel, weights_.lm_head, out);
  return out;
}

}  // namespace hearth
