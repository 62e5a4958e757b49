// Runtime state of the matcher: persistent stacks of frames (one frame per open JSON value
// or lexeme), allocated in a bump arena so that trying a byte and backtracking (the token
// trie walk) costs one small allocation and a pointer reset. Frames are immutable once made;
// a step builds new top frames that share the rest of the stack.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

namespace hearth::grammar {

enum class FrameKind : uint8_t { Root, Value, Lit, Num, Str, Key, Obj, Arr, Raw, Exit };

// Object phases.
inline constexpr uint8_t kObjStart = 0, kObjKey = 1, kObjValue = 2, kObjComma = 3;
// Array phases.
inline constexpr uint8_t kArrStart = 0, kArrValue = 1, kArrComma = 2;
// String lexer phases: after a backslash, inside \uXXXX, waiting for a low surrogate.
inline constexpr uint8_t kStrNormal = 0, kStrEsc = 1, kStrU0 = 2, kStrHs = 6, kStrHsEsc = 7, kStrL0 = 8;

struct Frame {
  const Frame* parent;
  FrameKind kind;
  uint8_t phase;
  uint8_t u8;    // Str/Key/Raw: UTF-8 decoder state; Lit: position
  uint8_t ws;    // consecutive whitespace bytes just read
  uint32_t spec; // Value: node; Key/Obj: object spec; Arr: array spec; Lit: literal id
  uint32_t count;  // Str/Key: code points; Obj: properties; Arr: items; Num: text length
  uint32_t aux;    // Str/Key: \u digits so far; Obj: label of the key just read; Num: live alternatives
  uint32_t depth;  // nesting of arrays and objects
  uint32_t st[4];  // Str/Key/Raw: automaton state per alternative; Obj: seen labels (<= 128)
  const void* leaf;  // Str/Key: StrSet; Num: NumSet; Raw: InternedDfa
  const void* ext;   // Obj: seen labels (> 128); Key: allowed labels; Num: text written so far
};

class Arena {
 public:
  struct Mark {
    size_t block = 0, offset = 0;
  };

  Arena() { blocks_.emplace_back(new char[kBlock]); }

  void* alloc(size_t n) {
    n = (n + 15) & ~size_t{15};
    if (offset_ + n > kBlock) {
      if (n > kBlock) throw std::bad_alloc();
      ++block_;
      if (block_ == blocks_.size()) blocks_.emplace_back(new char[kBlock]);
      offset_ = 0;
    }
    void* p = blocks_[block_].get() + offset_;
    offset_ += n;
    return p;
  }
  Frame* copy(const Frame* f) {
    Frame* r = static_cast<Frame*>(alloc(sizeof(Frame)));
    std::memcpy(r, f, sizeof(Frame));
    return r;
  }
  Frame* make() {
    Frame* r = static_cast<Frame*>(alloc(sizeof(Frame)));
    std::memset(r, 0, sizeof(Frame));
    return r;
  }
  Mark mark() const { return {block_, offset_}; }
  void reset(Mark m) {
    block_ = m.block;
    offset_ = m.offset;
  }
  size_t used() const { return block_ * kBlock + offset_; }

 private:
  static constexpr size_t kBlock = 1 << 18;
  std::vector<std::unique_ptr<char[]>> blocks_;
  size_t block_ = 0, offset_ = 0;
};

// Alternatives kept at once (anyOf of objects forks one stack per branch); more are dropped,
// which can only reject more, never accept what the schema rejects.
inline constexpr uint32_t kMaxConfigs = 64;

struct StepOut {
  const Frame* cfg[kMaxConfigs];
  uint32_t n = 0;
  // Pops into the detached walk's sentinel: the frame being cached finished here.
  struct Exit {
    uint32_t sig;   // 0: a value finished; label + 1: an object key with this label finished
    bool consumed;  // whether the current byte belonged to the finished frame
  };
  Exit ex[8];
  uint32_t nex = 0;

  void push(const Frame* f) {
    if (n < kMaxConfigs) cfg[n++] = f;
  }
  void exit(uint32_t sig, bool consumed) {
    for (uint32_t i = 0; i < nex; ++i) {
      if (ex[i].sig == sig && ex[i].consumed == consumed) return;
    }
    if (nex < 8) ex[nex++] = {sig, consumed};
  }
  void clear() {
    n = 0;
    nex = 0;
  }
};

}  // namespace hearth::grammar
