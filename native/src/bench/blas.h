// The machine's BLAS, loaded at run time for benchmarks only (ctxwin never needs it): the sgemm
// ceiling that bench/attention compares the fused kernels with, and the matmuls of the unfused
// baseline. Looks for OpenBLAS, MKL, BLIS or the reference libblas (in that order).
#pragma once
#include <string>

namespace ctxwin::bench {

// Row-major C[M,N] = alpha * op(A) * op(B) + beta * C, op = transpose when trans_* is true.
using SgemmFn = void (*)(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                         const float* B, int ldb, float beta, float* C, int ldc);

struct Blas {
  SgemmFn sgemm = nullptr;  // null when no BLAS was found
  std::string library;      // e.g. "libopenblas.so.0", or why none was found
};

const Blas& blas();

}  // namespace ctxwin::bench
