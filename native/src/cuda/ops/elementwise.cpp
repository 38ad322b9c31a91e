// CUDA kernels of native/src/ops/elementwise.cpp: add, mul, scale on the elementwise launchers
// of cuda_elementwise.cu; add_bias and fill on elementwise_ops.cu.
#include "cuda/cuda_kernels.h"
#include "cuda/ops/kernels.h"

namespace ctxwin::cuda {

// elementwise_ops.cu. y = x + b broadcast over the leading dims (b any dtype; y of x's shape and
// dtype); y filled with value (rounded to y's dtype). Enqueue on device_stream(), no waiting.
void launch_add_bias(const Storage& x, const Storage& b, Storage& y);
void launch_fill(Storage& y, float value);

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
  register_kernel("cuda", "add_bias", [](OpContext& c) { launch_add_bias(*c.in[0], *c.in[1], *c.out[0]); });
  // x only gives the shape and dtype (as on the CPU): its data is never read. run_op has already
  // waited for a pending x and passed an error it carries on to the output.
  register_kernel("cuda", "fill",
                  [](OpContext& c) { launch_fill(*c.out[0], (float)c.attrs.num("value", 0.0)); });
}

}  // namespace ctxwin::cuda
