// The GEMM packing routines and micro-kernels, written once over a vector type and compiled
// once per instruction set (see gemm.h). The including translation unit defines, before
// including this file:
//   CTXWIN_GEMM_NS            the namespace (gemm_generic, gemm_avx2, gemm_avx512)
//   namespace ctxwin::cpu::CTXWIN_GEMM_NS { struct V; inline float half_to_f32(DType, uint16_t); }
//     V::W lanes; V::load(p), V::store(p, v), V::bcast(p) (broadcast *p), V::zero(), V::set1(x),
//     V::load_half(dtype, const uint16_t*) (W half values -> f32); vfma(a, b, c) = a*b + c,
//     vadd, vmul, hsum(v)
//   CTXWIN_GEMM_MR, CTXWIN_GEMM_NV (micro-tile: MR rows x NV vectors), CTXWIN_GEMM_MC/KC/NC
//   CTXWIN_GEMM_NAME          e.g. "avx2 6x16"
// Everything here lives in that namespace, so the builds never share a symbol (a function
// compiled with -mavx2 must never be picked by the linker for the generic build).
//
// No std:: templates below: their instantiations are shared (weak) symbols across translation
// units and would mix instruction sets.

#include <cstdint>
#include <cstring>

#include "cpu/ops/gemm.h"

#if defined(__GNUC__)
#define CTXWIN_GEMM_UNROLL _Pragma("GCC unroll 16")
#else
#define CTXWIN_GEMM_UNROLL
#endif

namespace ctxwin::cpu::CTXWIN_GEMM_NS {

namespace {

constexpr int MR = CTXWIN_GEMM_MR;
constexpr int NV = CTXWIN_GEMM_NV;
constexpr int NR = NV * V::W;

// ---- packing ---------------------------------------------------------------------------------

struct LoadF32 {
  const float* p;
  float operator()(int64_t i) const { return p[i]; }
};
struct LoadHalf {
  const uint16_t* p;
  DType t;
  float operator()(int64_t i) const { return half_to_f32(t, p[i]); }
};

// dst[k*MR + i] = A(i0 + i, k0 + k) for one panel of r <= MR rows (the rest zero).
template <class L>
void pack_a_panel(const L& ld, int64_t rs, int64_t cs, int64_t i0, int r, int64_t k0, int64_t kc, float* dst) {
  if (r == MR && rs == 1) {  // the panel's rows are contiguous for each k (A transposed)
    for (int64_t k = 0; k < kc; ++k) {
      int64_t base = (k0 + k) * cs + i0;
      CTXWIN_GEMM_UNROLL
      for (int i = 0; i < MR; ++i) dst[k * MR + i] = ld(base + i);
    }
    return;
  }
  if (r == MR) {
    int64_t row[MR];
    for (int i = 0; i < MR; ++i) row[i] = (i0 + i) * rs + k0 * cs;
    for (int64_t k = 0; k < kc; ++k) {
      CTXWIN_GEMM_UNROLL
      for (int i = 0; i < MR; ++i) dst[k * MR + i] = ld(row[i] + k * cs);
    }
    return;
  }
  for (int64_t k = 0; k < kc; ++k) {
    for (int i = 0; i < r; ++i) dst[k * MR + i] = ld((i0 + i) * rs + (k0 + k) * cs);
    for (int i = r; i < MR; ++i) dst[k * MR + i] = 0.f;
  }
}

// dst[k*NR + j] = B(k0 + k, j0 + j) for one panel of c <= NR columns (the rest zero).
template <class L>
void pack_b_panel(const L& ld, int64_t rs, int64_t cs, int64_t k0, int64_t kc, int64_t j0, int c, float* dst) {
  if (c == NR && cs == 1) {  // rows of B contiguous (B not transposed)
    for (int64_t k = 0; k < kc; ++k) {
      int64_t base = (k0 + k) * rs + j0;
      CTXWIN_GEMM_UNROLL
      for (int j = 0; j < NR; ++j) dst[k * NR + j] = ld(base + j);
    }
    return;
  }
  if (c == NR && rs == 1) {  // columns of B contiguous (B transposed): walk each column once
    for (int j = 0; j < NR; ++j) {
      int64_t base = (j0 + j) * cs + k0;
      for (int64_t k = 0; k < kc; ++k) dst[k * NR + j] = ld(base + k);
    }
    return;
  }
  for (int64_t k = 0; k < kc; ++k) {
    for (int j = 0; j < c; ++j) dst[k * NR + j] = ld((k0 + k) * rs + (j0 + j) * cs);
    for (int j = c; j < NR; ++j) dst[k * NR + j] = 0.f;
  }
}

template <class L>
void pack_a_all(const L& ld, const GemmOperand& A, int64_t i0, int64_t m, int64_t k0, int64_t kc, float* dst) {
  for (int64_t p = 0; p * MR < m; ++p) {
    int64_t r = m - p * MR;
    pack_a_panel(ld, A.rs, A.cs, i0 + p * MR, r < MR ? (int)r : MR, k0, kc, dst + p * MR * kc);
  }
}

template <class L>
void pack_b_all(const L& ld, const GemmOperand& B, int64_t k0, int64_t kc, int64_t j0, int64_t n, float* dst) {
  for (int64_t p = 0; p * NR < n; ++p) {
    int64_t c = n - p * NR;
    pack_b_panel(ld, B.rs, B.cs, k0, kc, j0 + p * NR, c < NR ? (int)c : NR, dst + p * NR * kc);
  }
}

void pack_a(const GemmOperand& A, int64_t i0, int64_t m, int64_t k0, int64_t kc, float* dst) {
  if (A.dtype == DType::F32) pack_a_all(LoadF32{(const float*)A.data}, A, i0, m, k0, kc, dst);
  else pack_a_all(LoadHalf{(const uint16_t*)A.data, A.dtype}, A, i0, m, k0, kc, dst);
}

void pack_b(const GemmOperand& B, int64_t k0, int64_t kc, int64_t j0, int64_t n, float* dst) {
  if (B.dtype == DType::F32) pack_b_all(LoadF32{(const float*)B.data}, B, k0, kc, j0, n, dst);
  else pack_b_all(LoadHalf{(const uint16_t*)B.data, B.dtype}, B, k0, kc, j0, n, dst);
}

// ---- micro-kernel ----------------------------------------------------------------------------

// C[0:m, 0:n] = alpha * Ap[kc x MR]^T * Bp[kc x NR] + beta * C.
void micro(int64_t kc, const float* __restrict Ap, const float* __restrict Bp, float* C, int64_t ldc, float alpha,
           float beta, int m, int n) {
  V c[MR][NV];
  CTXWIN_GEMM_UNROLL
  for (int i = 0; i < MR; ++i) {
    CTXWIN_GEMM_UNROLL
    for (int j = 0; j < NV; ++j) c[i][j] = V::zero();
  }
#if defined(__GNUC__)
  if (m == MR) {
    CTXWIN_GEMM_UNROLL
    for (int i = 0; i < MR; ++i) __builtin_prefetch(C + i * ldc, 1);
  }
#endif
#if defined(__GNUC__)
#pragma GCC unroll 4
#endif
  for (int64_t k = 0; k < kc; ++k) {
    V b[NV];
    CTXWIN_GEMM_UNROLL
    for (int j = 0; j < NV; ++j) b[j] = V::load(Bp + j * V::W);
    CTXWIN_GEMM_UNROLL
    for (int i = 0; i < MR; ++i) {
      V a = V::bcast(Ap + i);
      CTXWIN_GEMM_UNROLL
      for (int j = 0; j < NV; ++j) c[i][j] = vfma(a, b[j], c[i][j]);
    }
    Ap += MR;
    Bp += NR;
  }
  V va = V::set1(alpha);
  if (m == MR && n == NR) {
    if (beta == 0.f) {
      CTXWIN_GEMM_UNROLL
      for (int i = 0; i < MR; ++i) {
        CTXWIN_GEMM_UNROLL
        for (int j = 0; j < NV; ++j) V::store(C + i * ldc + j * V::W, vmul(va, c[i][j]));
      }
    } else if (beta == 1.f) {
      CTXWIN_GEMM_UNROLL
      for (int i = 0; i < MR; ++i) {
        CTXWIN_GEMM_UNROLL
        for (int j = 0; j < NV; ++j) {
          float* p = C + i * ldc + j * V::W;
          V::store(p, vfma(va, c[i][j], V::load(p)));
        }
      }
    } else {
      V vb = V::set1(beta);
      CTXWIN_GEMM_UNROLL
      for (int i = 0; i < MR; ++i) {
        CTXWIN_GEMM_UNROLL
        for (int j = 0; j < NV; ++j) {
          float* p = C + i * ldc + j * V::W;
          V::store(p, vfma(va, c[i][j], vmul(vb, V::load(p))));
        }
      }
    }
    return;
  }
  // Edge tile: through a local buffer.
  alignas(64) float t[MR * NR];
  CTXWIN_GEMM_UNROLL
  for (int i = 0; i < MR; ++i) {
    CTXWIN_GEMM_UNROLL
    for (int j = 0; j < NV; ++j) V::store(t + i * NR + j * V::W, vmul(va, c[i][j]));
  }
  for (int i = 0; i < m; ++i) {
    float* p = C + i * ldc;
    const float* s = t + i * NR;
    if (beta == 0.f) {
      for (int j = 0; j < n; ++j) p[j] = s[j];
    } else {
      for (int j = 0; j < n; ++j) p[j] = s[j] + beta * p[j];
    }
  }
}

// ---- small M: no packing ---------------------------------------------------------------------

inline V load_b(const GemmOperand& B, int64_t off) {
  if (B.dtype == DType::F32) return V::load((const float*)B.data + off);
  return V::load_half(B.dtype, (const uint16_t*)B.data + off);
}
inline float load_b1(const GemmOperand& B, int64_t off) {
  if (B.dtype == DType::F32) return ((const float*)B.data)[off];
  return half_to_f32(B.dtype, ((const uint16_t*)B.data)[off]);
}

inline void finish(float* c, float acc, float alpha, float beta) {
  *c = beta == 0.f ? alpha * acc : alpha * acc + beta * *c;
}

template <int R>
void gemv_rows(int64_t K, const float* x, const GemmOperand& B, int64_t j0, int64_t n, float alpha, float beta,
               float* C, int64_t ldc) {
  constexpr int W = V::W;
  if (B.cs == 1) {
    // Rows of B contiguous: C[r, j] = sum_k x[r][k] * B[k, j] by blocks of 2 vectors of columns.
    int64_t j = 0;
    for (; j + 2 * W <= n; j += 2 * W) {
      V acc[R][2];
      CTXWIN_GEMM_UNROLL
      for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = V::zero();
      for (int64_t k = 0; k < K; ++k) {
        int64_t off = k * B.rs + j0 + j;
        V b0 = load_b(B, off), b1 = load_b(B, off + W);
        CTXWIN_GEMM_UNROLL
        for (int r = 0; r < R; ++r) {
          V a = V::bcast(x + r * K + k);
          acc[r][0] = vfma(a, b0, acc[r][0]);
          acc[r][1] = vfma(a, b1, acc[r][1]);
        }
      }
      for (int r = 0; r < R; ++r) {
        alignas(64) float t[2 * W];
        V::store(t, acc[r][0]);
        V::store(t + W, acc[r][1]);
        for (int q = 0; q < 2 * W; ++q) finish(C + r * ldc + j + q, t[q], alpha, beta);
      }
    }
    for (; j < n; ++j) {
      for (int r = 0; r < R; ++r) {
        float acc = 0.f;
        for (int64_t k = 0; k < K; ++k) acc += x[r * K + k] * load_b1(B, k * B.rs + j0 + j);
        finish(C + r * ldc + j, acc, alpha, beta);
      }
    }
    return;
  }
  // Columns of B contiguous (B.rs == 1, B transposed) or general strides: dot products.
  for (int64_t j = 0; j < n; ++j) {
    int64_t col = (j0 + j) * B.cs;
    float acc_s[R];
    if (B.rs == 1) {
      V acc[R];
      CTXWIN_GEMM_UNROLL
      for (int r = 0; r < R; ++r) acc[r] = V::zero();
      int64_t k = 0;
      for (; k + W <= K; k += W) {
        V b = load_b(B, col + k);
        CTXWIN_GEMM_UNROLL
        for (int r = 0; r < R; ++r) acc[r] = vfma(V::load(x + r * K + k), b, acc[r]);
      }
      for (int r = 0; r < R; ++r) acc_s[r] = hsum(acc[r]);
      for (; k < K; ++k) {
        float b = load_b1(B, col + k);
        for (int r = 0; r < R; ++r) acc_s[r] += x[r * K + k] * b;
      }
    } else {
      for (int r = 0; r < R; ++r) acc_s[r] = 0.f;
      for (int64_t k = 0; k < K; ++k) {
        float b = load_b1(B, col + k * B.rs);
        for (int r = 0; r < R; ++r) acc_s[r] += x[r * K + k] * b;
      }
    }
    for (int r = 0; r < R; ++r) finish(C + r * ldc + j, acc_s[r], alpha, beta);
  }
}

void gemv(int rows, int64_t K, const float* x, const GemmOperand& B, int64_t j0, int64_t n, float alpha, float beta,
          float* C, int64_t ldc) {
  switch (rows) {
    case 1: gemv_rows<1>(K, x, B, j0, n, alpha, beta, C, ldc); break;
    case 2: gemv_rows<2>(K, x, B, j0, n, alpha, beta, C, ldc); break;
    case 3: gemv_rows<3>(K, x, B, j0, n, alpha, beta, C, ldc); break;
    default: gemv_rows<4>(K, x, B, j0, n, alpha, beta, C, ldc); break;
  }
}

const GemmKernels kTable = {CTXWIN_GEMM_NAME, MR, NR, CTXWIN_GEMM_MC, CTXWIN_GEMM_KC, CTXWIN_GEMM_NC,
                            pack_a,           pack_b, micro, gemv};

}  // namespace

const GemmKernels& kernels() { return kTable; }

}  // namespace ctxwin::cpu::CTXWIN_GEMM_NS

#undef CTXWIN_GEMM_UNROLL
