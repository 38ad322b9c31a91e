// CUDA kernel of adamw (native/src/ops/optim.cpp): in place on param, m, v.
//
// The step's scalars come from adamw_step (ops/adamw_step.h, shared with the CPU kernel): f64,
// rounded once. The clip coefficient depends on `norm`, which is device data produced by an
// earlier kernel (global_norm): a one-thread kernel turns it into the gradient multiplier on
// the device, so the host never waits for it. The element loop does the CPU's operations in
// the CPU's order with explicitly rounded intrinsics (no FMA contraction, IEEE sqrt and
// division whatever the build flags), so f32 results match the CPU's plain loop.
#include <cmath>

#include "cuda/ops/device_util.cuh"
#include "cuda/ops/kernels.h"
#include "ops/adamw_step.h"

namespace ctxwin::cuda {

namespace {

constexpr int kThreads = 256;

// *grad_mul = (float)(gradScale * adamw_clip(...)): the CPU's grad_mul, from the norm on the device.
template <typename N>
__global__ void clip_kernel(const N* __restrict__ norm, double max_norm, double grad_scale, float* __restrict__ grad_mul) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  *grad_mul = (float)(grad_scale * adamw_clip(max_norm, grad_scale, ld(norm, 0)));
}

// One step on n elements; grad_mul_dev (when not null) overrides s.grad_mul.
template <typename P, typename G>
__global__ void adamw_kernel(P* __restrict__ p, const G* __restrict__ g, float* __restrict__ m, float* __restrict__ v,
                             size_t n, AdamWStep s, const float* __restrict__ grad_mul_dev) {
  const float gm = grad_mul_dev ? *grad_mul_dev : s.grad_mul;
  size_t stride = (size_t)gridDim.x * blockDim.x;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    float gi = __fmul_rn(ld(g, i), gm);
    float mi = __fadd_rn(__fmul_rn(s.beta1, m[i]), __fmul_rn(s.one_minus_beta1, gi));
    float vi = __fadd_rn(__fmul_rn(s.beta2, v[i]), __fmul_rn(__fmul_rn(s.one_minus_beta2, gi), gi));
    m[i] = mi;
    v[i] = vi;
    float denom = __fadd_rn(__fmul_rn(__fsqrt_rn(vi), s.inv_bias_c2_sqrt), s.eps);
    float pi = ld(p, i);
    st(p, i, __fsub_rn(__fmul_rn(pi, s.decay), __fdiv_rn(__fmul_rn(s.step_size, mi), denom)));
  }
}

void adamw_op(OpContext& c) {
  Storage& p = *c.in[0];
  const Storage& g = *c.in[1];
  float* m = (float*)c.in[2]->data();
  float* v = (float*)c.in[3]->data();
  const Storage* norm_t = c.in.size() > 4 ? c.in[4] : nullptr;
  double max_norm = c.attrs.num("maxNorm", 0.0), grad_scale = c.attrs.num("gradScale", 1.0);
  const AdamWStep s = adamw_step(c.attrs, 1.0);  // grad_mul = gradScale: clip 1 unless the device says otherwise
  size_t n = (size_t)p.numel();
  if (n == 0) return;
  cudaStream_t stream = device_stream();
  bool clip = max_norm > 0 && norm_t;
  DeviceScratch grad_mul(clip ? sizeof(float) : 0);
  if (clip) {
    dispatch_dtype(norm_t->dtype(), [&](auto nv) {
      using N = decltype(nv);
      clip_kernel<N><<<1, 32, 0, stream>>>((const N*)norm_t->data(), max_norm, grad_scale, grad_mul.as<float>());
      check_launch("adamw clip_kernel");
    });
  }
  dispatch_dtype(p.dtype(), [&](auto pv) {
    using P = decltype(pv);
    dispatch_dtype(g.dtype(), [&](auto gv) {
      using G = decltype(gv);
      adamw_kernel<P, G><<<grid_for(n, kThreads), kThreads, 0, stream>>>((P*)p.data(), (const G*)g.data(), m, v, n, s,
                                                                          grad_mul.as<float>());
      check_launch("adamw_kernel");
    });
  });
}

}  // namespace

void register_optim_kernels() { register_kernel("cuda", "adamw", adamw_op); }

}  // namespace ctxwin::cuda
