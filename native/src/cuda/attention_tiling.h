// Tile-range math shared by the CUDA attention kernels and their host-side planning, written as
// host+device inline functions so that the test program can check it exhaustively on the CPU
// (cuda_attention_test --self-check) against a per-(query, key) brute force.
//
// Vocabulary: a "row block" of the forward is a run of packed rows f = hg * tq_stride + i of one kv
// head (hg: query head within the GQA group, i: query index; see attn_tq_stride), so that decode
// (Tq = 1) packs the heads of a group into the tensor-core M dimension. Positions: query i at p = query_offset + i, key j at j.
//
// Per-sequence token ranges (AttentionParams::key_begin / key_end, padding): the attn_seq_*
// functions narrow the call's ranges to sequence b's tokens. They read prm.key_begin[b], so on
// the host they only run with host pointers (the self-check); the dispatcher's planning
// (attn_global_tiles) stays per call, a superset of every sequence's tiles.
#pragma once
#include "ctxwin/attention_params.h"
#include "ctxwin/common.h"

namespace ctxwin::cuda {

// Query index range [*i_min, *i_max] covered by packed rows [f0, f1] (f0 <= f1) when head hg's
// rows are f = hg * tq_stride + i (tq_stride >= Tq; rows with i >= Tq are padding): exact when the
// rows lie in one head, else the whole [0, Tq - 1].
CTXWIN_HD void attn_packed_i_range(int f0, int f1, int tq_stride, int Tq, int* i_min, int* i_max) {
  if (f0 / tq_stride == f1 / tq_stride) {
    int a = f0 % tq_stride, b = f1 % tq_stride;
    *i_min = a < Tq ? a : Tq - 1;
    *i_max = b < Tq ? b : Tq - 1;
  } else {
    *i_min = 0;
    *i_max = Tq - 1;
  }
}

// Rows per head in the packed row space of a kernel with `row_block` rows per block: heads are
// padded to whole blocks when Tq >= row_block (no block straddles two heads, so causal blocks keep
// their narrow key range); shorter heads (decode) are packed densely.
CTXWIN_HD int attn_tq_stride(int Tq, int row_block) {
  return Tq >= row_block ? (Tq + row_block - 1) / row_block * row_block : Tq;
}

// For query positions [pos_min, pos_max]: the union of their visible keys [*u_lo, *u_hi] (a
// superset: rows may see less) and the keys [*f_lo, *f_hi] that every one of them sees (empty
// when f_lo > f_hi). Both follow from attention_key_range being nondecreasing in p at both ends.
CTXWIN_HD void attn_block_key_ranges(const AttentionParams& prm, int pos_min, int pos_max, int* u_lo, int* u_hi,
                                     int* f_lo, int* f_hi) {
  int lo0, hi0, lo1, hi1;
  attention_key_range(prm, pos_min, &lo0, &hi0);
  attention_key_range(prm, pos_max, &lo1, &hi1);
  *u_lo = lo0;
  *u_hi = hi1;
  *f_lo = lo1;
  *f_hi = hi0;
}

// A key tile [t0, t0 + tile - 1] needs per-element masking unless every row sees all of it
// (this also covers keys >= Tk, since f_hi <= Tk - 1).
CTXWIN_HD bool attn_tile_needs_mask(int t0, int tile, int f_lo, int f_hi) { return t0 < f_lo || t0 + tile - 1 > f_hi; }

// Key tiles [*t_lo, *t_hi] (tile size `tile`) a forward block visits: those intersecting the
// union of visible keys [u_lo, u_hi], restricted to split `split` of `splits` when the visible
// tiles of the whole call, [gt_lo, gt_lo + ...), are cut into runs of `tiles_per_split`.
// Empty when *t_lo > *t_hi.
CTXWIN_HD void attn_block_tiles(int u_lo, int u_hi, int tile, int gt_lo, int split, int tiles_per_split, int* t_lo,
                                int* t_hi) {
  if (u_lo > u_hi) {
    *t_lo = 0;
    *t_hi = -1;
    return;
  }
  int a = u_lo / tile, b = u_hi / tile;
  int s_lo = gt_lo + split * tiles_per_split;
  int s_hi = s_lo + tiles_per_split - 1;
  *t_lo = a > s_lo ? a : s_lo;
  *t_hi = b < s_hi ? b : s_hi;
}

// Sequence b's tokens [*lo, *hi] (inclusive): [key_begin[b], key_end[b] - 1], or every key.
CTXWIN_HD void attn_seq_tokens(const AttentionParams& prm, int b, int* lo, int* hi) {
  if (prm.key_begin) {
    *lo = prm.key_begin[b];
    *hi = prm.key_end[b] - 1;
  } else {
    *lo = 0;
    *hi = prm.Tk - 1;
  }
}

// Whether the query at position p of sequence b is a padding row (outside the sequence's tokens:
// it sees no key; o = 0, lse = -inf, zero gradients).
CTXWIN_HD bool attn_row_is_padding(const AttentionParams& prm, int b, int p) {
  if (!prm.key_begin) return false;
  return p < prm.key_begin[b] || p >= prm.key_end[b];
}

// Visible keys [*lo, *hi] of the query at position p of sequence b: attention_key_range cut to
// the sequence's tokens; empty (lo = 1 > hi = 0) for a padding row.
CTXWIN_HD void attn_seq_key_range(const AttentionParams& prm, int b, int p, int* lo, int* hi) {
  if (attn_row_is_padding(prm, b, p)) {
    *lo = 1;
    *hi = 0;
    return;
  }
  int s_lo, s_hi;
  attention_key_range(prm, p, lo, hi);
  attn_seq_tokens(prm, b, &s_lo, &s_hi);
  if (*lo < s_lo) *lo = s_lo;
  if (*hi > s_hi) *hi = s_hi;
}

// Whether the query at position p of sequence b sees key j.
CTXWIN_HD bool attn_visible(const AttentionParams& prm, int b, int p, int j) {
  int lo, hi;
  attn_seq_key_range(prm, b, p, &lo, &hi);
  return j >= lo && j <= hi;
}

// attn_block_key_ranges for query positions [pos_min, pos_max] of sequence b: the union is cut
// to the keys of the rows that are not padding (empty when all are), intersected with the
// sequence's tokens; the keys every row sees are empty as soon as one row may be padding (a
// padding row sees nothing), else intersected with the tokens as well. So a block's tiles stop
// at its sequence's last token and tiles that cross a sequence edge are masked per element.
CTXWIN_HD void attn_seq_block_key_ranges(const AttentionParams& prm, int b, int pos_min, int pos_max, int* u_lo,
                                         int* u_hi, int* f_lo, int* f_hi) {
  if (!prm.key_begin) {
    attn_block_key_ranges(prm, pos_min, pos_max, u_lo, u_hi, f_lo, f_hi);
    return;
  }
  int s_lo, s_hi;
  attn_seq_tokens(prm, b, &s_lo, &s_hi);
  const int p0 = pos_min > s_lo ? pos_min : s_lo;  // the positions of rows that may be tokens
  const int p1 = pos_max < s_hi ? pos_max : s_hi;
  if (p0 > p1) {  // every row is padding
    *u_lo = *f_lo = 1;
    *u_hi = *f_hi = 0;
    return;
  }
  attn_block_key_ranges(prm, p0, p1, u_lo, u_hi, f_lo, f_hi);
  if (*u_lo < s_lo) *u_lo = s_lo;
  if (*u_hi > s_hi) *u_hi = s_hi;
  if (*f_lo < s_lo) *f_lo = s_lo;
  if (*f_hi > s_hi) *f_hi = s_hi;
  if (p0 != pos_min || p1 != pos_max) {  // some row is padding: no tile is visible to every row
    *f_lo = 1;
    *f_hi = 0;
  }
}

// Query indices [*i_lo, *i_hi] (clamped to [0, Tq - 1]) of sequence b whose visible keys may
// intersect the keys [k0, k1] (a superset; empty when *i_lo > *i_hi). Used by the backward's key
// blocks: the keys are first cut to the sequence's tokens (a block past its last token has no
// rows), and the rows to the positions of those tokens (padding rows see nothing).
CTXWIN_HD void attn_query_range_for_keys(const AttentionParams& prm, int b, int k0, int k1, int* i_lo, int* i_hi) {
  int s_lo, s_hi;
  attn_seq_tokens(prm, b, &s_lo, &s_hi);
  if (k0 < s_lo) k0 = s_lo;
  if (k1 > s_hi) k1 = s_hi;
  if (k0 > k1) {
    *i_lo = 0;
    *i_hi = -1;
    return;
  }
  long long p_lo = prm.key_begin ? s_lo : -(1LL << 40), p_hi = prm.key_begin ? s_hi : (1LL << 40);
  const long long W = prm.window;
  long long need_lo = p_lo, need_hi = p_hi;  // what the mask asks of p (on top of the sequence's)
  if (prm.causal) {
    need_lo = k0;  // hi(p) = min(Tk - 1, p) >= k0
    if (W > 0) need_hi = (long long)k1 + W - 1;  // lo(p) = p - W + 1 <= k1
  } else if (W > 0) {
    need_lo = (long long)k0 - W + 1;
    need_hi = (long long)k1 + W - 1;
  }
  if (need_lo > p_lo) p_lo = need_lo;
  if (need_hi < p_hi) p_hi = need_hi;
  long long first = p_lo - prm.query_offset, last = p_hi - prm.query_offset;
  if (first < 0) first = 0;
  if (last > prm.Tq - 1) last = prm.Tq - 1;
  if (first > last) {
    *i_lo = 0;
    *i_hi = -1;
    return;
  }
  *i_lo = (int)first;
  *i_hi = (int)last;
}

// A (key block [k0, k0 + bk - 1]) x (query rows [i0, i0 + bq - 1]) tile of sequence b of the
// backward needs per-element masking unless every pair is visible and in range.
CTXWIN_HD bool attn_bwd_tile_needs_mask(const AttentionParams& prm, int b, int k0, int bk, int i0, int bq) {
  if (i0 + bq > prm.Tq || k0 + bk > prm.Tk) return true;
  int u_lo, u_hi, f_lo, f_hi;
  attn_seq_block_key_ranges(prm, b, prm.query_offset + i0, prm.query_offset + i0 + bq - 1, &u_lo, &u_hi, &f_lo, &f_hi);
  return attn_tile_needs_mask(k0, bk, f_lo, f_hi);
}

// Tiles holding the keys visible to any query of the call: [*gt_lo, *gt_hi] (empty if lo > hi).
CTXWIN_HD void attn_global_tiles(const AttentionParams& prm, int tile, int* gt_lo, int* gt_hi) {
  int u_lo, u_hi, f_lo, f_hi;
  attn_block_key_ranges(prm, prm.query_offset, prm.query_offset + prm.Tq - 1, &u_lo, &u_hi, &f_lo, &f_hi);
  if (u_lo > u_hi || prm.Tq <= 0 || prm.Tk <= 0) {
    *gt_lo = 0;
    *gt_hi = -1;
    return;
  }
  *gt_lo = u_lo / tile;
  *gt_hi = u_hi / tile;
}

}  // namespace ctxwin::cuda
