// The row kernels of row_kernels.h, as plain loops over float arrays that GCC/Clang vectorise
// at the width of the including unit's -m flags. The including unit defines CTXWIN_ROWK_NS (the
// namespace) and CTXWIN_ROWK_NAME, then includes this file once. No std:: templates and no
// shared inline helpers below (see attention_kernels.h for why); every helper lives in this
// namespace.
//
// Reductions use explicit lane arrays (acc[kL]) so the vectoriser needs no reassociation flags,
// and blocks of kBlock elements folded into a double, so long rows (a 50k-entry vocabulary)
// keep f32 rounding to one block.
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__F16C__)
#include <immintrin.h>
#endif

#include "cpu/ops/row_kernels.h"

#if defined(__GNUC__)
#define CTXWIN_RK_INLINE inline __attribute__((always_inline))
#else
#define CTXWIN_RK_INLINE inline
#endif

// The vectoriser will not if-convert the clamps of exp_() under -ftrapping-math (GCC's
// default); no kernel here relies on floating-point exception flags.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")
#endif

namespace ctxwin::cpu::CTXWIN_ROWK_NS {

namespace {

constexpr int kL = 16;           // lanes of the reduction accumulators
constexpr int64_t kBlock = 512;  // elements per f32 partial sum

CTXWIN_RK_INLINE float bits_f(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
CTXWIN_RK_INLINE uint32_t f_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
CTXWIN_RK_INLINE float fmaxf_(float a, float b) { return a > b ? a : b; }
CTXWIN_RK_INLINE float fminf_(float a, float b) { return a < b ? a : b; }

// e^x, ~2 ulp, branch-free (vectorises). Saturates: x <= -88.03 (incl. -inf) gives exactly 0,
// x >= 88.37 gives +inf (a little early: the true overflow is at 88.72); NaN propagates.
CTXWIN_RK_INLINE float exp_(float x) {
  float t = x * 1.44269504088896341f;
  // Clamp (NaN passes through): -127 gives exactly 0 (2^-127 flushed), so masked (-inf) entries
  // vanish; 128 gives +inf (exponent field 255), so sigmoid(-huge) is exactly 0.
  t = t < -127.f ? -127.f : t;
  t = t > 128.f ? 128.f : t;
  float n = (t + 12582912.f) - 12582912.f;  // round to nearest (|t| < 2^22)
  float f = t - n;                          // [-0.5, 0.5]
  float p = 1.535336188319500e-4f;
  p = p * f + 1.339887440266574e-3f;
  p = p * f + 9.618437357674640e-3f;
  p = p * f + 5.550332471162809e-2f;
  p = p * f + 2.402264791363012e-1f;
  p = p * f + 6.931472028550421e-1f;
  p = p * f + 1.f;
  int32_t e = (int32_t)n + 127;
  return p * bits_f((uint32_t)e << 23);
}
CTXWIN_RK_INLINE float sigmoid_(float x) { return 1.f / (1.f + exp_(-x)); }

// ---- conversions -----------------------------------------------------------------------------

CTXWIN_RK_INLINE uint16_t to_bf16(float f) {
  uint32_t u = f_bits(f);
  uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  uint32_t nan = (u >> 16) | 0x40u;
  return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? nan : r);
}

#if !defined(__F16C__)
float f16_to_f32_(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0) {
    if (m == 0) return bits_f(sign);
    return (sign ? -1.f : 1.f) * (float)m * 5.9604644775390625e-8f;  // m * 2^-24
  }
  if (e == 31) return bits_f(sign | 0x7f800000u | (m << 13));
  return bits_f(sign | ((e + 112) << 23) | (m << 13));
}
uint16_t f32_to_f16_(float f) {
  uint32_t x = f_bits(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7fffffffu;
  if (absx > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);
  if (absx >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);
  if (absx < 0x38800000u) {
    if (absx < 0x33000000u) return (uint16_t)sign;
    uint32_t mant = (absx & 0x7fffffu) | 0x800000u;
    int shift = 126 - (int)(absx >> 23);
    uint32_t result = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1u);
    uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (result & 1u))) result++;
    return (uint16_t)(sign | result);
  }
  uint32_t e = (absx >> 23) - 112;
  uint32_t m = absx & 0x7fffffu;
  uint32_t result = (e << 10) | (m >> 13);
  uint32_t rem = m & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (result & 1u))) result++;
  return (uint16_t)(sign | result);
}
#endif

void to_f32_k(DType t, const void* src, float* dst, int64_t n) {
  if (t == DType::F32) {
    std::memcpy(dst, src, (size_t)n * 4);
  } else if (t == DType::BF16) {
    const uint16_t* s = (const uint16_t*)src;
    for (int64_t i = 0; i < n; ++i) dst[i] = bits_f((uint32_t)s[i] << 16);
  } else {
    const uint16_t* s = (const uint16_t*)src;
    int64_t i = 0;
#if defined(__F16C__)
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(s + i))));
    for (; i < n; ++i) dst[i] = _cvtsh_ss(s[i]);
#else
    for (; i < n; ++i) dst[i] = f16_to_f32_(s[i]);
#endif
  }
}

void from_f32_k(DType t, const float* src, void* dst, int64_t n) {
  if (t == DType::F32) {
    std::memcpy(dst, src, (size_t)n * 4);
  } else if (t == DType::BF16) {
    uint16_t* d = (uint16_t*)dst;
    for (int64_t i = 0; i < n; ++i) d[i] = to_bf16(src[i]);
  } else {
    uint16_t* d = (uint16_t*)dst;
    int64_t i = 0;
#if defined(__F16C__)
    for (; i + 8 <= n; i += 8)
      _mm_storeu_si128((__m128i*)(d + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; ++i) d[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
#else
    for (; i < n; ++i) d[i] = f32_to_f16_(src[i]);
#endif
  }
}

// ---- reductions ------------------------------------------------------------------------------

CTXWIN_RK_INLINE float lanes_sum(const float* acc) {
  float s = 0.f;
  for (int j = 0; j < kL; ++j) s += acc[j];
  return s;
}

// sum of f(x[i]) over a block of at most kBlock elements, in kL f32 lanes.
template <class F>
CTXWIN_RK_INLINE float block_sum(const float* x, int64_t n, F f) {
  float acc[kL] = {};
  int64_t i = 0;
  for (; i + kL <= n; i += kL)
    for (int j = 0; j < kL; ++j) acc[j] += f(x[i + j]);
  float s = lanes_sum(acc);
  for (; i < n; ++i) s += f(x[i]);
  return s;
}

template <class F>
CTXWIN_RK_INLINE double row_sum(const float* x, int64_t n, F f) {
  double s = 0.0;
  for (int64_t b = 0; b < n; b += kBlock) s += (double)block_sum(x + b, n - b < kBlock ? n - b : kBlock, f);
  return s;
}

double sum_k(const float* a, int64_t n) {
  return row_sum(a, n, [](float v) { return v; });
}
double sumsq_k(const float* a, int64_t n) {
  return row_sum(a, n, [](float v) { return v * v; });
}

float row_max(const float* x, int64_t n) {
  float acc[kL];
  for (int j = 0; j < kL; ++j) acc[j] = -INFINITY;
  int64_t i = 0;
  for (; i + kL <= n; i += kL)
    for (int j = 0; j < kL; ++j) acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
  float m = -INFINITY;
  for (int j = 0; j < kL; ++j) m = fmaxf_(m, acc[j]);
  for (; i < n; ++i) m = fmaxf_(m, x[i]);
  return m;
}

// ---- norms -----------------------------------------------------------------------------------

float rmsnorm_fwd_k(const float* x, const float* w, float* y, int64_t n, float eps) {
  double ss = sumsq_k(x, n);
  float rstd = (float)(1.0 / __builtin_sqrt(ss / (double)n + (double)eps));
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * rstd * w[i];
  return rstd;
}

void rmsnorm_bwd_k(const float* __restrict dy, const float* __restrict x, const float* __restrict w, float rstd,
                   float* __restrict dx, float* __restrict dw_acc, int64_t n) {
  // c = mean(w*dy*x) * rstd^2; dx = rstd * (w*dy - x*c)
  double s = 0.0;
  for (int64_t b = 0; b < n; b += kBlock) {
    int64_t m = n - b < kBlock ? n - b : kBlock;
    float acc[kL] = {};
    int64_t i = 0;
    for (; i + kL <= m; i += kL)
      for (int j = 0; j < kL; ++j) acc[j] += w[b + i + j] * dy[b + i + j] * x[b + i + j];
    float t = lanes_sum(acc);
    for (; i < m; ++i) t += w[b + i] * dy[b + i] * x[b + i];
    s += (double)t;
  }
  float c = (float)(s / (double)n) * rstd * rstd;
  for (int64_t i = 0; i < n; ++i) {
    float xi = x[i], gi = dy[i];
    dw_acc[i] += gi * xi * rstd;
    dx[i] = rstd * (w[i] * gi - xi * c);
  }
}

void layernorm_fwd_k(const float* x, const float* w, const float* b, float* y, int64_t n, float eps, float* mean_out,
                     float* rstd_out) {
  float mean = (float)(sum_k(x, n) / (double)n);
  // Two-pass variance: sum of (x - mean)^2.
  double var = row_sum(x, n, [mean](float v) { return (v - mean) * (v - mean); }) / (double)n;
  float rstd = (float)(1.0 / __builtin_sqrt(var + (double)eps));
  if (b) {
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - mean) * rstd * w[i] + b[i];
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - mean) * rstd * w[i];
  }
  *mean_out = mean;
  *rstd_out = rstd;
}

void layernorm_bwd_k(const float* __restrict dy, const float* __restrict x, const float* __restrict w, float mean,
                     float rstd, float* __restrict dx, float* __restrict dw_acc, float* __restrict db_acc, int64_t n) {
  double sg = 0.0, sgx = 0.0;
  for (int64_t b = 0; b < n; b += kBlock) {
    int64_t m = n - b < kBlock ? n - b : kBlock;
    float a1[kL] = {}, a2[kL] = {};
    int64_t i = 0;
    for (; i + kL <= m; i += kL)
      for (int j = 0; j < kL; ++j) {
        int64_t k = b + i + j;
        float g = dy[k] * w[k];
        a1[j] += g;
        a2[j] += g * ((x[k] - mean) * rstd);
      }
    float t1 = lanes_sum(a1), t2 = lanes_sum(a2);
    for (; i < m; ++i) {
      int64_t k = b + i;
      float g = dy[k] * w[k];
      t1 += g;
      t2 += g * ((x[k] - mean) * rstd);
    }
    sg += (double)t1;
    sgx += (double)t2;
  }
  float mg = (float)(sg / (double)n), mgx = (float)(sgx / (double)n);
  for (int64_t i = 0; i < n; ++i) {
    float xh = (x[i] - mean) * rstd;
    float g = dy[i] * w[i];
    dw_acc[i] += dy[i] * xh;
    db_acc[i] += dy[i];
    dx[i] = rstd * (g - mg - xh * mgx);
  }
}

// ---- softmax / cross-entropy -----------------------------------------------------------------

void softmax_k(const float* x, float* y, int64_t n) {
  float mx = row_max(x, n);
  if (mx == -INFINITY) mx = 0.f;  // all -inf: exp gives ~0 everywhere; normalised below
  double s = 0.0;
  for (int64_t b = 0; b < n; b += kBlock) {
    int64_t m = n - b < kBlock ? n - b : kBlock;
    for (int64_t i = 0; i < m; ++i) y[b + i] = exp_(x[b + i] - mx);
    s += (double)block_sum(y + b, m, [](float v) { return v; });
  }
  float inv = (float)(1.0 / s);
  for (int64_t i = 0; i < n; ++i) y[i] *= inv;
}

double xent_k(const float* x, int64_t n, int64_t target, float* dx, float scale) {
  float mx = row_max(x, n);
  float xt = x[target];
  double s = 0.0;
  if (dx) {
    for (int64_t b = 0; b < n; b += kBlock) {
      int64_t m = n - b < kBlock ? n - b : kBlock;
      for (int64_t i = 0; i < m; ++i) dx[b + i] = exp_(x[b + i] - mx);
      s += (double)block_sum(dx + b, m, [](float v) { return v; });
    }
    float k = (float)(1.0 / s) * scale;
    for (int64_t i = 0; i < n; ++i) dx[i] *= k;
    dx[target] -= scale;
  } else {
    s = row_sum(x, n, [mx](float v) { return exp_(v - mx); });
  }
  return __builtin_log(s) + (double)mx - (double)xt;
}

// ---- activations -----------------------------------------------------------------------------

void swiglu_fwd_k(const float* g, const float* u, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = g[i] * sigmoid_(g[i]) * u[i];
}

void swiglu_bwd_k(const float* __restrict dy, const float* __restrict g, const float* __restrict u,
                  float* __restrict dg, float* __restrict du, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float gi = g[i], s = sigmoid_(gi), d = dy[i];
    float silu = gi * s;
    float dsilu = s * (1.f + gi * (1.f - s));
    float ui = u[i];
    dg[i] = d * ui * dsilu;
    du[i] = d * silu;
  }
}

// gelu(x) = 0.5 x (1 + tanh(c (x + 0.044715 x^3))) = x * sigmoid(2u), u = c (x + 0.044715 x^3).
constexpr float kGeluC = 0.7978845608028654f;  // sqrt(2/pi)
constexpr float kGeluA = 0.044715f;

// The polynomial uses x clamped to [-20, 20] (beyond it sigmoid(2u) is exactly 0 or 1 in f32), so
// x^3 never overflows.
CTXWIN_RK_INLINE float gelu_clamp(float v) {
  v = v < -20.f ? -20.f : v;
  return v > 20.f ? 20.f : v;
}

void gelu_fwd_k(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float v = x[i], c = gelu_clamp(v);
    float u = kGeluC * (c + kGeluA * c * c * c);
    y[i] = v * sigmoid_(2.f * u);
  }
}

// d/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3a x^2), with 1 + t = 2s, 1 - t^2 = 4 s (1 - s).
void gelu_bwd_k(const float* dy, const float* x, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float v = gelu_clamp(x[i]);
    float u = kGeluC * (v + kGeluA * v * v * v);
    float s = sigmoid_(2.f * u);
    float d = s + 2.f * v * s * (1.f - s) * kGeluC * (1.f + 3.f * kGeluA * v * v);
    dx[i] = dy[i] * d;
  }
}

// ---- elementwise -----------------------------------------------------------------------------

void add_k(const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}
void mul_k(const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
}
void scale_k(const float* a, float alpha, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = alpha * a[i];
}
void acc_k(const float* a, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a[i];
}

// ---- AdamW (PyTorch semantics) ---------------------------------------------------------------

void adamw_k(float* __restrict p, const float* __restrict g, float* __restrict m, float* __restrict v, int64_t n,
             const AdamWStep& s) {
  const float decay = s.decay, b1 = s.beta1, b2 = s.beta2, c1 = s.one_minus_beta1, c2 = s.one_minus_beta2;
  const float step = s.step_size, inv_c2 = s.inv_bias_c2_sqrt, eps = s.eps, gm = s.grad_mul;
  for (int64_t i = 0; i < n; ++i) {
    float gi = g[i] * gm;
    float mi = b1 * m[i] + c1 * gi;
    float vi = b2 * v[i] + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    float denom = __builtin_sqrtf(vi) * inv_c2 + eps;
    p[i] = p[i] * decay - step * mi / denom;
  }
}

const RowKernels kTable = {
    CTXWIN_ROWK_NAME, to_f32_k,   from_f32_k,   rmsnorm_fwd_k, rmsnorm_bwd_k, layernorm_fwd_k, layernorm_bwd_k,
    softmax_k,        xent_k,     swiglu_fwd_k, swiglu_bwd_k,  gelu_fwd_k,    gelu_bwd_k,      add_k,
    mul_k,            scale_k,    acc_k,        sum_k,         sumsq_k,       adamw_k,
};

}  // namespace

const RowKernels& kernels() { return kTable; }

}  // namespace ctxwin::cpu::CTXWIN_ROWK_NS

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

#undef CTXWIN_RK_INLINE
