// CUDA kernel of adamw (native/src/ops/optim.cpp): in place on param, m, v.
//
// The step's scalars are computed on the host in f64 and rounded once, exactly as the CPU
// driver does. The clip coefficient depends on `norm`, which is device data produced by an
// earlier kernel (global_norm): a one-thread kernel turns it into the gradient multiplier on
// the device, so the host never waits for it. The element loop does the CPU's operations in
// the CPU's order with explicitly rounded intrinsics (no FMA contraction, IEEE sqrt and
// division whatever the build flags), so f32 results match the CPU's plain loop.
#include <cmath>

#include "cuda/ops/device_util.cuh"
#include "cuda/ops/kernels.h"

namespace ctxwin::cuda {

namespace {

constexpr int kThreads = 256;

// The CPU's AdamWStep (row_kernels.h), f32 scalars of one step.
struct AdamWScalars {
  float decay;  // 1 - lr * weightDecay
  float beta1, beta2;
  float one_minus_beta1, one_minus_beta2;
  float step_size;         // lr / (1 - beta1^step)
  float inv_bias_c2_sqrt;  // 1 / sqrt(1 - beta2^step)
  float eps;
  float grad_mul;  // gradScale (times the clip coefficient unless grad_mul_dev is given)
};

// *grad_mul = (float)(gradScale * min(1, maxNorm / (|gradScale| * norm + 1e-6))), in f64 as the
// CPU (a NaN quotient gives 1, like std::min(1.0, q)).
template <typename N>
__global__ void clip_kernel(const N* __restrict__ norm, double max_norm, double grad_scale, float* __restrict__ grad_mul) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  double eff = fabs(grad_scale) * (double)ld(norm, 0);
  double q = max_norm / (eff + 1e-6);
  double clip = q < 1.0 ? q : 1.0;
  *grad_mul = (float)(grad_scale * clip);
}

// One step on n elements; grad_mul_dev (when not null) overrides s.grad_mul.
template <typename P, typename G>
__global__ void adamw_kernel(P* __restrict__ p, const G* __restrict__ g, float* __restrict__ m, float* __restrict__ v,
                             size_t n, AdamWScalars s, const float* __restrict__ grad_mul_dev) {
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
  const Attrs& a = c.attrs;
  double lr = a.num("lr", 0.0), b1 = a.num("beta1", 0.9), b2 = a.num("beta2", 0.999);
  double step = a.num("step", 1.0), max_norm = a.num("maxNorm", 0.0), grad_scale = a.num("gradScale", 1.0);
  double eps = a.num("eps", 1e-8), wd = a.num("weightDecay", 0.01);
  AdamWScalars s;
  s.decay = (float)(1.0 - lr * wd);
  s.beta1 = (float)b1;
  s.beta2 = (float)b2;
  s.one_minus_beta1 = (float)(1.0 - b1);
  s.one_minus_beta2 = (float)(1.0 - b2);
  s.step_size = (float)(lr / (1.0 - std::pow(b1, step)));
  s.inv_bias_c2_sqrt = (float)(1.0 / std::sqrt(1.0 - std::pow(b2, step)));
  s.eps = (float)eps;
  s.grad_mul = (float)grad_scale;  // clip 1
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
