// Checking CUDA runtime calls: every failure becomes a ctxwin::Error (code ERR_CUDA, or
// ERR_MEMORY for out-of-memory) whose message names the call and carries CUDA's own error name
// and string. Never aborts. Usable from .cpp (host compiler) and .cu files.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "ctxwin/error.h"

namespace ctxwin::cuda {

// "cudaMalloc returned 2 (cudaErrorMemoryAllocation): out of memory".
inline std::string cuda_error_text(const char* what, cudaError_t err) {
  return std::string(what) + " returned " + std::to_string((int)err) + " (" + cudaGetErrorName(err) +
         "): " + cudaGetErrorString(err);
}

// Throws ctxwin::Error for a failed call. The thread's "last error" is reset first, so that a
// handled failure is not reported again by the next launch check.
inline void check_cuda(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return;
  (void)cudaGetLastError();
  throw Error(err == cudaErrorMemoryAllocation ? "ERR_MEMORY" : "ERR_CUDA", "cuda: " + cuda_error_text(what, err));
}

// After a kernel launch: reports launch failures (bad configuration, no kernel image, ...).
inline void check_launch(const char* kernel) {
  cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess) return;
  std::string msg = "cuda: launching " + std::string(kernel) + " failed: " + cuda_error_text("the launch", err);
  if (err == cudaErrorNoKernelImageForDevice || err == cudaErrorInvalidPtx || err == cudaErrorUnsupportedPtxVersion)
    msg += "; this addon has no code for this GPU: rebuild it with CTXWIN_CUDA_ARCHS=<your sm, e.g. 89> npm run build:cuda";
  throw Error("ERR_CUDA", msg);
}

}  // namespace ctxwin::cuda
