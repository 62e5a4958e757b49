#include "hearth/grammar/nfa.h"

#include "hearth/core/error.h"
#include "hearth/grammar/utf8.h"

namespace hearth::grammar {

uint32_t Nfa::add_state() {
  if (states.size() >= max_states) fail("pattern too complex (automaton over {} states)", max_states);
  states.emplace_back();
  return static_cast<uint32_t>(states.size() - 1);
}

namespace {

struct Frag {
  uint32_t in, out;
};

class Builder {
 public:
  Builder(Nfa& nfa, const RegexAst& ast) : nfa_(nfa), ast_(ast) {}

  Frag build(int id, int depth = 0) {
    if (depth > 400) fail("pattern nested too deeply");
    const RegexNode& n = ast_.nodes[static_cast<size_t>(id)];
    switch (n.kind) {
      case RegexNode::Kind::Empty: {
        uint32_t s = nfa_.add_state();
        return {s, s};
      }
      case RegexNode::Kind::Bos:
      case RegexNode::Kind::Eos: {
        uint32_t a = nfa_.add_state(), b = nfa_.add_state();
        uint16_t sym = n.kind == RegexNode::Kind::Bos ? Nfa::kBos : Nfa::kEos;
        nfa_.states[a].edges.push_back({sym, sym, b});
        return {a, b};
      }
      case RegexNode::Kind::Set: return build_set(n.set);
      case RegexNode::Kind::Concat: {
        uint32_t s = nfa_.add_state();
        Frag f{s, s};
        for (int k : n.kids) {
          Frag g = build(k, depth + 1);
          nfa_.states[f.out].eps.push_back(g.in);
          f.out = g.out;
        }
        return f;
      }
      case RegexNode::Kind::Alt: {
        uint32_t a = nfa_.add_state(), b = nfa_.add_state();
        for (int k : n.kids) {
          Frag g = build(k, depth + 1);
          nfa_.states[a].eps.push_back(g.in);
          nfa_.states[g.out].eps.push_back(b);
        }
        return {a, b};
      }
      case RegexNode::Kind::Repeat: {
        int kid = n.kids[0];
        uint32_t s = nfa_.add_state();
        Frag f{s, s};
        for (int i = 0; i < n.min; ++i) {
          Frag g = build(kid, depth + 1);
          nfa_.states[f.out].eps.push_back(g.in);
          f.out = g.out;
        }
        if (n.max < 0) {
          Frag g = build(kid, depth + 1);
          uint32_t e = nfa_.add_state();
          nfa_.states[f.out].eps.push_back(g.in);
          nfa_.states[f.out].eps.push_back(e);
          nfa_.states[g.out].eps.push_back(g.in);
          nfa_.states[g.out].eps.push_back(e);
          f.out = e;
        } else {
          uint32_t e = nfa_.add_state();
          for (int i = n.min; i < n.max; ++i) {
            Frag g = build(kid, depth + 1);
            nfa_.states[f.out].eps.push_back(g.in);
            nfa_.states[f.out].eps.push_back(e);
            f.out = g.out;
          }
          nfa_.states[f.out].eps.push_back(e);
          f.out = e;
        }
        return f;
      }
    }
    fail("bad regex node");
  }

 private:
  Frag build_set(const CpSet& set) {
    uint32_t a = nfa_.add_state(), b = nfa_.add_state();
    std::vector<utf8::Sequence> seqs;
    for (const CpRange& r : set) utf8::sequences(r.lo, r.hi, seqs);
    for (const utf8::Sequence& seq : seqs) {
      uint32_t cur = a;
      for (size_t i = 0; i < seq.size(); ++i) {
        uint32_t to = i + 1 == seq.size() ? b : nfa_.add_state();
        nfa_.states[cur].edges.push_back({seq[i].lo, seq[i].hi, to});
        cur = to;
      }
    }
    return {a, b};
  }

  Nfa& nfa_;
  const RegexAst& ast_;
};

}  // namespace

Nfa nfa_build(const std::vector<NfaPart>& parts, bool search) {
  Nfa nfa;
  nfa.start = nfa.add_state();
  for (const NfaPart& part : parts) {
    Builder b(nfa, *part.ast);
    Frag f = b.build(part.ast->root);
    uint32_t accept = nfa.add_state();
    nfa.states[accept].label = part.label;
    if (search) {
      // Any prefix (the start symbol included), the pattern, any suffix (the end included).
      uint32_t pre = nfa.add_state();
      nfa.states[nfa.start].eps.push_back(pre);
      nfa.states[pre].edges.push_back({0, Nfa::kBos, pre});
      nfa.states[pre].eps.push_back(f.in);
      nfa.states[f.out].eps.push_back(accept);
      nfa.states[accept].edges.push_back({0, 255, accept});
      nfa.states[accept].edges.push_back({Nfa::kEos, Nfa::kEos, accept});
      // Acceptance is read after the end symbol; a pattern that ends in `$` has consumed
      // it already, the suffix loop consumes it otherwise.
    } else {
      uint32_t in = nfa.add_state();
      nfa.states[nfa.start].edges.push_back({Nfa::kBos, Nfa::kBos, in});
      nfa.states[in].eps.push_back(f.in);
      uint32_t end = nfa.add_state();
      nfa.states[f.out].edges.push_back({Nfa::kEos, Nfa::kEos, end});
      nfa.states[end].eps.push_back(accept);
    }
  }
  return nfa;
}

}  // namespace hearth::grammar
