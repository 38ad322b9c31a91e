// simd_generic::Vec: 4 f32 lanes through GCC/Clang vector extensions, so the portable build still
// uses SSE2 (x86-64 baseline) or NEON (arm64) registers. Interface: see simd.h. No FMA here: fmadd
// rounds twice, which the accuracy tests allow for.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "ctxwin/dtype.h"

namespace ctxwin::cpu::simd_generic {

typedef float f32x4 __attribute__((vector_size(16)));
typedef int32_t i32x4 __attribute__((vector_size(16)));

struct Vec {
  static constexpr int W = 4;
  static constexpr int kTileRows = 4;  // 4 x 2 accumulators + 2 loads + 1 broadcast of 16 registers
  static constexpr int kTileVecs = 2;
  f32x4 v;

  static Vec load(const float* p) {
    Vec r;
    std::memcpy(&r.v, p, sizeof(r.v));
    return r;
  }
  static void store(float* p, Vec a) { std::memcpy(p, &a.v, sizeof(a.v)); }
  static Vec set1(float x) { return Vec{f32x4{x, x, x, x}}; }
  static Vec zero() { return set1(0.f); }
  static Vec iota() { return Vec{f32x4{0.f, 1.f, 2.f, 3.f}}; }

  static void load_row(DType t, const void* base, size_t offset, float* dst, int n) {
    if (t == DType::F32) {
      std::memcpy(dst, (const float*)base + offset, (size_t)n * 4);
    } else if (t == DType::BF16) {
      const uint16_t* s = (const uint16_t*)base + offset;
      for (int i = 0; i < n; ++i) dst[i] = bf16_bits_to_f32(s[i]);
    } else {
      const uint16_t* s = (const uint16_t*)base + offset;
      for (int i = 0; i < n; ++i) dst[i] = f16_bits_to_f32(s[i]);
    }
  }
  static void store_row(DType t, void* base, size_t offset, const float* src, int n) {
    if (t == DType::F32) {
      std::memcpy((float*)base + offset, src, (size_t)n * 4);
    } else if (t == DType::BF16) {
      uint16_t* d = (uint16_t*)base + offset;
      for (int i = 0; i < n; ++i) d[i] = f32_to_bf16_bits(src[i]);
    } else {
      uint16_t* d = (uint16_t*)base + offset;
      for (int i = 0; i < n; ++i) d[i] = f32_to_f16_bits(src[i]);
    }
  }
};

inline Vec operator+(Vec a, Vec b) { return Vec{a.v + b.v}; }
inline Vec operator-(Vec a, Vec b) { return Vec{a.v - b.v}; }
inline Vec operator*(Vec a, Vec b) { return Vec{a.v * b.v}; }
inline Vec fmadd(Vec a, Vec b, Vec c) { return Vec{a.v * b.v + c.v}; }

inline Vec select_mask(i32x4 m, Vec a, Vec b) {
  return Vec{(f32x4)((m & (i32x4)a.v) | (~m & (i32x4)b.v))};
}
inline Vec vmax(Vec a, Vec b) { return select_mask(a.v > b.v, a, b); }
inline Vec vmin(Vec a, Vec b) { return select_mask(a.v < b.v, a, b); }
inline Vec vabs(Vec a) { return Vec{(f32x4)((i32x4)a.v & (i32x4){0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff})}; }
// Round to nearest (even) by adding 1.5 * 2^23: exact for |x| < 2^22, all exp2_approx needs.
inline Vec round_nearest(Vec a) {
  const f32x4 magic = {12582912.f, 12582912.f, 12582912.f, 12582912.f};
  f32x4 t = a.v + magic;
  return Vec{t - magic};
}
inline Vec pow2_int(Vec n) {
  i32x4 e = __builtin_convertvector(n.v, i32x4) + 127;
  return Vec{(f32x4)(e << 23)};
}
inline Vec select_in_range(Vec x, Vec lo, Vec hi, Vec a, Vec b) {
  return select_mask((x.v >= lo.v) & (x.v <= hi.v), a, b);
}
inline float hmax(Vec a) {
  float m = a.v[0];
  for (int i = 1; i < 4; ++i) m = a.v[i] > m ? a.v[i] : m;
  return m;
}
inline float hsum(Vec a) { return (a.v[0] + a.v[1]) + (a.v[2] + a.v[3]); }

}  // namespace ctxwin::cpu::simd_generic
