// The AVX-512 build of the GEMM kernels (gemm_impl.h): a 12 x 32 micro-tile (24 accumulators +
// 2 B vectors + 1 broadcast of the 32 zmm registers). Compiled with -mavx512f/bw/dq/vl; called
// only when cpu_features() says so. The same template as the avx2 and generic builds (those are
// what the test machines run); only the vector wrapper below is specific.
// GCC 12 reports a false -Wmaybe-uninitialized inside _mm512_cvtph_ps / _mm512_reduce_add_ps.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstdint>

#include "ctxwin/dtype.h"

namespace ctxwin::cpu::gemm_avx512 {
namespace {

struct V {
  static constexpr int W = 16;
  __m512 v;
  static V load(const float* p) { return V{_mm512_loadu_ps(p)}; }
  static void store(float* p, V a) { _mm512_storeu_ps(p, a.v); }
  static V bcast(const float* p) { return V{_mm512_set1_ps(*p)}; }
  static V zero() { return V{_mm512_setzero_ps()}; }
  static V set1(float x) { return V{_mm512_set1_ps(x)}; }
  static V load_half(DType t, const uint16_t* p) {
    __m256i h = _mm256_loadu_si256((const __m256i*)p);
    if (t == DType::F16) return V{_mm512_cvtph_ps(h)};
    return V{_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))};
  }
};
inline V vfma(V a, V b, V c) { return V{_mm512_fmadd_ps(a.v, b.v, c.v)}; }
inline V vadd(V a, V b) { return V{_mm512_add_ps(a.v, b.v)}; }
inline V vmul(V a, V b) { return V{_mm512_mul_ps(a.v, b.v)}; }
inline float hsum(V a) { return _mm512_reduce_add_ps(a.v); }
inline float half_to_f32(DType t, uint16_t h) {
  if (t == DType::F16) return _cvtsh_ss(h);
  uint32_t u = (uint32_t)h << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}

}  // namespace
}  // namespace ctxwin::cpu::gemm_avx512

#define CTXWIN_GEMM_NS gemm_avx512
#define CTXWIN_GEMM_MR 12
#define CTXWIN_GEMM_NV 2
#define CTXWIN_GEMM_MC 144
#define CTXWIN_GEMM_KC 192  // the B micro-panel (KC x 32 floats = 24 KB) stays within a 32-48 KB L1
#define CTXWIN_GEMM_NC 3072
#define CTXWIN_GEMM_NAME "avx512 12x32"
#include "cpu/ops/gemm_impl.h"
