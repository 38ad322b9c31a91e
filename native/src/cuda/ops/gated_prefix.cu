// CUDA kernels of gated_prefix_attention and its backward (semantics and math:
// native/src/ops/gated_prefix.cpp; the CPU kernel native/src/cpu/ops/gated_prefix.cpp is the
// reference they mirror). One warp per row (b, t, h); lanes split the head dim. The prefix is
// small (tens of tokens), so the scores are recomputed instead of stored. The backward's sums
// over rows (dkp, dvp, dgate, dlambda) are atomic adds into zeroed outputs (their order, and so
// their last bits, vary between runs). f32 only (the OpDef checks).
#include "cuda/ops/device_util.cuh"
#include "cuda/ops/kernels.h"

namespace ctxwin::cuda {

namespace {

struct GpView {
  int B, T, H, D, P, Hkv, Tg, G;
  float scale;
  const float *q, *kp, *vp, *gate, *lambda, *o_r, *lse_r;
};

__device__ __forceinline__ float sigmoidf_(float z) { return 1.f / (1.f + expf(-z)); }

// Dot of two D-vectors across the warp (lanes take d = lane, lane + 32, ...).
__device__ __forceinline__ float warp_dot(const float* a, const float* b, int D, int lane) {
  float s = 0.f;
  for (int d = lane; d < D; d += 32) s += a[d] * b[d];
  return warp_sum(s);
}

__global__ void gp_forward_kernel(GpView v, float* __restrict__ out, float* __restrict__ lse) {
  const int lane = threadIdx.x & 31;
  const long long row = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;  // (b * T + t) * H + h
  if (row >= (long long)v.B * v.T * v.H) return;
  const int h = (int)(row % v.H);
  const long long bt = row / v.H;
  const int t = (int)(bt % v.T), b = (int)(bt / v.T), hk = h / v.G;
  const size_t at = (size_t)row * v.D;
  const size_t li = ((size_t)b * v.H + h) * v.T + t;
  const float* g = v.gate + ((size_t)b * v.Tg + (v.Tg == 1 ? 0 : t)) * v.P;
  const float lam = v.lambda[0];
  const float lr = v.lse_r[li];
  if (lr == -INFINITY) {  // padding row
    for (int d = lane; d < v.D; d += 32) out[at + d] = 0.f;
    if (lane == 0) lse[li] = -INFINITY;
    return;
  }
  // pass 1: max and sum
  float m = lr;
  for (int p = 0; p < v.P; ++p) {
    const float s = v.scale * lam * sigmoidf_(g[p]) * warp_dot(v.q + at, v.kp + ((size_t)p * v.Hkv + hk) * v.D, v.D, lane);
    m = fmaxf(m, s);
  }
  float z = expf(lr - m);
  for (int p = 0; p < v.P; ++p) {
    const float s = v.scale * lam * sigmoidf_(g[p]) * warp_dot(v.q + at, v.kp + ((size_t)p * v.Hkv + hk) * v.D, v.D, lane);
    z += expf(s - m);
  }
  const float l = m + logf(z);
  const float wr = expf(lr - l);
  for (int d = lane; d < v.D; d += 32) out[at + d] = wr * v.o_r[at + d];
  for (int p = 0; p < v.P; ++p) {
    const float c = lam * sigmoidf_(g[p]);
    const float* kr = v.kp + ((size_t)p * v.Hkv + hk) * v.D;
    const float* vr = v.vp + ((size_t)p * v.Hkv + hk) * v.D;
    const float w = expf(v.scale * c * warp_dot(v.q + at, kr, v.D, lane) - l) * c;
    for (int d = lane; d < v.D; d += 32) out[at + d] += w * vr[d];
  }
  if (lane == 0) lse[li] = l;
}

struct GpGrads {
  const float *out, *lse, *dout;
  float *dq, *dkp, *dvp, *dgate, *dlambda, *do_r, *dlse_r;
};

__global__ void gp_backward_kernel(GpView v, GpGrads gr) {
  const int lane = threadIdx.x & 31;
  const long long row = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  if (row >= (long long)v.B * v.T * v.H) return;
  const int h = (int)(row % v.H);
  const long long bt = row / v.H;
  const int t = (int)(bt % v.T), b = (int)(bt / v.T), hk = h / v.G;
  const size_t at = (size_t)row * v.D;
  const size_t li = ((size_t)b * v.H + h) * v.T + t;
  const size_t grow = ((size_t)b * v.Tg + (v.Tg == 1 ? 0 : t)) * v.P;
  const float* g = v.gate + grow;
  const float lam = v.lambda[0];
  const float lr = v.lse_r[li], l = gr.lse[li];
  const float* qr = v.q + at;
  const float* dor = gr.dout + at;
  if (lr == -INFINITY || l == -INFINITY) {
    for (int d = lane; d < v.D; d += 32) gr.dq[at + d] = gr.do_r[at + d] = 0.f;
    if (lane == 0) gr.dlse_r[li] = 0.f;
    return;
  }
  const float delta = warp_dot(dor, gr.out + at, v.D, lane);
  const float wr = expf(lr - l);
  for (int d = lane; d < v.D; d += 32) {
    gr.do_r[at + d] = wr * dor[d];
    gr.dq[at + d] = 0.f;
  }
  const float dlr = wr * (warp_dot(dor, v.o_r + at, v.D, lane) - delta);
  if (lane == 0) gr.dlse_r[li] = dlr;
  for (int p = 0; p < v.P; ++p) {
    const float a = sigmoidf_(g[p]);
    const float c = lam * a;
    const size_t kat = ((size_t)p * v.Hkv + hk) * v.D;
    const float qk = warp_dot(qr, v.kp + kat, v.D, lane);
    const float pi = expf(v.scale * c * qk - l);
    const float dvd = warp_dot(dor, v.vp + kat, v.D, lane);
    const float ds = pi * (c * dvd - delta);
    for (int d = lane; d < v.D; d += 32) {
      atomicAdd(gr.dvp + kat + d, pi * c * dor[d]);
      atomicAdd(gr.dkp + kat + d, ds * v.scale * c * qr[d]);
      gr.dq[at + d] += ds * v.scale * c * v.kp[kat + d];
    }
    if (lane == 0) {
      const float dc = pi * dvd + ds * v.scale * qk;
      atomicAdd(gr.dlambda, a * dc);
      atomicAdd(gr.dgate + grow + p, lam * dc * a * (1.f - a));
    }
  }
}

GpView view_of(OpContext& c) {
  const Storage& q = *c.in[0];
  GpView v{};
  v.B = (int)q.shape()[0];
  v.T = (int)q.shape()[1];
  v.H = (int)q.shape()[2];
  v.D = (int)q.shape()[3];
  v.P = (int)c.in[1]->shape()[0];
  v.Hkv = (int)c.in[1]->shape()[1];
  v.Tg = (int)c.in[3]->shape()[1];
  v.G = v.H / v.Hkv;
  v.scale = (float)c.attrs.num("softmaxScale", 1.0);
  v.q = (const float*)c.in[0]->data();
  v.kp = (const float*)c.in[1]->data();
  v.vp = (const float*)c.in[2]->data();
  v.gate = (const float*)c.in[3]->data();
  v.lambda = (const float*)c.in[4]->data();
  v.o_r = (const float*)c.in[5]->data();
  v.lse_r = (const float*)c.in[6]->data();
  return v;
}

constexpr int kThreads = 256;  // 8 warps, 8 rows per block

void forward_op(OpContext& c) {
  GpView v = view_of(c);
  size_t rows = (size_t)v.B * v.T * v.H;
  if (rows == 0) return;
  gp_forward_kernel<<<grid_for(rows * 32, kThreads, 1u << 30), kThreads, 0, device_stream()>>>(v, (float*)c.out[0]->data(), (float*)c.out[1]->data());
  check_launch("gated_prefix_attention forward");
}

void backward_op(OpContext& c) {
  GpView v = view_of(c);
  size_t rows = (size_t)v.B * v.T * v.H;
  GpGrads gr{(const float*)c.in[7]->data(), (const float*)c.in[8]->data(), (const float*)c.in[9]->data(),
             (float*)c.out[0]->data(), (float*)c.out[1]->data(), (float*)c.out[2]->data(), (float*)c.out[3]->data(),
             (float*)c.out[4]->data(), (float*)c.out[5]->data(), (float*)c.out[6]->data()};
  cudaStream_t s = device_stream();
  for (int i : {1, 2, 3, 4}) check_cuda(cudaMemsetAsync(c.out[i]->data(), 0, (size_t)c.out[i]->numel() * sizeof(float), s), "cudaMemsetAsync");
  if (rows == 0) return;
  gp_backward_kernel<<<grid_for(rows * 32, kThreads, 1u << 30), kThreads, 0, s>>>(v, gr);
  check_launch("gated_prefix_attention backward");
}

}  // namespace

void register_gated_prefix_kernels() {
  register_kernel("cuda", "gated_prefix_attention", forward_op);
  register_kernel("cuda", "gated_prefix_attention_backward", backward_op);
}

}  // namespace ctxwin::cuda
