// CPU kernels of softmax / softmax_cross_entropy (native/src/ops/softmax.cpp): one row at a time
// (max, exp + sum in f32 lanes folded into f64, log), rows in chunks over the thread pool.
#include <cmath>
#include <cstring>

#include "cpu/ops/kernels.h"
#include "ops/op_util.h"

namespace ctxwin::cpu {

namespace {

void softmax_kernel(OpContext& c) {
  const Storage& x = *c.in[0];
  Storage& y = *c.out[0];
  int64_t V = x.shape().back(), rows = x.numel() / V;
  const RowKernels& rk = row_kernels();
  int64_t chunks = chunk_count(rows, V);
  parallel_chunks(chunks, [&](int64_t ch, int) {
    int64_t lo, hi;
    chunk_range(rows, chunks, ch, &lo, &hi);
    for (int64_t r = lo; r < hi; ++r) {
      const float* xr = in_f32(x, r * V, V, 0);
      float* yr = out_f32(y, r * V, V, 1);
      rk.softmax(xr, yr, V);
      commit_f32(y, r * V, V, yr);
    }
  });
}

void xent_kernel(OpContext& c) {
  const char* op = "softmax_cross_entropy";
  const Storage& logits = *c.in[0];
  const float* targets = (const float*)c.in[1]->data();
  float* losses = (float*)c.out[0]->data();
  Storage* dlogits = c.out.size() > 1 ? c.out[1] : nullptr;
  int64_t V = logits.shape().back(), rows = logits.numel() / V;
  double ignore = (double)c.attrs.integer("ignoreIndex", -100);
  int64_t count = 0;
  for (int64_t r = 0; r < rows; ++r) {
    double t = targets[r];
    if (t == ignore) continue;
    if (!(t >= 0 && t < (double)V && t == std::floor(t)))
      fail("ERR_ARG", std::string(op) + ": targets: expected ids in [0, " + std::to_string(V) + ") or ignoreIndex " +
                          opu::num_str(ignore) + ", got " + opu::num_str(t));
    ++count;
  }
  float scale = c.attrs.has("gradScale") ? (float)c.attrs.num("gradScale", 1.0) : (count > 0 ? 1.f / (float)count : 0.f);
  const RowKernels& rk = row_kernels();
  int64_t chunks = chunk_count(rows, V);
  parallel_chunks(chunks, [&](int64_t ch, int) {
    int64_t lo, hi;
    chunk_range(rows, chunks, ch, &lo, &hi);
    for (int64_t r = lo; r < hi; ++r) {
      double t = targets[r];
      if (t == ignore) {
        losses[r] = 0.f;
        if (dlogits) {
          float* g = out_f32(*dlogits, r * V, V, 1);
          std::memset(g, 0, (size_t)V * 4);
          commit_f32(*dlogits, r * V, V, g);
        }
        continue;
      }
      const float* xr = in_f32(logits, r * V, V, 0);
      float* g = dlogits ? out_f32(*dlogits, r * V, V, 1) : nullptr;
      losses[r] = (float)rk.xent(xr, V, (int64_t)t, g, scale);
      if (g) commit_f32(*dlogits, r * V, V, g);
    }
  });
}

}  // namespace

void register_softmax_kernels() {
  register_kernel("cpu", "softmax", softmax_kernel);
  register_kernel("cpu", "softmax_cross_entropy", xent_kernel);
}

}  // namespace ctxwin::cpu
