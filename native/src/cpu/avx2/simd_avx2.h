// simd_avx2::Vec: 8 f32 lanes, AVX2 + FMA + F16C. Interface: see cpu/simd.h. Include only from
// translation units compiled with -mavx2 -mfma -mf16c (native/src/cpu/avx2/).
#pragma once
#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "simd_avx2.h needs -mavx2 -mfma -mf16c"
#endif
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "ctxwin/dtype.h"

namespace ctxwin::cpu::simd_avx2 {

struct Vec {
  static constexpr int W = 8;
  static constexpr int kTileRows = 6;  // 6 x 2 accumulators + 2 loads + 1 broadcast of 16 ymm
  static constexpr int kTileVecs = 2;
  __m256 v;

  static Vec load(const float* p) { return Vec{_mm256_loadu_ps(p)}; }
  static void store(float* p, Vec a) { _mm256_storeu_ps(p, a.v); }
  static Vec set1(float x) { return Vec{_mm256_set1_ps(x)}; }
  static Vec zero() { return Vec{_mm256_setzero_ps()}; }
  static Vec iota() { return Vec{_mm256_setr_ps(0.f, 1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f)}; }

  // 8 values of a half type -> f32.
  static __m256 widen8(DType t, const uint16_t* s) {
    __m128i h = _mm_loadu_si128((const __m128i*)s);
    if (t == DType::F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  // f32 -> 8 values of a half type, round to nearest even (bf16 keeps NaN a quiet NaN).
  static void narrow8(DType t, __m256 x, uint16_t* d) {
    __m128i h;
    if (t == DType::F16) {
      h = _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT);
    } else {
      __m256i u = _mm256_castps_si256(x);
      __m256i hi = _mm256_srli_epi32(u, 16);
      __m256i lsb = _mm256_and_si256(hi, _mm256_set1_epi32(1));
      __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
      __m256i nan = _mm256_or_si256(hi, _mm256_set1_epi32(0x40));
      __m256i is_nan = _mm256_castps_si256(_mm256_cmp_ps(x, x, _CMP_UNORD_Q));
      __m256i r = _mm256_blendv_epi8(rounded, nan, is_nan);
      // packus works within 128-bit lanes: [r0..3 r0..3 | r4..7 r4..7] -> gather the halves.
      __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0xD8);
      h = _mm256_castsi256_si128(packed);
    }
    _mm_storeu_si128((__m128i*)d, h);
  }

  static void load_row(DType t, const void* base, size_t offset, float* dst, int n) {
    if (t == DType::F32) {
      std::memcpy(dst, (const float*)base + offset, (size_t)n * 4);
      return;
    }
    const uint16_t* s = (const uint16_t*)base + offset;
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, widen8(t, s + i));
    if (i < n) {  // tail through a zero-padded buffer
      uint16_t tmp[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      float out[8];
      std::memcpy(tmp, s + i, (size_t)(n - i) * 2);
      _mm256_storeu_ps(out, widen8(t, tmp));
      std::memcpy(dst + i, out, (size_t)(n - i) * 4);
    }
  }
  static void store_row(DType t, void* base, size_t offset, const float* src, int n) {
    if (t == DType::F32) {
      std::memcpy((float*)base + offset, src, (size_t)n * 4);
      return;
    }
    uint16_t* d = (uint16_t*)base + offset;
    int i = 0;
    for (; i + 8 <= n; i += 8) narrow8(t, _mm256_loadu_ps(src + i), d + i);
    if (i < n) {
      float tmp[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      uint16_t out[8];
      std::memcpy(tmp, src + i, (size_t)(n - i) * 4);
      narrow8(t, _mm256_loadu_ps(tmp), out);
      std::memcpy(d + i, out, (size_t)(n - i) * 2);
    }
  }
};

inline Vec operator+(Vec a, Vec b) { return Vec{_mm256_add_ps(a.v, b.v)}; }
inline Vec operator-(Vec a, Vec b) { return Vec{_mm256_sub_ps(a.v, b.v)}; }
inline Vec operator*(Vec a, Vec b) { return Vec{_mm256_mul_ps(a.v, b.v)}; }
inline Vec fmadd(Vec a, Vec b, Vec c) { return Vec{_mm256_fmadd_ps(a.v, b.v, c.v)}; }
inline Vec vmax(Vec a, Vec b) { return Vec{_mm256_max_ps(a.v, b.v)}; }
inline Vec vmin(Vec a, Vec b) { return Vec{_mm256_min_ps(a.v, b.v)}; }
inline Vec vabs(Vec a) { return Vec{_mm256_andnot_ps(_mm256_set1_ps(-0.f), a.v)}; }
inline Vec round_nearest(Vec a) { return Vec{_mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
inline Vec pow2_int(Vec n) {
  __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n.v), _mm256_set1_epi32(127));
  return Vec{_mm256_castsi256_ps(_mm256_slli_epi32(e, 23))};
}
inline Vec select_in_range(Vec x, Vec lo, Vec hi, Vec a, Vec b) {
  __m256 in = _mm256_and_ps(_mm256_cmp_ps(x.v, lo.v, _CMP_GE_OQ), _mm256_cmp_ps(x.v, hi.v, _CMP_LE_OQ));
  return Vec{_mm256_blendv_ps(b.v, a.v, in)};
}
inline float hmax(Vec a) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}
inline float hsum(Vec a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

}  // namespace ctxwin::cpu::simd_avx2
