// CUDA kernels of softmax / softmax_cross_entropy (semantics: native/src/ops/softmax.cpp;
// reference: native/src/cpu/ops/softmax.cpp and the row kernels of cpu/ops/row_kernels_impl.h).
//
// One block per row. Rows can be long (a 150k vocabulary), so the row is never staged in shared
// memory: one pass keeps an online (max, sum of exp) per thread and merges them across the block
// (row_ops.cuh), a second pass writes exp(x - max) / sum. Two reads of the row instead of three;
// the merges are fixed-order trees, so results are bitwise reproducible.
//
// Cross-entropy validates the targets first with check_ids (one stream synchronisation, the CPU's
// error message), which also counts the non-ignored rows for the default gradScale.
#include <cmath>

#include "cuda/ops/kernels.h"
#include "cuda/ops/row_ops.cuh"

namespace ctxwin::cuda {

namespace {

using rowops::block_max_sum;
using rowops::ms_add;
using rowops::row_blocks;
using rowops::row_threads;

template <typename T>
__global__ void __launch_bounds__(rowops::kMaxRowThreads)
    softmax_kernel(const T* __restrict__ x, T* __restrict__ y, size_t rows, size_t V) {
  __shared__ float sh_m[32], sh_s[32];
  for (size_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * V;
    T* yr = y + r * V;
    float m = -INFINITY, s = 0.f;
    for (size_t j = threadIdx.x; j < V; j += blockDim.x) ms_add(m, s, ld(xr, j));
    block_max_sum(m, s, sh_m, sh_s);
    // As the CPU: an all -inf row uses max 0, so its sum is 0 and its outputs 0 * inf = NaN.
    float mx = m == -INFINITY ? 0.f : m;
    float inv = 1.f / s;
    for (size_t j = threadIdx.x; j < V; j += blockDim.x) st(yr, j, expf(ld(xr, j) - mx) * inv);
  }
}

// losses[r] = logsumexp(row) - row[target] (f64 for the final sum, as the CPU), 0 when ignored;
// dlogits (may be null) = (softmax(row) - onehot(target)) * scale, a zero row when ignored.
// Targets were validated by check_ids.
template <typename T>
__global__ void __launch_bounds__(rowops::kMaxRowThreads)
    xent_kernel(const T* __restrict__ logits, const float* __restrict__ targets, float* __restrict__ losses,
        T* __restrict__ dlogits, size_t rows, size_t V, double ignore, float scale) {
  __shared__ float sh_m[32], sh_s[32];
  for (size_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = logits + r * V;
    T* gr = dlogits ? dlogits + r * V : nullptr;
    float tf = targets[r];
    if ((double)tf == ignore) {  // uniform across the block (one row), so no barrier is skipped unevenly
      if (threadIdx.x == 0) losses[r] = 0.f;
      if (gr) {
        for (size_t j = threadIdx.x; j < V; j += blockDim.x) st(gr, j, 0.f);
      }
      continue;
    }
    size_t t = (size_t)tf;
    float m = -INFINITY, s = 0.f;
    for (size_t j = threadIdx.x; j < V; j += blockDim.x) ms_add(m, s, ld(xr, j));
    block_max_sum(m, s, sh_m, sh_s);
    if (threadIdx.x == 0) losses[r] = (float)(log((double)s) + (double)m - (double)ld(xr, t));
    if (gr) {
      float k = (1.f / s) * scale;
      for (size_t j = threadIdx.x; j < V; j += blockDim.x) {
        float g = expf(ld(xr, j) - m) * k;
        if (j == t) g -= scale;
        st(gr, j, g);
      }
    }
  }
}

void softmax_op(OpContext& c) {
  const Storage& x = *c.in[0];
  Storage& y = *c.out[0];
  int64_t V = x.shape().back(), rows = x.numel() / V;
  if (rows == 0) return;
  dispatch_dtype(x.dtype(), [&](auto tv) {
    using T = decltype(tv);
    softmax_kernel<T><<<row_blocks(rows), row_threads(V), 0, device_stream()>>>((const T*)x.data(), (T*)y.data(),
                                                                                (size_t)rows, (size_t)V);
    check_launch("softmax_kernel");
  });
}

void xent_op(OpContext& c) {
  const char* op = "softmax_cross_entropy";
  const Storage& logits = *c.in[0];
  const float* targets = (const float*)c.in[1]->data();
  float* losses = (float*)c.out[0]->data();
  Storage* dlogits = c.out.size() > 1 ? c.out[1] : nullptr;
  int64_t V = logits.shape().back(), rows = logits.numel() / V;
  if (rows == 0) return;
  double ignore = (double)c.attrs.integer("ignoreIndex", -100);
  int64_t count = check_ids(op, "targets", targets, rows, V, /*allow_ignore=*/true, ignore);
  float scale = c.attrs.has("gradScale") ? (float)c.attrs.num("gradScale", 1.0)
                                         : (count > 0 ? 1.f / (float)count : 0.f);
  dispatch_dtype(logits.dtype(), [&](auto tv) {
    using T = decltype(tv);
    xent_kernel<T><<<row_blocks(rows), row_threads(V), 0, device_stream()>>>(
        (const T*)logits.data(), targets, losses, dlogits ? (T*)dlogits->data() : nullptr, (size_t)rows, (size_t)V,
        ignore, scale);
    check_launch("xent_kernel");
  });
}

}  // namespace

void register_softmax_kernels() {
  register_kernel("cuda", "softmax", softmax_op);
  register_kernel("cuda", "softmax_cross_entropy", xent_op);
}

}  // namespace ctxwin::cuda
