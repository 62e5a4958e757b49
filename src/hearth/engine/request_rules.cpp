#include "hearth/engine/request_rules.h"

#include <algorithm>

#include "hearth/core/error.h"

namespace hearth {

const char* to_string(FinishReason r) {
  switch (r) {
    case FinishReason::None: return "";
    case FinishReason::Stop: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::Abort: return "abort";
    case FinishReason::Error: return "error";
  }
  return "";
}

int resolve_max_model_len(const ModelConfig& c, int requested) {
  const int len = requested > 0 ? requested : c.max_position_embeddings;
  if (len <= 0) fail("model has no max_position_embeddings; give a maximum model length");
  if (c.max_position_embeddings > 0 && len > c.max_position_embeddings)
    fail("max model length {} exceeds the model's max_position_embeddings {}", len, c.max_position_embeddings);
  return len;
}

std::vector<int> merged_eos_token_ids(const Checkpoint& checkpoint) {
  std::vector<int> ids = checkpoint.generation_config().eos_token_ids;
  for (int id : checkpoint.config().eos_token_ids)
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  return ids;
}

void validate_request(std::span<const int32_t> prompt, const SamplingParams& params, int vocab, int max_model_len) {
  if (prompt.empty()) fail("prompt is empty");
  for (size_t i = 0; i < prompt.size(); ++i) {
    const int32_t id = prompt[i];
    if (id < 0 || id >= vocab) fail("prompt token {} at index {} is outside the vocabulary [0, {})", id, i, vocab);
  }
  if (static_cast<int64_t>(prompt.size()) >= max_model_len)
    fail("prompt has {} tokens; the model's context is {} tokens", prompt.size(), max_model_len);
  params.validate(vocab);
}

FinishReason check_stop(const SamplingParams& p, std::span<const int> eos_ids, int32_t token, int prompt_len,
                        int output_len, int max_model_len, const Sampler* sampler) {
  const bool is_eos = !p.ignore_eos && std::find(eos_ids.begin(), eos_ids.end(), token) != eos_ids.end();
  const bool is_stop = std::find(p.stop_token_ids.begin(), p.stop_token_ids.end(), token) != p.stop_token_ids.end();
  if (is_eos || is_stop || (sampler != nullptr && sampler->constraint_finished())) return FinishReason::Stop;
  if (sampler != nullptr && sampler->constraint_dead_end()) return FinishReason::Error;
  if (output_len >= p.max_tokens || prompt_len + output_len >= max_model_len) return FinishReason::Length;
  return FinishReason::None;
}

bool device_greedy_eligible(const SamplingParams& p) {
  return p.temperature == 0.0f && p.repetition_penalty == 1.0f && p.presence_penalty == 0.0f &&
         p.frequency_penalty == 0.0f && p.logprobs <= 32 && !p.constraint;
}

}  // namespace hearth
