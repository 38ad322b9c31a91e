// f32 SIMT attention kernels: every dtype (f32 inputs stay f32 end to end), any even D <= 256,
// any alignment. The fallback of the tensor-core kernels and the f32 path.
//
// Forward: 128 threads, BQ packed rows x BK keys per tile (32 x 32; 16 x 16 when D > 128), rows
// and tiles chosen exactly as in the tensor-core forward (attention_tiling.h), split-K included.
// Q, K, V tiles sit in shared memory in f32 (rotated while loading: y[d] needs x[d +- R/2] of the
// same row, read from global), row stride D + 1 against bank conflicts. Thread (r, sub), with
// TPR = 128 / BQ threads per row, owns keys sub + TPR u of the score tile and dims sub + TPR v of
// the output row r; the softmax row statistics are reduced over the TPR lanes of the row.
//
// Backward: one block per (BK keys, batch, kv head), looping over the group's heads and the query
// tiles that see its keys; thread (r, sub) owns key row r for S^T, P^T, dP^T, dS^T and dK / dV
// dims sub + TPR v, then query row r for its dQ contribution (atomics into the f32 accumulator).
#include <algorithm>

#include "cuda/attention_device.cuh"
#include "cuda/attention_kernels.h"
#include "cuda/attention_tiling.h"
#include "cuda/cuda_check.h"

namespace ctxwin::cuda {

namespace {

using namespace attn;

template <int DMAX>
struct SimtCfg {
  static constexpr int BQ = DMAX > 128 ? 16 : 32;
  static constexpr int BK = BQ;
  static constexpr int TPR = kSimtThreads / BQ;  // threads per row: 4 or 8
  static constexpr int KPT = BK / TPR;            // keys (or queries) per thread
  static constexpr int DPT = DMAX / TPR;          // output dims per thread (upper bound)
  static_assert(TPR <= 32 && 32 % TPR == 0, "a row's threads are consecutive lanes of one warp");
};

// Element d of a row of the raw tensor, rotated to position `pos` (pos < 0: not rotated).
template <typename T>
__device__ __forceinline__ float load_rotated(const T* row, int d, int pos, int half, const float* cos_t,
                                              const float* sin_t) {
  const float x = Elem<T>::to_f(row[d]);
  if (pos < 0 || d >= 2 * half) return x;
  if (d < half) {
    const float x2 = Elem<T>::to_f(row[d + half]);
    return x * __ldg(cos_t + (size_t)pos * half + d) - x2 * __ldg(sin_t + (size_t)pos * half + d);
  }
  const int i = d - half;
  const float x1 = Elem<T>::to_f(row[i]);
  return x * __ldg(cos_t + (size_t)pos * half + i) + x1 * __ldg(sin_t + (size_t)pos * half + i);
}

template <int TPR>
__device__ __forceinline__ float row_max(float x) {
#pragma unroll
  for (int o = 1; o < TPR; o <<= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}
template <int TPR>
__device__ __forceinline__ float row_sum(float x) {
#pragma unroll
  for (int o = 1; o < TPR; o <<= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

template <typename T, int DMAX>
__global__ void __launch_bounds__(kSimtThreads) fwd_simt_kernel(const __grid_constant__ AttnFwdArgs a) {
  using C = SimtCfg<DMAX>;
  constexpr int BQ = C::BQ, BK = C::BK, TPR = C::TPR, KPT = C::KPT, DPT = C::DPT, NT = kSimtThreads;
  const AttentionParams& P = a.prm;
  const int D = P.D, DS = D + 1;
  extern __shared__ __align__(16) float fsm[];
  float* sQ = fsm;
  float* sK = sQ + BQ * DS;
  float* sV = sK + BK * DS;
  float* sP = sV + BK * DS;  // [BQ][BK + 1]

  const int tid = threadIdx.x, r = tid / TPR, sub = tid % TPR;
  const int rb = a.reverse_rows ? (int)(gridDim.x - 1 - blockIdx.x) : (int)blockIdx.x;
  const int b = (int)blockIdx.y / P.Hkv, kvh = (int)blockIdx.y % P.Hkv, split = (int)blockIdx.z;
  const int f0 = rb * BQ, f_end = min(f0 + BQ, a.rows_per_kv);
  const int half = a.half;
  const bool alibi = P.pos_type == PositionalType::Alibi;

  const int tqs = a.tq_stride;
  const int f = f0 + r;
  const bool row_ok = f < f_end && f % tqs < P.Tq;
  const int hg = row_ok ? f / tqs : 0;
  const int row_i = row_ok ? f - hg * tqs : 0, row_h = kvh * a.group + hg, row_p = P.query_offset + row_i;
  int row_lo, row_hi;  // empty for a padding row: every key masked, so o = 0 and lse = -inf
  attn_seq_key_range(P, b, row_p, &row_lo, &row_hi);
  const float slope = alibi ? P.alibi_slopes[row_h] * kLog2e : 0.f;

  int i_min, i_max, u_lo, u_hi, full_lo, full_hi, t_lo, t_hi;
  attn_packed_i_range(f0, f_end - 1, tqs, P.Tq, &i_min, &i_max);
  attn_seq_block_key_ranges(P, b, P.query_offset + i_min, P.query_offset + i_max, &u_lo, &u_hi, &full_lo, &full_hi);
  attn_block_tiles(u_lo, u_hi, BK, a.gt_lo, split, a.tiles_per_split, &t_lo, &t_hi);

  const T* qg = static_cast<const T*>(P.q);
  const size_t kv_stride = (size_t)P.Hkv * D;
  const T* kbase = static_cast<const T*>(P.k) + ((size_t)b * P.Tk * P.Hkv + kvh) * D;
  const T* vbase = static_cast<const T*>(P.v) + ((size_t)b * P.Tk * P.Hkv + kvh) * D;

  for (int idx = tid; t_lo <= t_hi && idx < BQ * D; idx += NT) {  // no tiles (all padding): Q unread
    const int rr = idx / D, d = idx - rr * D, ff = f0 + rr, hh = ff / tqs, i = ff - hh * tqs;
    float x = 0.f;
    if (ff < f_end && i < P.Tq) {
      const int h = kvh * a.group + hh;
      const T* row = qg + (((size_t)b * P.Tq + i) * P.Hq + h) * D;
      x = load_rotated(row, d, a.rope ? P.query_offset + i : -1, half, P.rope_cos, P.rope_sin);
    }
    sQ[rr * DS + d] = x;
  }

  float acc[DPT];
#pragma unroll
  for (int v = 0; v < DPT; ++v) acc[v] = 0.f;
  float m = -INFINITY, l = 0.f;

  for (int t = t_lo; t <= t_hi; ++t) {
    const int t0 = t * BK;
    __syncthreads();  // previous tile fully consumed (and sQ written, first time)
    for (int idx = tid; idx < BK * D; idx += NT) {
      const int kr = idx / D, d = idx - kr * D, j = t0 + kr;
      float kx = 0.f, vx = 0.f;
      if (j < P.Tk) {
        const T* krow = kbase + (size_t)j * kv_stride;
        kx = load_rotated(krow, d, (a.rope && j >= P.prefix_keys) ? j : -1, half, P.rope_cos, P.rope_sin);
        vx = Elem<T>::to_f(vbase[(size_t)j * kv_stride + d]);
      }
      sK[kr * DS + d] = kx;
      sV[kr * DS + d] = vx;
    }
    __syncthreads();

    const bool need_mask = attn_tile_needs_mask(t0, BK, full_lo, full_hi);
    float s[KPT];
#pragma unroll
    for (int u = 0; u < KPT; ++u) s[u] = 0.f;
    const float* qrow = sQ + r * DS;
    for (int d = 0; d < D; ++d) {
      const float qv = qrow[d];
#pragma unroll
      for (int u = 0; u < KPT; ++u) s[u] += qv * sK[(sub + TPR * u) * DS + d];
    }
    float mx = -INFINITY;
#pragma unroll
    for (int u = 0; u < KPT; ++u) {
      const int j = t0 + sub + TPR * u;
      float x = s[u] * a.scale_log2;
      if (alibi) x -= slope * fabsf((float)(row_p - j));
      if (need_mask && (j < row_lo || j > row_hi)) x = -INFINITY;
      s[u] = x;
      mx = fmaxf(mx, x);
    }
    mx = row_max<TPR>(mx);
    const float m_new = fmaxf(m, mx);
    const float mu = m_new == -INFINITY ? 0.f : m_new;
    const float alpha = exp2f(m - mu);
    m = m_new;
    l *= alpha;
#pragma unroll
    for (int v = 0; v < DPT; ++v) acc[v] *= alpha;
#pragma unroll
    for (int u = 0; u < KPT; ++u) {
      const float pv = exp2f(s[u] - mu);
      l += pv;
      sP[r * (BK + 1) + sub + TPR * u] = pv;
    }
    __syncwarp();
    for (int kk = 0; kk < BK; ++kk) {
      const float pv = sP[r * (BK + 1) + kk];
      const float* vrow = sV + kk * DS;
#pragma unroll
      for (int v = 0; v < DPT; ++v) {
        const int d = sub + TPR * v;
        if (d < D) acc[v] += pv * vrow[d];
      }
    }
  }

  const float lt = row_sum<TPR>(l);
  if (!row_ok) return;
  const size_t rg = ((size_t)b * P.Hq + row_h) * P.Tq + row_i;
  if (!a.partial) {
    const float inv = lt > 0.f ? 1.f / lt : 0.f;
    T* orow = static_cast<T*>(P.o) + (((size_t)b * P.Tq + row_i) * P.Hq + row_h) * D;
#pragma unroll
    for (int v = 0; v < DPT; ++v) {
      const int d = sub + TPR * v;
      if (d < D) orow[d] = Elem<T>::from_f(acc[v] * inv);
    }
    if (sub == 0) P.lse[rg] = lt > 0.f ? m * kLn2 + logf(lt) : -INFINITY;
  } else {
    const size_t rows_all = (size_t)P.B * P.Hq * P.Tq;
    float* po = a.part_o + ((size_t)split * rows_all + rg) * D;
#pragma unroll
    for (int v = 0; v < DPT; ++v) {
      const int d = sub + TPR * v;
      if (d < D) po[d] = acc[v];
    }
    if (sub == 0) {
      a.part_ml[((size_t)split * rows_all + rg) * 2] = m;
      a.part_ml[((size_t)split * rows_all + rg) * 2 + 1] = lt;
    }
  }
}

template <typename T, int DMAX>
__global__ void __launch_bounds__(kSimtThreads) bwd_simt_kernel(const __grid_constant__ AttnBwdArgs a) {
  using C = SimtCfg<DMAX>;
  constexpr int BQ = C::BQ, BK = C::BK, TPR = C::TPR, KPT = C::KPT, DPT = C::DPT, NT = kSimtThreads;
  const AttentionBwdParams& P = a.prm;
  const int D = P.D, DS = D + 1, PS = BQ + 1;
  extern __shared__ __align__(16) float fsm[];
  float* sK = fsm;
  float* sV = sK + BK * DS;
  float* sQ = sV + BK * DS;
  float* sdO = sQ + BQ * DS;
  float* sP = sdO + BQ * DS;  // [BK][BQ + 1]
  float* sDS = sP + BK * PS;  // [BK][BQ + 1]
  float* sLse = sDS + BK * PS;
  float* sDl = sLse + BQ;

  const int tid = threadIdx.x, r = tid / TPR, sub = tid % TPR;
  const int k0 = (int)blockIdx.x * BK;
  const int b = (int)blockIdx.y / P.Hkv, kvh = (int)blockIdx.y % P.Hkv;
  const int half = a.half;
  const bool alibi = P.pos_type == PositionalType::Alibi;
  const size_t kv_stride = (size_t)P.Hkv * D;
  const T* kbase = static_cast<const T*>(P.k) + ((size_t)b * P.Tk * P.Hkv + kvh) * D;
  const T* vbase = static_cast<const T*>(P.v) + ((size_t)b * P.Tk * P.Hkv + kvh) * D;
  const T* qg = static_cast<const T*>(P.q);
  const T* dog = static_cast<const T*>(P.dout);

  // Query tiles that see these keys (none for a key block wholly in its sequence's padding: then
  // K and V are not read and dK = dV = 0).
  int i_lo, i_hi;
  attn_query_range_for_keys(P, b, k0, min(k0 + BK, P.Tk) - 1, &i_lo, &i_hi);
  const int qt_lo = i_lo / BQ, qt_hi = i_hi >= i_lo ? i_hi / BQ : qt_lo - 1;

  if (qt_hi >= qt_lo) {
    for (int idx = tid; idx < BK * D; idx += NT) {
      const int kr = idx / D, d = idx - kr * D, j = k0 + kr;
      float kx = 0.f, vx = 0.f;
      if (j < P.Tk) {
        kx = load_rotated(kbase + (size_t)j * kv_stride, d, (a.rope && j >= P.prefix_keys) ? j : -1, half, P.rope_cos,
                          P.rope_sin);
        vx = Elem<T>::to_f(vbase[(size_t)j * kv_stride + d]);
      }
      sK[kr * DS + d] = kx;
      sV[kr * DS + d] = vx;
    }
  }

  float dk[DPT], dv[DPT];
#pragma unroll
  for (int v = 0; v < DPT; ++v) dk[v] = dv[v] = 0.f;
  const int j = k0 + r;  // this thread's key row for S^T / dK / dV

  for (int hg = 0; hg < a.group; ++hg) {
    const int h = kvh * a.group + hg;
    const float slope = alibi ? P.alibi_slopes[h] * kLog2e : 0.f;
    for (int qt = qt_lo; qt <= qt_hi; ++qt) {
      const int i0 = qt * BQ;
      __syncthreads();  // previous tile consumed (and sK / sV written, first time)
      for (int idx = tid; idx < BQ * D; idx += NT) {
        const int qr = idx / D, d = idx - qr * D, i = i0 + qr;
        float qx = 0.f, ox = 0.f;
        if (i < P.Tq) {
          const size_t off = (((size_t)b * P.Tq + i) * P.Hq + h) * D;
          qx = load_rotated(qg + off, d, a.rope ? P.query_offset + i : -1, half, P.rope_cos, P.rope_sin);
          ox = Elem<T>::to_f(dog[off + d]);
        }
        sQ[qr * DS + d] = qx;
        sdO[qr * DS + d] = ox;
      }
      if (tid < BQ) {
        const int i = i0 + tid;
        const bool ok = i < P.Tq;
        const size_t li = ((size_t)b * P.Hq + h) * P.Tq + i;
        sLse[tid] = ok ? a.lse[li] * kLog2e : 0.f;
        sDl[tid] = ok ? a.delta[li] : 0.f;
      }
      __syncthreads();

      const bool need_mask = attn_bwd_tile_needs_mask(P, b, k0, BK, i0, BQ);
      float s[KPT], dp[KPT];
#pragma unroll
      for (int u = 0; u < KPT; ++u) s[u] = dp[u] = 0.f;
      const float* krow = sK + r * DS;
      const float* vrow = sV + r * DS;
      for (int d = 0; d < D; ++d) {
        const float kx = krow[d], vx = vrow[d];
#pragma unroll
        for (int u = 0; u < KPT; ++u) {
          const int qq = sub + TPR * u;
          s[u] += kx * sQ[qq * DS + d];
          dp[u] += vx * sdO[qq * DS + d];
        }
      }
#pragma unroll
      for (int u = 0; u < KPT; ++u) {
        const int qq = sub + TPR * u, i = i0 + qq, p = P.query_offset + i;
        float x = s[u] * a.scale_log2 - sLse[qq];
        if (alibi) x -= slope * fabsf((float)(p - j));
        bool vis = true;
        if (need_mask) vis = i < P.Tq && j < P.Tk && attn_visible(P, b, p, j);
        const float pv = vis ? exp2f(x) : 0.f;
        sP[r * PS + qq] = pv;
        sDS[r * PS + qq] = pv * (dp[u] - sDl[qq]);
      }
      __syncthreads();

#pragma unroll
      for (int v = 0; v < DPT; ++v) {
        const int d = sub + TPR * v;
        if (d < D) {
          float av = 0.f, ak = 0.f;
          for (int qq = 0; qq < BQ; ++qq) {
            av += sP[r * PS + qq] * sdO[qq * DS + d];
            ak += sDS[r * PS + qq] * sQ[qq * DS + d];
          }
          dv[v] += av;
          dk[v] += ak;
        }
      }
      // dQ rows: this thread now stands for query row r of the tile.
      const int iq = i0 + r;
      if (iq < P.Tq) {
        float* dst = a.dq_acc + (((size_t)b * P.Tq + iq) * P.Hq + h) * D;
#pragma unroll
        for (int v = 0; v < DPT; ++v) {
          const int d = sub + TPR * v;
          if (d < D) {
            float aq = 0.f;
            for (int kk = 0; kk < BK; ++kk) aq += sDS[kk * PS + r] * sK[kk * DS + d];
            atomicAdd(dst + d, aq * a.scale);
          }
        }
      }
    }
  }

  // Epilogue: dV directly; softmax_scale * dK staged (f32, in sQ) and rotated back.
  if (j < P.Tk) {
    T* dvrow = static_cast<T*>(P.dv) + ((size_t)b * P.Tk * P.Hkv + kvh) * D + (size_t)j * kv_stride;
#pragma unroll
    for (int v = 0; v < DPT; ++v) {
      const int d = sub + TPR * v;
      if (d < D) dvrow[d] = Elem<T>::from_f(dv[v]);
    }
  }
  __syncthreads();
  float* stg = sQ;  // BQ == BK rows of DS floats
#pragma unroll
  for (int v = 0; v < DPT; ++v) {
    const int d = sub + TPR * v;
    if (d < D) stg[r * DS + d] = dk[v] * a.scale;
  }
  __syncthreads();
  T* dkbase = static_cast<T*>(P.dk) + ((size_t)b * P.Tk * P.Hkv + kvh) * D;
  for (int idx = tid; idx < BK * D; idx += NT) {
    const int kr = idx / D, d = idx - kr * D, jj = k0 + kr;
    if (jj >= P.Tk) continue;
    const float* row = stg + kr * DS;
    float x = row[d];
    if (a.rope && jj >= P.prefix_keys) {
      auto gr = [&](int e) { return row[e]; };
      x = rope_bwd_elem(gr, d, half, P.rope_cos + (size_t)jj * half, P.rope_sin + (size_t)jj * half);
    }
    dkbase[(size_t)jj * kv_stride + d] = Elem<T>::from_f(x);
  }
}

template <int DMAX>
size_t fwd_smem(int D) {
  using C = SimtCfg<DMAX>;
  return ((size_t)(C::BQ + 2 * C::BK) * (D + 1) + (size_t)C::BQ * (C::BK + 1)) * 4;
}
template <int DMAX>
size_t bwd_smem(int D) {
  using C = SimtCfg<DMAX>;
  return ((size_t)2 * (C::BK + C::BQ) * (D + 1) + (size_t)2 * C::BK * (C::BQ + 1) + 2 * C::BQ) * 4;
}

template <typename T, int DMAX>
void fwd_launch(const AttnFwdArgs& a, cudaStream_t s) {
  const size_t smem = fwd_smem<DMAX>(a.prm.D);
  auto kernel = fwd_simt_kernel<T, DMAX>;
  check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem),
             "cudaFuncSetAttribute(attention fwd_simt_kernel)");
  const int nrb = (a.rows_per_kv + SimtCfg<DMAX>::BQ - 1) / SimtCfg<DMAX>::BQ;
  dim3 grid(nrb, a.prm.B * a.prm.Hkv, a.splits);
  kernel<<<grid, kSimtThreads, smem, s>>>(a);
  check_launch("attention fwd_simt_kernel");
}

template <typename T, int DMAX>
void bwd_launch(const AttnBwdArgs& a, cudaStream_t s) {
  const size_t smem = bwd_smem<DMAX>(a.prm.D);
  auto kernel = bwd_simt_kernel<T, DMAX>;
  check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem),
             "cudaFuncSetAttribute(attention bwd_simt_kernel)");
  dim3 grid((a.prm.Tk + SimtCfg<DMAX>::BK - 1) / SimtCfg<DMAX>::BK, a.prm.B * a.prm.Hkv);
  kernel<<<grid, kSimtThreads, smem, s>>>(a);
  check_launch("attention bwd_simt_kernel");
}

template <typename T>
void fwd_typed(const AttnFwdArgs& a, cudaStream_t s) {
  if (a.prm.D <= 64)
    fwd_launch<T, 64>(a, s);
  else if (a.prm.D <= 128)
    fwd_launch<T, 128>(a, s);
  else
    fwd_launch<T, 256>(a, s);
}

template <typename T>
void bwd_typed(const AttnBwdArgs& a, cudaStream_t s) {
  if (a.prm.D <= 64)
    bwd_launch<T, 64>(a, s);
  else if (a.prm.D <= 128)
    bwd_launch<T, 128>(a, s);
  else
    bwd_launch<T, 256>(a, s);
}

}  // namespace

size_t fwd_simt_smem_bytes(int D) { return D <= 64 ? fwd_smem<64>(D) : D <= 128 ? fwd_smem<128>(D) : fwd_smem<256>(D); }
size_t bwd_simt_smem_bytes(int D) { return D <= 64 ? bwd_smem<64>(D) : D <= 128 ? bwd_smem<128>(D) : bwd_smem<256>(D); }

void launch_fwd_simt(const AttnFwdArgs& a, cudaStream_t s) {
  switch (a.prm.dtype) {
    case DType::F32: fwd_typed<float>(a, s); return;
    case DType::BF16: fwd_typed<__nv_bfloat16>(a, s); return;
    case DType::F16: fwd_typed<__half>(a, s); return;
  }
  throw Error("ERR_DTYPE", "attention: unknown dtype");
}

void launch_bwd_simt(const AttnBwdArgs& a, cudaStream_t s) {
  switch (a.prm.dtype) {
    case DType::F32: bwd_typed<float>(a, s); return;
    case DType::BF16: bwd_typed<__nv_bfloat16>(a, s); return;
    case DType::F16: bwd_typed<__half>(a, s); return;
  }
  throw Error("ERR_DTYPE", "attention: unknown dtype");
}

}  // namespace ctxwin::cuda
