// ECMAScript regular expressions (the subset JSON Schema's `pattern` needs) parsed to an AST
// over code points. Constructs whose language is not regular or that we do not model
// (lookaround, backreferences, word boundaries, flags) are refused with a message, never
// approximated: a pattern we cannot enforce exactly must not compile.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hearth::grammar {

struct CpRange {
  uint32_t lo, hi;
};
// Sorted, non-overlapping, non-adjacent ranges of code points.
using CpSet = std::vector<CpRange>;

CpSet cp_set_normalize(CpSet s);
CpSet cp_set_complement(const CpSet& s);  // within [0, 0x10FFFF]

struct RegexNode {
  enum class Kind : uint8_t { Empty, Set, Concat, Alt, Repeat, Bos, Eos };
  Kind kind = Kind::Empty;
  CpSet set;              // Set
  std::vector<int> kids;  // Concat, Alt, Repeat (one kid)
  int min = 0, max = -1;  // Repeat; max -1 = unbounded
};

struct RegexAst {
  std::vector<RegexNode> nodes;
  int root = -1;

  int add(RegexNode n) {
    nodes.push_back(std::move(n));
    return static_cast<int>(nodes.size()) - 1;
  }
  int literal(const std::string& utf8_text);  // a Concat of single code points
};

// Throws hearth::Error("regex ...: <why> at offset N").
RegexAst parse_regex(const std::string& pattern);

}  // namespace hearth::grammar
