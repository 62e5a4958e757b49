#include "hearth/engine/qwen3.h"

#include <cmath>
#include <utility>

#include "hearth/core/error.h"

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
  const int n = b.num_tokens();
  const int rows = static_cast<int>(b.logits_rows.size());
  HEARTH_CHECK(n > 0, "empty step");
  ensure_capacity(n, std::max(rows, 1));
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
  // proj: the output of o_proj / down_proj, added to the residual by the next fused
  // add + norm (so each layer boundary costs one fused op, as in vLLM).
  backend_.embedding(weights_.embed_tokens, batch, residual);
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const LayerWeights& w = weights_.layers[static_cast<size_t>(l)];
    if (l == 0) {
      backend_.rms_norm(residual, w.input_layernorm, eps, hidden);
    } else {
      backend_.add_rms_norm(residual, proj, w.input_layernorm, eps, hidden);
    }
    backend_.linear(hidden, w.q_proj, q);
    backend_.linear(hidden, w.k_proj, k);
    backend_.linear(hidden, w.v_proj, v);
    backend_.qk_norm_rope(q_heads, k_heads, w.q_norm, w.k_norm, eps, rope_, batch);
    backend_.attention(l, q_heads, k_heads, v_heads, scale, batch, attn);
    backend_.linear(attn, w.o_proj, proj);
    backend_.add_rms_norm(residual, proj, w.post_attention_layernorm, eps, hidden);
    backend_.linear(hidden, w.gate_proj, gate);
    backend_.linear(hidden, w.up_proj, up);
    backend_.swiglu(gate, up, act);
    backend_.linear(act, w.down_proj, proj);
  }
  backend_.add_rms_norm(residual, proj, weights_.norm, eps, hidden);
  if (rows == 0) return;
  TensorView sel = rows_.rows(0, rows);
  TensorView out = logits_.rows(0, rows);
  backend_.gather_rows(hidden, batch, sel);
  backend_.linear(sel, weights_.lm_head, out);
  backend_.to_host_f32(out, logits);
}

}  // namespace hearth
