#include "hearth/grammar/token_trie.h"

#include <algorithm>

namespace hearth::grammar {

TokenTrie TokenTrie::build(std::vector<std::pair<std::string_view, int32_t>> entries) {
  std::sort(entries.begin(), entries.end());
  TokenTrie t;
  t.byte.push_back(0);
  t.depth.push_back(0);
  t.skip.push_back(0);
  t.tok_begin.push_back(0);
  std::vector<uint32_t> path{0};  // path[d] = node at depth d
  std::string_view prev;
  for (const auto& [bytes, id] : entries) {
    if (bytes.empty() || bytes.size() > 60000) continue;
    size_t lcp = 0;
    while (lcp < prev.size() && lcp < bytes.size() && prev[lcp] == bytes[lcp]) ++lcp;
    while (path.size() > lcp + 1) {
      t.skip[path.back()] = t.size();
      path.pop_back();
    }
    for (size_t d = lcp; d < bytes.size(); ++d) {
      uint32_t n = t.size();
      t.byte.push_back(static_cast<uint8_t>(bytes[d]));
      t.depth.push_back(static_cast<uint16_t>(d + 1));
      t.skip.push_back(0);
      t.tok_begin.push_back(static_cast<uint32_t>(t.tok_ids.size()));
      path.push_back(n);
    }
    t.tok_ids.push_back(id);
    prev = bytes;
  }
  while (!path.empty()) {
    t.skip[path.back()] = t.size();
    path.pop_back();
  }
  t.tok_begin.push_back(static_cast<uint32_t>(t.tok_ids.size()));
  return t;
}

}  // namespace hearth::grammar
