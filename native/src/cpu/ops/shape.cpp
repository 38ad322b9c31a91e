// CPU kernels of concat / slice / copy_into (native/src/ops/shape.cpp): contiguous block copies
// (memcpy when the dtypes agree, converted through f32 otherwise).
#include <cstring>

#include "cpu/ops/kernels.h"

namespace ctxwin::cpu {

namespace {

// dst[doff, doff+n) = src[soff, soff+n) (element offsets).
void copy_elems(const Storage& src, int64_t soff, Storage& dst, int64_t doff, int64_t n) {
  if (n <= 0) return;
  if (src.dtype() == dst.dtype()) {
    size_t es = dtype_size(src.dtype());
    std::memcpy((char*)dst.data() + doff * es, (const char*)src.data() + soff * es, (size_t)n * es);
    return;
  }
  const RowKernels& rk = row_kernels();
  constexpr int64_t kPiece = 4096;
  for (int64_t o = 0; o < n; o += kPiece) {
    int64_t len = n - o < kPiece ? n - o : kPiece;
    const float* v = in_f32(src, soff + o, len, 0);
    size_t es = dtype_size(dst.dtype());
    rk.from_f32(dst.dtype(), v, (char*)dst.data() + (doff + o) * es, len);
  }
}

int64_t norm_dim(const Attrs& a, size_t rank) {
  int64_t d = a.integer("dim", 0);
  return d < 0 ? d + (int64_t)rank : d;
}

// Products of the dims before and after `dim`.
void outer_inner(const std::vector<int64_t>& s, int64_t dim, int64_t* outer, int64_t* inner) {
  *outer = 1;
  *inner = 1;
  for (int64_t i = 0; i < dim; ++i) *outer *= s[i];
  for (size_t i = (size_t)dim + 1; i < s.size(); ++i) *inner *= s[i];
}

// For o in [0, outer): fn(o) in chunks over the pool.
template <class F>
void over_outer(int64_t outer, int64_t block, F fn) {
  int64_t chunks = chunk_count(outer, block);
  parallel_chunks(chunks, [&](int64_t ch, int) {
    int64_t lo, hi;
    chunk_range(outer, chunks, ch, &lo, &hi);
    for (int64_t o = lo; o < hi; ++o) fn(o);
  });
}

void concat_kernel(OpContext& c) {
  const Storage& a = *c.in[0];
  const Storage& b = *c.in[1];
  Storage& out = *c.out[0];
  int64_t dim = norm_dim(c.attrs, a.shape().size()), outer, inner;
  outer_inner(a.shape(), dim, &outer, &inner);
  int64_t ab = a.shape()[dim] * inner, bb = b.shape()[dim] * inner;
  over_outer(outer, ab + bb, [&](int64_t o) {
    copy_elems(a, o * ab, out, o * (ab + bb), ab);
    copy_elems(b, o * bb, out, o * (ab + bb) + ab, bb);
  });
}

void slice_kernel(OpContext& c) {
  const Storage& x = *c.in[0];
  Storage& out = *c.out[0];
  int64_t dim = norm_dim(c.attrs, x.shape().size()), outer, inner;
  outer_inner(x.shape(), dim, &outer, &inner);
  int64_t size = x.shape()[dim];
  int64_t start = c.attrs.integer("start", 0), end = c.attrs.integer("end", size);
  int64_t blk = (end - start) * inner;
  over_outer(outer, blk, [&](int64_t o) { copy_elems(x, o * size * inner + start * inner, out, o * blk, blk); });
}

void copy_into_kernel(OpContext& c) {
  Storage& dst = *c.in[0];
  const Storage& src = *c.in[1];
  int64_t dim = norm_dim(c.attrs, dst.shape().size()), outer, inner;
  outer_inner(dst.shape(), dim, &outer, &inner);
  int64_t dsize = dst.shape()[dim], ssize = src.shape()[dim];
  int64_t start = c.attrs.integer("start", 0);
  int64_t blk = ssize * inner;
  over_outer(outer, blk, [&](int64_t o) { copy_elems(src, o * blk, dst, o * dsize * inner + start * inner, blk); });
}

}  // namespace

void register_shape_kernels() {
  register_kernel("cpu", "concat", concat_kernel);
  register_kernel("cpu", "slice", slice_kernel);
  register_kernel("cpu", "copy_into", copy_into_kernel);
}

}  // namespace ctxwin::cpu
