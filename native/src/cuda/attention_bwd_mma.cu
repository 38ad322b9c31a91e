// FlashAttention-2 style backward on tensor cores (bf16 / f16, f32 accumulation), D = 64 or 128.
//
// Block: one key block of Bc = 128 keys of one (batch, kv head); 8 warps, warp w owns keys
// k0 + 16w .. k0 + 16w + 15. The block loops over the query heads of its GQA group and over the
// query tiles (Br = 64 rows for D = 64, 32 for D = 128) that can see its keys, Q / dO / lse / Delta
// double-buffered with cp.async. Everything is computed transposed so that keys are the MMA rows:
//   S^T  = K Q^T          (A: K rows of the warp, B: Q via ldmatrix)
//   P^T  = exp2(S^T * scale*log2e + ALiBi - lse*log2e), masked
//   dV  += P^T dO         (A: P^T from registers, B: dO via ldmatrix.trans)
//   dP^T = V dO^T
//   dS^T = P^T * (dP^T - Delta)
//   dK  += dS^T Q
//   dS^T -> shared memory; dQ_tile = dS K (warps tile Br x D) -> atomicAdd into the f32 dQ
//   accumulator (scaled by softmax_scale; rotated back by the finish kernel).
// Epilogue: dV and softmax_scale * dK staged through shared memory in f32; dK rotated back with
// RoPE^T (keys >= prefix_keys) and both written with 4-byte stores. No atomics on dK / dV: the
// group's query heads are summed inside the block.
#include "cuda/attention_device.cuh"
#include "cuda/attention_kernels.h"
#include "cuda/attention_tiling.h"
#include "cuda/cuda_check.h"

namespace ctxwin::cuda {

namespace {

using namespace attn;

template <int D>
struct BwdSmem {
  static constexpr int Bc = kMmaBwdKeys;
  static constexpr int Br = D == 128 ? 32 : 64;
  static constexpr int DSS = Br + 8;  // row stride (elements) of dS^T [Bc][Br]: conflict-free ldmatrix
  static constexpr size_t k = 0;
  static constexpr size_t v = k + (size_t)Bc * D * 2;
  static constexpr size_t q = v + (size_t)Bc * D * 2;        // [2][Br][D]
  static constexpr size_t dO = q + 2 * (size_t)Br * D * 2;   // [2][Br][D]
  static constexpr size_t ds = dO + 2 * (size_t)Br * D * 2;  // [Bc][DSS]
  static constexpr size_t lse = ds + (size_t)Bc * DSS * 2;   // float [2][Br]
  static constexpr size_t delta = lse + 2 * (size_t)Br * 4;  // float [2][Br]
  static constexpr size_t off = delta + 2 * (size_t)Br * 4;  // float2 [Br][half]
  static constexpr size_t stage = (size_t)Bc * (D + 4) * 4;  // epilogue f32 staging (aliases the above)
  static __host__ __device__ size_t base(int half) { return off + (size_t)Br * half * 8; }  // float [2][2 half]
  static __host__ __device__ size_t layout(int half, bool rope) { return rope ? base(half) + (size_t)4 * half * 4 : off; }
  static __host__ __device__ size_t total(int half, bool rope) {
    const size_t l = layout(half, rope);
    return l > stage ? l : stage;
  }
};

template <typename T, int D, bool kAlibi>
__global__ void __launch_bounds__(kMmaBwdThreads, 1) bwd_mma_kernel(const __grid_constant__ AttnBwdArgs a) {
  using S = BwdSmem<D>;
  constexpr int Bc = S::Bc, Br = S::Br, DSS = S::DSS, NT = kMmaBwdThreads, NW = NT / 32;
  constexpr int CH = D / 8, NBQ = Br / 8, KD = D / 16, NO = D / 8;
  constexpr int MT = Br / 16;        // m-tiles of the dQ product
  constexpr int DW = D * MT / NW;    // dims per warp in the dQ product
  static_assert(Bc == 16 * NW, "one 16-key m-tile per warp");
  static_assert(DW == 32, "dQ warp tile is 16 x 32");
  static_assert(2 * Br <= NT, "lse / Delta loads use one thread per row");
  using T2 = typename Elem<T>::T2;

  extern __shared__ __align__(128) unsigned char smem[];
  T* sK = reinterpret_cast<T*>(smem + S::k);
  T* sV = reinterpret_cast<T*>(smem + S::v);
  T* sQ = reinterpret_cast<T*>(smem + S::q);
  T* sdO = reinterpret_cast<T*>(smem + S::dO);
  T* sDS = reinterpret_cast<T*>(smem + S::ds);
  float* sLse = reinterpret_cast<float*>(smem + S::lse);
  float* sDl = reinterpret_cast<float*>(smem + S::delta);
  float2* sOff = reinterpret_cast<float2*>(smem + S::off);
  float* sBase = reinterpret_cast<float*>(smem + S::base(a.half));

  const AttentionBwdParams& P = a.prm;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, tg = lane & 3;
  const int k0 = (int)blockIdx.x * Bc;
  const int b = (int)blockIdx.y / P.Hkv, kvh = (int)blockIdx.y % P.Hkv;
  const int half = a.half;
  const size_t kv_stride = (size_t)P.Hkv * D;
  const T* kbase = static_cast<const T*>(P.k) + ((size_t)b * P.Tk * P.Hkv + kvh) * D;
  const T* vbase = static_cast<const T*>(P.v) + ((size_t)b * P.Tk * P.Hkv + kvh) * D;
  const T* qg = static_cast<const T*>(P.q);
  const T* dog = static_cast<const T*>(P.dout);

  // Query tiles that see these keys (none for a key block wholly in its sequence's padding).
  int i_lo, i_hi;
  attn_query_range_for_keys(P, b, k0, min(k0 + Bc, P.Tk) - 1, &i_lo, &i_hi);
  const int qt_lo = i_lo / Br;
  const int nqt = i_hi >= i_lo ? i_hi / Br - qt_lo + 1 : 0;
  const int n_it = nqt * a.group;

  // K, V tiles: once per block (not read at all when no query sees them: dK = dV = 0).
  if (n_it > 0) {
    for (int c = tid; c < Bc * CH; c += NT) {
      const int r = c / CH, ch = c % CH, j = k0 + r;
      const bool ok = j < P.Tk;
      cp_async16(sK + swz<D>(r, ch), ok ? kbase + (size_t)j * kv_stride + ch * 8 : kbase, ok);
      cp_async16(sV + swz<D>(r, ch), ok ? vbase + (size_t)j * kv_stride + ch * 8 : vbase, ok);
    }
  }
  cp_async_commit();

  auto load_q = [&](int it, int buf) {
    const int hg = it / nqt, qt = qt_lo + it % nqt, h = kvh * a.group + hg, i0 = qt * Br;
    T* q_dst = sQ + buf * Br * D;
    T* o_dst = sdO + buf * Br * D;
    for (int c = tid; c < Br * CH; c += NT) {
      const int r = c / CH, ch = c % CH, i = i0 + r;
      const bool ok = i < P.Tq;
      const size_t off = (((size_t)b * P.Tq + i) * P.Hq + h) * D + ch * 8;
      cp_async16(q_dst + swz<D>(r, ch), ok ? qg + off : qg, ok);
      cp_async16(o_dst + swz<D>(r, ch), ok ? dog + off : dog, ok);
    }
    if (tid < 2 * Br) {
      const bool is_delta = tid >= Br;
      const int r = is_delta ? tid - Br : tid, i = i0 + r;
      const bool ok = i < P.Tq;
      const float* src = is_delta ? a.delta : a.lse;
      cp_async4((is_delta ? sDl : sLse) + buf * Br + r, ok ? src + ((size_t)b * P.Hq + h) * P.Tq + i : src, ok);
    }
    if (a.rope) {
      const int p0 = P.query_offset + i0;
      float* bdst = sBase + buf * 2 * half;
      for (int c = tid; c < 2 * half; c += NT) {
        const bool is_sin = c >= half;
        const int i = is_sin ? c - half : c;
        cp_async4(bdst + c, (is_sin ? P.rope_sin : P.rope_cos) + (size_t)p0 * half + i, true);
      }
    }
  };

  if (n_it > 0) load_q(0, 0);
  cp_async_commit();
  if (a.rope) {
    const float inv_af = 1.f / __ldg(P.rope_cos);
    for (int c = tid; c < Br * half; c += NT) {
      const int r = c / half, i = c - r * half;
      float2 v = make_float2(0.f, 0.f);
      if (r < P.rope_positions)
        v = make_float2(__ldg(P.rope_cos + (size_t)r * half + i) * inv_af, __ldg(P.rope_sin + (size_t)r * half + i) * inv_af);
      sOff[c] = v;
    }
  }
  cp_async_wait<0>();
  __syncthreads();
  if (a.rope && n_it > 0) {  // n_it is the same for the whole block: the barrier below is uniform
    auto k_pos = [&](int r) -> int {
      const int j = k0 + r;
      return (j >= P.Tk || j < P.prefix_keys) ? -1 : j;
    };
    auto k_cs = [&](int, int pos, int i, float* c, float* s) {
      *c = __ldg(P.rope_cos + (size_t)pos * half + i);
      *s = __ldg(P.rope_sin + (size_t)pos * half + i);
    };
    rope_rotate_tile<T, D>(sK, Bc, half, warp, NW, lane, k_pos, k_cs);
    __syncthreads();
  }

  float dk[NO][4], dv[NO][4];
#pragma unroll
  for (int n = 0; n < NO; ++n) {
#pragma unroll
    for (int e = 0; e < 4; ++e) dk[n][e] = dv[n][e] = 0.f;
  }
  const int jr[2] = {k0 + warp * 16 + g, k0 + warp * 16 + g + 8};

  for (int it = 0; it < n_it; ++it) {
    const int buf = it & 1;
    const int hg = it / nqt, qt = qt_lo + it % nqt, h = kvh * a.group + hg, i0 = qt * Br;
    if (it > 0) {
      cp_async_wait<0>();
      __syncthreads();  // tile `it` landed; every warp is done with iteration it - 1
    }
    if (it + 1 < n_it) load_q(it + 1, buf ^ 1);
    cp_async_commit();

    T* q_s = sQ + buf * Br * D;
    const T* do_s = sdO + buf * Br * D;
    const float* lse_s = sLse + buf * Br;
    const float* dl_s = sDl + buf * Br;
    if (a.rope) {
      const float* bc = sBase + buf * 2 * half;
      const float* bs = bc + half;
      auto q_pos = [&](int r) -> int {
        const int i = i0 + r;
        return i < P.Tq ? P.query_offset + i : -1;
      };
      auto q_cs = [&](int r, int, int i, float* c, float* s) {
        const float2 of = sOff[r * half + i];
        const float cb = bc[i], sb = bs[i];
        *c = cb * of.x - sb * of.y;
        *s = sb * of.x + cb * of.y;
      };
      rope_rotate_tile<T, D>(q_s, Br, half, warp, NW, lane, q_pos, q_cs);
      __syncthreads();
    }

    // S^T = K Q^T
    float st[NBQ][4];
#pragma unroll
    for (int nb = 0; nb < NBQ; ++nb) st[nb][0] = st[nb][1] = st[nb][2] = st[nb][3] = 0.f;
#pragma unroll
    for (int kc = 0; kc < KD; ++kc) {
      uint32_t ka[4];
      ldsm_a_mk<D>(ka, sK, lane, warp * 16, kc);
#pragma unroll
      for (int np = 0; np < NBQ / 2; ++np) {
        uint32_t qb[4];
        ldsm_b_nk<D>(qb, q_s, lane, np * 16, kc);
        mma16816<T>(st[2 * np], ka, qb[0], qb[1]);
        mma16816<T>(st[2 * np + 1], ka, qb[2], qb[3]);
      }
    }

    // P^T
    const bool need_mask = attn_bwd_tile_needs_mask(P, b, k0, Bc, i0, Br);
    const float slope = kAlibi ? P.alibi_slopes[h] * kLog2e : 0.f;
#pragma unroll
    for (int nb = 0; nb < NBQ; ++nb) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int qi = nb * 8 + tg * 2 + (e & 1), j = jr[e >> 1], i = i0 + qi, p = P.query_offset + i;
        float x = st[nb][e] * a.scale_log2 - lse_s[qi] * kLog2e;
        if (kAlibi) x -= slope * fabsf((float)(p - j));
        bool vis = true;
        if (need_mask) vis = i < P.Tq && j < P.Tk && attn_visible(P, b, p, j);
        st[nb][e] = vis ? fast_exp2(x) : 0.f;
      }
    }

    // dV += P^T dO
#pragma unroll
    for (int kc = 0; kc < Br / 16; ++kc) {
      uint32_t pa[4];
      pa[0] = pack_u32<T>(st[2 * kc][0], st[2 * kc][1]);
      pa[1] = pack_u32<T>(st[2 * kc][2], st[2 * kc][3]);
      pa[2] = pack_u32<T>(st[2 * kc + 1][0], st[2 * kc + 1][1]);
      pa[3] = pack_u32<T>(st[2 * kc + 1][2], st[2 * kc + 1][3]);
#pragma unroll
      for (int dp = 0; dp < D / 16; ++dp) {
        uint32_t ob[4];
        ldsm_b_kn<D>(ob, do_s, lane, kc * 16, dp);
        mma16816<T>(dv[2 * dp], pa, ob[0], ob[1]);
        mma16816<T>(dv[2 * dp + 1], pa, ob[2], ob[3]);
      }
    }

    // dP^T = V dO^T, then dS^T = P^T (dP^T - Delta)
    float ds[NBQ][4];
#pragma unroll
    for (int nb = 0; nb < NBQ; ++nb) ds[nb][0] = ds[nb][1] = ds[nb][2] = ds[nb][3] = 0.f;
#pragma unroll
    for (int kc = 0; kc < KD; ++kc) {
      uint32_t va[4];
      ldsm_a_mk<D>(va, sV, lane, warp * 16, kc);
#pragma unroll
      for (int np = 0; np < NBQ / 2; ++np) {
        uint32_t ob[4];
        ldsm_b_nk<D>(ob, do_s, lane, np * 16, kc);
        mma16816<T>(ds[2 * np], va, ob[0], ob[1]);
        mma16816<T>(ds[2 * np + 1], va, ob[2], ob[3]);
      }
    }
#pragma unroll
    for (int nb = 0; nb < NBQ; ++nb) {
#pragma unroll
      for (int e = 0; e < 4; ++e) ds[nb][e] = st[nb][e] * (ds[nb][e] - dl_s[nb * 8 + tg * 2 + (e & 1)]);
    }

    // dK += dS^T Q, and dS^T -> shared memory
#pragma unroll
    for (int kc = 0; kc < Br / 16; ++kc) {
      uint32_t pa[4];
      pa[0] = pack_u32<T>(ds[2 * kc][0], ds[2 * kc][1]);
      pa[1] = pack_u32<T>(ds[2 * kc][2], ds[2 * kc][3]);
      pa[2] = pack_u32<T>(ds[2 * kc + 1][0], ds[2 * kc + 1][1]);
      pa[3] = pack_u32<T>(ds[2 * kc + 1][2], ds[2 * kc + 1][3]);
#pragma unroll
      for (int dp = 0; dp < D / 16; ++dp) {
        uint32_t qb[4];
        ldsm_b_kn<D>(qb, q_s, lane, kc * 16, dp);
        mma16816<T>(dk[2 * dp], pa, qb[0], qb[1]);
        mma16816<T>(dk[2 * dp + 1], pa, qb[2], qb[3]);
      }
      // rows g / g + 8 of this warp, queries 16 kc + 2 tg (+8)
      T2* r0 = reinterpret_cast<T2*>(sDS + (warp * 16 + g) * DSS + kc * 16 + tg * 2);
      T2* r1 = reinterpret_cast<T2*>(sDS + (warp * 16 + g + 8) * DSS + kc * 16 + tg * 2);
      r0[0] = *reinterpret_cast<const T2*>(&pa[0]);
      r1[0] = *reinterpret_cast<const T2*>(&pa[1]);
      r0[4] = *reinterpret_cast<const T2*>(&pa[2]);  // +8 elements
      r1[4] = *reinterpret_cast<const T2*>(&pa[3]);
    }
    __syncthreads();

    // dQ tile (Br x D) = dS (Br x Bc) K (Bc x D); warp (mt, nq) computes rows 16 mt.., dims 32 nq..
    {
      const int mt = warp % MT, nq = warp / MT;
      float dq[4][4];
#pragma unroll
      for (int n = 0; n < 4; ++n) dq[n][0] = dq[n][1] = dq[n][2] = dq[n][3] = 0.f;
#pragma unroll
      for (int kc = 0; kc < Bc / 16; ++kc) {
        uint32_t da[4];
        int ds_row, ds_col;
        lm_a_km(lane, kc * 16, mt * 16, &ds_row, &ds_col);
        ldsm_x4_t(da, sDS + ds_row * DSS + ds_col);
#pragma unroll
        for (int dp = 0; dp < 2; ++dp) {
          uint32_t kb[4];
          ldsm_b_kn<D>(kb, sK, lane, kc * 16, nq * 2 + dp);
          mma16816<T>(dq[2 * dp], da, kb[0], kb[1]);
          mma16816<T>(dq[2 * dp + 1], da, kb[2], kb[3]);
        }
      }
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int i = i0 + mt * 16 + g + 8 * r;
        if (i >= P.Tq) continue;
        float* dst = a.dq_acc + (((size_t)b * P.Tq + i) * P.Hq + h) * D + nq * DW;
#pragma unroll
        for (int nb = 0; nb < 4; ++nb) {
          const int d = nb * 8 + tg * 2;
          atomicAdd(dst + d, dq[nb][2 * r] * a.scale);
          atomicAdd(dst + d + 1, dq[nb][2 * r + 1] * a.scale);
        }
      }
    }
  }
  cp_async_wait<0>();
  __syncthreads();  // shared memory is reused for the epilogue

  // Epilogue: dV, then softmax_scale * dK rotated back, through f32 staging.
  constexpr int SS = D + 4;
  float* stg = reinterpret_cast<float*>(smem);
  for (int pass = 0; pass < 2; ++pass) {
    const float mul = pass == 0 ? 1.f : a.scale;
#pragma unroll
    for (int nd = 0; nd < NO; ++nd) {
      const int d = nd * 8 + tg * 2;
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int row = warp * 16 + g + 8 * r;
        const float x0 = pass == 0 ? dv[nd][2 * r] : dk[nd][2 * r];
        const float x1 = pass == 0 ? dv[nd][2 * r + 1] : dk[nd][2 * r + 1];
        *reinterpret_cast<float2*>(stg + row * SS + d) = make_float2(x0 * mul, x1 * mul);
      }
    }
    __syncthreads();
    T* out = static_cast<T*>(pass == 0 ? P.dv : P.dk) + ((size_t)b * P.Tk * P.Hkv + kvh) * D;
    for (int c = tid; c < Bc * (D / 2); c += NT) {
      const int r = c / (D / 2), d = (c % (D / 2)) * 2, j = k0 + r;
      if (j >= P.Tk) continue;
      const float* row = stg + r * SS;
      float v0 = row[d], v1 = row[d + 1];
      if (pass == 1 && a.rope && j >= P.prefix_keys) {
        const float* cr = P.rope_cos + (size_t)j * half;
        const float* sr = P.rope_sin + (size_t)j * half;
        auto gr = [&](int x) { return row[x]; };
        v0 = rope_bwd_elem(gr, d, half, cr, sr);
        v1 = rope_bwd_elem(gr, d + 1, half, cr, sr);
      }
      *reinterpret_cast<T2*>(out + (size_t)j * kv_stride + d) = Elem<T>::pack(v0, v1);
    }
    __syncthreads();
  }
}

template <typename T, int D, bool kAlibi>
void launch_typed(const AttnBwdArgs& a, cudaStream_t s) {
  const size_t smem = BwdSmem<D>::total(a.half, a.rope != 0);
  auto kernel = bwd_mma_kernel<T, D, kAlibi>;
  check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem),
             "cudaFuncSetAttribute(attention bwd_mma_kernel)");
  dim3 grid((a.prm.Tk + kMmaBwdKeys - 1) / kMmaBwdKeys, a.prm.B * a.prm.Hkv);
  kernel<<<grid, kMmaBwdThreads, smem, s>>>(a);
  check_launch("attention bwd_mma_kernel");
}

template <typename T, int D>
void launch_alibi(const AttnBwdArgs& a, cudaStream_t s) {
  if (a.prm.pos_type == PositionalType::Alibi)
    launch_typed<T, D, true>(a, s);
  else
    launch_typed<T, D, false>(a, s);
}

template <typename T>
void launch_d(const AttnBwdArgs& a, cudaStream_t s) {
  if (a.prm.D == 64)
    launch_alibi<T, 64>(a, s);
  else if (a.prm.D == 128)
    launch_alibi<T, 128>(a, s);
  else
    throw Error("ERR_INTERNAL", "attention bwd_mma: unsupported head dim " + std::to_string(a.prm.D));
}

}  // namespace

size_t bwd_mma_smem_bytes(int D, int half, bool rope) {
  return D == 64 ? BwdSmem<64>::total(half, rope) : BwdSmem<128>::total(half, rope);
}

void launch_bwd_mma(const AttnBwdArgs& a, cudaStream_t s) {
  if (a.prm.dtype == DType::BF16)
    launch_d<__nv_bfloat16>(a, s);
  else if (a.prm.dtype == DType::F16)
    launch_d<__half>(a, s);
  else
    throw Error("ERR_INTERNAL", "attention bwd_mma: f32 inputs take the SIMT kernel");
}

}  // namespace ctxwin::cuda
