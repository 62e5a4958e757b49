// Fixed-size KV blocks with reference counts and an LRU free list.
//
// A block is either in use (ref_count > 0, held by one or more sequences that share it
// without copies) or free (ref_count == 0, on the free list). Free blocks that still hold
// a cached prefix stay reusable by the prefix cache until they are handed out again, so the
// free list is also the eviction order: allocate() takes from the front, release() puts a
// block whose contents are worth keeping at the back (evicted last) and any other block at
// the front (reused first). A cache hit on a free block revives it (retain) in O(1): the
// list is intrusive (prev/next arrays), nothing allocates after construction.
#pragma once

#include <cstdint>
#include <vector>

namespace hearth {

using BlockId = int32_t;

class BlockAllocator {
 public:
  explicit BlockAllocator(int num_blocks);

  int num_blocks() const { return static_cast<int>(ref_.size()); }
  // Free blocks, including those that still hold an evictable cached prefix.
  int num_free() const { return num_free_; }
  int ref_count(BlockId b) const;

  // Takes the front of the free list (the least useful free block) with ref_count 1.
  // Throws (internal check) when none is free: callers check num_free() first.
  BlockId allocate();
  // The block at the front of the free list (what allocate() would return), or -1.
  BlockId peek_free() const { return head_; }
  // One more reference; a free block leaves the free list (a prefix cache hit).
  void retain(BlockId b);
  // One reference less. On the last one the block joins the free list: at the back when
  // `keep` (its contents may be reused: LRU), at the front otherwise. Returns whether the
  // block became free. Releasing a free block is a double free (internal check).
  bool release(BlockId b, bool keep);

  // Throws (internal check) unless the free list holds exactly the blocks with
  // ref_count 0, each once, linked consistently in both directions.
  void check_invariants() const;

 private:
  void check_id(BlockId b) const;
  void unlink(BlockId b);
  void push_front(BlockId b);
  void push_back(BlockId b);

  std::vector<int32_t> ref_;
  std::vector<BlockId> prev_, next_;  // free-list links, -1 at the ends
  BlockId head_ = -1, tail_ = -1;
  int num_free_ = 0;
};

}  // namespace hearth
