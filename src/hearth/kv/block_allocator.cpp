#include "hearth/kv/block_allocator.h"

#include "hearth/core/error.h"

namespace hearth {

BlockAllocator::BlockAllocator(int num_blocks) {
  if (num_blocks <= 0) fail("KV cache needs at least one block, got {}", num_blocks);
  const auto n = static_cast<size_t>(num_blocks);
  ref_.assign(n, 0);
  prev_.assign(n, -1);
  next_.assign(n, -1);
  // Ascending order: a fresh pool hands out blocks 0, 1, 2, ... (easy to read in logs).
  for (BlockId b = 0; b < num_blocks; ++b) push_back(b);
}

void BlockAllocator::check_id(BlockId b) const {
  HEARTH_CHECK(b >= 0 && b < num_blocks(), "block id {} outside [0, {})", b, num_blocks());
}

int BlockAllocator::ref_count(BlockId b) const {
  check_id(b);
  return ref_[static_cast<size_t>(b)];
}

void BlockAllocator::unlink(BlockId b) {
  const auto i = static_cast<size_t>(b);
  const BlockId p = prev_[i], n = next_[i];
  if (p >= 0) next_[static_cast<size_t>(p)] = n; else head_ = n;
  if (n >= 0) prev_[static_cast<size_t>(n)] = p; else tail_ = p;
  prev_[i] = next_[i] = -1;
  --num_free_;
}

void BlockAllocator::push_front(BlockId b) {
  const auto i = static_cast<size_t>(b);
  prev_[i] = -1;
  next_[i] = head_;
  if (head_ >= 0) prev_[static_cast<size_t>(head_)] = b; else tail_ = b;
  head_ = b;
  ++num_free_;
}

void BlockAllocator::push_back(BlockId b) {
  const auto i = static_cast<size_t>(b);
  next_[i] = -1;
  prev_[i] = tail_;
  if (tail_ >= 0) next_[static_cast<size_t>(tail_)] = b; else head_ = b;
  tail_ = b;
  ++num_free_;
}

BlockId BlockAllocator::allocate() {
  HEARTH_CHECK(head_ >= 0, "allocate() with no free KV block ({} blocks)", num_blocks());
  const BlockId b = head_;
  unlink(b);
  ref_[static_cast<size_t>(b)] = 1;
  return b;
}

void BlockAllocator::retain(BlockId b) {
  check_id(b);
  int32_t& r = ref_[static_cast<size_t>(b)];
  if (r == 0) unlink(b);
  ++r;
}

bool BlockAllocator::release(BlockId b, bool keep) {
  check_id(b);
  int32_t& r = ref_[static_cast<size_t>(b)];
  HEARTH_CHECK(r > 0, "double free of KV block {}", b);
  if (--r > 0) return false;
  if (keep) push_back(b); else push_front(b);
  return true;
}

void BlockAllocator::check_invariants() const {
  int seen = 0;
  BlockId prev = -1;
  std::vector<char> on_list(ref_.size(), 0);
  for (BlockId b = head_; b >= 0; b = next_[static_cast<size_t>(b)]) {
    check_id(b);
    const auto i = static_cast<size_t>(b);
    HEARTH_CHECK(!on_list[i], "block {} twice on the free list", b);
    on_list[i] = 1;
    HEARTH_CHECK(prev_[i] == prev, "block {}: back link {} != {}", b, prev_[i], prev);
    HEARTH_CHECK(ref_[i] == 0, "block {} on the free list with ref_count {}", b, ref_[i]);
    prev = b;
    ++seen;
  }
  HEARTH_CHECK(prev == tail_, "free list tail {} != last block {}", tail_, prev);
  HEARTH_CHECK(seen == num_free_, "free list holds {} blocks, count says {}", seen, num_free_);
  for (size_t i = 0; i < ref_.size(); ++i) {
    HEARTH_CHECK(ref_[i] >= 0, "block {} has ref_count {}", i, ref_[i]);
    HEARTH_CHECK(ref_[i] > 0 || on_list[i], "block {} has ref_count 0 but is not free (leak)", i);
  }
}

}  // namespace hearth
