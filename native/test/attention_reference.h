// Naive float64 attention, forward and backward, written from docs/design.md, "Positional
// conventions", independently of the kernels: it shares only the resolved tables (slopes, rope
// cos/sin) that the kernels receive. O(Tq * Tk * D) per head with a full score row in memory:
// tests only.
#pragma once
#include <cmath>
#include <vector>

#include "ctxwin/attention_params.h"

namespace ctxwin::test {

struct RefShape {
  int B, Tq, Tk, Hq, Hkv, D;
};

// Inputs as doubles (already rounded to the tensor dtype), layouts as AttentionParams.
struct RefResult {
  std::vector<double> o, lse;       // [B,Tq,Hq,D], [B,Hq,Tq] (-inf for a row with no key)
  std::vector<double> dq, dk, dv;   // backward only
};

inline bool ref_visible(const AttentionParams& p, int pos, int j) {
  if (p.causal && j > pos) return false;
  if (p.window > 0) {
    if (p.causal) return pos - p.window < j;
    return std::abs(pos - j) < p.window;
  }
  return true;
}

// Rotation of x (length D) at table row `pos`; transpose = the inverse (gradients).
inline void ref_rotate(const AttentionParams& p, std::vector<double>& x, int pos, bool transpose) {
  if (p.pos_type != PositionalType::Rope) return;
  int half = p.rotary_dim / 2;
  for (int d = 0; d < half; ++d) {
    double c = p.rope_cos[(size_t)pos * half + d], s = p.rope_sin[(size_t)pos * half + d];
    double a = x[d], b = x[d + half];
    if (!transpose) {
      x[d] = a * c - b * s;
      x[d + half] = b * c + a * s;
    } else {
      x[d] = a * c + b * s;
      x[d + half] = b * c - a * s;
    }
  }
}

// dout empty: forward only.
inline RefResult reference_attention(const AttentionParams& p, const std::vector<double>& q,
                                     const std::vector<double>& k, const std::vector<double>& v,
                                     const std::vector<double>& dout) {
  const int B = p.B, Tq = p.Tq, Tk = p.Tk, Hq = p.Hq, Hkv = p.Hkv, D = p.D, G = Hq / Hkv;
  bool backward = !dout.empty();
  RefResult r;
  r.o.assign((size_t)B * Tq * Hq * D, 0.0);
  r.lse.assign((size_t)B * Hq * Tq, -INFINITY);
  if (backward) {
    r.dq.assign(r.o.size(), 0.0);
    r.dk.assign((size_t)B * Tk * Hkv * D, 0.0);
    r.dv.assign(r.dk.size(), 0.0);
  }
  auto qat = [&](int b, int i, int h) { return (((size_t)b * Tq + i) * Hq + h) * D; };
  auto kat = [&](int b, int j, int h) { return (((size_t)b * Tk + j) * Hkv + h) * D; };
  for (int b = 0; b < B; ++b) {
    for (int hk = 0; hk < Hkv; ++hk) {
      // Rotated keys of this kv head, and their gradient (rotated frame).
      std::vector<std::vector<double>> kr(Tk), dkr(Tk, std::vector<double>(D, 0.0));
      for (int j = 0; j < Tk; ++j) {
        kr[j].assign(k.begin() + kat(b, j, hk), k.begin() + kat(b, j, hk) + D);
        if (j >= p.prefix_keys) ref_rotate(p, kr[j], j, false);
      }
      for (int g = 0; g < G; ++g) {
        int h = hk * G + g;
        double slope = p.pos_type == PositionalType::Alibi ? p.alibi_slopes[h] : 0.0;
        for (int i = 0; i < Tq; ++i) {
          int pos = p.query_offset + i;
          std::vector<double> qr(q.begin() + qat(b, i, h), q.begin() + qat(b, i, h) + D);
          ref_rotate(p, qr, pos, false);
          std::vector<double> s(Tk, -INFINITY);
          double mx = -INFINITY;
          for (int j = 0; j < Tk; ++j) {
            if (!ref_visible(p, pos, j)) continue;
            double dot = 0;
            for (int d = 0; d < D; ++d) dot += qr[d] * kr[j][d];
            s[j] = (double)p.softmax_scale * dot - slope * std::abs(pos - j);
            mx = std::max(mx, s[j]);
          }
          if (mx == -INFINITY) continue;  // no visible key: o = 0, lse = -inf, no gradient
          double sum = 0;
          for (int j = 0; j < Tk; ++j) sum += s[j] == -INFINITY ? 0.0 : std::exp(s[j] - mx);
          r.lse[((size_t)b * Hq + h) * Tq + i] = mx + std::log(sum);
          std::vector<double> P(Tk, 0.0);
          double* o = &r.o[qat(b, i, h)];
          for (int j = 0; j < Tk; ++j) {
            if (s[j] == -INFINITY) continue;
            P[j] = std::exp(s[j] - mx) / sum;
            for (int d = 0; d < D; ++d) o[d] += P[j] * v[kat(b, j, hk) + d];
          }
          if (!backward) continue;
          const double* dO = &dout[qat(b, i, h)];
          double delta = 0;
          for (int d = 0; d < D; ++d) delta += dO[d] * o[d];
          std::vector<double> dqr(D, 0.0);
          for (int j = 0; j < Tk; ++j) {
            if (P[j] == 0.0) continue;
            double dp = 0;
            for (int d = 0; d < D; ++d) dp += dO[d] * v[kat(b, j, hk) + d];
            double ds = P[j] * (dp - delta) * p.softmax_scale;
            for (int d = 0; d < D; ++d) {
              r.dv[kat(b, j, hk) + d] += P[j] * dO[d];
              dqr[d] += ds * kr[j][d];
              dkr[j][d] += ds * qr[d];
            }
          }
          ref_rotate(p, dqr, pos, true);
          for (int d = 0; d < D; ++d) r.dq[qat(b, i, h) + d] = dqr[d];
        }
      }
      if (!backward) continue;
      for (int j = 0; j < Tk; ++j) {
        if (j >= p.prefix_keys) ref_rotate(p, dkr[j], j, true);
        for (int d = 0; d < D; ++d) r.dk[kat(b, j, hk) + d] = dkr[j][d];
      }
    }
  }
  return r;
}

}  // namespace ctxwin::test
