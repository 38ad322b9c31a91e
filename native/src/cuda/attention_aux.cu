// Small memory-bound kernels around the attention kernels:
//   combine     split-K forward: o = sum_s 2^(m_s - M) acc_s / sum_s 2^(m_s - M) l_s, lse = M ln2 + ln L
//   delta       backward preprocess: Delta[b, h, i] = sum_d dO[b, i, h, d] * O[b, i, h, d] - dLse[b, h, i]
//               (0 on padding rows, whose P is 0: a non-finite dO or dLse there must not reach dS)
//   dq_finish   backward: dq = RoPE^T(dq_acc) converted to the dtype
// One warp per row for the first two (4 rows per 128-thread block), one thread per element for
// the last.
#include "cuda/attention_device.cuh"
#include "cuda/attention_kernels.h"
#include "cuda/attention_tiling.h"
#include "cuda/cuda_check.h"

namespace ctxwin::cuda {

namespace {

using namespace attn;

constexpr int kMaxSplits = 128;

template <typename T>
__global__ void __launch_bounds__(128) combine_kernel(const __grid_constant__ AttnFwdArgs a) {
  __shared__ float w[4][kMaxSplits];
  const AttentionParams& P = a.prm;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const size_t rows_all = (size_t)P.B * P.Hq * P.Tq;
  const size_t rg = (size_t)blockIdx.x * 4 + warp;
  if (rg >= rows_all) return;
  const int D = P.D, S = a.splits;
  float M = -INFINITY;
  for (int s = 0; s < S; ++s) M = fmaxf(M, a.part_ml[((size_t)s * rows_all + rg) * 2]);
  float L = 0.f;
  for (int s = lane; s < S; s += 32) {
    const float ms = a.part_ml[((size_t)s * rows_all + rg) * 2];
    const float ws = (M == -INFINITY || ms == -INFINITY) ? 0.f : exp2f(ms - M);
    w[warp][s] = ws;
    L += ws * a.part_ml[((size_t)s * rows_all + rg) * 2 + 1];
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) L += __shfl_xor_sync(0xffffffffu, L, o);
  __syncwarp();
  const float inv = L > 0.f ? 1.f / L : 0.f;
  // rg = (b * Hq + h) * Tq + i
  const int i = (int)(rg % P.Tq);
  const size_t bh = rg / P.Tq;
  const int h = (int)(bh % P.Hq), b = (int)(bh / P.Hq);
  T* orow = static_cast<T*>(P.o) + (((size_t)b * P.Tq + i) * P.Hq + h) * D;
  for (int d = lane; d < D; d += 32) {
    float acc = 0.f;
    for (int s = 0; s < S; ++s) acc += w[warp][s] * a.part_o[((size_t)s * rows_all + rg) * D + d];
    orow[d] = Elem<T>::from_f(acc * inv);
  }
  if (lane == 0) P.lse[rg] = L > 0.f ? M * kLn2 + logf(L) : -INFINITY;
}

template <typename T>
__global__ void __launch_bounds__(128) delta_kernel(const __grid_constant__ AttentionParams prm, const T* __restrict__ o,
                                                     const T* __restrict__ dout, const float* __restrict__ dlse,
                                                     float* __restrict__ delta) {
  const int Tq = prm.Tq, Hq = prm.Hq, D = prm.D;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const size_t row = (size_t)blockIdx.x * 4 + warp;  // (b * Tq + i) * Hq + h
  if (row >= (size_t)prm.B * Tq * Hq) return;
  const T* orow = o + row * D;
  const T* drow = dout + row * D;
  float s = 0.f;
  for (int d = lane; d < D; d += 32) s += Elem<T>::to_f(orow[d]) * Elem<T>::to_f(drow[d]);
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
  if (lane == 0) {
    const int h = (int)(row % Hq);
    const size_t bi = row / Hq;
    const int i = (int)(bi % Tq), b = (int)(bi / Tq);
    const size_t at = ((size_t)b * Hq + h) * Tq + i;
    if (attn_row_is_padding(prm, b, prm.query_offset + i))
      delta[at] = 0.f;
    else
      delta[at] = dlse ? s - dlse[at] : s;  // an lse gradient shifts delta (attention_params.h)
  }
}

template <typename T>
__global__ void __launch_bounds__(256) dq_finish_kernel(const __grid_constant__ AttnBwdArgs a) {
  const AttentionBwdParams& P = a.prm;
  const size_t n = (size_t)P.B * P.Tq * P.Hq * P.D;
  const size_t stride = (size_t)gridDim.x * blockDim.x;
  for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < n; idx += stride) {
    const int d = (int)(idx % P.D);
    const size_t row = idx / P.D;  // (b * Tq + i) * Hq + h
    const float* acc = a.dq_acc + row * P.D;
    float x = acc[d];
    if (a.rope) {
      const int i = (int)((row / P.Hq) % P.Tq);
      const int pos = P.query_offset + i;
      auto gr = [&](int e) { return acc[e]; };
      x = rope_bwd_elem(gr, d, a.half, P.rope_cos + (size_t)pos * a.half, P.rope_sin + (size_t)pos * a.half);
    }
    static_cast<T*>(P.dq)[idx] = Elem<T>::from_f(x);
  }
}

template <typename F>
void with_type(DType t, F&& f) {
  switch (t) {
    case DType::F32: f(float{}); return;
    case DType::BF16: f(__nv_bfloat16{}); return;
    case DType::F16: f(__half{}); return;
  }
  throw Error("ERR_DTYPE", "attention: unknown dtype " + std::to_string((int)t));
}

}  // namespace

void launch_fwd_combine(const AttnFwdArgs& a, cudaStream_t s) {
  if (a.splits > kMaxSplits) throw Error("ERR_INTERNAL", "attention: too many splits");
  const size_t rows_all = (size_t)a.prm.B * a.prm.Hq * a.prm.Tq;
  if (rows_all == 0) return;
  const size_t blocks = (rows_all + 3) / 4;
  if (blocks > 0x7fffffffu) throw Error("ERR_ARG", "attention: too many rows");
  with_type(a.prm.dtype, [&](auto tv) {
    using T = decltype(tv);
    combine_kernel<T><<<(unsigned)blocks, 128, 0, s>>>(a);
    check_launch("attention combine_kernel");
  });
}

void launch_bwd_delta(const AttentionBwdParams& p, const void* o, float* delta, cudaStream_t s) {
  const size_t rows = (size_t)p.B * p.Tq * p.Hq;
  if (rows == 0) return;
  const size_t blocks = (rows + 3) / 4;
  if (blocks > 0x7fffffffu) throw Error("ERR_ARG", "attention: too many rows");
  with_type(p.dtype, [&](auto tv) {
    using T = decltype(tv);
    delta_kernel<T><<<(unsigned)blocks, 128, 0, s>>>(p, static_cast<const T*>(o), static_cast<const T*>(p.dout), p.dlse, delta);
    check_launch("attention delta_kernel");
  });
}

void launch_bwd_dq_finish(const AttnBwdArgs& a, cudaStream_t s) {
  const size_t n = (size_t)a.prm.B * a.prm.Tq * a.prm.Hq * a.prm.D;
  if (n == 0) return;
  size_t blocks = (n + 255) / 256;
  if (blocks > 65536) blocks = 65536;
  with_type(a.prm.dtype, [&](auto tv) {
    using T = decltype(tv);
    dq_finish_kernel<T><<<(unsigned)blocks, 256, 0, s>>>(a);
    check_launch("attention dq_finish_kernel");
  });
}

}  // namespace ctxwin::cuda
