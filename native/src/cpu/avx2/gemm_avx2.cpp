// The AVX2 + FMA + F16C build of the GEMM kernels (gemm_impl.h): a 6 x 16 micro-tile
// (12 accumulators + 2 B vectors + 1 broadcast = 15 of the 16 ymm registers).
// Compiled with -mavx2 -mfma -mf16c; called only when cpu_features() says so.
#include <immintrin.h>

#include <cstdint>

#include "ctxwin/dtype.h"

namespace ctxwin::cpu::gemm_avx2 {
namespace {

struct V {
  static constexpr int W = 8;
  __m256 v;
  static V load(const float* p) { return V{_mm256_loadu_ps(p)}; }
  static void store(float* p, V a) { _mm256_storeu_ps(p, a.v); }
  static V bcast(const float* p) { return V{_mm256_broadcast_ss(p)}; }
  static V zero() { return V{_mm256_setzero_ps()}; }
  static V set1(float x) { return V{_mm256_set1_ps(x)}; }
  static V load_half(DType t, const uint16_t* p) {
    __m128i h = _mm_loadu_si128((const __m128i*)p);
    if (t == DType::F16) return V{_mm256_cvtph_ps(h)};
    return V{_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16))};
  }
};
inline V vfma(V a, V b, V c) { return V{_mm256_fmadd_ps(a.v, b.v, c.v)}; }
inline V vadd(V a, V b) { return V{_mm256_add_ps(a.v, b.v)}; }
inline V vmul(V a, V b) { return V{_mm256_mul_ps(a.v, b.v)}; }
inline float hsum(V a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline float half_to_f32(DType t, uint16_t h) {
  if (t == DType::F16) return _cvtsh_ss(h);
  uint32_t u = (uint32_t)h << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}

}  // namespace
}  // namespace ctxwin::cpu::gemm_avx2

#define CTXWIN_GEMM_NS gemm_avx2
#define CTXWIN_GEMM_MR 6
#define CTXWIN_GEMM_NV 2
#define CTXWIN_GEMM_MC 144
#define CTXWIN_GEMM_KC 256
#define CTXWIN_GEMM_NC 3072
#define CTXWIN_GEMM_NAME "avx2 6x16"
#include "cpu/ops/gemm_impl.h"
