#include "hearth/engine/model_runner.h"

#include <algorithm>

#include "hearth/core/error.h"

namespace hearth {

namespace {

bool pure_decode(const ScheduledBatch& batch) {
  if (batch.seqs.empty()) return false;
  for (const ScheduledSeq& e : batch.seqs)
    if (e.num_tokens != 1 || !e.wants_logits) return false;
  return true;
}

int next_pow2(int x) {
  int p = 1;
  while (p < x) p *= 2;
  return p;
}

}  // namespace

int decode_bucket(int n, int max_seqs) {
  HEARTH_CHECK(n >= 1 && n <= max_seqs, "decode bucket for {} sequences (max {})", n, max_seqs);
  // 1, 2, 4, 8, then steps of a third to a half: padding wastes at most a third of the rows
  // past 16, and the weight-bound GEMMs barely notice extra rows at these sizes.
  int b = 1;
  while (b < n) {
    if (b < 16)
      b *= 2;
    else if ((b & (b - 1)) == 0)
      b += b / 2;  // 16 -> 24, 32 -> 48, 64 -> 96, ...
    else
      b = next_pow2(b);  // 24 -> 32, 48 -> 64, ...
  }
  return std::min(b, max_seqs);
}

StepBatch make_step_batch(const ScheduledBatch& batch, int block_size, int table_width, int padded_seqs) {
  StepBatch step;
  const size_t seqs = batch.seqs.size();
  const size_t all_seqs = std::max(seqs, static_cast<size_t>(std::max(padded_seqs, 0)));
  const size_t all_tokens = static_cast<size_t>(batch.num_tokens) + (all_seqs - seqs);
  HEARTH_CHECK(all_seqs == seqs || pure_decode(batch), "padding a step that is not a pure decode step");
  step.token_ids.reserve(all_tokens);
  step.positions.reserve(all_tokens);
  step.slot_mapping.reserve(all_tokens);
  step.query_start.reserve(all_seqs + 1);
  step.context_lens.reserve(all_seqs);
  step.max_blocks_per_seq = table_width;
  step.block_tables.assign(all_seqs * static_cast<size_t>(table_width), -1);
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
  // Padding sequences: one token each, written nowhere (slot -1), attending to one position
  // of block 0 (any valid block: the kernels index the cache through it unchecked).
  for (size_t s = seqs; s < all_seqs; ++s) {
    HEARTH_CHECK(table_width >= 1, "padding needs a block table of at least one block");
    step.token_ids.push_back(0);
    step.positions.push_back(0);
    step.slot_mapping.push_back(-1);
    step.query_start.push_back(static_cast<int32_t>(step.token_ids.size()));
    step.context_lens.push_back(1);
    step.block_tables[s * static_cast<size_t>(table_width)] = 0;
    step.logits_rows.push_back(static_cast<int32_t>(step.token_ids.size()) - 1);
  }
  return step;
}

ModelRunner::ModelRunner(const Checkpoint& checkpoint, Backend& backend, const ModelRunnerOptions& opts)
    : backend_(backend),
      model_(checkpoint.config(), backend.upload_weights(checkpoint.weights()), backend),
      opts_(opts),
      sampling_(backend, checkpoint.config().vocab_size, opts.device_sampling) {
  model_.set_use_graphs(opts.use_graphs);
  HEARTH_CHECK(opts.num_blocks >= 0 && opts.block_size > 0 && opts.max_model_len > 0 && opts.max_num_seqs > 0,
               "model runner options: {} blocks of {}, context {}, {} sequences", opts.num_blocks, opts.block_size,
               opts.max_model_len, opts.max_num_seqs);
  table_width_ = (opts.max_model_len + opts.block_size - 1) / opts.block_size;
  if (opts.num_blocks > 0) init_kv_cache(opts.num_blocks);
}

void ModelRunner::init_kv_cache(int num_blocks) {
  HEARTH_CHECK(num_blocks > 0, "KV cache of {} blocks", num_blocks);
  const ModelConfig& c = config();
  KvCacheSpec spec;
  spec.num_layers = c.num_hidden_layers;
  spec.num_blocks = num_blocks;
  spec.block_size = opts_.block_size;
  spec.num_kv_heads = c.num_key_value_heads;
  spec.head_dim = c.head_dim;
  spec.dtype = backend_.activation_dtype();
  spec.cache_dtype = opts_.kv_cache_dtype;
  backend_.init_kv_cache(spec);
  opts_.num_blocks = num_blocks;
}

bool ModelRunner::pad_decode() const {
  if (opts_.pad_decode >= 0) return opts_.pad_decode > 0;
  return backend_.supports_graphs();
}

void ModelRunner::launch(const ScheduledBatch& batch, bool picks_with_forward) {
  HEARTH_CHECK(!batch.empty(), "empty step");
  HEARTH_CHECK(opts_.num_blocks > 0, "step before the KV cache was allocated");
  wanting_.clear();
  rows_.clear();
  for (const ScheduledSeq& e : batch.seqs)
    if (e.wants_logits) wanting_.push_back(e.seq);

  int max_blocks = 1;
  for (const ScheduledSeq& e : batch.seqs) max_blocks = std::max(max_blocks, static_cast<int>(e.seq->kv.blocks.size()));
  int width = max_blocks;
  int padded = 0;
  if (pure_decode(batch)) {
    // A graph's key holds the table width: a power of two of blocks (at least 16) keeps the
    // recordings few while the contexts grow, and the fixed batch small.
    width = std::min(table_width_, std::max(16, next_pow2(max_blocks)));
    width = std::max(width, max_blocks);
    if (pad_decode()) padded = decode_bucket(static_cast<int>(batch.seqs.size()), std::max(opts_.max_num_seqs, static_cast<int>(batch.seqs.size())));
  }
  const StepBatch step = make_step_batch(batch, opts_.block_size, width, padded);
  rows_.reserve(step.logits_rows.size());
  for (Sequence* s : wanting_) rows_.push_back({&s->sampler()});
  rows_.resize(step.logits_rows.size());  // padding rows: no sampler
  last_rows_ = static_cast<int>(step.logits_rows.size());

  const StepPicks picks = picks_with_forward ? sampling_.launch_picks(rows_) : StepPicks::none();
  launch_start_ = std::chrono::steady_clock::now();
  logits_ = model_.launch(step, picks);
  picks_launched_ = picks_with_forward;
  launched_ = true;
}

std::vector<SampledToken> ModelRunner::finish(std::span<const bool> drop) {
  HEARTH_CHECK(launched_, "finish() without a launched step");
  launched_ = false;
  HEARTH_CHECK(drop.empty() || drop.size() == wanting_.size(), "{} drop flags for {} rows", drop.size(),
               wanting_.size());
  for (size_t i = 0; i < drop.size(); ++i)
    if (drop[i]) rows_[i].sampler = nullptr;
  std::vector<SampledToken> all = sampling_.pick(rows_, logits_, picks_launched_);
  all.resize(wanting_.size());  // the padding rows' picks go
  return all;
}

}  // namespace hearth
