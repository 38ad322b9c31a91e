// The interface between the attention dispatcher (attention.cpp, portable code) and the three
// builds of the FlashAttention-2 kernels (attention_generic.cpp, avx2/, avx512/).
//
// Why a table of function pointers and plain structs: the AVX2/AVX-512 translation units are
// compiled with -mavx2 / -mavx512f, so any function they emit may contain those instructions. An
// inline function with external linkage (a std:: template, a helper in a shared header) emitted in
// such a unit could be picked by the linker for the portable code too and fault on an older CPU.
// So the ISA units only contain templates over their own vector type (distinct symbols per ISA)
// and export one table; threading, allocation, validation and every std:: container live in the
// portable dispatcher, which calls the table's work-item functions from ThreadPool::parallel_for.
#pragma once
#include <cstddef>
#include <cstdint>

#include "cpu/cpu_features.h"
#include "ctxwin/attention_params.h"

namespace ctxwin::cpu {

// Everything a work item needs, built once per call by the dispatcher. Scratch tensors are f32.
// Notation: G = Hq / Hkv query heads per kv head; Dp = D rounded up to the vector width;
// Tkp = Tk rounded up to block_k; "rotated" = RoPE applied (keys j >= prefix_keys only).
struct FlashPlan {
  const AttentionParams* prm = nullptr;
  const AttentionBwdParams* bwd = nullptr;  // backward only

  int B = 0, Tq = 0, Tk = 0, Hq = 0, Hkv = 0, G = 1, D = 0, Dp = 0, Tkp = 0;
  int block_q = 0, block_k = 0;       // tile sizes (rows of queries, keys)
  int num_qb = 0, num_kb = 0;         // ceil(Tq / block_q), ceil(Tk / block_k)
  int rotary_dim = 0;                 // 0 when no RoPE
  float q_scale = 1.f;                // softmax_scale * log2(e): scores live in log2 units
  const float* slopes_log2 = nullptr; // [Hq] ALiBi slope * log2(e), or null

  // Visible keys per query row (attention_key_range), and per block summaries.
  const int* row_lo = nullptr;        // [Tq] first visible key (> row_hi when none)
  const int* row_hi = nullptr;        // [Tq] last visible key
  const int* qb_key_lo = nullptr;     // [num_qb] min row_lo over the block's non-empty rows
  const int* qb_key_hi = nullptr;     // [num_qb] max row_hi (< qb_key_lo: no key visible)
  const int* qb_full_lo = nullptr;    // [num_qb] a key block inside [full_lo, full_hi] needs
  const int* qb_full_hi = nullptr;    //          no mask for any row of the query block
  const int* kb_query_lo = nullptr;   // [num_kb] first query row that sees a key of the block
  const int* kb_query_hi = nullptr;   // [num_kb] last such row (< lo: none)

  // Per (b, kv head) key/value scratch, index bh = b * Hkv + kv head.
  float* k_panels = nullptr;  // [B*Hkv][Tkp/PW][D][PW] rotated K, PW = kTileVecs * W keys a panel
  float* v_rows = nullptr;    // [B*Hkv][Tkp][Dp] V (forward)
  float* v_panels = nullptr;  // [B*Hkv][Tkp/PW][D][PW] V (backward: dP = dO V^T)
  float* k_rows = nullptr;    // [B*Hkv][Tkp][Dp] rotated K (backward: dQ += dS K)

  // Backward per (b, query head) scratch, index bh = b * Hq + h.
  float* q_rows = nullptr;     // [B*Hq][Tq][Dp] rotated q * q_scale
  float* do_rows = nullptr;    // [B*Hq][Tq][Dp] dout in f32
  float* delta = nullptr;      // [B*Hq][Tq] rowsum(dout * o)
  float* lse_log2 = nullptr;   // [B*Hq][Tq] lse * log2(e); +inf for a row that sees no key
  float* dq_partial = nullptr; // [dq_chunks][B*Hq][Tq][Dp] dQ partial sums per key chunk, or null:
  int dq_chunks = 0;           //   dQ by the query-major second pass instead (flash_backward.h)

  // Per-thread scratch: thread t owns [t * scratch_floats, (t + 1) * scratch_floats).
  float* scratch = nullptr;
  size_t scratch_floats = 0;
};

// One build of the kernels. Work items are numbered [0, count) by the dispatcher, and `thread`
// is the ThreadPool thread index (selects the scratch); each item writes only memory no other
// item of the same launch writes.
struct AttentionKernels {
  const char* isa;
  int vec_width;   // W
  int panel_keys;  // PW: block_k must be a multiple
  size_t (*scratch_floats)(const FlashPlan& plan);  // per thread, for forward and backward

  using WorkItem = void (*)(const FlashPlan& plan, int64_t item, int thread);
  // Forward. Items: B*Hkv*num_kb, then B*Hq*num_qb.
  WorkItem forward_prepare_kv;
  WorkItem forward_query_block;
  // Backward. Items: B*Hkv*num_kb (prepare_kv), B*Hq*num_qb (prepare_q),
  // B*Hkv*(dq_partial ? dq_chunks : num_kb) (key_pass: dK, dV, and dQ partials),
  // B*Hq*num_qb (finish_dq with partials, else query_pass).
  WorkItem backward_prepare_kv;
  WorkItem backward_prepare_q;
  WorkItem backward_key_pass;
  WorkItem backward_finish_dq;
  WorkItem backward_query_pass;

  // Row conversions (dtype_convert.cpp).
  void (*to_f32)(DType src_t, const void* src, float* dst, size_t n);
  void (*from_f32)(DType dst_t, const float* src, void* dst, size_t n);
};

const AttentionKernels& attention_kernels_generic();
#if defined(CTXWIN_CPU_X86_BUILDS)
const AttentionKernels& attention_kernels_avx2();
const AttentionKernels& attention_kernels_avx512();
#endif

// The build selected by active_cpu_isa() (cpu_features.h).
const AttentionKernels& active_attention_kernels();

}  // namespace ctxwin::cpu
