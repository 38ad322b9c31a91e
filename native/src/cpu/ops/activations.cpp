// CPU kernels of swiglu / gelu_tanh and their backwards (native/src/ops/activations.cpp).
#include "cpu/ops/kernels.h"

namespace ctxwin::cpu {

void register_activation_kernels() {
  register_kernel("cpu", "swiglu", [](OpContext& c) {
    const RowKernels& rk = row_kernels();
    map_pieces({c.in[0], c.in[1]}, {c.out[0]}, [&](const float* const* in, float* const* out, int64_t n) {
      rk.swiglu_fwd(in[0], in[1], out[0], n);
    });
  });
  register_kernel("cpu", "swiglu_backward", [](OpContext& c) {
    const RowKernels& rk = row_kernels();
    map_pieces({c.in[0], c.in[1], c.in[2]}, {c.out[0], c.out[1]},
               [&](const float* const* in, float* const* out, int64_t n) {
                 rk.swiglu_bwd(in[0], in[1], in[2], out[0], out[1], n);
               });
  });
  register_kernel("cpu", "gelu_tanh", [](OpContext& c) {
    const RowKernels& rk = row_kernels();
    map_pieces({c.in[0]}, {c.out[0]}, [&](const float* const* in, float* const* out, int64_t n) {
      rk.gelu_fwd(in[0], out[0], n);
    });
  });
  register_kernel("cpu", "gelu_tanh_backward", [](OpContext& c) {
    const RowKernels& rk = row_kernels();
    map_pieces({c.in[0], c.in[1]}, {c.out[0]}, [&](const float* const* in, float* const* out, int64_t n) {
      rk.gelu_bwd(in[0], in[1], out[0], n);
    });
  });
}

}  // namespace ctxwin::cpu
