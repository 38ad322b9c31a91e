// Row preparation for the CPU FlashAttention kernels: conversion to f32, RoPE rotation and
// packing of keys/values into the layouts the micro-kernels read (attention_kernels.h). All of
// it is O((Tq + Tk) * D) work, done once per row; templates over V (one copy per ISA build).
#pragma once
#include <cstddef>
#include <cstring>

#include "cpu/attention_kernels.h"
#include "cpu/flash_block.h"
#include "cpu/simd.h"

namespace ctxwin::cpu {

// "Rotate half" RoPE of x[0, R) with one table row (c, s of length R/2; attention factor
// included); dims >= R untouched. Inverse = transpose, for gradients w.r.t. the raw vector.
template <class V>
inline void rope_rotate(float* x, int R, const float* c, const float* s) {
  int half = R / 2;
  int d = 0;
  for (; d + V::W <= half; d += V::W) {  // W pairs at a time (every key of a decode step passes here)
    V a = V::load(x + d), b = V::load(x + d + half), cv = V::load(c + d), sv = V::load(s + d);
    V::store(x + d, a * cv - b * sv);
    V::store(x + d + half, fmadd(b, cv, a * sv));
  }
  for (; d < half; ++d) {
    float a = x[d], b = x[d + half];
    x[d] = a * c[d] - b * s[d];
    x[d + half] = b * c[d] + a * s[d];
  }
}
template <class V>
inline void rope_rotate_inverse(float* x, int R, const float* c, const float* s) {
  int half = R / 2;
  int d = 0;
  for (; d + V::W <= half; d += V::W) {
    V a = V::load(x + d), b = V::load(x + d + half), cv = V::load(c + d), sv = V::load(s + d);
    V::store(x + d, fmadd(a, cv, b * sv));
    V::store(x + d + half, b * cv - a * sv);
  }
  for (; d < half; ++d) {
    float a = x[d], b = x[d + half];
    x[d] = a * c[d] + b * s[d];
    x[d + half] = b * c[d] - a * s[d];
  }
}

// Rotates x in place for the given position, if RoPE is on (and, for keys, j >= prefix_keys).
template <class V>
inline void rope_apply(const FlashPlan& pl, float* x, int position, bool inverse) {
  if (pl.rotary_dim <= 0) return;
  size_t row = (size_t)position * (pl.rotary_dim / 2);
  const float* c = pl.prm->rope_cos + row;
  const float* s = pl.prm->rope_sin + row;
  if (inverse) rope_rotate_inverse<V>(x, pl.rotary_dim, c, s);
  else rope_rotate<V>(x, pl.rotary_dim, c, s);
}
template <class V>
inline bool key_is_rotated(const FlashPlan& pl, int j) {
  return pl.rotary_dim > 0 && j >= pl.prm->prefix_keys;
}

template <class V>
inline void scale_row(float* x, int Dp, float s) {
  V sv = V::set1(s);
  for (int d = 0; d < Dp; d += V::W) V::store(x + d, V::load(x + d) * sv);
}

// dst[0, Dp) = row of a [.., D] tensor in dtype t at element offset `offset`, zero padded.
template <class V>
inline void load_padded_row(DType t, const void* base, size_t offset, int D, int Dp, float* dst) {
  V::load_row(t, base, offset, dst, D);
  for (int d = D; d < Dp; ++d) dst[d] = 0.f;
}

// Element offset of row (b, t, head) in a [B, T, H, D] tensor.
template <class V>
inline size_t bthd_offset(int b, int t, int head, int T, int H, int D) {
  return (((size_t)b * T + t) * H + head) * D;
}

// Writes one key row (f32, length D) into the panel layout [Tkp/PW][D][PW] at key j.
template <class V>
inline void pack_panel_row(float* panels, int D, int j, const float* row) {
  constexpr int PW = V::kTileVecs * V::W;
  float* dst = panels + (size_t)(j / PW) * D * PW + (j % PW);
  for (int d = 0; d < D; ++d) dst[(size_t)d * PW] = row[d];
}

// Keys [j0, j0 + block_k) of one (b, kv head), padding (j >= Tk) as zeros: K rotated into
// k_panels (and k_rows when present), V into v_rows and/or v_panels. `row` is Dp floats of scratch.
template <class V>
inline void prepare_kv_block(const FlashPlan& pl, int64_t item, float* row) {
  const AttentionParams& p = *pl.prm;
  int kb = (int)(item % pl.num_kb);
  int64_t bkv = item / pl.num_kb;
  int b = (int)(bkv / pl.Hkv), hkv = (int)(bkv % pl.Hkv);
  size_t kv_base = (size_t)bkv * pl.Tkp;
  // a key block wholly outside sequence b's tokens is never read (its tiles are skipped)
  int seq_lo = kb * pl.block_k, seq_hi = seq_lo + pl.block_k - 1;
  seq_key_clamp<V>(pl, b, &seq_lo, &seq_hi);
  if (seq_lo > seq_hi) return;
  for (int j = kb * pl.block_k; j < (kb + 1) * pl.block_k; ++j) {
    bool real = j < pl.Tk;
    // K: rotated at position j.
    if (real) {
      load_padded_row<V>(p.dtype, p.k, bthd_offset<V>(b, j, hkv, pl.Tk, pl.Hkv, pl.D), pl.D, pl.Dp, row);
      if (key_is_rotated<V>(pl, j)) rope_apply<V>(pl, row, j, false);
    } else {
      std::memset(row, 0, sizeof(float) * pl.Dp);
    }
    pack_panel_row<V>(pl.k_panels + kv_base * pl.D, pl.D, j, row);
    if (pl.k_rows) std::memcpy(pl.k_rows + (kv_base + j) * pl.Dp, row, sizeof(float) * pl.Dp);
    // V.
    float* v_dst = pl.v_rows ? pl.v_rows + (kv_base + j) * pl.Dp : row;
    if (real) load_padded_row<V>(p.dtype, p.v, bthd_offset<V>(b, j, hkv, pl.Tk, pl.Hkv, pl.D), pl.D, pl.Dp, v_dst);
    else std::memset(v_dst, 0, sizeof(float) * pl.Dp);
    if (pl.v_panels) pack_panel_row<V>(pl.v_panels + kv_base * pl.D, pl.D, j, v_dst);
  }
}

}  // namespace ctxwin::cpu
