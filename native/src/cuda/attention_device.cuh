// Device helpers of the attention kernels: element types, tensor-core fragments (mma.sync
// m16n8k16, ldmatrix), cp.async, fast exp2, the swizzled shared-memory layout, and RoPE helpers.
//
// Fragment layouts (PTX ISA, "Matrix fragments for mma.m16n8k16"), g = lane / 4, t = lane % 4:
//   A 16x16 (row-major): a0 (g, 2t..2t+1), a1 (g+8, 2t..), a2 (g, 2t+8..), a3 (g+8, 2t+8..)
//   B 16x8  (k x n):     b0 (k = 2t..2t+1, n = g), b1 (k = 2t+8.., n = g)
//   C 16x8  (f32):       c0, c1 (g, 2t..2t+1), c2, c3 (g+8, 2t..2t+1)
// ldmatrix.x4: lanes 8i..8i+7 give the row addresses of 8x8 matrix i; register i of lane l holds
// row l/4, columns 2(l%4)..+1 of matrix i (.trans: rows 2(l%4)..+1, column l/4).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace ctxwin::cuda::attn {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

// ---- element types -----------------------------------------------------------------------------
template <typename T>
struct Elem;
template <>
struct Elem<float> {
  static __device__ __forceinline__ float to_f(float x) { return x; }
  static __device__ __forceinline__ float from_f(float x) { return x; }
};
template <>
struct Elem<__nv_bfloat16> {
  using T2 = __nv_bfloat162;
  static __device__ __forceinline__ float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }
  static __device__ __forceinline__ __nv_bfloat16 from_f(float x) { return __float2bfloat16_rn(x); }
  static __device__ __forceinline__ T2 pack(float lo, float hi) { return __floats2bfloat162_rn(lo, hi); }
  static __device__ __forceinline__ float2 unpack(T2 v) { return __bfloat1622float2(v); }
};
template <>
struct Elem<__half> {
  using T2 = __half2;
  static __device__ __forceinline__ float to_f(__half x) { return __half2float(x); }
  static __device__ __forceinline__ __half from_f(float x) { return __float2half_rn(x); }
  static __device__ __forceinline__ T2 pack(float lo, float hi) { return __floats2half2_rn(lo, hi); }
  static __device__ __forceinline__ float2 unpack(T2 v) { return __half22float2(v); }
};

// Two floats as one 32-bit mma operand register (low half = first = lower column index).
template <typename T>
__device__ __forceinline__ uint32_t pack_u32(float lo, float hi) {
  typename Elem<T>::T2 v = Elem<T>::pack(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

// ---- tensor cores --------------------------------------------------------------------------------
template <typename T>
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
template <>
__device__ __forceinline__ void mma16816<__nv_bfloat16>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                                        uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma16816<__half>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t smem_u32(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }

__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(p)));
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(p)));
}

// ---- cp.async ----------------------------------------------------------------------------------
// 16 bytes; pred false zero-fills the destination (src is not read but must be a valid address).
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool pred) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_u32(smem)), "l"(gmem),
               "r"(pred ? 16 : 0)
               : "memory");
}
__device__ __forceinline__ void cp_async4(void* smem, const void* gmem, bool pred) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_u32(smem)), "l"(gmem),
               "r"(pred ? 4 : 0)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// ---- math ----------------------------------------------------------------------------------------
// 2^x (ex2.approx: rel. error ~2^-22; ex2(-inf) = +0).
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// ---- shared-memory layout of [rows][D] tiles of 2-byte elements ------------------------------------
// 16-byte chunk c of row r lives at chunk c ^ (r & 7): ldmatrix over 8 consecutive rows and any
// chunk hits 8 distinct bank groups. Needs D >= 64 (8 chunks per row). Host+device so that the
// test program can emulate the fragment traffic on the CPU.
template <int D>
__host__ __device__ __forceinline__ int swz(int row, int chunk) {
  return row * D + ((chunk ^ (row & 7)) << 3);
}
// Element (row, d).
template <int D>
__host__ __device__ __forceinline__ int swz_elem(int row, int d) {
  return swz<D>(row, d >> 3) + (d & 7);
}

// ---- ldmatrix.x4 row addresses (which row and 16-byte chunk lane `lane` points at) --------------
// A operand, rows m0..m0+15 x k = 16 kc..16 kc+15, from a [m][k] tile (ldmatrix, no trans).
__host__ __device__ __forceinline__ void lm_a_mk(int lane, int m0, int kc, int* row, int* chunk) {
  *row = m0 + (lane & 15);
  *chunk = 2 * kc + (lane >> 4);
}
// B operands of two n-blocks n0..n0+7 (regs 0, 1) and n0+8..n0+15 (regs 2, 3), k = 16 kc..16 kc+15,
// from a [n][k] tile (ldmatrix, no trans): K for S = Q K^T, Q for S^T = K Q^T.
__host__ __device__ __forceinline__ void lm_b_nk(int lane, int n0, int kc, int* row, int* chunk) {
  *row = n0 + (lane & 7) + ((lane >> 4) << 3);
  *chunk = 2 * kc + ((lane >> 3) & 1);
}
// B operands of two n-blocks 16 np..16 np+7 (regs 0, 1) and 16 np+8.. (regs 2, 3), k = k0..k0+15,
// from a [k][n] tile (ldmatrix.trans): V for O = P V, dO for dV, Q for dK, K for dQ.
__host__ __device__ __forceinline__ void lm_b_kn(int lane, int k0, int np, int* row, int* chunk) {
  *row = k0 + (lane & 7) + (((lane >> 3) & 1) << 3);
  *chunk = 2 * np + (lane >> 4);
}
// A operand, rows m0..m0+15 x k = k0..k0+15, from a [k][m] tile (ldmatrix.trans): dS for dQ = dS K
// read from dS^T. Returns the row (k) and the first column (m) of the lane's 8-element run.
__host__ __device__ __forceinline__ void lm_a_km(int lane, int k0, int m0, int* row, int* col) {
  *row = k0 + (lane & 7) + ((lane >> 4) << 3);
  *col = m0 + (((lane >> 3) & 1) << 3);
}

// Swizzled-tile loads with the addressing above.
template <int D>
__device__ __forceinline__ void ldsm_a_mk(uint32_t (&r)[4], const void* tile, int lane, int m0, int kc) {
  int row, chunk;
  lm_a_mk(lane, m0, kc, &row, &chunk);
  ldsm_x4(r, static_cast<const uint16_t*>(tile) + swz<D>(row, chunk));
}
template <int D>
__device__ __forceinline__ void ldsm_b_nk(uint32_t (&r)[4], const void* tile, int lane, int n0, int kc) {
  int row, chunk;
  lm_b_nk(lane, n0, kc, &row, &chunk);
  ldsm_x4(r, static_cast<const uint16_t*>(tile) + swz<D>(row, chunk));
}
template <int D>
__device__ __forceinline__ void ldsm_b_kn(uint32_t (&r)[4], const void* tile, int lane, int k0, int np) {
  int row, chunk;
  lm_b_kn(lane, k0, np, &row, &chunk);
  ldsm_x4_t(r, static_cast<const uint16_t*>(tile) + swz<D>(row, chunk));
}

// ---- RoPE ----------------------------------------------------------------------------------------
// Rotate half (forward): (x1, x2) -> (x1 c - x2 s, x2 c + x1 s).
__device__ __forceinline__ void rope_fwd(float& x1, float& x2, float c, float s) {
  float a = x1 * c - x2 * s;
  float b = x2 * c + x1 * s;
  x1 = a;
  x2 = b;
}

// Rotates rows of a swizzled [rows][D] tile in place. pos_of(r) returns the position of row r or
// -1 to leave it (padding rows, prefix keys); cs(r, pos, i, &c, &s) gives cos/sin of pair i.
// Each warp takes rows warp, warp + nwarps, ...; lanes take pairs (two at a time when half is even).
template <typename T, int D, typename PosFn, typename CsFn>
__device__ __forceinline__ void rope_rotate_tile(T* tile, int rows, int half, int warp, int nwarps, int lane,
                                                 PosFn pos_of, CsFn cs) {
  using T2 = typename Elem<T>::T2;
  if ((half & 1) == 0) {
    const int units = half >> 1;
    for (int r = warp; r < rows; r += nwarps) {
      const int pos = pos_of(r);
      if (pos < 0) continue;
      for (int u = lane; u < units; u += 32) {
        const int i = 2 * u;
        T2* p1 = reinterpret_cast<T2*>(tile + swz_elem<D>(r, i));
        T2* p2 = reinterpret_cast<T2*>(tile + swz_elem<D>(r, i + half));
        float2 x1 = Elem<T>::unpack(*p1), x2 = Elem<T>::unpack(*p2);
        float c0, s0, c1, s1;
        cs(r, pos, i, &c0, &s0);
        cs(r, pos, i + 1, &c1, &s1);
        rope_fwd(x1.x, x2.x, c0, s0);
        rope_fwd(x1.y, x2.y, c1, s1);
        *p1 = Elem<T>::pack(x1.x, x1.y);
        *p2 = Elem<T>::pack(x2.x, x2.y);
      }
    }
  } else {
    for (int r = warp; r < rows; r += nwarps) {
      const int pos = pos_of(r);
      if (pos < 0) continue;
      for (int i = lane; i < half; i += 32) {
        T* p1 = tile + swz_elem<D>(r, i);
        T* p2 = tile + swz_elem<D>(r, i + half);
        float x1 = Elem<T>::to_f(*p1), x2 = Elem<T>::to_f(*p2);
        float c, s;
        cs(r, pos, i, &c, &s);
        rope_fwd(x1, x2, c, s);
        *p1 = Elem<T>::from_f(x1);
        *p2 = Elem<T>::from_f(x2);
      }
    }
  }
}

// Gradient through the rotation (RoPE^T) for output element d of a row whose (rotated-space)
// gradient is g(.): d < half: g[d] c + g[d+half] s; half <= d < R: g[d] c - g[d-half] s; else g[d].
template <typename G>
__device__ __forceinline__ float rope_bwd_elem(G g, int d, int half, const float* cos_row, const float* sin_row) {
  if (d < half) return g(d) * cos_row[d] + g(d + half) * sin_row[d];
  if (d < 2 * half) {
    int i = d - half;
    return g(d) * cos_row[i] - g(i) * sin_row[i];
  }
  return g(d);
}

}  // namespace ctxwin::cuda::attn
