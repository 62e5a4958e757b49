// Device memory for one CUDA backend: every byte it takes goes through here, so that a
// memory budget (the product targets a 16 GB laptop GPU; tests emulate it on the H200)
// holds for weights, KV cache, activations and workspaces alike.
//
// Released blocks are cached by size and handed out again without cudaFree/cudaMalloc
// (which synchronize the device and cost tens of microseconds). Reuse is safe because all
// of a backend's work runs on its one stream: a block released while queued kernels still
// read it is only rewritten by work queued after them. trim() returns cached blocks to the
// driver; cudaFree synchronizes, so pending kernels finish first.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <string_view>
#include <unordered_map>

namespace hearth::cuda {

class DeviceMemory {
 public:
  // budget_bytes: the most this allocator may hold from the driver (live + cached).
  explicit DeviceMemory(size_t budget_bytes);
  ~DeviceMemory();
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;

  // Throws hearth::Error naming `what` when the budget or the device runs out.
  void* allocate(size_t bytes, std::string_view what);
  // p must come from allocate(); throws for foreign or double releases.
  void release(void* p);
  bool owns(const void* p) const;
  void trim();

  size_t budget() const { return budget_; }
  size_t in_use() const;    // live blocks
  size_t reserved() const;  // live + cached blocks
  size_t peak_in_use() const;
  size_t peak_reserved() const;  // the most held from the driver at any time

 private:
  void* allocate_from_driver(size_t bytes, std::string_view what);
  void trim_locked();

  mutable std::mutex mu_;
  size_t budget_;
  size_t reserved_ = 0;
  size_t in_use_ = 0;
  size_t peak_ = 0;
  size_t peak_reserved_ = 0;
  std::unordered_map<void*, size_t> live_;  // block -> rounded size
  std::multimap<size_t, void*> cached_;     // released blocks by rounded size
};

}  // namespace hearth::cuda
