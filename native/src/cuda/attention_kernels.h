// Internal interface between the attention dispatcher (attention.cu) and the kernel files.
//
//   attention_fwd_mma.cu   bf16/f16, D in {64, 128}: FA2 forward. 256 threads = 8 warps x 16 query
//                          rows (Br = 128), key tiles of Bc = 64, K/V double-buffered with
//                          cp.async, Q kept in registers as mma A fragments, S and O in f32
//                          registers, online softmax in the log2 domain. Rows are packed
//                          (hg, i) pairs of one kv head so that decode packs GQA heads into M.
//                          Optional split over key tiles (partials + combine).
//   attention_bwd_mma.cu   bf16/f16, D in {64, 128}: FA2 backward, written transposed: each of the
//                          8 warps owns 16 keys of a Bc = 128 key block and computes S^T = K Q^T,
//                          dP^T = V dO^T, dV += P^T dO, dK += dS^T Q in registers; dS^T goes to
//                          shared memory and dQ = dS K is summed into an f32 accumulator with
//                          atomics. Br = 64 (D = 64) or 32 (D = 128) query rows per step, Q/dO
//                          double-buffered with cp.async.
//   attention_simt.cu      any dtype, any even D <= 256: f32 SIMT forward (incl. split) and
//                          backward, BQ = BK = 32 (16 for D > 128), 128 threads.
//   attention_aux.cu       split combine, backward preprocess (Delta), dQ rotate-back + convert.
//
// RoPE in the tensor-core kernels: a tile is rotated in shared memory right after it lands. Tiles
// loaded once per block (Q in the forward, K in the backward) read the cos/sin tables directly;
// streamed tiles (K in the forward, Q in the backward) compose the angle of row r of a tile that
// starts at position t0 as angle(t0) + angle(r): the table row t0 arrives with the tile (cp.async)
// and rows 0..tile-1, divided by the attention factor A = cos_table[0][0], sit in shared memory
// for the whole block. This keeps the table traffic at one row per tile instead of one row per key.
//
// Instantiations (bounded on purpose): mma fwd and bwd: dtype {bf16, f16} x D {64, 128} x
// ALiBi {on, off} = 8 each; SIMT fwd and bwd: dtype {f32, bf16, f16} x D bucket {64, 128, 256}
// = 9 each. Causal / window / split / RoPE / per-sequence ranges are run-time switches (uniform
// branches: masking only runs on tiles that cross a mask boundary or a sequence's edge; RoPE only
// where a tile lands). Per-sequence ranges (padding) narrow each block's tiles to its sequence
// (attention_tiling.h, attn_seq_*): blocks of padding rows or padding keys load nothing.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "ctxwin/attention_params.h"

namespace ctxwin::cuda {

// Everything a forward kernel reads. Plain values; passed by value as the kernel argument.
struct AttnFwdArgs {
  AttentionParams prm;  // shapes, options and device pointers
  int group = 1;        // Hq / Hkv
  int tq_stride = 0;    // packed rows per query head (attn_tq_stride: Tq, or Tq rounded up to row_block)
  int rows_per_kv = 0;  // group * tq_stride: packed rows per (batch, kv head)
  int row_block = 0;    // rows per block of the kernel in use
  int key_tile = 0;     // keys per tile of the kernel in use
  int reverse_rows = 0; // 1: blockIdx.x counts row blocks from the last (causal: longest first)
  float scale_log2 = 0; // softmax_scale * log2(e)
  int rope = 0;         // 1 when pos_type == Rope
  int half = 0;         // rotary_dim / 2
  float rope_inv_af = 1.f;  // 1 / attention factor (= 1 / rope_cos[0])
  // Split over key tiles (grid.z = splits). partial == 0: blocks write o and lse; partial == 1:
  // blocks write (m, l, acc) partials and launch_fwd_combine writes o and lse (also when splits == 1).
  int partial = 0;
  int splits = 1;
  int tiles_per_split = 1 << 30;
  int gt_lo = 0;            // first visible tile of the call
  float* part_o = nullptr;  // [splits, B*Hq*Tq, D] unnormalised accumulators
  float* part_ml = nullptr; // [splits, B*Hq*Tq, 2]: running max (log2 domain) and sum
};

struct AttnBwdArgs {
  AttentionBwdParams prm;
  int group = 1;
  float scale_log2 = 0;
  float scale = 0;
  int rope = 0;
  int half = 0;
  float rope_inv_af = 1.f;
  int key_block = 0;          // keys per block of the kernel in use
  const float* lse = nullptr;   // [B, Hq, Tq] (p.lse or the recomputed one)
  const float* delta = nullptr; // [B, Hq, Tq]: rowsum(dO * O)
  float* dq_acc = nullptr;      // [B, Tq, Hq, D] f32, zeroed, dQ of the rotated q
};

// Tile sizes (host side needs them for grids and workspaces).
constexpr int kMmaFwdRows = 128, kMmaFwdKeys = 64, kMmaFwdThreads = 256;
constexpr int kMmaBwdKeys = 128, kMmaBwdThreads = 256;
inline int mma_bwd_rows(int D) { return D == 128 ? 32 : 64; }
constexpr int kSimtThreads = 128;
inline int simt_tile(int D) { return D > 128 ? 16 : 32; }

// Whether the tensor-core kernels take these params (dtype, head dim, 16-byte alignment).
bool mma_supported(const AttentionParams& p, bool backward);

// Launchers: grid/smem computed inside from the args; each checks its launch and throws.
void launch_fwd_mma(const AttnFwdArgs& a, cudaStream_t s);
void launch_fwd_simt(const AttnFwdArgs& a, cudaStream_t s);
void launch_fwd_combine(const AttnFwdArgs& a, cudaStream_t s);
void launch_bwd_delta(const AttentionBwdParams& p, const void* o, float* delta, cudaStream_t s);
void launch_bwd_mma(const AttnBwdArgs& a, cudaStream_t s);
void launch_bwd_simt(const AttnBwdArgs& a, cudaStream_t s);
void launch_bwd_dq_finish(const AttnBwdArgs& a, cudaStream_t s);

// Dynamic shared memory the tensor-core kernels ask for (bytes).
size_t fwd_mma_smem_bytes(int D, int half, bool rope);
size_t bwd_mma_smem_bytes(int D, int half, bool rope);
size_t fwd_simt_smem_bytes(int D);
size_t bwd_simt_smem_bytes(int D);

}  // namespace ctxwin::cuda
