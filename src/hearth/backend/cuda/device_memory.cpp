#include "hearth/backend/cuda/device_memory.h"

#include <cuda_runtime_api.h>

#include "hearth/backend/cuda/cuda_check.h"
#include "hearth/core/error.h"

namespace hearth::cuda {

namespace {

constexpr size_t kMiB = 1024 * 1024;

// Small blocks round to 512 bytes, large ones to 2 MiB: the same activation shapes come
// back every step, so sizes repeat and exact-size reuse finds them.
size_t round_size(size_t bytes) {
  if (bytes == 0) bytes = 1;
  const size_t unit = bytes >= kMiB ? 2 * kMiB : 512;
  return (bytes + unit - 1) / unit * unit;
}

double mib(size_t bytes) { return static_cast<double>(bytes) / kMiB; }

}  // namespace

DeviceMemory::DeviceMemory(size_t budget_bytes) : budget_(budget_bytes) {}

DeviceMemory::~DeviceMemory() {
  // No throwing from a destructor: errors here are reported by the next CUDA call anyway.
  for (auto& [p, size] : live_) cudaFree(p);
  for (auto& [size, p] : cached_) cudaFree(p);
}

void* DeviceMemory::allocate(size_t bytes, std::string_view what) {
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  void* p = nullptr;
  if (auto it = cached_.find(size); it != cached_.end()) {
    p = it->second;
    cached_.erase(it);
  } else {
    p = allocate_from_driver(size, what);
  }
  live_.emplace(p, size);
  in_use_ += size;
  if (in_use_ > peak_) peak_ = in_use_;
  return p;
}

void* DeviceMemory::allocate_from_driver(size_t size, std::string_view what) {
  if (reserved_ + size > budget_) trim_locked();
  if (reserved_ + size > budget_) {
    fail("CUDA memory budget exceeded: {} needs {:.1f} MiB, but {:.1f} MiB of the {:.1f} MiB "
         "budget are in use ({:.1f} MiB available)",
         what, mib(size), mib(reserved_), mib(budget_), mib(budget_ - reserved_));
  }
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, size);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // clear it, give cached blocks back and try once more
    trim_locked();
    err = cudaMalloc(&p, size);
  }
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    fail("out of GPU memory: {} needs {:.1f} MiB, the device has {:.1f} MiB free of {:.1f} MiB "
         "(this backend holds {:.1f} MiB)",
         what, mib(size), mib(free_bytes), mib(total_bytes), mib(reserved_));
  }
  HEARTH_CUDA_CHECK(err);
  reserved_ += size;
  if (reserved_ > peak_reserved_) peak_reserved_ = reserved_;
  return p;
}

void DeviceMemory::release(void* p) {
  if (p == nullptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(p);
  HEARTH_CHECK(it != live_.end(), "release of device memory that this backend did not "
               "allocate (or already released)");
  in_use_ -= it->second;
  cached_.emplace(it->second, p);
  live_.erase(it);
}

bool DeviceMemory::owns(const void* p) const {
  std::lock_guard<std::mutex> lock(mu_);
  return live_.count(const_cast<void*>(p)) != 0;
}

void DeviceMemory::trim() {
  std::lock_guard<std::mutex> lock(mu_);
  trim_locked();
}

void DeviceMemory::trim_locked() {
  for (auto& [size, p] : cached_) {
    HEARTH_CUDA_CHECK(cudaFree(p));
    reserved_ -= size;
  }
  cached_.clear();
}

size_t DeviceMemory::in_use() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_use_;
}

size_t DeviceMemory::reserved() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reserved_;
}

size_t DeviceMemory::peak_reserved() const {
  std::lock_guard<std::mutex> lock(mu_);
  return peak_reserved_;
}

size_t DeviceMemory::peak_in_use() const {
  std::lock_guard<std::mutex> lock(mu_);
  return peak_;
}

}  // namespace hearth::cuda
