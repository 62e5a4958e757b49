// Errors in OpenAI's shape: {"error": {"message", "type", "param", "code"}} with an HTTP
// status. Request parsing throws ApiError; handlers turn it into the response.
#pragma once

#include <fmt/format.h>

#include <exception>
#include <string>
#include <utility>

namespace hearth::server {

class ApiError : public std::exception {
 public:
  ApiError(int status, std::string message, std::string type, std::string param = {}, std::string code = {})
      : status_(status), message_(std::move(message)), type_(std::move(type)), param_(std::move(param)),
        code_(std::move(code)) {}

  const char* what() const noexcept override { return message_.c_str(); }
  int status() const { return status_; }
  const std::string& message() const { return message_; }
  const std::string& type() const { return type_; }
  const std::string& param() const { return param_; }  // empty: null
  const std::string& code() const { return code_; }    // empty: null
  // The JSON body: {"error": {...}}.
  std::string body() const;

 private:
  int status_;
  std::string message_, type_, param_, code_;
};

// 400 invalid_request_error naming the field (`param` is its path, e.g. "messages[2].role").
template <typename... Args>
[[noreturn]] void invalid(const std::string& param, fmt::format_string<Args...> f, Args&&... args) {
  throw ApiError(400, fmt::format(f, std::forward<Args>(args)...), "invalid_request_error", param);
}

// The body of an error the HTTP layer answers by itself.
std::string error_body(int status, const std::string& message);

}  // namespace hearth::server
