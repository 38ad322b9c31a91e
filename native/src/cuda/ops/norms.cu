// CUDA kernels of rmsnorm / layernorm and their backwards (semantics: native/src/ops/norms.cpp;
// reference: native/src/cpu/ops/norms.cpp and the row kernels of cpu/ops/row_kernels_impl.h).
//
// One block per row: rows can be long (d in the thousands), so each thread strides over the row
// and the row statistics come from block reductions (device_util.cuh); nothing assumes the row
// fits in shared memory or registers. The row is re-read for each pass (from L1/L2).
//
// The parameter gradients dw / db sum over every row and must be deterministic (no float
// atomics): the backward splits the rows into G groups (G depends only on the shape), one block
// per group; thread t of a block owns columns t, t + blockDim, ... for every row of its group, so
// it accumulates them without atomics or barriers (in shared memory when the partial fits, else
// straight in the block's slice of the global partial buffer). A second kernel adds the G
// partials in group order, as the CPU adds its chunk partials.
#include <algorithm>

#include "cuda/ops/kernels.h"
#include "cuda/ops/row_ops.cuh"

namespace ctxwin::cuda {

namespace {

using rowops::dispatch_sources;
using rowops::row_blocks;
using rowops::row_threads;

// rstd = 1 / sqrt(sum / d + eps) in f64 like the CPU, rounded once.
__device__ __forceinline__ float inv_sqrt_mean(float sum, size_t d, float eps) {
  return (float)(1.0 / sqrt((double)sum / (double)d + (double)eps));
}

// ---- forward ---------------------------------------------------------------------------------

template <typename T, typename S>
__global__ void __launch_bounds__(rowops::kMaxRowThreads)
    rmsnorm_fwd_kernel(const T* __restrict__ x, S w, T* __restrict__ y, float* __restrict__ rstd_out, size_t rows,
        size_t d, float eps) {
  __shared__ float red[32];
  for (size_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * d;
    T* yr = y + r * d;
    float ss = 0.f;
    for (size_t j = threadIdx.x; j < d; j += blockDim.x) {
      float v = ld(xr, j);
      ss += v * v;
    }
    ss = block_sum(ss, red);
    float rstd = inv_sqrt_mean(ss, d, eps);
    for (size_t j = threadIdx.x; j < d; j += blockDim.x) st(yr, j, ld(xr, j) * rstd * w[j]);
    if (threadIdx.x == 0) rstd_out[r] = rstd;
  }
}

// b.p == nullptr: no bias.
template <typename T, typename S>
__global__ void __launch_bounds__(rowops::kMaxRowThreads)
    layernorm_fwd_kernel(const T* __restrict__ x, S w, S b, T* __restrict__ y, float* __restrict__ mean_out,
        float* __restrict__ rstd_out, size_t rows, size_t d, float eps) {
  __shared__ float red[32];
  const bool has_b = b.p != nullptr;
  for (size_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * d;
    T* yr = y + r * d;
    float sum = 0.f;
    for (size_t j = threadIdx.x; j < d; j += blockDim.x) sum += ld(xr, j);
    sum = block_sum(sum, red);
    float mean = (float)((double)sum / (double)d);
    // Two-pass variance (as the CPU): sum of (x - mean)^2, no cancellation for offset rows.
    float sq = 0.f;
    for (size_t j = threadIdx.x; j < d; j += blockDim.x) {
      float t = ld(xr, j) - mean;
      sq += t * t;
    }
    sq = block_sum(sq, red);
    float rstd = inv_sqrt_mean(sq, d, eps);
    for (size_t j = threadIdx.x; j < d; j += blockDim.x) {
      float v = (ld(xr, j) - mean) * rstd * w[j];
      if (has_b) v += b[j];
      st(yr, j, v);
    }
    if (threadIdx.x == 0) {
      mean_out[r] = mean;
      rstd_out[r] = rstd;
    }
  }
}

// ---- backward --------------------------------------------------------------------------------

// Partial sums take at most this many bytes of scratch (G shrinks for very wide rows), and live
// in shared memory when one block's partial (nacc * d floats) fits in kSmemPartial bytes.
constexpr size_t kPartialBudget = size_t(32) << 20;
constexpr int64_t kMaxGroups = 1024;
constexpr size_t kSmemPartial = 32 * 1024;

int64_t backward_groups(int64_t rows, int64_t d, int nacc) {
  int64_t by_mem = (int64_t)(kPartialBudget / ((size_t)d * (size_t)nacc * 4));
  return std::max<int64_t>(1, std::min(std::min(rows, kMaxGroups), by_mem));
}

// This block's partial accumulator of `width` floats: shared memory, or its slice of the global
// partials. Called by every thread of the block (it synchronises): the zeroing thread of a
// column is not always the one that accumulates it (layernorm's second half, db).
__device__ __forceinline__ float* partial_acc(float* smem, float* partial, size_t width, bool use_smem) {
  float* acc = use_smem ? smem : partial + (size_t)blockIdx.x * width;
  for (size_t j = threadIdx.x; j < width; j += blockDim.x) acc[j] = 0.f;
  __syncthreads();
  return acc;
}
// Copies a shared-memory accumulator to the block's slice of the global partials.
__device__ __forceinline__ void partial_store(const float* acc, float* partial, size_t width, bool use_smem) {
  if (!use_smem) return;  // uniform: a kernel argument
  __syncthreads();
  float* dst = partial + (size_t)blockIdx.x * width;
  for (size_t j = threadIdx.x; j < width; j += blockDim.x) dst[j] = acc[j];
}

// Rows [r0, r1) of group blockIdx.x of gridDim.x.
__device__ __forceinline__ void group_rows(size_t rows, size_t* r0, size_t* r1) {
  *r0 = rows * blockIdx.x / gridDim.x;
  *r1 = rows * (blockIdx.x + 1) / gridDim.x;
}

// dx = rstd * (w*dy - x*c), c = mean(w*dy*x) * rstd^2; partial dw += dy * x * rstd.
template <typename D, typename S>
__global__ void __launch_bounds__(rowops::kMaxRowThreads)
    rmsnorm_bwd_kernel(const D* __restrict__ dy, S x, S w, const float* __restrict__ rstd, D* __restrict__ dx,
        float* __restrict__ partial, size_t rows, size_t d, bool use_smem) {
  extern __shared__ float smem[];
  __shared__ float red[32];
  float* acc = partial_acc(smem, partial, d, use_smem);
  size_t r0, r1;
  group_rows(rows, &r0, &r1);
  for (size_t r = r0; r < r1; ++r) {
    const D* dyr = dy + r * d;
    D* dxr = dx + r * d;
    size_t off = r * d;
    float s = 0.f;
    for (size_t j = threadIdx.x; j < d; j += blockDim.x) s += w[j] * ld(dyr, j) * x[off + j];
    s = block_sum(s, red);
    float rs = rstd[r];
    float c = (float)((double)s / (double)d) * rs * rs;
    for (size_t j = threadIdx.x; j < d; j += blockDim.x) {
      float xi = x[off + j], gi = ld(dyr, j);
      acc[j] += gi * xi * rs;
      st(dxr, j, rs * (w[j] * gi - xi * c));
    }
  }
  partial_store(acc, partial, d, use_smem);
}

// xhat = (x - mean) rstd, g = dy w: dx = rstd (g - mean(g) - xhat mean(g xhat));
// partial dw += dy xhat (first d floats), db += dy (next d floats).
template <typename D, typename S>
__global__ void __launch_bounds__(rowops::kMaxRowThreads)
    layernorm_bwd_kernel(const D* __restrict__ dy, S x, S w, const float* __restrict__ mean,
        const float* __restrict__ rstd, D* __restrict__ dx, float* __restrict__ partial, size_t rows, size_t d,
        bool use_smem) {
  extern __shared__ float smem[];
  __shared__ float red[32];
  float* acc_w = partial_acc(smem, partial, 2 * d, use_smem);
  float* acc_b = acc_w + d;
  size_t r0, r1;
  group_rows(rows, &r0, &r1);
  for (size_t r = r0; r < r1; ++r) {
    const D* dyr = dy + r * d;
    D* dxr = dx + r * d;
    size_t off = r * d;
    float mu = mean[r], rs = rstd[r];
    float sg = 0.f, sgx = 0.f;
    for (size_t j = threadIdx.x; j < d; j += blockDim.x) {
      float g = ld(dyr, j) * w[j];
      sg += g;
      sgx += g * ((x[off + j] - mu) * rs);
    }
    sg = block_sum(sg, red);
    sgx = block_sum(sgx, red);
    float mg = (float)((double)sg / (double)d), mgx = (float)((double)sgx / (double)d);
    for (size_t j = threadIdx.x; j < d; j += blockDim.x) {
      float gy = ld(dyr, j);
      float xh = (x[off + j] - mu) * rs;
      float g = gy * w[j];
      acc_w[j] += gy * xh;
      acc_b[j] += gy;
      st(dxr, j, rs * (g - mg - xh * mgx));
    }
  }
  partial_store(acc_w, partial, 2 * d, use_smem);
}

// out[j] = sum over g in [0, groups) of partial[g * stride + j], in group order.
__global__ void sum_partials_kernel(const float* __restrict__ partial, size_t groups, size_t stride, size_t d,
                                    float* __restrict__ out) {
  for (size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x; j < d; j += (size_t)gridDim.x * blockDim.x) {
    float s = partial[j];
    for (size_t g = 1; g < groups; ++g) s += partial[g * stride + j];
    out[j] = s;
  }
}

void launch_sum_partials(const float* partial, int64_t groups, int64_t stride, int64_t d, float* out,
                         cudaStream_t stream) {
  sum_partials_kernel<<<grid_for((size_t)d), 256, 0, stream>>>(partial, (size_t)groups, (size_t)stride, (size_t)d,
                                                               out);
  check_launch("sum_partials_kernel");
}

void zero_f32(float* p, int64_t n, cudaStream_t stream) {
  check_cuda(cudaMemsetAsync(p, 0, (size_t)n * 4, stream), "cudaMemsetAsync");
}

// ---- op drivers ------------------------------------------------------------------------------

void rmsnorm_op(OpContext& c) {
  const Storage& x = *c.in[0];
  const Storage& w = *c.in[1];
  Storage& y = *c.out[0];
  float* rstd = (float*)c.out[1]->data();
  float eps = (float)c.attrs.num("eps", 1e-6);
  int64_t d = x.shape().back(), rows = x.numel() / d;
  if (rows == 0) return;
  cudaStream_t stream = device_stream();
  dispatch_sources(x.dtype(), {&w}, [&](auto tv, auto sv) {
    using T = decltype(tv);
    using S = decltype(sv);
    rmsnorm_fwd_kernel<T, S><<<row_blocks(rows), row_threads(d), 0, stream>>>(
        (const T*)x.data(), S::from(&w), (T*)y.data(), rstd, (size_t)rows, (size_t)d, eps);
    check_launch("rmsnorm_fwd_kernel");
  });
}

void layernorm_op(OpContext& c) {
  const Storage& x = *c.in[0];
  const Storage& w = *c.in[1];
  const Storage* b = c.in.size() > 2 ? c.in[2] : nullptr;
  Storage& y = *c.out[0];
  float* mean = (float*)c.out[1]->data();
  float* rstd = (float*)c.out[2]->data();
  float eps = (float)c.attrs.num("eps", 1e-5);
  int64_t d = x.shape().back(), rows = x.numel() / d;
  if (rows == 0) return;
  cudaStream_t stream = device_stream();
  dispatch_sources(x.dtype(), {&w, b}, [&](auto tv, auto sv) {
    using T = decltype(tv);
    using S = decltype(sv);
    layernorm_fwd_kernel<T, S><<<row_blocks(rows), row_threads(d), 0, stream>>>(
        (const T*)x.data(), S::from(&w), S::from(b), (T*)y.data(), mean, rstd, (size_t)rows, (size_t)d, eps);
    check_launch("layernorm_fwd_kernel");
  });
}

void rmsnorm_backward_op(OpContext& c) {
  const Storage& dy = *c.in[0];
  const Storage& x = *c.in[1];
  const Storage& w = *c.in[2];
  const float* rstd = (const float*)c.in[3]->data();
  Storage& dx = *c.out[0];
  float* dw = (float*)c.out[1]->data();
  int64_t d = x.shape().back(), rows = x.numel() / d;
  cudaStream_t stream = device_stream();
  if (rows == 0) return zero_f32(dw, d, stream);
  int64_t groups = backward_groups(rows, d, 1);
  size_t width_bytes = (size_t)d * 4;
  bool use_smem = width_bytes <= kSmemPartial;
  DeviceScratch partial((size_t)groups * width_bytes);
  dispatch_sources(dy.dtype(), {&x, &w}, [&](auto tv, auto sv) {
    using D = decltype(tv);
    using S = decltype(sv);
    rmsnorm_bwd_kernel<D, S><<<(int)groups, row_threads(d), use_smem ? width_bytes : 0, stream>>>(
        (const D*)dy.data(), S::from(&x), S::from(&w), rstd, (D*)dx.data(), partial.as<float>(), (size_t)rows,
        (size_t)d, use_smem);
    check_launch("rmsnorm_bwd_kernel");
  });
  launch_sum_partials(partial.as<float>(), groups, d, d, dw, stream);
}

void layernorm_backward_op(OpContext& c) {
  const Storage& dy = *c.in[0];
  const Storage& x = *c.in[1];
  const Storage& w = *c.in[2];
  const float* mean = (const float*)c.in[3]->data();
  const float* rstd = (const float*)c.in[4]->data();
  Storage& dx = *c.out[0];
  float* dw = (float*)c.out[1]->data();
  float* db = (float*)c.out[2]->data();
  int64_t d = x.shape().back(), rows = x.numel() / d;
  cudaStream_t stream = device_stream();
  if (rows == 0) {
    zero_f32(dw, d, stream);
    return zero_f32(db, d, stream);
  }
  int64_t groups = backward_groups(rows, d, 2);
  size_t width_bytes = (size_t)d * 2 * 4;
  bool use_smem = width_bytes <= kSmemPartial;
  DeviceScratch partial((size_t)groups * width_bytes);
  dispatch_sources(dy.dtype(), {&x, &w}, [&](auto tv, auto sv) {
    using D = decltype(tv);
    using S = decltype(sv);
    layernorm_bwd_kernel<D, S><<<(int)groups, row_threads(d), use_smem ? width_bytes : 0, stream>>>(
        (const D*)dy.data(), S::from(&x), S::from(&w), mean, rstd, (D*)dx.data(), partial.as<float>(), (size_t)rows,
        (size_t)d, use_smem);
    check_launch("layernorm_bwd_kernel");
  });
  launch_sum_partials(partial.as<float>(), groups, 2 * d, d, dw, stream);
  launch_sum_partials(partial.as<float>() + d, groups, 2 * d, d, db, stream);
}

}  // namespace

void register_norm_kernels() {
  register_kernel("cuda", "rmsnorm", rmsnorm_op);
  register_kernel("cuda", "rmsnorm_backward", rmsnorm_backward_op);
  register_kernel("cuda", "layernorm", layernorm_op);
  register_kernel("cuda", "layernorm_backward", layernorm_backward_op);
}

}  // namespace ctxwin::cuda
