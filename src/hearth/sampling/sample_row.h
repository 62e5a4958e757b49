// One logits row's sampling step as plain data (SampleRow), and the arithmetic of that step
// that every backend must reproduce bit for bit: the temperature softmax's exp, the integer
// weights the top-p cut and the draw add up, and the rank key of the top-k / top-p order.
//
// Why bit for bit: the CPU Sampler and the CUDA kernels (backend/cuda/sampling_kernels.cu)
// must pick the same token from the same logits and the same u. Sums of float
// probabilities depend on their order (a GPU reduces in a tree, the CPU in a loop), and the
// libraries' expf differ by an ulp or two, so a boundary (top-p mass, inverse-CDF step)
// could land on different tokens. Here every step is either one IEEE-rounded float
// operation (written so no compiler fuses it into an FMA: __fmul_rn & co. on the device,
// -ffp-contract=off on the host) or exact integer arithmetic, so the two sides compute the
// same values whatever the order.
//
// This header is also compiled by nvcc (device functions): no fmt, no hearth::Error here.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define HEARTH_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define HEARTH_HOST_DEVICE inline
#endif

namespace hearth {

// Per logits row: one step of a sequence's Sampler (sampling/sampler.h), with the random
// draw made on the host from the sequence's Rng, so that every backend picks the same token
// from the same logits (the draw is an inverse CDF over the kept tokens in id order).
// A SampleBatch (backend/backend.h) holds one per logits row.
struct SampleRow {
  float temperature = 0.0f;  // 0: greedy (argmax of the processed logits, lowest id on ties)
  int32_t top_k = 0;         // <= 0: off
  float top_p = 1.0f;        // 1: off
  float min_p = 0.0f;        // 0: off
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  double u = 0.0;              // uniform in [0, 1) for the draw (unused when greedy)
  int32_t mask_row = -1;       // row of SampleBatch::masks; -1: unconstrained
  int32_t penalty_begin = 0;   // [begin, end) of SampleBatch::penalty_tokens / _counts
  int32_t penalty_end = 0;
};

namespace sample_math {

// Probabilities become integer weights in units of 2^-kWeightShift (truncated), so that
// masses are exact u64 sums: a probability <= 1 weighs <= 2^45, and a vocabulary of at most
// kMaxVocab = 2^18 tokens (the rank key's id field) sums to <= 2^63. Tokens under 2^-45 of
// the best one weigh 0 and are never drawn (their total share is below 2^18 * 2^-45 = 7.5e-9).
inline constexpr int kWeightShift = 45;
inline constexpr int kKeyIdBits = 18;
inline constexpr int kMaxVocab = 1 << kKeyIdBits;

HEARTH_HOST_DEVICE float fmul(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
HEARTH_HOST_DEVICE float fadd(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
HEARTH_HOST_DEVICE float fsub(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
HEARTH_HOST_DEVICE float fdiv(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
HEARTH_HOST_DEVICE float bits_to_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  __builtin_memcpy(&f, &u, sizeof f);
  return f;
#endif
}
HEARTH_HOST_DEVICE uint32_t float_to_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  __builtin_memcpy(&u, &f, sizeof u);
  return u;
#endif
}
HEARTH_HOST_DEVICE float round_to_int(float x) {
#if defined(__CUDA_ARCH__)
  return rintf(x);
#else
  return __builtin_rintf(x);  // round half to even, as rintf in the default rounding mode
#endif
}

// exp(y) for y <= 0 (the temperature softmax's argument), in [0, 1]; 0 for NaN and -inf.
// Cody-Waite reduction y = k ln2 + r, |r| <= ln2 / 2, then the degree-7 Taylor polynomial of
// e^r (truncation error < 6e-9, under one ulp) and a scale by 2^k. Accuracy: within a few
// ulps of exp (tests/unit/sampling); what matters is that host and device agree exactly.
HEARTH_HOST_DEVICE float exp_nonpositive(float y) {
  if (!(y > -104.0f)) return 0.0f;  // NaN, -inf, and exp(y) < 2^-150 (rounds to 0)
  if (y > 0.0f) y = 0.0f;           // not reached for y = logit - max; keeps the result <= 1
  const float kf = round_to_int(fmul(y, 1.44269504088896341f));
  // ln2_hi has 16 significant bits, so kf * ln2_hi (|kf| <= 151) is exact.
  const float r = fsub(fsub(y, fmul(kf, 0.693145751953125f)), fmul(kf, 1.428606765330187e-06f));
  float q = 1.98412698e-04f;  // 1/7!
  q = fadd(fmul(q, r), 1.38888889e-03f);
  q = fadd(fmul(q, r), 8.33333333e-03f);
  q = fadd(fmul(q, r), 4.16666667e-02f);
  q = fadd(fmul(q, r), 1.66666667e-01f);
  q = fadd(fmul(q, r), 0.5f);
  q = fadd(fmul(q, r), 1.0f);
  q = fadd(fmul(q, r), 1.0f);
  const int k = static_cast<int>(kf);  // in [-150, 0]
  float out;
  if (k >= -126) {
    out = fmul(q, bits_to_float(static_cast<uint32_t>(k + 127) << 23));
  } else {
    // Two exact-or-once-rounded steps: q * 2^(k + 64) stays normal, * 2^-64 rounds once.
    out = fmul(fmul(q, bits_to_float(static_cast<uint32_t>(k + 64 + 127) << 23)),
               bits_to_float(static_cast<uint32_t>(-64 + 127) << 23));
  }
  return out < 1.0f ? out : 1.0f;
}

// The unnormalized probability of a processed logit z against the row's largest, max:
// exp((z - max) / temperature), 0 for NaN. temperature > 0. A division rather than a
// multiply by 1/t: 1/t overflows for denormal t, and 0 * inf is NaN.
HEARTH_HOST_DEVICE float probability(float z, float max, float temperature) {
  return exp_nonpositive(fdiv(fsub(z, max), temperature));
}

// Integer weight of a probability (p in [0, 1] for sampled rows; the unit tests pass larger
// unnormalized values, which stay exact well below 2^64 for small lists).
HEARTH_HOST_DEVICE uint64_t weight(float p) {
  return static_cast<uint64_t>(fmul(p, 35184372088832.0f /* 2^45 */));
}

// Rank key of a candidate: higher probability first, lower id on ties (better_candidate's
// order), as one integer: (p's bits << 18) | (2^18 - 1 - id). p >= 0, so its bits order as
// the floats do; ids < 2^18 (kMaxVocab). 48 bits in all (p <= 1 has bit 30 and below).
HEARTH_HOST_DEVICE uint64_t rank_key(float p, int32_t id) {
  return (static_cast<uint64_t>(float_to_bits(p)) << kKeyIdBits) |
         static_cast<uint64_t>(kMaxVocab - 1 - id);
}

// The frequency / presence penalty of a token generated `count` times.
HEARTH_HOST_DEVICE float frequency_presence(float z, int32_t count, float frequency,
                                            float presence) {
  return fsub(z, fadd(fmul(frequency, static_cast<float>(count)), presence));
}
HEARTH_HOST_DEVICE float repetition(float z, float penalty) {
  return z > 0.0f ? fdiv(z, penalty) : fmul(z, penalty);
}

// top_p's integer target: the smallest best-first prefix whose weight reaches
// ceil(top_p * total) (at least 1, at most total). Double arithmetic, identical everywhere.
HEARTH_HOST_DEVICE uint64_t top_p_target(float top_p, uint64_t total) {
  const double t = static_cast<double>(top_p) * static_cast<double>(total);
  uint64_t target = static_cast<uint64_t>(t);
  if (static_cast<double>(target) < t) ++target;  // ceil
  if (target > total) target = total;
  return target < 1 ? 1 : target;
}

// The draw's integer target: the kept token (in id order) where the running weight first
// exceeds floor(u * total), clamped below total. total > 0.
HEARTH_HOST_DEVICE uint64_t draw_target(double u, uint64_t total) {
  uint64_t t = static_cast<uint64_t>(u * static_cast<double>(total));
  return t < total ? t : total - 1;
}

}  // namespace sample_math
}  // namespace hearth
