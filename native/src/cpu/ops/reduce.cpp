// CPU kernels of sum_rows / sum / sumsq / global_norm (native/src/ops/reduce.cpp). Per-chunk
// partial sums (f64 for the scalar reductions) combined in chunk order: deterministic.
#include <cmath>
#include <cstring>

#include "cpu/ops/kernels.h"

namespace ctxwin::cpu {

namespace {

void sum_rows_kernel(OpContext& c) {
  const Storage& x = *c.in[0];
  float* out = (float*)c.out[0]->data();
  int64_t d = x.shape().back(), rows = d == 0 ? 0 : x.numel() / d;
  if (d == 0) return;
  const RowKernels& rk = row_kernels();
  int64_t chunks = chunk_count(rows, d);
  std::vector<float> partial((size_t)(chunks * d), 0.f);
  parallel_chunks(chunks, [&](int64_t ch, int) {
    int64_t lo, hi;
    chunk_range(rows, chunks, ch, &lo, &hi);
    float* acc = partial.data() + ch * d;
    for (int64_t r = lo; r < hi; ++r) rk.acc(in_f32(x, r * d, d, 0), acc, d);
  });
  std::memcpy(out, partial.data(), (size_t)d * 4);
  for (int64_t ch = 1; ch < chunks; ++ch) rk.acc(partial.data() + ch * d, out, d);
}

// sum (squares = false) or sum of squares of every element, in f64.
double total(const Storage& x, bool squares) {
  constexpr int64_t kPiece = 16384;
  int64_t n = x.numel();
  int64_t pieces = (n + kPiece - 1) / kPiece;
  if (pieces == 0) return 0.0;
  std::vector<double> partial((size_t)pieces, 0.0);
  const RowKernels& rk = row_kernels();
  parallel_chunks(pieces, [&](int64_t p, int) {
    int64_t off = p * kPiece, len = n - off < kPiece ? n - off : kPiece;
    const float* v = in_f32(x, off, len, 0);
    partial[p] = squares ? rk.sumsq(v, len) : rk.sum(v, len);
  });
  double s = 0.0;
  for (double v : partial) s += v;
  return s;
}

}  // namespace

void register_reduce_kernels() {
  register_kernel("cpu", "sum_rows", sum_rows_kernel);
  register_kernel("cpu", "sum", [](OpContext& c) { *(float*)c.out[0]->data() = (float)total(*c.in[0], false); });
  register_kernel("cpu", "sumsq", [](OpContext& c) { *(float*)c.out[0]->data() = (float)total(*c.in[0], true); });
  register_kernel("cpu", "global_norm", [](OpContext& c) {
    double s = 0.0;
    for (Storage* t : c.in) s += total(*t, true);
    *(float*)c.out[0]->data() = (float)std::sqrt(s);
  });
}

}  // namespace ctxwin::cpu
