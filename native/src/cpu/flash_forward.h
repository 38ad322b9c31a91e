// CPU FlashAttention-2 forward, one work item = (b, query head, block of block_q queries).
//
// Scores live in log2 units: q is pre-scaled by softmax_scale * log2(e) and ALiBi slopes by
// log2(e), so p = exp2(s - m) needs no extra multiply. For each visible key block:
//   S = Q K^T (score micro-kernel, ALiBi + mask applied in registers)   [rows, block_k]
//   m' = max(m, rowmax S); P = exp2(S - m'); l = l * 2^(m - m') + rowsum P
//   O = O * 2^(m - m') + P V (the rescale fused into the accumulate micro-kernel)
// then O / l and lse = (m + log2 l) * ln 2. No Tq x Tk matrix ever exists. Key blocks outside
// the query block's visible range are skipped; a row that sees no key gets o = 0, lse = -inf.
#pragma once
#include <cstring>

#include "cpu/flash_block.h"
#include "cpu/flash_prepare.h"

namespace ctxwin::cpu {

template <class V>
inline void forward_prepare_kv(const FlashPlan& pl, int64_t item, int thread) {
  prepare_kv_block<V>(pl, item, thread_scratch<V>(pl, thread));
}

// Writes rows of S = Q K^T (modified) into s[rows][block_k].
template <class V, class Mod>
struct StoreScores {
  Mod mod;
  float* s;
  int lds;
  void operator()(int r, int col, V acc) { V::store(s + (size_t)r * lds + col, mod.apply(r, col, acc)); }
};

// Online-softmax update of one key block for every row: S -> P in place, m, l, alpha.
template <class V>
inline void softmax_update(const ForwardScratch<V>& sc, int rows, int cols, int lds) {
  const float neg_inf = -__builtin_inff();
  for (int r = 0; r < rows; ++r) {
    float* srow = sc.s + (size_t)r * lds;
    V mx = V::set1(neg_inf);
    for (int c = 0; c < cols; c += V::W) mx = vmax(mx, V::load(srow + c));
    float m_old = sc.m[r], m_blk = hmax(mx);
    float m_new = m_blk > m_old ? m_blk : m_old;
    float m_use = m_new == neg_inf ? 0.f : m_new;  // nothing visible yet: keep exp2 finite (0)
    sc.alpha[r] = exp2_scalar<V>(m_old - m_use);   // 0 on the first visible block
    sc.m[r] = m_new;
    V mu = V::set1(m_use), sum = V::zero();
    for (int c = 0; c < cols; c += V::W) {
      V e = exp2_approx<V>(V::load(srow + c) - mu);
      V::store(srow + c, e);
      sum = sum + e;
    }
    sc.l[r] = sc.l[r] * sc.alpha[r] + hsum(sum);
  }
}

template <class V>
inline void forward_query_block(const FlashPlan& pl, int64_t item, int thread) {
  constexpr int PW = V::kTileVecs * V::W;
  const AttentionParams& p = *pl.prm;
  // Late query blocks see the most keys under a causal mask: hand them out first.
  int qb = pl.num_qb - 1 - (int)(item % pl.num_qb);
  int64_t bh = item / pl.num_qb;
  int b = (int)(bh / pl.Hq), h = (int)(bh % pl.Hq), hkv = h / pl.G;
  int64_t bkv = (int64_t)b * pl.Hkv + hkv;
  int i0 = qb * pl.block_q;
  int rows = pl.Tq - i0 < pl.block_q ? pl.Tq - i0 : pl.block_q;
  const int Dp = pl.Dp, Bk = pl.block_k;

  ScratchCarver<V> carver{thread_scratch<V>(pl, thread)};
  ForwardScratch<V> sc = carve_forward(carver, pl);
  fill_row_params<V>(pl, b, i0, rows, sc.pos, sc.lo, sc.hi);
  for (int r = 0; r < rows; ++r) {
    float* q = sc.q + (size_t)r * Dp;
    load_padded_row<V>(p.dtype, p.q, bthd_offset<V>(b, i0 + r, h, pl.Tq, pl.Hq, pl.D), pl.D, Dp, q);
    rope_apply<V>(pl, q, p.query_offset + i0 + r, false);
    scale_row<V>(q, Dp, pl.q_scale);
    sc.m[r] = -__builtin_inff();
    sc.l[r] = 0.f;
  }
  std::memset(sc.o, 0, sizeof(float) * rows * Dp);

  bool alibi = pl.slopes_log2 != nullptr;
  float neg_slope = alibi ? -pl.slopes_log2[h] : 0.f;
  int klo = pl.qb_key_lo[qb], khi = pl.qb_key_hi[qb];
  seq_key_clamp<V>(pl, b, &klo, &khi);
  if (klo <= khi && !seq_rows_all_padding<V>(pl, b, i0, rows)) {
    for (int kb = klo / Bk; kb <= khi / Bk; ++kb) {
      KeyBlock<V> k = key_block<V>(pl, b, qb, kb);
      const float* kp = pl.k_panels + (size_t)bkv * pl.Tkp * pl.D + (size_t)k.j0 * pl.D;
      with_score_mod<V>(alibi, k.masked, sc.pos, sc.lo, sc.hi, neg_slope, k.j0, [&](auto mod) {
        StoreScores<V, decltype(mod)> store{mod, sc.s, Bk};
        score_block<V>(rows, sc.q, Dp, kp, k.panels, pl.D, store);
      });
      softmax_update<V>(sc, rows, k.panels * PW, Bk);
      const float* v = pl.v_rows + ((size_t)bkv * pl.Tkp + k.j0) * Dp;
      accumulate_block<V, false>(rows, sc.o, Dp, Dp, sc.alpha, sc.s, Bk, v, Dp, k.nk);
    }
  }

  for (int r = 0; r < rows; ++r) {
    float* o = sc.o + (size_t)r * Dp;
    float l = sc.l[r];
    size_t lse_at = ((size_t)b * pl.Hq + h) * pl.Tq + i0 + r;
    if (l > 0.f) {
      scale_row<V>(o, Dp, 1.f / l);
      p.lse[lse_at] = (sc.m[r] + __builtin_log2f(l)) * kLn2;
    } else {  // no visible key (callers reject this; never NaN)
      std::memset(o, 0, sizeof(float) * Dp);
      p.lse[lse_at] = -__builtin_inff();
    }
    V::store_row(p.dtype, p.o, bthd_offset<V>(b, i0 + r, h, pl.Tq, pl.Hq, pl.D), o, pl.D);
  }
}

}  // namespace ctxwin::cpu
