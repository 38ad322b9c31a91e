// The CUDA GEMM behind the matmul op (matmul.cu): one row-major problem description shared by
// the two backends, cuBLAS (loaded at run time by cublas_loader.cpp, never linked) and the
// library-free fallback kernels (gemm_fallback.cu).
//
//   D[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C[M,N]      (every product summed in f32)
//   A: [M,K] row-major, or with trans_a [K,M] (op(A) = A^T);  B: [K,N], or with trans_b [N,K]
//   C: null, or [M,N] row-major of any dtype (read only when beta != 0); D: [M,N] row-major
// A, B and D may each be f32, bf16 or f16; D never aliases A, B or C.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "ctxwin/dtype.h"

namespace ctxwin::cuda {

struct GemmProblem {
  int64_t M = 0, N = 0, K = 0;
  const void* a = nullptr;
  DType a_dtype = DType::F32;
  bool trans_a = false;
  const void* b = nullptr;
  DType b_dtype = DType::F32;
  bool trans_b = false;
  float alpha = 1.f, beta = 0.f;
  const void* c = nullptr;  // null when beta == 0
  DType c_dtype = DType::F32;
  void* d = nullptr;
  DType d_dtype = DType::F32;
};

// The library-free kernels (gemm_fallback.cu). Needs M, N, K >= 1. Enqueues on `stream`
// (scratch from the device pool when an operand must be widened) and returns without waiting.
// Deterministic: every output element is summed in the same fixed order on every run.
void gemm_fallback(const GemmProblem& p, cudaStream_t stream);

// Which GEMM the matmul op uses, for diagnostics: "cublas 13.0.2 (<the file loaded>, <why it was
// tried: CTXWIN_CUBLAS_PATH / the dynamic loader's search / python site-packages>)",
// "fallback (CTXWIN_CUBLAS=0)", "fallback (libcublas.so.13, libcublas.so.12, libcublas.so not
// usable: ...)", or, before the first matmul on a CUDA tensor, "not chosen yet (the first matmul
// loads cuBLAS)". Any thread.
const char* gemm_backend_name();

}  // namespace ctxwin::cuda
