// Device code of add_bias and fill (native/src/ops/elementwise.cpp), registered in
// elementwise.cpp. Memory-bound grid-stride loops. add_bias follows each thread's column
// incrementally (one division per thread, not per element), and reads the bias in f32: a half
// bias is converted once into scratch, so the kernel has one instantiation per x dtype.
#include "cuda/cuda_kernels.h"
#include "cuda/ops/device_util.cuh"
#include "cuda/ops/kernels.h"

namespace ctxwin::cuda {

namespace {

constexpr int kThreads = 256;

// y[r, j] = x[r, j] + b[j] over n = rows * d elements (d > 0).
template <typename T>
__global__ void add_bias_kernel(const T* __restrict__ x, const float* __restrict__ b, T* __restrict__ y, size_t n,
                                size_t d) {
  size_t stride = (size_t)gridDim.x * blockDim.x;
  size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  size_t col = i % d;
  const size_t col_step = stride % d;
  for (; i < n; i += stride) {
    st(y, i, ld(x, i) + b[col]);
    col += col_step;
    if (col >= d) col -= d;
  }
}

template <typename T>
__global__ void fill_kernel(T* __restrict__ y, size_t n, float value) {
  size_t stride = (size_t)gridDim.x * blockDim.x;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) st(y, i, value);
}

}  // namespace

void launch_add_bias(const Storage& x, const Storage& b, Storage& y) {
  size_t n = (size_t)y.numel(), d = (size_t)b.numel();
  if (n == 0 || d == 0) return;
  cudaStream_t stream = device_stream();
  // The bias in f32 (a copy only for half types; d values).
  DeviceScratch bias_f32(b.dtype() == DType::F32 ? 0 : d * sizeof(float));
  const float* bias = (const float*)b.data();
  if (b.dtype() != DType::F32) {
    launch_to_f32(b.dtype(), b.data(), bias_f32.as<float>(), d, stream);
    bias = bias_f32.as<float>();
  }
  dispatch_dtype(x.dtype(), [&](auto tv) {
    using T = decltype(tv);
    add_bias_kernel<T><<<grid_for(n, kThreads), kThreads, 0, stream>>>((const T*)x.data(), bias, (T*)y.data(), n, d);
    check_launch("add_bias_kernel");
  });
}

void launch_fill(Storage& y, float value) {
  size_t n = (size_t)y.numel();
  if (n == 0) return;
  cudaStream_t stream = device_stream();
  dispatch_dtype(y.dtype(), [&](auto tv) {
    using T = decltype(tv);
    fill_kernel<T><<<grid_for(n, kThreads), kThreads, 0, stream>>>((T*)y.data(), n, value);
    check_launch("fill_kernel");
  });
}

}  // namespace ctxwin::cuda
