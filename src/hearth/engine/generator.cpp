#include "hearth/engine/generator.h"

#include <algorithm>

#include "hearth/core/error.h"
#include "hearth/engine/request_rules.h"

namespace hearth {

Generator::Generator(const Checkpoint& checkpoint, Backend& backend, GeneratorOptions opts)
    : backend_(backend),
      opts_(opts),
      model_(checkpoint.config(), backend.upload_weights(checkpoint.weights()), backend) {
  max_model_len_ = resolve_max_model_len(checkpoint.config(), opts_.max_model_len);
  eos_ids_ = merged_eos_token_ids(checkpoint);
}

StepBatch single_sequence_step(std::span<const int32_t> tokens, int cached, int kv_blocks, bool want_logits) {
  const int n = static_cast<int>(tokens.size());
  StepBatch step;
  step.token_ids.assign(tokens.begin(), tokens.end());
  step.positions.resize(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) step.positions[static_cast<size_t>(i)] = cached + i;
  step.slot_mapping = step.positions;
  step.query_start = {0, n};
  step.context_lens = {cached + n};
  step.max_blocks_per_seq = kv_blocks;
  step.block_tables.resize(static_cast<size_t>(kv_blocks));
  for (int i = 0; i < kv_blocks; ++i) step.block_tables[static_cast<size_t>(i)] = i;
  if (want_logits) step.logits_rows.push_back(n - 1);
  return step;
}

void Generator::validate(const GenerationRequest& req) const {
  validate_request(req.prompt_ids, req.params, config().vocab_size, max_model_len_);
}

void Generator::ensure_kv_capacity(int tokens) {
  const int blocks = (tokens + opts_.block_size - 1) / opts_.block_size;
  if (blocks <= kv_blocks_) return;
  const ModelConfig& c = config();
  KvCacheSpec spec;
  spec.num_layers = c.num_hidden_layers;
  spec.num_blocks = blocks;
  spec.block_size = opts_.block_size;
  spec.num_kv_heads = c.num_key_value_heads;
  spec.head_dim = c.head_dim;
  spec.dtype = backend_.activation_dtype();
  backend_.init_kv_cache(spec);
  kv_blocks_ = blocks;
}

GenerationResult Generator::generate(const GenerationRequest& req) {
  validate(req);
  const SamplingParams& p = req.params;
  const int prompt_len = static_cast<int>(req.prompt_ids.size());
  const int total = std::min(max_model_len_, prompt_len + p.max_tokens);
  ensure_kv_capacity(total);

  Sampler sampler(p, req.prompt_ids, eos_ids_);
  // Greedy without penalties is picked on the device where the backend can (the logits
  // stay there, and decode steps replay step graphs); everything else samples on the host.
  const bool device_greedy = backend_.supports_device_greedy() && device_greedy_eligible(p);
  std::vector<GreedyPick> picks;
  std::vector<float> logits(device_greedy ? 0 : static_cast<size_t>(config().vocab_size));
  GenerationResult out;
  std::vector<int32_t> pending(req.prompt_ids.begin(), req.prompt_ids.end());
  int cached = 0;  // tokens already in the KV cache
  for (;;) {
    // Feed `pending` (the prompt in chunks, then one token per decode step).
    const int chunk = std::min<int>(static_cast<int>(pending.size()), opts_.prefill_chunk);
    const bool last_chunk = chunk == static_cast<int>(pending.size());
    const StepBatch step = single_sequence_step(std::span(pending).first(static_cast<size_t>(chunk)), cached,
                                                kv_blocks_, last_chunk);
    TokenLogprobs lp;
    int token = -1;
    if (device_greedy) {
      model_.forward_greedy(step, p.logprobs, picks);
    } else {
      auto dev = backend_.upload_batch(step);
      model_.forward(*dev, logits.data());
    }
    cached += chunk;
    pending.erase(pending.begin(), pending.begin() + chunk);
    if (!last_chunk) continue;

    if (device_greedy) {
      token = picks.at(0).id;
      lp.id = token;
      lp.logprob = picks[0].logprob;
      lp.top = picks[0].top;
    } else {
      token = sampler.sample(logits, p.logprobs > 0 ? &lp : nullptr);
    }
    sampler.accept(token);
    out.ids.push_back(token);
    if (p.logprobs > 0) out.logprobs.push_back(std::move(lp));

    const FinishReason stop = check_stop(p, eos_ids_, token, prompt_len, static_cast<int>(out.ids.size()), max_model_len_,
                                         &sampler);
    if (stop == FinishReason::Error) fail("{}", kConstraintDeadEnd);
    if (stop != FinishReason::None) {
      out.finish_reason = to_string(stop);
      break;
    }
    pending.push_back(token);
  }
  return out;
}

}  // namespace hearth
