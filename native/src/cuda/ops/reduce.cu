// CUDA kernels of sum_rows / sum / sumsq / global_norm (native/src/ops/reduce.cpp).
//
// Every reduction is two fixed-shape passes, so results are bitwise reproducible: the grid
// depends only on the tensor's size, each thread visits a fixed set of elements in a fixed
// order, and partials are combined in index order (no atomics).
//  - sum / sumsq / global_norm: each thread accumulates its elements (squares rounded to f32,
//    as the CPU) in f64, blocks reduce in f64 and write one partial each; one block folds the
//    partials in f64 and rounds once. More accurate than the CPU's f32 lanes, which the tests'
//    float64 references allow; f64 adds cost nothing measurable against the memory traffic.
//  - global_norm: one pass-1 launch per tensor (any dtype and size) into its own range of
//    partials, then one fold and the square root in f64.
//  - sum_rows: blocks of 32 columns x 8 row lanes sum groups of rows (runs of 32 rows in f32,
//    as the CPU accumulates rows in f32, folded in f64); one thread per column folds the
//    groups' partials in f64, in group order.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cuda/ops/device_util.cuh"
#include "cuda/ops/kernels.h"

namespace ctxwin::cuda {

namespace {

constexpr int kThreads = 256;          // pass 1 of the scalar reductions, and the fold
constexpr size_t kMaxPartials = 1024;  // pass-1 blocks per tensor
constexpr int kColTile = 32;           // sum_rows: columns per block (one warp wide)
constexpr int kRowLanes = 8;           // sum_rows: row lanes per block
constexpr size_t kGroupRows = 256;     // sum_rows: rows per group at least (32 per thread)
constexpr size_t kMaxGroups = 1024;    // sum_rows: row groups at most

__device__ __forceinline__ double warp_sum_d(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Sum over the block (blockDim.x a multiple of 32); the result is valid in thread 0.
__device__ __forceinline__ double block_sum_d(double v, double* shared) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum_d(v);
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < warps ? shared[lane] : 0.0;
  return warp_sum_d(v);
}

// partial[blockIdx.x] = sum of x[i] (or x[i]^2, rounded to f32) over this block's elements.
template <typename T, bool kSquares>
__global__ void partial_sums_kernel(const T* __restrict__ x, size_t n, double* __restrict__ partial) {
  __shared__ double shared[32];
  double acc = 0.0;
  size_t stride = (size_t)gridDim.x * blockDim.x;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    float v = ld(x, i);
    acc += kSquares ? (double)__fmul_rn(v, v) : (double)v;
  }
  acc = block_sum_d(acc, shared);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// *out = (float)(sum of partial[0, count)), or its square root; one block.
__global__ void fold_partials_kernel(const double* __restrict__ partial, size_t count, int take_sqrt,
                                     float* __restrict__ out) {
  __shared__ double shared[32];
  double acc = 0.0;
  for (size_t i = threadIdx.x; i < count; i += blockDim.x) acc += partial[i];
  acc = block_sum_d(acc, shared);
  if (threadIdx.x == 0) *out = (float)(take_sqrt ? sqrt(acc) : acc);
}

size_t partial_count(size_t n) {
  if (n == 0) return 0;
  return std::min(kMaxPartials, (n + kThreads * 4 - 1) / (kThreads * 4));
}

// Enqueues pass 1 for x into partial[0, partial_count(x)).
void launch_partials(const Storage& x, bool squares, double* partial, cudaStream_t stream) {
  size_t n = (size_t)x.numel(), blocks = partial_count(n);
  if (blocks == 0) return;
  dispatch_dtype(x.dtype(), [&](auto tv) {
    using T = decltype(tv);
    if (squares)
      partial_sums_kernel<T, true><<<(unsigned)blocks, kThreads, 0, stream>>>((const T*)x.data(), n, partial);
    else
      partial_sums_kernel<T, false><<<(unsigned)blocks, kThreads, 0, stream>>>((const T*)x.data(), n, partial);
    check_launch("partial_sums_kernel");
  });
}

// out[0] = sum (or sqrt of the sum) over the tensors of sum(x) / sumsq(x).
void total(const std::vector<Storage*>& xs, bool squares, bool take_sqrt, float* out) {
  cudaStream_t stream = device_stream();
  size_t count = 0;
  for (const Storage* x : xs) count += partial_count((size_t)x->numel());
  DeviceScratch partials(count * sizeof(double));
  size_t off = 0;
  for (const Storage* x : xs) {
    launch_partials(*x, squares, partials.as<double>() + off, stream);
    off += partial_count((size_t)x->numel());
  }
  // With no elements at all the fold writes 0 (count 0).
  fold_partials_kernel<<<1, kThreads, 0, stream>>>(partials.as<double>(), count, take_sqrt ? 1 : 0, out);
  check_launch("fold_partials_kernel");
}

// partial[g, col] = sum of x[r, col] over group g's rows. Each thread adds its row lane's rows
// in f32 runs of kRun rows, each run folded into f64; the lanes are then added in order. Loops
// over column tiles (x) and groups (y), so any size fits the grid limits.
template <typename T>
__global__ void sum_rows_partial_kernel(const T* __restrict__ x, size_t rows, size_t d, size_t groups,
                                        size_t group_rows, double* __restrict__ partial) {
  constexpr int kRun = 32;
  __shared__ double lanes[kRowLanes][kColTile + 1];
  size_t tiles = (d + kColTile - 1) / kColTile;
  for (size_t g = blockIdx.y; g < groups; g += gridDim.y) {
    size_t lo = g * group_rows, hi = rows - lo < group_rows ? rows : lo + group_rows;
    for (size_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
      size_t col = tile * kColTile + threadIdx.x;
      double acc = 0.0;
      if (col < d) {
        for (size_t r0 = lo + threadIdx.y; r0 < hi; r0 += (size_t)kRowLanes * kRun) {
          float run = 0.f;
          for (int k = 0; k < kRun; ++k) {
            size_t r = r0 + (size_t)k * kRowLanes;
            if (r >= hi) break;
            run += ld(x, r * d + col);
          }
          acc += (double)run;
        }
      }
      lanes[threadIdx.y][threadIdx.x] = acc;
      __syncthreads();
      if (threadIdx.y == 0 && col < d) {
        double s = lanes[0][threadIdx.x];
        for (int l = 1; l < kRowLanes; ++l) s += lanes[l][threadIdx.x];
        partial[g * d + col] = s;
      }
      __syncthreads();  // lanes is rewritten by the next tile
    }
  }
}

// out[col] = sum over groups of partial[g, col], in group order.
__global__ void sum_rows_fold_kernel(const double* __restrict__ partial, size_t groups, size_t d,
                                     float* __restrict__ out) {
  size_t stride = (size_t)gridDim.x * blockDim.x;
  for (size_t col = (size_t)blockIdx.x * blockDim.x + threadIdx.x; col < d; col += stride) {
    double s = 0.0;
    for (size_t g = 0; g < groups; ++g) s += partial[g * d + col];
    out[col] = (float)s;
  }
}

void sum_rows_op(OpContext& c) {
  const Storage& x = *c.in[0];
  float* out = (float*)c.out[0]->data();
  size_t d = (size_t)x.shape().back();
  if (d == 0) return;
  size_t rows = (size_t)x.numel() / d;
  cudaStream_t stream = device_stream();
  if (rows == 0) {
    check_cuda(cudaMemsetAsync(out, 0, d * sizeof(float), stream), "cudaMemsetAsync");
    return;
  }
  // Groups of at least kGroupRows rows, at most kMaxGroups of them (the fold is serial in g).
  size_t group_rows = std::max(kGroupRows, (rows + kMaxGroups - 1) / kMaxGroups);
  size_t groups = (rows + group_rows - 1) / group_rows;
  size_t tiles = (d + kColTile - 1) / kColTile;
  DeviceScratch partial(groups * d * sizeof(double));
  dim3 grid((unsigned)std::min<size_t>(tiles, 65535), (unsigned)std::min<size_t>(groups, 65535));
  dim3 block(kColTile, kRowLanes);
  dispatch_dtype(x.dtype(), [&](auto tv) {
    using T = decltype(tv);
    sum_rows_partial_kernel<T><<<grid, block, 0, stream>>>((const T*)x.data(), rows, d, groups, group_rows,
                                                             partial.as<double>());
    check_launch("sum_rows_partial_kernel");
  });
  sum_rows_fold_kernel<<<grid_for(d, kThreads), kThreads, 0, stream>>>(partial.as<double>(), groups, d, out);
  check_launch("sum_rows_fold_kernel");
}

}  // namespace

void register_reduce_kernels() {
  register_kernel("cuda", "sum_rows", sum_rows_op);
  register_kernel("cuda", "sum", [](OpContext& c) { total({c.in[0]}, false, false, (float*)c.out[0]->data()); });
  register_kernel("cuda", "sumsq", [](OpContext& c) { total({c.in[0]}, true, false, (float*)c.out[0]->data()); });
  register_kernel("cuda", "global_norm", [](OpContext& c) { total(c.in, true, true, (float*)c.out[0]->data()); });
}

}  // namespace ctxwin::cuda
