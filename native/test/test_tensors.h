// Host tensors for the native tests: random values stored in a dtype, and read back as doubles
// (scalar conversions of ctxwin/dtype.h, independent of the SIMD conversion paths).
#pragma once
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "ctxwin/dtype.h"

namespace ctxwin::test {

struct HostTensor {
  DType dtype = DType::F32;
  std::vector<uint16_t> half;  // bf16 / f16 storage
  std::vector<float> f32;      // f32 storage
  std::vector<double> values;  // the stored values, exactly

  void* data() { return dtype == DType::F32 ? (void*)f32.data() : (void*)half.data(); }
  const void* data() const { return dtype == DType::F32 ? (const void*)f32.data() : (const void*)half.data(); }
};

inline double stored_value(DType t, const void* base, size_t i) {
  if (t == DType::F32) return ((const float*)base)[i];
  uint16_t h = ((const uint16_t*)base)[i];
  return t == DType::BF16 ? bf16_bits_to_f32(h) : f16_bits_to_f32(h);
}

inline HostTensor make_tensor(DType t, size_t n) {
  HostTensor x;
  x.dtype = t;
  if (t == DType::F32) x.f32.assign(n, 0.f);
  else x.half.assign(n, 0);
  x.values.assign(n, 0.0);
  return x;
}

inline HostTensor random_tensor(DType t, size_t n, std::mt19937_64& rng, double scale) {
  HostTensor x = make_tensor(t, n);
  std::normal_distribution<double> normal(0.0, scale);
  for (size_t i = 0; i < n; ++i) {
    float f = (float)normal(rng);
    if (t == DType::F32) x.f32[i] = f;
    else if (t == DType::BF16) x.half[i] = f32_to_bf16_bits(f);
    else x.half[i] = f32_to_f16_bits(f);
    x.values[i] = stored_value(t, x.data(), i);
  }
  return x;
}

inline std::vector<double> read_values(const HostTensor& x) {
  std::vector<double> v(x.values.size());
  for (size_t i = 0; i < v.size(); ++i) v[i] = stored_value(x.dtype, x.data(), i);
  return v;
}

// max |x - ref| / max |ref|: the error relative to the tensor's scale. NaN anywhere -> +inf.
inline double normalized_error(const std::vector<double>& x, const std::vector<double>& ref) {
  double worst = 0, scale = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::isnan(x[i])) return INFINITY;
    worst = std::max(worst, std::abs(x[i] - ref[i]));
    scale = std::max(scale, std::abs(ref[i]));
  }
  return scale > 0 ? worst / scale : worst;
}

// max |x - ref| over finite ref entries; +inf if a -inf of ref is not reproduced or x is NaN.
inline double lse_error(const std::vector<float>& x, const std::vector<double>& ref) {
  double worst = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::isnan(x[i])) return INFINITY;
    if (std::isinf(ref[i])) {
      if (x[i] != ref[i]) return INFINITY;
      continue;
    }
    worst = std::max(worst, std::abs((double)x[i] - ref[i]));
  }
  return worst;
}

}  // namespace ctxwin::test
