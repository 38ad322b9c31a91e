// CUDA kernels of embedding / embedding_backward (native/src/ops/embedding.cpp).
//
// embedding: check_ids first (the CPU's error message), then a row gather that copies bytes in
// the widest unit (16/8/4/2 bytes) the row size and pointers allow; the output has the weight's
// dtype, so no conversion is involved.
//
// embedding_backward must be deterministic, so there are no float atomics: token indices are
// sorted by id (CUB radix sort, stable, so each id's tokens stay in token order), a binary search
// gives every vocabulary row its range of the sorted tokens, and one thread per (row, column)
// sums its column of those tokens' dy rows in f32, in token order — the CPU's exact sequence of
// additions. Rows no token hits get zeros from the same kernel.
#include <cub/device/device_radix_sort.cuh>

#include <cstdint>
#include <string>

#include "cuda/ops/device_util.cuh"
#include "cuda/ops/kernels.h"

namespace ctxwin::cuda {

namespace {

constexpr int kThreads = 256;

// out[t, :] = w[ids[t], :] for n tokens, rows of `width` units U.
template <typename U>
__global__ void gather_rows_kernel(const U* __restrict__ w, const float* __restrict__ ids, U* __restrict__ out,
                                   size_t n, size_t width) {
  size_t total = n * width, stride = (size_t)gridDim.x * blockDim.x;
  size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= total) return;
  // (token, column) of i, advanced incrementally: one division per thread.
  size_t t = i / width, c = i - t * width;
  const size_t dt = stride / width, dc = stride - dt * width;
  for (; i < total; i += stride) {
    out[i] = w[(size_t)ids[t] * width + c];
    t += dt;
    c += dc;
    if (c >= width) {
      c -= width;
      ++t;
    }
  }
}

template <typename U>
void launch_gather(const void* w, const float* ids, void* out, size_t n, size_t row_bytes, cudaStream_t stream) {
  size_t width = row_bytes / sizeof(U);
  gather_rows_kernel<U><<<grid_for(n * width, kThreads), kThreads, 0, stream>>>((const U*)w, ids, (U*)out, n, width);
  check_launch("gather_rows_kernel");
}

void embedding_kernel(OpContext& c) {
  const Storage& w = *c.in[0];
  const Storage& ids_s = *c.in[1];
  Storage& out = *c.out[0];
  const float* ids = (const float*)ids_s.data();
  int64_t V = w.shape()[0], d = w.shape()[1], n = ids_s.numel();
  check_ids("embedding", "ids", ids, n, V);
  size_t row_bytes = (size_t)d * dtype_size(w.dtype());
  if (n == 0 || row_bytes == 0) return;
  cudaStream_t stream = device_stream();
  uintptr_t align = (uintptr_t)w.data() | (uintptr_t)out.data() | (uintptr_t)row_bytes;
  if (align % 16 == 0)
    launch_gather<uint4>(w.data(), ids, out.data(), (size_t)n, row_bytes, stream);
  else if (align % 8 == 0)
    launch_gather<uint2>(w.data(), ids, out.data(), (size_t)n, row_bytes, stream);
  else if (align % 4 == 0)
    launch_gather<uint32_t>(w.data(), ids, out.data(), (size_t)n, row_bytes, stream);
  else
    launch_gather<uint16_t>(w.data(), ids, out.data(), (size_t)n, row_bytes, stream);
}

// keys[i] = ids[i] as an integer (validated by check_ids), tokens[i] = i.
__global__ void make_keys_kernel(const float* __restrict__ ids, uint32_t* __restrict__ keys,
                                 uint32_t* __restrict__ tokens, uint32_t n) {
  uint32_t stride = gridDim.x * blockDim.x;
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    keys[i] = (uint32_t)ids[i];
    tokens[i] = i;
  }
}

// starts[v] = first position of the sorted keys that is >= v, for v in [0, V]: row v's tokens
// are sorted positions [starts[v], starts[v + 1]).
__global__ void row_starts_kernel(const uint32_t* __restrict__ sorted_keys, uint32_t n, uint32_t* __restrict__ starts,
                                  size_t V) {
  size_t stride = (size_t)gridDim.x * blockDim.x;
  for (size_t v = (size_t)blockIdx.x * blockDim.x + threadIdx.x; v <= V; v += stride) {
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
      uint32_t mid = lo + (hi - lo) / 2;
      if ((size_t)sorted_keys[mid] < v)
        lo = mid + 1;
      else
        hi = mid;
    }
    starts[v] = lo;
  }
}

// dw[v, col] = sum over row v's tokens (in token order) of dy[token, col]. Work items are
// (row, column chunk of blockDim.x); grid-stride over items; no shared memory, no barriers.
template <typename T>
__global__ void embedding_backward_kernel(const T* __restrict__ dy, const uint32_t* __restrict__ sorted_tokens,
                                          const uint32_t* __restrict__ starts, float* __restrict__ dw, size_t V,
                                          size_t d, size_t chunks) {
  size_t items = V * chunks;
  for (size_t item = blockIdx.x; item < items; item += gridDim.x) {
    size_t v = item / chunks;
    size_t col = (item - v * chunks) * blockDim.x + threadIdx.x;
    if (col >= d) continue;
    uint32_t j = starts[v], end = starts[v + 1];
    float acc = 0.f;
    // Four loads in flight per step; the additions stay in token order.
    for (; j + 4 <= end; j += 4) {
      float x0 = ld(dy, (size_t)sorted_tokens[j] * d + col);
      float x1 = ld(dy, (size_t)sorted_tokens[j + 1] * d + col);
      float x2 = ld(dy, (size_t)sorted_tokens[j + 2] * d + col);
      float x3 = ld(dy, (size_t)sorted_tokens[j + 3] * d + col);
      acc += x0;
      acc += x1;
      acc += x2;
      acc += x3;
    }
    for (; j < end; ++j) acc += ld(dy, (size_t)sorted_tokens[j] * d + col);
    dw[v * d + col] = acc;
  }
}

// Bits needed for keys in [0, V): at least 1 (CUB wants a non-empty bit range).
int key_bits(uint64_t V) {
  int bits = 1;
  while (bits < 64 && (V - 1) >> bits) ++bits;
  return bits;
}

size_t round_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

void embedding_backward_op(OpContext& c) {
  const Storage& dy = *c.in[0];
  const Storage& ids_s = *c.in[1];
  Storage& dw = *c.out[0];
  const float* ids = (const float*)ids_s.data();
  int64_t V = dw.shape()[0], d = dw.shape()[1], n = ids_s.numel();
  const char* op = "embedding_backward";
  check_ids(op, "ids", ids, n, V);
  if (V == 0 || d == 0) return;
  cudaStream_t stream = device_stream();
  if (n == 0) {
    check_cuda(cudaMemsetAsync(dw.data(), 0, (size_t)V * (size_t)d * sizeof(float), stream), "cudaMemsetAsync");
    return;
  }
  // 32-bit keys (ids < V) and token indices; CUB counts items in int.
  if (V > ((int64_t)1 << 32))
    fail("ERR_ARG", std::string(op) + ": vocab: at most 2^32 rows on the cuda backend, got " + std::to_string(V));
  if (n > (int64_t)INT32_MAX)
    fail("ERR_ARG", std::string(op) + ": ids: at most 2^31-1 ids on the cuda backend, got " + std::to_string(n));

  // One scratch block: keys in/out, tokens in/out, starts[V + 1], then CUB's temporary storage.
  size_t nn = (size_t)n, vv = (size_t)V;
  size_t cub_bytes = 0;
  int bits = key_bits((uint64_t)V);
  check_cuda(cub::DeviceRadixSort::SortPairs(nullptr, cub_bytes, (const uint32_t*)nullptr, (uint32_t*)nullptr,
                                             (const uint32_t*)nullptr, (uint32_t*)nullptr, (int)n, 0, bits, stream),
             "cub::DeviceRadixSort::SortPairs (size query)");
  size_t arr = round_up(nn * sizeof(uint32_t), 256);
  size_t starts_bytes = round_up((vv + 1) * sizeof(uint32_t), 256);
  DeviceScratch scratch(4 * arr + starts_bytes + cub_bytes);
  char* base = scratch.as<char>();
  uint32_t* keys_in = (uint32_t*)base;
  uint32_t* keys_out = (uint32_t*)(base + arr);
  uint32_t* tok_in = (uint32_t*)(base + 2 * arr);
  uint32_t* tok_out = (uint32_t*)(base + 3 * arr);
  uint32_t* starts = (uint32_t*)(base + 4 * arr);
  void* cub_tmp = base + 4 * arr + starts_bytes;

  make_keys_kernel<<<grid_for(nn, kThreads), kThreads, 0, stream>>>(ids, keys_in, tok_in, (uint32_t)n);
  check_launch("make_keys_kernel");
  check_cuda(cub::DeviceRadixSort::SortPairs(cub_tmp, cub_bytes, keys_in, keys_out, tok_in, tok_out, (int)n, 0, bits,
                                             stream),
             "cub::DeviceRadixSort::SortPairs");
  row_starts_kernel<<<grid_for(vv + 1, kThreads), kThreads, 0, stream>>>(keys_out, (uint32_t)n, starts, vv);
  check_launch("row_starts_kernel");

  // Threads per block: d rounded up to a warp, at most 256 (small d wastes no idle warps).
  size_t threads = std::min<size_t>(kThreads, round_up((size_t)d, 32));
  size_t chunks = ((size_t)d + threads - 1) / threads;
  size_t blocks = std::min<size_t>(vv * chunks, (size_t)1 << 20);
  dispatch_dtype(dy.dtype(), [&](auto tv) {
    using T = decltype(tv);
    embedding_backward_kernel<T><<<(unsigned)blocks, (unsigned)threads, 0, stream>>>(
        (const T*)dy.data(), tok_out, starts, (float*)dw.data(), vv, (size_t)d, chunks);
    check_launch("embedding_backward_kernel");
  });
}

}  // namespace

void register_embedding_kernels() {
  register_kernel("cuda", "embedding", embedding_kernel);
  register_kernel("cuda", "embedding_backward", embedding_backward_op);
}

}  // namespace ctxwin::cuda
