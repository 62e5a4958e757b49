// Byte-pair encoding of one pre-token, by merge rank, as HF tokenizers' BPE model does it
// (dropout off, no subword prefix/suffix). The model works on raw bytes: symbol i starts as
// the vocabulary entry of byte i's byte-level character.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "hearth/tokenizer/hash_tables.h"

namespace hearth::tok_detail {

class BpeModel {
 public:
  BpeModel();

  // id of the single-byte token for each byte, -1 when the vocabulary lacks it (HF then
  // drops the byte, as it has no unknown token).
  std::array<int32_t, 256> byte_ids{};
  MergeMap merges;
  // ignore_merges: a pre-token found whole in the vocabulary is emitted as is.
  bool ignore_merges = false;
  const StringIdMap* vocab = nullptr;  // byte-level strings -> ids; needed with ignore_merges
  int32_t unk_id = -1;                          // used for missing bytes when set

  // Appends the ids of `word` (raw bytes of one pre-token) to out. Thread-safe: the cache
  // of recent pre-tokens is per thread.
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

  // Same without the cache (tests compare both paths).
  void encode_word_uncached(std::string_view word, std::vector<int32_t>& out) const;

 private:
  void merge_small(std::vector<int32_t>& symbols) const;
  void merge_large(std::vector<int32_t>& symbols) const;

  uint64_t instance_id_;
};

}  // namespace hearth::tok_detail
