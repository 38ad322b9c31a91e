// Elementwise CUDA kernels (cuda_elementwise.cu): dtype conversion, cast, axpby, binary ops,
// and the probe kernel. Every launcher enqueues on `stream`, checks the launch (throws
// ctxwin::Error), and returns without waiting. n == 0 launches nothing. Inputs and outputs may
// have any dtypes; values are computed in f32.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

#include "ctxwin/dtype.h"

namespace ctxwin::cuda {

// dst[i] = convert(src[i]) from f32 to dst_t (round to nearest even for half types).
void launch_from_f32(const float* src, DType dst_t, void* dst, size_t n, cudaStream_t stream);
// dst[i] = float(src[i]).
void launch_to_f32(DType src_t, const void* src, float* dst, size_t n, cudaStream_t stream);
// dst[i] = convert(src[i]) between any two dtypes (a device copy when they are equal).
void launch_cast(DType src_t, const void* src, DType dst_t, void* dst, size_t n, cudaStream_t stream);
// dst[i] = alpha * a[i] + beta * b[i] (b null: alpha * a[i]).
void launch_axpby(float alpha, DType a_t, const void* a, float beta, DType b_t, const void* b, DType dst_t, void* dst,
                  size_t n, cudaStream_t stream);
// dst[i] = a[i] * b[i].
void launch_mul(DType a_t, const void* a, DType b_t, const void* b, DType dst_t, void* dst, size_t n,
                cudaStream_t stream);

// Probe: writes `value` to *out from one thread; returns the launch status (not thrown) so that
// the caller can explain "no kernel image" and friends.
cudaError_t launch_probe(int* out, int value, cudaStream_t stream);

}  // namespace ctxwin::cuda
