// simd_avx512::Vec: 16 f32 lanes, AVX-512 F/BW/DQ/VL + FMA + F16C. Interface: see cpu/simd.h.
// Include only from translation units compiled with those flags (native/src/cpu/avx512/).
#pragma once
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512DQ__) || !defined(__AVX512VL__)
#error "simd_avx512.h needs -mavx512f -mavx512bw -mavx512dq -mavx512vl"
#endif
// GCC 12's AVX-512 intrinsics use self-initialised "undefined" vectors that trip
// -W(maybe-)uninitialized once inlined (GCC PR 105593, fixed in 13). Only this ISA unit sees it.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "ctxwin/dtype.h"

namespace ctxwin::cpu::simd_avx512 {

struct Vec {
  static constexpr int W = 16;
  static constexpr int kTileRows = 8;  // 8 x 2 accumulators of 32 zmm: room for loads and latency
  static constexpr int kTileVecs = 2;
  __m512 v;

  static Vec load(const float* p) { return Vec{_mm512_loadu_ps(p)}; }
  static void store(float* p, Vec a) { _mm512_storeu_ps(p, a.v); }
  static Vec set1(float x) { return Vec{_mm512_set1_ps(x)}; }
  static Vec zero() { return Vec{_mm512_setzero_ps()}; }
  static Vec iota() {
    return Vec{_mm512_setr_ps(0.f, 1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f, 8.f, 9.f, 10.f, 11.f, 12.f, 13.f, 14.f, 15.f)};
  }

  static __m512 widen16(DType t, __m256i h) {
    if (t == DType::F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  static __m256i narrow16(DType t, __m512 x) {
    if (t == DType::F16) return _mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT);
    __m512i u = _mm512_castps_si512(x);
    __m512i hi = _mm512_srli_epi32(u, 16);
    __m512i lsb = _mm512_and_si512(hi, _mm512_set1_epi32(1));
    __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    __m512i nan = _mm512_or_si512(hi, _mm512_set1_epi32(0x40));
    __mmask16 is_nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    return _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(is_nan, rounded, nan));
  }

  static void load_row(DType t, const void* base, size_t offset, float* dst, int n) {
    if (t == DType::F32) {
      std::memcpy(dst, (const float*)base + offset, (size_t)n * 4);
      return;
    }
    const uint16_t* s = (const uint16_t*)base + offset;
    int i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, widen16(t, _mm256_loadu_si256((const __m256i*)(s + i))));
    if (i < n) {
      __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
      __m256i h = _mm256_maskz_loadu_epi16(m, s + i);
      _mm512_mask_storeu_ps(dst + i, m, widen16(t, h));
    }
  }
  static void store_row(DType t, void* base, size_t offset, const float* src, int n) {
    if (t == DType::F32) {
      std::memcpy((float*)base + offset, src, (size_t)n * 4);
      return;
    }
    uint16_t* d = (uint16_t*)base + offset;
    int i = 0;
    for (; i + 16 <= n; i += 16) _mm256_storeu_si256((__m256i*)(d + i), narrow16(t, _mm512_loadu_ps(src + i)));
    if (i < n) {
      __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
      __m512 x = _mm512_maskz_loadu_ps(m, src + i);
      _mm256_mask_storeu_epi16(d + i, m, narrow16(t, x));
    }
  }
};

inline Vec operator+(Vec a, Vec b) { return Vec{_mm512_add_ps(a.v, b.v)}; }
inline Vec operator-(Vec a, Vec b) { return Vec{_mm512_sub_ps(a.v, b.v)}; }
inline Vec operator*(Vec a, Vec b) { return Vec{_mm512_mul_ps(a.v, b.v)}; }
inline Vec fmadd(Vec a, Vec b, Vec c) { return Vec{_mm512_fmadd_ps(a.v, b.v, c.v)}; }
inline Vec vmax(Vec a, Vec b) { return Vec{_mm512_max_ps(a.v, b.v)}; }
inline Vec vmin(Vec a, Vec b) { return Vec{_mm512_min_ps(a.v, b.v)}; }
inline Vec vabs(Vec a) { return Vec{_mm512_abs_ps(a.v)}; }
inline Vec round_nearest(Vec a) {
  return Vec{_mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
}
inline Vec pow2_int(Vec n) {
  __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n.v), _mm512_set1_epi32(127));
  return Vec{_mm512_castsi512_ps(_mm512_slli_epi32(e, 23))};
}
inline Vec select_in_range(Vec x, Vec lo, Vec hi, Vec a, Vec b) {
  __mmask16 in = _mm512_cmp_ps_mask(x.v, lo.v, _CMP_GE_OQ) & _mm512_cmp_ps_mask(x.v, hi.v, _CMP_LE_OQ);
  return Vec{_mm512_mask_blend_ps(in, b.v, a.v)};
}
inline float hmax(Vec a) { return _mm512_reduce_max_ps(a.v); }
inline float hsum(Vec a) { return _mm512_reduce_add_ps(a.v); }

}  // namespace ctxwin::cpu::simd_avx512
