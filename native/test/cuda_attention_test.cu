// Standalone test and benchmark of the CUDA attention kernels (native/src/cuda/attention*.cu)
// against a float64 CPU reference written here from docs/design.md, "Positional conventions".
//
// Build (scripts/gpu-check.sh does this):
//   nvcc -std=c++17 -O2 -Inative/include -Inative/src -gencode arch=compute_90,code=sm_90
//     native/test/cuda_attention_test.cu native/src/cuda/attention*.cu native/src/common/positional.cpp
//     -o build-cuda/cuda_attention_test
//
// Usage:
//   cuda_attention_test                  self-check, then every case on the GPU (exit 1 on failure)
//   cuda_attention_test --self-check     host-only checks (tile math, per sequence too, vs brute
//                                        force; reference gradients vs finite differences; RoPE
//                                        angle composition; fragment emulation; validation)
//   cuda_attention_test --cases alibi    only cases whose name contains "alibi"
//   cuda_attention_test --quick          a few small cases (for compute-sanitizer)
//   cuda_attention_test --long           only the long cases (Tk = 4096..16384: many key tiles and
//                                        splits), no self-check; --cases / --dtype still apply
//   cuda_attention_test --bench          TFLOP/s table: B*T = 16k tokens, 16 heads, D = 128, bf16
// Without a CUDA device the GPU part prints "no CUDA device: skipped" and exits 0.
//
// Method: fresh random inputs per case and dtype (rounded to the dtype, so the reference sees the
// exact values the kernel sees); outputs and workspaces are filled with NaN bytes (0xFF) before
// every launch, so an unwritten element shows up as NaN; error = max |got - ref| / max |ref|
// per tensor (lse: max absolute error); every kernel path that applies is run: automatic,
// never-split, always-split (forward), tensor-core and SIMT (forward and backward), the
// explicit decode entry point for Tq <= 16 and the backward that recomputes the forward. Where
// tensor cores apply, the automatic path's outputs and gradients are also compared with the forced
// SIMT path's (row "<path> vs simt", same tolerances). The "pad-" cases give per-sequence token
// ranges (AttentionParams::key_begin / key_end): the reference applies them pair by pair.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "ctxwin/attention_params.h"
#include "ctxwin/dtype.h"
#include "ctxwin/error.h"
#include "ctxwin/positional.h"
#include "cuda/attention.h"
#include "cuda/attention_device.cuh"
#include "cuda/attention_tiling.h"
#include "cuda/cuda_check.h"

using namespace ctxwin;
using ctxwin::cuda::check_cuda;

namespace {

// ---- random numbers ----------------------------------------------------------------------------
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 12345) {}
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform(double lo, double hi) { return lo + (hi - lo) * ((next() >> 11) * (1.0 / 9007199254740992.0)); }
  int range(int lo, int hi) { return lo + (int)(next() % (uint64_t)(hi - lo + 1)); }
};

// Values rounded to a dtype, with their bits for the device.
struct HostTensor {
  DType dt = DType::F32;
  std::vector<double> val;
  std::vector<uint8_t> bits;
};

double round_to(DType dt, double x, void* dst) {
  float f = (float)x;
  if (dt == DType::F32) {
    memcpy(dst, &f, 4);
    return f;
  }
  uint16_t h = dt == DType::BF16 ? f32_to_bf16_bits(f) : f32_to_f16_bits(f);
  memcpy(dst, &h, 2);
  return dt == DType::BF16 ? bf16_bits_to_f32(h) : f16_bits_to_f32(h);
}

double from_bits(DType dt, const uint8_t* p) {
  if (dt == DType::F32) {
    float f;
    memcpy(&f, p, 4);
    return f;
  }
  uint16_t h;
  memcpy(&h, p, 2);
  return dt == DType::BF16 ? bf16_bits_to_f32(h) : f16_bits_to_f32(h);
}

HostTensor random_tensor(size_t n, DType dt, double amp, Rng& rng) {
  HostTensor t;
  t.dt = dt;
  t.val.resize(n);
  t.bits.resize(n * dtype_size(dt));
  for (size_t i = 0; i < n; ++i) t.val[i] = round_to(dt, rng.uniform(-amp, amp), t.bits.data() + i * dtype_size(dt));
  return t;
}

// ---- cases -------------------------------------------------------------------------------------
struct Case {
  std::string name;
  int B, Tq, Tk, Hq, Hkv, D;
  bool causal = true;
  int window = 0;
  int qo = -1;  // -1: Tk - Tq (clamped at 0)
  int prefix = 0;
  PositionalConfig pos;
  double scale = 0;  // 0: 1/sqrt(D)
  std::vector<int> key_begin, key_end;  // per-sequence tokens [begin, end) (padding); empty: none
};

PositionalConfig pos_none() { return PositionalConfig{}; }
PositionalConfig pos_alibi(int train_length = 0, std::vector<double> slopes = {}) {
  PositionalConfig c;
  c.type = PositionalType::Alibi;
  c.train_length = train_length;
  c.slopes = std::move(slopes);
  return c;
}
PositionalConfig pos_rope(RopeScalingType sc = RopeScalingType::None, double factor = 1, int L0 = 0, int R = 0,
                          double theta = 10000) {
  PositionalConfig c;
  c.type = PositionalType::Rope;
  c.scaling = sc;
  c.factor = factor;
  c.original_max_positions = L0;
  c.rotary_dim = R;
  c.theta = theta;
  return c;
}
PositionalConfig pos_yarn(double factor, int L0, bool truncate, double bf, double bs, double mscale = 0,
                          double mscale_all = 0, int R = 0) {
  PositionalConfig c = pos_rope(RopeScalingType::Yarn, factor, L0, R);
  c.truncate = truncate;
  c.beta_fast = bf;
  c.beta_slow = bs;
  c.mscale = mscale;
  c.mscale_all_dim = mscale_all;
  return c;
}

std::vector<Case> all_cases() {
  using RS = RopeScalingType;
  std::vector<Case> v;
  auto add = [&](std::string name, int B, int Tq, int Tk, int Hq, int Hkv, int D, PositionalConfig pos,
                 bool causal = true, int window = 0, int qo = -1, int prefix = 0) {
    Case c;
    c.name = std::move(name);
    c.B = B, c.Tq = Tq, c.Tk = Tk, c.Hq = Hq, c.Hkv = Hkv, c.D = D;
    c.pos = std::move(pos);
    c.causal = causal, c.window = window, c.qo = qo, c.prefix = prefix;
    v.push_back(c);
  };
  add("none", 2, 77, 77, 4, 4, 64, pos_none());
  add("none-d128-gqa", 1, 200, 200, 2, 1, 128, pos_none());
  add("alibi", 1, 130, 130, 6, 2, 128, pos_alibi());
  add("alibi-pi", 2, 150, 150, 4, 4, 64, pos_alibi(64));
  add("alibi-custom-slopes", 1, 70, 70, 2, 2, 64, pos_alibi(0, {0.5, 0.0625}));
  add("rope", 1, 100, 100, 4, 2, 64, pos_rope());
  add("rope-linear", 1, 90, 90, 2, 2, 128, pos_rope(RS::Linear, 4));
  add("rope-ntk", 1, 140, 140, 2, 1, 64, pos_rope(RS::Ntk, 2));
  add("rope-dynamic", 1, 150, 150, 2, 2, 64, pos_rope(RS::Dynamic, 2, 64));
  add("yarn-notrunc-betas", 1, 180, 180, 4, 2, 128, pos_yarn(4, 64, false, 16, 2));
  add("yarn-mscale", 2, 70, 70, 2, 2, 64, pos_yarn(8, 32, true, 32, 1, 1.0, 0.5));
  add("yarn-d128-theta500k", 1, 129, 129, 2, 2, 128, pos_yarn(4, 32, true, 32, 1, 0, 0, 0));
  v.back().pos.theta = 500000;
  add("rope-partial32-d128", 1, 100, 100, 2, 2, 128, pos_rope(RS::None, 1, 0, 32));
  add("rope-partial20", 1, 81, 81, 2, 2, 64, pos_rope(RS::Linear, 2, 0, 20));
  add("rope-partial6-odd-half", 1, 66, 66, 2, 2, 64, pos_rope(RS::None, 1, 0, 6));
  add("window", 1, 200, 200, 2, 2, 64, pos_none(), true, 33);
  add("window-alibi", 1, 257, 257, 4, 2, 128, pos_alibi(), true, 50);
  add("window-rope-yarn", 1, 190, 190, 2, 1, 64, pos_yarn(2, 64, true, 32, 1), true, 70);
  add("decode", 2, 1, 300, 8, 2, 128, pos_yarn(4, 64, true, 32, 1));
  add("decode-alibi", 1, 1, 517, 4, 4, 64, pos_alibi(128));
  add("decode-4-mqa", 1, 4, 333, 8, 1, 64, pos_none());
  add("decode-window", 1, 2, 400, 4, 2, 128, pos_rope(), true, 90);
  add("decode-d96", 1, 1, 150, 2, 1, 96, pos_rope());
  add("chunk", 1, 40, 200, 2, 2, 64, pos_rope());
  add("chunk-offset-alibi", 1, 37, 211, 2, 2, 128, pos_alibi(), true, 0, 100);
  add("noncausal", 1, 90, 130, 2, 2, 64, pos_none(), false, 0, 0);
  add("noncausal-alibi", 1, 65, 97, 2, 1, 128, pos_alibi(), false, 0, 10);
  add("noncausal-window-rope", 1, 100, 100, 2, 2, 64, pos_rope(), false, 17, 0);
  add("noncausal-tq>tk", 1, 150, 40, 2, 2, 128, pos_rope(), false, 0, 0);
  add("gqa-rope", 1, 129, 129, 8, 2, 64, pos_rope());
  add("prefix", 1, 90, 100, 2, 2, 64, pos_rope(), true, 0, -1, 10);
  add("prefix-window-yarn-d128", 1, 133, 140, 2, 2, 128, pos_yarn(2, 32, false, 32, 1), true, 40, -1, 7);
  add("d40-rope", 1, 70, 70, 2, 2, 40, pos_rope());
  add("d96-alibi", 1, 65, 65, 3, 3, 96, pos_alibi());
  add("d256-rope-partial", 1, 50, 50, 2, 1, 256, pos_rope(RS::None, 1, 0, 128));
  add("d2", 1, 20, 20, 2, 2, 2, pos_none());
  add("tiny", 1, 5, 5, 1, 1, 64, pos_rope());
  add("scale-0.3", 1, 60, 60, 2, 2, 128, pos_alibi());
  v.back().scale = 0.3;
  add("long-d128", 1, 700, 700, 2, 2, 128, pos_alibi());
  add("long-rope-d64", 1, 520, 520, 2, 2, 64, pos_yarn(4, 128, true, 32, 1));
  // Per-sequence token ranges (padding): right (encoders, training batches), left (batched
  // decoding), both, sequences of one token, rows and key blocks that are all padding.
  auto pad = [&](std::vector<int> begin, std::vector<int> end) {
    v.back().key_begin = std::move(begin);
    v.back().key_end = std::move(end);
  };
  add("pad-right-encoder", 3, 77, 77, 4, 2, 64, pos_none(), false, 0, 0);
  pad({0, 0, 0}, {77, 40, 1});
  add("pad-left-decode", 3, 1, 300, 8, 2, 128, pos_yarn(4, 64, true, 32, 1));
  pad({0, 120, 299}, {300, 300, 300});
  add("pad-both-alibi-d128", 2, 150, 150, 4, 2, 128, pos_alibi());
  pad({10, 0}, {140, 1});
  add("pad-window-rope", 2, 200, 200, 2, 2, 64, pos_rope(), true, 33);
  pad({37, 0}, {200, 129});
  add("pad-chunk-offset", 2, 40, 200, 2, 2, 64, pos_rope(), true, 0, 100);
  pad({0, 50}, {120, 200});
  add("pad-noncausal-window-d40", 3, 90, 130, 4, 1, 40, pos_rope(), false, 17, 0);
  pad({0, 5, 60}, {130, 6, 129});
  add("pad-prefix-rope", 2, 90, 100, 2, 2, 64, pos_rope(), true, 0, -1, 10);
  pad({0, 0}, {100, 55});
  add("pad-decode-4-gqa", 2, 4, 333, 8, 2, 128, pos_alibi());
  pad({0, 200}, {331, 333});
  add("pad-noncausal-tq>tk", 2, 150, 40, 2, 2, 128, pos_rope(), false, 0, 0);
  pad({0, 3}, {40, 17});
  add("pad-long-alibi-d128", 2, 700, 700, 2, 2, 128, pos_alibi());
  pad({0, 0}, {700, 333});
  add("pad-long-bidir-d64", 2, 520, 520, 4, 4, 64, pos_none(), false, 0, 0);
  pad({0, 100}, {257, 520});
  return v;
}

std::vector<std::string> quick_names() { return {"none", "window-alibi", "decode", "prefix", "d40-rope", "pad-both-alibi-d128"}; }

// --long: key lengths of 4096 to 16384, so that every kernel walks many key tiles (and the split
// forward many splits) per row block, in each family of schemes: causal and not, a window, a
// prefill chunk against a long cache, decoding. Sized so that the float64 reference (threads over
// batch x kv head) takes seconds per case and dtype on a 16-core host (about 1.4e10 key-row x
// dimension terms per dtype in all; 44 s of one core of a busy 2-core build machine for 1.3e10).
std::vector<Case> long_cases() {
  using RS = RopeScalingType;
  std::vector<Case> v;
  auto add = [&](std::string name, int B, int Tq, int Tk, int Hq, int Hkv, int D, PositionalConfig pos,
                 bool causal = true, int window = 0) {
    Case c;
    c.name = std::move(name);
    c.B = B, c.Tq = Tq, c.Tk = Tk, c.Hq = Hq, c.Hkv = Hkv, c.D = D;
    c.pos = std::move(pos);
    c.causal = causal, c.window = window;
    v.push_back(c);
  };
  add("long-4k-alibi-d128", 1, 4096, 4096, 4, 4, 128, pos_alibi());
  add("long-4k-yarn-d64-gqa", 1, 4096, 4096, 4, 2, 64, pos_yarn(4, 1024, true, 32, 1));
  add("long-4k-noncausal-alibi-pi-d64", 1, 4096, 4096, 2, 2, 64, pos_alibi(2048), false);
  add("long-8k-window-rope-ntk-d128", 1, 8192, 8192, 2, 2, 128, pos_rope(RS::Ntk, 2), true, 1024);
  add("long-16k-window-none-d64", 1, 16384, 16384, 2, 2, 64, pos_none(), true, 512);
  add("long-chunk-512x8k-rope-d128-gqa", 1, 512, 8192, 4, 2, 128, pos_rope(RS::Linear, 2));
  add("long-decode-16k-alibi-d128-gqa", 2, 1, 16384, 8, 2, 128, pos_alibi());
  add("long-decode-8k-window-yarn-d64", 1, 4, 8192, 4, 1, 64, pos_yarn(4, 2048, true, 32, 1), true, 4096);
  return v;
}

int case_qo(const Case& c) { return c.qo >= 0 ? c.qo : std::max(0, c.Tk - c.Tq); }

AttentionParams case_params(const Case& c, DType dt) {
  AttentionParams p;
  p.B = c.B, p.Tq = c.Tq, p.Tk = c.Tk, p.Hq = c.Hq, p.Hkv = c.Hkv, p.D = c.D;
  p.dtype = dt;
  p.softmax_scale = (float)(c.scale > 0 ? c.scale : 1.0 / std::sqrt((double)c.D));
  p.causal = c.causal;
  p.window = c.window;
  p.query_offset = case_qo(c);
  p.prefix_keys = c.prefix;
  p.pos_type = c.pos.type;
  if (!c.key_begin.empty()) {  // host pointers into the case: run_case swaps in device copies
    p.key_begin = c.key_begin.data();
    p.key_end = c.key_end.data();
  }
  return p;
}

// ---- float64 reference ---------------------------------------------------------------------------
// Whether the query at position p of a sequence with tokens [kb, ke) sees key j, written from
// AttentionParams' definition alone (attention_params.h), pair by pair: the brute force the
// per-sequence tile math below is held to. No function of attention_tiling.h is used.
bool brute_visible(const AttentionParams& p, int kb, int ke, int pos, int j) {
  if (j < 0 || j >= p.Tk) return false;
  if (pos < kb || pos >= ke) return false;  // a padding row sees nothing
  if (j < kb || j >= ke) return false;      // keys of other sequences' padding
  if (p.causal) {
    if (j > pos) return false;
    if (p.window > 0 && j <= pos - p.window) return false;
  } else if (p.window > 0 && std::abs(pos - j) >= p.window) {
    return false;
  }
  return true;
}

struct RefPos {
  bool alibi = false, rope = false;
  std::vector<double> slopes;
  int R = 0;
  std::vector<double> inv;
  double af = 1;
};

RefPos ref_pos(const Case& c) {
  RefPos r;
  if (c.pos.type == PositionalType::Alibi) {
    r.alibi = true;
    r.slopes = c.pos.slopes.empty() ? alibi_default_slopes(c.Hq) : c.pos.slopes;
    double f = alibi_pi_factor(c.pos.train_length, c.Tk);
    for (auto& s : r.slopes) s *= f;
  } else if (c.pos.type == PositionalType::Rope) {
    r.rope = true;
    ResolvedRope rr = resolve_rope(c.pos, c.D, std::max(c.Tk, case_qo(c) + c.Tq));
    r.R = rr.rotary_dim;
    r.inv = rr.inv_freq;
    r.af = rr.attention_factor;
  }
  return r;
}

// x (length >= R) rotated to `pos` (transpose: the gradient map RoPE^T).
void ref_rotate(double* x, const RefPos& rp, int pos, bool transpose) {
  if (!rp.rope) return;
  const int h = rp.R / 2;
  for (int i = 0; i < h; ++i) {
    double a = (double)pos * rp.inv[i];
    double c = std::cos(a) * rp.af, s = std::sin(a) * rp.af;
    double x1 = x[i], x2 = x[i + h];
    if (!transpose) {
      x[i] = x1 * c - x2 * s;
      x[i + h] = x2 * c + x1 * s;
    } else {
      x[i] = x1 * c + x2 * s;
      x[i + h] = x2 * c - x1 * s;
    }
  }
}

struct RefOut {
  std::vector<double> o, lse, dq, dk, dv;
};

// Sum of a[d] * b[d] over d < n with four partial sums: the add chain of a plain loop would bound
// the reference's speed on the long cases (the order differs from a plain loop only at float64
// rounding; reference_simple uses it too).
inline double dot4(const double* a, const double* b, int n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int d = 0;
  for (; d + 4 <= n; d += 4) {
    s0 += a[d] * b[d];
    s1 += a[d + 1] * b[d + 1];
    s2 += a[d + 2] * b[d + 2];
    s3 += a[d + 3] * b[d + 3];
  }
  for (; d < n; ++d) s0 += a[d] * b[d];
  return (s0 + s1) + (s2 + s3);
}

// What both references start with: zeroed outputs (and gradients when `grads`), and the keys
// rotated by their positions (prefix keys are never rotated) with a zeroed gradient beside them.
RefOut ref_begin(const AttentionParams& prm, const RefPos& rp, const std::vector<double>& q, const std::vector<double>& k,
                 const std::vector<double>& v, bool grads, std::vector<double>* kr, std::vector<double>* dkr) {
  const int B = prm.B, Tk = prm.Tk, Hkv = prm.Hkv, D = prm.D;
  RefOut r;
  r.o.assign((size_t)B * prm.Tq * prm.Hq * D, 0.0);
  r.lse.assign((size_t)B * prm.Hq * prm.Tq, 0.0);
  *kr = k;
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < Tk; ++j)
      for (int h = 0; h < Hkv; ++h)
        if (j >= prm.prefix_keys) ref_rotate(&(*kr)[(((size_t)b * Tk + j) * Hkv + h) * D], rp, j, false);
  if (grads) {
    r.dq.assign(q.size(), 0.0);
    dkr->assign(k.size(), 0.0);
    r.dv.assign(v.size(), 0.0);
  }
  return r;
}

// Forward (o, lse) and, when dout is given, backward (dq, dk, dv) in float64: the plain form,
// one query row at a time. reference() below computes the same sums in the same order, faster;
// the self-check holds them equal.
RefOut reference_simple(const AttentionParams& prm, const RefPos& rp, const std::vector<double>& q, const std::vector<double>& k,
                 const std::vector<double>& v, const std::vector<double>* dout) {
  const int B = prm.B, Tq = prm.Tq, Tk = prm.Tk, Hq = prm.Hq, Hkv = prm.Hkv, D = prm.D, G = Hq / Hkv;
  const double scale = prm.softmax_scale;
  std::vector<double> kr, dkr;  // rotated keys, their gradient
  RefOut r = ref_begin(prm, rp, q, k, v, dout != nullptr, &kr, &dkr);
  std::vector<double> qr(D), s, pr, dp;
  std::vector<int> keys;  // the row's visible keys, increasing
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < Hq; ++h)
      for (int i = 0; i < Tq; ++i) {
        const int kvh = h / G, p = prm.query_offset + i;
        const size_t qoff = (((size_t)b * Tq + i) * Hq + h) * D;
        for (int d = 0; d < D; ++d) qr[d] = q[qoff + d];
        ref_rotate(qr.data(), rp, p, false);
        keys.clear();
        if (prm.key_begin) {  // per-sequence ranges: every (query, key) pair on its own
          for (int j = 0; j < Tk; ++j)
            if (brute_visible(prm, prm.key_begin[b], prm.key_end[b], p, j)) keys.push_back(j);
        } else {
          int lo, hi;
          attention_key_range(prm, p, &lo, &hi);
          for (int j = lo; j <= hi; ++j) keys.push_back(j);
        }
        const size_t li = ((size_t)b * Hq + h) * Tq + i;
        if (keys.empty()) {  // a padding row: o = 0, lse = -inf, zero gradients
          r.lse[li] = -INFINITY;
          continue;
        }
        const int n = (int)keys.size();
        s.assign(n, 0.0);
        double m = -INFINITY;
        for (int jj = 0; jj < n; ++jj) {
          const int j = keys[jj];
          const double* kj = &kr[(((size_t)b * Tk + j) * Hkv + kvh) * D];
          s[jj] = scale * dot4(qr.data(), kj, D) - (rp.alibi ? rp.slopes[h] * std::fabs((double)(p - j)) : 0.0);
          m = std::max(m, s[jj]);
        }
        double l = 0;
        pr.assign(n, 0.0);
        for (int jj = 0; jj < n; ++jj) l += (pr[jj] = std::exp(s[jj] - m));
        for (int jj = 0; jj < n; ++jj) pr[jj] /= l;
        r.lse[li] = m + std::log(l);
        for (int jj = 0; jj < n; ++jj) {
          const double* vj = &v[(((size_t)b * Tk + keys[jj]) * Hkv + kvh) * D];
          for (int d = 0; d < D; ++d) r.o[qoff + d] += pr[jj] * vj[d];
        }
        if (!dout) continue;
        const double* go = &(*dout)[qoff];
        dp.assign(n, 0.0);
        double delta = 0;
        for (int jj = 0; jj < n; ++jj) {
          const double* vj = &v[(((size_t)b * Tk + keys[jj]) * Hkv + kvh) * D];
          const double t = dot4(go, vj, D);
          dp[jj] = t;
          delta += pr[jj] * t;
        }
        std::vector<double> dqr(D, 0.0);
        for (int jj = 0; jj < n; ++jj) {
          const int j = keys[jj];
          const double ds = pr[jj] * (dp[jj] - delta) * scale;
          const size_t koff = (((size_t)b * Tk + j) * Hkv + kvh) * D;
          for (int d = 0; d < D; ++d) {
            dqr[d] += ds * kr[koff + d];
            dkr[koff + d] += ds * qr[d];
            r.dv[koff + d] += pr[jj] * go[d];
          }
        }
        ref_rotate(dqr.data(), rp, p, true);
        for (int d = 0; d < D; ++d) r.dq[qoff + d] = dqr[d];
      }
  if (dout) {
    r.dk = dkr;
    for (int b = 0; b < B; ++b)
      for (int j = 0; j < Tk; ++j)
        for (int h = 0; h < Hkv; ++h)
          if (j >= prm.prefix_keys) ref_rotate(&r.dk[(((size_t)b * Tk + j) * Hkv + h) * D], rp, j, true);
  }
  return r;
}

// reference_simple's sums, for the long cases: blocks of kRefRows query rows of one head walk the
// keys together (each key row is read once per block, not once per query row: the long cases are
// bound by memory traffic otherwise), and the (batch, kv head) pairs run on separate threads. Every
// output element gets its terms in reference_simple's order: o, lse and dq over keys in increasing
// order, dk and dv over (query head, query row) in increasing order. Each (batch, kv head) pair
// owns its query heads' rows of o, lse, dq and its own rows of dk, dv: no element has two writers.
// threads: 0 picks (one thread for small cases), > 0 forces that many.
constexpr int kRefRows = 16;
RefOut reference(const AttentionParams& prm, const RefPos& rp, const std::vector<double>& q, const std::vector<double>& k,
                 const std::vector<double>& v, const std::vector<double>* dout, int threads = 0) {
  const int B = prm.B, Tq = prm.Tq, Tk = prm.Tk, Hq = prm.Hq, Hkv = prm.Hkv, D = prm.D, G = Hq / Hkv;
  const double scale = prm.softmax_scale;
  std::vector<double> kr, dkr;  // rotated keys, their gradient
  RefOut r = ref_begin(prm, rp, q, k, v, dout != nullptr, &kr, &dkr);
  auto pair = [&](int b, int kvh) {
    const int R = kRefRows;
    std::vector<double> qr((size_t)R * D), dqr((size_t)R * D), P, DP;
    int lo[kRefRows], hi[kRefRows];
    double delta[kRefRows];
    for (int h = kvh * G; h < (kvh + 1) * G; ++h)
      for (int i0 = 0; i0 < Tq; i0 += R) {
        const int rows = std::min(R, Tq - i0);
        int ulo = INT32_MAX, uhi = -1;
        for (int x = 0; x < rows; ++x) {
          const int i = i0 + x, p = prm.query_offset + i;
          const size_t qoff = (((size_t)b * Tq + i) * Hq + h) * D;
          for (int d = 0; d < D; ++d) qr[(size_t)x * D + d] = q[qoff + d];
          ref_rotate(&qr[(size_t)x * D], rp, p, false);
          attention_key_range(prm, p, &lo[x], &hi[x]);
          if (prm.key_begin) {  // the sequence's tokens [begin, end): padding rows see nothing
            const int kb = prm.key_begin[b], ke = prm.key_end[b];
            if (p < kb || p >= ke) lo[x] = 1, hi[x] = 0;
            lo[x] = std::max(lo[x], kb);
            hi[x] = std::min(hi[x], ke - 1);
          }
          if (lo[x] > hi[x]) {
            r.lse[((size_t)b * Hq + h) * Tq + i] = -INFINITY;
            continue;
          }
          ulo = std::min(ulo, lo[x]);
          uhi = std::max(uhi, hi[x]);
        }
        if (uhi < ulo) continue;
        const int W = uhi - ulo + 1;
        P.assign((size_t)rows * W, 0.0);  // scores, then probabilities
        for (int j = ulo; j <= uhi; ++j) {
          const double* kj = &kr[(((size_t)b * Tk + j) * Hkv + kvh) * D];
          for (int x = 0; x < rows; ++x)
            if (j >= lo[x] && j <= hi[x]) {
              const int p = prm.query_offset + i0 + x;
              P[(size_t)x * W + (j - ulo)] =
                  scale * dot4(&qr[(size_t)x * D], kj, D) - (rp.alibi ? rp.slopes[h] * std::fabs((double)(p - j)) : 0.0);
            }
        }
        for (int x = 0; x < rows; ++x) {
          if (lo[x] > hi[x]) continue;
          double* px = &P[(size_t)x * W];  // px[j - ulo] for j in [lo, hi]
          double m = -INFINITY, l = 0;
          for (int j = lo[x]; j <= hi[x]; ++j) m = std::max(m, px[j - ulo]);
          for (int j = lo[x]; j <= hi[x]; ++j) l += (px[j - ulo] = std::exp(px[j - ulo] - m));
          for (int j = lo[x]; j <= hi[x]; ++j) px[j - ulo] /= l;
          r.lse[((size_t)b * Hq + h) * Tq + i0 + x] = m + std::log(l);
        }
        for (int j = ulo; j <= uhi; ++j) {
          const double* vj = &v[(((size_t)b * Tk + j) * Hkv + kvh) * D];
          for (int x = 0; x < rows; ++x)
            if (j >= lo[x] && j <= hi[x]) {
              const double w = P[(size_t)x * W + (j - ulo)];
              double* o = &r.o[(((size_t)b * Tq + i0 + x) * Hq + h) * D];
              for (int d = 0; d < D; ++d) o[d] += w * vj[d];
            }
        }
        if (!dout) continue;
        DP.assign((size_t)rows * W, 0.0);
        for (int j = ulo; j <= uhi; ++j) {
          const double* vj = &v[(((size_t)b * Tk + j) * Hkv + kvh) * D];
          for (int x = 0; x < rows; ++x)
            if (j >= lo[x] && j <= hi[x])
              DP[(size_t)x * W + (j - ulo)] = dot4(&(*dout)[(((size_t)b * Tq + i0 + x) * Hq + h) * D], vj, D);
        }
        for (int x = 0; x < rows; ++x) {
          delta[x] = 0;
          for (int j = lo[x]; j <= hi[x]; ++j) delta[x] += P[(size_t)x * W + (j - ulo)] * DP[(size_t)x * W + (j - ulo)];
        }
        std::fill(dqr.begin(), dqr.end(), 0.0);
        for (int j = ulo; j <= uhi; ++j) {
          const size_t koff = (((size_t)b * Tk + j) * Hkv + kvh) * D;
          const double* kj = &kr[koff];
          double* dkj = &dkr[koff];
          double* dvj = &r.dv[koff];
          for (int x = 0; x < rows; ++x) {
            if (j < lo[x] || j > hi[x]) continue;
            const double pj = P[(size_t)x * W + (j - ulo)];
            const double ds = pj * (DP[(size_t)x * W + (j - ulo)] - delta[x]) * scale;
            const double* go = &(*dout)[(((size_t)b * Tq + i0 + x) * Hq + h) * D];
            const double* qx = &qr[(size_t)x * D];
            double* dqx = &dqr[(size_t)x * D];
            for (int d = 0; d < D; ++d) {
              dqx[d] += ds * kj[d];
              dkj[d] += ds * qx[d];
              dvj[d] += pj * go[d];
            }
          }
        }
        for (int x = 0; x < rows; ++x) {
          if (lo[x] > hi[x]) continue;
          ref_rotate(&dqr[(size_t)x * D], rp, prm.query_offset + i0 + x, true);
          const size_t qoff = (((size_t)b * Tq + i0 + x) * Hq + h) * D;
          for (int d = 0; d < D; ++d) r.dq[qoff + d] = dqr[(size_t)x * D + d];
        }
      }
  };
  const int npairs = B * Hkv;
  const double work = (double)B * Hq * Tq * Tk * D;  // an upper bound on the pairs x D
  int nthreads = threads > 0 ? threads
                 : work < 5e7 ? 1
                              : (int)std::min<unsigned>(std::max(1u, std::thread::hardware_concurrency()), (unsigned)npairs);
  nthreads = std::max(1, std::min(nthreads, npairs));
  if (nthreads == 1) {
    for (int b = 0; b < B; ++b)
      for (int kvh = 0; kvh < Hkv; ++kvh) pair(b, kvh);
  } else {
    std::atomic<int> next{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < nthreads; ++t)
      pool.emplace_back([&] {
        for (int w; (w = next.fetch_add(1)) < npairs;) pair(w / Hkv, w % Hkv);
      });
    for (auto& th : pool) th.join();
  }
  if (dout) {
    r.dk = dkr;
    for (int b = 0; b < B; ++b)
      for (int j = 0; j < Tk; ++j)
        for (int h = 0; h < Hkv; ++h)
          if (j >= prm.prefix_keys) ref_rotate(&r.dk[(((size_t)b * Tk + j) * Hkv + h) * D], rp, j, true);
  }
  return r;
}

// ---- self-check (host only) ------------------------------------------------------------------------
int g_self_fail = 0;
void self_expect(bool ok, const std::string& what) {
  if (!ok) {
    if (g_self_fail < 20) printf("  SELF-CHECK FAIL: %s\n", what.c_str());
    ++g_self_fail;
  }
}

// Tile math of attention_tiling.h against a per-(query, key) brute force.
void self_check_tiling() {
  Rng rng(7);
  int trials = 0;
  for (int t = 0; t < 3000; ++t) {
    AttentionParams p;
    p.Tq = rng.range(1, 40);
    p.Tk = rng.range(1, 60);
    p.Hq = 1, p.Hkv = 1, p.B = 1;
    p.causal = rng.range(0, 1) == 1;
    p.window = rng.range(0, 3) == 0 ? 0 : rng.range(1, 30);
    p.query_offset = rng.range(0, 1) ? std::max(0, p.Tk - p.Tq) : rng.range(0, 70);
    const int group = rng.range(1, 3);
    const int br = 1 << rng.range(0, 4), bc = 1 << rng.range(0, 4);
    const int tqs = cuda::attn_tq_stride(p.Tq, br);
    const int rows_per_kv = group * tqs;
    int gt_lo, gt_hi;
    cuda::attn_global_tiles(p, bc, &gt_lo, &gt_hi);
    const int ntiles = gt_hi >= gt_lo ? gt_hi - gt_lo + 1 : 0;
    const int splits = rng.range(1, 4);
    const int tps = ntiles > 0 ? (ntiles + splits - 1) / splits : 1;
    const int nsplit = ntiles > 0 ? (ntiles + tps - 1) / tps : 1;
    // every visible pair is covered by exactly one (row block, split) tile walk
    for (int f0 = 0; f0 < rows_per_kv; f0 += br) {
      const int f1 = std::min(f0 + br, rows_per_kv) - 1;
      int i_min, i_max, u_lo, u_hi, fl, fh;
      cuda::attn_packed_i_range(f0, f1, tqs, p.Tq, &i_min, &i_max);
      cuda::attn_block_key_ranges(p, p.query_offset + i_min, p.query_offset + i_max, &u_lo, &u_hi, &fl, &fh);
      std::vector<int> visits((size_t)(p.Tk + bc) / bc + 1, 0);
      for (int s = 0; s < nsplit; ++s) {
        int t_lo, t_hi;
        cuda::attn_block_tiles(u_lo, u_hi, bc, gt_lo, s, tps, &t_lo, &t_hi);
        for (int tt = t_lo; tt <= t_hi; ++tt) {
          self_expect(tt >= 0 && tt * bc < p.Tk, "visited tile outside [0, Tk)");
          if (tt >= 0 && tt < (int)visits.size()) visits[tt]++;
        }
      }
      bool any_row = false;
      for (int f = f0; f <= f1; ++f) any_row |= f % tqs < p.Tq;
      self_expect(any_row, "row block without a valid row");
      for (int f = f0; f <= f1; ++f) {
        const int i = f % tqs, pos = p.query_offset + i;
        if (i >= p.Tq) continue;  // padding row
        self_expect(i >= i_min && i <= i_max, "packed row outside the block's query range");
        for (int j = 0; j < p.Tk; ++j) {
          const bool vis = cuda::attn_visible(p, 0, pos, j);
          const int tt = j / bc;
          if (vis) self_expect(visits[tt] == 1, "visible key in a tile visited " + std::to_string(visits[tt]) + " times");
          if (!cuda::attn_tile_needs_mask(tt * bc, bc, fl, fh)) self_expect(vis, "unmasked tile holds an invisible key");
        }
        for (int tt = 0; tt * bc < p.Tk + bc; ++tt)
          if (!cuda::attn_tile_needs_mask(tt * bc, bc, fl, fh)) self_expect((tt + 1) * bc <= p.Tk, "unmasked tile past Tk");
      }
    }
    // backward key blocks
    for (int k0 = 0; k0 < p.Tk; k0 += bc) {
      int i_lo, i_hi;
      cuda::attn_query_range_for_keys(p, 0, k0, std::min(k0 + bc, p.Tk) - 1, &i_lo, &i_hi);
      for (int i = 0; i < p.Tq; ++i)
        for (int j = k0; j < std::min(k0 + bc, p.Tk); ++j)
          if (cuda::attn_visible(p, 0, p.query_offset + i, j)) self_expect(i >= i_lo && i <= i_hi, "bwd query range misses a row");
      for (int i0 = 0; i0 < p.Tq; i0 += br)
        if (!cuda::attn_bwd_tile_needs_mask(p, 0, k0, bc, i0, br))
          for (int i = i0; i < i0 + br; ++i)
            for (int j = k0; j < k0 + bc; ++j)
              self_expect(i < p.Tq && j < p.Tk && cuda::attn_visible(p, 0, p.query_offset + i, j), "bwd unmasked tile holds a masked pair");
    }
    ++trials;
  }
  printf("  tile math: %d random configurations checked against brute force\n", trials);
}

// Random per-sequence token ranges [begin, end) in [0, Tk): right padding, left padding, both,
// none, and sequences of one token.
void random_seq_ranges(Rng& rng, int B, int Tk, std::vector<int>* begin, std::vector<int>* end) {
  begin->resize(B);
  end->resize(B);
  for (int b = 0; b < B; ++b) {
    int lo = 0, hi = Tk;
    switch (rng.range(0, 4)) {
      case 0: hi = rng.range(1, Tk); break;                        // right padding
      case 1: lo = rng.range(0, Tk - 1); break;                    // left padding
      case 2: lo = rng.range(0, Tk - 1), hi = rng.range(lo + 1, Tk); break;
      case 3: lo = rng.range(0, Tk - 1), hi = lo + 1; break;       // one token
      default: break;                                              // no padding
    }
    (*begin)[b] = lo;
    (*end)[b] = hi;
  }
}

// The per-sequence tile math (attn_seq_*, and the backward's functions that take a sequence)
// against brute_visible, for every (sequence, query, key) of random calls: odd sizes, GQA packing,
// splits, causal / bidirectional / window / query_offset. Checks that every visible pair is in a
// tile its block visits exactly once, that an unmasked tile holds only visible pairs, that padding
// costs nothing (no visited forward tile and no backward key block lies wholly outside the
// sequence's tokens; an all-padding row block or key block has no work), and the row functions.
void self_check_seq_tiling() {
  Rng rng(2026);
  int trials = 0;
  long long pairs = 0;
  for (int t = 0; t < 2500; ++t) {
    AttentionParams p;
    p.B = rng.range(1, 4);
    p.Tq = rng.range(1, 45);
    p.Tk = rng.range(1, 61);
    p.Hq = 1, p.Hkv = 1;
    p.causal = rng.range(0, 1) == 1;
    p.window = rng.range(0, 2) == 0 ? 0 : rng.range(1, 25);
    p.query_offset = rng.range(0, 2) ? std::max(0, p.Tk - p.Tq) : rng.range(0, 60);
    std::vector<int> kb, ke;
    random_seq_ranges(rng, p.B, p.Tk, &kb, &ke);
    p.key_begin = kb.data();
    p.key_end = ke.data();
    const int group = rng.range(1, 3);
    const int br = 1 << rng.range(0, 4), bc = 1 << rng.range(0, 4);
    const int tqs = cuda::attn_tq_stride(p.Tq, br);
    const int rows_per_kv = group * tqs;
    int gt_lo, gt_hi;
    cuda::attn_global_tiles(p, bc, &gt_lo, &gt_hi);  // per call: the dispatcher's plan
    const int ntiles = gt_hi >= gt_lo ? gt_hi - gt_lo + 1 : 0;
    const int splits = rng.range(1, 4);
    const int tps = ntiles > 0 ? (ntiles + splits - 1) / splits : 1;
    const int nsplit = ntiles > 0 ? (ntiles + tps - 1) / tps : 1;
    for (int b = 0; b < p.B; ++b) {
      const std::string where = " (Tq " + std::to_string(p.Tq) + ", Tk " + std::to_string(p.Tk) + ", qo " +
                                std::to_string(p.query_offset) + ", causal " + std::to_string(p.causal) + ", window " +
                                std::to_string(p.window) + ", tokens [" + std::to_string(kb[b]) + ", " +
                                std::to_string(ke[b]) + "), br " + std::to_string(br) + ", bc " + std::to_string(bc) + ")";
      // rows: padding and visible range
      for (int i = 0; i < p.Tq; ++i) {
        const int pos = p.query_offset + i;
        const bool pad = pos < kb[b] || pos >= ke[b];
        self_expect(cuda::attn_row_is_padding(p, b, pos) == pad, "attn_row_is_padding" + where);
        int lo, hi;
        cuda::attn_seq_key_range(p, b, pos, &lo, &hi);
        bool any = false;
        for (int j = -1; j <= p.Tk; ++j) {
          const bool vis = brute_visible(p, kb[b], ke[b], pos, j);
          any |= vis;
          self_expect((j >= lo && j <= hi) == vis, "attn_seq_key_range vs brute force" + where);
          self_expect(cuda::attn_visible(p, b, pos, j) == vis, "attn_visible vs brute force" + where);
          ++pairs;
        }
        self_expect(any == !pad, "a token row sees a key, a padding row none" + where);
      }
      // forward: packed row blocks x splits
      for (int f0 = 0; f0 < rows_per_kv; f0 += br) {
        const int f1 = std::min(f0 + br, rows_per_kv) - 1;
        int i_min, i_max, u_lo, u_hi, fl, fh;
        cuda::attn_packed_i_range(f0, f1, tqs, p.Tq, &i_min, &i_max);
        cuda::attn_seq_block_key_ranges(p, b, p.query_offset + i_min, p.query_offset + i_max, &u_lo, &u_hi, &fl, &fh);
        std::vector<int> visits((size_t)(p.Tk + bc) / bc + 1, 0);
        for (int s = 0; s < nsplit; ++s) {
          int t_lo, t_hi;
          cuda::attn_block_tiles(u_lo, u_hi, bc, gt_lo, s, tps, &t_lo, &t_hi);
          for (int tt = t_lo; tt <= t_hi; ++tt) {
            self_expect(tt >= 0 && tt * bc < p.Tk, "visited tile outside [0, Tk)" + where);
            self_expect(tt * bc < ke[b] && (tt + 1) * bc > kb[b], "visited tile wholly outside the sequence's tokens" + where);
            if (tt >= 0 && tt < (int)visits.size()) visits[tt]++;
          }
        }
        bool any_token_row = false;
        for (int f = f0; f <= f1; ++f) {
          const int i = f % tqs, pos = p.query_offset + i;
          if (i >= p.Tq) continue;  // packing filler
          any_token_row |= pos >= kb[b] && pos < ke[b];
        }
        if (!any_token_row)
          for (int tt = 0; tt < (int)visits.size(); ++tt) self_expect(visits[tt] == 0, "all-padding row block visits a tile" + where);
        for (int f = f0; f <= f1; ++f) {
          const int i = f % tqs, pos = p.query_offset + i;
          if (i >= p.Tq) continue;
          for (int j = 0; j < p.Tk; ++j) {
            const bool vis = brute_visible(p, kb[b], ke[b], pos, j);
            const int tt = j / bc;
            if (vis) self_expect(visits[tt] == 1, "visible key in a tile visited " + std::to_string(visits[tt]) + " times" + where);
            if (!cuda::attn_tile_needs_mask(tt * bc, bc, fl, fh)) self_expect(vis, "unmasked tile holds an invisible pair" + where);
          }
          for (int tt = 0; tt * bc < p.Tk + bc; ++tt)
            if (!cuda::attn_tile_needs_mask(tt * bc, bc, fl, fh)) self_expect((tt + 1) * bc <= p.Tk, "unmasked tile past Tk" + where);
        }
      }
      // backward: key blocks x query tiles
      for (int k0 = 0; k0 < p.Tk; k0 += bc) {
        const int k1 = std::min(k0 + bc, p.Tk) - 1;
        int i_lo, i_hi;
        cuda::attn_query_range_for_keys(p, b, k0, k1, &i_lo, &i_hi);
        for (int i = 0; i < p.Tq; ++i)
          for (int j = k0; j <= k1; ++j)
            if (brute_visible(p, kb[b], ke[b], p.query_offset + i, j))
              self_expect(i >= i_lo && i <= i_hi, "bwd query range misses a row" + where);
        if (k1 < kb[b] || k0 >= ke[b]) self_expect(i_lo > i_hi, "bwd key block outside the sequence has rows" + where);
        for (int i = std::max(i_lo, 0); i <= i_hi; ++i)  // the range's rows are tokens of the sequence
          self_expect(p.query_offset + i >= kb[b] && p.query_offset + i < ke[b], "bwd query range holds a padding row" + where);
        for (int i0 = 0; i0 < p.Tq; i0 += br)
          if (!cuda::attn_bwd_tile_needs_mask(p, b, k0, bc, i0, br))
            for (int i = i0; i < i0 + br; ++i)
              for (int j = k0; j < k0 + bc; ++j)
                self_expect(brute_visible(p, kb[b], ke[b], p.query_offset + i, j) && i < p.Tq,
                            "bwd unmasked tile holds a masked pair" + where);
      }
    }
    ++trials;
  }
  printf("  per-sequence tile math: %d random calls (%lld (row, key) pairs) checked against brute force\n", trials, pairs);
}

// The reference's gradients against central finite differences of its forward.
void self_check_reference_grads() {
  std::vector<Case> cs;
  {
    Case c;
    c.name = "fd-rope-prefix-window";
    c.B = 1, c.Tq = 5, c.Tk = 7, c.Hq = 2, c.Hkv = 1, c.D = 6, c.window = 4, c.prefix = 2;
    c.pos = pos_yarn(2, 4, false, 8, 1, 0, 0, 4);
    cs.push_back(c);
    c.name = "fd-alibi-noncausal";
    c.causal = false, c.window = 0, c.prefix = 0, c.qo = 1;
    c.pos = pos_alibi(3);
    cs.push_back(c);
    c.name = "fd-padding-rope-window";  // per-sequence ranges: left, right, one token
    c.B = 3, c.causal = true, c.window = 3, c.qo = 2;
    c.pos = pos_rope();
    c.key_begin = {1, 0, 4}, c.key_end = {7, 5, 5};
    cs.push_back(c);
  }
  for (const Case& c : cs) {
    Rng rng(11);
    AttentionParams p = case_params(c, DType::F32);
    RefPos rp = ref_pos(c);
    const size_t nq = (size_t)c.B * c.Tq * c.Hq * c.D, nk = (size_t)c.B * c.Tk * c.Hkv * c.D;
    std::vector<double> q(nq), k(nk), v(nk), go(nq);
    for (auto* x : {&q, &go})
      for (auto& e : *x) e = rng.uniform(-1, 1);
    for (auto* x : {&k, &v})
      for (auto& e : *x) e = rng.uniform(-1, 1);
    RefOut r = reference(p, rp, q, k, v, &go);
    auto loss = [&](const std::vector<double>& qq, const std::vector<double>& kk, const std::vector<double>& vv) {
      RefOut f = reference(p, rp, qq, kk, vv, nullptr);
      double L = 0;
      for (size_t i = 0; i < nq; ++i) L += f.o[i] * go[i];
      return L;
    };
    double worst = 0;
    auto fd = [&](std::vector<double>& x, const std::vector<double>& grad, int which) {
      for (size_t i = 0; i < x.size(); ++i) {
        const double h = 1e-5, x0 = x[i];
        x[i] = x0 + h;
        double lp = which == 0 ? loss(x, k, v) : which == 1 ? loss(q, x, v) : loss(q, k, x);
        x[i] = x0 - h;
        double lm = which == 0 ? loss(x, k, v) : which == 1 ? loss(q, x, v) : loss(q, k, x);
        x[i] = x0;
        worst = std::max(worst, std::fabs((lp - lm) / (2 * h) - grad[i]));
      }
    };
    std::vector<double> qc = q, kc = k, vc = v;
    fd(qc, r.dq, 0);
    fd(kc, r.dk, 1);
    fd(vc, r.dv, 2);
    self_expect(worst < 1e-7, c.name + ": reference gradient vs finite differences: " + std::to_string(worst));
    printf("  reference gradients (%s): max |analytic - finite difference| = %.2e\n", c.name.c_str(), worst);
  }
}

// reference() (blocked, threaded: the long cases) against reference_simple on every short case,
// and on one case large enough for several threads: the same sums in the same order, so equal.
void self_check_reference_blocked() {
  std::vector<Case> cs = all_cases();
  {
    Case c;
    c.name = "threads";
    c.B = 2, c.Tq = 200, c.Tk = 260, c.Hq = 4, c.Hkv = 2, c.D = 64, c.window = 150;
    c.pos = pos_yarn(4, 64, true, 32, 1);
    cs.push_back(c);
  }
  double worst = 0;
  for (const Case& c : cs) {
    AttentionParams p = case_params(c, DType::F32);
    RefPos rp = ref_pos(c);
    Rng rng(std::hash<std::string>()(c.name));
    const size_t nq = (size_t)c.B * c.Tq * c.Hq * c.D, nk = (size_t)c.B * c.Tk * c.Hkv * c.D;
    std::vector<double> q(nq), k(nk), v(nk), go(nq);
    for (auto* x : {&q, &k, &v, &go})
      for (auto& e : *x) e = rng.uniform(-2, 2);
    RefOut a = reference_simple(p, rp, q, k, v, &go), b = reference(p, rp, q, k, v, &go, c.name == "threads" ? 4 : 0);
    double w = 0;
    auto cmp = [&](const std::vector<double>& x, const std::vector<double>& y) {
      if (x.size() != y.size()) return (void)(w = INFINITY);
      for (size_t i = 0; i < x.size(); ++i)
        if (!(x[i] == y[i])) w = std::max(w, std::isfinite(x[i]) && std::isfinite(y[i]) ? std::fabs(x[i] - y[i]) : INFINITY);
    };
    cmp(a.o, b.o), cmp(a.lse, b.lse), cmp(a.dq, b.dq), cmp(a.dk, b.dk), cmp(a.dv, b.dv);
    self_expect(w <= 1e-12, c.name + ": blocked reference differs from the plain one by " + std::to_string(w));
    worst = std::max(worst, w);
  }
  printf("  blocked + threaded reference vs plain (%zu cases): max |difference| = %.1e\n", cs.size(), worst);
}

// The f32 tables of resolve_positional agree with the reference's float64 rotation, and the
// angle composition the tensor-core kernels use (row t0 of the table times rows 0..63 divided by
// the attention factor) reproduces the table rows.
void self_check_rope_tables() {
  std::vector<PositionalConfig> cfgs = {pos_rope(), pos_yarn(8, 2048, false, 32, 1), pos_rope(RopeScalingType::Ntk, 4),
                                        pos_yarn(4, 4096, true, 32, 1, 1.0, 0.7)};
  double worst_tab = 0, worst_comp = 0;
  for (const auto& cfg : cfgs) {
    const int D = 128, T = 20000;
    ResolvedPositional rp = resolve_positional(cfg, 1, D, T, T, 0);
    ResolvedRope rr = resolve_rope(cfg, D, T);
    const int half = rp.rotary_dim / 2;
    const float A = rp.rope_cos[0];
    for (int pos : {0, 1, 63, 64, 1000, 4097, 12345, 19999}) {
      for (int i = 0; i < half; ++i) {
        const double a = pos * rr.inv_freq[i];
        worst_tab = std::max(worst_tab, std::fabs(rp.rope_cos[(size_t)pos * half + i] - std::cos(a) * rr.attention_factor));
        worst_tab = std::max(worst_tab, std::fabs(rp.rope_sin[(size_t)pos * half + i] - std::sin(a) * rr.attention_factor));
      }
    }
    for (int t0 : {0, 64, 4096, 16320, 19904}) {
      for (int r = 0; r < 64 && t0 + r < T; ++r) {
        for (int i = 0; i < half; ++i) {
          const float cb = rp.rope_cos[(size_t)t0 * half + i], sb = rp.rope_sin[(size_t)t0 * half + i];
          const float co = rp.rope_cos[(size_t)r * half + i] * (1.f / A), so = rp.rope_sin[(size_t)r * half + i] * (1.f / A);
          const float c = cb * co - sb * so, s = sb * co + cb * so;
          worst_comp = std::max(worst_comp, (double)std::fabs(c - rp.rope_cos[(size_t)(t0 + r) * half + i]));
          worst_comp = std::max(worst_comp, (double)std::fabs(s - rp.rope_sin[(size_t)(t0 + r) * half + i]));
        }
      }
    }
  }
  self_expect(worst_tab < 1e-6, "rope tables vs float64: " + std::to_string(worst_tab));
  self_expect(worst_comp < 2e-6, "rope angle composition vs table: " + std::to_string(worst_comp));
  printf("  rope tables vs float64: %.2e; angle composition vs table rows: %.2e\n", worst_tab, worst_comp);
}


// ---- fragment emulation (host) -------------------------------------------------------------------
// ldmatrix.x4 and mma.m16n8k16 emulated from their PTX definitions, driven by the same address
// helpers (attention_device.cuh) and loop structure as the tensor-core kernels: checks the
// fragment bookkeeping of every product of the forward and the backward without a GPU.
using Reg = std::array<float, 2>;   // a 32-bit register: two 16-bit elements (lo = lower column)
using Frag = std::array<Reg, 4>;    // one lane's x4 result / A operand
using WarpFrag = std::array<Frag, 32>;
using WarpAcc = std::array<std::array<float, 4>, 32>;

template <typename AddrFn>  // AddrFn(lane) -> element offset of the 8-element row that lane points at
WarpFrag emu_ldsm(const std::vector<float>& sm, AddrFn addr, bool trans) {
  WarpFrag out{};
  for (int mi = 0; mi < 4; ++mi) {
    int rows[8];
    for (int r = 0; r < 8; ++r) rows[r] = addr(8 * mi + r);
    for (int lane = 0; lane < 32; ++lane)
      for (int e = 0; e < 2; ++e)
        out[lane][mi][e] = trans ? sm[rows[2 * (lane % 4) + e] + lane / 4] : sm[rows[lane / 4] + 2 * (lane % 4) + e];
  }
  return out;
}

// C += A B for one m16n8k16; b0 / b1 are register indices into bfrag (per lane).
void emu_mma(WarpAcc& c, const WarpFrag& a, const WarpFrag& bfrag, int b0, int b1) {
  double A[16][16], Bm[16][8];
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane / 4, t = lane % 4;
    for (int e = 0; e < 2; ++e) {
      A[g][2 * t + e] = a[lane][0][e];
      A[g + 8][2 * t + e] = a[lane][1][e];
      A[g][2 * t + 8 + e] = a[lane][2][e];
      A[g + 8][2 * t + 8 + e] = a[lane][3][e];
      Bm[2 * t + e][g] = bfrag[lane][b0][e];
      Bm[2 * t + 8 + e][g] = bfrag[lane][b1][e];
    }
  }
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane / 4, t = lane % 4;
    for (int e = 0; e < 4; ++e) {
      const int row = g + 8 * (e >> 1), col = 2 * t + (e & 1);
      double acc = 0;
      for (int kk = 0; kk < 16; ++kk) acc += A[row][kk] * Bm[kk][col];
      c[lane][e] += (float)acc;
    }
  }
}

// The kernels' packing of accumulators (n-blocks 2kc, 2kc+1) into an A operand.
WarpFrag emu_pack_a(const std::vector<WarpAcc>& acc, int kc) {
  WarpFrag a{};
  for (int lane = 0; lane < 32; ++lane) {
    a[lane][0] = {acc[2 * kc][lane][0], acc[2 * kc][lane][1]};
    a[lane][1] = {acc[2 * kc][lane][2], acc[2 * kc][lane][3]};
    a[lane][2] = {acc[2 * kc + 1][lane][0], acc[2 * kc + 1][lane][1]};
    a[lane][3] = {acc[2 * kc + 1][lane][2], acc[2 * kc + 1][lane][3]};
  }
  return a;
}

// Accumulator element (lane, n-block nb, e) as (row, col) of the product, rows offset by m0.
void acc_pos(int lane, int nb, int e, int m0, int* row, int* col) {
  *row = m0 + lane / 4 + 8 * (e >> 1);
  *col = nb * 8 + 2 * (lane % 4) + (e & 1);
}

double g_emu_worst = 0;
void emu_expect(double got, double want, const char* what) {
  const double err = std::fabs(got - want) / std::max(1.0, std::fabs(want));
  g_emu_worst = std::max(g_emu_worst, err);
  if (err > 1e-4) self_expect(false, std::string("fragment emulation: ") + what + ": got " + std::to_string(got) + ", want " + std::to_string(want));
}

std::vector<float> emu_matrix(int rows, int cols, Rng& rng) {
  std::vector<float> m((size_t)rows * cols);
  for (auto& x : m) x = (float)rng.range(-4, 4) * 0.25f;
  return m;
}
template <int D>
std::vector<float> emu_swizzle(const std::vector<float>& m, int rows) {
  std::vector<float> s((size_t)rows * D);
  for (int r = 0; r < rows; ++r)
    for (int d = 0; d < D; ++d) s[cuda::attn::swz_elem<D>(r, d)] = m[(size_t)r * D + d];
  return s;
}

template <int D>
void emu_check_forward(Rng& rng) {
  using namespace cuda::attn;
  constexpr int Br = 128, Bc = 64, KD = D / 16, NB = Bc / 8, NO = D / 8;
  auto Q = emu_matrix(Br, D, rng), K = emu_matrix(Bc, D, rng), V = emu_matrix(Bc, D, rng);
  auto sQ = emu_swizzle<D>(Q, Br), sK = emu_swizzle<D>(K, Bc), sV = emu_swizzle<D>(V, Bc);
  for (int warp : {0, 5, 7}) {
    std::vector<WarpFrag> qf(KD);
    for (int kc = 0; kc < KD; ++kc)
      qf[kc] = emu_ldsm(sQ, [&](int lane) { int r, c; lm_a_mk(lane, warp * 16, kc, &r, &c); return swz<D>(r, c); }, false);
    std::vector<WarpAcc> s(NB, WarpAcc{});
    for (int kc = 0; kc < KD; ++kc)
      for (int np = 0; np < NB / 2; ++np) {
        WarpFrag kb = emu_ldsm(sK, [&](int lane) { int r, c; lm_b_nk(lane, np * 16, kc, &r, &c); return swz<D>(r, c); }, false);
        emu_mma(s[2 * np], qf[kc], kb, 0, 1);
        emu_mma(s[2 * np + 1], qf[kc], kb, 2, 3);
      }
    std::vector<double> S((size_t)Br * Bc, 0);
    for (int lane = 0; lane < 32; ++lane)
      for (int nb = 0; nb < NB; ++nb)
        for (int e = 0; e < 4; ++e) {
          int row, col;
          acc_pos(lane, nb, e, warp * 16, &row, &col);
          double want = 0;
          for (int d = 0; d < D; ++d) want += (double)Q[(size_t)row * D + d] * K[(size_t)col * D + d];
          emu_expect(s[nb][lane][e], want, "fwd S = Q K^T");
          S[(size_t)row * Bc + col] = s[nb][lane][e];
        }
    std::vector<WarpAcc> o(NO, WarpAcc{});
    for (int kc = 0; kc < Bc / 16; ++kc) {
      WarpFrag pa = emu_pack_a(s, kc);
      for (int dp = 0; dp < D / 16; ++dp) {
        WarpFrag vb = emu_ldsm(sV, [&](int lane) { int r, c; lm_b_kn(lane, kc * 16, dp, &r, &c); return swz<D>(r, c); }, true);
        emu_mma(o[2 * dp], pa, vb, 0, 1);
        emu_mma(o[2 * dp + 1], pa, vb, 2, 3);
      }
    }
    for (int lane = 0; lane < 32; ++lane)
      for (int nd = 0; nd < NO; ++nd)
        for (int e = 0; e < 4; ++e) {
          int row, col;
          acc_pos(lane, nd, e, warp * 16, &row, &col);
          double want = 0;
          for (int j = 0; j < Bc; ++j) want += S[(size_t)row * Bc + j] * V[(size_t)j * D + col];
          emu_expect(o[nd][lane][e], want, "fwd O = P V");
        }
  }
}

template <int D>
void emu_check_backward(Rng& rng) {
  using namespace cuda::attn;
  constexpr int Bc = 128, Br = D == 128 ? 32 : 64, DSS = Br + 8, KD = D / 16, NBQ = Br / 8, NO = D / 8, NW = 8;
  constexpr int MT = Br / 16, DW = D * MT / NW;
  auto K = emu_matrix(Bc, D, rng), V = emu_matrix(Bc, D, rng), Q = emu_matrix(Br, D, rng), dO = emu_matrix(Br, D, rng);
  auto sK = emu_swizzle<D>(K, Bc), sV = emu_swizzle<D>(V, Bc), sQ = emu_swizzle<D>(Q, Br), sdO = emu_swizzle<D>(dO, Br);
  std::vector<float> sDS((size_t)Bc * DSS, 0.f);
  std::vector<double> DS((size_t)Bc * Br, 0);  // dS^T as stored
  for (int warp = 0; warp < NW; ++warp) {
    std::vector<WarpAcc> st(NBQ, WarpAcc{}), dpt(NBQ, WarpAcc{}), dv(NO, WarpAcc{}), dk(NO, WarpAcc{});
    for (int kc = 0; kc < KD; ++kc) {
      WarpFrag ka = emu_ldsm(sK, [&](int lane) { int r, c; lm_a_mk(lane, warp * 16, kc, &r, &c); return swz<D>(r, c); }, false);
      WarpFrag va = emu_ldsm(sV, [&](int lane) { int r, c; lm_a_mk(lane, warp * 16, kc, &r, &c); return swz<D>(r, c); }, false);
      for (int np = 0; np < NBQ / 2; ++np) {
        WarpFrag qb = emu_ldsm(sQ, [&](int lane) { int r, c; lm_b_nk(lane, np * 16, kc, &r, &c); return swz<D>(r, c); }, false);
        emu_mma(st[2 * np], ka, qb, 0, 1);
        emu_mma(st[2 * np + 1], ka, qb, 2, 3);
        WarpFrag ob = emu_ldsm(sdO, [&](int lane) { int r, c; lm_b_nk(lane, np * 16, kc, &r, &c); return swz<D>(r, c); }, false);
        emu_mma(dpt[2 * np], va, ob, 0, 1);
        emu_mma(dpt[2 * np + 1], va, ob, 2, 3);
      }
    }
    std::vector<double> ST((size_t)Bc * Br, 0), DP((size_t)Bc * Br, 0);
    for (int lane = 0; lane < 32; ++lane)
      for (int nb = 0; nb < NBQ; ++nb)
        for (int e = 0; e < 4; ++e) {
          int key, q;
          acc_pos(lane, nb, e, warp * 16, &key, &q);
          double w1 = 0, w2 = 0;
          for (int d = 0; d < D; ++d) {
            w1 += (double)K[(size_t)key * D + d] * Q[(size_t)q * D + d];
            w2 += (double)V[(size_t)key * D + d] * dO[(size_t)q * D + d];
          }
          emu_expect(st[nb][lane][e], w1, "bwd S^T = K Q^T");
          emu_expect(dpt[nb][lane][e], w2, "bwd dP^T = V dO^T");
          ST[(size_t)key * Br + q] = st[nb][lane][e];
          DP[(size_t)key * Br + q] = dpt[nb][lane][e];
        }
    for (int kc = 0; kc < Br / 16; ++kc) {
      WarpFrag pa = emu_pack_a(st, kc), da = emu_pack_a(dpt, kc);  // dS^T := dP^T here (any values do)
      for (int dp = 0; dp < D / 16; ++dp) {
        WarpFrag ob = emu_ldsm(sdO, [&](int lane) { int r, c; lm_b_kn(lane, kc * 16, dp, &r, &c); return swz<D>(r, c); }, true);
        emu_mma(dv[2 * dp], pa, ob, 0, 1);
        emu_mma(dv[2 * dp + 1], pa, ob, 2, 3);
        WarpFrag qb = emu_ldsm(sQ, [&](int lane) { int r, c; lm_b_kn(lane, kc * 16, dp, &r, &c); return swz<D>(r, c); }, true);
        emu_mma(dk[2 * dp], da, qb, 0, 1);
        emu_mma(dk[2 * dp + 1], da, qb, 2, 3);
      }
      for (int lane = 0; lane < 32; ++lane) {  // the kernel's dS^T store: rows g, g + 8; queries 16 kc + 2 tg (+8)
        const int g = lane / 4, tg = lane % 4;
        const size_t r0 = (size_t)(warp * 16 + g) * DSS + kc * 16 + tg * 2, r1 = (size_t)(warp * 16 + g + 8) * DSS + kc * 16 + tg * 2;
        for (int e = 0; e < 2; ++e) {
          sDS[r0 + e] = da[lane][0][e];
          sDS[r1 + e] = da[lane][1][e];
          sDS[r0 + 8 + e] = da[lane][2][e];
          sDS[r1 + 8 + e] = da[lane][3][e];
        }
      }
    }
    for (int lane = 0; lane < 32; ++lane)
      for (int nd = 0; nd < NO; ++nd)
        for (int e = 0; e < 4; ++e) {
          int key, dim;
          acc_pos(lane, nd, e, warp * 16, &key, &dim);
          double w1 = 0, w2 = 0;
          for (int q = 0; q < Br; ++q) {
            w1 += ST[(size_t)key * Br + q] * dO[(size_t)q * D + dim];
            w2 += DP[(size_t)key * Br + q] * Q[(size_t)q * D + dim];
          }
          emu_expect(dv[nd][lane][e], w1, "bwd dV = P^T dO");
          emu_expect(dk[nd][lane][e], w2, "bwd dK = dS^T Q");
        }
    for (int key = warp * 16; key < warp * 16 + 16; ++key)
      for (int q = 0; q < Br; ++q) DS[(size_t)key * Br + q] = DP[(size_t)key * Br + q];
  }
  for (int key = 0; key < Bc; ++key)
    for (int q = 0; q < Br; ++q) emu_expect(sDS[(size_t)key * DSS + q], DS[(size_t)key * Br + q], "bwd dS^T store");
  for (int warp = 0; warp < NW; ++warp) {
    const int mt = warp % MT, nq = warp / MT;
    std::vector<WarpAcc> dq(4, WarpAcc{});
    for (int kc = 0; kc < Bc / 16; ++kc) {
      WarpFrag da = emu_ldsm(sDS, [&](int lane) { int r, c; cuda::attn::lm_a_km(lane, kc * 16, mt * 16, &r, &c); return r * DSS + c; }, true);
      for (int dp = 0; dp < 2; ++dp) {
        WarpFrag kb = emu_ldsm(sK, [&](int lane) { int r, c; lm_b_kn(lane, kc * 16, nq * 2 + dp, &r, &c); return swz<D>(r, c); }, true);
        emu_mma(dq[2 * dp], da, kb, 0, 1);
        emu_mma(dq[2 * dp + 1], da, kb, 2, 3);
      }
    }
    for (int lane = 0; lane < 32; ++lane)
      for (int nb = 0; nb < 4; ++nb)
        for (int e = 0; e < 4; ++e) {
          int q, dim;
          acc_pos(lane, nb, e, mt * 16, &q, &dim);
          dim += nq * DW;
          double want = 0;
          for (int key = 0; key < Bc; ++key) want += DS[(size_t)key * Br + q] * K[(size_t)key * D + dim];
          emu_expect(dq[nb][lane][e], want, "bwd dQ = dS K");
        }
  }
}

// Argument checks of the entry points: they throw ERR_ARG before touching the device.
void self_check_validation() {
  auto expect_arg = [&](const char* what, const std::function<void(AttentionParams&)>& mutate) {
    AttentionParams p;
    p.B = 1, p.Tq = 4, p.Tk = 4, p.Hq = 2, p.Hkv = 1, p.D = 64, p.dtype = DType::BF16;
    static float dummy[64];
    p.q = p.k = p.v = p.o = dummy;
    p.lse = dummy;
    mutate(p);
    std::string code = "none";
    try {
      cuda::attention_forward(p, nullptr, nullptr, 0);
    } catch (const Error& e) {
      code = e.code();
    }
    self_expect(code == "ERR_ARG", std::string("validation: ") + what + ": expected ERR_ARG, got " + code);
  };
  expect_arg("odd head dim", [](AttentionParams& p) { p.D = 63; });
  expect_arg("head dim > 256", [](AttentionParams& p) { p.D = 258; });
  expect_arg("Hq % Hkv", [](AttentionParams& p) { p.Hq = 3, p.Hkv = 2; });
  expect_arg("null q", [](AttentionParams& p) { p.q = nullptr; });
  expect_arg("alibi without slopes", [](AttentionParams& p) { p.pos_type = PositionalType::Alibi; });
  expect_arg("rope without tables", [](AttentionParams& p) { p.pos_type = PositionalType::Rope, p.rotary_dim = 64, p.rope_positions = 4; });
  expect_arg("rope table too short", [](AttentionParams& p) {
    static float t[64];
    p.pos_type = PositionalType::Rope, p.rotary_dim = 64, p.rope_positions = 3, p.rope_cos = t, p.rope_sin = t;
  });
  expect_arg("odd rotary dim", [](AttentionParams& p) {
    static float t[64];
    p.pos_type = PositionalType::Rope, p.rotary_dim = 7, p.rope_positions = 4, p.rope_cos = t, p.rope_sin = t;
  });
  expect_arg("Tk = 0", [](AttentionParams& p) { p.Tk = 0; });
  expect_arg("key_begin without key_end", [](AttentionParams& p) {
    static int begin[1] = {0};
    p.key_begin = begin;
  });
  expect_arg("key_end without key_begin", [](AttentionParams& p) {
    static int end[1] = {4};
    p.key_end = end;
  });
  printf("  argument validation: 11 invalid parameter sets rejected with ERR_ARG\n");
}

void self_check_fragments() {
  Rng rng(3);
  emu_check_forward<64>(rng);
  emu_check_forward<128>(rng);
  emu_check_backward<64>(rng);
  emu_check_backward<128>(rng);
  printf("  tensor-core fragment emulation (fwd QK/PV, bwd S^T/dP^T/dV/dK/dS^T store/dQ; D = 64, 128): worst rel err %.1e\n",
         g_emu_worst);
}

int run_self_check() {
  printf("== self-check (host only)\n");
  self_check_tiling();
  self_check_seq_tiling();
  self_check_reference_grads();
  self_check_reference_blocked();
  self_check_rope_tables();
  self_check_fragments();
  self_check_validation();
  printf("  %s\n", g_self_fail ? "SELF-CHECK FAILED" : "self-check passed");
  return g_self_fail ? 1 : 0;
}

// ---- GPU -------------------------------------------------------------------------------------------
struct DevBuf {
  void* p = nullptr;
  size_t n = 0;
  DevBuf() = default;
  explicit DevBuf(size_t bytes) { alloc(bytes); }
  void alloc(size_t bytes) {
    free_();
    n = bytes;
    if (bytes) check_cuda(cudaMalloc(&p, bytes), "cudaMalloc");
  }
  void free_() {
    if (p) cudaFree(p);
    p = nullptr;
    n = 0;
  }
  ~DevBuf() { free_(); }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  void poison() {
    if (n) check_cuda(cudaMemset(p, 0xFF, n), "cudaMemset(poison)");
  }
  void upload(const void* src, size_t bytes) { check_cuda(cudaMemcpy(p, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy H2D"); }
  std::vector<uint8_t> download() const {
    std::vector<uint8_t> h(n);
    if (n) check_cuda(cudaMemcpy(h.data(), p, n, cudaMemcpyDeviceToHost), "cudaMemcpy D2H");
    return h;
  }
};

std::vector<double> to_doubles(DType dt, const std::vector<uint8_t>& bits) {
  const size_t es = dtype_size(dt), n = bits.size() / es;
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = from_bits(dt, bits.data() + i * es);
  return out;
}

// max |got - ref| / max |ref|; +inf when an element is NaN/inf where the reference is finite.
double norm_err(const std::vector<double>& got, const std::vector<double>& ref) {
  double mx = 0, err = 0;
  for (size_t i = 0; i < ref.size(); ++i) mx = std::max(mx, std::fabs(ref[i]));
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    err = std::max(err, std::fabs(got[i] - ref[i]));
  }
  return err / std::max(mx, 1e-30);
}
double abs_err(const std::vector<double>& got, const std::vector<double>& ref) {
  double err = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::isinf(ref[i]) && got[i] == ref[i]) continue;
    if (!std::isfinite(got[i])) return INFINITY;
    err = std::max(err, std::fabs(got[i] - ref[i]));
  }
  return err;
}

struct Tol {
  double o, lse, grad;
};
Tol tol_for(DType dt) {
  switch (dt) {
    case DType::F32: return {2e-5, 1e-4, 1e-4};
    case DType::F16: return {6e-3, 1e-2, 1.5e-2};
    case DType::BF16: return {3e-2, 6e-2, 6e-2};
  }
  return {0, 0, 0};
}

int g_fail = 0, g_runs = 0;

void report(const std::string& name, DType dt, const std::string& path, double eo, double el, double edq, double edk,
            double edv, bool bwd) {
  Tol t = tol_for(dt);
  bool ok = eo <= t.o && el <= t.lse && (!bwd || (edq <= t.grad && edk <= t.grad && edv <= t.grad));
  ++g_runs;
  if (!ok) ++g_fail;
  char gq[32] = "-", gk[32] = "-", gv[32] = "-";
  if (bwd) {
    snprintf(gq, sizeof gq, "%.2e", edq);
    snprintf(gk, sizeof gk, "%.2e", edk);
    snprintf(gv, sizeof gv, "%.2e", edv);
  }
  printf("%-26s | %-4s | %-22s | %.2e | %.2e | %9s | %9s | %9s | %s\n", name.c_str(), dtype_name(dt), path.c_str(), eo, el,
         gq, gk, gv, ok ? "ok" : "FAIL");
  fflush(stdout);
}

void run_case(const Case& c, DType dt, cudaStream_t st) {
  AttentionParams p = case_params(c, dt);
  const int qo = p.query_offset;
  ResolvedPositional rpos = resolve_positional(c.pos, c.Hq, c.D, c.Tq, c.Tk, qo);
  RefPos rp = ref_pos(c);
  DevBuf d_slopes, d_cos, d_sin;
  if (c.pos.type == PositionalType::Alibi) {
    d_slopes.alloc(rpos.slopes.size() * 4);
    d_slopes.upload(rpos.slopes.data(), rpos.slopes.size() * 4);
    p.alibi_slopes = (const float*)d_slopes.p;
  } else if (c.pos.type == PositionalType::Rope) {
    d_cos.alloc(rpos.rope_cos.size() * 4);
    d_sin.alloc(rpos.rope_sin.size() * 4);
    d_cos.upload(rpos.rope_cos.data(), rpos.rope_cos.size() * 4);
    d_sin.upload(rpos.rope_sin.data(), rpos.rope_sin.size() * 4);
    p.rotary_dim = rpos.rotary_dim;
    p.rope_positions = rpos.rope_positions;
    p.rope_cos = (const float*)d_cos.p;
    p.rope_sin = (const float*)d_sin.p;
  }

  Rng rng(std::hash<std::string>()(c.name) ^ (uint64_t)dt * 1315423911ull);
  const size_t nq = (size_t)c.B * c.Tq * c.Hq * c.D, nk = (size_t)c.B * c.Tk * c.Hkv * c.D;
  HostTensor q = random_tensor(nq, dt, 2.0, rng), k = random_tensor(nk, dt, 2.0, rng), v = random_tensor(nk, dt, 1.0, rng),
             go = random_tensor(nq, dt, 1.0, rng);
  RefOut ref = reference(p, rp, q.val, k.val, v.val, &go.val);  // p's ranges are host pointers here
  DevBuf d_kb, d_ke;
  if (p.key_begin) {
    d_kb.alloc((size_t)c.B * sizeof(int));
    d_ke.alloc((size_t)c.B * sizeof(int));
    d_kb.upload(c.key_begin.data(), (size_t)c.B * sizeof(int));
    d_ke.upload(c.key_end.data(), (size_t)c.B * sizeof(int));
    p.key_begin = (const int*)d_kb.p;
    p.key_end = (const int*)d_ke.p;
  }

  const size_t es = dtype_size(dt);
  DevBuf dq_in(nq * es), dk_in(nk * es), dv_in(nk * es), dgo(nq * es), d_o(nq * es), d_lse((size_t)c.B * c.Hq * c.Tq * 4),
      d_dq(nq * es), d_dk(nk * es), d_dv(nk * es);
  dq_in.upload(q.bits.data(), nq * es);
  dk_in.upload(k.bits.data(), nk * es);
  dv_in.upload(v.bits.data(), nk * es);
  dgo.upload(go.bits.data(), nq * es);
  p.q = dq_in.p, p.k = dk_in.p, p.v = dv_in.p, p.o = d_o.p, p.lse = (float*)d_lse.p;

  // Outputs of one path, kept for the tensor-core vs SIMT comparison below.
  struct Outs {
    std::vector<double> o, lse, dq, dk, dv;
  };
  auto run_fwd = [&](int flags, bool decode, bool own_ws, std::string* path, Outs* keep = nullptr) {
    cuda::attention_set_path_override(flags);
    *path = decode ? std::string("decode(") + cuda::attention_forward_path(p) + ")" : cuda::attention_forward_path(p);
    d_o.poison();
    d_lse.poison();
    if (decode) {
      DevBuf ws(cuda::attention_decode_workspace_bytes(p));
      ws.poison();
      cuda::attention_decode(p, st, ws.p);
      check_cuda(cudaStreamSynchronize(st), "sync");
    } else if (own_ws) {
      size_t bytes = cuda::attention_forward_workspace_bytes(p);
      DevBuf ws(bytes);
      ws.poison();
      cuda::attention_forward(p, st, ws.p, bytes);
      check_cuda(cudaStreamSynchronize(st), "sync");
    } else {
      cuda::attention_forward(p, st);
      check_cuda(cudaStreamSynchronize(st), "sync");
    }
    auto o = to_doubles(dt, d_o.download());
    auto lse = to_doubles(DType::F32, d_lse.download());
    auto errs = std::make_pair(norm_err(o, ref.o), abs_err(lse, ref.lse));
    if (keep) keep->o = std::move(o), keep->lse = std::move(lse);
    return errs;
  };
  auto run_bwd = [&](int flags, bool recompute, double* e, Outs* keep = nullptr) {
    cuda::attention_set_path_override(flags);
    AttentionBwdParams bp;
    static_cast<AttentionParams&>(bp) = p;
    if (recompute) {
      bp.o = nullptr;
      bp.lse = nullptr;
    }
    bp.dout = dgo.p, bp.dq = d_dq.p, bp.dk = d_dk.p, bp.dv = d_dv.p;
    d_dq.poison();
    d_dk.poison();
    d_dv.poison();
    size_t bytes = cuda::attention_backward_workspace_bytes(bp);
    DevBuf ws(bytes);
    ws.poison();
    cuda::attention_backward(bp, st, ws.p, bytes);
    check_cuda(cudaStreamSynchronize(st), "sync");
    auto dq = to_doubles(dt, d_dq.download()), dk = to_doubles(dt, d_dk.download()), dv = to_doubles(dt, d_dv.download());
    e[0] = norm_err(dq, ref.dq);
    e[1] = norm_err(dk, ref.dk);
    e[2] = norm_err(dv, ref.dv);
    if (keep) keep->dq = std::move(dq), keep->dk = std::move(dk), keep->dv = std::move(dv);
  };

  struct Run {
    int flags;
    bool bwd;
    const char* tag;
  };
  const bool mma_possible = (dt != DType::F32) && (c.D == 64 || c.D == 128);
  std::vector<Run> runs = {{0, true, ""}, {cuda::kPathNoSplit, false, " nosplit"}, {cuda::kPathSplit, false, " split"}};
  if (mma_possible) {
    runs.push_back({cuda::kPathSimt, true, " forced"});
    runs.push_back({cuda::kPathSimt | cuda::kPathSplit, false, " forced"});
  }
  Outs auto_out, simt_out;  // the automatic path (tensor cores where they apply) and forced SIMT
  std::string auto_path;
  for (const Run& r : runs) {
    std::string path;
    try {
      Outs* keep = !mma_possible ? nullptr : r.flags == 0 ? &auto_out : r.flags == cuda::kPathSimt ? &simt_out : nullptr;
      auto [eo, el] = run_fwd(r.flags, false, true, &path, keep);
      double e[3] = {0, 0, 0};
      // the backward reads o / lse of the forward just run
      if (r.bwd) run_bwd(r.flags, false, e, keep);
      if (r.flags == 0) auto_path = path;
      report(c.name, dt, path + r.tag, eo, el, e[0], e[1], e[2], r.bwd);
    } catch (const Error& err) {
      ++g_runs;
      ++g_fail;
      printf("%-26s | %-4s | %-22s | ERROR %s: %s\n", c.name.c_str(), dtype_name(dt), path.c_str(), err.code().c_str(), err.what());
    }
  }
  // The two paths against each other (same inputs, same launch shapes): they must agree as
  // closely as each agrees with the float64 reference. Relative to max |SIMT output|.
  if (!auto_out.o.empty() && !simt_out.o.empty() && !auto_out.dq.empty() && !simt_out.dq.empty())
    report(c.name, dt, auto_path + " vs simt", norm_err(auto_out.o, simt_out.o), abs_err(auto_out.lse, simt_out.lse),
           norm_err(auto_out.dq, simt_out.dq), norm_err(auto_out.dk, simt_out.dk), norm_err(auto_out.dv, simt_out.dv), true);
  try {  // stream-ordered internal workspaces, and the backward that recomputes the forward
    std::string path;
    auto [eo, el] = run_fwd(0, false, false, &path);
    double e[3];
    run_bwd(0, true, e);
    report(c.name, dt, path + " own-ws+recompute", eo, el, e[0], e[1], e[2], true);
  } catch (const Error& err) {
    ++g_runs;
    ++g_fail;
    printf("%-26s | %-4s | own-ws+recompute | ERROR %s: %s\n", c.name.c_str(), dtype_name(dt), err.code().c_str(), err.what());
  }
  if (c.Tq <= 16) {
    for (int flags : {0, mma_possible ? cuda::kPathSimt : -1}) {
      if (flags < 0) continue;
      std::string path;
      try {
        auto [eo, el] = run_fwd(flags, true, true, &path);
        report(c.name, dt, path, eo, el, 0, 0, 0, false);
      } catch (const Error& err) {
        ++g_runs;
        ++g_fail;
        printf("%-26s | %-4s | decode | ERROR %s: %s\n", c.name.c_str(), dtype_name(dt), err.code().c_str(), err.what());
      }
    }
  }
  cuda::attention_set_path_override(0);
}

// ---- benchmark -------------------------------------------------------------------------------------
__global__ void init_kernel(uint16_t* p, size_t n, uint32_t seed, float amp) {
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    uint32_t x = (uint32_t)i * 2654435761u ^ seed;
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    float u = ((x >> 8) + 0.5f) * (1.0f / 16777216.0f);  // (0, 1), never 0
    float val = amp * (2.f * u - 1.f);
    if (val == 0.f) val = amp * 1e-3f;
    __nv_bfloat16 b = __float2bfloat16_rn(val);
    p[i] = *reinterpret_cast<uint16_t*>(&b);
  }
}

int run_bench(cudaStream_t st) {
  cudaDeviceProp prop;
  int dev = 0;
  check_cuda(cudaGetDevice(&dev), "cudaGetDevice");
  check_cuda(cudaGetDeviceProperties(&prop, dev), "cudaGetDeviceProperties");
  const int H = 16, D = 128, tokens = 16384;
  printf("== bench: %s, bf16, D=%d, H=%d, B*T=%d; FLOPs fwd = 4*B*H*T*T*D (/2 causal; window: exact visible pairs), "
         "fwd+bwd = 3.5x fwd\n",
         prop.name, D, H, tokens);
  printf("%-9s | %-6s | %5s | %3s | %-10s | %9s | %11s | %9s | %11s\n", "scheme", "causal", "T", "B", "path", "fwd ms",
         "fwd TFLOP/s", "f+b ms", "f+b TFLOP/s");
  const size_t n = (size_t)tokens * H * D;
  DevBuf q(n * 2), k(n * 2), v(n * 2), o(n * 2), go(n * 2), dq(n * 2), dk(n * 2), dv(n * 2), lse((size_t)tokens * H * 4);
  init_kernel<<<1024, 256, 0, st>>>((uint16_t*)q.p, n, 1u, 2.f);
  init_kernel<<<1024, 256, 0, st>>>((uint16_t*)k.p, n, 2u, 2.f);
  init_kernel<<<1024, 256, 0, st>>>((uint16_t*)v.p, n, 3u, 1.f);
  init_kernel<<<1024, 256, 0, st>>>((uint16_t*)go.p, n, 4u, 1.f);
  check_cuda(cudaGetLastError(), "init_kernel");
  cudaEvent_t e0, e1;
  check_cuda(cudaEventCreate(&e0), "cudaEventCreate");
  check_cuda(cudaEventCreate(&e1), "cudaEventCreate");
  const char* schemes[] = {"none", "alibi", "alibi-pi", "yarn", "window"};
  const int window = 1024;
  for (int T = 1024; T <= 16384; T *= 2) {
    const int B = tokens / T;
    for (int causal = 1; causal >= 0; --causal) {
      for (const char* sch : schemes) {
        Case c;
        c.name = sch;
        c.B = B, c.Tq = T, c.Tk = T, c.Hq = H, c.Hkv = H, c.D = D, c.causal = causal;
        if (!strcmp(sch, "alibi")) c.pos = pos_alibi();
        if (!strcmp(sch, "alibi-pi")) c.pos = pos_alibi(T / 2);
        if (!strcmp(sch, "yarn")) c.pos = pos_yarn(4, std::max(256, T / 4), true, 32, 1);
        if (!strcmp(sch, "window")) c.window = window;
        AttentionParams p = case_params(c, DType::BF16);
        ResolvedPositional rpos = resolve_positional(c.pos, H, D, T, T, p.query_offset);
        DevBuf d_s, d_c, d_n;
        if (c.pos.type == PositionalType::Alibi) {
          d_s.alloc(H * 4);
          d_s.upload(rpos.slopes.data(), H * 4);
          p.alibi_slopes = (const float*)d_s.p;
        } else if (c.pos.type == PositionalType::Rope) {
          d_c.alloc(rpos.rope_cos.size() * 4);
          d_n.alloc(rpos.rope_sin.size() * 4);
          d_c.upload(rpos.rope_cos.data(), d_c.n);
          d_n.upload(rpos.rope_sin.data(), d_n.n);
          p.rotary_dim = rpos.rotary_dim, p.rope_positions = rpos.rope_positions;
          p.rope_cos = (const float*)d_c.p, p.rope_sin = (const float*)d_n.p;
        }
        p.q = q.p, p.k = k.p, p.v = v.p, p.o = o.p, p.lse = (float*)lse.p;
        AttentionBwdParams bp;
        static_cast<AttentionParams&>(bp) = p;
        bp.dout = go.p, bp.dq = dq.p, bp.dk = dk.p, bp.dv = dv.p;
        double pairs = (double)T * T * (causal ? 0.5 : 1.0);
        if (c.window > 0) {
          pairs = 0;
          for (int i = 0; i < T; ++i) {
            int lo, hi;
            attention_key_range(p, p.query_offset + i, &lo, &hi);
            pairs += std::max(0, hi - lo + 1);
          }
        }
        const double flops = 4.0 * B * H * D * pairs;
        DevBuf fws(cuda::attention_forward_workspace_bytes(p));
        DevBuf bws(cuda::attention_backward_workspace_bytes(bp));
        auto time_it = [&](const std::function<void()>& fn) {
          fn();
          fn();
          check_cuda(cudaStreamSynchronize(st), "sync");
          check_cuda(cudaEventRecord(e0, st), "cudaEventRecord");
          fn();
          check_cuda(cudaEventRecord(e1, st), "cudaEventRecord");
          check_cuda(cudaEventSynchronize(e1), "cudaEventSynchronize");
          float ms1 = 0;
          check_cuda(cudaEventElapsedTime(&ms1, e0, e1), "cudaEventElapsedTime");
          int reps = (int)std::min(50.0, std::max(3.0, 300.0 / std::max(ms1, 0.01f)));
          check_cuda(cudaEventRecord(e0, st), "cudaEventRecord");
          for (int r = 0; r < reps; ++r) fn();
          check_cuda(cudaEventRecord(e1, st), "cudaEventRecord");
          check_cuda(cudaEventSynchronize(e1), "cudaEventSynchronize");
          float ms = 0;
          check_cuda(cudaEventElapsedTime(&ms, e0, e1), "cudaEventElapsedTime");
          return ms / reps;
        };
        try {
          const float ms_f = time_it([&] { cuda::attention_forward(p, st, fws.p, fws.n); });
          const float ms_fb = time_it([&] {
            cuda::attention_forward(p, st, fws.p, fws.n);
            cuda::attention_backward(bp, st, bws.p, bws.n);
          });
          printf("%-9s | %-6s | %5d | %3d | %-10s | %9.3f | %11.1f | %9.3f | %11.1f\n", sch, causal ? "yes" : "no", T, B,
                 cuda::attention_forward_path(p), ms_f, flops / (ms_f * 1e-3) / 1e12, ms_fb,
                 3.5 * flops / (ms_fb * 1e-3) / 1e12);
        } catch (const Error& err) {
          printf("%-9s | %-6s | %5d | %3d | ERROR %s: %s\n", sch, causal ? "yes" : "no", T, B, err.code().c_str(), err.what());
        }
        fflush(stdout);
      }
    }
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool self_only = false, bench = false, quick = false, long_only = false;
  std::string filter;
  std::vector<DType> dtypes = {DType::F32, DType::BF16, DType::F16};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--self-check") self_only = true;
    else if (a == "--bench") bench = true;
    else if (a == "--quick") quick = true;
    else if (a == "--long") long_only = true;
    else if (a == "--cases" && i + 1 < argc) filter = argv[++i];
    else if (a == "--dtype" && i + 1 < argc) {
      std::string d = argv[++i];
      dtypes = {d == "f32" ? DType::F32 : d == "bf16" ? DType::BF16 : DType::F16};
    } else {
      fprintf(stderr, "usage: %s [--self-check] [--bench] [--quick] [--long] [--cases SUBSTR] [--dtype f32|bf16|f16]\n", argv[0]);
      return 2;
    }
  }
  if (!bench && !long_only) {  // --long: the self-check is the short run's
    int rc = run_self_check();
    if (rc != 0 || self_only) return rc;
  }
  int ndev = 0;
  cudaError_t err = cudaGetDeviceCount(&ndev);
  if (err != cudaSuccess || ndev == 0) {
    printf("no CUDA device: skipped (%s)\n", err != cudaSuccess ? cudaGetErrorString(err) : "0 devices");
    return 0;
  }
  cudaStream_t st;
  try {
    check_cuda(cudaStreamCreate(&st), "cudaStreamCreate");
    if (bench) return run_bench(st);
    cudaDeviceProp prop;
    check_cuda(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    printf("== GPU cases on %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
    printf("%-26s | %-4s | %-22s | %-8s | %-8s | %-9s | %-9s | %-9s | status\n", "case", "type", "path", "o err", "lse err",
           "dq err", "dk err", "dv err");
    std::vector<std::string> quick_set = quick_names();
    if (long_only) printf("== long cases (T >= 4096): every path vs float64, tensor cores vs SIMT\n");
    for (const Case& c : long_only ? long_cases() : all_cases()) {
      if (!filter.empty() && c.name.find(filter) == std::string::npos) continue;
      if (quick && std::find(quick_set.begin(), quick_set.end(), c.name) == quick_set.end()) continue;
      for (DType dt : dtypes) run_case(c, dt, st);
    }
  } catch (const Error& e) {
    printf("ERROR %s: %s\n", e.code().c_str(), e.what());
    return 1;
  }
  printf("== %d runs, %d failed\n", g_runs, g_fail);
  return g_fail ? 1 : 0;
}
