// Ownership of interned leaves (string automata, string and number constraint sets).
//
// The registries that intern them (dfa_info.cpp, leaf_registry.cpp) only hold weak
// references: an interned object is freed when the last LeafPool keeping it goes; its expired
// registry entries (and memoized set operations involving it) are swept once a map has
// doubled since its last sweep, and by registry_stats(). A compilation owns one pool for everything it interns (intermediate automata included); the
// finished Grammar keeps a second pool with only what its runtime form refers to, so a server
// that compiles a schema per request frees that schema's automata with the last request
// using it. Functions that intern take the pool and return a raw pointer valid while that
// pool lives.
#pragma once

#include <cstddef>
#include <memory>
#include <unordered_map>

namespace hearth::grammar {

class LeafPool {
 public:
  template <typename T>
  const T* keep(std::shared_ptr<const T> p) {
    const T* raw = p.get();
    if (raw) items_.try_emplace(static_cast<const void*>(raw), std::move(p));
    return raw;
  }
  // Keeps an object that some registry already owns through a shared_ptr (it derives from
  // std::enable_shared_from_this).
  template <typename T>
  const T* keep_raw(const T* p) {
    if (p && !items_.count(static_cast<const void*>(p))) items_.emplace(static_cast<const void*>(p), p->shared_from_this());
    return p;
  }
  // Takes over everything `other` keeps.
  void absorb(LeafPool&& other) {
    items_.merge(other.items_);
    other.items_.clear();
  }
  size_t size() const { return items_.size(); }

 private:
  std::unordered_map<const void*, std::shared_ptr<const void>> items_;
};

// Live objects in the process-wide registries (for leak tests and the server's metrics).
struct RegistryStats {
  size_t dfas = 0;          // interned automata
  size_t patterns = 0;      // pattern text -> automaton entries
  size_t dfa_ops = 0;       // memoized intersection / union / complement entries
  size_t str_sets = 0;
  size_t num_sets = 0;
  size_t total() const { return dfas + patterns + dfa_ops + str_sets + num_sets; }
};
RegistryStats registry_stats();

}  // namespace hearth::grammar
