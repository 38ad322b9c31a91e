// The inner loops of the CPU op kernels (norms, activations, softmax, cross-entropy, AdamW,
// conversions), written once in row_kernels_impl.h as plain loops the compiler vectorises and
// compiled three times: generic (cpu/ops/row_kernels_generic.cpp), avx2 (avx2/ops_avx2.cpp),
// avx512 (avx512/ops_avx512.cpp). Each build exports one table of function pointers; the op
// drivers (cpu/ops/<family>.cpp: threading, dtype handling, validation) call row_kernels(),
// the build of active_cpu_isa(). Same reasoning as attention_kernels.h: no inline/std symbol is
// shared between instruction sets.
//
// Every pointer is f32 and contiguous unless the signature says otherwise; `n` is a row length.
#pragma once
#include <cstdint>

#include "ctxwin/dtype.h"
#include "ops/adamw_step.h"

namespace ctxwin::cpu {

struct RowKernels {
  const char* name;
  // dtype conversion of n values (f32 -> f32 copies).
  void (*to_f32)(DType t, const void* src, float* dst, int64_t n);
  void (*from_f32)(DType t, const float* src, void* dst, int64_t n);

  // y = x * rstd * w; returns rstd = 1 / sqrt(mean(x^2) + eps).
  float (*rmsnorm_fwd)(const float* x, const float* w, float* y, int64_t n, float eps);
  // dx = rstd * (w*dy - x * rstd^2 * mean(w*dy*x)); dw_acc += dy * x * rstd.
  void (*rmsnorm_bwd)(const float* dy, const float* x, const float* w, float rstd, float* dx, float* dw_acc,
                      int64_t n);
  // y = (x - mean) * rstd * w + b (b may be null).
  void (*layernorm_fwd)(const float* x, const float* w, const float* b, float* y, int64_t n, float eps, float* mean,
                        float* rstd);
  // xhat = (x - mean) rstd, g = dy w: dx = rstd (g - mean(g) - xhat mean(g xhat));
  // dw_acc += dy xhat, db_acc += dy.
  void (*layernorm_bwd)(const float* dy, const float* x, const float* w, float mean, float rstd, float* dx,
                        float* dw_acc, float* db_acc, int64_t n);

  // y = softmax(x) (y may equal x).
  void (*softmax)(const float* x, float* y, int64_t n);
  // Returns logsumexp(x) - x[target]; if dx: dx = (softmax(x) - onehot(target)) * scale (dx may
  // equal x). target in [0, n).
  double (*xent)(const float* x, int64_t n, int64_t target, float* dx, float scale);

  // y = silu(g) * u;   dg = dy * u * silu'(g), du = dy * silu(g).
  void (*swiglu_fwd)(const float* g, const float* u, float* y, int64_t n);
  void (*swiglu_bwd)(const float* dy, const float* g, const float* u, float* dg, float* du, int64_t n);
  // tanh-GELU and its derivative.
  void (*gelu_fwd)(const float* x, float* y, int64_t n);
  void (*gelu_bwd)(const float* dy, const float* x, float* dx, int64_t n);

  // Elementwise: y = a + b, y = a * b, y = alpha * a, y[i] += a[i] (accumulate), y = value.
  void (*add)(const float* a, const float* b, float* y, int64_t n);
  void (*mul)(const float* a, const float* b, float* y, int64_t n);
  void (*scale)(const float* a, float alpha, float* y, int64_t n);
  void (*acc)(const float* a, float* y, int64_t n);
  // Reductions (f32 lanes, f64 across blocks).
  double (*sum)(const float* a, int64_t n);
  double (*sumsq)(const float* a, int64_t n);

  // One AdamW step on n elements (p, m, v f32 in place; g the raw gradient).
  void (*adamw)(float* p, const float* g, float* m, float* v, int64_t n, const AdamWStep& s);
};

namespace rowk_generic {
const RowKernels& kernels();
}
namespace rowk_avx2 {
const RowKernels& kernels();  // x86-64 builds only; only when the CPU has AVX2+FMA+F16C
}
namespace rowk_avx512 {
const RowKernels& kernels();  // x86-64 builds only; only when the CPU has AVX-512
}

// The build of active_cpu_isa().
const RowKernels& row_kernels();

}  // namespace ctxwin::cpu
