// libFuzzer: config.json / generation_config.json parsing must turn any text into either a
// valid config or a hearth::Error; any other exception, crash or sanitizer report is a bug.
// A config that parses must also pass validation and give a finite RoPE table.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "hearth/core/error.h"
#include "hearth/model/config.h"
#include "hearth/model/weight_layout.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const hearth::ModelConfig c = hearth::parse_model_config(text, "fuzz/config.json");
    hearth::validate_model_config(c, "fuzz/config.json");  // parse's result must be valid
    const hearth::RopeTable t = hearth::make_rope_table(c);
    if (t.inv_freq.size() != static_cast<size_t>(c.head_dim / 2)) std::abort();
    for (const float f : t.inv_freq)
      if (!std::isfinite(f) || f <= 0) std::abort();
    if (!std::isfinite(t.attention_scaling) || t.attention_scaling <= 0) std::abort();
    if (c.num_hidden_layers <= 64) {  // keep each input fast
      int64_t total = 0;
      for (const auto& s : hearth::expected_tensors(c)) total += s.shape.numel();
      if (total != c.num_parameters()) std::abort();
    }
  } catch (const hearth::Error&) {
  }
  try {
    (void)hearth::parse_generation_config(text, "fuzz/generation_config.json");
  } catch (const hearth::Error&) {
  }
  return 0;
}
