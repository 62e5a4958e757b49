// AsyncEngine: one engine-loop thread around the synchronous Engine.
//
// The loop: wait until there is work (a submit, an abort, shutdown, or unfinished
// requests) -> take the inbox -> add/abort -> one Engine::step() -> hand each output to
// its request's stream. Only this thread touches the Engine (scheduler, KV allocator,
// model runner, backend); it is also the thread that creates and destroys it, so a
// backend with per-thread state (CUDA) sees one thread.
#include <atomic>
#include <exception>
#include <thread>
#include <unordered_map>
#include <utility>

#include "hearth/core/error.h"
#include "hearth/core/log.h"
#include "hearth/engine.h"
#include "hearth/engine/engine.h"
#include "hearth/engine/engine_channel.h"
#include "hearth/engine/request_rules.h"

namespace hearth {

using engine_detail::Inbox;
using engine_detail::StreamState;

struct AsyncEngine::Impl {
  void loop(const Checkpoint& checkpoint, Backend& backend, EngineOptions options);
  void serve(Engine& engine);
  void publish(const Engine& engine) {
    std::lock_guard lock(stats_mutex);
    stats = engine.stats();
  }

  std::shared_ptr<Inbox> inbox = std::make_shared<Inbox>();
  std::thread thread;
  std::mutex join_mutex;  // shutdown() from several threads joins once
  std::atomic<RequestId> next_id{0};

  // Start-up handshake; the values below are written before `ready` and read-only after.
  std::mutex ready_mutex;
  std::condition_variable ready_cv;
  bool ready = false;
  std::exception_ptr startup_error;
  int vocab_size = 0;
  int max_model_len = 0;
  std::string kv_summary;

  mutable std::mutex stats_mutex;
  EngineStats stats;

  // Engine thread only: the open stream of each request in flight.
  std::unordered_map<RequestId, std::shared_ptr<StreamState>> streams;
};

void AsyncEngine::Impl::loop(const Checkpoint& checkpoint, Backend& backend, EngineOptions options) {
  std::unique_ptr<Engine> engine;
  try {
    engine = std::make_unique<Engine>(checkpoint, backend, std::move(options));
    vocab_size = engine->config().vocab_size;
    max_model_len = engine->max_model_len();
    kv_summary = engine->kv_plan().num_blocks > 0 && engine->memory_summary().rfind("memory:", 0) == 0
                     ? engine->memory_summary() + "\n" + describe(engine->kv_plan())
                     : describe(engine->kv_plan());
    publish(*engine);
    std::lock_guard lock(inbox->mutex);
    inbox->accepting = true;  // before `ready`: submit() may run as soon as the constructor returns
  } catch (...) {
    startup_error = std::current_exception();
  }
  {
    std::lock_guard lock(ready_mutex);
    ready = true;
  }
  ready_cv.notify_all();
  if (!engine) return;
  try {
    serve(*engine);
  } catch (const std::exception& e) {
    // Only an internal check can get here (a failed step is handled inside serve): stop
    // accepting and tell every open stream, so that no reader waits forever.
    log::error("engine thread stopped: {}", e.what());
    std::vector<Inbox::Submit> pending;
    {
      std::lock_guard lock(inbox->mutex);
      inbox->accepting = false;
      inbox->exited = true;
      pending.swap(inbox->submits);
    }
    for (Inbox::Submit& s : pending) streams.emplace(s.id, s.stream);
    for (auto& [id, stream] : streams) {
      RequestOutput out;
      out.id = id;
      out.finish_reason = FinishReason::Error;
      out.error = e.what();
      stream->push(std::move(out));
    }
    streams.clear();
  }
  engine.reset();
}

void AsyncEngine::Impl::serve(Engine& engine) {
  auto deliver = [&](RequestOutput&& out) {
    const auto it = streams.find(out.id);
    if (it == streams.end()) return;
    const bool finished = out.finished();
    it->second->push(std::move(out));
    if (finished) streams.erase(it);
  };
  auto fail_all = [&](FinishReason reason, const std::string& error) {
    for (RequestId id : engine.unfinished_ids()) {
      std::optional<RequestOutput> out = engine.abort(id);
      if (!out) continue;
      out->finish_reason = reason;
      out->error = error;
      deliver(std::move(*out));
    }
  };

  std::vector<RequestOutput> ready;  // outputs of the last step, not yet delivered
  for (;;) {
    std::vector<Inbox::Submit> submits;
    std::vector<RequestId> aborts;
    bool stop = false, drain = true;
    {
      std::unique_lock lock(inbox->mutex);
      inbox->wake.wait(lock, [&] {
        return !inbox->submits.empty() || !inbox->aborts.empty() || inbox->stop || engine.has_unfinished();
      });
      submits.swap(inbox->submits);
      aborts.swap(inbox->aborts);
      stop = inbox->stop;
      drain = inbox->drain;
    }
    // An abort's final output must not overtake the request's undelivered tokens.
    if (!aborts.empty() || stop) {
      for (RequestOutput& out : ready) deliver(std::move(out));
      ready.clear();
    }
    for (Inbox::Submit& s : submits) {
      streams.emplace(s.id, s.stream);
      try {
        engine.add_request(s.id, std::move(s.request));
      } catch (const std::exception& e) {
        RequestOutput out;
        out.id = s.id;
        out.finish_reason = FinishReason::Error;
        out.error = e.what();
        deliver(std::move(out));
      }
    }
    for (RequestId id : aborts)
      if (std::optional<RequestOutput> out = engine.abort(id)) deliver(std::move(*out));
    if (stop && !drain) fail_all(FinishReason::Abort, "");
    if (stop && !engine.has_unfinished()) {
      std::lock_guard lock(inbox->mutex);
      inbox->exited = true;
      break;
    }
    if (engine.has_unfinished()) {
      try {
        // The previous step's outputs reach their readers while this step's forward pass
        // runs on the device; when the engine goes idle they are handed over at once.
        std::vector<RequestOutput> outs = engine.step([&] {
          for (RequestOutput& out : ready) deliver(std::move(out));
          ready.clear();
        });
        for (RequestOutput& out : ready) deliver(std::move(out));
        ready = std::move(outs);
        if (!engine.has_unfinished() || !engine.pipeline_outputs()) {
          for (RequestOutput& out : ready) deliver(std::move(out));
          ready.clear();
        }
      } catch (const std::exception& e) {
        for (RequestOutput& out : ready) deliver(std::move(out));
        ready.clear();
        // A failed step (device error, internal check) ends the requests in flight with
        // the message; the engine keeps serving new ones.
        log::error("engine step failed: {}", e.what());
        fail_all(FinishReason::Error, e.what());
      }
    }
    publish(engine);
  }
  publish(engine);
  // Nothing is left in flight here; any stream still open hears that it was aborted.
  for (auto& [id, stream] : streams) {
    RequestOutput out;
    out.id = id;
    out.finish_reason = FinishReason::Abort;
    stream->push(std::move(out));
  }
  streams.clear();
}

AsyncEngine::AsyncEngine(const Checkpoint& checkpoint, Backend& backend, EngineOptions options)
    : impl_(std::make_unique<Impl>()) {
  Impl* impl = impl_.get();
  impl->thread = std::thread([impl, &checkpoint, &backend, options = std::move(options)]() mutable {
    impl->loop(checkpoint, backend, std::move(options));
  });
  std::unique_lock lock(impl->ready_mutex);
  impl->ready_cv.wait(lock, [&] { return impl->ready; });
  if (impl->startup_error) {
    lock.unlock();
    impl->thread.join();
    std::rethrow_exception(impl->startup_error);
  }
}

AsyncEngine::~AsyncEngine() {
  try {
    shutdown(false);
  } catch (...) {
    // A destructor must not throw; shutdown only fails if the thread cannot be joined.
  }
}

RequestStream AsyncEngine::submit(Request request) {
  validate_request(request.prompt_ids, request.params, impl_->vocab_size, impl_->max_model_len);
  const RequestId id = impl_->next_id.fetch_add(1);
  auto stream = std::make_shared<StreamState>(id);
  stream->detokenizer = std::move(request.detokenizer);
  request.detokenizer = {};
  {
    std::lock_guard lock(impl_->inbox->mutex);
    if (!impl_->inbox->accepting) fail("the engine is shut down; request not accepted");
    impl_->inbox->submits.push_back({id, std::move(request), stream});
  }
  impl_->inbox->wake.notify_one();
  return RequestStream(std::move(stream), impl_->inbox);
}

void AsyncEngine::abort(RequestId id) { impl_->inbox->abort(id); }

void AsyncEngine::shutdown(bool drain) {
  {
    std::lock_guard lock(impl_->inbox->mutex);
    impl_->inbox->accepting = false;
    // A shutdown without draining overrides an earlier draining one still in progress.
    impl_->inbox->drain = impl_->inbox->stop ? impl_->inbox->drain && drain : drain;
    impl_->inbox->stop = true;
  }
  impl_->inbox->wake.notify_one();
  std::lock_guard lock(impl_->join_mutex);
  if (impl_->thread.joinable() && impl_->thread.get_id() != std::this_thread::get_id()) impl_->thread.join();
}

EngineStats AsyncEngine::stats() const {
  std::lock_guard lock(impl_->stats_mutex);
  return impl_->stats;
}

int AsyncEngine::max_model_len() const { return impl_->max_model_len; }
std::string AsyncEngine::kv_cache_summary() const { return impl_->kv_summary; }

}  // namespace hearth
