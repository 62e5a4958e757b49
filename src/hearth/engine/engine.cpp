#include "hearth/engine/engine.h"

#include <algorithm>
#include <utility>

#include "hearth/core/error.h"
#include "hearth/core/log.h"
#include "hearth/engine/request_rules.h"

namespace hearth {

namespace {

// Default KV cap when no size is given: plenty for the CPU backend and the tests, and a
// GPU start-up sizes the cache from measured memory instead (plan_kv_from_memory).
constexpr uint64_t kDefaultKvBytesCap = 4ull << 30;

EngineOptions validated(EngineOptions o) {
  o.validate();
  return o;
}

}  // namespace

void EngineOptions::validate() const {
  if (max_num_seqs <= 0) fail("--max-num-seqs must be positive, got {}", max_num_seqs);
  if (max_num_batched_tokens <= 0) fail("--max-num-batched-tokens must be positive, got {}", max_num_batched_tokens);
  if (max_num_batched_tokens < max_num_seqs)
    fail("--max-num-batched-tokens ({}) must be at least --max-num-seqs ({}): every running sequence "
         "needs one token per step", max_num_batched_tokens, max_num_seqs);
  if (max_model_len < 0) fail("--max-model-len must be positive, got {}", max_model_len);
  if (block_size <= 0 || block_size > 1024) fail("KV block size must be in [1, 1024], got {}", block_size);
  if (num_kv_blocks < 0) fail("KV block count must be positive, got {}", num_kv_blocks);
  if (kv_cache_tokens < 0) fail("KV cache token budget must be positive, got {}", kv_cache_tokens);
}

KvPlan plan_engine_kv_cache(const EngineOptions& o, const ModelConfig& c, DType kv_dtype, int max_model_len) {
  KvLayout layout;
  layout.num_layers = c.num_hidden_layers;
  layout.num_kv_heads = c.num_key_value_heads;
  layout.head_dim = c.head_dim;
  layout.dtype_bytes = static_cast<int>(dtype_size(kv_dtype));
  layout.block_size = o.block_size;
  if (o.num_kv_blocks > 0) return plan_kv_from_blocks(o.num_kv_blocks, layout, max_model_len);
  if (o.kv_cache_tokens > 0) return plan_kv_from_tokens(o.kv_cache_tokens, layout, max_model_len);
  if (o.kv_cache_bytes > 0) {
    MemoryUse use;
    use.budget = o.kv_cache_bytes;
    return plan_kv_from_memory(use, layout, max_model_len);
  }
  layout.validate();
  const int64_t full_seq = static_cast<int64_t>((max_model_len + o.block_size - 1) / o.block_size) * o.block_size;
  const int64_t cap = static_cast<int64_t>(kDefaultKvBytesCap / layout.bytes_per_token());
  const int64_t tokens = std::max(full_seq, std::min(static_cast<int64_t>(o.max_num_seqs) * full_seq, cap));
  return plan_kv_from_tokens(tokens, layout, max_model_len);
}

Engine::Engine(const Checkpoint& checkpoint, Backend& backend, EngineOptions options)
    : opts_(validated(std::move(options))),
      max_model_len_(resolve_max_model_len(checkpoint.config(), opts_.max_model_len)),
      eos_ids_(merged_eos_token_ids(checkpoint)),
      plan_(plan_engine_kv_cache(opts_, checkpoint.config(), backend.activation_dtype(), max_model_len_)),
      kv_(plan_.num_blocks, opts_.block_size, opts_.enable_prefix_caching),
      runner_(checkpoint, backend, ModelRunnerOptions{plan_.num_blocks, opts_.block_size, max_model_len_}),
      scheduler_(SchedulerConfig{opts_.max_num_seqs, opts_.max_num_batched_tokens, opts_.enable_chunked_prefill}, kv_) {
  if (!opts_.enable_chunked_prefill && opts_.max_num_batched_tokens < max_model_len_)
    fail("without chunked prefill --max-num-batched-tokens ({}) must be at least the context ({} tokens): "
         "a prompt runs in one step", opts_.max_num_batched_tokens, max_model_len_);
  log::info("{}", describe(plan_));
}

Engine::~Engine() = default;

void Engine::validate(const Request& r) const {
  validate_request(r.prompt_ids, r.params, config().vocab_size, max_model_len_);
}

RequestId Engine::add_request(Request request) {
  while (seqs_.count(next_id_)) ++next_id_;
  const RequestId id = next_id_++;
  add_request(id, std::move(request));
  return id;
}

void Engine::add_request(RequestId id, Request request) {
  validate(request);
  if (seqs_.count(id)) fail("request id {} is already in flight", id);
  auto seq = std::make_unique<Sequence>(id, next_arrival_++, std::move(request.prompt_ids), request.params, eos_ids_);
  scheduler_.add(seq.get());
  if (request.detokenizer) decoders_.emplace(id, std::move(request.detokenizer));
  seqs_.emplace(id, std::move(seq));
}

void Engine::finish_output(RequestOutput& out, const Sequence& s) {
  out.usage.prompt_tokens = s.prompt_len();
  out.usage.completion_tokens = s.num_output();
  out.usage.cached_tokens = std::max(s.first_cached_tokens, 0);
  const auto d = decoders_.find(s.id());
  if (d != decoders_.end()) {
    for (int32_t t : out.token_ids) out.text += d->second.push(t);
    if (out.finished() && d->second.flush) out.text += d->second.flush();
  }
  if (out.finished()) {
    decoders_.erase(s.id());
    ++stats_.finished_requests;
  }
}

std::optional<RequestOutput> Engine::abort(RequestId id) {
  const auto it = seqs_.find(id);
  if (it == seqs_.end()) return std::nullopt;
  std::unique_ptr<Sequence> seq = std::move(it->second);
  seqs_.erase(it);
  scheduler_.abort(seq.get());
  RequestOutput out;
  out.id = id;
  out.finish_reason = FinishReason::Abort;
  finish_output(out, *seq);
  return out;
}

std::vector<RequestOutput> Engine::step() {
  std::vector<RequestOutput> outs;
  const ScheduledBatch batch = scheduler_.schedule();
  if (batch.empty()) return outs;
  std::vector<SampledToken> sampled = runner_.execute(batch);
  scheduler_.complete(batch);
  ++stats_.steps;
  stats_.scheduled_tokens += static_cast<uint64_t>(batch.num_tokens);

  size_t row = 0;
  for (const ScheduledSeq& e : batch.seqs) {
    if (!e.wants_logits) continue;
    Sequence* s = e.seq;
    SampledToken& t = sampled[row++];
    s->append_token(t.token);
    ++stats_.generated_tokens;
    RequestOutput out;
    out.id = s->id();
    out.token_ids.push_back(t.token);
    if (s->params().logprobs > 0) out.logprobs.push_back(std::move(t.logprobs));
    out.finish_reason = check_stop(s->params(), eos_ids_, t.token, s->prompt_len(), s->num_output(), max_model_len_,
                                   &s->sampler());
    if (out.finish_reason == FinishReason::Error) out.error = kConstraintDeadEnd;
    if (out.finished()) scheduler_.finish(s, out.finish_reason);
    finish_output(out, *s);
    if (out.finished()) seqs_.erase(s->id());
    outs.push_back(std::move(out));
  }
  return outs;
}

std::vector<RequestId> Engine::unfinished_ids() const {
  std::vector<RequestId> ids;
  ids.reserve(seqs_.size());
  for (const auto& [id, seq] : seqs_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<GenerationResult> Engine::generate_all(std::span<const GenerationRequest> requests) {
  if (has_unfinished()) fail("generate_all() needs an idle engine; {} requests are in flight", seqs_.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    try {
      validate_request(requests[i].prompt_ids, requests[i].params, config().vocab_size, max_model_len_);
    } catch (const Error& e) {
      fail("request {}: {}", i + 1, e.what());
    }
  }
  std::unordered_map<RequestId, size_t> index;
  for (size_t i = 0; i < requests.size(); ++i) {
    Request r;
    r.prompt_ids = requests[i].prompt_ids;
    r.params = requests[i].params;
    index.emplace(add_request(std::move(r)), i);
  }
  std::vector<GenerationResult> results(requests.size());
  try {
    while (has_unfinished()) {
      for (RequestOutput& o : step()) {
        GenerationResult& r = results[index.at(o.id)];
        r.ids.insert(r.ids.end(), o.token_ids.begin(), o.token_ids.end());
        for (TokenLogprobs& lp : o.logprobs) r.logprobs.push_back(std::move(lp));
        if (o.finished()) r.finish_reason = to_string(o.finish_reason);
      }
    }
  } catch (...) {
    for (RequestId id : unfinished_ids()) abort(id);  // leave the engine idle and reusable
    throw;
  }
  return results;
}

EngineStats Engine::stats() const {
  EngineStats s = stats_;
  s.preemptions = scheduler_.num_preemptions();
  s.prefix_query_tokens = kv_.stats().query_tokens;
  s.prefix_hit_tokens = kv_.stats().hit_tokens;
  s.running = scheduler_.num_running();
  s.waiting = scheduler_.num_waiting();
  s.kv_blocks = kv_.num_blocks();
  s.kv_free_blocks = kv_.num_free_blocks();
  return s;
}

void Engine::check_invariants() const {
  scheduler_.check_invariants();
  HEARTH_CHECK(static_cast<size_t>(scheduler_.num_running() + scheduler_.num_waiting()) == seqs_.size(),
               "{} running + {} waiting but {} unfinished requests", scheduler_.num_running(),
               scheduler_.num_waiting(), seqs_.size());
}

}  // namespace hearth
