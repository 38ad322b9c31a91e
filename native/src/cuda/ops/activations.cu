// CUDA kernels of swiglu / gelu_tanh and their backwards (semantics: native/src/ops/activations.cpp;
// reference: the row kernels of native/src/cpu/ops/row_kernels_impl.h, whose formulas and
// operation order are mirrored here, including gelu's clamp of the polynomial's x to [-20, 20]).
//
// Elementwise grid-stride loops, memory-bound. Outputs take the first input's dtype; the other
// inputs are read through rowops sources (typed when they share that dtype, else run-time typed),
// so mixed-dtype calls work without instantiating every combination.
#include "cuda/ops/kernels.h"
#include "cuda/ops/row_ops.cuh"

namespace ctxwin::cuda {

namespace {

using rowops::dispatch_sources;

// expf (not __expf): full precision; saturates to 0 / 1 for large |x| like the CPU's sigmoid_.
__device__ __forceinline__ float sigmoid_f32(float x) { return 1.f / (1.f + expf(-x)); }

constexpr float kGeluC = 0.7978845608028654f;  // sqrt(2/pi)
constexpr float kGeluA = 0.044715f;

// Beyond [-20, 20] sigmoid(2u) is exactly 0 or 1 in f32; the clamp keeps x^3 finite. Comparisons,
// not fminf/fmaxf, so a NaN passes through (its gradient stays NaN, as on the CPU).
__device__ __forceinline__ float gelu_clamp(float v) {
  v = v < -20.f ? -20.f : v;
  return v > 20.f ? 20.f : v;
}

template <typename T, typename S>
__global__ void swiglu_kernel(const T* __restrict__ g, S u, T* __restrict__ y, size_t n) {
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    float gi = ld(g, i);
    st(y, i, gi * sigmoid_f32(gi) * u[i]);
  }
}

// dg = dy * u * silu'(g), du = dy * silu(g).
template <typename T, typename S>
__global__ void swiglu_bwd_kernel(const T* __restrict__ dy, S g, S u, T* __restrict__ dg, T* __restrict__ du,
                                  size_t n) {
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    float gi = g[i], s = sigmoid_f32(gi), d = ld(dy, i);
    float silu = gi * s;
    float dsilu = s * (1.f + gi * (1.f - s));
    st(dg, i, d * u[i] * dsilu);
    st(du, i, d * silu);
  }
}

// gelu(x) = x * sigmoid(2u), u = c (x + a x^3) (= 0.5 x (1 + tanh(u))).
template <typename T>
__global__ void gelu_kernel(const T* __restrict__ x, T* __restrict__ y, size_t n) {
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    float v = ld(x, i), c = gelu_clamp(v);
    float u = kGeluC * (c + kGeluA * c * c * c);
    st(y, i, v * sigmoid_f32(2.f * u));
  }
}

// d/dx = s + 2 x s (1 - s) c (1 + 3a x^2), s = sigmoid(2u) (x clamped as in the forward).
template <typename T, typename S>
__global__ void gelu_bwd_kernel(const T* __restrict__ dy, S x, T* __restrict__ dx, size_t n) {
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    float v = gelu_clamp(x[i]);
    float u = kGeluC * (v + kGeluA * v * v * v);
    float s = sigmoid_f32(2.f * u);
    float d = s + 2.f * v * s * (1.f - s) * kGeluC * (1.f + 3.f * kGeluA * v * v);
    st(dx, i, ld(dy, i) * d);
  }
}

// gelu_erf(x) = 0.5 x (1 + erf(x / sqrt 2)); d/dx = Phi(x) + x phi(x).
template <typename T>
__global__ void gelu_erf_kernel(const T* __restrict__ x, T* __restrict__ y, size_t n) {
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    float v = ld(x, i);
    st(y, i, 0.5f * v * (1.f + erff(v * 0.70710678118654752f)));
  }
}
template <typename T, typename S>
__global__ void gelu_erf_bwd_kernel(const T* __restrict__ dy, S x, T* __restrict__ dx, size_t n) {
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    float v = x[i];
    float d = 0.5f * (1.f + erff(v * 0.70710678118654752f)) + v * 0.39894228040143268f * expf(-0.5f * v * v);
    st(dx, i, ld(dy, i) * d);
  }
}
template <typename T>
__global__ void tanh_kernel(const T* __restrict__ x, T* __restrict__ y, size_t n) {
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
    st(y, i, tanhf(ld(x, i)));
}
// dx = dy (1 - y^2), y the forward's output.
template <typename T, typename S>
__global__ void tanh_bwd_kernel(const T* __restrict__ dy, S y, T* __restrict__ dx, size_t n) {
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    float t = y[i];
    st(dx, i, ld(dy, i) * (1.f - t * t));
  }
}

constexpr int kThreads = 256;

void swiglu_op(OpContext& c) {
  const Storage &g = *c.in[0], &u = *c.in[1];
  Storage& y = *c.out[0];
  size_t n = (size_t)g.numel();
  if (n == 0) return;
  dispatch_sources(g.dtype(), {&u}, [&](auto tv, auto sv) {
    using T = decltype(tv);
    using S = decltype(sv);
    swiglu_kernel<T, S><<<grid_for(n, kThreads), kThreads, 0, device_stream()>>>((const T*)g.data(), S::from(&u),
                                                                                  (T*)y.data(), n);
    check_launch("swiglu_kernel");
  });
}

void swiglu_backward_op(OpContext& c) {
  const Storage &dy = *c.in[0], &g = *c.in[1], &u = *c.in[2];
  Storage &dg = *c.out[0], &du = *c.out[1];
  size_t n = (size_t)dy.numel();
  if (n == 0) return;
  dispatch_sources(dy.dtype(), {&g, &u}, [&](auto tv, auto sv) {
    using T = decltype(tv);
    using S = decltype(sv);
    swiglu_bwd_kernel<T, S><<<grid_for(n, kThreads), kThreads, 0, device_stream()>>>(
        (const T*)dy.data(), S::from(&g), S::from(&u), (T*)dg.data(), (T*)du.data(), n);
    check_launch("swiglu_bwd_kernel");
  });
}

void gelu_op(OpContext& c) {
  const Storage& x = *c.in[0];
  Storage& y = *c.out[0];
  size_t n = (size_t)x.numel();
  if (n == 0) return;
  dispatch_dtype(x.dtype(), [&](auto tv) {
    using T = decltype(tv);
    gelu_kernel<T><<<grid_for(n, kThreads), kThreads, 0, device_stream()>>>((const T*)x.data(), (T*)y.data(), n);
    check_launch("gelu_kernel");
  });
}

void gelu_backward_op(OpContext& c) {
  const Storage &dy = *c.in[0], &x = *c.in[1];
  Storage& dx = *c.out[0];
  size_t n = (size_t)dy.numel();
  if (n == 0) return;
  dispatch_sources(dy.dtype(), {&x}, [&](auto tv, auto sv) {
    using T = decltype(tv);
    using S = decltype(sv);
    gelu_bwd_kernel<T, S><<<grid_for(n, kThreads), kThreads, 0, device_stream()>>>((const T*)dy.data(), S::from(&x),
                                                                                    (T*)dx.data(), n);
    check_launch("gelu_bwd_kernel");
  });
}

template <template <typename> class K>
void unary_op(OpContext& c, const char* name) {
  const Storage& x = *c.in[0];
  Storage& y = *c.out[0];
  size_t n = (size_t)x.numel();
  if (n == 0) return;
  dispatch_dtype(x.dtype(), [&](auto tv) {
    using T = decltype(tv);
    K<T>::launch((const T*)x.data(), (T*)y.data(), n);
    check_launch(name);
  });
}

template <typename T>
struct GeluErf {
  static void launch(const T* x, T* y, size_t n) { gelu_erf_kernel<T><<<grid_for(n, kThreads), kThreads, 0, device_stream()>>>(x, y, n); }
};
template <typename T>
struct Tanh {
  static void launch(const T* x, T* y, size_t n) { tanh_kernel<T><<<grid_for(n, kThreads), kThreads, 0, device_stream()>>>(x, y, n); }
};

void gelu_erf_backward_op(OpContext& c) {
  const Storage &dy = *c.in[0], &x = *c.in[1];
  Storage& dx = *c.out[0];
  size_t n = (size_t)dy.numel();
  if (n == 0) return;
  dispatch_sources(dy.dtype(), {&x}, [&](auto tv, auto sv) {
    using T = decltype(tv);
    using S = decltype(sv);
    gelu_erf_bwd_kernel<T, S><<<grid_for(n, kThreads), kThreads, 0, device_stream()>>>((const T*)dy.data(), S::from(&x), (T*)dx.data(), n);
    check_launch("gelu_erf_bwd_kernel");
  });
}

void tanh_backward_op(OpContext& c) {
  const Storage &dy = *c.in[0], &y = *c.in[1];
  Storage& dx = *c.out[0];
  size_t n = (size_t)dy.numel();
  if (n == 0) return;
  dispatch_sources(dy.dtype(), {&y}, [&](auto tv, auto sv) {
    using T = decltype(tv);
    using S = decltype(sv);
    tanh_bwd_kernel<T, S><<<grid_for(n, kThreads), kThreads, 0, device_stream()>>>((const T*)dy.data(), S::from(&y), (T*)dx.data(), n);
    check_launch("tanh_bwd_kernel");
  });
}

}  // namespace

void register_activation_kernels() {
  register_kernel("cuda", "gelu_erf", [](OpContext& c) { unary_op<GeluErf>(c, "gelu_erf_kernel"); });
  register_kernel("cuda", "gelu_erf_backward", gelu_erf_backward_op);
  register_kernel("cuda", "tanh", [](OpContext& c) { unary_op<Tanh>(c, "tanh_kernel"); });
  register_kernel("cuda", "tanh_backward", tanh_backward_op);
  register_kernel("cuda", "swiglu", swiglu_op);
  register_kernel("cuda", "swiglu_backward", swiglu_backward_op);
  register_kernel("cuda", "gelu_tanh", gelu_op);
  register_kernel("cuda", "gelu_tanh_backward", gelu_backward_op);
}

}  // namespace ctxwin::cuda
