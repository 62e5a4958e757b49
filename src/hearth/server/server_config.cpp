#include "hearth/server/server_config.h"

#include "hearth/core/error.h"

namespace hearth::server {

void ServerConfig::validate() const {
  if (model.empty()) fail("no model: give --model or inference.model in --config");
  if (port < 0 || port > 65535) fail("--port: {} is not a TCP port", port);
  if (max_queued_requests < 0) fail("--max-queued-requests: expected >= 0, found {}", max_queued_requests);
  if (shutdown_timeout.count() < 0) fail("--shutdown-timeout: expected >= 0");
  if (max_request_bytes < 1024) fail("--max-request-bytes: expected at least 1024");
  if (max_connections < 1) fail("--max-connections: expected >= 1");
  if (default_max_tokens && *default_max_tokens < 1) fail("max_tokens: expected a positive integer");
  for (const std::string& o : allowed_origins)
    if (o.empty() || o.find_first_of(" \r\n") != std::string::npos) fail("--allowed-origins: bad origin '{}'", o);
  if (attention_backend != "auto" && attention_backend != "fa2" && attention_backend != "sm90")
    fail("--attention-backend: '{}' is not one of auto, fa2, sm90", attention_backend);
  engine.validate();
  device.validate();
}

}  // namespace hearth::server
