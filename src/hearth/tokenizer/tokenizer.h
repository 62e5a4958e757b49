// The Qwen3 tokenizer: byte-level BPE that encodes and decodes exactly as Hugging Face
// `tokenizers` does with the model's tokenizer.json (NFC normalizer, Qwen2 split
// pre-tokenizer, ByteLevel, BPE by merge rank, added tokens matched whole first).
//
// Input text that is not valid UTF-8 is encoded as if each maximal invalid subsequence were
// U+FFFD (Python's bytes.decode(errors="replace")); it never throws for any input.
// A Tokenizer is immutable after load and safe to use from several threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hearth {

namespace tok_detail {
struct TokenizerImpl;
}

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
};

class Tokenizer {
 public:
  // dir holds tokenizer.json (preferred), or vocab.json + merges.txt with the added tokens
  // of tokenizer_config.json's added_tokens_decoder. Throws hearth::Error naming the file
  // and the problem.
  static std::unique_ptr<Tokenizer> load(const std::string& dir);
  static bool has_tokenizer_files(const std::string& dir);
  // The text of a tokenizer.json; `what` names it in errors (the fuzzer feeds mutated text).
  static std::unique_ptr<Tokenizer> from_json(std::string_view text, const std::string& what);

  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Special tokens written in the text are parsed, as HF does by default.
  std::vector<int32_t> encode(std::string_view text) const;
  // Ids that name no token are skipped, as HF does; invalid UTF-8 in the joined bytes
  // becomes U+FFFD per maximal invalid subsequence (HF's "replace").
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  // Largest id + 1, added tokens included (151669 for Qwen3).
  int vocab_size() const;
  // Raw bytes the token decodes to; empty for ids that name no token (and out of range).
  const std::string& token_bytes(int32_t id) const;
  // An added token's content ("<|im_end|>") or a vocabulary string in its byte-level
  // spelling ("Ġthe"), as HF's token_to_id.
  std::optional<int32_t> token_to_id(std::string_view token) const;
  // The token's string as HF's id_to_token gives it (byte-level spelling for vocabulary
  // entries); empty when the id names no token.
  std::string id_to_token(int32_t id) const;
  bool is_special(int32_t id) const;
  const std::vector<AddedToken>& added_tokens() const;

 private:
  explicit Tokenizer(std::unique_ptr<tok_detail::TokenizerImpl> impl);
  std::unique_ptr<tok_detail::TokenizerImpl> impl_;
};

// Incremental detokenizer for streaming: push() returns only text whose UTF-8 characters
// are complete, so a character split across tokens is never emitted in halves. The
// concatenation of every push() and the final flush() equals decode() of all the ids.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, bool skip_special_tokens = false);
  std::string push(int32_t id);
  // Remaining bytes; an incomplete character at the end becomes U+FFFD, as HF "replace".
  std::string flush();

 private:
  const Tokenizer& tok_;
  bool skip_special_;
  std::string pending_;
};

}  // namespace hearth
