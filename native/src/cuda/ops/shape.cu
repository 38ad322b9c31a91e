// CUDA kernels of concat / slice / copy_into (native/src/ops/shape.cpp).
//
// Each op is a set of 2-D copies: a tensor seen as [outer, size_along_dim * inner] is a stack of
// `outer` contiguous blocks, and the op copies `rows` blocks of `width` elements between two
// pitches. One kernel does every such copy: with equal dtypes it moves raw bytes in the widest
// unit (16/8/4/2 bytes) the pointers, widths and pitches allow; with different dtypes (concat's
// b, copy_into's src may differ from the output) it converts through f32, rounding as the CPU.
// Fully contiguous same-dtype copies are a plain cudaMemcpyAsync.
#include <cstdint>
#include <type_traits>
#include <vector>

#include "cuda/ops/device_util.cuh"
#include "cuda/ops/kernels.h"

namespace ctxwin::cuda {

namespace {

constexpr int kThreads = 256;

// dst[r * dpitch + c] = convert(src[r * spitch + c]) for r < rows, c < width. S == D copies
// the values unchanged. No __restrict__: in copy_into, src may be a view of dst's memory.
template <typename S, typename D>
__global__ void copy2d_kernel(const S* src, size_t spitch, D* dst, size_t dpitch, size_t rows, size_t width) {
  size_t total = rows * width, stride = (size_t)gridDim.x * blockDim.x;
  size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= total) return;
  // (row, column) of i, advanced incrementally: one division per thread.
  size_t r = i / width, c = i - r * width;
  const size_t dr = stride / width, dc = stride - dr * width;
  for (; i < total; i += stride) {
    if constexpr (std::is_same_v<S, D>)
      dst[r * dpitch + c] = src[r * spitch + c];
    else
      st(dst, r * dpitch + c, ld(src, r * spitch + c));
    r += dr;
    c += dc;
    if (c >= width) {
      c -= width;
      ++r;
    }
  }
}

template <typename S, typename D>
void launch_copy2d(const void* src, size_t spitch, void* dst, size_t dpitch, size_t rows, size_t width,
                   cudaStream_t stream) {
  copy2d_kernel<S, D><<<grid_for(rows * width, kThreads), kThreads, 0, stream>>>((const S*)src, spitch, (D*)dst,
                                                                                 dpitch, rows, width);
  check_launch("copy2d_kernel");
}

// Same-dtype copy of raw bytes: the widest unit dividing every address, width and pitch.
void copy2d_bytes(const char* src, size_t spitch, char* dst, size_t dpitch, size_t rows, size_t width,
                  cudaStream_t stream) {
  if (src == dst && spitch == dpitch) return;  // copy_into of a tensor onto itself
  if (spitch == width && dpitch == width) {
    check_cuda(cudaMemcpyAsync(dst, src, rows * width, cudaMemcpyDeviceToDevice, stream), "cudaMemcpyAsync");
    return;
  }
  uintptr_t align = (uintptr_t)src | (uintptr_t)dst | (uintptr_t)spitch | (uintptr_t)dpitch | (uintptr_t)width;
  if (align % 16 == 0)
    launch_copy2d<uint4, uint4>(src, spitch / 16, dst, dpitch / 16, rows, width / 16, stream);
  else if (align % 8 == 0)
    launch_copy2d<uint2, uint2>(src, spitch / 8, dst, dpitch / 8, rows, width / 8, stream);
  else if (align % 4 == 0)
    launch_copy2d<uint32_t, uint32_t>(src, spitch / 4, dst, dpitch / 4, rows, width / 4, stream);
  else  // every dtype is 2 or 4 bytes
    launch_copy2d<uint16_t, uint16_t>(src, spitch / 2, dst, dpitch / 2, rows, width / 2, stream);
}

// Copies `rows` blocks of `width` elements: src elements [soff + r * spitch, + width) to dst
// elements [doff + r * dpitch, + width) (offsets and pitches in elements of each tensor).
void copy2d(const Storage& src, size_t soff, size_t spitch, Storage& dst, size_t doff, size_t dpitch, size_t rows,
            size_t width) {
  if (rows == 0 || width == 0) return;
  cudaStream_t stream = device_stream();
  if (src.dtype() == dst.dtype()) {
    size_t es = dtype_size(src.dtype());
    copy2d_bytes((const char*)src.data() + soff * es, spitch * es, (char*)dst.data() + doff * es, dpitch * es, rows,
                 width * es, stream);
    return;
  }
  dispatch_dtype(src.dtype(), [&](auto sv) {
    using S = decltype(sv);
    dispatch_dtype(dst.dtype(), [&](auto dv) {
      using D = decltype(dv);
      if constexpr (!std::is_same_v<S, D>)
        launch_copy2d<S, D>((const S*)src.data() + soff, spitch, (D*)dst.data() + doff, dpitch, rows, width, stream);
    });
  });
}

int64_t norm_dim(const Attrs& a, size_t rank) {
  int64_t d = a.integer("dim", 0);
  return d < 0 ? d + (int64_t)rank : d;
}

// Products of the dims before and after `dim`.
void outer_inner(const std::vector<int64_t>& s, int64_t dim, size_t* outer, size_t* inner) {
  *outer = 1;
  *inner = 1;
  for (int64_t i = 0; i < dim; ++i) *outer *= (size_t)s[i];
  for (size_t i = (size_t)dim + 1; i < s.size(); ++i) *inner *= (size_t)s[i];
}

void concat_op(OpContext& c) {
  const Storage& a = *c.in[0];
  const Storage& b = *c.in[1];
  Storage& out = *c.out[0];
  int64_t dim = norm_dim(c.attrs, a.shape().size());
  size_t outer, inner;
  outer_inner(a.shape(), dim, &outer, &inner);
  size_t ab = (size_t)a.shape()[dim] * inner, bb = (size_t)b.shape()[dim] * inner;
  copy2d(a, 0, ab, out, 0, ab + bb, outer, ab);
  copy2d(b, 0, bb, out, ab, ab + bb, outer, bb);
}

void slice_op(OpContext& c) {
  const Storage& x = *c.in[0];
  Storage& out = *c.out[0];
  int64_t dim = norm_dim(c.attrs, x.shape().size());
  size_t outer, inner;
  outer_inner(x.shape(), dim, &outer, &inner);
  int64_t size = x.shape()[dim];
  int64_t start = c.attrs.integer("start", 0), end = c.attrs.integer("end", size);
  size_t blk = (size_t)(end - start) * inner;
  copy2d(x, (size_t)start * inner, (size_t)size * inner, out, 0, blk, outer, blk);
}

void copy_into_op(OpContext& c) {
  Storage& dst = *c.in[0];
  const Storage& src = *c.in[1];
  int64_t dim = norm_dim(c.attrs, dst.shape().size());
  size_t outer, inner;
  outer_inner(dst.shape(), dim, &outer, &inner);
  size_t dsize = (size_t)dst.shape()[dim], ssize = (size_t)src.shape()[dim];
  size_t start = (size_t)c.attrs.integer("start", 0);
  size_t blk = ssize * inner;
  copy2d(src, 0, blk, dst, start * inner, dsize * inner, outer, blk);
}

}  // namespace

void register_shape_kernels() {
  register_kernel("cuda", "concat", concat_op);
  register_kernel("cuda", "slice", slice_op);
  register_kernel("cuda", "copy_into", copy_into_op);
}

}  // namespace ctxwin::cuda
