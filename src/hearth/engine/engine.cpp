#include "hearth/engine/engine.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <utility>

#include "hearth/core/error.h"
#include "hearth/core/log.h"
#include "hearth/backend/kv_fp8.h"
#include "hearth/engine/request_rules.h"

namespace hearth {

namespace {

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
  if (mask_threads < -1 || mask_threads > 256) fail("mask threads must be in [-1, 256], got {}", mask_threads);
  if (pad_decode < -1 || pad_decode > 1) fail("pad_decode must be -1, 0 or 1, got {}", pad_decode);
  if (pipeline_outputs < -1 || pipeline_outputs > 1) fail("pipeline_outputs must be -1, 0 or 1, got {}", pipeline_outputs);
  try {
    (void)parse_kv_cache_dtype(kv_cache_dtype);
  } catch (const Error& e) {
    fail("--kv-cache-dtype: {}", e.what());
  }
}

namespace {

int mask_workers(int requested) {
  if (requested >= 0) return requested;
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  return std::clamp(cores - 1, 0, 4);
}

ModelRunnerOptions runner_options(const EngineOptions& o, int max_model_len) {
  ModelRunnerOptions r;
  r.kv_cache_dtype = parse_kv_cache_dtype(o.kv_cache_dtype);
  r.use_graphs = !o.enforce_eager;
  r.num_blocks = 0;  // allocated after the memory plan
  r.block_size = o.block_size;
  r.max_model_len = max_model_len;
  r.max_num_seqs = o.max_num_seqs;
  r.pad_decode = o.pad_decode;
  r.device_sampling = o.device_sampling;
  return r;
}

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

Engine::Engine(const Checkpoint& checkpoint, Backend& backend, EngineOptions options)
    : opts_(validated(std::move(options))),
      max_model_len_(resolve_max_model_len(checkpoint.config(), opts_.max_model_len)),
      eos_ids_(merged_eos_token_ids(checkpoint)),
      runner_(checkpoint, backend, runner_options(opts_, max_model_len_)),
      plan_(plan_kv_cache(opts_, runner_, max_model_len_)),
      kv_(plan_.plan.num_blocks, opts_.block_size, opts_.enable_prefix_caching),
      scheduler_(SchedulerConfig{opts_.max_num_seqs, opts_.max_num_batched_tokens, opts_.enable_chunked_prefill}, kv_),
      mask_workers_(mask_workers(opts_.mask_threads)) {
  if (!opts_.enable_chunked_prefill && opts_.max_num_batched_tokens < max_model_len_)
    fail("without chunked prefill --max-num-batched-tokens ({}) must be at least the context ({} tokens): "
         "a prompt runs in one step", opts_.max_num_batched_tokens, max_model_len_);
  runner_.init_kv_cache(plan_.plan.num_blocks);
  if (plan_.measured) log::info("{}", plan_.describe());
  log::info("{}", describe(plan_.plan));
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
  // A deferred accept belongs to a step that has not run yet: drop it with the request.
  deferred_.erase(std::remove(deferred_.begin(), deferred_.end(), seq.get()), deferred_.end());
  scheduler_.abort(seq.get());
  RequestOutput out;
  out.id = id;
  out.finish_reason = FinishReason::Abort;
  finish_output(out, *seq);
  return out;
}

RequestOutput Engine::finish_by_constraint(Sequence* s, FinishReason reason) {
  scheduler_.finish(s, reason);
  RequestOutput out;
  out.id = s->id();
  out.finish_reason = reason;
  if (reason == FinishReason::Error) out.error = kConstraintDeadEnd;
  finish_output(out, *s);
  return out;
}

std::vector<RequestOutput> Engine::step(const std::function<void()>& during_forward) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point step_start = Clock::now();
  std::vector<RequestOutput> outs;
  const ScheduledBatch batch = scheduler_.schedule();
  std::vector<Sequence*> deferred;
  deferred.swap(deferred_);

  // 1. Queue the forward pass. A sequence whose Sampler still has to accept its last token
  // (its mask is computed below, meanwhile) cannot export its sampling inputs yet: then the
  // picks follow the forward pass instead of riding in its launch.
  if (!batch.empty()) {
    bool picks_with_forward = true;
    for (const ScheduledSeq& e : batch.seqs)
      if (e.wants_logits && e.seq->has_pending_accept()) picks_with_forward = false;
    const Clock::time_point t = Clock::now();
    runner_.launch(batch, picks_with_forward);
    stats_.phases.launch.add(ms_since(t));
    if (last_ready_) {
      stats_.gpu_idle_ms += std::chrono::duration<double, std::milli>(runner_.last_launch_start() - *last_ready_).count();
      ++stats_.timed_gaps;
    }
  }
  const Clock::time_point launched = runner_.last_launch_start();

  // 2. While it runs: the deferred accepts (the next masks) on the workers, and the caller's work.
  // The accepts' timing: the last one's end (ns after mask_start) and their summed durations.
  const Clock::time_point mask_start = Clock::now();
  std::atomic<int64_t> mask_end_ns{0}, mask_cpu_ns{0};
  if (!deferred.empty()) {
    mask_workers_.start(static_cast<int>(deferred.size()), [&deferred, &mask_start, &mask_end_ns, &mask_cpu_ns](int i) {
      const Clock::time_point t0 = Clock::now();
      deferred[static_cast<size_t>(i)]->accept_pending();
      const Clock::time_point t1 = Clock::now();
      mask_cpu_ns.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
      const int64_t end = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - mask_start).count();
      int64_t seen = mask_end_ns.load();
      while (seen < end && !mask_end_ns.compare_exchange_weak(seen, end)) {
      }
    });
  }
  try {
    if (during_forward) {
      const Clock::time_point t = Clock::now();
      during_forward();
      stats_.phases.during_forward.add(ms_since(t));
    }
  } catch (...) {
    // The tasks reference `deferred`: they must end before it goes.
    try {
      mask_workers_.join();
    } catch (...) {
    }
    throw;
  }
  if (!deferred.empty()) {
    const Clock::time_point t = Clock::now();
    mask_workers_.join();
    stats_.phases.mask_wait.add(ms_since(t));
    stats_.phases.mask_work.add(static_cast<double>(mask_end_ns.load()) * 1e-6);
    stats_.phases.mask_cpu.add(static_cast<double>(mask_cpu_ns.load()) * 1e-6);
  }
  // A constraint told of its token only now may end its request (value complete, or stuck):
  // what check_stop would have said right after the token in the sequential order.
  std::vector<std::pair<Sequence*, FinishReason>> ending;
  for (Sequence* s : deferred) {
    if (s->sampler().constraint_finished())
      ending.emplace_back(s, FinishReason::Stop);
    else if (s->sampler().constraint_dead_end())
      ending.emplace_back(s, FinishReason::Error);
  }
  auto ends = [&](const Sequence* s) {
    return std::any_of(ending.begin(), ending.end(), [&](const auto& e) { return e.first == s; });
  };

  // 3. Picks (dropping the rows of requests that just ended), then the bookkeeping.
  std::vector<SampledToken> sampled;
  if (!batch.empty()) {
    std::vector<bool> drop_flags;
    for (const ScheduledSeq& e : batch.seqs)
      if (e.wants_logits) drop_flags.push_back(ends(e.seq));
    const std::unique_ptr<bool[]> drop(new bool[drop_flags.size()]);
    for (size_t i = 0; i < drop_flags.size(); ++i) drop[i] = drop_flags[i];
    const Clock::time_point t = Clock::now();
    sampled = runner_.finish(std::span<const bool>(drop.get(), drop_flags.size()));
    const double pick_ms = ms_since(t);
    stats_.phases.pick.add(pick_ms);
    stats_.phases.pick_read.add(runner_.last_pick_read_ms());
    stats_.phases.pick_prep.add(std::max(0.0, pick_ms - runner_.last_pick_read_ms()));
    stats_.gpu_busy_ms += ms_since(launched);
    scheduler_.complete(batch);
    ++stats_.steps;
    stats_.scheduled_tokens += static_cast<uint64_t>(batch.num_tokens);
    if (runner_.last_step_used_graph()) ++stats_.graph_steps;
    stats_.padded_rows += static_cast<uint64_t>(runner_.last_step_rows() - static_cast<int>(sampled.size()));
  }
  for (const auto& [s, reason] : ending) {
    outs.push_back(finish_by_constraint(s, reason));
    seqs_.erase(s->id());
  }

  size_t row = 0;
  for (const ScheduledSeq& e : batch.seqs) {
    if (!e.wants_logits) continue;
    Sequence* s = e.seq;
    SampledToken& t = sampled[row++];
    if (t.token < 0) continue;  // dropped: the request ended above
    // Stop rules that do not depend on the constraint's next state first: when none applies
    // to a constrained request, its accept (the next mask) waits for the next forward pass.
    const FinishReason plain = check_stop(s->params(), eos_ids_, t.token, s->prompt_len(), s->num_output() + 1,
                                          max_model_len_, nullptr);
    const bool defer = opts_.overlap_masks && plain == FinishReason::None && s->sampler().constraint() != nullptr;
    RequestOutput out;
    out.id = s->id();
    out.token_ids.push_back(t.token);
    if (s->params().logprobs > 0) out.logprobs.push_back(std::move(t.logprobs));
    ++stats_.generated_tokens;
    if (defer) {
      s->append_token_deferred(t.token);
      deferred_.push_back(s);
    } else {
      s->append_token(t.token);
      out.finish_reason = check_stop(s->params(), eos_ids_, t.token, s->prompt_len(), s->num_output(),
                                     max_model_len_, &s->sampler());
      if (out.finish_reason == FinishReason::Error) out.error = kConstraintDeadEnd;
    }
    if (out.finished()) scheduler_.finish(s, out.finish_reason);
    finish_output(out, *s);
    if (out.finished()) seqs_.erase(s->id());
    outs.push_back(std::move(out));
  }
  if (!batch.empty()) stats_.phases.step.add(ms_since(step_start));
  if (!batch.empty() && has_unfinished())
    last_ready_ = Clock::now();
  else
    last_ready_.reset();  // idle until the next request: not a gap between steps
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
  s.mask_threads = mask_workers_.workers();
  return s;
}

void Engine::check_invariants() const {
  scheduler_.check_invariants();
  HEARTH_CHECK(static_cast<size_t>(scheduler_.num_running() + scheduler_.num_waiting()) == seqs_.size(),
               "{} running + {} waiting but {} unfinished requests", scheduler_.num_running(),
               scheduler_.num_waiting(), seqs_.size());
}

}  // namespace hearth
