#include "hearth/server/server.h"

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "hearth/core/error.h"
#include "hearth/core/log.h"
#include "hearth/server/api_error.h"
#include "hearth/server/api_server.h"
#include "hearth/server/http_server.h"
#include "hearth/server/model_host.h"

namespace hearth::server {
namespace {

using Clock = std::chrono::steady_clock;

// Waits up to `ms` for SIGTERM / SIGINT (blocked in every thread, so they queue here).
bool wait_signal(const sigset_t& set, int ms) {
  timespec ts{ms / 1000, static_cast<long>(ms % 1000) * 1000000L};
  const int sig = ::sigtimedwait(&set, nullptr, &ts);
  return sig == SIGTERM || sig == SIGINT;
}

}  // namespace

int run_server(const ServerConfig& config_in, const std::function<void(int)>& on_listening) {
  ServerConfig config = config_in;
  config.validate();
  // A server's log is its record: info (the per-request lines) unless HEARTH_LOG says otherwise.
  if (std::getenv("HEARTH_LOG") == nullptr) log::set_level(log::Level::Info);
  // Signals are taken synchronously by this thread: block them before any thread starts so
  // that every thread inherits the mask. A write to a closed socket is an error, not a signal.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  ApiServer api(config);
  HttpServerOptions http_opts;
  http_opts.host = config.host;
  http_opts.port = config.port;
  http_opts.limits.max_body_bytes = config.max_request_bytes;
  http_opts.max_connections = config.max_connections;
  HttpServer http(
      http_opts, [&api](const HttpRequest& req, ResponseWriter& w) { api.handle(req, w); },
      [](int status, const std::string& message) { return std::make_pair(std::string("application/json"), error_body(status, message)); });
  api.set_connection_counter([&http] { return http.open_connections(); });
  http.start();
  log::info("serve: listening on http://{}:{} (model {} loading)", config.host, http.port(), config.model);
  if (on_listening) on_listening(http.port());

  std::atomic<int> load_state{0};  // 0 loading, 1 ready, 2 failed
  std::shared_ptr<ModelHost> host;
  std::thread loader([&] {
    try {
      auto h = std::make_shared<ModelHost>(config);
      host = h;
      api.set_model(h);
      load_state = 1;
      log::info("serve: ready: {} as '{}' (max_model_len {})", config.model,
                config.served_model_name.empty() ? config.model : config.served_model_name, h->max_model_len());
    } catch (const std::exception& e) {
      log::error("serve: the model failed to load: {}", e.what());
      api.set_load_error(e.what());
      load_state = 2;
    }
  });

  int exit_code = 0;
  for (;;) {
    if (wait_signal(signals, 100)) break;
    if (load_state == 2) {
      exit_code = 1;
      break;
    }
  }
  api.begin_shutdown();
  http.stop_accepting();
  if (load_state == 0) {
    // Loading cannot be interrupted (weights, device memory): leave without waiting for it.
    log::info("serve: stopped while the model was loading");
    http.close_all();
    std::_Exit(exit_code);
  }
  loader.join();
  if (exit_code == 0) {
    log::info("serve: shutting down: {} request(s) in flight, up to {} ms to finish", api.requests_in_flight(),
              config.shutdown_timeout.count());
    const Clock::time_point deadline = Clock::now() + config.shutdown_timeout;
    bool forced = false;
    while (api.requests_in_flight() > 0 && Clock::now() < deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (wait_signal(signals, static_cast<int>(std::clamp<long long>(left, 1, 20)))) {
        forced = true;
        break;
      }
    }
    if (api.requests_in_flight() > 0) {
      log::warn("serve: {} request(s) still running after the {}: aborting them", api.requests_in_flight(),
                forced ? "second signal" : "shutdown timeout");
      if (host) host->shutdown(false);
    }
    http.wait_connections(Clock::now() + std::chrono::seconds(2));
  }
  http.close_all();
  if (host) host->shutdown(false);
  log::info("serve: stopped");
  return exit_code;
}

}  // namespace hearth::server
