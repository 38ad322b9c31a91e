// The list of CUDA kernel families. Add one line here with each native/src/cuda/ops/<family>.cu.
#include "cuda/ops/kernels.h"

namespace ctxwin::cuda {

void register_all_cuda_kernels() {
  register_elementwise_kernels();
}

}  // namespace ctxwin::cuda
