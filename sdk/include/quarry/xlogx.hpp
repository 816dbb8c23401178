// x log x for probabilities, fast and the same bit for bit wherever an element sits: a plain
// float32 loop the compiler vectorises (no library call), so entropy-based strategies (BALD,
// BatchBALD) spend their time reading the samples rather than in scalar logf.
#pragma once

#include <cstdint>

#include "quarry/vector_clones.hpp"  // the hot loops that call xlogx use QUARRY_VECTOR_CLONES

namespace quarry {

/// x log x in float32: 0 for x < FLT_MIN (0 log 0 = 0; subnormal probabilities and negative x
/// count as 0), and for x >= FLT_MIN x times the natural log by Cephes' logf polynomial (within
/// ~2 float32 ulp of x log x). NaN gives NaN. Every operation is an IEEE float32 add or multiply
/// or an integer operation (no fused multiply-add unless the whole file is built with one), so
/// the scalar and the vectorised code give the same bits.
inline float xlogx(float x) {
  const auto bits = __builtin_bit_cast(std::uint32_t, x);
  const std::uint32_t mant = (bits & 0x7fffffu) | 0x3f000000u;  // the mantissa in [0.5, 1)
  // 1 when the mantissa is below sqrt(1/2) (then one octave down), from the sign of the difference.
  const auto low = static_cast<std::int32_t>((mant - 0x3f3504f3u) >> 31);
  const auto e = static_cast<std::int32_t>((bits >> 23) & 0xffu) - 126 - low;
  const float m = __builtin_bit_cast(float, mant) * static_cast<float>(1 + low) - 1.0f;  // [sqrt(1/2) - 1, sqrt(2) - 1)
  const float z = m * m;
  float y = 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  const auto fe = static_cast<float>(e);
  y += -2.12194440e-4f * fe;
  y += -0.5f * z;
  float r = m + y;
  r += 0.693359375f * fe;
  // r is finite for every x; masking the product's bits gives 0 below FLT_MIN (and for x < 0),
  // while NaN (bits above inf's) stays NaN. Integer masks rather than comparisons: the loop
  // below vectorises (at -O3 with GCC: set it for the file that calls it).
  // keep: all ones when bits >= FLT_MIN's as a signed integer (negative x have the sign bit).
  const auto keep = ~static_cast<std::uint32_t>((static_cast<std::int32_t>(bits) - 0x00800000) >> 31);
  return __builtin_bit_cast(float, __builtin_bit_cast(std::uint32_t, x * r) & keep);
}

/// out[i] = xlogx(in[i]) for i < n (out may be in). Vectorised by GCC at -O3 (4-16 floats a step
/// inside a QUARRY_VECTOR_CLONES function).
inline void xlogx(const float* in, float* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = xlogx(in[i]);
}

}  // namespace quarry
