// CPU fused attention (FlashAttention-2 algorithm), forward and backward, for every positional
// scheme of AttentionParams. Picks the best SIMD build at run time (cpu_features.h).
//
//   attention_forward:  o [B,Tq,Hq,D] (p.dtype) and lse [B,Hq,Tq] (f32, natural log)
//   attention_backward: dq [B,Tq,Hq,D], dk/dv [B,Tk,Hkv,D] (p.dtype), w.r.t. the raw q, k, v;
//                       dk/dv of a kv head sum over its query-head group (GQA)
// Throws ctxwin::Error (ERR_ARG) for parameters the binding should have rejected. Uses
// ThreadPool::global(): one call at a time (calls are serialised internally).
#pragma once
#include <cstddef>

#include "ctxwin/attention_params.h"

namespace ctxwin::cpu {

void attention_forward(const AttentionParams& p);
void attention_backward(const AttentionBwdParams& p);

// Many small independent forwards (a batching engine's decode step: one per sequence, each with
// its own keys): spread over the pool one call per thread at a time, each call's work items run
// serially on its thread (a tiny call would spend more on waking the pool than on its work).
void attention_forward_many(const AttentionParams* const* calls, int n);

// The SIMD build in use: "avx512", "avx2" or "generic".
const char* attention_isa();

// Knobs for tests and benchmarks (defaults are what the library uses).
struct AttentionTuning {
  int block_q = 48;  // query rows per tile
  int block_k = 64;  // keys per tile: rounded up to a multiple of the build's panel width
  enum class DqScheme { Auto, Partials, QueryPass } dq_scheme = DqScheme::Auto;
  size_t dq_partials_max_bytes = size_t(256) << 20;  // Auto: memory the partials may take
};
void set_attention_tuning(const AttentionTuning& t);
AttentionTuning attention_tuning();

}  // namespace ctxwin::cpu
