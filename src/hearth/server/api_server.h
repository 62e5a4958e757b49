// The OpenAI-compatible API over a ModelHost: routing, authentication, CORS, admission
// control (a bounded queue answered with 429), the generation endpoints (generation.cpp),
// tokenize / detokenize, /v1/models, /health and /metrics, and one log line per request.
//
// Life cycle: constructed before the model loads (so /health answers 503 while it loads);
// set_model() makes it ready; begin_shutdown() makes new requests answer 503 while those in
// flight finish.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "hearth/server/api_error.h"
#include "hearth/server/disconnect_watcher.h"
#include "hearth/server/http_server.h"
#include "hearth/server/metrics.h"
#include "hearth/server/model_host.h"
#include "hearth/server/openai_request.h"
#include "hearth/server/server_config.h"

namespace hearth::server {

// What one request's log line says.
struct RequestLog {
  std::string id;
  int status = 0;
  int prompt_tokens = 0;
  int completion_tokens = 0;
  double ttft_ms = -1.0;  // < 0: none
  std::string finish_reason;
  std::string error;
};

// "request id=... POST /v1/chat/completions status=200 prompt_tokens=12 completion_tokens=34
// ttft_ms=5.1 latency_ms=80.2 finish=stop"
std::string format_request_log(const std::string& method, const std::string& path, const RequestLog& log,
                               double latency_ms);

class ApiServer {
 public:
  explicit ApiServer(ServerConfig config);
  ~ApiServer();

  // The HTTP handler.
  void handle(const HttpRequest& req, ResponseWriter& w);

  void set_model(std::shared_ptr<ModelHost> host);
  void set_load_error(const std::string& message);
  void begin_shutdown() { shutting_down_ = true; }
  // Open HTTP connections (a gauge on /metrics).
  void set_connection_counter(std::function<int()> f) { connections_ = std::move(f); }
  int requests_in_flight() const { return in_flight_requests_.load(); }
  const ServerConfig& config() const { return config_; }

 private:
  using Clock = std::chrono::steady_clock;
  // One request being answered.
  struct Ctx {
    const HttpRequest& req;
    ResponseWriter& w;
    HeaderList cors;  // CORS headers every response to it carries
    RequestLog log;
    Clock::time_point start;
  };

  void route(Ctx& c);
  void handle_health(Ctx& c);
  void handle_metrics(Ctx& c);
  void handle_models(Ctx& c);
  void handle_tokenize(Ctx& c, bool detokenize);
  void handle_generation(Ctx& c, Endpoint endpoint);

  std::shared_ptr<ModelHost> ready_model() const;  // throws ApiError 503 when not ready
  void check_auth(const HttpRequest& req) const;
  void check_model_name(const std::string& name) const;
  HeaderList cors_headers(const HttpRequest& req) const;
  void send_json(Ctx& c, int status, const std::string& body, HeaderList extra = {}) const;
  void send_error(Ctx& c, const ApiError& e) const;

  ServerConfig config_;
  Metrics metrics_;
  DisconnectWatcher watcher_;
  std::function<int()> connections_;
  const int64_t created_ = 0;  // unix time the server started (model "created")

  mutable std::mutex model_mutex_;
  std::shared_ptr<ModelHost> model_;
  std::string load_error_;
  std::atomic<bool> shutting_down_{false};

  std::atomic<int> in_flight_seqs_{0};      // admitted sequences (n per request, all prompts)
  std::atomic<int> in_flight_requests_{0};
};

}  // namespace hearth::server
