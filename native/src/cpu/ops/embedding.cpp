// CPU kernels of embedding / embedding_backward (native/src/ops/embedding.cpp).
#include <cmath>
#include <cstring>

#include "cpu/ops/kernels.h"
#include "ops/op_util.h"

namespace ctxwin::cpu {

namespace {

// The id at ids[i] as an integer in [0, V), else an ERR_ARG naming the op.
int64_t checked_id(const char* op, const float* ids, int64_t i, int64_t V) {
  float f = ids[i];
  if (!(f >= 0.f && f < (float)V && f == std::floor(f)))
    fail("ERR_ARG", std::string(op) + ": ids: expected ids in [0, " + std::to_string(V) + "), got " + opu::num_str(f));
  return (int64_t)f;
}

void embedding_kernel(OpContext& c) {
  const Storage& w = *c.in[0];
  const Storage& ids_s = *c.in[1];
  Storage& out = *c.out[0];
  const float* ids = (const float*)ids_s.data();
  int64_t V = w.shape()[0], d = w.shape()[1], n = ids_s.numel();
  for (int64_t i = 0; i < n; ++i) checked_id("embedding", ids, i, V);
  size_t row_bytes = (size_t)d * dtype_size(w.dtype());
  const char* src = (const char*)w.data();
  char* dst = (char*)out.data();
  int64_t chunks = chunk_count(n, d);
  parallel_chunks(chunks, [&](int64_t ch, int) {
    int64_t lo, hi;
    chunk_range(n, chunks, ch, &lo, &hi);
    for (int64_t i = lo; i < hi; ++i) std::memcpy(dst + i * row_bytes, src + (int64_t)ids[i] * row_bytes, row_bytes);
  });
}

// dW[v] = sum of dy rows with id v, in token order. Vocabulary ranges are split between chunks:
// each chunk scans every id and adds the rows that fall in its range (no races, deterministic).
void embedding_backward_kernel(OpContext& c) {
  const Storage& dy = *c.in[0];
  const Storage& ids_s = *c.in[1];
  Storage& dw = *c.out[0];
  const float* ids = (const float*)ids_s.data();
  int64_t V = dw.shape()[0], d = dw.shape()[1], n = ids_s.numel();
  for (int64_t i = 0; i < n; ++i) checked_id("embedding_backward", ids, i, V);
  float* out = (float*)dw.data();
  int64_t chunks = chunk_count(V, d);
  const RowKernels& rk = row_kernels();
  parallel_chunks(chunks, [&](int64_t ch, int) {
    int64_t lo, hi;
    chunk_range(V, chunks, ch, &lo, &hi);
    std::memset(out + lo * d, 0, (size_t)((hi - lo) * d) * 4);
    for (int64_t i = 0; i < n; ++i) {
      int64_t v = (int64_t)ids[i];
      if (v < lo || v >= hi) continue;
      rk.acc(in_f32(dy, i * d, d, 0), out + v * d, d);
    }
  });
}

}  // namespace

void register_embedding_kernels() {
  register_kernel("cpu", "embedding", embedding_kernel);
  register_kernel("cpu", "embedding_backward", embedding_backward_kernel);
}

}  // namespace ctxwin::cpu
