// Memory-bound element and row kernels: row gather (embedding, gather_rows), SwiGLU, dtype
// conversions and the paged KV-cache write. Each has a 16-byte vector path (8 bf16 per
// access) taken when sizes and pointers allow, and a scalar path for everything else.
#include <atomic>

#include "hearth/backend/cuda/device_utils.cuh"
#include "hearth/backend/cuda/kernels.h"

namespace hearth::cuda {

namespace {

std::atomic<bool> g_programmatic_launch{false};

constexpr int kThreads = 256;

// One block per output row (grid-strided over rows).
template <bool kVec>
__global__ void copy_rows_kernel(const bf16* __restrict__ src, const int32_t* __restrict__ rows,
                                 int num_rows, int64_t cols, bf16* __restrict__ out) {
  pdl_wait();
  pdl_trigger();
  for (int r = blockIdx.x; r < num_rows; r += gridDim.x) {
    const bf16* s = src + static_cast<int64_t>(rows[r]) * cols;
    bf16* o = out + static_cast<int64_t>(r) * cols;
    if constexpr (kVec) {
      const int64_t n8 = cols / 8;
      for (int64_t i = threadIdx.x; i < n8; i += blockDim.x)
        reinterpret_cast<uint4*>(o)[i] = reinterpret_cast<const uint4*>(s)[i];
    } else {
      for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) o[i] = s[i];
    }
  }
}

__device__ __forceinline__ float silu_mul(float g, float u) {
  return g / (1.0f + __expf(-g)) * u;
}

// out[r, c] = silu(gate[r * in_stride + c]) * up[r * in_stride + c] for rows x cols; out is
// contiguous. in_stride = cols is the plain form; 2 x cols reads the [gate | up] rows of
// one GEMM over adjacent gate and up weights.
template <bool kVec>
__global__ void swiglu_kernel(const bf16* __restrict__ gate, const bf16* __restrict__ up,
                              int64_t rows, int64_t cols, int64_t in_stride,
                              bf16* __restrict__ out) {
  pdl_wait();
  pdl_trigger();
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t start = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t per_row = kVec ? cols / 8 : cols;
  for (int64_t i = start; i < rows * per_row; i += stride) {
    const int64_t r = rows == 1 ? 0 : i / per_row, c = i - r * per_row;  // no division when flat
    if constexpr (kVec) {
      const int64_t at = (r * in_stride) / 8 + c;
      float g[8], u[8], o[8];
      unpack8(reinterpret_cast<const uint4*>(gate)[at], g);
      unpack8(reinterpret_cast<const uint4*>(up)[at], u);
#pragma unroll
      for (int j = 0; j < 8; ++j) o[j] = silu_mul(g[j], u[j]);
      reinterpret_cast<uint4*>(out)[i] = pack8(o);
    } else {
      const int64_t at = r * in_stride + c;
      out[i] = __float2bfloat16(silu_mul(__bfloat162float(gate[at]), __bfloat162float(up[at])));
    }
  }
}

__global__ void f32_to_bf16_kernel(const float* __restrict__ src, int64_t n, bf16* __restrict__ dst) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    dst[i] = __float2bfloat16(src[i]);
}

__global__ void f16_to_bf16_kernel(const __half* __restrict__ src, int64_t n, bf16* __restrict__ dst) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    dst[i] = __float2bfloat16(__half2float(src[i]));
}

__global__ void bf16_to_f32_kernel(const bf16* __restrict__ src, int64_t n, float* __restrict__ dst) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    dst[i] = __bfloat162float(src[i]);
}

// One block per token. The vector path needs row_elems % 8 == 0 and 16-byte aligned k/v.
template <bool kVec>
__global__ void kv_cache_write_kernel(const bf16* __restrict__ k, const bf16* __restrict__ v,
                                      const int32_t* __restrict__ slot_mapping, int row_elems,
                                      bf16* __restrict__ k_cache, bf16* __restrict__ v_cache) {
  pdl_wait();
  pdl_trigger();
  const int t = blockIdx.x;
  const int64_t slot = slot_mapping[t];
  if (slot < 0) return;  // padding token
  const bf16* ks = k + static_cast<int64_t>(t) * row_elems;
  const bf16* vs = v + static_cast<int64_t>(t) * row_elems;
  bf16* kd = k_cache + slot * row_elems;
  bf16* vd = v_cache + slot * row_elems;
  if constexpr (kVec) {
    for (int i = threadIdx.x; i < row_elems / 8; i += blockDim.x) {
      reinterpret_cast<uint4*>(kd)[i] = reinterpret_cast<const uint4*>(ks)[i];
      reinterpret_cast<uint4*>(vd)[i] = reinterpret_cast<const uint4*>(vs)[i];
    }
  } else {
    for (int i = threadIdx.x; i < row_elems; i += blockDim.x) {
      kd[i] = ks[i];
      vd[i] = vs[i];
    }
  }
}

// One block per row; the vector path needs every cols % 8 == 0 and 16-byte aligned
// pointers.
template <bool kVec>
__global__ void split_columns_kernel(const bf16* __restrict__ src, int src_cols, ColumnSplit split) {
  const bf16* row = src + static_cast<int64_t>(blockIdx.x) * src_cols;
  for (int s = 0; s < split.count; ++s) {
    const int cols = split.cols[s];
    bf16* dst = static_cast<bf16*>(split.dst[s]) + static_cast<int64_t>(blockIdx.x) * cols;
    if constexpr (kVec) {
      for (int i = threadIdx.x; i < cols / 8; i += blockDim.x)
        reinterpret_cast<uint4*>(dst)[i] = reinterpret_cast<const uint4*>(row)[i];
    } else {
      for (int i = threadIdx.x; i < cols; i += blockDim.x) dst[i] = row[i];
    }
    row += cols;
  }
}

}  // namespace

void set_programmatic_launch(bool on) { g_programmatic_launch.store(on); }
bool programmatic_launch() { return g_programmatic_launch.load(std::memory_order_relaxed); }

cudaError_t launch_copy_rows(const void* src, const int32_t* rows, int num_rows, int64_t cols,
                             void* out, cudaStream_t stream) {
  if (num_rows <= 0 || cols <= 0) return cudaGetLastError();
  const unsigned grid = static_cast<unsigned>(num_rows < 65535 ? num_rows : 65535);
  const bool vec = cols % 8 == 0 && aligned16(src) && aligned16(out);
  const auto* s = static_cast<const bf16*>(src);
  auto* o = static_cast<bf16*>(out);
  if (vec) return launch_pdl(copy_rows_kernel<true>, dim3(grid), dim3(128), 0, stream, s, rows, num_rows, cols, o);
  return launch_pdl(copy_rows_kernel<false>, dim3(grid), dim3(128), 0, stream, s, rows, num_rows, cols, o);
}

cudaError_t launch_swiglu_rows(const void* gate, const void* up, int64_t rows, int64_t cols,
                               int64_t in_stride, void* out, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return cudaGetLastError();
  const auto* g = static_cast<const bf16*>(gate);
  const auto* u = static_cast<const bf16*>(up);
  auto* o = static_cast<bf16*>(out);
  const int64_t n = rows * cols;
  if (cols % 8 == 0 && in_stride % 8 == 0 && aligned16(gate) && aligned16(up) && aligned16(out))
    return launch_pdl(swiglu_kernel<true>, dim3(grid_for(n / 8, kThreads)), dim3(kThreads), 0, stream, g,
                      u, rows, cols, in_stride, o);
  return launch_pdl(swiglu_kernel<false>, dim3(grid_for(n, kThreads)), dim3(kThreads), 0, stream, g, u,
                    rows, cols, in_stride, o);
}

cudaError_t launch_swiglu(const void* gate, const void* up, int64_t n, void* out,
                          cudaStream_t stream) {
  return launch_swiglu_rows(gate, up, 1, n, n, out, stream);
}

cudaError_t launch_f32_to_bf16(const float* src, int64_t n, void* dst, cudaStream_t stream) {
  if (n <= 0) return cudaGetLastError();
  f32_to_bf16_kernel<<<grid_for(n, kThreads), kThreads, 0, stream>>>(src, n, static_cast<bf16*>(dst));
  return cudaGetLastError();
}

cudaError_t launch_f16_to_bf16(const void* src, int64_t n, void* dst, cudaStream_t stream) {
  if (n <= 0) return cudaGetLastError();
  f16_to_bf16_kernel<<<grid_for(n, kThreads), kThreads, 0, stream>>>(
      static_cast<const __half*>(src), n, static_cast<bf16*>(dst));
  return cudaGetLastError();
}

cudaError_t launch_bf16_to_f32(const void* src, int64_t n, float* dst, cudaStream_t stream) {
  if (n <= 0) return cudaGetLastError();
  bf16_to_f32_kernel<<<grid_for(n, kThreads), kThreads, 0, stream>>>(static_cast<const bf16*>(src),
                                                                      n, dst);
  return cudaGetLastError();
}

cudaError_t launch_split_columns(const void* src, int rows, const ColumnSplit& split, cudaStream_t stream) {
  if (rows <= 0 || split.count <= 0) return cudaSuccess;
  int src_cols = 0;
  bool vec = aligned16(src);
  for (int s = 0; s < split.count; ++s) {
    src_cols += split.cols[s];
    vec = vec && split.cols[s] % 8 == 0 && aligned16(split.dst[s]);
  }
  const auto* x = static_cast<const bf16*>(src);
  if (vec)
    split_columns_kernel<true><<<rows, 256, 0, stream>>>(x, src_cols, split);
  else
    split_columns_kernel<false><<<rows, 256, 0, stream>>>(x, src_cols, split);
  return cudaGetLastError();
}

cudaError_t launch_kv_cache_write(const void* k, const void* v, const int32_t* slot_mapping,
                                  int tokens, int row_elems, void* k_cache, void* v_cache,
                                  cudaStream_t stream) {
  if (tokens <= 0) return cudaGetLastError();
  const auto* kk = static_cast<const bf16*>(k);
  const auto* vv = static_cast<const bf16*>(v);
  auto* kc = static_cast<bf16*>(k_cache);
  auto* vc = static_cast<bf16*>(v_cache);
  if (row_elems % 8 == 0 && aligned16(k) && aligned16(v) && aligned16(k_cache) && aligned16(v_cache))
    return launch_pdl(kv_cache_write_kernel<true>, dim3(tokens), dim3(128), 0, stream, kk, vv,
                      slot_mapping, row_elems, kc, vc);
  return launch_pdl(kv_cache_write_kernel<false>, dim3(tokens), dim3(128), 0, stream, kk, vv,
                    slot_mapping, row_elems, kc, vc);
}

}  // namespace hearth::cuda
