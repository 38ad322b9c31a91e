// The CPU GEMM: C[M,N] (f32) = alpha * op(A) * op(B) + beta * C, blocked and packed (BLIS
// style: KC x NC panels of B, MC x KC blocks of A, an MR x NR register micro-kernel), threaded
// over output tiles with ThreadPool::global(), no system library.
//
// Operands are strided views of f32/bf16/f16 storage, so a transpose is only a swap of strides:
//   A(i, k) = A.data[i * A.rs + k * A.cs]      (i < M, k < K)
//   B(k, j) = B.data[k * B.rs + j * B.cs]      (k < K, j < N)
// Half-type operands are widened to f32 while packing; every product accumulates in f32.
//
// Three builds of the packing routines and micro-kernels (gemm_impl.h, each in its own
// namespace): generic (cpu/ops/gemm_generic.cpp, 4-lane vector extensions), avx2 (6x16, FMA)
// and avx512 (12x32). The driver (cpu/ops/gemm.cpp) picks the build of active_cpu_isa().
#pragma once
#include <cstdint>

#include "ctxwin/dtype.h"

namespace ctxwin::cpu {

struct GemmOperand {
  const void* data = nullptr;
  DType dtype = DType::F32;
  int64_t rs = 0;  // stride of the first index (A: row i, B: k)
  int64_t cs = 0;  // stride of the second index (A: k, B: column j)
};

// C (row stride ldc, f32) = alpha * A * B + beta * C. beta == 0 never reads C (it may hold
// garbage). Threads over output tiles; call from one thread at a time per ThreadPool (the CPU
// device queue's worker).
void gemm(int64_t M, int64_t N, int64_t K, float alpha, const GemmOperand& A, const GemmOperand& B, float beta,
          float* C, int64_t ldc);

// Same, single-threaded (for callers that are already inside a parallel_for).
void gemm_serial(int64_t M, int64_t N, int64_t K, float alpha, const GemmOperand& A, const GemmOperand& B,
                 float beta, float* C, int64_t ldc);

// The name of the micro-kernel build gemm() uses now ("avx512 12x32", "avx2 6x16", "generic 6x8").
const char* gemm_kernel_name();

// One build's kernels (gemm_impl.h). Plain data + function pointers: nothing ISA-specific
// crosses this boundary.
struct GemmKernels {
  const char* name;
  int mr, nr;      // register tile
  int mc, kc, nc;  // cache blocks (mc % mr == 0, nc % nr == 0)
  // Packs rows [i0, i0+m) x k [k0, k0+kc) of A into ceil(m/mr) panels of mr x kc (k-major:
  // dst[p*mr*kc + k*mr + i]), rows past m zero.
  void (*pack_a)(const GemmOperand& A, int64_t i0, int64_t m, int64_t k0, int64_t kc, float* dst);
  // Packs k [k0, k0+kc) x columns [j0, j0+n) of B into ceil(n/nr) panels of kc x nr
  // (dst[p*nr*kc + k*nr + j]), columns past n zero.
  void (*pack_b)(const GemmOperand& B, int64_t k0, int64_t kc, int64_t j0, int64_t n, float* dst);
  // C[0:m, 0:n] = alpha * Ap * Bp + beta * C (m <= mr, n <= nr; beta == 0: C not read).
  void (*micro)(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, float alpha, float beta, int m,
                int n);
  // Small-M path without packing: rows x[r][0:K] (f32, contiguous, r < rows <= 4) times
  // B(:, j0:j0+n) into C[r][0:n] (row stride ldc): C = alpha * x B + beta * C.
  void (*gemv)(int rows, int64_t K, const float* x, const GemmOperand& B, int64_t j0, int64_t n, float alpha,
               float beta, float* C, int64_t ldc);
};

namespace gemm_generic {
const GemmKernels& kernels();
}
namespace gemm_avx2 {
const GemmKernels& kernels();  // only on x86-64 builds; only call when the CPU has AVX2+FMA+F16C
}
namespace gemm_avx512 {
const GemmKernels& kernels();  // only on x86-64 builds; only call when the CPU has AVX-512 F/BW/DQ/VL
}

}  // namespace ctxwin::cpu
