// Private helpers of the row kernels (norms.cu, activations.cu, softmax.cu): typed and
// run-time-typed input sources, launch sizing for one-block-per-row kernels, and the online
// (max, sum-of-exp) reduction of softmax and cross-entropy.
//
// Mixed dtypes: the OpDefs let an op's inputs have different dtypes (f32 norm weights beside
// bf16 activations). Instantiating every combination would multiply compile time, so a kernel is
// templated on its primary dtype T (the one its outputs take) and on one source type S for the
// other inputs: Src<T> when they all share T (the common case, no per-load cost), AnySrc
// otherwise (a warp-uniform switch on the dtype at each load).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>

#include "cuda/ops/device_util.cuh"
#include "runtime/storage.h"

namespace ctxwin::cuda::rowops {

template <typename T>
struct Src {
  const T* p;
  __device__ __forceinline__ float operator[](size_t i) const { return ld(p, i); }
  static Src from(const Storage* s) { return {s ? (const T*)s->data() : nullptr}; }
};

struct AnySrc {
  const void* p;
  DType t;
  __device__ __forceinline__ float operator[](size_t i) const {
    switch (t) {
      case DType::BF16: return ld((const __nv_bfloat16*)p, i);
      case DType::F16: return ld((const __half*)p, i);
      default: return ld((const float*)p, i);
    }
  }
  static AnySrc from(const Storage* s) { return {s ? s->data() : nullptr, s ? s->dtype() : DType::F32}; }
};

// f(T{}, S{}) with T the storage type of `primary` and S = Src<T> when every storage in `others`
// (nulls skipped) has dtype `primary`, else AnySrc.
template <typename F>
void dispatch_sources(DType primary, std::initializer_list<const Storage*> others, F&& f) {
  bool same = true;
  for (const Storage* s : others) same = same && (!s || s->dtype() == primary);
  dispatch_dtype(primary, [&](auto tv) {
    using T = decltype(tv);
    if (same) f(tv, Src<T>{});
    else f(tv, AnySrc{});
  });
}

// The most threads a row kernel is launched with (its __launch_bounds__: at most 64 registers).
constexpr int kMaxRowThreads = 1024;

// Threads for a block that owns a row of d elements: about 8 elements a thread, a multiple of
// 32 (block_sum needs whole warps), 32 to kMaxRowThreads.
inline int row_threads(int64_t d) {
  int64_t t = (d + 7) / 8;
  t = (t + 31) / 32 * 32;
  return (int)std::min<int64_t>(kMaxRowThreads, std::max<int64_t>(32, t));
}

// Blocks of a grid-stride loop over rows (one block a row).
inline int row_blocks(int64_t rows) { return (int)std::max<int64_t>(1, std::min<int64_t>(rows, 1 << 20)); }

// ---- online softmax statistics ---------------------------------------------------------------
// (m, s): running max and sum of exp(x - m); (-inf, 0) is the empty state. Semantics follow the
// CPU kernel's max-then-sum: a +inf entry makes s NaN (exp(inf - inf)), a NaN entry makes s NaN
// (even while m is still -inf), -inf entries add exactly 0.

__device__ __forceinline__ void ms_add(float& m, float& s, float x) {
  if (x > m) {
    // x > m >= -inf, so x is finite or +inf; +inf poisons s as the CPU's exp(inf - inf) does.
    s = s * expf(m - x) + (x == INFINITY ? NAN : 1.f);
    m = x;
  } else if (x != -INFINITY) {  // -inf adds 0 (and exp(-inf - -inf) would be NaN)
    s += expf(x - m);
  }
}

// Symmetric in its arguments bit for bit (products rounded separately, never fused), so every
// lane of a butterfly ends with the same (m, s). m is never NaN (only x > m updates it).
__device__ __forceinline__ void ms_merge(float& m, float& s, float m2, float s2) {
  float mn = fmaxf(m, m2);
  if (mn == -INFINITY) {  // both empty, but a NaN entry may have set s: keep it, symmetrically
    s += s2;
    return;
  }
  s = __fmul_rn(s, expf(m - mn)) + __fmul_rn(s2, expf(m2 - mn));
  m = mn;
}

__device__ __forceinline__ void warp_max_sum(float& m, float& s) {
  for (int o = 16; o > 0; o >>= 1) {
    float m2 = __shfl_xor_sync(0xffffffffu, m, o);
    float s2 = __shfl_xor_sync(0xffffffffu, s, o);
    ms_merge(m, s, m2, s2);
  }
}

// Block-wide (m, s) (blockDim.x a multiple of 32); every thread gets the result. sh_m / sh_s
// hold 32 floats each; synchronises first, so it may be called repeatedly with the same buffers.
__device__ __forceinline__ void block_max_sum(float& m, float& s, float* sh_m, float* sh_s) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  warp_max_sum(m, s);
  __syncthreads();
  if (lane == 0) {
    sh_m[warp] = m;
    sh_s[warp] = s;
  }
  __syncthreads();
  m = lane < warps ? sh_m[lane] : -INFINITY;
  s = lane < warps ? sh_s[lane] : 0.f;
  warp_max_sum(m, s);
}

}  // namespace ctxwin::cuda::rowops
