// CPU FlashAttention-2 backward. Scores are recomputed blockwise from q, k and the forward's lse;
// for a (query block, key block) tile, in log2 units as in the forward (flash_forward.h):
//   P  = exp2(S - lse * log2 e)            S = Q K^T (+ ALiBi, mask)    [rows, block_k]
//   dS = P * (dO V^T - delta)              delta = rowsum(dO * O)
//   dV += P^T dO      dK += dS^T Q      dQ += dS K
// (with softmax_scale and the log2 scaling folded in when the rows are written; dq and dk are
// then rotated back with the transpose rotation, so gradients are w.r.t. the raw q and k).
//
// Parallel scheme (race-free and deterministic, no atomics):
//  * key pass, items (b, kv head, key chunk c): the item owns key blocks kb = c, c + C, ...
//    (round robin, so causal work is balanced), accumulates their dK/dV over every query head of
//    the GQA group and every query block that sees them, and writes dk/dv rows.
//  * dQ, two schemes chosen by the dispatcher (attention.cpp) from the memory it may use:
//    - partials (dq_partial != null): the key pass also adds dS K into a per-chunk partial
//      buffer dq_partial[c] (chunks never share one), and finish_dq sums the C partials per row.
//      5 block products per tile, C x |q| floats of memory.
//    - query pass (dq_partial == null, C = num_kb): items (b, query head, query block) recompute
//      S, P, dP for their own rows and accumulate dQ in thread scratch: 3 more products per
//      tile but no extra memory.
#pragma once
#include <cstring>

#include "cpu/flash_block.h"
#include "cpu/flash_prepare.h"

namespace ctxwin::cpu {

template <class V>
inline void backward_prepare_kv(const FlashPlan& pl, int64_t item, int thread) {
  prepare_kv_block<V>(pl, item, thread_scratch<V>(pl, thread));
}

// Rows of one query block for one (b, h): q rotated and scaled, dout in f32, delta, lse * log2 e.
template <class V>
inline void backward_prepare_q(const FlashPlan& pl, int64_t item, int thread) {
  const AttentionBwdParams& p = *pl.bwd;
  int qb = (int)(item % pl.num_qb);
  int64_t bh = item / pl.num_qb;
  int b = (int)(bh / pl.Hq), h = (int)(bh % pl.Hq);
  int i0 = qb * pl.block_q, i1 = i0 + pl.block_q < pl.Tq ? i0 + pl.block_q : pl.Tq;
  const int Dp = pl.Dp;
  float* o = thread_scratch<V>(pl, thread);  // [Dp]
  for (int i = i0; i < i1; ++i) {
    size_t at = bthd_offset<V>(b, i, h, pl.Tq, pl.Hq, pl.D);
    size_t row = (size_t)bh * pl.Tq + i;
    float* q = pl.q_rows + row * Dp;
    load_padded_row<V>(p.dtype, p.q, at, pl.D, Dp, q);
    rope_apply<V>(pl, q, p.query_offset + i, false);
    scale_row<V>(q, Dp, pl.q_scale);
    float* dout = pl.do_rows + row * Dp;
    load_padded_row<V>(p.dtype, p.dout, at, pl.D, Dp, dout);
    load_padded_row<V>(p.dtype, p.o, at, pl.D, Dp, o);
    V acc = V::zero();
    for (int d = 0; d < Dp; d += V::W) acc = fmadd(V::load(dout + d), V::load(o + d), acc);
    pl.delta[row] = hsum(acc) - (p.dlse ? p.dlse[row] : 0.f);
    float lse = p.lse[row];
    // A row that sees no key has lse = -inf; +inf makes its P exactly 0 instead of NaN.
    int lo, hi;
    seq_row_range<V>(pl, b, i, &lo, &hi);
    bool none = lo > hi || lse == -__builtin_inff();
    pl.lse_log2[row] = none ? __builtin_inff() : lse * kLog2e;
  }
}

// P = exp2(mod(S) - lse_log2[row]) into p[rows][ldp].
template <class V, class Mod>
struct StoreProbabilities {
  Mod mod;
  const float* lse_log2;  // per block row
  float* p;
  int ldp;
  void operator()(int r, int col, V acc) {
    V s = mod.apply(r, col, acc) - V::set1(lse_log2[r]);
    V::store(p + (size_t)r * ldp + col, exp2_approx<V>(s));
  }
};
// dS = P * (dP - delta[row]) into ds[rows][ldp].
template <class V>
struct StoreScoreGrads {
  const float* p;
  const float* delta;  // per block row
  float* ds;
  int ldp;
  void operator()(int r, int col, V dp) {
    size_t at = (size_t)r * ldp + col;
    V::store(ds + at, V::load(p + at) * (dp - V::set1(delta[r])));
  }
};

// One (query block qb of head h, key block kb) tile. dK/dV accumulate into dk/dv [block_k][Dp]
// when non-null; dQ into dq [rows][Dp] when non-null.
template <class V>
inline void backward_tile(const FlashPlan& pl, const BackwardScratch<V>& sc, int b, int h, int qb, int kb,
                          float* dk, float* dv, float* dq) {
  const int Dp = pl.Dp, Bk = pl.block_k;
  int i0 = qb * pl.block_q;
  int rows = pl.Tq - i0 < pl.block_q ? pl.Tq - i0 : pl.block_q;
  size_t bhq = (size_t)b * pl.Hq + h, bkv = (size_t)b * pl.Hkv + h / pl.G;
  const float* q = pl.q_rows + (bhq * pl.Tq + i0) * Dp;
  const float* dout = pl.do_rows + (bhq * pl.Tq + i0) * Dp;
  KeyBlock<V> k = key_block<V>(pl, b, qb, kb);
  const float* kp = pl.k_panels + bkv * pl.Tkp * pl.D + (size_t)k.j0 * pl.D;
  const float* vp = pl.v_panels + bkv * pl.Tkp * pl.D + (size_t)k.j0 * pl.D;

  fill_row_params<V>(pl, b, i0, rows, sc.pos, sc.lo, sc.hi);
  bool alibi = pl.slopes_log2 != nullptr;
  float neg_slope = alibi ? -pl.slopes_log2[h] : 0.f;
  const float* lse = pl.lse_log2 + bhq * pl.Tq + i0;
  with_score_mod<V>(alibi, k.masked, sc.pos, sc.lo, sc.hi, neg_slope, k.j0, [&](auto mod) {
    StoreProbabilities<V, decltype(mod)> store{mod, lse, sc.p, Bk};
    score_block<V>(rows, q, Dp, kp, k.panels, pl.D, store);
  });
  StoreScoreGrads<V> grads{sc.p, pl.delta + bhq * pl.Tq + i0, sc.ds, Bk};
  score_block<V>(rows, dout, Dp, vp, k.panels, pl.D, grads);

  if (dv) accumulate_block<V, true>(k.nk, dv, Dp, Dp, nullptr, sc.p, Bk, dout, Dp, rows);
  if (dk) accumulate_block<V, true>(k.nk, dk, Dp, Dp, nullptr, sc.ds, Bk, q, Dp, rows);
  if (dq) {
    const float* kr = pl.k_rows + (bkv * pl.Tkp + k.j0) * Dp;
    accumulate_block<V, false>(rows, dq, Dp, Dp, nullptr, sc.ds, Bk, kr, Dp, k.nk);
  }
}

// dq rows [i0, i0 + rows) of (b, h) from an accumulator of sum dS K (rotated): scale, rotate back.
template <class V>
inline void write_dq_rows(const FlashPlan& pl, int b, int h, int i0, int rows, float* acc) {
  const AttentionBwdParams& p = *pl.bwd;
  for (int r = 0; r < rows; ++r) {
    float* x = acc + (size_t)r * pl.Dp;
    scale_row<V>(x, pl.Dp, p.softmax_scale);
    rope_apply<V>(pl, x, p.query_offset + i0 + r, true);
    V::store_row(p.dtype, p.dq, bthd_offset<V>(b, i0 + r, h, pl.Tq, pl.Hq, pl.D), x, pl.D);
  }
}

template <class V>
inline void backward_key_pass(const FlashPlan& pl, int64_t item, int thread) {
  const AttentionBwdParams& p = *pl.bwd;
  const int chunks = pl.dq_partial ? pl.dq_chunks : pl.num_kb;
  int c = (int)(item % chunks);
  int64_t bkv = item / chunks;
  int b = (int)(bkv / pl.Hkv), hkv = (int)(bkv % pl.Hkv);
  const int Dp = pl.Dp, Bk = pl.block_k, Bq = pl.block_q;
  ScratchCarver<V> carver{thread_scratch<V>(pl, thread)};
  BackwardScratch<V> sc = carve_backward(carver, pl);

  // This chunk's dQ partials for the group's heads: zeroed here, summed by finish_dq.
  float* partial = nullptr;
  if (pl.dq_partial) {
    partial = pl.dq_partial + ((size_t)c * pl.B * pl.Hq + (size_t)b * pl.Hq + (size_t)hkv * pl.G) * pl.Tq * Dp;
    std::memset(partial, 0, sizeof(float) * pl.G * pl.Tq * Dp);
  }

  for (int kb = c; kb < pl.num_kb; kb += chunks) {
    int j0 = kb * Bk, nk = pl.Tk - j0 < Bk ? pl.Tk - j0 : Bk;
    std::memset(sc.dk, 0, sizeof(float) * Bk * Dp);
    std::memset(sc.dv, 0, sizeof(float) * Bk * Dp);
    int qlo = pl.kb_query_lo[kb], qhi = pl.kb_query_hi[kb];
    int seq_lo = j0, seq_hi = j0 + nk - 1;  // a block outside sequence b's keys: nothing to do
    seq_key_clamp<V>(pl, b, &seq_lo, &seq_hi);
    if (qlo <= qhi && seq_lo <= seq_hi) {
      for (int g = 0; g < pl.G; ++g) {
        int h = hkv * pl.G + g;
        for (int qb = qlo / Bq; qb <= qhi / Bq; ++qb) {
          int i0 = qb * Bq;
          if (seq_rows_all_padding<V>(pl, b, i0, pl.Tq - i0 < Bq ? pl.Tq - i0 : Bq)) continue;
          float* dq = partial ? partial + ((size_t)g * pl.Tq + (size_t)qb * Bq) * Dp : nullptr;
          backward_tile<V>(pl, sc, b, h, qb, kb, sc.dk, sc.dv, dq);
        }
      }
    }
    for (int jj = 0; jj < nk; ++jj) {
      int j = j0 + jj;
      size_t at = bthd_offset<V>(b, j, hkv, pl.Tk, pl.Hkv, pl.D);
      V::store_row(p.dtype, p.dv, at, sc.dv + (size_t)jj * Dp, pl.D);
      float* dk = sc.dk + (size_t)jj * Dp;
      scale_row<V>(dk, Dp, kLn2);
      if (key_is_rotated<V>(pl, j)) rope_apply<V>(pl, dk, j, true);
      V::store_row(p.dtype, p.dk, at, dk, pl.D);
    }
  }
}

// Partials scheme: dq = sum over chunks of dq_partial, for one (b, h, query block).
template <class V>
inline void backward_finish_dq(const FlashPlan& pl, int64_t item, int thread) {
  int qb = (int)(item % pl.num_qb);
  int64_t bh = item / pl.num_qb;
  int b = (int)(bh / pl.Hq), h = (int)(bh % pl.Hq);
  int i0 = qb * pl.block_q;
  int rows = pl.Tq - i0 < pl.block_q ? pl.Tq - i0 : pl.block_q;
  const int Dp = pl.Dp;
  size_t n = (size_t)rows * Dp;
  size_t chunk_stride = (size_t)pl.B * pl.Hq * pl.Tq * Dp;
  const float* first = pl.dq_partial + ((size_t)bh * pl.Tq + i0) * Dp;
  ScratchCarver<V> carver{thread_scratch<V>(pl, thread)};
  float* acc = carve_backward(carver, pl).dq;  // [block_q][Dp]
  std::memcpy(acc, first, sizeof(float) * n);
  for (int c = 1; c < pl.dq_chunks; ++c) {
    const float* part = first + c * chunk_stride;
    for (size_t x = 0; x < n; x += V::W) V::store(acc + x, V::load(acc + x) + V::load(part + x));
  }
  write_dq_rows<V>(pl, b, h, i0, rows, acc);
}

// Query-pass scheme: dQ of one (b, h, query block), recomputing its tiles.
template <class V>
inline void backward_query_pass(const FlashPlan& pl, int64_t item, int thread) {
  int qb = pl.num_qb - 1 - (int)(item % pl.num_qb);  // heavy (causal) blocks first
  int64_t bh = item / pl.num_qb;
  int b = (int)(bh / pl.Hq), h = (int)(bh % pl.Hq);
  int i0 = qb * pl.block_q;
  int rows = pl.Tq - i0 < pl.block_q ? pl.Tq - i0 : pl.block_q;
  ScratchCarver<V> carver{thread_scratch<V>(pl, thread)};
  BackwardScratch<V> sc = carve_backward(carver, pl);
  std::memset(sc.dq, 0, sizeof(float) * rows * pl.Dp);
  int klo = pl.qb_key_lo[qb], khi = pl.qb_key_hi[qb];
  seq_key_clamp<V>(pl, b, &klo, &khi);
  if (klo <= khi && !seq_rows_all_padding<V>(pl, b, i0, rows)) {
    for (int kb = klo / pl.block_k; kb <= khi / pl.block_k; ++kb)
      backward_tile<V>(pl, sc, b, h, qb, kb, nullptr, nullptr, sc.dq);
  }
  write_dq_rows<V>(pl, b, h, i0, rows, sc.dq);
}

}  // namespace ctxwin::cpu
