// The weights of a Qwen3 model as views into some memory (mmap'd checkpoint, random
// buffers, or a backend's device copy). Linear weights keep HF's [out, in] layout.
#pragma once

#include <string>
#include <vector>

#include "hearth/core/tensor.h"

namespace hearth {

// How a weight's bytes encode values. Dense covers F32/F16/BF16 (dtype in the view).
// Quantized formats (AWQ 4-bit, GGUF Q4_K/Q5_K/Q8_0) are added here, with their extra
// tensors, so that the model code never changes: ops dispatch on the format.
enum class WeightFormat { Dense };

struct Weight {
  TensorView t;  // Dense: [out, in] for linears, [n] for norms, [vocab, hidden] for embeddings
  WeightFormat format = WeightFormat::Dense;
  std::string name;  // checkpoint tensor name, for error messages
};

struct LayerWeights {
  Weight input_layernorm;           // [hidden]
  Weight q_proj, k_proj, v_proj;    // [q_dim, hidden], [kv_dim, hidden], [kv_dim, hidden]
  Weight o_proj;                    // [hidden, q_dim]
  Weight q_norm, k_norm;            // [head_dim]
  Weight post_attention_layernorm;  // [hidden]
  Weight gate_proj, up_proj;        // [intermediate, hidden]
  Weight down_proj;                 // [hidden, intermediate]
};

struct ModelWeights {
  Weight embed_tokens;  // [vocab, hidden]
  std::vector<LayerWeights> layers;
  Weight norm;     // [hidden]
  Weight lm_head;  // [vocab, hidden]; the same view as embed_tokens when tied
};

}  // namespace hearth
