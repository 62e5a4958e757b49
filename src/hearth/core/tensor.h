// A non-owning view of a dense, row-major tensor in some backend's memory.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "hearth/core/dtype.h"

namespace hearth {

constexpr int kMaxDims = 4;

struct Shape {
  std::array<int64_t, kMaxDims> dims{};
  int ndim = 0;

  Shape() = default;
  Shape(std::initializer_list<int64_t> d) {
    for (int64_t x : d) dims[ndim++] = x;
  }
  int64_t operator[](int i) const { return dims[i]; }
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= dims[i];
    return n;
  }
  bool operator==(const Shape& o) const {
    if (ndim != o.ndim) return false;
    for (int i = 0; i < ndim; ++i)
      if (dims[i] != o.dims[i]) return false;
    return true;
  }
  std::string str() const;
};

struct TensorView {
  void* data = nullptr;
  DType dtype = DType::F32;
  Shape shape;

  int64_t numel() const { return shape.numel(); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  template <typename T>
  T* as() const { return static_cast<T*>(data); }
  // Rows [begin, begin+count) of the leading dimension.
  TensorView rows(int64_t begin, int64_t count) const {
    TensorView v = *this;
    const int64_t row = shape.ndim > 0 ? numel() / shape[0] : 1;
    v.data = static_cast<char*>(data) + begin * row * static_cast<int64_t>(dtype_size(dtype));
    v.shape.dims[0] = count;
    return v;
  }
};

}  // namespace hearth
