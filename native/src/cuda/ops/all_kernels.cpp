// The list of CUDA kernel families. Add one line here with each native/src/cuda/ops/<family>.cu.
#include "cuda/ops/kernels.h"

namespace ctxwin::cuda {

void register_all_cuda_kernels() {
  register_elementwise_kernels();  // add, mul, scale, add_bias, fill (elementwise.cpp + elementwise_ops.cu)
  register_matmul_kernels();       // matmul (matmul.cu, cuBLAS when loadable: cublas_loader.cpp)
  register_embedding_kernels();    // embedding, embedding_backward
  register_norm_kernels();         // rmsnorm, layernorm and backwards
  register_activation_kernels();   // swiglu, gelu_tanh, gelu_erf, tanh and backwards
  register_softmax_kernels();      // softmax, softmax_cross_entropy
  register_reduce_kernels();       // sum_rows, sum, sumsq, global_norm
  register_shape_kernels();        // concat, slice, copy_into
  register_optim_kernels();        // adamw
  register_gated_prefix_kernels(); // gated_prefix_attention and backward (adaptive prefix tuning)
}

}  // namespace ctxwin::cuda
