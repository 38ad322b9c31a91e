// CPU kernel of adamw (native/src/ops/optim.cpp): in place on param, m, v, by pieces of 16K
// elements over the thread pool. Half-type params are updated in f32 and rounded back.
#include <algorithm>
#include <cmath>

#include "cpu/ops/kernels.h"

namespace ctxwin::cpu {

namespace {

void adamw_kernel(OpContext& c) {
  Storage& p = *c.in[0];
  const Storage& g = *c.in[1];
  float* m = (float*)c.in[2]->data();
  float* v = (float*)c.in[3]->data();
  const Storage* norm_t = c.in.size() > 4 ? c.in[4] : nullptr;
  double clip = 1.0;
  if (c.attrs.num("maxNorm", 0.0) > 0 && norm_t) {
    float norm;
    row_kernels().to_f32(norm_t->dtype(), norm_t->data(), &norm, 1);
    clip = adamw_clip(c.attrs.num("maxNorm", 0.0), c.attrs.num("gradScale", 1.0), norm);
  }
  const AdamWStep s = adamw_step(c.attrs, clip);
  const RowKernels& rk = row_kernels();
  constexpr int64_t kPiece = 16384;
  int64_t n = p.numel();
  int64_t pieces = (n + kPiece - 1) / kPiece;
  parallel_chunks(pieces, [&](int64_t q, int) {
    int64_t off = q * kPiece, len = std::min(kPiece, n - off);
    float* pf = out_f32(p, off, len, 0);
    if (p.dtype() != DType::F32) rk.to_f32(p.dtype(), (const uint16_t*)p.data() + off, pf, len);
    const float* gf = in_f32(g, off, len, 1);
    rk.adamw(pf, gf, m + off, v + off, len, s);
    commit_f32(p, off, len, pf);
  });
}

}  // namespace

void register_optim_kernels() { register_kernel("cpu", "adamw", adamw_kernel); }

}  // namespace ctxwin::cpu
