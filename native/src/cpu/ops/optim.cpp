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
  const Attrs& a = c.attrs;
  double lr = a.num("lr", 0.0), b1 = a.num("beta1", 0.9), b2 = a.num("beta2", 0.999);
  double step = a.num("step", 1.0), max_norm = a.num("maxNorm", 0.0), grad_scale = a.num("gradScale", 1.0);
  double clip = 1.0;
  if (max_norm > 0 && norm_t) {
    float norm;
    row_kernels().to_f32(norm_t->dtype(), norm_t->data(), &norm, 1);
    double eff = std::fabs(grad_scale) * (double)norm;
    clip = std::min(1.0, max_norm / (eff + 1e-6));
  }
  double eps = a.num("eps", 1e-8), wd = a.num("weightDecay", 0.01);
  AdamWStep s;
  s.decay = (float)(1.0 - lr * wd);
  s.beta1 = (float)b1;
  s.beta2 = (float)b2;
  s.one_minus_beta1 = (float)(1.0 - b1);
  s.one_minus_beta2 = (float)(1.0 - b2);
  s.step_size = (float)(lr / (1.0 - std::pow(b1, step)));
  s.inv_bias_c2_sqrt = (float)(1.0 / std::sqrt(1.0 - std::pow(b2, step)));
  s.eps = (float)eps;
  s.grad_mul = (float)(grad_scale * clip);
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
