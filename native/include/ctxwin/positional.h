// Positional math, written once for both backends (the formulas of docs/design.md, "Positional
// conventions", i.e. what HF transformers and the ALiBi / ALiBi-PI / YaRN papers compute).
//
// The user-facing configuration (PositionalConfig) is resolved once per launch into the
// numbers the kernels read: per-head ALiBi slopes and RoPE cos/sin tables.
#pragma once
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "ctxwin/attention_params.h"
#include "ctxwin/common.h"

namespace ctxwin {

// What the user asked for (already validated for types in JS; ranges are re-checked here).
struct PositionalConfig {
  PositionalType type = PositionalType::None;
  // ALiBi
  std::vector<double> slopes;  // custom slopes (length Hq) or empty for the default
  int train_length = 0;        // ALiBi-PI: 0 = off
  // RoPE
  double theta = 10000.0;
  int rotary_dim = 0;  // 0 = D
  RopeScalingType scaling = RopeScalingType::None;
  double factor = 1.0;
  int original_max_positions = 0;
  double beta_fast = 32.0, beta_slow = 1.0;
  double attention_factor = -1.0;  // < 0: derive (yarn)
  double mscale = 0.0, mscale_all_dim = 0.0;  // 0: not given
  bool truncate = true;
};

// ---- ALiBi ---------------------------------------------------------------------------------

// Default slopes for H heads (Press et al.; the BLOOM/HF build_alibi_tensor construction).
inline std::vector<double> alibi_default_slopes(int H) {
  std::vector<double> out;
  int c = 1;
  while (c * 2 <= H) c *= 2;  // largest power of two <= H
  double start = std::pow(2.0, -8.0 / c);
  for (int i = 0; i < c; ++i) out.push_back(std::pow(start, i + 1));
  if (c < H) {
    double start2 = std::pow(2.0, -8.0 / (2 * c));
    for (int i = 0; (int)out.size() < H; ++i) out.push_back(std::pow(start2, 2 * i + 1));
  }
  return out;
}

// ALiBi-PI (seed 000): slopes * L / Tk when Tk > L.
CTXWIN_HD double alibi_pi_factor(int train_length, int Tk) {
  return (train_length > 0 && Tk > train_length) ? (double)train_length / (double)Tk : 1.0;
}

// ---- RoPE ----------------------------------------------------------------------------------

// YaRN's mscale(s, m) = 0.1 m ln s + 1 (1 for s <= 1, as in HF transformers).
CTXWIN_HD double yarn_get_mscale(double scale, double m) {
  return scale <= 1.0 ? 1.0 : 0.1 * m * std::log(scale) + 1.0;
}

// Dimension index (in [0, R)) at which the wavelength makes `rotations` turns over L0 positions.
CTXWIN_HD double yarn_correction_dim(double rotations, int R, double theta, double L0) {
  return (R * std::log(L0 / (rotations * 2.0 * 3.14159265358979323846))) / (2.0 * std::log(theta));
}

// ramp_i in [0, 1]: 0 keeps the original frequency (extrapolate), 1 uses inv/factor (interpolate).
CTXWIN_HD double yarn_ramp(int i, double low, double high) {
  double r = ((double)i - low) / (high - low);
  return r < 0.0 ? 0.0 : (r > 1.0 ? 1.0 : r);
}

struct ResolvedRope {
  int rotary_dim = 0;
  std::vector<double> inv_freq;  // [R/2]
  double attention_factor = 1.0;
  double theta_used = 0.0;       // effective base after ntk/dynamic
};

// Resolve the rope frequencies. `max_pos` is the number of positions in play (for dynamic).
inline ResolvedRope resolve_rope(const PositionalConfig& c, int D, int max_pos) {
  ResolvedRope r;
  int R = c.rotary_dim > 0 ? c.rotary_dim : D;
  r.rotary_dim = R;
  double theta = c.theta;
  double factor = c.factor;
  if (c.scaling == RopeScalingType::Ntk) {
    theta = theta * std::pow(factor, (double)R / (R - 2));
  } else if (c.scaling == RopeScalingType::Dynamic) {
    double L0 = c.original_max_positions;
    double s = max_pos > L0 ? (double)max_pos : L0;
    theta = theta * std::pow(factor * s / L0 - (factor - 1.0), (double)R / (R - 2));
  }
  r.theta_used = theta;
  r.inv_freq.resize(R / 2);
  for (int i = 0; i < R / 2; ++i) r.inv_freq[i] = 1.0 / std::pow(theta, (2.0 * i) / R);
  if (c.scaling == RopeScalingType::Linear) {
    for (auto& f : r.inv_freq) f /= factor;
  } else if (c.scaling == RopeScalingType::Yarn) {
    double L0 = c.original_max_positions;
    double low = yarn_correction_dim(c.beta_fast, R, theta, L0);
    double high = yarn_correction_dim(c.beta_slow, R, theta, L0);
    if (c.truncate) {
      low = std::floor(low);
      high = std::ceil(high);
    }
    if (low < 0) low = 0;
    if (high > R - 1) high = R - 1;
    if (low == high) high += 0.001;
    for (int i = 0; i < R / 2; ++i) {
      double ramp = yarn_ramp(i, low, high);
      double inv = r.inv_freq[i];
      r.inv_freq[i] = (inv / factor) * ramp + inv * (1.0 - ramp);
    }
    if (c.attention_factor > 0) {
      r.attention_factor = c.attention_factor;
    } else if (c.mscale > 0 && c.mscale_all_dim > 0) {
      r.attention_factor = yarn_get_mscale(factor, c.mscale) / yarn_get_mscale(factor, c.mscale_all_dim);
    } else {
      r.attention_factor = yarn_get_mscale(factor, 1.0);
    }
  }
  return r;
}

// Everything a kernel launch needs, in host memory (the CUDA backend uploads it).
struct ResolvedPositional {
  std::vector<float> slopes;  // [Hq] (alibi)
  int rotary_dim = 0;
  int rope_positions = 0;
  std::vector<float> rope_cos, rope_sin;  // [rope_positions, R/2] (rope)
  double attention_factor = 1.0;
};

// Validates ranges (throws ctxwin::Error with code ERR_ARG) and computes slopes and, when
// compute_tables, the rope cos/sin tables (O(positions * R/2) work: done on the device queue).
// `table_rows` > max(Tk, query_offset + Tq) makes the tables longer (room for later calls; the
// numbers of every row are the same as without it).
ResolvedPositional resolve_positional(const PositionalConfig& c, int Hq, int D, int Tq, int Tk,
                                      int query_offset, bool compute_tables = true, int table_rows = 0);

// Rows of the rope tables a launch reads: max(Tk, query_offset + Tq).
int positional_rows_needed(int Tq, int Tk, int query_offset);

// The same, memoised: repeated calls with one configuration (every layer of a model, every decode
// step, every step of a benchmark) share one resolution instead of recomputing O(positions * R/2)
// sin/cos in double each time. Keyed by the configuration, not the lengths (except where the
// numbers depend on them: dynamic NTK, ALiBi-PI); the rope tables may have more rows than this
// call needs (rope_positions >= max(Tk, query_offset + Tq)). A small LRU, safe from any thread.
std::shared_ptr<const ResolvedPositional> resolve_positional_cached(const PositionalConfig& c, int Hq, int D, int Tq,
                                                                    int Tk, int query_offset);

// Point `prm` at the resolved arrays (host pointers).
void bind_positional(AttentionParams& prm, const ResolvedPositional& r, PositionalType type);

}  // namespace ctxwin
