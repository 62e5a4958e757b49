// libFuzzer: arbitrary bytes through the Qwen3 tokenizer (../shared/tokenizer/qwen3).
// Checks, beyond "no crash": decode(encode(x)) is the HF-normalized text of x (invalid
// UTF-8 replaced, then NFC), streaming decoding equals decoding, and the chat template
// renders or refuses (hearth::Error) arbitrary JSON.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "hearth/core/error.h"
#include "hearth/tokenizer/chat_template.h"
#include "hearth/tokenizer/tokenizer.h"
#include "hearth/tokenizer/unicode.h"

namespace {

const hearth::Tokenizer& tokenizer() {
  static std::unique_ptr<hearth::Tokenizer> tok = [] {
    const char* env = std::getenv("HEARTH_TOKENIZER_DIR");
    return hearth::Tokenizer::load(env ? env : HEARTH_SHARED_DIR "/tokenizer/qwen3");
  }();
  return *tok;
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "fuzz_tokenizer: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const hearth::Tokenizer& tok = tokenizer();
  const std::string input(reinterpret_cast<const char*>(data), size);

  const std::vector<int32_t> ids = tok.encode(input);
  std::string clean, storage;
  hearth::unicode::append_sanitized(clean, input);
  const std::string expected(hearth::unicode::nfc(clean, storage));
  const std::string text = tok.decode(ids);
  if (text != expected) die("decode(encode(x)) != NFC(x)");
  if (tok.encode(text) != ids) die("encode is not stable on its own output");

  // Streaming, also over arbitrary ids made from the input bytes.
  std::vector<int32_t> raw_ids;
  for (size_t i = 0; i + 3 < size && raw_ids.size() < 64; i += 3) {
    raw_ids.push_back(static_cast<int32_t>((data[i] << 16 | data[i + 1] << 8 | data[i + 2]) % (tok.vocab_size() + 8)) - 4);
  }
  const std::vector<int32_t>* seqs[] = {&ids, &raw_ids};
  for (const std::vector<int32_t>* seq : seqs) {
    for (bool skip : {false, true}) {
      hearth::StreamDecoder sd(tok, skip);
      std::string streamed;
      for (int32_t id : *seq) {
        const std::string part = sd.push(id);
        if (!hearth::unicode::is_valid_utf8(part)) die("stream emitted invalid UTF-8");
        streamed += part;
      }
      streamed += sd.flush();
      if (streamed != tok.decode(*seq, skip)) die("streaming differs from decode");
    }
  }

  // The input as a conversation.
  const auto j = nlohmann::ordered_json::parse(input, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded()) {
    for (auto kind : {hearth::ChatTemplate::Kind::kQwen3, hearth::ChatTemplate::Kind::kQwen3Thinking2507}) {
      try {
        hearth::ChatOptions opts;
        if (j.is_object() && j.contains("tools")) opts.tools = j["tools"];
        const std::string r = hearth::ChatTemplate::of_kind(kind).render(j.is_object() && j.contains("messages") ? j["messages"] : j, opts);
        tok.encode(r);
      } catch (const hearth::Error&) {
      }
    }
  }
  return 0;
}
