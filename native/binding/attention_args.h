// Reading the flat options object that lib/attention.ts builds (already validated there) into
// AttentionParams + PositionalConfig, with the shape checks repeated natively so that a direct
// caller of the addon still gets errors instead of out-of-bounds reads.
//
// Options object (all fields present): { causal, softmaxScale, window, queryOffset, prefixKeys,
//   posType: "none"|"alibi"|"rope", slopes: number[]|null, trainLength,
//   theta, rotaryDim, scaling: "none"|"linear"|"ntk"|"dynamic"|"yarn", factor,
//   originalMaxPositions, betaFast, betaSlow, attentionFactor (<=0: derive), mscale, mscaleAllDim,
//   truncate, keyBegin: number[]|null, keyEnd: number[]|null }
#pragma once
#include <napi.h>

#include <vector>

#include "ctxwin/attention_params.h"
#include "ctxwin/positional.h"
#include "runtime/storage.h"

namespace ctxwin::binding {

struct AttentionCall {
  AttentionParams prm;
  PositionalConfig pos;
  // Per-sequence visible keys [key_begin[b], key_end[b]) (empty: none given). prm points at them
  // once bind_seq_keys() ran (on the queue: the call lives until its job finished).
  std::vector<int> key_begin, key_end;
  void bind_seq_keys() {
    prm.key_begin = key_begin.empty() ? nullptr : key_begin.data();
    prm.key_end = key_end.empty() ? nullptr : key_end.data();
  }
};

// Checks q [B,Tq,Hq,D], k/v [B,Tk,Hkv,D], dtypes and devices, reads options, checks that no
// query row is fully masked. Throws ctxwin::Error (ERR_SHAPE / ERR_ARG / ERR_DTYPE).
AttentionCall read_attention_call(const char* fn, const Storage& q, const Storage& k, const Storage& v,
                                  const Napi::Object& opts);

}  // namespace ctxwin::binding
