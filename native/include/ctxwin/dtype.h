// Element types. Half types are stored as such (2 bytes) and computed in f32.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

#include "ctxwin/common.h"

namespace ctxwin {

enum class DType : int32_t { F32 = 0, BF16 = 1, F16 = 2 };

inline size_t dtype_size(DType t) { return t == DType::F32 ? 4 : 2; }
inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::BF16: return "bf16";
    case DType::F16: return "f16";
  }
  return "?";
}

// bf16: upper 16 bits of the f32, round-to-nearest-even; NaN stays NaN.
CTXWIN_HD uint16_t f32_to_bf16_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);  // quiet NaN
  uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)((u + rounding) >> 16);
}
CTXWIN_HD float bf16_bits_to_f32(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

// IEEE binary16, round-to-nearest-even, with subnormals, inf and NaN.
CTXWIN_HD uint16_t f32_to_f16_bits(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7fffffffu;
  if (absx > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);        // NaN
  if (absx >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);       // overflow -> inf (>= 65520)
  if (absx < 0x38800000u) {                                          // subnormal or zero (< 2^-14)
    if (absx < 0x33000000u) return (uint16_t)sign;                   // < 2^-25 rounds to 0
    uint32_t mant = (absx & 0x7fffffu) | 0x800000u;
    int shift = 126 - (int)(absx >> 23);                             // 14..24
    uint32_t result = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1u);
    uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (result & 1u))) result++;
    return (uint16_t)(sign | result);
  }
  uint32_t e = (absx >> 23) - 112;  // rebias 127 -> 15
  uint32_t m = absx & 0x7fffffu;
  uint32_t result = (e << 10) | (m >> 13);
  uint32_t rem = m & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (result & 1u))) result++;  // may carry into exponent: fine
  return (uint16_t)(sign | result);
}
CTXWIN_HD float f16_bits_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1fu;
  uint32_t m = h & 0x3ffu;
  uint32_t out;
  if (e == 0) {
    if (m == 0) {
      out = sign;
    } else {  // subnormal: normalise
      int shift = 0;
      while ((m & 0x400u) == 0) { m <<= 1; shift++; }
      m &= 0x3ffu;
      out = sign | ((uint32_t)(113 - shift) << 23) | (m << 13);
    }
  } else if (e == 31) {
    out = sign | 0x7f800000u | (m << 13);
  } else {
    out = sign | ((e + 112) << 23) | (m << 13);
  }
  float f;
  memcpy(&f, &out, 4);
  return f;
}

// Convert n elements of type `src_t` at `src` to f32 (and back).
void to_f32(DType src_t, const void* src, float* dst, size_t n);
void from_f32(DType dst_t, const float* src, void* dst, size_t n);

}  // namespace ctxwin
