// libFuzzer: arbitrary text as a tokenizer.json. The loader must load it or throw
// hearth::Error; a loaded tokenizer must encode and decode without crashing. Chat
// template sources go through the same input (recognition must never crash).
#include <cstdint>
#include <string>
#include <string_view>

#include "hearth/core/error.h"
#include "hearth/tokenizer/chat_template.h"
#include "hearth/tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)hearth::ChatTemplate::recognize(text);
  try {
    const auto tok = hearth::Tokenizer::from_json(text, "fuzz/tokenizer.json");
    const auto ids = tok->encode("Hello world, it's <|im_end|> 123 \xc3\xa9\xff");
    tok->decode(ids);
    std::vector<int32_t> all;
    for (int32_t i = -1; i <= tok->vocab_size() && i < 4096; ++i) all.push_back(i);
    tok->decode(all, true);
  } catch (const hearth::Error&) {
  }
  return 0;
}
