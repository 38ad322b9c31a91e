// AttentionParams: the one struct that carries every attention option into a kernel, for the
// CPU and the CUDA backend alike (FlashAttention's Flash_fwd_params plays this role there).
// It is filled and normalised once (binding/attention_args.cpp) and then only read.
//
// Layouts (contiguous, row-major):
//   q, o, dq        [B, Tq, Hq, D]
//   k, v, dk, dv    [B, Tk, Hkv, D]
//   lse             [B, Hq, Tq]  float32, natural-log logsumexp of the scaled+biased scores
// Query head h reads kv head h / (Hq / Hkv).
// Positions: query i has p = query_offset + i; key j has position j (the same for every sequence
// of the batch; per-sequence key ranges mask padding, see key_begin / key_end).
#pragma once
#include <cstdint>

#include "ctxwin/common.h"
#include "ctxwin/dtype.h"

namespace ctxwin {

// Positions and key indices are compared as f32 inside the CPU kernels: exact below 2^24.
constexpr int64_t kMaxPosition = int64_t(1) << 24;

enum class PositionalType : int32_t { None = 0, Alibi = 1, Rope = 2 };
enum class RopeScalingType : int32_t { None = 0, Linear = 1, Ntk = 2, Dynamic = 3, Yarn = 4 };

struct AttentionParams {
  // Shapes.
  int B = 0, Tq = 0, Tk = 0, Hq = 0, Hkv = 0, D = 0;
  DType dtype = DType::F32;  // dtype of q, k, v, o (and dout/dq/dk/dv in the backward)

  // Masking and scaling.
  float softmax_scale = 1.f;  // multiplies q.k only; never the ALiBi bias
  bool causal = true;
  int window = 0;             // 0: no window. Else key j visible iff p - window < j (<= p if causal),
                              //    or |p - j| < window when not causal
  int query_offset = 0;       // absolute position of query 0

  // Positional scheme, resolved on the host (see positional.h). Pointers are host pointers for
  // the CPU backend and device pointers for the CUDA backend.
  PositionalType pos_type = PositionalType::None;
  const float* alibi_slopes = nullptr;  // [Hq]: per query head, ALiBi-PI factor already applied
  int rotary_dim = 0;                   // R: dims [0, R) rotate ("rotate half": d pairs d + R/2)
  int rope_positions = 0;               // rows in the tables below: max(Tk, query_offset + Tq)
  const float* rope_cos = nullptr;      // [rope_positions, R/2]: attention_factor * cos(p * inv_freq_i)
  const float* rope_sin = nullptr;      // [rope_positions, R/2]: attention_factor * sin(p * inv_freq_i)
  int prefix_keys = 0;                  // keys j < prefix_keys are never rotated (prefix tuning)

  // Per-sequence token ranges (padding, batched sequences of different lengths): sequence b's
  // tokens are the positions [key_begin[b], key_end[b]). Key j is visible only inside that range
  // (on top of causal / window), and a query whose position is outside it is a padding row:
  // o = 0, lse = -inf, zero gradients (as is any row left with no visible key). Both null (every
  // position of every sequence is a token) or both [B], host or device pointers as above.
  const int* key_begin = nullptr;
  const int* key_end = nullptr;

  // Tensors.
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  void* o = nullptr;     // forward output (may be null in the backward)
  float* lse = nullptr;  // forward writes it; backward reads it
};

// Backward: given q, k, v, o, lse (from the forward) and dout, writes dq, dk, dv (raw, i.e.
// with respect to q and k before any rotation). dlse (optional, [B, Hq, Tq] f32) is a gradient
// of the forward's lse as well (a caller that merges this attention with another through their
// log-sum-exp): since d lse_i / d s_ij = P_ij, it only shifts the row's delta:
// dS = P * (dP - (rowsum(dO * O) - dlse)).
struct AttentionBwdParams : AttentionParams {
  const void* dout = nullptr;
  const float* dlse = nullptr;
  void* dq = nullptr;
  void* dk = nullptr;
  void* dv = nullptr;
};

// Visible key range [lo, hi] (inclusive) for the query at absolute position p; empty if lo > hi.
CTXWIN_HD void attention_key_range(const AttentionParams& prm, int p, int* lo, int* hi) {
  int l = 0, h = prm.Tk - 1;
  if (prm.causal) {
    if (p < h) h = p;
    if (prm.window > 0 && p - prm.window + 1 > l) l = p - prm.window + 1;
  } else if (prm.window > 0) {
    if (p - prm.window + 1 > l) l = p - prm.window + 1;
    if (p + prm.window - 1 < h) h = p + prm.window - 1;
  }
  *lo = l;
  *hi = h;
}

// ALiBi bias for (query position p, key j) with slope s. Causal rows only see j <= p.
CTXWIN_HD float alibi_bias(float slope, int p, int j) {
  int dist = p - j;
  if (dist < 0) dist = -dist;
  return -slope * (float)dist;
}

}  // namespace ctxwin
