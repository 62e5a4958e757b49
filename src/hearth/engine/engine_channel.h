// What the engine thread and the other threads share: the inbox (requests, aborts,
// shutdown) and one output stream state per request. Each has its own mutex; the engine
// thread never holds one while it runs a step.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "hearth/engine.h"

namespace hearth::engine_detail {

struct StreamState {
  explicit StreamState(RequestId request_id) : id(request_id) {}

  // Engine thread: queues an output, merged into any the reader has not taken yet.
  void push(RequestOutput&& out);

  const RequestId id;
  std::mutex mutex;
  std::condition_variable ready;
  RequestOutput pending;      // outputs not yet taken, merged
  bool has_pending = false;
  bool final_taken = false;   // the reader has taken the finished output
  TextDecoderHook detokenizer;  // used on the reader's thread only
};

struct Inbox {
  struct Submit {
    RequestId id = 0;
    Request request;
    std::shared_ptr<StreamState> stream;
  };

  // Any thread: asks the engine thread to abort `id` (ignored once it has exited).
  void abort(RequestId id);

  std::mutex mutex;
  std::condition_variable wake;
  std::vector<Submit> submits;
  std::vector<RequestId> aborts;
  bool accepting = false;  // true once the engine is ready, false from shutdown on
  bool stop = false;
  bool drain = true;
  bool exited = false;
};

}  // namespace hearth::engine_detail
