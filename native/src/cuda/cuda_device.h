// What CUDA kernels outside cuda_device.cpp (native/src/cuda/ops, attention) need from the
// CUDA Device.
#pragma once
#include <cuda_runtime.h>

namespace ctxwin::cuda {

// The device's stream: every kernel of this addon runs on it (stream order = queue order).
// Initialises CUDA on first use; throws ctxwin::Error("ERR_CUDA", reason) if it is unusable.
cudaStream_t device_stream();

}  // namespace ctxwin::cuda
