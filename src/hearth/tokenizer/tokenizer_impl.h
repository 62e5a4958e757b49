// Internal state of a Tokenizer, shared by the loader (tokenizer_loader.cpp) and the
// encoder/decoder (tokenizer.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hearth/tokenizer/added_tokens.h"
#include "hearth/tokenizer/bpe.h"
#include "hearth/tokenizer/hash_tables.h"
#include "hearth/tokenizer/tokenizer.h"

namespace hearth::tok_detail {

enum TokenFlag : uint8_t {
  kExists = 1,       // the id names a token
  kSpecial = 2,      // an added token with special=true
  kAdded = 4,        // an added token
  kUnmappable = 8,   // the token's string has characters outside the byte-level alphabet
};

// Ids above this are refused at load: they would only come from a corrupt file (the
// largest vocabularies in use have ~262k entries), and would make the id tables huge.
inline constexpr int64_t kMaxTokenId = (1 << 21) - 1;

struct TokenizerImpl {
  StringIdMap vocab;                     // model vocabulary, byte-level strings -> id
  std::vector<std::string> id_bytes;     // id -> raw bytes it decodes to
  std::vector<uint8_t> flags;            // id -> TokenFlag bits
  std::vector<AddedToken> added;         // in file order
  AddedTokenMatcher added_raw;           // added tokens with normalized=false
  AddedTokenMatcher added_normalized;    // added tokens with normalized=true (matched after NFC)
  BpeModel bpe;
  bool nfc = true;
  const uint8_t* char_table = nullptr;
};

// Raw, unresolved contents of a tokenizer file, filled by the parsers.
struct TokenizerSpec {
  std::string what;                      // file name for errors
  StringIdMap vocab;
  std::string merge_arena;               // merge i: a = [a_off, a_off+a_len), b likewise
  struct Merge {
    uint32_t a_off, a_len, b_off, b_len;
  };
  std::vector<Merge> merges;
  std::vector<AddedToken> added;
  bool nfc = true;
  bool ignore_merges = false;
  std::string unk_token;                 // empty: none
};

// Builds the tokenizer from a spec (resolves merges, byte ids, added tokens).
std::unique_ptr<TokenizerImpl> build_tokenizer(TokenizerSpec&& spec);

// Parsers; errors name spec.what.
void parse_tokenizer_json(std::string_view text, TokenizerSpec& spec);
void parse_vocab_json(std::string_view text, const std::string& what, TokenizerSpec& spec);
void parse_merges_txt(std::string_view text, const std::string& what, TokenizerSpec& spec);
void parse_added_tokens_decoder(std::string_view tokenizer_config, const std::string& what,
                                TokenizerSpec& spec);

}  // namespace hearth::tok_detail
