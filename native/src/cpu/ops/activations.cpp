// CPU kernels of swiglu / gelu_tanh / gelu_erf / tanh and their backwards
// (native/src/ops/activations.cpp). gelu_erf and tanh are plain loops over libm's erf / tanh in
// f64 (encoders' activations; memory-bound next to the GEMMs around them).
#include <cmath>

#include "cpu/ops/kernels.h"

namespace ctxwin::cpu {

namespace {

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

template <class F>
void unary(OpContext& c, F f) {
  map_pieces({c.in[0]}, {c.out[0]}, [&](const float* const* in, float* const* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[0][i] = (float)f((double)in[0][i]);
  });
}
template <class F>
void binary(OpContext& c, F f) {
  map_pieces({c.in[0], c.in[1]}, {c.out[0]}, [&](const float* const* in, float* const* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[0][i] = (float)f((double)in[0][i], (double)in[1][i]);
  });
}

}  // namespace

void register_activation_kernels() {
  register_kernel("cpu", "swiglu", [](OpContext& c) {
    const RowKernels& rk = row_kernels();
    map_pieces({c.in[0], c.in[1]}, {c.out[0]}, [&](const float* const* in, float* const* out, int64_t n) {
      rk.swiglu_fwd(in[0], in[1], out[0], n);
    });
  });
  register_kernel("cpu", "swiglu_backward", [](OpContext& c) {
    const RowKernels& rk = row_kernels();
    map_pieces({c.in[0], c.in[1], c.in[2]}, {c.out[0], c.out[1]},
               [&](const float* const* in, float* const* out, int64_t n) {
                 rk.swiglu_bwd(in[0], in[1], in[2], out[0], out[1], n);
               });
  });
  register_kernel("cpu", "gelu_tanh", [](OpContext& c) {
    const RowKernels& rk = row_kernels();
    map_pieces({c.in[0]}, {c.out[0]}, [&](const float* const* in, float* const* out, int64_t n) {
      rk.gelu_fwd(in[0], out[0], n);
    });
  });
  register_kernel("cpu", "gelu_tanh_backward", [](OpContext& c) {
    const RowKernels& rk = row_kernels();
    map_pieces({c.in[0], c.in[1]}, {c.out[0]}, [&](const float* const* in, float* const* out, int64_t n) {
      rk.gelu_bwd(in[0], in[1], out[0], n);
    });
  });
  register_kernel("cpu", "gelu_erf", [](OpContext& c) { unary(c, [](double x) { return 0.5 * x * (1.0 + std::erf(x * kInvSqrt2)); }); });
  register_kernel("cpu", "gelu_erf_backward", [](OpContext& c) {
    binary(c, [](double dy, double x) { return dy * (0.5 * (1.0 + std::erf(x * kInvSqrt2)) + x * kInvSqrt2Pi * std::exp(-0.5 * x * x)); });
  });
  register_kernel("cpu", "tanh", [](OpContext& c) { unary(c, [](double x) { return std::tanh(x); }); });
  register_kernel("cpu", "tanh_backward", [](OpContext& c) { binary(c, [](double dy, double y) { return dy * (1.0 - y * y); }); });
}

}  // namespace ctxwin::cpu
