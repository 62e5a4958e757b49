#include "hearth/server/api_error.h"

#include <nlohmann/json.hpp>

namespace hearth::server {

using nlohmann::json;

std::string ApiError::body() const {
  json e = {{"message", message_},
            {"type", type_},
            {"param", param_.empty() ? json(nullptr) : json(param_)},
            {"code", code_.empty() ? json(nullptr) : json(code_)}};
  return json{{"error", e}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string error_body(int status, const std::string& message) {
  std::string type = "invalid_request_error", code;
  switch (status) {
    case 408: code = "request_timeout"; break;
    case 413: code = "request_too_large"; break;
    case 414: code = "uri_too_long"; break;
    case 431: code = "headers_too_large"; break;
    case 501: code = "not_implemented"; break;
    case 505: code = "http_version_not_supported"; break;
    case 503: type = "service_unavailable"; code = "overloaded"; break;
    case 500: type = "internal_error"; break;
    default: break;
  }
  return ApiError(status, message, type, "", code).body();
}

}  // namespace hearth::server
