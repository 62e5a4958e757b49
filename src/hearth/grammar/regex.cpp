#include "hearth/grammar/regex.h"

#include <algorithm>

#include "hearth/core/error.h"
#include "hearth/grammar/utf8.h"

namespace hearth::grammar {

CpSet cp_set_normalize(CpSet s) {
  std::sort(s.begin(), s.end(), [](const CpRange& a, const CpRange& b) { return a.lo < b.lo; });
  CpSet out;
  for (const CpRange& r : s) {
    if (r.lo > r.hi) continue;
    if (!out.empty() && r.lo <= out.back().hi + 1) {
      out.back().hi = std::max(out.back().hi, r.hi);
    } else {
      out.push_back(r);
    }
  }
  return out;
}

CpSet cp_set_complement(const CpSet& s) {
  CpSet out;
  uint32_t next = 0;
  for (const CpRange& r : s) {
    if (r.lo > next) out.push_back({next, r.lo - 1});
    next = r.hi + 1;
  }
  if (next <= 0x10FFFF) out.push_back({next, 0x10FFFF});
  return out;
}

int RegexAst::literal(const std::string& text) {
  RegexNode cat;
  cat.kind = RegexNode::Kind::Concat;
  size_t i = 0;
  while (i < text.size()) {
    uint32_t cp = 0;
    if (!utf8::decode(text, i, cp)) fail("literal is not valid UTF-8");
    RegexNode c;
    c.kind = RegexNode::Kind::Set;
    c.set = {{cp, cp}};
    cat.kids.push_back(add(std::move(c)));
  }
  return add(std::move(cat));
}

namespace {

// ECMAScript's \s: WhiteSpace and LineTerminator code points.
const CpSet kSpace = {{0x09, 0x0D}, {0x20, 0x20},     {0xA0, 0xA0},     {0x1680, 0x1680},
                      {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F},
                      {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};
const CpSet kDigit = {{'0', '9'}};
const CpSet kWord = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
// `.` excludes the line terminators.
const CpSet kDot = {{0, 0x09}, {0x0B, 0x0C}, {0x0E, 0x2027}, {0x202A, 0x10FFFF}};

class Parser {
 public:
  explicit Parser(const std::string& pattern) : pattern_(pattern) {
    size_t i = 0;
    while (i < pattern.size()) {
      uint32_t cp = 0;
      size_t at = i;
      if (!utf8::decode(pattern, i, cp)) fail("regex /{}/: not valid UTF-8", pattern);
      cps_.push_back(cp);
      offsets_.push_back(at);
    }
  }

  RegexAst run() {
    ast_.root = parse_alt(0);
    if (pos_ < cps_.size()) error("unbalanced ')'");
    return std::move(ast_);
  }

 private:
  [[noreturn]] void error(const char* why) const {
    size_t off = pos_ < offsets_.size() ? offsets_[pos_] : pattern_.size();
    fail("regex /{}/: {} at offset {}", pattern_, why, off);
  }
  bool at_end() const { return pos_ >= cps_.size(); }
  uint32_t peek(size_t k = 0) const { return pos_ + k < cps_.size() ? cps_[pos_ + k] : 0xFFFFFFFF; }

  int make_set(CpSet s) {
    RegexNode n;
    n.kind = RegexNode::Kind::Set;
    n.set = cp_set_normalize(std::move(s));
    return ast_.add(std::move(n));
  }

  int parse_alt(int depth) {
    if (depth > 200) error("nesting too deep");
    std::vector<int> alts{parse_concat(depth)};
    while (!at_end() && peek() == '|') {
      ++pos_;
      alts.push_back(parse_concat(depth));
    }
    if (alts.size() == 1) return alts[0];
    RegexNode n;
    n.kind = RegexNode::Kind::Alt;
    n.kids = std::move(alts);
    return ast_.add(std::move(n));
  }

  int parse_concat(int depth) {
    RegexNode cat;
    cat.kind = RegexNode::Kind::Concat;
    while (!at_end() && peek() != '|' && peek() != ')') {
      int atom = parse_atom(depth);
      atom = parse_quantifiers(atom);
      cat.kids.push_back(atom);
    }
    return ast_.add(std::move(cat));
  }

  bool parse_braces(int& lo, int& hi) {
    // {n}, {n,}, {n,m}; anything else is a literal '{' (Annex B).
    size_t save = pos_;
    ++pos_;
    auto number = [&](int& out) {
      if (at_end() || peek() < '0' || peek() > '9') return false;
      long v = 0;
      while (!at_end() && peek() >= '0' && peek() <= '9') {
        v = v * 10 + static_cast<long>(peek() - '0');
        if (v > 100000) v = 100000;
        ++pos_;
      }
      out = static_cast<int>(v);
      return true;
    };
    if (!number(lo)) {
      pos_ = save;
      return false;
    }
    hi = lo;
    if (!at_end() && peek() == ',') {
      ++pos_;
      hi = -1;
      if (!at_end() && peek() != '}') {
        if (!number(hi)) {
          pos_ = save;
          return false;
        }
      }
    }
    if (at_end() || peek() != '}') {
      pos_ = save;
      return false;
    }
    ++pos_;
    return true;
  }

  int parse_quantifiers(int atom) {
    while (!at_end()) {
      uint32_t c = peek();
      int lo = 0, hi = -1;
      if (c == '*') {
        ++pos_;
      } else if (c == '+') {
        lo = 1;
        ++pos_;
      } else if (c == '?') {
        hi = 1;
        ++pos_;
      } else if (c == '{') {
        if (!parse_braces(lo, hi)) return atom;
        if (hi >= 0 && hi < lo) error("quantifier range out of order");
      } else {
        return atom;
      }
      if (!at_end() && peek() == '?') ++pos_;  // lazy: same language
      const RegexNode& target = ast_.nodes[static_cast<size_t>(atom)];
      if (target.kind == RegexNode::Kind::Bos || target.kind == RegexNode::Kind::Eos) {
        error("quantified anchor");
      }
      RegexNode r;
      r.kind = RegexNode::Kind::Repeat;
      r.kids = {atom};
      r.min = lo;
      r.max = hi;
      atom = ast_.add(std::move(r));
    }
    return atom;
  }

  uint32_t parse_hex(int digits) {
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i) {
      uint32_t c = peek();
      uint32_t d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      else error("bad hex escape");
      v = v * 16 + d;
      ++pos_;
    }
    return v;
  }

  // Parses the escape after '\'. Returns a set (class escapes) or a single code point.
  CpSet parse_escape(bool in_class) {
    if (at_end()) error("trailing backslash");
    uint32_t c = peek();
    ++pos_;
    switch (c) {
      case 'd': return kDigit;
      case 'D': return cp_set_complement(kDigit);
      case 'w': return kWord;
      case 'W': return cp_set_complement(kWord);
      case 's': return kSpace;
      case 'S': return cp_set_complement(kSpace);
      case 't': return {{0x09, 0x09}};
      case 'n': return {{0x0A, 0x0A}};
      case 'v': return {{0x0B, 0x0B}};
      case 'f': return {{0x0C, 0x0C}};
      case 'r': return {{0x0D, 0x0D}};
      case 'b':
        if (in_class) return {{0x08, 0x08}};
        --pos_;
        error("word boundary \\b is not supported");
      case 'B': --pos_; error("\\B is not supported");
      case '0':
        if (!at_end() && peek() >= '0' && peek() <= '9') error("octal escapes are not supported");
        return {{0, 0}};
      case 'x': {
        uint32_t v = parse_hex(2);
        return {{v, v}};
      }
      case 'u': {
        if (!at_end() && peek() == '{') error("\\u{...} needs the u flag");
        uint32_t v = parse_hex(4);
        // A surrogate pair written as two escapes is one code point in our code point model.
        if (v >= 0xD800 && v <= 0xDBFF && peek() == '\\' && peek(1) == 'u') {
          size_t save = pos_;
          pos_ += 2;
          uint32_t lo = parse_hex(4);
          if (lo >= 0xDC00 && lo <= 0xDFFF) {
            uint32_t cp = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
            return {{cp, cp}};
          }
          pos_ = save;
        }
        if (v >= 0xD800 && v <= 0xDFFF) error("lone surrogate escape");
        return {{v, v}};
      }
      case 'c': {
        uint32_t l = peek();
        if ((l >= 'a' && l <= 'z') || (l >= 'A' && l <= 'Z')) {
          ++pos_;
          uint32_t v = l % 32;
          return {{v, v}};
        }
        --pos_;
        error("bad \\c escape");
      }
      default: break;
    }
    if (c >= '1' && c <= '9') {
      --pos_;
      error("backreferences are not supported");
    }
    // Identity escapes: ECMAScript's syntax characters and other punctuation are literal.
    // Letters and digits other than the ones above mean different things in other regex
    // dialects (\A, \Z, \p{...}), so refuse rather than guess.
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      --pos_;
      error("unsupported escape");
    }
    return {{c, c}};
  }

  int parse_class() {
    // After '['.
    bool negate = false;
    if (!at_end() && peek() == '^') {
      negate = true;
      ++pos_;
    }
    CpSet set;
    bool first = true;
    while (true) {
      if (at_end()) error("unterminated character class");
      uint32_t c = peek();
      if (c == ']' && !first) {
        ++pos_;
        break;
      }
      if (c == ']' && first) {
        // "[]" matches nothing and "[^]" everything in ECMAScript.
        ++pos_;
        break;
      }
      first = false;
      CpSet lo_set;
      ++pos_;
      if (c == '\\') {
        lo_set = parse_escape(true);
      } else {
        lo_set = {{c, c}};
      }
      bool single = lo_set.size() == 1 && lo_set[0].lo == lo_set[0].hi;
      if (!at_end() && peek() == '-' && peek(1) != ']' && pos_ + 1 < cps_.size()) {
        // A range, unless either end is a class escape (then '-' is literal, Annex B).
        size_t save = pos_;
        ++pos_;
        uint32_t c2 = peek();
        ++pos_;
        CpSet hi_set;
        if (c2 == '\\') hi_set = parse_escape(true);
        else hi_set = {{c2, c2}};
        bool single2 = hi_set.size() == 1 && hi_set[0].lo == hi_set[0].hi;
        if (single && single2) {
          if (hi_set[0].lo < lo_set[0].lo) error("character class range out of order");
          set.push_back({lo_set[0].lo, hi_set[0].lo});
          continue;
        }
        (void)save;
        set.insert(set.end(), lo_set.begin(), lo_set.end());
        set.push_back({'-', '-'});
        set.insert(set.end(), hi_set.begin(), hi_set.end());
        continue;
      }
      set.insert(set.end(), lo_set.begin(), lo_set.end());
    }
    set = cp_set_normalize(std::move(set));
    if (negate) set = cp_set_complement(set);
    return make_set(std::move(set));
  }

  int parse_atom(int depth) {
    uint32_t c = peek();
    ++pos_;
    switch (c) {
      case '(': {
        if (!at_end() && peek() == '?') {
          uint32_t k = peek(1);
          if (k == ':') {
            pos_ += 2;
          } else if (k == '<' && peek(2) != '=' && peek(2) != '!') {
            pos_ += 2;
            while (!at_end() && peek() != '>') ++pos_;
            if (at_end()) error("unterminated group name");
            ++pos_;
          } else if (k == 'P' && peek(2) == '<') {
            pos_ += 3;
            while (!at_end() && peek() != '>') ++pos_;
            if (at_end()) error("unterminated group name");
            ++pos_;
          } else if (k == '=' || k == '!' || k == '<') {
            error("lookaround assertions are not supported");
          } else {
            error("inline flags and other group extensions are not supported");
          }
        }
        int inner = parse_alt(depth + 1);
        if (at_end() || peek() != ')') error("missing ')'");
        ++pos_;
        return inner;
      }
      case ')': --pos_; error("unbalanced ')'");
      case '[': return parse_class();
      case '.': return make_set(kDot);
      case '^': {
        RegexNode n;
        n.kind = RegexNode::Kind::Bos;
        return ast_.add(std::move(n));
      }
      case '$': {
        RegexNode n;
        n.kind = RegexNode::Kind::Eos;
        return ast_.add(std::move(n));
      }
      case '\\': return make_set(parse_escape(false));
      case '*':
      case '+':
      case '?': --pos_; error("nothing to repeat");
      case '{': {
        --pos_;
        int lo, hi;
        if (parse_braces(lo, hi)) error("nothing to repeat");
        ++pos_;
        return make_set({{'{', '{'}});
      }
      default: return make_set({{c, c}});
    }
  }

  const std::string& pattern_;
  std::vector<uint32_t> cps_;
  std::vector<size_t> offsets_;
  size_t pos_ = 0;
  RegexAst ast_;
};

}  // namespace

RegexAst parse_regex(const std::string& pattern) { return Parser(pattern).run(); }

}  // namespace hearth::grammar
