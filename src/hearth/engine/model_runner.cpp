#include "hearth/engine/model_runner.h"

#include <algorithm>

#include "hearth/core/error.h"
#include "hearth/engine/request_rules.h"

namespace hearth {

StepBatch make_step_batch(const ScheduledBatch& batch, int block_size, int table_width) {
  StepBatch step;
  const size_t seqs = batch.seqs.size();
  step.token_ids.reserve(static_cast<size_t>(batch.num_tokens));
  step.positions.reserve(static_cast<size_t>(batch.num_tokens));
  step.slot_mapping.reserve(static_cast<size_t>(batch.num_tokens));
  step.query_start.reserve(seqs + 1);
  step.context_lens.reserve(seqs);
  step.max_blocks_per_seq = table_width;
  step.block_tables.assign(seqs * static_cast<size_t>(table_width), -1);
  step.query_start.push_back(0);
  for (size_t s = 0; s < seqs; ++s) {
    const ScheduledSeq& e = batch.seqs[s];
    const std::span<const int32_t> tokens = e.seq->tokens();
    const std::vector<BlockId>& blocks = e.seq->kv.blocks;
    const int end = e.start + e.num_tokens;
    HEARTH_CHECK(e.num_tokens > 0 && e.start >= 0 && end <= static_cast<int>(tokens.size()),
                 "request {}: feed [{}, {}) of {} tokens", e.seq->id(), e.start, end, tokens.size());
    HEARTH_CHECK(static_cast<int>(blocks.size()) * block_size >= end && static_cast<int>(blocks.size()) <= table_width,
                 "request {}: {} blocks for {} tokens (table width {})", e.seq->id(), blocks.size(), end, table_width);
    for (int p = e.start; p < end; ++p) {
      step.token_ids.push_back(tokens[static_cast<size_t>(p)]);
      step.positions.push_back(p);
      step.slot_mapping.push_back(blocks[static_cast<size_t>(p / block_size)] * block_size + p % block_size);
    }
    step.query_start.push_back(static_cast<int32_t>(step.token_ids.size()));
    step.context_lens.push_back(end);
    std::copy(blocks.begin(), blocks.end(), step.block_tables.begin() + static_cast<std::ptrdiff_t>(s * static_cast<size_t>(table_width)));
    if (e.wants_logits) step.logits_rows.push_back(static_cast<int32_t>(step.token_ids.size()) - 1);
  }
  return step;
}

ModelRunner::ModelRunner(const Checkpoint& checkpoint, Backend& backend, const ModelRunnerOptions& opts)
    : backend_(backend),
      model_(checkpoint.config(), backend.upload_weights(checkpoint.weights()), backend),
      opts_(opts) {
  HEARTH_CHECK(opts.num_blocks > 0 && opts.block_size > 0 && opts.max_model_len > 0,
               "model runner options: {} blocks of {}, context {}", opts.num_blocks, opts.block_size, opts.max_model_len);
  table_width_ = (opts.max_model_len + opts.block_size - 1) / opts.block_size;
  const ModelConfig& c = checkpoint.config();
  KvCacheSpec spec;
  spec.num_layers = c.num_hidden_layers;
  spec.num_blocks = opts.num_blocks;
  spec.block_size = opts.block_size;
  spec.num_kv_heads = c.num_key_value_heads;
  spec.head_dim = c.head_dim;
  spec.dtype = backend.activation_dtype();
  backend.init_kv_cache(spec);
}

std::vector<SampledToken> ModelRunner::execute(const ScheduledBatch& batch) {
  HEARTH_CHECK(!batch.empty(), "empty step");
  const StepBatch step = make_step_batch(batch, opts_.block_size, table_width_);
  std::vector<Sequence*> wanting;
  for (const ScheduledSeq& e : batch.seqs)
    if (e.wants_logits) wanting.push_back(e.seq);
  std::vector<SampledToken> out(wanting.size());

  // The same choice as the Generator's: greedy picks on the device when every row allows
  // it (the logits then never cross to the host, and decode steps can replay graphs).
  bool device_greedy = backend_.supports_device_greedy() && !wanting.empty();
  int top = 0;
  for (const Sequence* s : wanting) {
    device_greedy = device_greedy && device_greedy_eligible(s->params());
    top = std::max(top, s->params().logprobs);
  }
  if (device_greedy) {
    model_.forward_greedy(step, top, picks_);
    HEARTH_CHECK(picks_.size() == wanting.size(), "{} picks for {} rows", picks_.size(), wanting.size());
    for (size_t r = 0; r < wanting.size(); ++r) {
      GreedyPick& p = picks_[r];
      out[r].token = p.id;
      const int k = wanting[r]->params().logprobs;
      if (k > 0) {
        // The top list is best first, so a sequence asking for fewer keeps a prefix.
        p.top.resize(std::min(p.top.size(), static_cast<size_t>(k)));
        out[r].logprobs = {p.id, p.logprob, std::move(p.top)};
      }
    }
    return out;
  }

  const auto vocab = static_cast<size_t>(config().vocab_size);
  logits_.resize(wanting.size() * vocab);
  auto dev = backend_.upload_batch(step);
  model_.forward(*dev, logits_.data());
  // Output constraints: each sampler masks its row with the bitmask its ConstrainedDecoder
  // computed when the previous token was accepted (Engine::step -> append_token), on the host.
  // Overlap goes here: start those mask computations on a small thread pool right after
  // scheduling, run the forward pass meanwhile, join before this loop; on a GPU backend upload
  // the bitmasks and apply them next to the logits instead of copying the rows to the host.
  for (size_t r = 0; r < wanting.size(); ++r) {
    Sequence* s = wanting[r];
    const std::span<float> row(logits_.data() + r * vocab, vocab);
    const bool want_lp = s->params().logprobs > 0;
    out[r].token = s->sampler().sample(row, want_lp ? &out[r].logprobs : nullptr);
  }
  return out;
}

}  // namespace hearth
