// Helpers for the grammar tests: compile a schema, run a matcher over bytes, and load the
// Qwen3 vocabulary from vocab.json (GPT-2 byte-to-unicode spelling) without the tokenizer.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "hearth/grammar/grammar.h"
#include "hearth/grammar/matcher.h"
#include "hearth/grammar/utf8.h"

namespace hearth::grammar::test {

inline std::shared_ptr<const Grammar> compile(const std::string& schema, const CompileOptions& opts = {}) {
  return Grammar::from_json_schema(nlohmann::json::parse(schema), opts);
}

// Whether the matcher accepts `text` (bytes as given) as a complete value.
inline bool accepts(const std::shared_ptr<const Grammar>& g, const std::string& text) {
  Matcher m(g, nullptr);
  return m.accept_bytes(text) && m.is_complete();
}

inline bool accepts(const std::string& schema, const std::string& text) { return accepts(compile(schema), text); }

// A small byte-level vocabulary: a few multi-byte tokens, every single byte, then an EOS
// (size - 2) and a special token (size - 1).
inline std::shared_ptr<const Vocabulary> small_vocab() {
  std::vector<std::string> t = {"{",   "}",  "\"", "a",   "ab",   "\":", ",",  "1",   "12", "\"a",  "true",
                                "null", "[",  "]",  " ",   "\\",   "u00", "e9", "\",\"", "b", "\"}", "-",
                                ".",    "5",  "0",  "x",   "\"ab\"", "\xC3", "\xA9", "\n", "fals", "e",
                                "<eos>", "<special>"};
  // Every single byte is a token too, as in byte-level BPE vocabularies (otherwise a state
  // could be alive for bytes but unreachable with tokens).
  std::vector<std::string> singles;
  for (int b = 0; b < 256; ++b) {
    std::string s(1, static_cast<char>(b));
    if (std::find(t.begin(), t.end(), s) == t.end()) singles.push_back(s);
  }
  t.insert(t.end() - 2, singles.begin(), singles.end());
  int32_t eos = static_cast<int32_t>(t.size() - 2), special = static_cast<int32_t>(t.size() - 1);
  return std::make_shared<const Vocabulary>(t, std::vector<int32_t>{eos}, std::vector<int32_t>{special});
}

inline std::string shared_dir() {
  if (const char* env = std::getenv("HEARTH_SHARED_DIR")) return env;
  return HEARTH_SHARED_DIR;
}

// GPT-2's reversible byte <-> unicode map: printable bytes map to themselves, the others to
// U+0100 and up, in byte order.
inline std::vector<int> gpt2_unicode_to_byte() {
  std::vector<int> bs;
  for (int b = '!'; b <= '~'; ++b) bs.push_back(b);
  for (int b = 0xA1; b <= 0xAC; ++b) bs.push_back(b);
  for (int b = 0xAE; b <= 0xFF; ++b) bs.push_back(b);
  std::vector<int> cs = bs;
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    if (std::find(bs.begin(), bs.end(), b) == bs.end()) {
      bs.push_back(b);
      cs.push_back(256 + n++);
    }
  }
  std::vector<int> map(512, -1);
  for (size_t i = 0; i < bs.size(); ++i) map[static_cast<size_t>(cs[i])] = bs[i];
  return map;
}

// Loads dir/vocab.json and the added tokens of dir/tokenizer_config.json. Stop tokens:
// <|im_end|> and <|endoftext|>; other special added tokens are special.
inline std::shared_ptr<const Vocabulary> load_qwen_vocab(const std::string& dir) {
  std::ifstream vf(dir + "/vocab.json");
  nlohmann::json vocab = nlohmann::json::parse(vf);
  std::ifstream cf(dir + "/tokenizer_config.json");
  nlohmann::json config = nlohmann::json::parse(cf);
  std::vector<int> u2b = gpt2_unicode_to_byte();
  size_t size = 0;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) size = std::max<size_t>(size, it.value().get<size_t>() + 1);
  const auto& added = config["added_tokens_decoder"];
  for (auto it = added.begin(); it != added.end(); ++it) size = std::max<size_t>(size, std::stoul(it.key()) + 1);
  std::vector<std::string> tokens(size);
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    const std::string& spelled = it.key();
    std::string bytes;
    size_t i = 0;
    uint32_t cp = 0;
    while (i < spelled.size() && utf8::decode(spelled, i, cp)) {
      if (cp < 512 && u2b[cp] >= 0) bytes += static_cast<char>(u2b[cp]);
    }
    tokens[it.value().get<size_t>()] = bytes;
  }
  std::vector<int32_t> stops, specials;
  for (auto it = added.begin(); it != added.end(); ++it) {
    int32_t id = static_cast<int32_t>(std::stoul(it.key()));
    std::string content = it.value()["content"].get<std::string>();
    tokens[static_cast<size_t>(id)] = content;
    if (content == "<|im_end|>" || content == "<|endoftext|>") stops.push_back(id);
    else if (it.value().value("special", false)) specials.push_back(id);
  }
  return std::make_shared<const Vocabulary>(std::move(tokens), std::move(stops), std::move(specials));
}

}  // namespace hearth::grammar::test
