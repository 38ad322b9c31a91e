// Pieces shared by the forward and backward CPU FlashAttention kernels: per-thread scratch
// layout, the (query block, key block) tile geometry, and the score modifier (ALiBi bias and
// mask) applied to score tiles while they are still in registers. Templates over V (simd.h).
#pragma once
#include <cstddef>

#include "cpu/attention_kernels.h"
#include "cpu/flash_microkernels.h"

namespace ctxwin::cpu {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

// Hands out 64-byte aligned pieces of one thread's scratch (or only counts, when base is null).
template <class V>
struct ScratchCarver {
  float* base;
  size_t used = 0;
  float* take(size_t n) {
    float* r = base ? base + used : nullptr;
    used += (n + 15) / 16 * 16;
    return r;
  }
};

// Forward, per thread. Row arrays have block_q entries.
template <class V>
struct ForwardScratch {
  float* q;      // [block_q][Dp] rotated q * q_scale
  float* o;      // [block_q][Dp] unnormalised output accumulator
  float* s;      // [block_q][block_k] scores, then probabilities (exp2(s - m))
  float* m;      // running max (log2 units)
  float* l;      // running sum of exp2(s - m)
  float* alpha;  // rescale of o for the current key block
  float* pos;    // query positions (float)
  float* lo;     // visible key range per row (float)
  float* hi;
};
template <class V>
inline ForwardScratch<V> carve_forward(ScratchCarver<V>& c, const FlashPlan& pl) {
  size_t bq = pl.block_q;
  ForwardScratch<V> s;
  s.q = c.take(bq * pl.Dp);
  s.o = c.take(bq * pl.Dp);
  s.s = c.take(bq * pl.block_k);
  s.m = c.take(bq);
  s.l = c.take(bq);
  s.alpha = c.take(bq);
  s.pos = c.take(bq);
  s.lo = c.take(bq);
  s.hi = c.take(bq);
  return s;
}

// Backward, per thread.
template <class V>
struct BackwardScratch {
  float* p;    // [block_q][block_k] probabilities
  float* ds;   // [block_q][block_k] dS = P * (dP - delta)
  float* dk;   // [block_k][Dp] sum of dS^T (q * q_scale); dK (rotated) = ln2 * this
  float* dv;   // [block_k][Dp] dV accumulator
  float* dq;   // [block_q][Dp] dQ accumulator (query pass)
  float* pos;  // [block_q] query positions, visible key ranges
  float* lo;
  float* hi;
  float* row;  // [Dp] conversion buffer
};
template <class V>
inline BackwardScratch<V> carve_backward(ScratchCarver<V>& c, const FlashPlan& pl) {
  size_t bq = pl.block_q, bk = pl.block_k;
  BackwardScratch<V> s;
  s.p = c.take(bq * bk);
  s.ds = c.take(bq * bk);
  s.dk = c.take(bk * pl.Dp);
  s.dv = c.take(bk * pl.Dp);
  s.dq = c.take(bq * pl.Dp);
  s.pos = c.take(bq);
  s.lo = c.take(bq);
  s.hi = c.take(bq);
  s.row = c.take(pl.Dp);
  return s;
}

template <class V>
inline size_t thread_scratch_floats(const FlashPlan& pl) {
  ScratchCarver<V> f{nullptr}, b{nullptr};
  carve_forward(f, pl);
  carve_backward(b, pl);
  return f.used > b.used ? f.used : b.used;
}
template <class V>
inline float* thread_scratch(const FlashPlan& pl, int thread) {
  return pl.scratch + (size_t)thread * pl.scratch_floats;
}

// Per-sequence token ranges (AttentionParams::key_begin / key_end): the plan's ranges are the
// same for every sequence, these narrow them for sequence b. Templates over V like everything
// else in this header, so that no inline function with external linkage is emitted by an ISA
// unit (attention_kernels.h).

// Narrows a key range [lo, hi] to sequence b's tokens.
template <class V>
inline void seq_key_clamp(const FlashPlan& pl, int b, int* lo, int* hi) {
  const AttentionParams& p = *pl.prm;
  if (!p.key_begin) return;
  if (*lo < p.key_begin[b]) *lo = p.key_begin[b];
  if (*hi > p.key_end[b] - 1) *hi = p.key_end[b] - 1;
}

// Query rows [i0, i0 + rows) of sequence b: whether all of them / any of them are padding rows
// (positions outside the sequence's tokens, which see no key).
template <class V>
inline bool seq_rows_all_padding(const FlashPlan& pl, int b, int i0, int rows) {
  const AttentionParams& p = *pl.prm;
  if (!p.key_begin) return false;
  int p0 = p.query_offset + i0, p1 = p0 + rows - 1;
  return p1 < p.key_begin[b] || p0 >= p.key_end[b];
}
template <class V>
inline bool seq_rows_any_padding(const FlashPlan& pl, int b, int i0, int rows) {
  const AttentionParams& p = *pl.prm;
  if (!p.key_begin) return false;
  int p0 = p.query_offset + i0, p1 = p0 + rows - 1;
  return p0 < p.key_begin[b] || p1 >= p.key_end[b];
}

// The visible keys of query row i of sequence b (empty for a padding row).
template <class V>
inline void seq_row_range(const FlashPlan& pl, int b, int i, int* lo, int* hi) {
  *lo = pl.row_lo[i];
  *hi = pl.row_hi[i];
  if (seq_rows_any_padding<V>(pl, b, i, 1)) {
    *lo = 1;
    *hi = 0;
    return;
  }
  seq_key_clamp<V>(pl, b, lo, hi);
}

// Geometry of one key block as seen from one query block (of sequence b).
template <class V>
struct KeyBlock {
  int j0;      // first key
  int nk;      // keys in the block (< block_k only for the last one)
  int panels;  // key panels of PW keys covering nk
  bool masked; // some (row, key) of the tile is invisible, or the last panel has padding keys
};
template <class V>
inline KeyBlock<V> key_block(const FlashPlan& pl, int b, int qb, int kb) {
  constexpr int PW = V::kTileVecs * V::W;
  KeyBlock<V> k;
  k.j0 = kb * pl.block_k;
  k.nk = pl.Tk - k.j0 < pl.block_k ? pl.Tk - k.j0 : pl.block_k;
  k.panels = (k.nk + PW - 1) / PW;
  // qb_full_hi <= Tk - 1, so padding keys (j >= Tk) always select the masked variant.
  int full_lo = pl.qb_full_lo[qb], full_hi = pl.qb_full_hi[qb];
  seq_key_clamp<V>(pl, b, &full_lo, &full_hi);
  // a padding row in the query block sees no key: then no key is seen by every row
  int i0 = qb * pl.block_q;
  if (seq_rows_any_padding<V>(pl, b, i0, pl.Tq - i0 < pl.block_q ? pl.Tq - i0 : pl.block_q)) full_hi = full_lo - 1;
  k.masked = !(k.j0 >= full_lo && k.j0 + k.panels * PW - 1 <= full_hi);
  return k;
}

// Per-row float copies of position and visible range (sequence b) for rows [i0, i0 + rows).
template <class V>
inline void fill_row_params(const FlashPlan& pl, int b, int i0, int rows, float* pos, float* lo, float* hi) {
  for (int r = 0; r < rows; ++r) {
    int l, h;
    seq_row_range<V>(pl, b, i0 + r, &l, &h);
    pos[r] = (float)(pl.prm->query_offset + i0 + r);
    lo[r] = (float)l;
    hi[r] = (float)h;
  }
}

// Score modifier on a tile in registers: s += -slope * |p - j| (ALiBi, log2 units), then
// s = -inf outside [lo, hi] of the row (window, causal, padding keys).
template <class V, bool ALIBI, bool MASK>
struct ScoreMod {
  const float* pos;
  const float* lo;
  const float* hi;
  float neg_slope;  // -slope * log2(e)
  int j0;           // first key of the block
  V apply(int r, int col, V s) const {
    if constexpr (ALIBI || MASK) {
      V j = V::set1((float)(j0 + col)) + V::iota();
      if constexpr (ALIBI) s = fmadd(V::set1(neg_slope), vabs(j - V::set1(pos[r])), s);
      if constexpr (MASK) s = select_in_range(j, V::set1(lo[r]), V::set1(hi[r]), s, V::set1(-__builtin_inff()));
    }
    return s;
  }
};

// Calls f(ScoreMod<V, alibi, masked>{...}) with the flags as compile-time constants.
template <class V, class F>
inline void with_score_mod(bool alibi, bool masked, const float* pos, const float* lo, const float* hi,
                           float neg_slope, int j0, F&& f) {
  if (alibi) {
    if (masked) f(ScoreMod<V, true, true>{pos, lo, hi, neg_slope, j0});
    else f(ScoreMod<V, true, false>{pos, lo, hi, neg_slope, j0});
  } else {
    if (masked) f(ScoreMod<V, false, true>{pos, lo, hi, neg_slope, j0});
    else f(ScoreMod<V, false, false>{pos, lo, hi, neg_slope, j0});
  }
}

}  // namespace ctxwin::cpu
