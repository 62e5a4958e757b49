// One request inside the engine: its tokens, sampling state, KV blocks and progress. The
// only object the Scheduler, the KV cache manager and the ModelRunner pass between them.
//
// Progress is one number: num_computed tokens have their KV written. A step feeds
// tokens[num_computed, num_computed + n); the prompt takes one or more steps (chunked
// prefill, or a prefix-cache hit that starts num_computed past 0), and after it each
// step feeds the last sampled token (decode). Preemption frees the blocks and resets
// num_computed to 0: the sequence is recomputed from its tokens (prompt + output so far).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "hearth/engine.h"
#include "hearth/kv/kv_cache_manager.h"
#include "hearth/sampling/sampler.h"

namespace hearth {

enum class SeqStatus { Waiting, Running, Preempted, Finished };
const char* to_string(SeqStatus s);

class Sequence {
 public:
  // eos_ids: the model's, for the sampler's output constraint (if params has one).
  Sequence(RequestId id, uint64_t arrival, std::vector<int32_t> prompt_ids, const SamplingParams& params,
           std::span<const int> eos_ids = {});

  RequestId id() const { return id_; }
  uint64_t arrival() const { return arrival_; }  // order of submission, 0, 1, 2, ...
  const SamplingParams& params() const { return sampler_.params(); }

  std::span<const int32_t> tokens() const { return tokens_; }  // prompt + output
  int num_tokens() const { return static_cast<int>(tokens_.size()); }
  int prompt_len() const { return prompt_len_; }
  int num_output() const { return num_tokens() - prompt_len_; }
  std::span<const int32_t> output_ids() const { return std::span(tokens_).subspan(static_cast<size_t>(prompt_len_)); }
  // Tokens not yet in the KV cache: 1 when decoding, more during (re)prefill.
  int num_pending() const { return num_tokens() - num_computed; }

  // Records a sampled token (and tells the sampler, for penalties).
  void append_token(int32_t token);
  // Records a sampled token now and tells the sampler later (accept_pending): a constrained
  // sampler's accept computes the next mask, which the engine overlaps with the next forward
  // pass (the forward pass needs the token, not the mask).
  void append_token_deferred(int32_t token);
  bool has_pending_accept() const { return pending_accept_; }
  // Tells the sampler of the deferred token. Touches only the sampler: safe on a worker
  // thread while the engine thread reads tokens() and params().
  void accept_pending();
  Sampler& sampler() { return sampler_; }

  SeqStatus status = SeqStatus::Waiting;
  FinishReason finish_reason = FinishReason::None;
  int num_computed = 0;         // tokens whose KV is written
  int num_cached_tokens = 0;    // prefix-cache hit at the latest admission
  int first_cached_tokens = -1; // prefix-cache hit at the first admission (-1: not yet admitted)
  uint64_t prefix_hit_tokens = 0;  // over all admissions (re-admissions after preemption too)
  int num_preemptions = 0;
  SeqKv kv;                     // block table + content ids of full blocks

 private:
  RequestId id_;
  uint64_t arrival_;
  int prompt_len_;
  std::vector<int32_t> tokens_;
  bool pending_accept_ = false;  // tokens_.back() is not yet accepted by sampler_
  Sampler sampler_;
};

}  // namespace hearth
