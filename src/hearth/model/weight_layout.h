// The tensors a Qwen3 checkpoint must contain for a given config: HF names, shapes, and
// which ModelWeights slot each one fills. Shared by the safetensors loader and random:
// models so that both produce the same layout.
#pragma once

#include <string>
#include <vector>

#include "hearth/core/tensor.h"
#include "hearth/model/config.h"
#include "hearth/model/weights.h"

namespace hearth {

enum class WeightKind { Embedding, Linear, Norm };

struct TensorSpec {
  std::string name;  // HF name, e.g. "model.layers.3.self_attn.q_proj.weight"
  Shape shape;
  WeightKind kind = WeightKind::Linear;
};

// Every tensor the checkpoint must provide, in a stable order (embeddings, then layer by
// layer, then the final norm, then lm_head unless the embeddings are tied).
std::vector<TensorSpec> expected_tensors(const ModelConfig& cfg);

// Resizes w.layers for cfg and returns, parallel to expected_tensors(cfg), the slot each
// tensor fills. lm_head is not among them when tied: call tie_lm_head afterwards.
std::vector<Weight*> weight_slots(const ModelConfig& cfg, ModelWeights& w);
void tie_lm_head(ModelWeights& w);

// Tensors that HF checkpoints may carry but that are derived, not learned
// (e.g. "model.layers.0.self_attn.rotary_emb.inv_freq"); loaders ignore them.
bool is_ignorable_tensor(const std::string& name);

}  // namespace hearth
