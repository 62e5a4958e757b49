#include "hearth/engine/generator.h"

#include <algorithm>

#include "hearth/core/error.h"
#include "hearth/engine/request_rules.h"

namespace hearth {

Generator::Generator(const Checkpoint& checkpoint, Backend& backend, GeneratorOptions opts)
    : backend_(backend),
      opts_(opts),
      model_(checkpoint.config(), backend.upload_weights(checkpoint.weights()), backend),
      sampling_(backend, checkpoint.config().vocab_size, opts.device_sampling) {
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
  spec.cache_dtype = opts_.kv_cache_dtype;
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
  const PickRow rows[] = {{&sampler}};
  GenerationResult out;
  std::vector<int32_t> pending(req.prompt_ids.begin(), req.prompt_ids.end());
  int cached = 0;        // tokens already in the KV cache
  int unaccepted = -1;   // a constrained token fed to this step, accepted while it runs
  for (;;) {
    // Feed `pending` (the prompt in chunks, then one token per decode step).
    const int chunk = std::min<int>(static_cast<int>(pending.size()), opts_.prefill_chunk);
    const bool last_chunk = chunk == static_cast<int>(pending.size());
    const StepBatch step = single_sequence_step(std::span(pending).first(static_cast<size_t>(chunk)), cached,
                                                kv_blocks_, last_chunk);
    // The picks ride in the forward launch (a decode graph records them) unless the Sampler
    // still has a token to accept; then they follow it (the Engine's path: step_sampling.h).
    const bool picks_with_forward = last_chunk && unaccepted < 0;
    const StepPicks picks = picks_with_forward ? sampling_.launch_picks(rows) : StepPicks::none();
    const TensorView logits = model_.launch(step, picks);
    if (unaccepted >= 0) {
      // The next mask, computed while the forward pass runs (on a GPU backend).
      sampler.accept(unaccepted);
      unaccepted = -1;
      if (sampler.constraint_finished()) {
        out.finish_reason = to_string(FinishReason::Stop);
        break;
      }
      if (sampler.constraint_dead_end()) fail("{}", kConstraintDeadEnd);
    }
    cached += chunk;
    pending.erase(pending.begin(), pending.begin() + chunk);
    if (!last_chunk) continue;

    SampledToken picked = std::move(sampling_.pick(rows, logits, picks_with_forward)[0]);
    const int token = picked.token;
    out.ids.push_back(token);
    if (p.logprobs > 0) out.logprobs.push_back(std::move(picked.logprobs));
    const int produced = static_cast<int>(out.ids.size());
    if (opts_.overlap_masks && sampler.constraint() != nullptr &&
        check_stop(p, eos_ids_, token, prompt_len, produced, max_model_len_, nullptr) == FinishReason::None) {
      unaccepted = token;
      pending.push_back(token);
      continue;
    }
    sampler.accept(token);
    const FinishReason stop = check_stop(p, eos_ids_, token, prompt_len, produced, max_model_len_, &sampler);
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
