// hearth's serving engine API: submit requests from any thread, read each request's
// outputs as a stream.
//
//   hearth::AsyncEngine engine(checkpoint, backend, options);   // starts the engine thread
//   hearth::RequestStream s = engine.submit({prompt_ids, params});
//   while (auto out = s.next()) { ... out->token_ids ... if (out->finished()) break; }
//
// Threads: one engine-loop thread owns the scheduler, the KV block allocator, the model
// runner and the backend. Other threads talk to it only through a queue (submit, abort,
// shutdown) and read outputs from per-request streams; nothing else is shared. The
// synchronous core (src/hearth/engine/engine.h, Engine::step) is usable on its own by a
// single thread, e.g. to run a batch file.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hearth/sampling/sampler.h"
#include "hearth/sampling/sampling_params.h"

namespace hearth {

class Backend;
class Checkpoint;

using RequestId = uint64_t;

enum class FinishReason { None, Stop, Length, Abort, Error };
// "", "stop", "length", "abort", "error" (OpenAI's finish_reason words where they exist).
const char* to_string(FinishReason r);

// Turns generated ids into text deltas on the reader's thread (e.g. a tokenizer
// StreamDecoder: push = its push(id), flush = its flush()). Optional.
struct TextDecoderHook {
  std::function<std::string(int32_t)> push;
  std::function<std::string()> flush;
  explicit operator bool() const { return static_cast<bool>(push); }
};

struct Request {
  std::vector<int32_t> prompt_ids;
  SamplingParams params;
  TextDecoderHook detokenizer;
};

struct Usage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_tokens = 0;  // prompt tokens found in the prefix cache at first admission
};

// New outputs of one request since its previous RequestOutput.
struct RequestOutput {
  RequestId id = 0;
  std::vector<int32_t> token_ids;       // new tokens (a stop token is included)
  std::vector<TokenLogprobs> logprobs;  // one per new token when params.logprobs > 0
  std::string text;                     // text of the new tokens (with a detokenizer)
  FinishReason finish_reason = FinishReason::None;
  std::string error;                    // what went wrong when finish_reason is Error
  Usage usage;                          // totals so far
  bool finished() const { return finish_reason != FinishReason::None; }
};

struct EngineOptions {
  int max_num_seqs = 64;                // --max-num-seqs: sequences running at once
  int max_num_batched_tokens = 16384;   // --max-num-batched-tokens: tokens per step
  int max_model_len = 0;                // 0: the model's max_position_embeddings
  int block_size = 16;                  // tokens per KV block
  bool enable_prefix_caching = true;
  bool enable_chunked_prefill = true;
  // KV cache capacity; the first one set wins. None set: max_num_seqs sequences at full
  // context, at most 4 GiB of KV, at least one sequence at full context.
  // On a GPU the default is measured instead: what the memory budget leaves after the
  // weights, a warm-up step's peak activations and the step graphs (engine/memory_plan.h).
  int64_t num_kv_blocks = 0;
  int64_t kv_cache_tokens = 0;
  uint64_t kv_cache_bytes = 0;
  // --kv-cache-dtype: "auto" (the backend's activation dtype: bf16 on CUDA) or "fp8" /
  // "fp8_e4m3" (one byte per element, scale 1.0 per tensor, as vLLM's option without
  // calibrated scales): half the KV bytes a decode step reads, twice the tokens per GiB.
  std::string kv_cache_dtype = "auto";
  // --enforce-eager: no CUDA step graphs (every step launches its kernels one by one).
  bool enforce_eager = false;

  // Output-constraint masks of the next step are computed on this many worker threads (plus
  // the engine thread) while the step's forward pass runs. -1: min(4, cores - 1); 0: on the
  // engine thread, still during the forward pass.
  int mask_threads = -1;
  // false: each constrained token is accepted (its next mask computed) right after it is
  // sampled, before the next step is scheduled (the reference for the overlapped order).
  bool overlap_masks = true;
  // Decode steps padded to batch-size buckets: -1 when the backend records step graphs, 0
  // never, 1 always (tests). device_sampling false: sample on the host (A/B, tests).
  int pad_decode = -1;
  bool device_sampling = true;
  // AsyncEngine hands a step's outputs to their readers while the next step's forward pass
  // runs: -1 when the backend queues work asynchronously (a GPU: readers see tokens a
  // launch later, microseconds), 0 never (outputs right after their step), 1 always (tests).
  int pipeline_outputs = -1;

  void validate() const;  // throws hearth::Error naming the option
};

// The host time one phase of Engine::step took, over the steps where it ran: count, sum, max
// and a histogram of buckets 10 % wide (from 1 us up; the last one open), so that a
// percentile is known to within 10 % and two snapshots subtract (since()).
struct PhaseTimes {
  static constexpr int kBuckets = 128;  // 1 us * 1.1^127 ~ 180 ms
  uint64_t count = 0;
  double sum_ms = 0;
  double max_ms = 0;  // over the engine's life (since() keeps the later snapshot's)
  std::array<uint32_t, kBuckets> buckets{};

  void add(double ms);
  double mean_ms() const { return count ? sum_ms / static_cast<double>(count) : 0.0; }
  // The upper edge of the bucket holding the p-th percentile (0..100) sample; 0 when empty.
  double percentile_ms(double p) const;
  // This snapshot minus an earlier one of the same engine.
  PhaseTimes since(const PhaseTimes& before) const;
};

// Where the engine thread's time goes in the steps (Engine::step), for finding a gap inside a
// step that gpu_idle_ms (between steps) does not see. All host wall times.
struct StepPhaseStats {
  PhaseTimes launch;          // building the step's batch and queueing its forward pass
  PhaseTimes during_forward;  // the caller's work while the forward pass runs (AsyncEngine:
                              // handing out the previous step's outputs)
  // Steps with deferred constrained accepts (the next masks, on the mask workers):
  PhaseTimes mask_work;  // from handing the accepts to the workers to the last one done
  PhaseTimes mask_cpu;   // the accepts' summed durations (thread time spent on masks)
  PhaseTimes mask_wait;  // the engine thread blocked in the join after during_forward
                         // (helping with the accepts left, then waiting for the workers)
  PhaseTimes pick;       // ModelRunner::finish: reading (and, when not recorded with the
                         // forward pass, exporting/uploading/queueing) the picks
  PhaseTimes pick_prep;  // its part before the read: export rows, upload, enqueue
  PhaseTimes pick_read;  // its read: waits for the forward pass and the picks on the device
  PhaseTimes step;       // the whole Engine::step
  StepPhaseStats since(const StepPhaseStats& before) const;
};

struct EngineStats {
  uint64_t steps = 0;
  uint64_t scheduled_tokens = 0;   // tokens run through the model (prefill + decode)
  uint64_t generated_tokens = 0;
  uint64_t preemptions = 0;
  uint64_t prefix_query_tokens = 0;
  uint64_t prefix_hit_tokens = 0;
  uint64_t finished_requests = 0;
  int running = 0;
  int waiting = 0;
  int kv_blocks = 0;
  int kv_free_blocks = 0;
  // Device idle time between consecutive steps as the engine thread sees it: from reading a
  // step's picks to the next step's launch (its batch built; the uploads and the graph
  // replay or first op follow within microseconds). Gaps while the engine has no work are
  // not counted. busy: from that launch to reading the step's picks.
  double gpu_idle_ms = 0;
  double gpu_busy_ms = 0;
  uint64_t timed_gaps = 0;
  uint64_t graph_steps = 0;      // steps that replayed or recorded a step graph
  uint64_t padded_rows = 0;      // padding rows run by bucketed decode steps
  int mask_threads = 0;          // the mask workers (EngineOptions::mask_threads resolved)
  StepPhaseStats phases;
  double prefix_cache_hit_rate() const {
    return prefix_query_tokens ? static_cast<double>(prefix_hit_tokens) / static_cast<double>(prefix_query_tokens) : 0.0;
  }
};

namespace engine_detail {
struct StreamState;
struct Inbox;
}  // namespace engine_detail

// One request's outputs, in order; read it from one thread. Dropping an unfinished
// stream aborts its request.
class RequestStream {
 public:
  RequestStream() = default;
  RequestStream(RequestStream&&) noexcept;
  RequestStream& operator=(RequestStream&&) noexcept;
  RequestStream(const RequestStream&) = delete;
  RequestStream& operator=(const RequestStream&) = delete;
  ~RequestStream();

  RequestId id() const;
  // Waits for outputs and returns everything new, merged into one RequestOutput; nullopt
  // after the final output (finished()) has been returned.
  std::optional<RequestOutput> next();
  // Like next(), but returns nullopt when nothing arrives within `timeout` (check done()).
  std::optional<RequestOutput> next_for(std::chrono::milliseconds timeout);
  // Whether the final output has been returned.
  bool done() const;
  // Reads to the end: all tokens, logprobs and text in one output, with the final usage.
  RequestOutput collect();
  // Asks the engine to stop this request; its final output says Abort.
  void abort();

 private:
  friend class AsyncEngine;
  RequestStream(std::shared_ptr<engine_detail::StreamState> state, std::shared_ptr<engine_detail::Inbox> inbox);

  std::shared_ptr<engine_detail::StreamState> state_;
  std::shared_ptr<engine_detail::Inbox> inbox_;
};

class AsyncEngine {
 public:
  // Starts the engine thread, which uploads the weights and allocates the KV cache;
  // returns when it is ready (rethrowing its error). `checkpoint` and `backend` must
  // outlive the engine; the backend is used only by the engine thread from now on.
  AsyncEngine(const Checkpoint& checkpoint, Backend& backend, EngineOptions options = {});
  ~AsyncEngine();  // shutdown(false)
  AsyncEngine(const AsyncEngine&) = delete;
  AsyncEngine& operator=(const AsyncEngine&) = delete;

  // Validates the request on the calling thread (throws hearth::Error naming the problem)
  // and queues it. Thread-safe.
  RequestStream submit(Request request);
  // Stops a request wherever it is (waiting, mid-prefill, decoding); a no-op once it has
  // finished. Thread-safe.
  void abort(RequestId id);
  // Stops accepting requests. drain: in-flight requests run to completion; otherwise they
  // finish with Abort. Waits for the engine thread to exit. Idempotent.
  void shutdown(bool drain = true);

  EngineStats stats() const;           // a snapshot, thread-safe
  int max_model_len() const;
  std::string kv_cache_summary() const;  // the start-up log line

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hearth
