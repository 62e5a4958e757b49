// Errors carry context (file, tensor, JSON pointer, request id) up to the user.
// hearth reports user-facing failures by throwing hearth::Error; the CLI turns it into
// a one-line message on stderr and a non-zero exit code.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace hearth {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

template <typename... Args>
[[noreturn]] inline void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace hearth

// Internal invariant checks that must hold even in release builds.
#define HEARTH_CHECK(cond, ...)                                                          \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      throw ::hearth::Error(fmt::format("internal check failed at {}:{}: {}: {}", __FILE__, \
                                        __LINE__, #cond, fmt::format(__VA_ARGS__)));     \
    }                                                                                    \
  } while (0)
