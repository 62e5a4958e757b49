// Minimal leveled logging to stderr. HEARTH_LOG=debug|info|warn|error sets the level.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace hearth::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };

Level level();
void set_level(Level l);
void write(Level l, std::string_view msg);

template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... a) {
  if (level() <= Level::Info) write(Level::Info, fmt::format(f, std::forward<Args>(a)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... a) {
  if (level() <= Level::Warn) write(Level::Warn, fmt::format(f, std::forward<Args>(a)...));
}
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... a) {
  if (level() <= Level::Debug) write(Level::Debug, fmt::format(f, std::forward<Args>(a)...));
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... a) {
  write(Level::Error, fmt::format(f, std::forward<Args>(a)...));
}

}  // namespace hearth::log
