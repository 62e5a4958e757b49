// Causal prefill attention over the paged KV cache for Hopper (sm_90a): the matrix products
// on wgmma, the warpgroup-wide asynchronous tensor-core instruction, in place of the
// per-warp mma.sync of the FlashAttention-2 kernel (attention_prefill.cu), which on an
// H200 stalls at ~160 TFLOP/s.
//
// One CTA = kPrefillTileRows (128) query rows of one sequence x one query head; two
// warpgroups (8 warps), 64 rows each. Per K/V tile of 64 cache positions and warpgroup:
//   S = Q K^T:  8 x wgmma m64n64k16, Q and K both read from shared memory (K-major);
//   online softmax on the S accumulators (log2 domain, one FFMA + ex2 per score);
//   O += P V:   4 x wgmma m64n{D}k16, P from registers (the accumulator layout of S is the
//               A-fragment layout, as with mma.sync), V from shared memory (MN-major).
// K/V tiles are gathered through the block table with cp.async into a double buffer
// (the copy engine's tensor maps cannot follow a block table of 16-position blocks
// without one copy per block), so the next tile's loads overlap this tile's math.
// Causal work skipping: the CTA loads tiles up to its last row; a warpgroup skips tiles
// wholly above its own rows; the mask is applied only to tiles that cross the diagonal.
//
// Shared-memory layout: the wgmma "128-byte swizzle" layout. A tile of R rows x D columns
// is stored as D/64 slabs of R rows x 128 bytes; within a slab, the 16-byte chunk c of row
// r sits at r * 128 + ((c ^ (r % 8)) * 16). Every slab starts on a 1024-byte boundary
// (the swizzle pattern repeats every 8 rows = 1024 bytes, and the descriptors assume it).
// The same bytes serve K as a K-major B operand (S = Q K^T) and V as an MN-major B operand
// (O = P V, "transposed B"), so no transpose is ever done.
// An fp8 (e4m3) cache is gathered as fp8 into a staging double buffer and converted into
// one swizzled bf16 K and V tile at the top of each iteration (exact; the per-tensor
// scales go into the score scale and the output normalization).
//
// Measured (H200, 32/8 heads, d128, one sequence, tests/gpu/bench_prefill): 174 / 280 /
// 350 / 361 TFLOP/s at 1k / 2k / 8k / 32k tokens, against 112 / 132 / 154 / 157 for the
// mma.sync kernel. It is not bound by the softmax arithmetic (dropping the S zero-fill and
// skipping the O rescale when no row max moved changed nothing measurable): each
// warpgroup runs S, softmax and P V back to back behind one CTA barrier per tile, so the
// tensor cores idle during the softmax unless the SM's other warpgroups fill the gap (2
// CTAs per SM at 128 registers). Next: FlashAttention-3's split into a producer warp and
// two consumer warpgroups in ping-pong, with S for tile j + 1 issued before tile j's
// softmax (needs a third K/V stage and registers past 128, i.e. setmaxnreg).
#include <cfloat>

#include "hearth/backend/cuda/device_utils.cuh"
#include "hearth/backend/cuda/kernels.h"
#include "hearth/backend/cuda/wgmma_sm90.cuh"

namespace hearth::cuda {

namespace {

constexpr int kBlockM = kPrefillTileRows;  // query rows per CTA
constexpr int kBlockN = 64;                // cache positions per K/V tile
constexpr int kWarpgroups = kBlockM / 64;
constexpr int kThreads = kWarpgroups * 128;
constexpr int kRowBytes = 128;             // one swizzle row: 64 bf16

template <int D, bool kFp8>
struct Sm90Smem {
  static constexpr int kSlabs = D / 64;
  static constexpr int kQSlab = kBlockM * kRowBytes;   // bytes of one Q slab
  static constexpr int kKvSlab = kBlockN * kRowBytes;  // bytes of one K or V slab
  static constexpr int kQBytes = kSlabs * kQSlab;
  static constexpr int kTileBytes = kSlabs * kKvSlab;
  // bf16 cache: K and V double-buffered. fp8 cache: one bf16 K and V tile, filled at the
  // top of each iteration from an fp8 staging double buffer (kBlockN x D bytes per K or V
  // tile, unpadded) that cp.async fills.
  static constexpr int kBufs = kFp8 ? 1 : 2;
  static constexpr int kStage8 = kBlockN * D;
  // Q + K + V (+ staging), plus slack to align the base to 1024 bytes.
  static constexpr size_t kBytes = static_cast<size_t>(kQBytes + 2 * kBufs * kTileBytes +
                                                       (kFp8 ? 4 * kStage8 : 0) + 1024);
};

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// Device code for sm_90a only (the sm_89 pass and the host pass see none of it).
constexpr float kLog2e = 1.4426950408889634f;

// Byte offset of 16-byte chunk `c` (8 bf16 columns) of row `r` in a swizzled tile whose
// slabs are `slab_bytes` apart.
__device__ __forceinline__ uint32_t swizzled(int r, int c, int slab_bytes) {
  return static_cast<uint32_t>((c >> 3) * slab_bytes + r * kRowBytes + (((c & 7) ^ (r & 7)) << 4));
}

// Hides a value from the optimizer, so that descriptors derived from it are recomputed
// (one integer add each) inside the loop rather than hoisted into 16 live registers.
__device__ __forceinline__ uint64_t opaque(uint64_t x) {
  asm volatile("mov.b64 %0, %0;\n" : "+l"(x));
  return x;
}

__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// Generated wrappers (the operand lists are long and regular; the shared-operand form is
// in wgmma_sm90.cuh).
// d[64 x 64] = A[64 x 16] (shared, K-major) * B[16 x 64] (shared, K-major): the first
// k step, which ignores (and so need not initialize) the accumulators.
__device__ __forceinline__ void wgmma_m64n64k16_ss_first(float (&d)[32], uint64_t desc_a,
                                                        uint64_t desc_b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p, 1, 1, 0, 0;\n}\n"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3]), "=f"(d[4]), "=f"(d[5]), "=f"(d[6]), "=f"(d[7]), "=f"(d[8]), "=f"(d[9]), "=f"(d[10]), "=f"(d[11]), "=f"(d[12]), "=f"(d[13]), "=f"(d[14]), "=f"(d[15]), "=f"(d[16]), "=f"(d[17]), "=f"(d[18]), "=f"(d[19]), "=f"(d[20]), "=f"(d[21]), "=f"(d[22]), "=f"(d[23]), "=f"(d[24]), "=f"(d[25]), "=f"(d[26]), "=f"(d[27]), "=f"(d[28]), "=f"(d[29]), "=f"(d[30]), "=f"(d[31])
      : "l"(desc_a), "l"(desc_b), "r"(0));
}

// d[64 x 64] += A[64 x 16] (registers) * B[16 x 64] (shared, MN-major).
__device__ __forceinline__ void wgmma_m64n64k16_rs_trans_b(float (&d)[32], const uint32_t (&a)[4],
                                                          uint64_t desc_b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(1));
}

// d[64 x 128] += A[64 x 16] (registers) * B[16 x 128] (shared, MN-major).
__device__ __forceinline__ void wgmma_m64n128k16_rs_trans_b(float (&d)[64], const uint32_t (&a)[4],
                                                          uint64_t desc_b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(1));
}


template <int D>
__device__ __forceinline__ void wgmma_pv(float (&o)[D / 2], const uint32_t (&a)[4], uint64_t desc_v) {
  if constexpr (D == 128) {
    wgmma_m64n128k16_rs_trans_b(o, a, desc_v);
  } else {
    wgmma_m64n64k16_rs_trans_b(o, a, desc_v);
  }
}
#endif  // __CUDA_ARCH_FEAT_SM90_ALL

struct TileInfo {
  int kv_end, n_tiles, rows, row_stride;
  int wg_tiles[kWarpgroups];      // K/V tiles each warpgroup's rows see
  int wg_first_lim[kWarpgroups];  // last position each warpgroup's first row sees
  bf16* out;  // this tile's first output row, this head's columns
  const int32_t* table;
  const unsigned char* k;  // this kv head's first element in the cache (bytes)
  const unsigned char* v;
};

template <int D, bool kFp8>
__global__ void __launch_bounds__(kThreads, 2)
    prefill_attention_sm90_kernel(const AttentionParams p, const int32_t* __restrict__ tiles) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using S = Sm90Smem<D, kFp8>;
  constexpr int kEb = kFp8 ? 1 : 2;  // bytes per cache element
  constexpr int kChunks = D / 8;  // 16-byte chunks per row
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const uint32_t raw_addr = smem_addr(smem_raw);
  const uint32_t pad = ((raw_addr + 1023u) & ~1023u) - raw_addr;
  unsigned char* smem = smem_raw + pad;  // 1024-byte aligned: Q, K[2], V[2]
  const uint32_t smem_base = raw_addr + pad;

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wg = warp >> 2, wl = warp & 3;  // warpgroup, and warp within it
  // Heads vary fastest: the CTAs of one tile (and the query heads sharing a K/V head)
  // run together, so K/V tiles are read from L2 once per group, and the heaviest tiles of
  // every head start first.
  const int tile = static_cast<int>(blockIdx.x) / p.heads;
  const int h = static_cast<int>(blockIdx.x) % p.heads;
  const int seq = tiles[2 * tile];
  const int row0 = tiles[2 * tile + 1];
  const int kvh = h / (p.heads / p.kv_heads);
  const int q_begin = p.query_start[seq];
  const int q_len = p.query_start[seq + 1] - q_begin;
  const int past = p.context_lens[seq] - q_len;  // cached positions before this step
  const int rows = min(kBlockM, q_len - row0);
  const int kv_end = past + row0 + rows;  // positions visible to the tile's last row
  const int n_tiles = (kv_end + kBlockN - 1) / kBlockN;
  // This warpgroup's rows [wg_row0, wg_row0 + wg_rows) of the tile (a short last tile may
  // leave the second warpgroup with none).
  const int wg_row0 = wg * 64;
  const int wg_rows = min(64, rows - wg_row0);

  const int64_t q_stride = static_cast<int64_t>(p.heads) * D;
  const int64_t slot_stride = static_cast<int64_t>(p.kv_heads) * D;
  const bf16* q_g = static_cast<const bf16*>(p.q) + (q_begin + row0) * q_stride +
                    static_cast<int64_t>(h) * D;
  const unsigned char* k_g = static_cast<const unsigned char*>(p.k_cache) + static_cast<int64_t>(kvh) * D * kEb;
  const unsigned char* v_g = static_cast<const unsigned char*>(p.v_cache) + static_cast<int64_t>(kvh) * D * kEb;
  const int32_t* table = p.block_tables + static_cast<int64_t>(seq) * p.max_blocks_per_seq;

  for (int c = tid; c < kBlockM * kChunks; c += kThreads) {
    const int r = c / kChunks, ch = c % kChunks;
    const bool ok = r < rows;
    cp_async_16(smem + swizzled(r, ch, S::kQSlab), ok ? q_g + r * q_stride + ch * 8 : q_g,
                ok ? 16 : 0);
  }
  // The CTA's K/V gather: tile t of positions into buffer buf (bf16: the swizzled tiles;
  // fp8: the staging buffer, rows of D bytes, 16 elements per copy).
  auto load_kv = [&](int t, int buf, int end, const int32_t* tab, const unsigned char* kg,
                     const unsigned char* vg) {
    constexpr int kCopies = kFp8 ? D / 16 : kChunks;  // 16-byte copies per row
    unsigned char* dk = kFp8 ? smem + S::kQBytes + 2 * S::kTileBytes + buf * 2 * S::kStage8
                             : smem + S::kQBytes + buf * S::kTileBytes;
    unsigned char* dv = dk + (kFp8 ? S::kStage8 : 2 * S::kTileBytes);
    const int n0 = t * kBlockN;
#pragma unroll 1
    for (int c = tid; c < kBlockN * kCopies; c += kThreads) {
      const int r = c / kCopies, ch = c % kCopies;
      const int pos = n0 + r;
      const bool ok = pos < end;
      int64_t off = 0;
      if (ok) {
        const int64_t slot = static_cast<int64_t>(tab[pos / p.block_size]) * p.block_size +
                             pos % p.block_size;
        off = (slot * slot_stride) * kEb + ch * 16;
      }
      const uint32_t dst = kFp8 ? static_cast<uint32_t>(r * D + ch * 16) : swizzled(r, ch, S::kKvSlab);
      cp_async_16(dk + dst, kg + off, ok ? 16 : 0);
      cp_async_16(dv + dst, vg + off, ok ? 16 : 0);
    }
  };
  // fp8: staging buffer buf -> the swizzled bf16 K and V tiles (exact), then the fence
  // that hands these generic-proxy writes to the tensor cores' async proxy.
  [[maybe_unused]] auto convert_kv8 = [&](int buf) {
    const unsigned char* sk = smem + S::kQBytes + 2 * S::kTileBytes + buf * 2 * S::kStage8;
    const unsigned char* sv = sk + S::kStage8;
    unsigned char* dk = smem + S::kQBytes;
    unsigned char* dv = dk + S::kTileBytes;
#pragma unroll 1
    for (int c = tid; c < kBlockN * kChunks; c += kThreads) {
      const int r = c / kChunks, ch = c % kChunks;
      const uint32_t dst = swizzled(r, ch, S::kKvSlab);
      *reinterpret_cast<uint4*>(dk + dst) = e4m3x8_to_bf16x8(*reinterpret_cast<const uint2*>(sk + r * D + ch * 8));
      *reinterpret_cast<uint4*>(dv + dst) = e4m3x8_to_bf16x8(*reinterpret_cast<const uint2*>(sv + r * D + ch * 8));
    }
    fence_proxy_async();
  };
  load_kv(0, 0, kv_end, table, k_g, v_g);
  cp_async_commit();  // Q and the first K/V tile

  // The CTA-wide values the loop and the epilogue need, parked in shared memory: with the
  // 96 accumulator registers live, keeping them in registers would spill past the 128
  // registers that two CTAs per SM allow. Read back through a volatile pointer so the
  // compiler does not cache them in registers after all.
  __shared__ TileInfo info_s;
  if (tid == 0) {
    info_s.kv_end = kv_end;
    info_s.n_tiles = n_tiles;
    info_s.rows = rows;
    for (int w = 0; w < kWarpgroups; ++w) {
      const int wr = min(64, rows - w * 64);
      info_s.wg_tiles[w] = wr > 0 ? (past + row0 + w * 64 + wr + kBlockN - 1) / kBlockN : 0;
      info_s.wg_first_lim[w] = past + row0 + w * 64;
    }
    info_s.row_stride = p.heads * D;
    info_s.out = static_cast<bf16*>(p.out) + (q_begin + row0) * q_stride + static_cast<int64_t>(h) * D;
    info_s.table = table;
    info_s.k = k_g;
    info_s.v = v_g;
  }
  __syncthreads();
  const volatile TileInfo& info = info_s;

  const int g = lane >> 2, tq = lane & 3;
  const int r_lo = wg_row0 + wl * 16 + g;  // this thread's accumulator rows: r_lo, r_lo + 8
  const int lim_lo = past + row0 + r_lo;   // last visible position of each row
  const float scale_log2 = p.scale * kLog2e * (kFp8 ? p.k_scale : 1.0f);
  // K-major operands (Q, K): leading offset unused (16), 8-row groups 1024 bytes apart.
  // V, MN-major: 64-column slabs kKvSlab apart (leading), 8-position groups 1024 apart.
  const uint64_t q_desc0 = smem_desc(smem_base + wg_row0 * kRowBytes, 16, 1024);
  const uint64_t kv_desc0 = smem_desc(smem_base + S::kQBytes, 16, 1024);
  const uint64_t v_desc0 =
      smem_desc(smem_base + S::kQBytes + S::kBufs * S::kTileBytes, S::kKvSlab, 1024);

  float o[D / 2];  // accumulator layout: o[4 * i + e] is column 8 i + 2 tq + (e & 1)
#pragma unroll
  for (int i = 0; i < D / 2; ++i) o[i] = 0.0f;
  // Running maxima in raw-score units (the scale is applied inside the exponent).
  float m_lo = -INFINITY, m_hi = -INFINITY, l_lo = 0.0f, l_hi = 0.0f;

  for (int j = 0; j < info.n_tiles; ++j) {
    // Tile j (and Q) landed for this thread; the fence hands the bytes to the async proxy
    // the tensor cores read through, the barrier makes it so for all threads and means
    // every warpgroup is done with tile j - 1, whose buffer the prefetch overwrites.
    cp_async_wait<0>();
    fence_proxy_async();
    __syncthreads();
    if constexpr (kFp8) {
      // The staging buffer of tile j + 1 held tile j - 1, converted before that barrier;
      // the bf16 tiles were last read by tile j - 1's wgmma, waited for before it.
      convert_kv8(j & 1);
      if (j + 1 < info.n_tiles)
        load_kv(j + 1, (j + 1) & 1, info.kv_end, info.table, info.k, info.v);
      cp_async_commit();
      __syncthreads();
    } else {
      if (j + 1 < info.n_tiles)
        load_kv(j + 1, (j + 1) & 1, info.kv_end, info.table, info.k, info.v);
      cp_async_commit();
    }
    if (j >= info.wg_tiles[wg]) continue;  // wholly above this warpgroup's rows
    // Descriptors: a base per operand, then byte offsets >> 4 added to the address field
    // (addresses stay under 256 KB, so the add never carries into the next field).
    const uint64_t q_desc = opaque(q_desc0);
    const int buf = kFp8 ? 0 : (j & 1);
    const uint64_t k_desc = opaque(kv_desc0) + ((buf * S::kTileBytes) >> 4);
    const uint64_t v_desc = opaque(v_desc0) + ((buf * S::kTileBytes) >> 4);

    // S = Q K^T: 64 rows x 64 positions per warpgroup, k = head_dim in steps of 16 (32
    // bytes inside a 128-byte swizzle row; slab by slab).
    float s[kBlockN / 2];
    wgmma_fence();
    wgmma_m64n64k16_ss_first(s, q_desc, k_desc);
#pragma unroll
    for (int kk = 1; kk < D / 16; ++kk) {
      const uint64_t da = q_desc + (((kk >> 2) * S::kQSlab + (kk & 3) * 32) >> 4);
      const uint64_t db = k_desc + (((kk >> 2) * S::kKvSlab + (kk & 3) * 32) >> 4);
      wgmma_m64n64k16_ss(s, da, db, 1);
    }
    wgmma_commit();
    wgmma_wait_all();
    fence_operands(s);

    // Causal mask only where the tile reaches past the warpgroup's first row's last
    // position (the diagonal tiles and the zero-filled tail).
    const int n0 = j * kBlockN;
    if (n0 + kBlockN - 1 > info.wg_first_lim[wg]) {
      // Element i is position n0 + 2 tq + (i / 4) * 8 + (i % 2): compare the compile-time
      // part against the row's limit relative to n0 + 2 tq.
      const int rel_lo = lim_lo - n0 - 2 * tq, rel_hi = rel_lo + 8;
#pragma unroll
      for (int i = 0; i < kBlockN / 2; ++i) {
        if ((i >> 2) * 8 + (i & 1) > ((i & 2) ? rel_hi : rel_lo)) s[i] = -INFINITY;
      }
    }
    float mx_lo = -INFINITY, mx_hi = -INFINITY;
#pragma unroll
    for (int i = 0; i < kBlockN / 2; i += 4) {
      mx_lo = fmaxf(mx_lo, fmaxf(s[i], s[i + 1]));
      mx_hi = fmaxf(mx_hi, fmaxf(s[i + 2], s[i + 3]));
    }
    mx_lo = fmaxf(mx_lo, __shfl_xor_sync(0xffffffffu, mx_lo, 1));
    mx_lo = fmaxf(mx_lo, __shfl_xor_sync(0xffffffffu, mx_lo, 2));
    mx_hi = fmaxf(mx_hi, __shfl_xor_sync(0xffffffffu, mx_hi, 1));
    mx_hi = fmaxf(mx_hi, __shfl_xor_sync(0xffffffffu, mx_hi, 2));
    const float new_lo = fmaxf(m_lo, mx_lo), new_hi = fmaxf(m_hi, mx_hi);
    // Position 0 is visible to every row, so the first tile makes every max finite; the
    // guard only keeps -inf - -inf (NaN) out of exp2 should that ever change.
    const float base_lo = (new_lo == -INFINITY ? 0.0f : new_lo) * scale_log2;
    const float base_hi = (new_hi == -INFINITY ? 0.0f : new_hi) * scale_log2;
    const float corr_lo = fast_exp2(fmaf(m_lo, scale_log2, -base_lo));
    const float corr_hi = fast_exp2(fmaf(m_hi, scale_log2, -base_hi));
    m_lo = new_lo;
    m_hi = new_hi;
    float sum_lo = 0.0f, sum_hi = 0.0f;
#pragma unroll
    for (int i = 0; i < kBlockN / 2; i += 4) {
      s[i] = fast_exp2(fmaf(s[i], scale_log2, -base_lo));
      s[i + 1] = fast_exp2(fmaf(s[i + 1], scale_log2, -base_lo));
      s[i + 2] = fast_exp2(fmaf(s[i + 2], scale_log2, -base_hi));
      s[i + 3] = fast_exp2(fmaf(s[i + 3], scale_log2, -base_hi));
      sum_lo += s[i] + s[i + 1];
      sum_hi += s[i + 2] + s[i + 3];
    }
    // Per-thread partial row sums; the quad reduction happens once, after the loop.
    l_lo = l_lo * corr_lo + sum_lo;
    l_hi = l_hi * corr_hi + sum_hi;
    // Past the first tiles the running maxima rarely move: skip the D/2 multiplies by
    // exactly 1 (the branch is warp-uniform, so the warp stays converged for the wgmma).
    if (__any_sync(0xffffffffu, corr_lo != 1.0f || corr_hi != 1.0f)) {
#pragma unroll
      for (int i = 0; i < D / 2; i += 4) {
        o[i] *= corr_lo;
        o[i + 1] *= corr_lo;
        o[i + 2] *= corr_hi;
        o[i + 3] *= corr_hi;
      }
    }

    // O += P V: k = positions in steps of 16 (two 8-row swizzle groups = 2048 bytes); V is
    // the MN-major B operand: slabs of 64 head_dim columns kKvSlab bytes apart (leading
    // offset), 8-position groups 1024 bytes apart (stride offset).
    fence_operands(o);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kBlockN / 16; ++kk) {
      const uint32_t a[4] = {pack_bf16x2(s[8 * kk], s[8 * kk + 1]),
                             pack_bf16x2(s[8 * kk + 2], s[8 * kk + 3]),
                             pack_bf16x2(s[8 * kk + 4], s[8 * kk + 5]),
                             pack_bf16x2(s[8 * kk + 6], s[8 * kk + 7])};
      wgmma_pv<D>(o, a, v_desc + ((kk * 16 * kRowBytes) >> 4));
    }
    wgmma_commit();
    wgmma_wait_all();
    fence_operands(o);
  }

  if (wg_rows <= 0) return;
  l_lo += __shfl_xor_sync(0xffffffffu, l_lo, 1);
  l_lo += __shfl_xor_sync(0xffffffffu, l_lo, 2);
  l_hi += __shfl_xor_sync(0xffffffffu, l_hi, 1);
  l_hi += __shfl_xor_sync(0xffffffffu, l_hi, 2);
  const float v_scale = kFp8 ? p.v_scale : 1.0f;
  const float inv_lo = l_lo > 0.0f ? v_scale / l_lo : 0.0f;
  const float inv_hi = l_hi > 0.0f ? v_scale / l_hi : 0.0f;
  const int out_rows = info.rows;
  bf16* o_g = info.out;
  const int64_t o_stride = info.row_stride;
  if (r_lo < out_rows) {
#pragma unroll
    for (int i = 0; i < D / 2; i += 4)
      *reinterpret_cast<uint32_t*>(o_g + r_lo * o_stride + (i >> 2) * 8 + 2 * tq) =
          pack_bf16x2(o[i] * inv_lo, o[i + 1] * inv_lo);
  }
  if (r_lo + 8 < out_rows) {
#pragma unroll
    for (int i = 0; i < D / 2; i += 4)
      *reinterpret_cast<uint32_t*>(o_g + (r_lo + 8) * o_stride + (i >> 2) * 8 + 2 * tq) =
          pack_bf16x2(o[i + 2] * inv_hi, o[i + 3] * inv_hi);
  }
#else
  // Built without sm_90a code: prefill_sm90_available() keeps launches away from here.
  __trap();
#endif
}

template <int D, bool kFp8>
cudaError_t launch_sm90_for(const AttentionParams& p, const int32_t* tiles, int num_tiles,
                            cudaStream_t stream) {
  constexpr size_t kBytes = Sm90Smem<D, kFp8>::kBytes;
  const cudaError_t e = cudaFuncSetAttribute(prefill_attention_sm90_kernel<D, kFp8>,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             static_cast<int>(kBytes));
  if (e != cudaSuccess) return e;
  const unsigned grid = static_cast<unsigned>(num_tiles) * static_cast<unsigned>(p.heads);
  prefill_attention_sm90_kernel<D, kFp8><<<grid, kThreads, kBytes, stream>>>(p, tiles);
  return cudaGetLastError();
}

// Whether the current device runs the sm_90a kernel: an SM 9.0 device, and a binary whose
// kernel was compiled from sm_90a code (not JIT-compiled from an older PTX, where the
// body is a trap). Cached per device.
bool sm90_runs_here() {
  constexpr int kMaxDevices = 64;
  static int cached[kMaxDevices] = {};  // 0 unknown, 1 yes, 2 no
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= kMaxDevices) return false;
  if (cached[dev] == 0) {
    cached[dev] = sm90a_code_runs(dev, reinterpret_cast<const void*>(prefill_attention_sm90_kernel<128, false>)) ? 1 : 2;
  }
  return cached[dev] == 1;
}

}  // namespace

bool prefill_sm90_available(int head_dim) {
  return (head_dim == 64 || head_dim == 128) && sm90_runs_here();
}

cudaError_t launch_prefill_attention_sm90(const AttentionParams& p, const int32_t* tiles,
                                          int num_tiles, cudaStream_t stream) {
  if (num_tiles <= 0) return cudaGetLastError();
  switch (p.head_dim) {
    case 64: return p.kv_fp8 ? launch_sm90_for<64, true>(p, tiles, num_tiles, stream)
                             : launch_sm90_for<64, false>(p, tiles, num_tiles, stream);
    case 128: return p.kv_fp8 ? launch_sm90_for<128, true>(p, tiles, num_tiles, stream)
                              : launch_sm90_for<128, false>(p, tiles, num_tiles, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace hearth::cuda
