// What CUDA kernels outside cuda_device.cpp (native/src/cuda/ops, attention) need from the
// CUDA Device.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

namespace ctxwin::cuda {

// The device's stream: every kernel of this addon runs on it (stream order = queue order).
// Initialises CUDA on first use; throws ctxwin::Error("ERR_CUDA", reason) if it is unusable.
cudaStream_t device_stream();

// Scratch device memory for op kernels, from the device's pool (stream-ordered: freeing it after
// enqueueing the kernels that use it is safe). Throws ERR_MEMORY / ERR_CUDA.
void* device_alloc(size_t bytes);
void device_free(void* ptr);

// RAII scratch buffer: freed (in stream order) when it goes out of scope.
struct DeviceScratch {
  void* ptr = nullptr;
  explicit DeviceScratch(size_t bytes) : ptr(bytes ? device_alloc(bytes) : nullptr) {}
  ~DeviceScratch() { device_free(ptr); }
  DeviceScratch(const DeviceScratch&) = delete;
  DeviceScratch& operator=(const DeviceScratch&) = delete;
  template <typename T>
  T* as() const { return (T*)ptr; }
};

}  // namespace ctxwin::cuda
