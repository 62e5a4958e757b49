// Arbitrary text as a JSON Schema (or a regex when it is not JSON): compiling must either
// succeed or throw hearth::Error; a compiled grammar is then driven by the input's own bytes
// with the mask invariant checked along the way.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "fuzz_grammar_common.h"

using namespace hearth::grammar;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  std::string text(reinterpret_cast<const char*>(data), size);
  std::shared_ptr<const Grammar> g;
  try {
    nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      g = Grammar::from_regex(text);
    } else {
      CompileOptions opts;
      opts.flexible_whitespace = (size & 1) != 0;
      g = Grammar::from_json_schema(j, opts);
    }
  } catch (const hearth::Error&) {
    return 0;
  }
  auto vocab = fuzz::fuzz_vocab();
  Matcher m(g, vocab);
  fuzz::check_mask(m, *vocab);
  // Feed the input's bytes; after each accepted one, recheck the mask now and then.
  size_t accepted = 0;
  for (size_t i = 0; i < text.size() && i < 256; ++i) {
    if (m.accept_bytes(text.substr(i, 1)) && (++accepted % 16) == 0) fuzz::check_mask(m, *vocab);
  }
  fuzz::check_mask(m, *vocab);
  (void)m.jump_forward_bytes(64);
  return 0;
}
