// The list of CPU kernel families (add one line here with each native/src/cpu/ops/<family>.cpp),
// and the helpers of kernels.h.
#include "cpu/ops/kernels.h"

#include "runtime/thread_pool.h"

namespace ctxwin::cpu {

std::vector<float> read_f32(const Storage& s) {
  std::vector<float> v((size_t)s.numel());
  row_kernels().to_f32(s.dtype(), s.data(), v.data(), (int64_t)v.size());
  return v;
}

void write_f32(Storage& s, const std::vector<float>& values) { write_f32(s, values.data()); }

void write_f32(Storage& s, const float* values) { row_kernels().from_f32(s.dtype(), values, s.data(), s.numel()); }

int64_t chunk_count(int64_t items, int64_t cost) {
  if (items <= 0) return 1;
  double work = (double)items * (double)(cost < 1 ? 1 : cost);
  int64_t n = (int64_t)(work / 16384.0);
  if (n > 64) n = 64;
  if (n > items) n = items;
  return n < 1 ? 1 : n;
}

void parallel_chunks(int64_t n, const std::function<void(int64_t, int)>& fn) {
  if (n <= 1) {
    if (n == 1) fn(0, 0);
    return;
  }
  ThreadPool::global().parallel_for(n, fn);
}

float* scratch_f32(int slot, size_t n) {
  static thread_local std::vector<float> slots[8];
  std::vector<float>& v = slots[slot];
  if (v.size() < n) v.resize(n);
  return v.data();
}

const float* in_f32(const Storage& s, int64_t off, int64_t n, int slot) {
  if (s.dtype() == DType::F32) return (const float*)s.data() + off;
  float* p = scratch_f32(slot, (size_t)n);
  row_kernels().to_f32(s.dtype(), (const uint16_t*)s.data() + off, p, n);
  return p;
}

float* out_f32(Storage& s, int64_t off, int64_t n, int slot) {
  if (s.dtype() == DType::F32) return (float*)s.data() + off;
  return scratch_f32(slot, (size_t)n);
}

void commit_f32(Storage& s, int64_t off, int64_t n, const float* values) {
  if (s.dtype() == DType::F32) return;
  row_kernels().from_f32(s.dtype(), values, (uint16_t*)s.data() + off, n);
}

void register_all_cpu_kernels() {
  register_elementwise_kernels();
  register_matmul_kernels();
  register_embedding_kernels();
  register_norm_kernels();
  register_activation_kernels();
  register_softmax_kernels();
  register_reduce_kernels();
  register_shape_kernels();
  register_optim_kernels();
  register_gated_prefix_kernels();
}

}  // namespace ctxwin::cpu
