#include "hearth/core/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace hearth::log {
namespace {

Level level_from_env() {
  const char* v = std::getenv("HEARTH_LOG");
  if (v == nullptr) return Level::Warn;
  if (std::strcmp(v, "debug") == 0) return Level::Debug;
  if (std::strcmp(v, "info") == 0) return Level::Info;
  if (std::strcmp(v, "error") == 0) return Level::Error;
  return Level::Warn;
}

std::atomic<int>& current() {
  static std::atomic<int> l{static_cast<int>(level_from_env())};
  return l;
}

}  // namespace

Level level() { return static_cast<Level>(current().load(std::memory_order_relaxed)); }
void set_level(Level l) { current().store(static_cast<int>(l)); }

void write(Level l, std::string_view msg) {
  static std::mutex mu;
  static const char* names[] = {"debug", "info", "warn", "error"};
  std::lock_guard<std::mutex> lock(mu);
  std::fprintf(stderr, "[hearth %s] %.*s\n", names[static_cast<int>(l)], static_cast<int>(msg.size()),
               msg.data());
}

}  // namespace hearth::log
