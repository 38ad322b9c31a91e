// FlashAttention-2 style forward on tensor cores (bf16 / f16 inputs, f32 accumulation), D = 64 or 128.
//
// Block: 256 threads = 8 warps; warp w owns packed rows f0 + 16w .. f0 + 16w + 15 (Br = 128).
// Key tiles of Bc = 64 walk from the last visible tile down to the first (the diagonal tile, where
// ALiBi and the causal mask put the row maxima, comes first, so later tiles rarely rescale).
// Per tile: S = Q K^T (Q as A fragments in registers, K via ldmatrix), scale + ALiBi + mask in
// the log2 domain, online softmax (row max/sum over the 4 lanes of a quad), P converted in
// registers to A fragments, O += P V (V via ldmatrix.trans). K and V each have two shared-memory
// buffers: K[n+1] is issued as soon as every warp is past K[n-1] (top of iteration n) and is in
// flight during QK, softmax and PV of tile n; V[n+1] likewise from the middle barrier on.
// cp.async groups, in commit order: {Q, K0}, {V0}, then per tile {K[n+1]} at the top and {V[n+1]}
// at the middle (empty groups on the last tile), so wait_group 1 at the top finds K[n] and at the
// middle V[n] complete.
//
// Shared memory (bytes, D = 128): Q 32K, K 2x16K, V 2x16K; with RoPE + 32K of angle offsets and
// 1K of base rows: 129K (1 block / SM); D = 64: 48K (+ 16.5K with RoPE).
#include "cuda/attention_device.cuh"
#include "cuda/attention_kernels.h"
#include "cuda/attention_tiling.h"
#include "cuda/cuda_check.h"

namespace ctxwin::cuda {

namespace {

using namespace attn;

template <int D>
struct FwdSmem {
  static constexpr size_t q = 0;
  static constexpr size_t k = q + (size_t)kMmaFwdRows * D * 2;
  static constexpr size_t v = k + 2 * (size_t)kMmaFwdKeys * D * 2;
  static constexpr size_t off = v + 2 * (size_t)kMmaFwdKeys * D * 2;  // float2 [Bc][half]
  static __host__ __device__ size_t base(int half) { return off + (size_t)kMmaFwdKeys * half * 8; }  // float [2][2 half]
  static __host__ __device__ size_t total(int half, bool rope) { return rope ? base(half) + (size_t)4 * half * 4 : off; }
};

template <typename T, int D, bool kAlibi>
__global__ void __launch_bounds__(kMmaFwdThreads, D == 64 ? 2 : 1) fwd_mma_kernel(const __grid_constant__ AttnFwdArgs a) {
  constexpr int Br = kMmaFwdRows, Bc = kMmaFwdKeys, NT = kMmaFwdThreads, NW = NT / 32;
  constexpr int CH = D / 8;   // 16-byte chunks per row
  constexpr int NB = Bc / 8;  // n-blocks of S (keys)
  constexpr int KD = D / 16;  // k-chunks over the head dim
  constexpr int NO = D / 8;   // n-blocks of O (dims)
  static_assert(Br == 16 * NW, "one 16-row m-tile per warp");
  using T2 = typename Elem<T>::T2;

  extern __shared__ __align__(128) unsigned char smem[];
  T* sQ = reinterpret_cast<T*>(smem + FwdSmem<D>::q);
  T* sK = reinterpret_cast<T*>(smem + FwdSmem<D>::k);
  T* sV = reinterpret_cast<T*>(smem + FwdSmem<D>::v);
  float2* sOff = reinterpret_cast<float2*>(smem + FwdSmem<D>::off);
  float* sBase = reinterpret_cast<float*>(smem + FwdSmem<D>::base(a.half));

  const AttentionParams& P = a.prm;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, tg = lane & 3;
  const int rb = a.reverse_rows ? (int)(gridDim.x - 1 - blockIdx.x) : (int)blockIdx.x;
  const int b = (int)blockIdx.y / P.Hkv, kvh = (int)blockIdx.y % P.Hkv, split = (int)blockIdx.z;
  const int f0 = rb * Br;
  const int f_end = min(f0 + Br, a.rows_per_kv);  // exclusive; f0 < f_end by the grid
  const int half = a.half;
  const int tqs = a.tq_stride;

  // This thread's two rows (g and g + 8 of its warp's m-tile).
  int row_i[2], row_h[2], row_p[2], row_lo[2], row_hi[2];
  bool row_ok[2];
  float row_slope[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int f = f0 + warp * 16 + g + 8 * r;
    int hg = f / tqs, i = f - hg * tqs;
    row_ok[r] = f < f_end && i < P.Tq;
    if (!row_ok[r]) hg = i = 0;
    row_i[r] = i;
    row_h[r] = kvh * a.group + hg;
    row_p[r] = P.query_offset + row_i[r];
    attn_seq_key_range(P, b, row_p[r], &row_lo[r], &row_hi[r]);  // empty for a padding row
    row_slope[r] = kAlibi ? P.alibi_slopes[row_h[r]] * kLog2e : 0.f;
  }

  // Tiles this block visits and which of them need per-element masks.
  int i_min, i_max, u_lo, u_hi, full_lo, full_hi, t_lo, t_hi;
  attn_packed_i_range(f0, f_end - 1, tqs, P.Tq, &i_min, &i_max);
  attn_seq_block_key_ranges(P, b, P.query_offset + i_min, P.query_offset + i_max, &u_lo, &u_hi, &full_lo, &full_hi);
  attn_block_tiles(u_lo, u_hi, Bc, a.gt_lo, split, a.tiles_per_split, &t_lo, &t_hi);
  const int ntiles = t_hi >= t_lo ? t_hi - t_lo + 1 : 0;

  const T* qg = static_cast<const T*>(P.q);
  const size_t kv_stride = (size_t)P.Hkv * D;  // elements between consecutive keys
  const T* kbase = static_cast<const T*>(P.k) + ((size_t)b * P.Tk * P.Hkv + kvh) * D;
  const T* vbase = static_cast<const T*>(P.v) + ((size_t)b * P.Tk * P.Hkv + kvh) * D;

  auto load_k = [&](int t, int buf) {
    const int t0 = t * Bc;
    T* dst = sK + buf * Bc * D;
    for (int c = tid; c < Bc * CH; c += NT) {
      const int r = c / CH, ch = c % CH, j = t0 + r;
      const bool ok = j < P.Tk;
      cp_async16(dst + swz<D>(r, ch), ok ? kbase + (size_t)j * kv_stride + ch * 8 : kbase, ok);
    }
    if (a.rope) {  // table row t0 (cos then sin) for the angle composition
      float* bdst = sBase + buf * 2 * half;
      for (int c = tid; c < 2 * half; c += NT) {
        const bool is_sin = c >= half;
        const int i = is_sin ? c - half : c;
        cp_async4(bdst + c, (is_sin ? P.rope_sin : P.rope_cos) + (size_t)t0 * half + i, true);
      }
    }
  };
  auto load_v = [&](int t, int buf) {
    const int t0 = t * Bc;
    T* dst = sV + buf * Bc * D;
    for (int c = tid; c < Bc * CH; c += NT) {
      const int r = c / CH, ch = c % CH, j = t0 + r;
      const bool ok = j < P.Tk;
      cp_async16(dst + swz<D>(r, ch), ok ? vbase + (size_t)j * kv_stride + ch * 8 : vbase, ok);
    }
  };

  float o[NO][4];
#pragma unroll
  for (int n = 0; n < NO; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
  // A warp's 16 rows lie in one head (tq_stride is a multiple of 16 or the rows are dense), so
  // its first row decides whether it has any valid row.
  const bool warp_active = f0 + warp * 16 < f_end && (f0 + warp * 16) % tqs < P.Tq;

  if (ntiles > 0) {
    // Q tile (rows of possibly several heads of the group).
    for (int c = tid; c < Br * CH; c += NT) {
      const int r = c / CH, ch = c % CH, f = f0 + r, hg = f / tqs, i = f - hg * tqs;
      const bool ok = f < f_end && i < P.Tq;
      const T* src = qg;
      if (ok) src = qg + (((size_t)b * P.Tq + i) * P.Hq + kvh * a.group + hg) * D + ch * 8;
      cp_async16(sQ + swz<D>(r, ch), src, ok);
    }
    load_k(t_hi, 0);
    cp_async_commit();
    load_v(t_hi, 0);
    cp_async_commit();
    float inv_af = 1.f;
    if (a.rope) {  // angle offsets of rows 0..Bc-1 divided by the attention factor
      inv_af = 1.f / __ldg(P.rope_cos);
      for (int c = tid; c < Bc * half; c += NT) {
        const int r = c / half, i = c - r * half;
        float2 v = make_float2(0.f, 0.f);
        if (r < P.rope_positions)
          v = make_float2(__ldg(P.rope_cos + (size_t)r * half + i) * inv_af, __ldg(P.rope_sin + (size_t)r * half + i) * inv_af);
        sOff[c] = v;
      }
    }

    uint32_t qf[KD][4];
    for (int n = 0; n < ntiles; ++n) {
      const int t = t_hi - n, buf = n & 1, t0 = t * Bc;
      T* sKb = sK + buf * Bc * D;
      const T* sVb = sV + buf * Bc * D;

      cp_async_wait<1>();  // K[n] (and Q) landed; V[n] may still be in flight
      __syncthreads();     // ... and every warp is done with K[n-1]: its buffer takes K[n+1]
      if (n + 1 < ntiles) load_k(t - 1, buf ^ 1);
      cp_async_commit();
      if (a.rope) {
        if (n == 0) {
          auto q_pos = [&](int r) -> int {
            const int f = f0 + r, i = f % tqs;
            return (f < f_end && i < P.Tq) ? P.query_offset + i : -1;
          };
          auto q_cs = [&](int, int pos, int i, float* c, float* s) {
            *c = __ldg(P.rope_cos + (size_t)pos * half + i);
            *s = __ldg(P.rope_sin + (size_t)pos * half + i);
          };
          rope_rotate_tile<T, D>(sQ, Br, half, warp, NW, lane, q_pos, q_cs);
        }
        const float* bc = sBase + buf * 2 * half;
        const float* bs = bc + half;
        auto k_pos = [&](int r) -> int {
          const int j = t0 + r;
          return (j >= P.Tk || j < P.prefix_keys) ? -1 : j;
        };
        auto k_cs = [&](int r, int, int i, float* c, float* s) {
          const float2 of = sOff[r * half + i];
          const float cb = bc[i], sb = bs[i];
          *c = cb * of.x - sb * of.y;
          *s = sb * of.x + cb * of.y;
        };
        rope_rotate_tile<T, D>(sKb, Bc, half, warp, NW, lane, k_pos, k_cs);
        __syncthreads();
      }
      if (n == 0 && warp_active) {
#pragma unroll
        for (int kc = 0; kc < KD; ++kc) ldsm_a_mk<D>(qf[kc], sQ, lane, warp * 16, kc);
      }

      float s[NB][4];
#pragma unroll
      for (int nb = 0; nb < NB; ++nb) s[nb][0] = s[nb][1] = s[nb][2] = s[nb][3] = 0.f;
      if (warp_active) {
#pragma unroll
        for (int kc = 0; kc < KD; ++kc) {
#pragma unroll
          for (int np = 0; np < NB / 2; ++np) {
            uint32_t kb[4];
            ldsm_b_nk<D>(kb, sKb, lane, np * 16, kc);
            mma16816<T>(s[2 * np], qf[kc], kb[0], kb[1]);
            mma16816<T>(s[2 * np + 1], qf[kc], kb[2], kb[3]);
          }
        }
      }

      uint32_t pa[Bc / 16][4];
      if (warp_active) {
        const bool need_mask = attn_tile_needs_mask(t0, Bc, full_lo, full_hi);
        float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int nb = 0; nb < NB; ++nb) {
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int r = e >> 1, j = t0 + nb * 8 + tg * 2 + (e & 1);
            float x = s[nb][e] * a.scale_log2;
            if (kAlibi) x -= row_slope[r] * fabsf((float)(row_p[r] - j));
            if (need_mask && (j < row_lo[r] || j > row_hi[r])) x = -INFINITY;
            s[nb][e] = x;
            mx[r] = fmaxf(mx[r], x);
          }
        }
        float mu[2];
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
          mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
          const float m_new = fmaxf(m[r], mx[r]);
          mu[r] = m_new == -INFINITY ? 0.f : m_new;
          const float alpha = fast_exp2(m[r] - mu[r]);
          m[r] = m_new;
          l[r] *= alpha;
#pragma unroll
          for (int nd = 0; nd < NO; ++nd) {
            o[nd][2 * r] *= alpha;
            o[nd][2 * r + 1] *= alpha;
          }
        }
#pragma unroll
        for (int nb = 0; nb < NB; ++nb) {
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const float pv = fast_exp2(s[nb][e] - mu[e >> 1]);
            s[nb][e] = pv;
            l[e >> 1] += pv;
          }
        }
#pragma unroll
        for (int kc = 0; kc < Bc / 16; ++kc) {
          pa[kc][0] = pack_u32<T>(s[2 * kc][0], s[2 * kc][1]);
          pa[kc][1] = pack_u32<T>(s[2 * kc][2], s[2 * kc][3]);
          pa[kc][2] = pack_u32<T>(s[2 * kc + 1][0], s[2 * kc + 1][1]);
          pa[kc][3] = pack_u32<T>(s[2 * kc + 1][2], s[2 * kc + 1][3]);
        }
      }

      cp_async_wait<1>();  // V[n] landed; K[n+1] may still be in flight
      __syncthreads();     // ... and every warp is done with V[n-1]: its buffer takes V[n+1]
      if (n + 1 < ntiles) load_v(t - 1, buf ^ 1);
      cp_async_commit();
      if (warp_active) {
#pragma unroll
        for (int kc = 0; kc < Bc / 16; ++kc) {
#pragma unroll
          for (int dp = 0; dp < D / 16; ++dp) {
            uint32_t vb[4];
            ldsm_b_kn<D>(vb, sVb, lane, kc * 16, dp);
            mma16816<T>(o[2 * dp], pa[kc], vb[0], vb[1]);
            mma16816<T>(o[2 * dp + 1], pa[kc], vb[2], vb[3]);
          }
        }
      }
    }
    cp_async_wait<0>();
  }

  // Epilogue: every valid row is written (zeros and lse = -inf for a row that saw no key).
  const size_t rows_all = (size_t)P.B * P.Hq * P.Tq;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float lt = l[r];
    lt += __shfl_xor_sync(0xffffffffu, lt, 1);
    lt += __shfl_xor_sync(0xffffffffu, lt, 2);
    if (!row_ok[r]) continue;
    const int h = row_h[r], i = row_i[r];
    const size_t rg = ((size_t)b * P.Hq + h) * P.Tq + i;
    if (!a.partial) {
      const float inv = lt > 0.f ? 1.f / lt : 0.f;
      T* orow = static_cast<T*>(P.o) + (((size_t)b * P.Tq + i) * P.Hq + h) * D;
#pragma unroll
      for (int nd = 0; nd < NO; ++nd) {
        const int d = nd * 8 + tg * 2;
        *reinterpret_cast<T2*>(orow + d) = Elem<T>::pack(o[nd][2 * r] * inv, o[nd][2 * r + 1] * inv);
      }
      if (tg == 0) P.lse[rg] = lt > 0.f ? m[r] * kLn2 + logf(lt) : -INFINITY;
    } else {
      float* po = a.part_o + ((size_t)split * rows_all + rg) * D;
#pragma unroll
      for (int nd = 0; nd < NO; ++nd) {
        const int d = nd * 8 + tg * 2;
        *reinterpret_cast<float2*>(po + d) = make_float2(o[nd][2 * r], o[nd][2 * r + 1]);
      }
      if (tg == 0)
        *reinterpret_cast<float2*>(a.part_ml + ((size_t)split * rows_all + rg) * 2) = make_float2(m[r], lt);
    }
  }
}

template <typename T, int D, bool kAlibi>
void launch_typed(const AttnFwdArgs& a, cudaStream_t s) {
  const size_t smem = FwdSmem<D>::total(a.half, a.rope != 0);
  auto kernel = fwd_mma_kernel<T, D, kAlibi>;
  check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem),
             "cudaFuncSetAttribute(attention fwd_mma_kernel)");
  const int nrb = (a.rows_per_kv + kMmaFwdRows - 1) / kMmaFwdRows;
  dim3 grid(nrb, a.prm.B * a.prm.Hkv, a.splits);
  kernel<<<grid, kMmaFwdThreads, smem, s>>>(a);
  check_launch("attention fwd_mma_kernel");
}

template <typename T, int D>
void launch_alibi(const AttnFwdArgs& a, cudaStream_t s) {
  if (a.prm.pos_type == PositionalType::Alibi)
    launch_typed<T, D, true>(a, s);
  else
    launch_typed<T, D, false>(a, s);
}

template <typename T>
void launch_d(const AttnFwdArgs& a, cudaStream_t s) {
  if (a.prm.D == 64)
    launch_alibi<T, 64>(a, s);
  else if (a.prm.D == 128)
    launch_alibi<T, 128>(a, s);
  else
    throw Error("ERR_INTERNAL", "attention fwd_mma: unsupported head dim " + std::to_string(a.prm.D));
}

}  // namespace

size_t fwd_mma_smem_bytes(int D, int half, bool rope) {
  return D == 64 ? FwdSmem<64>::total(half, rope) : FwdSmem<128>::total(half, rope);
}

void launch_fwd_mma(const AttnFwdArgs& a, cudaStream_t s) {
  if (a.prm.dtype == DType::BF16)
    launch_d<__nv_bfloat16>(a, s);
  else if (a.prm.dtype == DType::F16)
    launch_d<__half>(a, s);
  else
    throw Error("ERR_INTERNAL", "attention fwd_mma: f32 inputs take the SIMT kernel");
}

}  // namespace ctxwin::cuda
