// A token trie in preorder arrays: walking it in order visits every token's bytes with
// shared prefixes stepped once, and a rejected prefix skips its whole subtree in O(1).
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace hearth::grammar {

struct TokenTrie {
  // Node 0 is the root (empty prefix). For node i: the byte leading to it, its depth (bytes
  // from the root), the index just past its subtree, and its tokens
  // tok_ids[tok_begin[i] .. tok_begin[i + 1]).
  std::vector<uint8_t> byte;
  std::vector<uint16_t> depth;
  std::vector<uint32_t> skip;
  std::vector<uint32_t> tok_begin;
  std::vector<int32_t> tok_ids;

  uint32_t size() const { return static_cast<uint32_t>(byte.size()); }
  size_t memory() const {
    return byte.size() * (1 + 2 + 4 + 4) + tok_ids.size() * 4;
  }
  static TokenTrie build(std::vector<std::pair<std::string_view, int32_t>> entries);
};

}  // namespace hearth::grammar
