// Shared helpers of the CPU op kernels (native/src/cpu/ops). Kernels compute in f32: half-type
// storages are converted on the way in and out (by row or chunk, into per-thread scratch), f32
// storages are used in place.
//
// Threading: kernels split their rows/elements into chunks whose number depends only on the
// problem size (chunk_count), never on the thread count, so reductions that sum per-chunk
// partials in chunk order give the same bits on every machine.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "cpu/ops/row_kernels.h"
#include "ops/op.h"

namespace ctxwin::cpu {

// The storage's values as f32 (a copy; for f32 storages prefer f32_ptr()).
std::vector<float> read_f32(const Storage& s);
// Writes f32 values into the storage in its own dtype.
void write_f32(Storage& s, const std::vector<float>& values);
void write_f32(Storage& s, const float* values);
// Direct pointer when the storage is f32, else null.
inline float* f32_ptr(Storage& s) { return s.dtype() == DType::F32 ? (float*)s.data() : nullptr; }
inline const float* f32_ptr(const Storage& s) { return s.dtype() == DType::F32 ? (const float*)s.data() : nullptr; }

// ---- chunks and threads ----------------------------------------------------------------------

// Number of chunks for `items` items of `cost` elements each: about 16K elements a chunk, at
// most 64 chunks, at most `items`; at least 1.
int64_t chunk_count(int64_t items, int64_t cost);
// [lo, hi) of chunk c of n over `items` items.
inline void chunk_range(int64_t items, int64_t n, int64_t c, int64_t* lo, int64_t* hi) {
  *lo = items * c / n;
  *hi = items * (c + 1) / n;
}
// fn(chunk, thread) for every chunk, on ThreadPool::global() (inline when n == 1).
void parallel_chunks(int64_t n, const std::function<void(int64_t chunk, int thread)>& fn);

// ---- f32 views of storage ranges -------------------------------------------------------------

// Per-thread scratch: `slot` in [0, 8) names independent buffers of one thread.
float* scratch_f32(int slot, size_t n);
// Elements [off, off+n) of s as f32: a pointer into s when f32, else converted into scratch slot.
const float* in_f32(const Storage& s, int64_t off, int64_t n, int slot);
// Where to write elements [off, off+n) of s as f32: into s when f32, else scratch slot; call
// commit_f32 after writing.
float* out_f32(Storage& s, int64_t off, int64_t n, int slot);
void commit_f32(Storage& s, int64_t off, int64_t n, const float* values);

// Elementwise map over pieces of up to 16K elements: fn(in, out, len) with in[i] / out[o] the f32
// views of inputs / outputs at the piece (all of ins' first element count). Scratch slots:
// inputs 0.., outputs after them.
template <size_t NI, size_t NO, class F>
void map_pieces(const Storage* const (&ins)[NI], Storage* const (&outs)[NO], F fn) {
  constexpr int64_t kPiece = 16384;
  int64_t n = ins[0]->numel();
  int64_t pieces = (n + kPiece - 1) / kPiece;
  parallel_chunks(pieces, [&](int64_t p, int) {
    int64_t off = p * kPiece, len = n - off < kPiece ? n - off : kPiece;
    const float* in[NI];
    float* out[NO];
    for (size_t i = 0; i < NI; ++i) in[i] = in_f32(*ins[i], off, len, (int)i);
    for (size_t o = 0; o < NO; ++o) out[o] = out_f32(*outs[o], off, len, (int)(NI + o));
    fn(in, out, len);
    for (size_t o = 0; o < NO; ++o) commit_f32(*outs[o], off, len, out[o]);
  });
}

// Every family's registration function; all_kernels.cpp calls them.
void register_elementwise_kernels();
void register_matmul_kernels();
void register_embedding_kernels();
void register_norm_kernels();
void register_activation_kernels();
void register_softmax_kernels();
void register_reduce_kernels();
void register_shape_kernels();
void register_optim_kernels();
void register_gated_prefix_kernels();
void register_all_cpu_kernels();

}  // namespace ctxwin::cpu
