// CPU kernels of gated_prefix_attention and its backward (native/src/ops/gated_prefix.cpp has the
// math). Rows (b, t) in chunks over the thread pool; the backward's sums over rows (dkp, dvp,
// dlambda, and dgate when the gate is per sequence) go to per-chunk partials added in chunk order,
// so the result does not depend on the thread count. Scores and sums in f64 per row: P is small
// (tens of prefix tokens), this is not the model's hot loop.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu/ops/kernels.h"

namespace ctxwin::cpu {

namespace {

struct View {
  int64_t B, T, H, D, P, Hkv, Tg, G;  // G = H / Hkv
  float scale;
  const float *q, *kp, *vp, *gate, *o_r, *lse_r;
  float lambda;
  View(OpContext& c) {
    const Storage& qs = *c.in[0];
    B = qs.shape()[0];
    T = qs.shape()[1];
    H = qs.shape()[2];
    D = qs.shape()[3];
    P = c.in[1]->shape()[0];
    Hkv = c.in[1]->shape()[1];
    Tg = c.in[3]->shape()[1];
    G = H / Hkv;
    scale = (float)c.attrs.num("softmaxScale", 1.0);
    q = (const float*)c.in[0]->data();
    kp = (const float*)c.in[1]->data();
    vp = (const float*)c.in[2]->data();
    gate = (const float*)c.in[3]->data();
    lambda = *(const float*)c.in[4]->data();
    o_r = (const float*)c.in[5]->data();
    lse_r = (const float*)c.in[6]->data();
  }
  const float* gate_row(int64_t b, int64_t t) const { return gate + (b * Tg + (Tg == 1 ? 0 : t)) * P; }
  int64_t row_at(int64_t b, int64_t t, int64_t h) const { return ((b * T + t) * H + h) * D; }
  int64_t lse_at(int64_t b, int64_t t, int64_t h) const { return (b * H + h) * T + t; }
};

double sigmoid(float z) { return 1.0 / (1.0 + std::exp(-(double)z)); }

double dot(const float* a, const float* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += (double)a[i] * (double)b[i];
  return s;
}

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

void forward_kernel(OpContext& c) {
  View v(c);
  float* out = (float*)c.out[0]->data();
  float* lse = (float*)c.out[1]->data();
  int64_t rows = v.B * v.T;
  int64_t chunks = chunk_count(rows, v.H * v.P * v.D * 2);
  parallel_chunks(chunks, [&](int64_t ch, int) {
    int64_t lo, hi;
    chunk_range(rows, chunks, ch, &lo, &hi);
    std::vector<double> s(v.P);
    for (int64_t r = lo; r < hi; ++r) {
      int64_t b = r / v.T, t = r % v.T;
      const float* g = v.gate_row(b, t);
      for (int64_t h = 0; h < v.H; ++h) {
        int64_t at = v.row_at(b, t, h), hk = h / v.G;
        float* o = out + at;
        float lr = v.lse_r[v.lse_at(b, t, h)];
        if (lr == kNegInf) {  // padding row
          std::memset(o, 0, (size_t)v.D * sizeof(float));
          lse[v.lse_at(b, t, h)] = kNegInf;
          continue;
        }
        double m = lr;
        for (int64_t p = 0; p < v.P; ++p) {
          double cp = (double)v.lambda * sigmoid(g[p]);
          s[p] = v.scale * cp * dot(v.q + at, v.kp + (p * v.Hkv + hk) * v.D, v.D);
          if (s[p] > m) m = s[p];
        }
        double z = std::exp(lr - m);
        for (int64_t p = 0; p < v.P; ++p) z += std::exp(s[p] - m);
        double l = m + std::log(z);
        double wr = std::exp(lr - l);
        for (int64_t d = 0; d < v.D; ++d) o[d] = (float)(wr * v.o_r[at + d]);
        for (int64_t p = 0; p < v.P; ++p) {
          double w = std::exp(s[p] - l) * (double)v.lambda * sigmoid(g[p]);
          const float* vv = v.vp + (p * v.Hkv + hk) * v.D;
          for (int64_t d = 0; d < v.D; ++d) o[d] += (float)(w * vv[d]);
        }
        lse[v.lse_at(b, t, h)] = (float)l;
      }
    }
  });
}

void backward_kernel(OpContext& c) {
  View v(c);
  const float* out = (const float*)c.in[7]->data();
  const float* lse = (const float*)c.in[8]->data();
  const float* dout = (const float*)c.in[9]->data();
  float* dq = (float*)c.out[0]->data();
  float* dkp = (float*)c.out[1]->data();
  float* dvp = (float*)c.out[2]->data();
  float* dgate = (float*)c.out[3]->data();
  float* dlambda = (float*)c.out[4]->data();
  float* do_r = (float*)c.out[5]->data();
  float* dlse_r = (float*)c.out[6]->data();
  int64_t rows = v.B * v.T;
  int64_t chunks = chunk_count(rows, v.H * v.P * v.D * 4);
  int64_t kv = v.P * v.Hkv * v.D;
  bool pooled = v.Tg == 1 && v.T != 1;
  int64_t gsize = v.B * v.Tg * v.P;
  // per chunk: dkp, dvp (kv each), dlambda (1), dgate when pooled (gsize)
  int64_t part = 2 * kv + 1 + (pooled ? gsize : 0);
  std::vector<double> partials((size_t)(chunks * part), 0.0);
  if (!pooled) std::memset(dgate, 0, (size_t)gsize * sizeof(float));
  parallel_chunks(chunks, [&](int64_t ch, int) {
    int64_t lo, hi;
    chunk_range(rows, chunks, ch, &lo, &hi);
    double* acc = partials.data() + ch * part;
    double* adk = acc;
    double* adv = acc + kv;
    double* alam = acc + 2 * kv;
    double* agate = acc + 2 * kv + 1;
    std::vector<double> s(v.P), dc(v.P);
    for (int64_t r = lo; r < hi; ++r) {
      int64_t b = r / v.T, t = r % v.T;
      const float* g = v.gate_row(b, t);
      std::fill(dc.begin(), dc.end(), 0.0);
      for (int64_t h = 0; h < v.H; ++h) {
        int64_t at = v.row_at(b, t, h), hk = h / v.G, li = v.lse_at(b, t, h);
        float lr = v.lse_r[li];
        float l = lse[li];
        const float* qr = v.q + at;
        const float* dor = dout + at;
        if (lr == kNegInf || l == kNegInf) {  // padding row: no gradient
          std::memset(dq + at, 0, (size_t)v.D * sizeof(float));
          std::memset(do_r + at, 0, (size_t)v.D * sizeof(float));
          dlse_r[li] = 0.f;
          continue;
        }
        double delta = dot(dor, out + at, v.D);
        double wr = std::exp((double)lr - l);
        for (int64_t d = 0; d < v.D; ++d) do_r[at + d] = (float)(wr * dor[d]);
        dlse_r[li] = (float)(wr * (dot(dor, v.o_r + at, v.D) - delta));
        std::vector<double> dqr(v.D, 0.0);
        for (int64_t p = 0; p < v.P; ++p) {
          double cp = (double)v.lambda * sigmoid(g[p]);
          const float* kr = v.kp + (p * v.Hkv + hk) * v.D;
          const float* vr = v.vp + (p * v.Hkv + hk) * v.D;
          double qk = dot(qr, kr, v.D);
          double sp = v.scale * cp * qk;
          double pi = std::exp(sp - l);
          double dv_dot = dot(dor, vr, v.D);
          double ds = pi * (cp * dv_dot - delta);
          int64_t kat = (p * v.Hkv + hk) * v.D;
          for (int64_t d = 0; d < v.D; ++d) {
            adv[kat + d] += pi * cp * dor[d];
            adk[kat + d] += ds * v.scale * cp * qr[d];
            dqr[d] += ds * v.scale * cp * kr[d];
          }
          dc[p] += pi * dv_dot + ds * v.scale * qk;
        }
        for (int64_t d = 0; d < v.D; ++d) dq[at + d] = (float)dqr[d];
      }
      for (int64_t p = 0; p < v.P; ++p) {
        double a = sigmoid(g[p]);
        *alam += a * dc[p];
        double dg = (double)v.lambda * dc[p] * a * (1.0 - a);  // through the sigmoid
        if (pooled) agate[b * v.P + p] += dg;
        else dgate[(b * v.Tg + t) * v.P + p] = (float)dg;
      }
    }
  });
  std::vector<double> sum((size_t)part, 0.0);
  for (int64_t ch = 0; ch < chunks; ++ch)
    for (int64_t i = 0; i < part; ++i) sum[i] += partials[ch * part + i];
  for (int64_t i = 0; i < kv; ++i) {
    dkp[i] = (float)sum[i];
    dvp[i] = (float)sum[kv + i];
  }
  *dlambda = (float)sum[2 * kv];
  if (pooled)
    for (int64_t i = 0; i < gsize; ++i) dgate[i] = (float)sum[2 * kv + 1 + i];
}

}  // namespace

void register_gated_prefix_kernels() {
  register_kernel("cpu", "gated_prefix_attention", forward_kernel);
  register_kernel("cpu", "gated_prefix_attention_backward", backward_kernel);
}

}  // namespace ctxwin::cpu
