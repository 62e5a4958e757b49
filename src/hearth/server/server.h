// `hearth serve`: the whole life of the server.
//   start: listen at once (GET /health answers 503 while the model loads), load the model on
//          a thread, then serve;
//   SIGTERM / SIGINT: stop accepting (new requests and /health answer 503, the listening
//          socket closes), let requests in flight finish within shutdown_timeout, abort the
//          rest, close every connection and return 0. A second signal aborts at once.
#pragma once

#include <functional>

#include "hearth/server/server_config.h"

namespace hearth::server {

// Returns the process exit code: 0 after a signal-initiated shutdown, 1 when the model fails
// to load. Throws hearth::Error for bad settings or when the address cannot be bound.
// `on_listening(port)` runs once the socket listens (tests use port 0).
int run_server(const ServerConfig& config, const std::function<void(int port)>& on_listening = {});

}  // namespace hearth::server
