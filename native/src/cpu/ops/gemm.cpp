// The GEMM driver (see gemm.h): picks the kernel build, blocks the problem and hands output tiles
// to the threads. Small M (<= 4, decode-style products) skips packing (gemv).
//
// Loop order: rows in passes (the whole pass's A packed, <= 32 MB) x columns in blocks of NC
// (the block's B packed over all of K, <= 16 MB). Per (pass, block): one parallel_for packs every
// KC slice of A and B, one parallel_for runs the tiles (mc rows x nb columns, >= 3 per thread);
// each tile walks the K slices itself (beta on the first, accumulate after), so a call costs two
// fork-joins for the usual training shapes whatever K is, and a tile's C stays in cache across K.
//
// Napkin math (AVX2, 6x16 tile, KC = 256): each k step of the micro-kernel loads 2 B vectors and
// 6 broadcasts for 12 FMAs (24 FLOP/8 lanes per 8 loads from L1); the A block of a tile
// (MC x KC = 144 KB) sits in L2, the B micro-panel (KC x 16 = 16 KB) in L1.
#include "cpu/ops/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include "cpu/cpu_features.h"
#include "runtime/thread_pool.h"

namespace ctxwin::cpu {

namespace {

const GemmKernels& active_kernels() {
#if defined(CTXWIN_X86_64)
  switch (active_cpu_isa()) {
    case CpuIsa::Avx512: return gemm_avx512::kernels();
    case CpuIsa::Avx2: return gemm_avx2::kernels();
    default: break;
  }
#endif
  return gemm_generic::kernels();
}

// A per-thread scratch buffer, 64-byte aligned, grown on demand (never shrinks).
float* scratch(std::vector<float>& buf, size_t n) {
  if (buf.size() < n + 16) buf.resize(n + 16);
  uintptr_t p = (uintptr_t)buf.data();
  return (float*)((p + 63) & ~(uintptr_t)63);
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

using ParFor = std::function<void(int64_t, const std::function<void(int64_t, int)>&)>;

void scale_c(int64_t M, int64_t N, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    if (beta == 0.f) std::fill(c, c + N, 0.f);
    else for (int64_t j = 0; j < N; ++j) c[j] *= beta;
  }
}

void gemv_path(const GemmKernels& kt, int threads, const ParFor& par, int64_t M, int64_t N, int64_t K, float alpha,
               const GemmOperand& A, const GemmOperand& B, float beta, float* C, int64_t ldc) {
  // x[r][k] = A(r, k) as contiguous f32 rows.
  static thread_local std::vector<float> xbuf;
  float* x = scratch(xbuf, (size_t)(M * K));
  for (int64_t r = 0; r < M; ++r)
    for (int64_t k = 0; k < K; ++k) {
      int64_t off = r * A.rs + k * A.cs;
      float v;
      if (A.dtype == DType::F32) v = ((const float*)A.data)[off];
      else to_f32(A.dtype, (const uint16_t*)A.data + off, &v, 1);
      x[r * K + k] = v;
    }
  // Column chunks: enough work per task (>= ~64K multiply-adds), a multiple of 64 columns.
  int64_t per = std::max<int64_t>(64, round_up(std::max<int64_t>(1, 65536 / std::max<int64_t>(1, K * M)), 64));
  if (threads > 1) per = std::min(per, std::max<int64_t>(64, round_up(ceil_div(N, 4 * (int64_t)threads), 64)));
  int64_t tasks = ceil_div(N, per);
  par(tasks, [&](int64_t t, int) {
    int64_t j0 = t * per, n = std::min(per, N - j0);
    kt.gemv((int)M, K, x, B, j0, n, alpha, beta, C + j0, ldc);
  });
}

void gemm_impl(int threads, const ParFor& par, int64_t M, int64_t N, int64_t K, float alpha, const GemmOperand& A,
               const GemmOperand& B, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.f) {
    scale_c(M, N, beta, C, ldc);
    return;
  }
  const GemmKernels& kt = active_kernels();
  if (M <= 4) {
    gemv_path(kt, threads, par, M, N, K, alpha, A, B, beta, C, ldc);
    return;
  }
  const int64_t mr = kt.mr, nr = kt.nr, KC = kt.kc;
  const int64_t n_pc = ceil_div(K, KC);
  // Every K block of a pass is packed up front (one fork-join for packing, one for the tiles,
  // whatever K is), within these buffer bounds: A rows per pass, B columns per block.
  constexpr int64_t kPackA = (int64_t)1 << 23, kPackB = (int64_t)1 << 22;  // floats (32 MB, 16 MB)
  const int64_t rows_pass = std::max(mr, (kPackA / K) / mr * mr);
  const int64_t NC = std::min(round_up(N, nr), std::max(nr, std::min<int64_t>(kt.nc, (kPackB / K) / nr * nr)));

  // Output tiles of a pass: rows by mc (<= MC, a multiple of mr, balanced), columns by nb.
  const int64_t Mp = std::min(M, rows_pass);
  int64_t n_mt = ceil_div(Mp, kt.mc);
  int64_t nb = NC;
  const int64_t want = threads > 1 ? 3 * (int64_t)threads : 1;
  while (threads > 1 && n_mt * ceil_div(NC, nb) < want) {
    if (nb >= 8 * nr) nb = round_up(nb / 2, nr);
    else if (ceil_div(Mp, n_mt + 1) >= 2 * mr) ++n_mt;
    else break;
  }
  const int64_t mc = round_up(ceil_div(Mp, n_mt), mr);

  static thread_local std::vector<float> abuf, bbuf;
  float* Ap = scratch(abuf, (size_t)(round_up(Mp, mr) * K));
  float* Bp = scratch(bbuf, (size_t)(NC * K));

  for (int64_t ip = 0; ip < M; ip += rows_pass) {
    const int64_t mp = std::min(rows_pass, M - ip), mp_pad = round_up(mp, mr);
    const int64_t a_groups = ceil_div(mp, mc);
    for (int64_t jc = 0; jc < N; jc += NC) {
      const int64_t nc = std::min(NC, N - jc), nc_pad = round_up(nc, nr);
      // Packed layouts: block pc of A at Ap + pc*KC*mp_pad (panels of mr x kc), block pc of B at
      // Bp + pc*KC*nc_pad (panels of kc x nr).
      const int64_t b_groups = ceil_div(ceil_div(nc, nr), 4);
      const int64_t pack_a = jc == 0 ? a_groups : 0;
      par(n_pc * (b_groups + pack_a), [&](int64_t t, int) {
        const int64_t pc = t / (b_groups + pack_a), g = t % (b_groups + pack_a);
        const int64_t k0 = pc * KC, kc = std::min(KC, K - k0);
        if (g < b_groups) {
          int64_t j0 = g * 4 * nr, n = std::min(4 * nr, nc - j0);
          kt.pack_b(B, k0, kc, jc + j0, n, Bp + pc * KC * nc_pad + j0 * kc);
        } else {
          int64_t i0 = (g - b_groups) * mc, m = std::min(mc, mp - i0);
          kt.pack_a(A, ip + i0, m, k0, kc, Ap + pc * KC * mp_pad + i0 * kc);
        }
      });
      const int64_t n_mt_p = ceil_div(mp, mc), n_nt = ceil_div(nc, nb);
      par(n_mt_p * n_nt, [&](int64_t t, int) {
        const int64_t it = t / n_nt, jt = t % n_nt;
        const int64_t i0 = it * mc, i1 = std::min(mp, i0 + mc);
        const int64_t j0 = jt * nb, j1 = std::min(nc, j0 + nb);
        float* Ct = C + ip * ldc + jc;
        for (int64_t pc = 0; pc < n_pc; ++pc) {
          const int64_t kc = std::min(KC, K - pc * KC);
          const float beta_eff = pc == 0 ? beta : 1.f;
          const float* ab = Ap + pc * KC * mp_pad;
          const float* bb = Bp + pc * KC * nc_pad;
          for (int64_t j = j0; j < j1; j += nr) {
            const int n = (int)std::min(nr, j1 - j);
            for (int64_t i = i0; i < i1; i += mr) {
              const int m = (int)std::min(mr, i1 - i);
              kt.micro(kc, ab + i * kc, bb + j * kc, Ct + i * ldc + j, ldc, alpha, beta_eff, m, n);
            }
          }
        }
      });
    }
  }
}

}  // namespace

void gemm(int64_t M, int64_t N, int64_t K, float alpha, const GemmOperand& A, const GemmOperand& B, float beta,
          float* C, int64_t ldc) {
  ThreadPool& pool = ThreadPool::global();
  // Small products are not worth waking the pool.
  int threads = (double)M * (double)N * (double)K < 48.0 * 48 * 48 ? 1 : pool.size();
  ParFor par = [&](int64_t n, const std::function<void(int64_t, int)>& fn) {
    if (threads == 1 || n == 1) {
      for (int64_t i = 0; i < n; ++i) fn(i, 0);
    } else {
      pool.parallel_for(n, fn);
    }
  };
  gemm_impl(threads, par, M, N, K, alpha, A, B, beta, C, ldc);
}

void gemm_serial(int64_t M, int64_t N, int64_t K, float alpha, const GemmOperand& A, const GemmOperand& B,
                 float beta, float* C, int64_t ldc) {
  ParFor par = [](int64_t n, const std::function<void(int64_t, int)>& fn) {
    for (int64_t i = 0; i < n; ++i) fn(i, 0);
  };
  gemm_impl(1, par, M, N, K, alpha, A, B, beta, C, ldc);
}

const char* gemm_kernel_name() { return active_kernels().name; }

}  // namespace ctxwin::cpu
