// Elementwise kernels of the CUDA backend: f32 <-> bf16/f16 conversion, cast, axpby, mul, and
// the probe kernel. Memory-bound grid-stride loops; half types are converted with the hardware
// round-to-nearest-even instructions (the same rounding as the CPU backend's dtype.h).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>

#include "ctxwin/error.h"
#include "cuda/cuda_check.h"
#include "cuda/cuda_kernels.h"
#include "cuda/ops/device_util.cuh"

namespace ctxwin::cuda {

namespace {

constexpr int kThreads = 256;  // grid_for caps the grid at 8192 blocks: grid-stride beyond that

// Loads and stores in f32 (ld/st) and the dtype dispatch (dispatch_dtype): cuda/ops/device_util.cuh.

template <typename S, typename D>
__global__ void cast_kernel(const S* __restrict__ src, D* __restrict__ dst, size_t n) {
  size_t stride = (size_t)gridDim.x * blockDim.x;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) st(dst, i, ld(src, i));
}

// b == nullptr: dst = alpha * a. B is ignored then (instantiated with float).
template <typename A, typename B, typename D>
__global__ void axpby_kernel(float alpha, const A* __restrict__ a, float beta, const B* __restrict__ b,
                             D* __restrict__ dst, size_t n) {
  size_t stride = (size_t)gridDim.x * blockDim.x;
  size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (b) {
    for (; i < n; i += stride) st(dst, i, alpha * ld(a, i) + beta * ld(b, i));
  } else {
    for (; i < n; i += stride) st(dst, i, alpha * ld(a, i));
  }
}

struct MulOp {
  __device__ __forceinline__ float operator()(float x, float y) const { return x * y; }
};

template <typename A, typename B, typename D, typename Op>
__global__ void binary_kernel(const A* __restrict__ a, const B* __restrict__ b, D* __restrict__ dst, size_t n, Op op) {
  size_t stride = (size_t)gridDim.x * blockDim.x;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
    st(dst, i, op(ld(a, i), ld(b, i)));
}

__global__ void probe_kernel(int* out, int value) {
  if (blockIdx.x == 0 && threadIdx.x == 0) *out = value;
}

template <typename S, typename D>
void launch_cast_typed(const void* src, void* dst, size_t n, cudaStream_t stream) {
  cast_kernel<S, D><<<grid_for(n, kThreads), kThreads, 0, stream>>>((const S*)src, (D*)dst, n);
  check_launch("cast_kernel");
}

}  // namespace

void launch_cast(DType src_t, const void* src, DType dst_t, void* dst, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  if (src_t == dst_t) {
    check_cuda(cudaMemcpyAsync(dst, src, n * dtype_size(src_t), cudaMemcpyDeviceToDevice, stream), "cudaMemcpyAsync");
    return;
  }
  dispatch_dtype(src_t, [&](auto s) {
    dispatch_dtype(dst_t, [&](auto d) { launch_cast_typed<decltype(s), decltype(d)>(src, dst, n, stream); });
  });
}

void launch_from_f32(const float* src, DType dst_t, void* dst, size_t n, cudaStream_t stream) {
  launch_cast(DType::F32, src, dst_t, dst, n, stream);
}

void launch_to_f32(DType src_t, const void* src, float* dst, size_t n, cudaStream_t stream) {
  launch_cast(src_t, src, DType::F32, dst, n, stream);
}

void launch_axpby(float alpha, DType a_t, const void* a, float beta, DType b_t, const void* b, DType dst_t, void* dst,
                  size_t n, cudaStream_t stream) {
  if (n == 0) return;
  int blocks = grid_for(n, kThreads);
  dispatch_dtype(a_t, [&](auto av) {
    using A = decltype(av);
    dispatch_dtype(dst_t, [&](auto dv) {
      using D = decltype(dv);
      if (!b) {
        axpby_kernel<A, float, D><<<blocks, kThreads, 0, stream>>>(alpha, (const A*)a, 0.f, nullptr, (D*)dst, n);
        check_launch("axpby_kernel");
        return;
      }
      dispatch_dtype(b_t, [&](auto bv) {
        using B = decltype(bv);
        axpby_kernel<A, B, D><<<blocks, kThreads, 0, stream>>>(alpha, (const A*)a, beta, (const B*)b, (D*)dst, n);
        check_launch("axpby_kernel");
      });
    });
  });
}

void launch_mul(DType a_t, const void* a, DType b_t, const void* b, DType dst_t, void* dst, size_t n,
                cudaStream_t stream) {
  if (n == 0) return;
  dispatch_dtype(a_t, [&](auto av) {
    dispatch_dtype(b_t, [&](auto bv) {
      dispatch_dtype(dst_t, [&](auto dv) {
        using A = decltype(av);
        using B = decltype(bv);
        using D = decltype(dv);
        binary_kernel<A, B, D, MulOp><<<grid_for(n, kThreads), kThreads, 0, stream>>>((const A*)a, (const B*)b, (D*)dst, n, MulOp{});
        check_launch("mul_kernel");
      });
    });
  });
}

cudaError_t launch_probe(int* out, int value, cudaStream_t stream) {
  (void)cudaGetLastError();  // report this launch's status only
  probe_kernel<<<1, 32, 0, stream>>>(out, value);
  return cudaGetLastError();
}

}  // namespace ctxwin::cuda
