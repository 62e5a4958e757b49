// libFuzzer: config.yaml text. Any input must give a config or a hearth::Error naming the
// problem; nothing else may escape (yaml-cpp's own exceptions included).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "hearth/core/error.h"
#include "hearth/server/server_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  hearth::server::ServerConfig c;
  try {
    hearth::server::apply_config_yaml_text(text, "fuzz/config.yaml", c);
  } catch (const hearth::Error&) {
  }
  return 0;
}
