// The portable build of the GEMM kernels (gemm_impl.h): 4-lane GCC/Clang vector extensions
// (SSE2 on x86-64, NEON on arm64), a 6 x 8 micro-tile (12 accumulators + 3 of 16 registers).
#include <cstdint>
#include <cstring>

#include "ctxwin/dtype.h"

namespace ctxwin::cpu::gemm_generic {
namespace {

typedef float v4f __attribute__((vector_size(16)));

struct V {
  static constexpr int W = 4;
  v4f v;
  static V load(const float* p) {
    V r;
    std::memcpy(&r.v, p, sizeof(v4f));
    return r;
  }
  static void store(float* p, V a) { std::memcpy(p, &a.v, sizeof(v4f)); }
  static V bcast(const float* p) {
    float x = *p;
    return V{v4f{x, x, x, x}};
  }
  static V zero() { return V{v4f{0.f, 0.f, 0.f, 0.f}}; }
  static V set1(float x) { return V{v4f{x, x, x, x}}; }
  static V load_half(DType t, const uint16_t* p);
};
inline V vfma(V a, V b, V c) { return V{a.v * b.v + c.v}; }
inline V vadd(V a, V b) { return V{a.v + b.v}; }
inline V vmul(V a, V b) { return V{a.v * b.v}; }
inline float hsum(V a) { return (a.v[0] + a.v[1]) + (a.v[2] + a.v[3]); }

// Local copies of the dtype.h conversions (kept out of the shared inline symbols).
inline float bits_to_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline float half_to_f32(DType t, uint16_t h) {
  if (t == DType::BF16) return bits_to_f32((uint32_t)h << 16);
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0) {
    if (m == 0) return bits_to_f32(sign);
    return (sign ? -1.f : 1.f) * (float)m * 5.9604644775390625e-8f;  // m * 2^-24
  }
  if (e == 31) return bits_to_f32(sign | 0x7f800000u | (m << 13));
  return bits_to_f32(sign | ((e + 112) << 23) | (m << 13));
}
V V::load_half(DType t, const uint16_t* p) {
  return V{v4f{half_to_f32(t, p[0]), half_to_f32(t, p[1]), half_to_f32(t, p[2]), half_to_f32(t, p[3])}};
}

}  // namespace
}  // namespace ctxwin::cpu::gemm_generic

#define CTXWIN_GEMM_NS gemm_generic
#define CTXWIN_GEMM_MR 6
#define CTXWIN_GEMM_NV 2
#define CTXWIN_GEMM_MC 96
#define CTXWIN_GEMM_KC 256
#define CTXWIN_GEMM_NC 2048
#define CTXWIN_GEMM_NAME "generic 6x8"
#include "cpu/ops/gemm_impl.h"
