// HTTP/1.1 messages as the server sees them: a parsed request (header names lower-cased,
// body de-chunked) and the status texts of the responses it sends.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hearth::server {

struct HttpRequest {
  std::string method;   // "GET", "POST", ... (case as sent; methods are case-sensitive)
  std::string target;   // request-target as sent: "/v1/models?x=1"
  std::string path;     // target without the query
  std::string query;    // after '?', without it
  int version_minor = 1;  // HTTP/1.0 or HTTP/1.1
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, values trimmed
  std::string body;

  // First value of a header (name lower-case), or nullptr.
  const std::string* header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return &v;
    return nullptr;
  }
  // Whether the connection stays open after the response (HTTP/1.1 default, Connection).
  bool keep_alive() const;
};

const char* status_text(int status);

}  // namespace hearth::server
