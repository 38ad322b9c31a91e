// Shared helpers of the CUDA op kernels (native/src/cuda/ops; the OpDefs are in native/src/ops).
// A kernel runs on the device queue's worker; it enqueues work on cuda::device_stream() and
// returns without waiting (reads synchronise). Kernels compute in f32 whatever the dtype.
// Device code helpers (dtype loads/stores, reductions) are in device_util.cuh.
#pragma once
#include <cstdint>

#include "cuda/cuda_device.h"
#include "ops/op.h"

namespace ctxwin::cuda {

// Every family's registration function; all_kernels.cpp calls them.
void register_elementwise_kernels();
void register_matmul_kernels();
void register_embedding_kernels();
void register_norm_kernels();
void register_activation_kernels();
void register_softmax_kernels();
void register_reduce_kernels();
void register_shape_kernels();
void register_optim_kernels();
void register_gated_prefix_kernels();
void register_all_cuda_kernels();

// Validates integer ids stored as f32 in device memory (embedding ids, cross-entropy targets):
// every ids[i] must be an integer in [0, V), or equal `ignore` when allow_ignore. Waits for the
// stream and returns how many ids are not `ignore` (all of them without allow_ignore), which the
// cross-entropy's default gradScale needs. Throws ERR_ARG with the CPU backend's message for the
// first bad id:
//   "<op>: <arg>: expected ids in [0, V), got X"  (with allow_ignore:
//   "<op>: <arg>: expected ids in [0, V) or ignoreIndex I, got X").
int64_t check_ids(const char* op, const char* arg, const float* ids, int64_t n, int64_t V, bool allow_ignore = false,
                  double ignore = -100.0);

}  // namespace ctxwin::cuda
