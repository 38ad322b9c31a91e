// The list of CPU kernel families. Add one line here with each native/src/cpu/ops/<family>.cpp.
#include "cpu/ops/kernels.h"

namespace ctxwin::cpu {

std::vector<float> read_f32(const Storage& s) {
  std::vector<float> v((size_t)s.numel());
  to_f32(s.dtype(), s.data(), v.data(), v.size());
  return v;
}

void write_f32(Storage& s, const std::vector<float>& values) { write_f32(s, values.data()); }

void write_f32(Storage& s, const float* values) { from_f32(s.dtype(), values, s.data(), (size_t)s.numel()); }

void register_all_cpu_kernels() {
  register_elementwise_kernels();
}

}  // namespace ctxwin::cpu
