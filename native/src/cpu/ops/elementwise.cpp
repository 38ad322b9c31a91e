// CPU kernels of native/src/ops/elementwise.cpp.
#include <cstring>

#include "cpu/ops/kernels.h"

namespace ctxwin::cpu {

namespace {

void add_bias_kernel(OpContext& c) {
  const Storage& x = *c.in[0];
  Storage& y = *c.out[0];
  std::vector<float> b = read_f32(*c.in[1]);
  int64_t d = b.size(), rows = d == 0 ? 0 : x.numel() / d;
  const RowKernels& rk = row_kernels();
  int64_t chunks = chunk_count(rows, d);
  parallel_chunks(chunks, [&](int64_t ch, int) {
    int64_t lo, hi;
    chunk_range(rows, chunks, ch, &lo, &hi);
    for (int64_t r = lo; r < hi; ++r) {
      const float* xr = in_f32(x, r * d, d, 0);
      float* yr = out_f32(y, r * d, d, 1);
      rk.add(xr, b.data(), yr, d);
      commit_f32(y, r * d, d, yr);
    }
  });
}

void fill_kernel(OpContext& c) {
  Storage& y = *c.out[0];
  float value = (float)c.attrs.num("value", 0.0);
  int64_t n = y.numel();
  if (n == 0) return;
  // One converted piece, then copies of its bytes.
  constexpr int64_t kPiece = 4096;
  int64_t first = n < kPiece ? n : kPiece;
  std::vector<float> f((size_t)first, value);
  size_t es = dtype_size(y.dtype());
  std::vector<char> piece((size_t)first * es);
  row_kernels().from_f32(y.dtype(), f.data(), piece.data(), first);
  char* dst = (char*)y.data();
  for (int64_t off = 0; off < n; off += first) {
    int64_t len = n - off < first ? n - off : first;
    std::memcpy(dst + off * es, piece.data(), (size_t)len * es);
  }
}

}  // namespace

void register_elementwise_kernels() {
  register_kernel("cpu", "add", [](OpContext& c) {
    const RowKernels& rk = row_kernels();
    map_pieces({c.in[0], c.in[1]}, {c.out[0]}, [&](const float* const* in, float* const* out, int64_t n) {
      rk.add(in[0], in[1], out[0], n);
    });
  });
  register_kernel("cpu", "mul", [](OpContext& c) {
    const RowKernels& rk = row_kernels();
    map_pieces({c.in[0], c.in[1]}, {c.out[0]}, [&](const float* const* in, float* const* out, int64_t n) {
      rk.mul(in[0], in[1], out[0], n);
    });
  });
  register_kernel("cpu", "scale", [](OpContext& c) {
    const RowKernels& rk = row_kernels();
    float alpha = (float)c.attrs.num("alpha", 1.0);
    map_pieces({c.in[0]}, {c.out[0]}, [&](const float* const* in, float* const* out, int64_t n) {
      rk.scale(in[0], alpha, out[0], n);
    });
  });
  register_kernel("cpu", "add_bias", add_bias_kernel);
  register_kernel("cpu", "fill", fill_kernel);
}

}  // namespace ctxwin::cpu
