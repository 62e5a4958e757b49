// The fp8 (OCP e4m3) KV-cache element: the host-side encoding that the CPU reference uses,
// bit for bit the CUDA conversion (__nv_cvt_float_to_fp8 with __NV_SATFINITE, __NV_E4M3),
// so both backends hold the same values and the parity tests compare attention
// arithmetic, not two roundings.
//
// e4m3: 1 sign, 4 exponent (bias 7), 3 mantissa bits; no infinities; S.1111.111 is NaN;
// largest finite 448 (S.1111.110), smallest subnormal 2^-9. Writing rounds to nearest even
// and saturates finite and infinite overflow to +-448 (vLLM's scaled fp8 conversion clamps
// the same way); NaN stays NaN.
#pragma once

#include <cmath>
#include <cstdint>
#include <string_view>

#include "hearth/core/error.h"

namespace hearth {

inline uint8_t f32_to_e4m3(float x) {
  if (std::isnan(x)) return 0x7F;
  const uint8_t sign = std::signbit(x) ? 0x80 : 0x00;
  const float a = std::fabs(x);
  if (a >= 448.0f) return sign | 0x7E;  // saturate (448 itself is exact)
  if (a < 0.015625f) {                  // below 2^-6: subnormal, units of 2^-9
    // a * 512 is exact; nearbyint rounds half to even (the default rounding mode). A
    // result of 8 is the smallest normal, whose code is also 8.
    return sign | static_cast<uint8_t>(std::nearbyint(a * 512.0f));
  }
  int e = 0;
  const float m = std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
  // a = (1 + f) * 2^(e - 1); the 3 mantissa bits are round(f * 8), exact in float.
  int exp = e - 1 + 7;
  int man = static_cast<int>(std::nearbyint((m * 2.0f - 1.0f) * 8.0f));
  if (man == 8) {
    man = 0;
    ++exp;
  }
  // exp <= 15 here (a < 448); 15 with mantissa 7 would be NaN, but a < 448 rounds at most
  // to 448 (15, 6).
  return sign | static_cast<uint8_t>((exp << 3) | man);
}

inline float e4m3_to_f32(uint8_t c) {
  const float sign = (c & 0x80) ? -1.0f : 1.0f;
  const int exp = (c >> 3) & 0xF, man = c & 7;
  if (exp == 15 && man == 7) return std::nanf("");
  if (exp == 0) return sign * std::ldexp(static_cast<float>(man), -9);
  return sign * std::ldexp(1.0f + static_cast<float>(man) / 8.0f, exp - 7);
}

// The value a cache with this per-tensor scale holds for x: e4m3(x * (1 / scale)) * scale,
// with 1 / scale rounded to fp32 first, as the CUDA kernels compute it.
inline float round_through_e4m3(float x, float scale) {
  const float inv = 1.0f / scale;
  return e4m3_to_f32(f32_to_e4m3(x * inv)) * scale;
}

// How a KV cache stores K and V (KvCacheSpec::cache_dtype). Auto: in the spec's dtype
// (the backend's activation dtype). Fp8E4M3: one byte per element as above, with one
// scale for all of K and one for all of V (KvCacheSpec::k_scale / v_scale).
enum class KvCacheDtype : uint8_t { Auto, Fp8E4M3 };

// "auto", "fp8" or "fp8_e4m3" (vLLM's --kv-cache-dtype spellings hearth supports);
// anything else fails naming the value and the choices.
inline KvCacheDtype parse_kv_cache_dtype(std::string_view s) {
  if (s == "auto") return KvCacheDtype::Auto;
  if (s == "fp8" || s == "fp8_e4m3") return KvCacheDtype::Fp8E4M3;
  fail("unknown KV cache dtype '{}' (choices: auto, fp8, fp8_e4m3)", s);
}

inline const char* kv_cache_dtype_name(KvCacheDtype d) {
  return d == KvCacheDtype::Fp8E4M3 ? "fp8_e4m3" : "auto";
}

}  // namespace hearth
