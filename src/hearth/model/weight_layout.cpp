#include "hearth/model/weight_layout.h"

#include <fmt/format.h>

namespace hearth {

namespace {

// Calls fn(name, shape, kind, slot) for every expected tensor; slot may be null when only
// names and shapes are wanted.
template <typename Fn>
void for_each_tensor(const ModelConfig& c, ModelWeights* w, Fn&& fn) {
  const int64_t h = c.hidden_size, q = c.q_dim(), kv = c.kv_dim(), inter = c.intermediate_size;
  fn("model.embed_tokens.weight", Shape{c.vocab_size, h}, WeightKind::Embedding, w ? &w->embed_tokens : nullptr);
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    LayerWeights* l = w ? &w->layers[static_cast<size_t>(i)] : nullptr;
    const std::string p = fmt::format("model.layers.{}.", i);
    fn(p + "input_layernorm.weight", Shape{h}, WeightKind::Norm, l ? &l->input_layernorm : nullptr);
    fn(p + "self_attn.q_proj.weight", Shape{q, h}, WeightKind::Linear, l ? &l->q_proj : nullptr);
    fn(p + "self_attn.k_proj.weight", Shape{kv, h}, WeightKind::Linear, l ? &l->k_proj : nullptr);
    fn(p + "self_attn.v_proj.weight", Shape{kv, h}, WeightKind::Linear, l ? &l->v_proj : nullptr);
    fn(p + "self_attn.o_proj.weight", Shape{h, q}, WeightKind::Linear, l ? &l->o_proj : nullptr);
    fn(p + "self_attn.q_norm.weight", Shape{c.head_dim}, WeightKind::Norm, l ? &l->q_norm : nullptr);
    fn(p + "self_attn.k_norm.weight", Shape{c.head_dim}, WeightKind::Norm, l ? &l->k_norm : nullptr);
    fn(p + "post_attention_layernorm.weight", Shape{h}, WeightKind::Norm, l ? &l->post_attention_layernorm : nullptr);
    fn(p + "mlp.gate_proj.weight", Shape{inter, h}, WeightKind::Linear, l ? &l->gate_proj : nullptr);
    fn(p + "mlp.up_proj.weight", Shape{inter, h}, WeightKind::Linear, l ? &l->up_proj : nullptr);
    fn(p + "mlp.down_proj.weight", Shape{h, inter}, WeightKind::Linear, l ? &l->down_proj : nullptr);
  }
  fn("model.norm.weight", Shape{h}, WeightKind::Norm, w ? &w->norm : nullptr);
  if (!c.tie_word_embeddings)
    fn("lm_head.weight", Shape{c.vocab_size, h}, WeightKind::Linear, w ? &w->lm_head : nullptr);
}

}  // namespace

std::vector<TensorSpec> expected_tensors(const ModelConfig& cfg) {
  std::vector<TensorSpec> out;
  for_each_tensor(cfg, nullptr, [&](std::string name, Shape shape, WeightKind kind, Weight*) {
    out.push_back(TensorSpec{std::move(name), shape, kind});
  });
  return out;
}

std::vector<Weight*> weight_slots(const ModelConfig& cfg, ModelWeights& w) {
  w.layers.assign(static_cast<size_t>(cfg.num_hidden_layers), LayerWeights{});
  std::vector<Weight*> out;
  for_each_tensor(cfg, &w, [&](const std::string&, Shape, WeightKind, Weight* slot) { out.push_back(slot); });
  return out;
}

void tie_lm_head(ModelWeights& w) { w.lm_head = w.embed_tokens; }

bool is_ignorable_tensor(const std::string& name) {
  static const std::string kSuffix = "rotary_emb.inv_freq";
  return name.size() >= kSuffix.size() && name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0;
}

}  // namespace hearth
