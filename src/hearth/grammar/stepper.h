// One byte at a time through a stack of frames: the JSON structure (objects, arrays, literals,
// numbers, strings with escapes and UTF-8) checked against the compiled grammar. Every
// accepted byte leaves a state from which the value can still be completed (the grammar was
// pruned of dead ends, and lexemes check liveness), so a token mask built from this never
// leads the model into a corner.
#pragma once

#include "hearth/grammar/frame.h"
#include "hearth/grammar/schema_ir.h"

namespace hearth::grammar {

class Stepper {
 public:
  Stepper(const GrammarData& g, Arena& arena) : g_(g), arena_(arena) {}

  // The state before any output: the root value on top of a Root frame.
  const Frame* initial();
  // Appends the configurations after reading `b` (none: rejected). A frame whose parent is the
  // Exit sentinel reports its completion through out.exit().
  void step(const Frame* f, uint8_t b, StepOut& out);
  // Whether the output may end here.
  bool accepts_eos(const Frame* f) const;
  // The parent's state after a child finished with `sig` (see StepOut::Exit).
  void after_exit(const Frame* parent, uint32_t sig, StepOut& out);
  // A copy of `top` whose parent is the sentinel (for caching what happens above it).
  const Frame* detach(const Frame* top);
  static const Frame* sentinel();

  // Whether two stacks are the same state (used to merge alternatives).
  static bool same_stack(const Frame* a, const Frame* b, const GrammarData& g);
  // Bytes of extra data (ext) a frame owns, for keys and copies.
  static size_t ext_bytes(const Frame* f, const GrammarData& g);

  // String lexeme helpers shared with the mask cache.
  bool str_alive(const Frame* f, uint32_t alt, uint32_t state, uint8_t u8, uint32_t count) const;
  const GrammarData& grammar() const { return g_; }

 private:
  void value_start(const Frame* parent, NodeId node, uint32_t depth, uint8_t ws, uint8_t b, StepOut& out);
  void step_str(const Frame* f, uint8_t b, StepOut& out);
  void feed_cp(const Frame* f, uint32_t cp, StepOut& out);
  bool cp_range_feasible(const Frame* f, uint32_t lo, uint32_t hi) const;
  bool escape_feasible(const Frame* f, uint8_t phase, uint32_t aux) const;
  bool escape_possible(const Frame* f) const;
  void close_str(const Frame* f, StepOut& out);
  void step_num(const Frame* f, uint8_t b, StepOut& out);
  bool num_complete(const Frame* f) const;
  bool step_container_ws(const Frame* f, uint8_t b, StepOut& out);
  void step_obj(const Frame* f, uint8_t b, StepOut& out);
  void step_arr(const Frame* f, uint8_t b, StepOut& out);
  void pop_value(const Frame* f, StepOut& out);
  void pop_unconsumed(const Frame* f, uint8_t b, StepOut& out);
  const Frame* obj_after_key(const Frame* parent, uint32_t label);
  const uint64_t* allowed_labels(const Frame* obj);
  bool obj_close_ok(const Frame* obj) const;
  bool seen(const Frame* obj, uint32_t label) const;

  const GrammarData& g_;
  Arena& arena_;
};

}  // namespace hearth::grammar
