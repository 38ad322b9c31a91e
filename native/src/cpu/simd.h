// The small vector interface the CPU kernels are written against, and the math built on it.
//
// One vector type per instruction set, each in its own namespace so that code compiled with
// different -m flags never shares a symbol (see attention_kernels.h for why that matters):
//   simd_generic::Vec  4 lanes, GCC/Clang vector extensions (simd_generic.h)
//   simd_avx2::Vec     8 lanes, AVX2 + FMA + F16C            (avx2/simd_avx2.h)
//   simd_avx512::Vec  16 lanes, AVX-512 F/BW/DQ/VL            (avx512/simd_avx512.h)
//
// Each Vec provides:
//   Vec::W                        lanes
//   Vec::kTileRows, kTileVecs     register tile of the matmul micro-kernels: rows x (vecs * W)
//   Vec::load/store(p), set1(x), zero(), iota() = {0, 1, ..., W-1}
//   a + b, a - b, a * b, fmadd(a, b, c) = a * b + c, vmax/vmin(a, b) (b when either is NaN),
//   vabs(a), round_nearest(a), pow2_int(n) = 2^n for integral n in [-127, 128] (0 for -127),
//   select_in_range(x, lo, hi, a, b) = lo <= x <= hi ? a : b, hmax(a), hsum(a)
//   Vec::load_row(dtype, base, offset, dst, n)   dst[i] = (float) base[offset + i], i < n
//   Vec::store_row(dtype, base, offset, src, n)  base[offset + i] = (dtype) src[i] (RNE)
//
// Everything below is a template over Vec, so each instruction set gets its own copy.
#pragma once

namespace ctxwin::cpu {

// 2^x in f32, ~2 ulp (Cephes exp2f polynomial on [-0.5, 0.5]). x <= -127 (including -inf, the
// masked scores) gives exactly 0, so masked keys never produce NaN; NaN propagates.
template <class V>
inline V exp2_approx(V x) {
  x = vmin(V::set1(128.f), vmax(V::set1(-127.f), x));
  V n = round_nearest(x);
  V f = x - n;  // in [-0.5, 0.5]
  V p = V::set1(1.535336188319500e-4f);
  p = fmadd(p, f, V::set1(1.339887440266574e-3f));
  p = fmadd(p, f, V::set1(9.618437357674640e-3f));
  p = fmadd(p, f, V::set1(5.550332471162809e-2f));
  p = fmadd(p, f, V::set1(2.402264791363012e-1f));
  p = fmadd(p, f, V::set1(6.931472028550421e-1f));
  p = fmadd(p, f, V::set1(1.f));
  return p * pow2_int(n);
}

// Scalar 2^x through the vector code (the kernels avoid libm in their inner loops).
template <class V>
inline float exp2_scalar(float x) {
  return hmax(exp2_approx<V>(V::set1(x)));
}

}  // namespace ctxwin::cpu
