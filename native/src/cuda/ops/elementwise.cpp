// CUDA kernels of native/src/ops/elementwise.cpp (add, mul, scale), on the elementwise
// launchers of cuda_elementwise.cu.
#include "cuda/cuda_kernels.h"
#include "cuda/ops/kernels.h"

namespace ctxwin::cuda {

void register_elementwise_kernels() {
  register_kernel("cuda", "add", [](OpContext& c) {
    const Storage &a = *c.in[0], &b = *c.in[1];
    Storage& o = *c.out[0];
    launch_axpby(1.f, a.dtype(), a.data(), 1.f, b.dtype(), b.data(), o.dtype(), o.data(), (size_t)o.numel(),
                 device_stream());
  });
  register_kernel("cuda", "mul", [](OpContext& c) {
    const Storage &a = *c.in[0], &b = *c.in[1];
    Storage& o = *c.out[0];
    launch_mul(a.dtype(), a.data(), b.dtype(), b.data(), o.dtype(), o.data(), (size_t)o.numel(), device_stream());
  });
  register_kernel("cuda", "scale", [](OpContext& c) {
    float alpha = (float)c.attrs.num("scale", "alpha");
    const Storage& a = *c.in[0];
    Storage& o = *c.out[0];
    launch_axpby(alpha, a.dtype(), a.data(), 0.f, DType::F32, nullptr, o.dtype(), o.data(), (size_t)o.numel(),
                 device_stream());
  });
}

}  // namespace ctxwin::cuda
