// The library-free CUDA GEMM (gemm.h): what matmul runs when cuBLAS cannot be loaded, is
// disabled (CTXWIN_CUBLAS=0), or does not cover the dtypes. Two kernels:
//
// * mma_gemm: a and b both bf16 or both f16. Tensor cores (mma.sync m16n8k16, f32 accumulate),
//   block tile 128x128x32, 8 warps of 64x32, a 4-stage cp.async pipeline into XOR-swizzled
//   shared memory read with ldmatrix (the fragment helpers of attention_device.cuh). A
//   transposed operand is not copied: its tile is stored k-major ([k][m] instead of [m][k]) and
//   read with ldmatrix.trans, so all four transA/transB layouts are one template.
// * simt_gemm: everything else, in f32 FMA. A half operand paired with another dtype is widened
//   to f32 scratch first (rare mixes: not worth instantiations). Block tile 128x128x8 (8x8 per
//   thread) or, when that leaves SMs idle, 64x64x16 (4x4 per thread); shared tiles are k-major,
//   double-buffered through registers (one barrier per k-step).
//
// Both: edge tiles zero-fill out-of-range elements (so a partial k-tile adds exact zeros),
// vector/cp.async loads only when the leading dimension and pointer are aligned (scalar loads
// otherwise), 64-bit element offsets, and a 1-D grid over output tiles in groups of 8 tile-rows
// (neighbouring blocks share A and B panels in L2; a block loops when there are more tiles than
// blocks). The epilogue stages the f32 tile in shared memory and writes D = alpha * acc + beta * C
// row by row (coalesced; C of any dtype, rounded once into D's dtype): done from registers, the
// per-element dtype dispatch inside fully unrolled fragment loops cost minutes of compile time
// and spilled registers. No split-K and no atomics: each output is one thread's fixed-order sum,
// so results are bitwise reproducible.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <climits>
#include <cstdint>

#include "cuda/attention_device.cuh"
#include "cuda/cuda_check.h"
#include "cuda/cuda_device.h"
#include "cuda/cuda_kernels.h"
#include "cuda/ops/device_util.cuh"
#include "cuda/ops/gemm.h"

namespace ctxwin::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kGroupM = 8;  // tile-rows per raster group

// ---- shared pieces -------------------------------------------------------------------------------

// D = alpha * acc + beta * C (C null: no C term), D and C row-major [M, N].
struct Epilogue {
  float alpha, beta;
  const void* c;
  DType c_dtype;
  void* d;
  DType d_dtype;
  int64_t M, N;
};

// The C term: v -> v + beta * C[i] (NoC returns v itself, so a -0 product stays -0 as on the CPU).
struct NoC {
  __device__ __forceinline__ float operator()(float v, size_t) const { return v; }
};
template <typename CT>
struct CTerm {
  const CT* c;
  float beta;
  __device__ __forceinline__ float operator()(float v, size_t i) const { return v + beta * ld(c, i); }
};

// Calls f(d, cterm) with D's storage pointer and the C term, their dtypes resolved (once per
// tile, outside the element loop).
template <typename F>
__device__ __forceinline__ void with_out(const Epilogue& ep, F&& f) {
  auto with_c = [&](auto* d) {
    if (!ep.c) f(d, NoC{});
    else if (ep.c_dtype == DType::BF16) f(d, CTerm<__nv_bfloat16>{static_cast<const __nv_bfloat16*>(ep.c), ep.beta});
    else if (ep.c_dtype == DType::F16) f(d, CTerm<__half>{static_cast<const __half*>(ep.c), ep.beta});
    else f(d, CTerm<float>{static_cast<const float*>(ep.c), ep.beta});
  };
  if (ep.d_dtype == DType::BF16) with_c(static_cast<__nv_bfloat16*>(ep.d));
  else if (ep.d_dtype == DType::F16) with_c(static_cast<__half*>(ep.d));
  else with_c(static_cast<float*>(ep.d));
}

// Writes the f32 tile s[BM][BN] (row stride lds floats, 16-byte aligned rows) at output (m0, n0).
// A warp covers whole rows, four consecutive columns per thread.
template <int BM, int BN>
__device__ __forceinline__ void store_tile(const float* s, int lds, int64_t m0, int64_t n0, const Epilogue& ep,
                                           int tid) {
  constexpr int Q = BN / 4;  // float4 groups per tile row
  with_out(ep, [&](auto* d, auto cterm) {
#pragma unroll 1
    for (int e = tid; e < BM * Q; e += kThreads) {
      const int r = e / Q, c4 = (e % Q) * 4;
      const int64_t row = m0 + r, col = n0 + c4;
      if (row >= ep.M || col >= ep.N) continue;
      const float4 v = *reinterpret_cast<const float4*>(s + r * lds + c4);
      const float a[4] = {v.x, v.y, v.z, v.w};
      const size_t idx = (size_t)(row * ep.N + col);
      const int n = (int)min((int64_t)4, ep.N - col);
#pragma unroll
      for (int q = 0; q < 4; ++q)
        if (q < n) st(d, idx + q, cterm(ep.alpha * a[q], idx + q));
    }
  });
}

// Output tile t -> (tile-row, tile-col), grouped: kGroupM consecutive tiles walk down one
// tile-column, then the group moves right, so a wave of blocks shares a few A and B panels in L2.
struct TileMap {
  int64_t tiles_m, tiles_n, total;
  TileMap(int64_t M, int64_t N, int bm, int bn)
      : tiles_m((M + bm - 1) / bm), tiles_n((N + bn - 1) / bn), total(tiles_m * tiles_n) {}
  __host__ __device__ __forceinline__ void at(int64_t t, int64_t* tm, int64_t* tn) const {
    const int64_t per_group = (int64_t)kGroupM * tiles_n;
    const int64_t group = t / per_group, first = group * kGroupM;
    const int64_t rows = tiles_m - first < kGroupM ? tiles_m - first : kGroupM;
    const int64_t r = t - group * per_group;
    *tm = first + r % rows;
    *tn = r / rows;
  }
};

inline int grid_for_tiles(int64_t total) { return (int)std::min<int64_t>(total, INT_MAX); }

inline bool aligned16(const void* p) { return ((uintptr_t)p & 15u) == 0; }

// =================================================================================================
// Tensor-core kernel (bf16 / f16)
// =================================================================================================
//
// Operand "k-major" means k is the contiguous index in global memory: A without transA ([M,K]),
// B with transB ([N,K]). Its shared tile is [BM][BK] (4 chunks of 16 bytes per row, read by
// ldmatrix); the other layout is stored as it comes, [BK][BM] (16 chunks per row, ldmatrix.trans).
namespace mma {

constexpr int BM = 128, BN = 128, BK = 32, STAGES = 4;
constexpr int WARPS_M = 2, WARPS_N = 4;
constexpr int WTM = BM / WARPS_M, WTN = BN / WARPS_N;  // 64 x 32 per warp
constexpr int MI = WTM / 16, NJ = WTN / 8;             // m16 x n8 blocks per warp
constexpr int TILE = BM * BK;                          // elements per operand tile (BM == BN)
constexpr int LDC = BN + 8;  // staged output row stride: float2 fragment stores hit 32 banks
constexpr size_t kPipeBytes = (size_t)STAGES * 2 * TILE * 2;
constexpr size_t kSmemBytes = std::max(kPipeBytes, (size_t)BM * LDC * 4);
static_assert(BM == BN && WARPS_M * WARPS_N * 32 == kThreads && NJ % 2 == 0, "tile shape");

// Element offset of 16-byte chunk `chunk` of row `row` in a tile with CH chunks per row. The XOR
// spreads the 8 rows one ldmatrix phase reads (same logical chunk) over 8 distinct bank groups:
// with 64-byte rows (CH = 4) two rows share a 128-byte line, so rows pair up by (row >> 1).
template <int CH>
__host__ __device__ __forceinline__ int tile_off(int row, int chunk) {
  static_assert(CH == 4 || CH >= 8, "chunks per row");
  if constexpr (CH == 4)
    return row * 32 + ((chunk ^ ((row >> 1) & 3)) << 3);
  else
    return row * CH * 8 + ((chunk ^ (row & 7)) << 3);
}

// Addressing, host+device so that a host program can replay the fragment traffic.
// Chunk q of an operand tile: its shared row and chunk, and its first element's (mn, k) offsets.
template <bool KMAJ>
__host__ __device__ __forceinline__ void chunk_at(int q, int* row, int* ch, int* mn, int* k) {
  constexpr int CH = KMAJ ? BK / 8 : BM / 8;
  *row = q / CH;
  *ch = q % CH;
  *mn = KMAJ ? *row : *ch * 8;
  *k = KMAJ ? *ch * 8 : *row;
}
// Element offset lane `lane` hands ldmatrix for the A fragment of rows mrow..mrow+15, k 16kk..+15
// (x4; .trans when !KMAJ).
template <bool KMAJ>
__host__ __device__ __forceinline__ int a_frag_off(int lane, int mrow, int kk) {
  int row, ch, col;
  if constexpr (KMAJ) {
    attn::lm_a_mk(lane, mrow, kk, &row, &ch);
    return tile_off<BK / 8>(row, ch);
  } else {
    attn::lm_a_km(lane, kk * 16, mrow, &row, &col);
    return tile_off<BM / 8>(row, col >> 3);
  }
}
// Same for the B fragments of columns ncol..ncol+7 (registers 0, 1) and ncol+8..ncol+15 (2, 3).
template <bool KMAJ>
__host__ __device__ __forceinline__ int b_frag_off(int lane, int ncol, int kk) {
  int row, ch;
  if constexpr (KMAJ) {
    attn::lm_b_nk(lane, ncol, kk, &row, &ch);
    return tile_off<BK / 8>(row, ch);
  } else {
    attn::lm_b_kn(lane, kk * 16, ncol >> 4, &row, &ch);
    return tile_off<BN / 8>(row, ch);
  }
}

// Copies k-tile [k0, k0 + BK) x [mn0, mn0 + BM) of one operand (ld: its row stride in elements;
// ext: its M or N) into a shared tile. Whole in-range aligned chunks go by cp.async; partial or
// misaligned chunks element by element with zeros outside; chunks wholly outside are zeroed.
template <bool KMAJ>
__device__ __forceinline__ void load_tile(uint16_t* tile, const uint16_t* __restrict__ p, int64_t ld, int64_t ext,
                                          int64_t K, int64_t mn0, int64_t k0, bool vec, int tid) {
  constexpr int CH = KMAJ ? BK / 8 : BM / 8;
  constexpr int CHUNKS = TILE / 8;
  static_assert(CHUNKS % kThreads == 0, "whole chunks per thread");
#pragma unroll
  for (int i = 0; i < CHUNKS / kThreads; ++i) {
    int row, ch, dmn, dk;
    chunk_at<KMAJ>(tid + i * kThreads, &row, &ch, &dmn, &dk);
    const int64_t mn = mn0 + dmn, k = k0 + dk;  // the chunk's first element
    uint16_t* s = tile + tile_off<CH>(row, ch);
    if (mn >= ext || k >= K) {
      *reinterpret_cast<uint4*>(s) = make_uint4(0, 0, 0, 0);
      continue;
    }
    const uint16_t* g = KMAJ ? p + mn * ld + k : p + k * ld + mn;
    const int64_t room = KMAJ ? K - k : ext - mn;  // in-range elements along the chunk
    if (vec && room >= 8) {
      attn::cp_async16(s, g, true);
    } else {
      uint32_t w[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const uint32_t lo = 2 * e < room ? g[2 * e] : 0u, hi = 2 * e + 1 < room ? g[2 * e + 1] : 0u;
        w[e] = lo | (hi << 16);
      }
      *reinterpret_cast<uint4*>(s) = make_uint4(w[0], w[1], w[2], w[3]);
    }
  }
}

template <typename T, bool A_KMAJ, bool B_KMAJ>
__global__ void __launch_bounds__(kThreads, 2)
    mma_gemm(const uint16_t* __restrict__ A, int64_t lda, const uint16_t* __restrict__ B, int64_t ldb, int64_t K,
             int vec_a, int vec_b, const Epilogue ep, const TileMap map) {
  extern __shared__ __align__(128) unsigned char smem_raw[];
  uint16_t* smem = reinterpret_cast<uint16_t*>(smem_raw);  // stage s: A tile, then B tile
  float* stage_c = reinterpret_cast<float*>(smem_raw);     // after the k-loop: the f32 tile [BM][LDC]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp / WARPS_N, wn = warp % WARPS_N;
  const int64_t nk = (K + BK - 1) / BK;

  for (int64_t tile = blockIdx.x; tile < map.total; tile += gridDim.x) {
    int64_t tm, tn;
    map.at(tile, &tm, &tn);
    const int64_t m0 = tm * BM, n0 = tn * BN;

    auto load_stage = [&](int stage, int64_t kt) {
      uint16_t* sa = smem + (size_t)stage * 2 * TILE;
      load_tile<A_KMAJ>(sa, A, lda, ep.M, K, m0, kt * BK, vec_a, tid);
      load_tile<B_KMAJ>(sa + TILE, B, ldb, ep.N, K, n0, kt * BK, vec_b, tid);
    };

    float acc[MI][NJ][4];
#pragma unroll
    for (int i = 0; i < MI; ++i)
#pragma unroll
      for (int j = 0; j < NJ; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;

    // One commit group per k-tile (empty past the end), so wait_group STAGES-2 at step kt means
    // k-tile kt has landed.
#pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) {
      if (s < nk) load_stage(s, s);
      attn::cp_async_commit();
    }

    for (int64_t kt = 0; kt < nk; ++kt) {
      attn::cp_async_wait<STAGES - 2>();
      __syncthreads();  // k-tile kt visible to all; every warp is done with k-tile kt-1's stage
      const int64_t pre = kt + STAGES - 1;
      if (pre < nk) load_stage((int)(pre % STAGES), pre);
      attn::cp_async_commit();

      const uint16_t* sa = smem + (size_t)(kt % STAGES) * 2 * TILE;
      const uint16_t* sb = sa + TILE;
#pragma unroll
      for (int kk = 0; kk < BK / 16; ++kk) {
        uint32_t af[MI][4], bf[NJ][2];
#pragma unroll
        for (int mi = 0; mi < MI; ++mi) {
          const uint16_t* at = sa + a_frag_off<A_KMAJ>(lane, wm * WTM + mi * 16, kk);
          if constexpr (A_KMAJ)
            attn::ldsm_x4(af[mi], at);
          else
            attn::ldsm_x4_t(af[mi], at);
        }
#pragma unroll
        for (int np = 0; np < NJ / 2; ++np) {
          const uint16_t* bt = sb + b_frag_off<B_KMAJ>(lane, wn * WTN + np * 16, kk);
          uint32_t r[4];
          if constexpr (B_KMAJ)
            attn::ldsm_x4(r, bt);
          else
            attn::ldsm_x4_t(r, bt);
          bf[2 * np][0] = r[0];
          bf[2 * np][1] = r[1];
          bf[2 * np + 1][0] = r[2];
          bf[2 * np + 1][1] = r[3];
        }
#pragma unroll
        for (int mi = 0; mi < MI; ++mi)
#pragma unroll
          for (int nj = 0; nj < NJ; ++nj) attn::mma16816<T>(acc[mi][nj], af[mi], bf[nj][0], bf[nj][1]);
      }
    }
    attn::cp_async_wait<0>();
    __syncthreads();  // every warp is out of the k-loop: the stages can hold the output tile

    // Accumulator fragments: c0,c1 at (g, 2t..2t+1), c2,c3 at (g+8, 2t..2t+1) of each m16 x n8.
    const int g = lane >> 2, t4 = lane & 3;
#pragma unroll
    for (int mi = 0; mi < MI; ++mi)
#pragma unroll
      for (int nj = 0; nj < NJ; ++nj)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int r = wm * WTM + mi * 16 + g + 8 * h, c = wn * WTN + nj * 8 + 2 * t4;
          *reinterpret_cast<float2*>(stage_c + r * LDC + c) = make_float2(acc[mi][nj][2 * h], acc[mi][nj][2 * h + 1]);
        }
    __syncthreads();
    store_tile<BM, BN>(stage_c, LDC, m0, n0, ep, tid);
    __syncthreads();  // the next tile's prologue overwrites the staged output
  }
}

template <typename T, bool A_KMAJ, bool B_KMAJ>
void launch(const GemmProblem& p, const Epilogue& ep, cudaStream_t stream) {
  auto kernel = mma_gemm<T, A_KMAJ, B_KMAJ>;
  check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)kSmemBytes),
             "cudaFuncSetAttribute(matmul mma_gemm)");
  const int64_t lda = p.trans_a ? p.M : p.K, ldb = p.trans_b ? p.K : p.N;
  const int vec_a = lda % 8 == 0 && aligned16(p.a), vec_b = ldb % 8 == 0 && aligned16(p.b);
  const TileMap map(p.M, p.N, BM, BN);
  kernel<<<grid_for_tiles(map.total), kThreads, kSmemBytes, stream>>>(static_cast<const uint16_t*>(p.a), lda,
                                                                      static_cast<const uint16_t*>(p.b), ldb, p.K,
                                                                      vec_a, vec_b, ep, map);
  check_launch("matmul mma_gemm");
}

template <typename T>
void run(const GemmProblem& p, const Epilogue& ep, cudaStream_t stream) {
  const bool ak = !p.trans_a, bk = p.trans_b;
  if (ak && bk) launch<T, true, true>(p, ep, stream);
  else if (ak) launch<T, true, false>(p, ep, stream);
  else if (bk) launch<T, false, true>(p, ep, stream);
  else launch<T, false, false>(p, ep, stream);
}

}  // namespace mma

// =================================================================================================
// SIMT f32 kernel
// =================================================================================================
//
// 256 threads as a 16x16 grid (tx, ty); a thread owns rows ty*4 + {0..3} (+ 64 for the 128 tile)
// and the same pattern of columns with tx, so its shared-memory reads are float4s. Shared tiles
// are k-major ([BK][BMN], rows padded by 4 floats: transposing stores of a k-contiguous operand
// then fall in distinct banks).
namespace simt {

template <int BMN, int BK>
struct Cfg {
  static constexpr int TM = BMN / 16;  // rows (and columns) per thread: 8 or 4
  static constexpr int LDS = BMN + 4;  // shared row stride (floats), operand tiles and output tile
  static constexpr int TILE = BK * LDS;
  // Operand tiles [2 buffers][A, B][BK][LDS], later the output staged 64 rows at a time.
  static constexpr size_t kSmemBytes = std::max((size_t)4 * TILE, (size_t)64 * LDS) * sizeof(float);
  static_assert(kSmemBytes <= 48 * 1024, "no opt-in shared memory needed");
  static_assert(BMN * BK == 4 * kThreads, "one float4 per thread and operand");
  static_assert(TM % 4 == 0, "float4 fragments");
};

// One thread's share of an operand's k-tiles: a float4 of each, in k order. The pointer and k
// index advance per k-tile, so the k-loop does no 64-bit index products.
template <int BMN, int BK, bool KMAJ>
struct Loader {
  static constexpr int CPR = KMAJ ? BK / 4 : BMN / 4;  // float4 groups per global row of a tile
  const float* g;   // this thread's first element of the next k-tile
  int64_t k;        // its k index
  int64_t room_mn;  // elements from g along mn still inside the operand (k-major: 1 or 0)
  int64_t step;     // g's advance per k-tile

  __device__ __forceinline__ Loader(const float* p, int64_t ld, int64_t ext, int64_t mn0, int tid) {
    if constexpr (KMAJ) {
      const int64_t mn = mn0 + tid / CPR;
      k = (tid % CPR) * 4;
      room_mn = mn < ext ? 1 : 0;
      g = p + (room_mn ? mn * ld : 0) + k;
      step = BK;
    } else {
      const int64_t mn = mn0 + (tid % CPR) * 4;
      k = tid / CPR;
      room_mn = ext - mn;
      g = p + k * ld + (room_mn > 0 ? mn : 0);
      step = (int64_t)BK * ld;
    }
  }

  __device__ __forceinline__ void next(int64_t K, bool vec, float (&r)[4]) {
    r[0] = r[1] = r[2] = r[3] = 0.f;
    if (room_mn > 0 && k < K) {
      const int64_t room = KMAJ ? K - k : room_mn;  // in-range elements of the float4
      if (vec && room >= 4) {
        const float4 v = __ldg(reinterpret_cast<const float4*>(g));
        r[0] = v.x;
        r[1] = v.y;
        r[2] = v.z;
        r[3] = v.w;
      } else {
#pragma unroll
        for (int e = 0; e < 4; ++e)
          if (e < room) r[e] = __ldg(g + e);
      }
    }
    g += step;
    k += BK;
  }
};

// Stores it into the k-major shared tile s[BK][LDS].
template <int BMN, int BK, bool KMAJ>
__device__ __forceinline__ void store_regs(float* s, int tid, const float (&r)[4]) {
  constexpr int CPR = KMAJ ? BK / 4 : BMN / 4;
  constexpr int LDS = Cfg<BMN, BK>::LDS;
  if constexpr (KMAJ) {
    const int row = tid / CPR, kc = (tid % CPR) * 4;
#pragma unroll
    for (int e = 0; e < 4; ++e) s[(kc + e) * LDS + row] = r[e];
  } else {
    const int kr = tid / CPR, mc = (tid % CPR) * 4;
    *reinterpret_cast<float4*>(s + kr * LDS + mc) = make_float4(r[0], r[1], r[2], r[3]);
  }
}

template <int BMN, int BK, bool A_KMAJ, bool B_KMAJ>
__global__ void __launch_bounds__(kThreads, 2)
    simt_gemm(const float* __restrict__ A, int64_t lda, const float* __restrict__ B, int64_t ldb, int64_t K,
              int vec_a, int vec_b, const Epilogue ep, const TileMap map) {
  using C = Cfg<BMN, BK>;
  constexpr int TM = C::TM, LDS = C::LDS, TILE = C::TILE;
  extern __shared__ __align__(16) float smem_f[];
  float* As = smem_f;            // [2][BK][LDS]
  float* Bs = smem_f + 2 * TILE;  // [2][BK][LDS]
  float* stage_c = smem_f;       // after the k-loop: 64 rows of the output tile, [64][LDS]

  const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
  const int64_t nk = (K + BK - 1) / BK;

  for (int64_t tile = blockIdx.x; tile < map.total; tile += gridDim.x) {
    int64_t tm, tn;
    map.at(tile, &tm, &tn);
    const int64_t m0 = tm * BMN, n0 = tn * BMN;

    float acc[TM][TM];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TM; ++j) acc[i][j] = 0.f;

    Loader<BMN, BK, A_KMAJ> la(A, lda, ep.M, m0, tid);
    Loader<BMN, BK, B_KMAJ> lb(B, ldb, ep.N, n0, tid);
    float ra[4], rb[4];
    la.next(K, vec_a, ra);
    lb.next(K, vec_b, rb);
    store_regs<BMN, BK, A_KMAJ>(As, tid, ra);
    store_regs<BMN, BK, B_KMAJ>(Bs, tid, rb);
    __syncthreads();

    for (int64_t kt = 0; kt < nk; ++kt) {
      const int cur = (int)(kt & 1);
      const bool more = kt + 1 < nk;
      if (more) {  // the next k-tile's global loads are in flight during this one's math
        la.next(K, vec_a, ra);
        lb.next(K, vec_b, rb);
      }
      const float* as = As + cur * TILE;
      const float* bs = Bs + cur * TILE;
#pragma unroll
      for (int kk = 0; kk < BK; ++kk) {
        float a[TM], b[TM];
#pragma unroll
        for (int h = 0; h < TM / 4; ++h) {
          const float4 va = *reinterpret_cast<const float4*>(as + kk * LDS + h * 64 + ty * 4);
          const float4 vb = *reinterpret_cast<const float4*>(bs + kk * LDS + h * 64 + tx * 4);
          a[4 * h] = va.x;
          a[4 * h + 1] = va.y;
          a[4 * h + 2] = va.z;
          a[4 * h + 3] = va.w;
          b[4 * h] = vb.x;
          b[4 * h + 1] = vb.y;
          b[4 * h + 2] = vb.z;
          b[4 * h + 3] = vb.w;
        }
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
          for (int j = 0; j < TM; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
      }
      if (more) {  // the other buffer: every thread finished reading it before the last barrier
        store_regs<BMN, BK, A_KMAJ>(As + (cur ^ 1) * TILE, tid, ra);
        store_regs<BMN, BK, B_KMAJ>(Bs + (cur ^ 1) * TILE, tid, rb);
      }
      __syncthreads();  // (the last one also frees the operand tiles for the staged output)
    }

    // Rows (i / 4) * 64 + ty * 4 + i % 4: one pass per 64-row half keeps shared memory small.
#pragma unroll
    for (int half = 0; half < TM / 4; ++half) {
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int h = 0; h < TM / 4; ++h) {
          const float* v = &acc[half * 4 + i][4 * h];
          *reinterpret_cast<float4*>(stage_c + (ty * 4 + i) * LDS + h * 64 + tx * 4) = make_float4(v[0], v[1], v[2], v[3]);
        }
      __syncthreads();
      store_tile<64, BMN>(stage_c, LDS, m0 + half * 64, n0, ep, tid);
      __syncthreads();  // the next half, or the next tile's first loads, overwrite the staged rows
    }
  }
}

template <int BMN, int BK, bool A_KMAJ, bool B_KMAJ>
void launch(const float* A, const float* B, const GemmProblem& p, const Epilogue& ep, cudaStream_t stream) {
  auto kernel = simt_gemm<BMN, BK, A_KMAJ, B_KMAJ>;
  constexpr size_t smem = Cfg<BMN, BK>::kSmemBytes;
  const int64_t lda = p.trans_a ? p.M : p.K, ldb = p.trans_b ? p.K : p.N;
  const int vec_a = lda % 4 == 0 && aligned16(A), vec_b = ldb % 4 == 0 && aligned16(B);
  const TileMap map(p.M, p.N, BMN, BMN);
  kernel<<<grid_for_tiles(map.total), kThreads, smem, stream>>>(A, lda, B, ldb, p.K, vec_a, vec_b, ep, map);
  check_launch("matmul simt_gemm");
}

template <int BMN, int BK>
void run_tile(const float* A, const float* B, const GemmProblem& p, const Epilogue& ep, cudaStream_t stream) {
  const bool ak = !p.trans_a, bk = p.trans_b;
  if (ak && bk) launch<BMN, BK, true, true>(A, B, p, ep, stream);
  else if (ak) launch<BMN, BK, true, false>(A, B, p, ep, stream);
  else if (bk) launch<BMN, BK, false, true>(A, B, p, ep, stream);
  else launch<BMN, BK, false, false>(A, B, p, ep, stream);
}

int sm_count() {
  static const int n = [] {
    int dev = 0, v = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
      (void)cudaGetLastError();
      return 108;  // unknown: an A100's count
    }
    return v;
  }();
  return n;
}

void run(const float* A, const float* B, const GemmProblem& p, const Epilogue& ep, cudaStream_t stream) {
  // 128x128 tiles do twice the math per shared-memory byte of 64x64 ones, but with fewer tiles
  // than SMs most of the GPU would idle: then the smaller tiles.
  if (TileMap(p.M, p.N, 128, 128).total >= sm_count())
    run_tile<128, 8>(A, B, p, ep, stream);
  else
    run_tile<64, 16>(A, B, p, ep, stream);
}

}  // namespace simt

}  // namespace

void gemm_fallback(const GemmProblem& p, cudaStream_t stream) {
  if (p.M <= 0 || p.N <= 0 || p.K <= 0) throw Error("ERR_INTERNAL", "gemm_fallback: needs M, N, K >= 1");
  const Epilogue ep{p.alpha, p.beta, p.beta != 0.f ? p.c : nullptr, p.c_dtype, p.d, p.d_dtype, p.M, p.N};
  if (p.a_dtype == p.b_dtype && p.a_dtype == DType::BF16 && p.d_dtype == DType::BF16) {
    mma::run<__nv_bfloat16>(p, ep, stream);
    return;
  }
  if (p.a_dtype == p.b_dtype && p.a_dtype == DType::F16 && p.d_dtype == DType::F16) {
    mma::run<__half>(p, ep, stream);
    return;
  }
  // f32 math; a half operand is widened once (the scratch is freed in stream order, after use).
  const size_t na = (size_t)(p.M * p.K), nb = (size_t)(p.K * p.N);
  DeviceScratch wa(p.a_dtype == DType::F32 ? 0 : na * sizeof(float));
  DeviceScratch wb(p.b_dtype == DType::F32 ? 0 : nb * sizeof(float));
  const float* A = static_cast<const float*>(p.a);
  const float* B = static_cast<const float*>(p.b);
  if (p.a_dtype != DType::F32) {
    launch_to_f32(p.a_dtype, p.a, wa.as<float>(), na, stream);
    A = wa.as<float>();
  }
  if (p.b_dtype != DType::F32) {
    launch_to_f32(p.b_dtype, p.b, wb.as<float>(), nb, stream);
    B = wb.as<float>();
  }
  simt::run(A, B, p, ep, stream);
}

}  // namespace ctxwin::cuda
