// Register-blocked matmul micro-kernels of the CPU FlashAttention kernels, templates over a
// vector type V (simd.h). Two shapes cover every product of the forward and the backward:
//
//  score tile     acc[r][v] = sum_d A[r][d] * Bp[d][v*W + lane]        r < ROWS, v < kTileVecs
//                 (S = Q K^T, dP = dO V^T; B packed as a panel [D][PW] so keys are the lanes),
//                 handed to an epilogue in registers (bias, mask, exp, ...) before it is stored.
//  accumulate     C[r][:] = C[r][:] * c_scale[r] + sum_k A(r, k) * B[k][:]
//                 with A(r, k) = A[r][k] or A[k][r] (TRANS_A), B row-major [K][ldb]
//                 (O += P V, dV += P^T dO, dK += dS^T Q, dQ += dS K).
//
// Every function here is a template over V so that each ISA build gets its own symbols.
#pragma once
#include <cstddef>

#include "cpu/simd.h"

namespace ctxwin::cpu {

#if defined(__GNUC__) && !defined(__clang__)
#define CTXWIN_UNROLL _Pragma("GCC unroll 16")
#elif defined(__clang__)
#define CTXWIN_UNROLL _Pragma("unroll")
#else
#define CTXWIN_UNROLL
#endif

// acc = A[ROWS][0..D) (row stride lda) times one key panel Bp[D][PW].
template <class V, int ROWS>
inline void score_tile(const float* A, size_t lda, const float* Bp, int D, V (&acc)[ROWS][V::kTileVecs]) {
  constexpr int NV = V::kTileVecs, PW = NV * V::W;
  CTXWIN_UNROLL for (int r = 0; r < ROWS; ++r)
    CTXWIN_UNROLL for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();
  for (int d = 0; d < D; ++d) {
    V b[NV];
    CTXWIN_UNROLL for (int v = 0; v < NV; ++v) b[v] = V::load(Bp + (size_t)d * PW + v * V::W);
    CTXWIN_UNROLL for (int r = 0; r < ROWS; ++r) {
      V a = V::set1(A[r * lda + d]);
      CTXWIN_UNROLL for (int v = 0; v < NV; ++v) acc[r][v] = fmadd(a, b[v], acc[r][v]);
    }
  }
}

// Scores of `rows` query rows against `panels` key panels: for each tile, calls
// epi(row, col, acc) with row in [0, rows), col the first key (block-local) of the vector.
template <class V, int ROWS, class Epilogue>
inline void score_rows(const float* A, size_t lda, const float* Bp, int panels, int D, Epilogue& epi, int row0) {
  constexpr int NV = V::kTileVecs, PW = NV * V::W;
  for (int pn = 0; pn < panels; ++pn) {
    V acc[ROWS][NV];
    score_tile<V, ROWS>(A, lda, Bp + (size_t)pn * D * PW, D, acc);
    CTXWIN_UNROLL for (int r = 0; r < ROWS; ++r)
      CTXWIN_UNROLL for (int v = 0; v < NV; ++v) epi(row0 + r, pn * PW + v * V::W, acc[r][v]);
  }
}

// All rows: full kTileRows groups, then the remainder with its own (smaller) register tile.
template <class V, int R, class Epilogue>
inline void score_remainder(int rows, const float* A, size_t lda, const float* Bp, int panels, int D,
                            Epilogue& epi, int row0) {
  if constexpr (R > 0) {
    if (rows == R) score_rows<V, R>(A, lda, Bp, panels, D, epi, row0);
    else score_remainder<V, R - 1>(rows, A, lda, Bp, panels, D, epi, row0);
  }
}
template <class V, class Epilogue>
inline void score_block(int rows, const float* A, size_t lda, const float* Bp, int panels, int D, Epilogue& epi) {
  constexpr int MR = V::kTileRows;
  int r = 0;
  for (; r + MR <= rows; r += MR) score_rows<V, MR>(A + r * lda, lda, Bp, panels, D, epi, r);
  if (r < rows) score_remainder<V, MR - 1>(rows - r, A + r * lda, lda, Bp, panels, D, epi, r);
}

// One ROWS x (NT * W) tile of C = C * c_scale + A B over k < K.
template <class V, int ROWS, int NT, bool TRANS_A>
inline void accumulate_tile(float* C, size_t ldc, const float* c_scale, const float* A, size_t lda,
                            const float* B, size_t ldb, int K) {
  V acc[ROWS][NT];
  CTXWIN_UNROLL for (int r = 0; r < ROWS; ++r) {
    CTXWIN_UNROLL for (int t = 0; t < NT; ++t) acc[r][t] = V::load(C + r * ldc + t * V::W);
  }
  if (c_scale) {
    CTXWIN_UNROLL for (int r = 0; r < ROWS; ++r) {
      V s = V::set1(c_scale[r]);
      CTXWIN_UNROLL for (int t = 0; t < NT; ++t) acc[r][t] = acc[r][t] * s;
    }
  }
  for (int k = 0; k < K; ++k) {
    V b[NT];
    CTXWIN_UNROLL for (int t = 0; t < NT; ++t) b[t] = V::load(B + k * ldb + t * V::W);
    CTXWIN_UNROLL for (int r = 0; r < ROWS; ++r) {
      V a = V::set1(TRANS_A ? A[k * lda + r] : A[r * lda + k]);
      CTXWIN_UNROLL for (int t = 0; t < NT; ++t) acc[r][t] = fmadd(a, b[t], acc[r][t]);
    }
  }
  CTXWIN_UNROLL for (int r = 0; r < ROWS; ++r) {
    CTXWIN_UNROLL for (int t = 0; t < NT; ++t) V::store(C + r * ldc + t * V::W, acc[r][t]);
  }
}

template <class V, int R, int NT, bool TRANS_A>
inline void accumulate_remainder(int rows, float* C, size_t ldc, const float* c_scale, const float* A, size_t lda,
                                 const float* B, size_t ldb, int K) {
  if constexpr (R > 0) {
    if (rows == R) accumulate_tile<V, R, NT, TRANS_A>(C, ldc, c_scale, A, lda, B, ldb, K);
    else accumulate_remainder<V, R - 1, NT, TRANS_A>(rows, C, ldc, c_scale, A, lda, B, ldb, K);
  }
}

// One column strip of NT vectors, all rows: full kTileRows groups, then the remainder.
template <class V, int NT, bool TRANS_A>
inline void accumulate_strip(int rows, float* C, size_t ldc, const float* c_scale, const float* A, size_t lda,
                             const float* B, size_t ldb, int K) {
  constexpr int MR = V::kTileRows;
  int r = 0;
  for (; r < rows; r += MR) {
    const float* a = TRANS_A ? A + r : A + r * lda;
    const float* s = c_scale ? c_scale + r : nullptr;
    if (r + MR <= rows) accumulate_tile<V, MR, NT, TRANS_A>(C + r * ldc, ldc, s, a, lda, B, ldb, K);
    else accumulate_remainder<V, MR - 1, NT, TRANS_A>(rows - r, C + r * ldc, ldc, s, a, lda, B, ldb, K);
  }
}

// C[rows][Dp] = C * c_scale (per row; null: 1) + A B, A(r, k) = TRANS_A ? A[k*lda + r] : A[r*lda + k],
// Dp a multiple of W. Column strips outermost: a strip of B (K x TW floats) stays in L1 while
// every row group streams past it.
template <class V, bool TRANS_A>
inline void accumulate_block(int rows, float* C, size_t ldc, int Dp, const float* c_scale, const float* A,
                             size_t lda, const float* B, size_t ldb, int K) {
  constexpr int NV = V::kTileVecs, TW = NV * V::W;
  int c = 0;
  for (; c + TW <= Dp; c += TW) accumulate_strip<V, NV, TRANS_A>(rows, C + c, ldc, c_scale, A, lda, B + c, ldb, K);
  for (; c < Dp; c += V::W) accumulate_strip<V, 1, TRANS_A>(rows, C + c, ldc, c_scale, A, lda, B + c, ldb, K);
}

}  // namespace ctxwin::cpu
