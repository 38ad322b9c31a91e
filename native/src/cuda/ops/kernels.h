// Shared helpers of the CUDA op kernels (native/src/cuda/ops; the OpDefs are in native/src/ops).
// A kernel runs on the device queue's worker; it enqueues work on cuda::device_stream() and
// returns without waiting (reads synchronise). Kernels compute in f32 whatever the dtype.
#pragma once
#include "cuda/cuda_device.h"
#include "ops/op.h"

namespace ctxwin::cuda {

// Every family's registration function; all_kernels.cpp calls them.
void register_elementwise_kernels();
void register_all_cuda_kernels();

}  // namespace ctxwin::cuda
