// CUDA fused attention: forward, backward and split-K decode, with ALiBi / ALiBi-PI slopes, RoPE
// (linear / ntk / dynamic / yarn, partial rotary, prefix keys), causal / sliding-window masks and
// per-sequence token ranges (padding) applied in-kernel. Semantics are exactly those of
// AttentionParams (ctxwin/attention_params.h) and the CPU backend; every pointer in the params
// (tensors, alibi_slopes, rope_cos/rope_sin, key_begin/key_end) is a DEVICE pointer here, so the
// values of key_begin/key_end are the caller's to check on the host (attention_seq_ranges.h).
// With them, each block narrows its key tiles (forward) or query tiles (backward) to its
// sequence's tokens, so padding costs no tile work, and masks per element only at the edges.
//
// Kernels (see attention_kernels.h for the design notes of each):
//   * bf16/f16 with D in {64, 128} and 16-byte aligned tensors: FlashAttention-2 style tensor-core
//     kernels (mma.sync m16n8k16, f32 accumulation, ldmatrix, cp.async double buffering).
//   * everything else (f32 inputs, any even D <= 256, unaligned pointers): f32 SIMT kernels
//     (f32-accurate; slower).
//   * Tq << Tk (or too few row blocks to fill the GPU): the forward splits the keys over blocks
//     and combines the partial (m, l, acc) in a second kernel.
//
// Every launch is checked; failures throw ctxwin::Error("ERR_CUDA" / "ERR_MEMORY" / "ERR_ARG").
// All work is enqueued on `stream`; nothing here synchronizes.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

#include "ctxwin/attention_params.h"

namespace ctxwin::cuda {

// ---- forward -----------------------------------------------------------------------------------
// Writes p.o ([B, Tq, Hq, D], p.dtype) and p.lse ([B, Hq, Tq], f32, natural log).
//
// Bytes of scratch the forward needs for these params (0 unless it takes the split-K path, which it
// chooses when the grid would not fill the GPU, e.g. decode). Depends on the current device.
size_t attention_forward_workspace_bytes(const AttentionParams& p);
// With a caller-owned workspace of at least attention_forward_workspace_bytes(p) bytes.
void attention_forward(const AttentionParams& p, cudaStream_t stream, void* workspace, size_t workspace_bytes);
// Without: when the split path is taken the scratch is taken with cudaMallocAsync on `stream` and
// freed (cudaFreeAsync) behind the kernels.
void attention_forward(const AttentionParams& p, cudaStream_t stream);

// ---- decode (split-K) ----------------------------------------------------------------------------
// Always the split-K path: keys are split over blocks, each block writes its partial (m, l, acc),
// a combine kernel writes o and lse. Meant for Tq <= 16; correct for any shape.
size_t attention_decode_workspace_bytes(const AttentionParams& p);
void attention_decode(const AttentionParams& p, cudaStream_t stream, void* workspace);

// ---- backward ------------------------------------------------------------------------------------
// Writes p.dq, p.dk, p.dv (p.dtype, gradients w.r.t. the raw q, k, v). Reads p.o and p.lse from
// the forward; when either is null the forward is recomputed into the workspace first.
//
// Scheme (FlashAttention-2): (1) Delta_i = rowsum(dO_i * O_i) into the workspace and a zeroed f32
// dQ accumulator; (2) one block per (key block, batch, kv head) loops over the query heads of its
// GQA group and over the query tiles that can see its keys, keeps dK, dV in registers and adds
// its dQ contributions to the f32 accumulator with atomics; (3) dQ is rotated back (RoPE^T) and
// converted to p.dtype. dK is rotated back in (2)'s epilogue.
size_t attention_backward_workspace_bytes(const AttentionBwdParams& p);
void attention_backward(const AttentionBwdParams& p, cudaStream_t stream, void* workspace, size_t workspace_bytes);
// Without a workspace: cudaMallocAsync / cudaFreeAsync on `stream`.
void attention_backward(const AttentionBwdParams& p, cudaStream_t stream);

// ---- testing hooks -------------------------------------------------------------------------------
// Process-wide kernel choice (tests and benchmarks only), a bit set: 0 = automatic;
// kPathSimt: SIMT kernels even where the tensor-core ones apply; kPathNoSplit: never split the
// forward; kPathSplit: always take the split-K forward (partials + combine).
constexpr int kPathSimt = 1, kPathNoSplit = 2, kPathSplit = 4;
void attention_set_path_override(int flags);
// Which kernels a forward with these params runs now: "mma", "mma+split", "simt", "simt+split".
const char* attention_forward_path(const AttentionParams& p);

}  // namespace ctxwin::cuda
