// Attention dispatcher of the CUDA backend: validates AttentionParams, picks the kernels (tensor
// core or SIMT, split-K or not), carves workspaces and launches. See attention.h.
#include "cuda/attention.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <string>

#include "ctxwin/error.h"
#include "cuda/attention_kernels.h"
#include "cuda/attention_tiling.h"
#include "cuda/cuda_check.h"

namespace ctxwin::cuda {

namespace {

std::atomic<int> g_path_override{0};

constexpr int kMaxSplits = 128;

size_t align_up(size_t x) { return (x + 255) & ~(size_t)255; }

int current_device() {
  int dev = 0;
  check_cuda(cudaGetDevice(&dev), "cudaGetDevice");
  return dev;
}
int device_attr(cudaDeviceAttr attr) {
  int v = 0;
  check_cuda(cudaDeviceGetAttribute(&v, attr, current_device()), "cudaDeviceGetAttribute");
  return v;
}

void arg_check(bool ok, const char* fn, const std::string& msg) {
  if (!ok) throw Error("ERR_ARG", std::string(fn) + ": " + msg);
}

void validate(const AttentionParams& p, const char* fn) {
  arg_check(p.B >= 0 && p.Tq >= 0 && p.Tk >= 0, fn, "negative shape");
  arg_check(p.Hq > 0 && p.Hkv > 0 && p.Hq % p.Hkv == 0, fn,
            "expected Hkv > 0 dividing Hq, got Hq = " + std::to_string(p.Hq) + ", Hkv = " + std::to_string(p.Hkv));
  arg_check(p.D >= 2 && p.D <= 256 && p.D % 2 == 0, fn,
            "head dim must be even and in [2, 256] on CUDA, got " + std::to_string(p.D));
  arg_check(p.dtype == DType::F32 || p.dtype == DType::BF16 || p.dtype == DType::F16, fn, "unknown dtype");
  arg_check(std::isfinite(p.softmax_scale), fn, "softmax_scale must be finite");
  arg_check(p.window >= 0 && p.query_offset >= 0 && p.prefix_keys >= 0, fn,
            "window, query_offset and prefix_keys must be >= 0");
  // Per-sequence ranges: device pointers here, so their values are checked by the caller on the
  // host before the upload (attention_seq_ranges.h; cuda_device.cpp does).
  arg_check((p.key_begin == nullptr) == (p.key_end == nullptr), fn, "expected key_begin and key_end both set or both null");
  if (p.B == 0 || p.Tq == 0) return;
  arg_check(p.Tk > 0, fn, "Tk must be > 0 when there are queries");
  arg_check(p.q && p.k && p.v && p.o && p.lse, fn, "null tensor pointer");
  arg_check((long long)p.B * p.Hkv <= 65535, fn, "B * Hkv must be <= 65535");
  if (p.pos_type == PositionalType::Alibi) arg_check(p.alibi_slopes != nullptr, fn, "alibi: slopes pointer is null");
  if (p.pos_type == PositionalType::Rope) {
    arg_check(p.rotary_dim >= 2 && p.rotary_dim <= p.D && p.rotary_dim % 2 == 0, fn,
              "rope: rotary_dim must be even and in [2, D], got " + std::to_string(p.rotary_dim));
    arg_check(p.rope_cos && p.rope_sin, fn, "rope: cos/sin table pointer is null");
    const long long need = std::max<long long>(p.Tk, (long long)p.query_offset + p.Tq);
    arg_check(p.rope_positions >= need, fn,
              "rope: tables have " + std::to_string(p.rope_positions) + " rows, need " + std::to_string(need));
  }
}

bool aligned16(const void* ptr) { return ((uintptr_t)ptr & 15u) == 0; }

struct FwdPlan {
  AttnFwdArgs args;
  bool mma = false;
  bool split = false;  // partials + combine
  size_t ws_bytes = 0;
};

FwdPlan plan_forward(const AttentionParams& p, bool force_split) {
  FwdPlan pl;
  AttnFwdArgs& a = pl.args;
  const int mode = g_path_override.load();
  a.prm = p;
  a.group = p.Hq / p.Hkv;
  pl.mma = !(mode & kPathSimt) && mma_supported(p, false);
  a.row_block = pl.mma ? kMmaFwdRows : simt_tile(p.D);
  a.tq_stride = attn_tq_stride(p.Tq, a.row_block);
  a.rows_per_kv = a.group * a.tq_stride;
  a.key_tile = pl.mma ? kMmaFwdKeys : simt_tile(p.D);
  a.reverse_rows = p.causal ? 1 : 0;
  a.scale_log2 = p.softmax_scale * 1.4426950408889634f;
  a.rope = p.pos_type == PositionalType::Rope ? 1 : 0;
  a.half = a.rope ? p.rotary_dim / 2 : 0;

  int gt_lo = 0, gt_hi = -1;
  attn_global_tiles(p, a.key_tile, &gt_lo, &gt_hi);
  const int ntiles = gt_hi >= gt_lo ? gt_hi - gt_lo + 1 : 0;
  a.gt_lo = gt_lo;

  const long long nrb = (a.rows_per_kv + a.row_block - 1) / a.row_block;
  const long long blocks = nrb * p.B * p.Hkv;
  int splits = 1;
  if (!(mode & kPathNoSplit) && ntiles >= 2) {
    const int sms = device_attr(cudaDevAttrMultiProcessorCount);
    const long long target = 2LL * sms;  // about two waves of blocks
    if (blocks < sms) {
      long long sp = (target + blocks - 1) / blocks;
      sp = std::min<long long>(sp, std::max(1, ntiles / 2));  // at least two tiles per split
      splits = (int)std::min<long long>(sp, kMaxSplits);
    }
    if ((force_split || (mode & kPathSplit)) && splits < 2) splits = 2;
  }
  pl.split = force_split || (mode & kPathSplit) || splits > 1;
  if (ntiles > 0) {
    a.tiles_per_split = (ntiles + splits - 1) / splits;
    splits = (ntiles + a.tiles_per_split - 1) / a.tiles_per_split;  // no empty splits
  } else {
    a.tiles_per_split = 1;
    splits = 1;
  }
  a.splits = splits;
  if (pl.split) {
    const size_t rows_all = (size_t)p.B * p.Hq * p.Tq;
    pl.ws_bytes = align_up((size_t)splits * rows_all * p.D * 4) + align_up((size_t)splits * rows_all * 2 * 4);
  }
  return pl;
}

void run_forward(FwdPlan& pl, cudaStream_t s, void* ws, size_t ws_bytes) {
  AttnFwdArgs& a = pl.args;
  if (pl.split) {
    arg_check(ws != nullptr && ws_bytes >= pl.ws_bytes, "attention",
              "workspace too small: need " + std::to_string(pl.ws_bytes) + " bytes, got " + std::to_string(ws_bytes));
    const size_t rows_all = (size_t)a.prm.B * a.prm.Hq * a.prm.Tq;
    a.part_o = static_cast<float*>(ws);
    a.part_ml = reinterpret_cast<float*>(static_cast<char*>(ws) + align_up((size_t)a.splits * rows_all * a.prm.D * 4));
    a.partial = 1;
  } else {
    a.splits = 1;
    a.partial = 0;
  }
  if (pl.mma)
    launch_fwd_mma(a, s);
  else
    launch_fwd_simt(a, s);
  if (pl.split) launch_fwd_combine(a, s);
}

// Stream-ordered scratch that is released even when a launch throws.
struct AsyncScratch {
  void* ptr = nullptr;
  cudaStream_t stream = nullptr;
  AsyncScratch(size_t bytes, cudaStream_t s) : stream(s) {
    if (bytes) check_cuda(cudaMallocAsync(&ptr, bytes, s), "cudaMallocAsync(attention workspace)");
  }
  ~AsyncScratch() {
    if (ptr) (void)cudaFreeAsync(ptr, stream);
  }
  AsyncScratch(const AsyncScratch&) = delete;
  AsyncScratch& operator=(const AsyncScratch&) = delete;
};

struct BwdLayout {
  size_t dq_acc = 0, delta = 0, o = 0, lse = 0, fwd = 0, total = 0;
  bool recompute = false;
  size_t fwd_bytes = 0;
};

BwdLayout bwd_layout(const AttentionBwdParams& p) {
  BwdLayout L;
  size_t off = 0;
  L.dq_acc = off;
  off += align_up((size_t)p.B * p.Tq * p.Hq * p.D * 4);
  L.delta = off;
  off += align_up((size_t)p.B * p.Hq * p.Tq * 4);
  L.recompute = p.o == nullptr || p.lse == nullptr;
  if (L.recompute) {
    L.o = off;
    off += align_up((size_t)p.B * p.Tq * p.Hq * p.D * dtype_size(p.dtype));
    L.lse = off;
    off += align_up((size_t)p.B * p.Hq * p.Tq * 4);
    AttentionParams fp = p;
    fp.o = reinterpret_cast<void*>(256);  // placeholders: only the plan's size is needed
    fp.lse = reinterpret_cast<float*>(256);
    L.fwd = off;
    L.fwd_bytes = attention_forward_workspace_bytes(fp);
    off += align_up(L.fwd_bytes);
  }
  L.total = off;
  return L;
}

}  // namespace

bool mma_supported(const AttentionParams& p, bool backward) {
  if (p.dtype != DType::BF16 && p.dtype != DType::F16) return false;
  if (p.D != 64 && p.D != 128) return false;
  if (!aligned16(p.q) || !aligned16(p.k) || !aligned16(p.v)) return false;
  if (!backward && !aligned16(p.o)) return false;
  const int half = p.pos_type == PositionalType::Rope ? p.rotary_dim / 2 : 0;
  const bool rope = p.pos_type == PositionalType::Rope;
  size_t need = fwd_mma_smem_bytes(p.D, half, rope);
  if (backward) {
    const auto& bp = static_cast<const AttentionBwdParams&>(p);
    if (!aligned16(bp.dout) || !aligned16(bp.dk) || !aligned16(bp.dv)) return false;
    need = bwd_mma_smem_bytes(p.D, half, rope);
  }
  const int optin = device_attr(cudaDevAttrMaxSharedMemoryPerBlockOptin);
  return need <= (size_t)optin;
}

void attention_set_path_override(int flags) { g_path_override.store(flags); }

const char* attention_forward_path(const AttentionParams& p) {
  FwdPlan pl = plan_forward(p, false);
  if (pl.mma) return pl.split ? "mma+split" : "mma";
  return pl.split ? "simt+split" : "simt";
}

size_t attention_forward_workspace_bytes(const AttentionParams& p) {
  validate(p, "attention");
  if (p.B == 0 || p.Tq == 0) return 0;
  return plan_forward(p, false).ws_bytes;
}

void attention_forward(const AttentionParams& p, cudaStream_t stream, void* workspace, size_t workspace_bytes) {
  validate(p, "attention");
  if (p.B == 0 || p.Tq == 0) return;
  FwdPlan pl = plan_forward(p, false);
  run_forward(pl, stream, workspace, workspace_bytes);
}

void attention_forward(const AttentionParams& p, cudaStream_t stream) {
  validate(p, "attention");
  if (p.B == 0 || p.Tq == 0) return;
  FwdPlan pl = plan_forward(p, false);
  AsyncScratch ws(pl.ws_bytes, stream);
  run_forward(pl, stream, ws.ptr, pl.ws_bytes);
}

size_t attention_decode_workspace_bytes(const AttentionParams& p) {
  validate(p, "attention_decode");
  if (p.B == 0 || p.Tq == 0) return 0;
  return plan_forward(p, true).ws_bytes;
}

void attention_decode(const AttentionParams& p, cudaStream_t stream, void* workspace) {
  validate(p, "attention_decode");
  if (p.B == 0 || p.Tq == 0) return;
  FwdPlan pl = plan_forward(p, true);
  run_forward(pl, stream, workspace, workspace ? pl.ws_bytes : 0);
}

size_t attention_backward_workspace_bytes(const AttentionBwdParams& p) {
  AttentionParams fp = p;
  if (!fp.o) fp.o = reinterpret_cast<void*>(256);
  if (!fp.lse) fp.lse = reinterpret_cast<float*>(256);
  validate(fp, "attentionBackward");
  if (p.B == 0 || p.Tq == 0) return 0;
  return bwd_layout(p).total;
}

void attention_backward(const AttentionBwdParams& p, cudaStream_t stream, void* workspace, size_t workspace_bytes) {
  const char* fn = "attentionBackward";
  {
    AttentionParams fp = p;
    if (!fp.o) fp.o = reinterpret_cast<void*>(256);
    if (!fp.lse) fp.lse = reinterpret_cast<float*>(256);
    validate(fp, fn);
  }
  if (p.B == 0 || p.Tq == 0) {
    // No queries: dk = dv = 0.
    const size_t kv = (size_t)p.B * p.Tk * p.Hkv * p.D * dtype_size(p.dtype);
    if (kv && p.dk) check_cuda(cudaMemsetAsync(p.dk, 0, kv, stream), "cudaMemsetAsync(dk)");
    if (kv && p.dv) check_cuda(cudaMemsetAsync(p.dv, 0, kv, stream), "cudaMemsetAsync(dv)");
    return;
  }
  arg_check(p.dout && p.dq && p.dk && p.dv, fn, "null gradient pointer");
  BwdLayout L = bwd_layout(p);
  arg_check(workspace != nullptr && workspace_bytes >= L.total, fn,
            "workspace too small: need " + std::to_string(L.total) + " bytes, got " + std::to_string(workspace_bytes));
  char* ws = static_cast<char*>(workspace);

  AttentionBwdParams bp = p;
  if (L.recompute) {
    AttentionParams fp = p;
    fp.o = ws + L.o;
    fp.lse = reinterpret_cast<float*>(ws + L.lse);
    attention_forward(fp, stream, ws + L.fwd, L.fwd_bytes);
    bp.o = fp.o;
    bp.lse = fp.lse;
  }
  AttnBwdArgs a;
  a.prm = bp;
  a.group = p.Hq / p.Hkv;
  a.scale = p.softmax_scale;
  a.scale_log2 = p.softmax_scale * 1.4426950408889634f;
  a.rope = p.pos_type == PositionalType::Rope ? 1 : 0;
  a.half = a.rope ? p.rotary_dim / 2 : 0;
  a.lse = bp.lse;
  a.delta = reinterpret_cast<float*>(ws + L.delta);
  a.dq_acc = reinterpret_cast<float*>(ws + L.dq_acc);

  check_cuda(cudaMemsetAsync(a.dq_acc, 0, (size_t)p.B * p.Tq * p.Hq * p.D * 4, stream), "cudaMemsetAsync(dq_acc)");
  launch_bwd_delta(bp, bp.o, const_cast<float*>(a.delta), stream);
  const bool mma = !(g_path_override.load() & kPathSimt) && mma_supported(bp, true);
  a.key_block = mma ? kMmaBwdKeys : simt_tile(p.D);
  if (mma)
    launch_bwd_mma(a, stream);
  else
    launch_bwd_simt(a, stream);
  launch_bwd_dq_finish(a, stream);
}

void attention_backward(const AttentionBwdParams& p, cudaStream_t stream) {
  const size_t bytes = attention_backward_workspace_bytes(p);
  AsyncScratch ws(bytes, stream);
  attention_backward(p, stream, ws.ptr, bytes);
}

}  // namespace ctxwin::cuda
