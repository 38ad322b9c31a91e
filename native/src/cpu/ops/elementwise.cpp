// CPU kernels of native/src/ops/elementwise.cpp.
#include <vector>

#include "cpu/ops/kernels.h"

namespace ctxwin::cpu {

namespace {

template <typename F>
void binary(OpContext& c, F f) {
  size_t n = (size_t)c.in[0]->numel();
  std::vector<float> a = read_f32(*c.in[0]), b = read_f32(*c.in[1]);
  for (size_t i = 0; i < n; ++i) a[i] = f(a[i], b[i]);
  write_f32(*c.out[0], a);
}

}  // namespace

void register_elementwise_kernels() {
  register_kernel("cpu", "add", [](OpContext& c) { binary(c, [](float x, float y) { return x + y; }); });
  register_kernel("cpu", "mul", [](OpContext& c) { binary(c, [](float x, float y) { return x * y; }); });
  register_kernel("cpu", "scale", [](OpContext& c) {
    float alpha = (float)c.attrs.num("scale", "alpha");
    std::vector<float> a = read_f32(*c.in[0]);
    for (float& x : a) x *= alpha;
    write_f32(*c.out[0], a);
  });
}

}  // namespace ctxwin::cpu
