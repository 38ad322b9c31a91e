// The baseline that bench/attention compares the fused kernel against: attention the way a plain
// framework computes it, S = scale·Q·Kᵀ materialised [Tq, Tk] per head with BLAS sgemm, a
// row softmax (causal mask applied), then O = P·V with sgemm. f32, no positional scheme.
#pragma once
#include <vector>

namespace ctxwin::bench {

// q [B,T,H,D], k/v [B,T,H,D], o [B,T,H,D]; heads threaded over the pool.
void unfused_attention(const float* q, const float* k, const float* v, float* o, int B, int T, int H, int D,
                       bool causal);

}  // namespace ctxwin::bench
