// check_ids (kernels.h): one pass over the ids finds the first invalid index (atomicMin) and
// counts the non-ignored ids; the host waits for the two integers and builds the CPU backend's
// error message from the offending value. Costs one stream synchronisation per call, on the
// device queue's worker thread (never the JS thread).
#include <cmath>

#include "cuda/ops/device_util.cuh"
#include "cuda/ops/kernels.h"
#include "ops/op_util.h"

namespace ctxwin::cuda {

namespace {

struct IdsCheckResult {
  unsigned long long first_bad;  // index of the first invalid id, or ~0 when none
  unsigned long long counted;    // ids that are not `ignore`
};

__global__ void ids_check_kernel(const float* __restrict__ ids, int64_t n, float V, int allow_ignore, double ignore,
                                 IdsCheckResult* out) {
  unsigned long long local = 0;
  size_t stride = (size_t)gridDim.x * blockDim.x;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)n; i += stride) {
    float f = ids[i];
    if (allow_ignore && (double)f == ignore) continue;  // in f64, as the CPU (ignoreIndex may exceed f32)
    if (!(f >= 0.f && f < V && f == floorf(f))) atomicMin(&out->first_bad, (unsigned long long)i);
    ++local;
  }
  // one atomic per warp
  for (int o = 16; o > 0; o >>= 1) local += __shfl_xor_sync(0xffffffffu, local, o);
  if ((threadIdx.x & 31) == 0 && local) atomicAdd(&out->counted, local);
}

}  // namespace

int64_t check_ids(const char* op, const char* arg, const float* ids, int64_t n, int64_t V, bool allow_ignore,
                  double ignore) {
  if (n <= 0) return 0;
  cudaStream_t stream = device_stream();
  DeviceScratch scratch(sizeof(IdsCheckResult));
  IdsCheckResult* dev = scratch.as<IdsCheckResult>();
  IdsCheckResult host{~0ull, 0};
  cudaError_t err = cudaMemcpyAsync(dev, &host, sizeof host, cudaMemcpyHostToDevice, stream);
  if (err == cudaSuccess) {
    ids_check_kernel<<<grid_for((size_t)n, 256, 1024), 256, 0, stream>>>(ids, n, (float)V, allow_ignore ? 1 : 0,
                                                                         ignore, dev);
    err = cudaGetLastError();
  }
  if (err == cudaSuccess) err = cudaMemcpyAsync(&host, dev, sizeof host, cudaMemcpyDeviceToHost, stream);
  float bad_value = 0.f;
  if (err == cudaSuccess) err = cudaStreamSynchronize(stream);
  if (err == cudaSuccess && host.first_bad != ~0ull) {
    err = cudaMemcpyAsync(&bad_value, ids + host.first_bad, sizeof(float), cudaMemcpyDeviceToHost, stream);
    if (err == cudaSuccess) err = cudaStreamSynchronize(stream);
  }
  check_cuda(err, "check_ids");
  if (host.first_bad != ~0ull) {
    std::string want = "expected ids in [0, " + std::to_string(V) + ")";
    if (allow_ignore) want += " or ignoreIndex " + opu::num_str(ignore);
    fail("ERR_ARG", std::string(op) + ": " + arg + ": " + want + ", got " + opu::num_str(bad_value));
  }
  return (int64_t)host.counted;
}

}  // namespace ctxwin::cuda
