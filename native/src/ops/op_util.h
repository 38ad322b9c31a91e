// Helpers for the OpDef `infer` functions of native/src/ops: argument checks whose messages
// follow `<op>: <arg>: expected <what>, got <actual>` and name the argument.
#pragma once
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "ops/op.h"

namespace ctxwin::opu {

inline std::string num_str(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string((long long)v);
  char buf[64];
  snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// in.size() in [lo, hi].
inline void count(const std::string& op, const std::vector<const TensorSpec*>& in, size_t lo, size_t hi) {
  if (in.size() < lo || in.size() > hi) {
    std::string want = lo == hi ? std::to_string(lo) : std::to_string(lo) + " to " + std::to_string(hi);
    op_error(op, "inputs", want + " tensors", std::to_string(in.size()), "ERR_ARG");
  }
}

// A required (non-null) input.
inline const TensorSpec& req(const std::string& op, const std::vector<const TensorSpec*>& in, size_t i,
                             const std::string& name) {
  if (i >= in.size() || !in[i]) op_error(op, name, "a tensor", "null", "ERR_ARG");
  return *in[i];
}
// An optional input (null when absent).
inline const TensorSpec* opt(const std::vector<const TensorSpec*>& in, size_t i) {
  return i < in.size() ? in[i] : nullptr;
}

inline void rank_at_least(const std::string& op, const std::string& name, const TensorSpec& t, size_t r) {
  if (t.shape.size() < r)
    op_error(op, name, "at least " + std::to_string(r) + " dims", "shape " + shape_string(t.shape));
}
inline void rank_is(const std::string& op, const std::string& name, const TensorSpec& t, size_t r) {
  if (t.shape.size() != r) op_error(op, name, std::to_string(r) + " dims", "shape " + shape_string(t.shape));
}
inline void same_shape(const std::string& op, const std::string& name, const TensorSpec& t, const std::string& ref_name,
                       const TensorSpec& ref) {
  if (t.shape != ref.shape) op_error(op, name, "the shape of " + ref_name + " " + shape_string(ref.shape), shape_string(t.shape));
}
inline void is_f32(const std::string& op, const std::string& name, const TensorSpec& t) {
  if (t.dtype != DType::F32) op_error(op, name, "dtype f32", dtype_name(t.dtype), "ERR_DTYPE");
}
inline void nonempty_last(const std::string& op, const std::string& name, const TensorSpec& t) {
  if (!t.shape.empty() && t.shape.back() == 0) op_error(op, name, "a non-empty last dim", "shape " + shape_string(t.shape));
}

// Leading dims (all but the last); a rank-1 tensor gives [1].
inline std::vector<int64_t> leading(const std::vector<int64_t>& s) {
  if (s.size() <= 1) return {1};
  return std::vector<int64_t>(s.begin(), s.end() - 1);
}
inline int64_t rows_of(const TensorSpec& t) {
  if (t.shape.empty()) return 1;
  int64_t d = t.shape.back();
  return d == 0 ? 0 : t.numel() / d;
}

// ---- attributes ------------------------------------------------------------------------------

inline void attr_is_number(const std::string& op, const Attrs& a, const std::string& k) {
  if (a.strs.count(k) || a.lists.count(k)) op_error(op, k, "a number", a.strs.count(k) ? "a string" : "an array", "ERR_ARG");
}
inline double finite(const std::string& op, const Attrs& a, const std::string& k, double dflt) {
  attr_is_number(op, a, k);
  double v = a.num(k, dflt);
  if (!std::isfinite(v)) op_error(op, k, "a finite number", num_str(v), "ERR_ARG");
  return v;
}
inline double finite_req(const std::string& op, const Attrs& a, const std::string& k) {
  attr_is_number(op, a, k);
  if (!a.nums.count(k)) op_error(op, k, "a number", "nothing", "ERR_ARG");
  return finite(op, a, k, 0);
}
inline double positive(const std::string& op, const Attrs& a, const std::string& k, double dflt) {
  double v = finite(op, a, k, dflt);
  if (!(v > 0)) op_error(op, k, "a positive number", num_str(v), "ERR_ARG");
  return v;
}
inline double non_negative(const std::string& op, const Attrs& a, const std::string& k, double dflt) {
  double v = finite(op, a, k, dflt);
  if (!(v >= 0)) op_error(op, k, "a non-negative number", num_str(v), "ERR_ARG");
  return v;
}
inline bool flag(const std::string& op, const Attrs& a, const std::string& k, bool dflt) {
  attr_is_number(op, a, k);
  return a.flag(k, dflt);
}
// An integer attribute in [lo, hi].
inline int64_t integer(const std::string& op, const Attrs& a, const std::string& k, int64_t dflt, int64_t lo,
                       int64_t hi) {
  double v = finite(op, a, k, (double)dflt);
  if (v != std::floor(v) || v < (double)lo || v > (double)hi)
    op_error(op, k, "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]", num_str(v), "ERR_ARG");
  return (int64_t)v;
}
inline int64_t integer_req(const std::string& op, const Attrs& a, const std::string& k, int64_t lo, int64_t hi) {
  attr_is_number(op, a, k);
  if (!a.nums.count(k)) op_error(op, k, "an integer", "nothing", "ERR_ARG");
  return integer(op, a, k, 0, lo, hi);
}
// A dim attribute for a rank-r tensor: [-r, r) normalised to [0, r).
inline int64_t dim(const std::string& op, const Attrs& a, const std::string& k, int64_t rank) {
  if (rank == 0) op_error(op, k, "a dim of a tensor with at least 1 dim", "a 0-dim tensor", "ERR_ARG");
  int64_t d = integer_req(op, a, k, -rank, rank - 1);
  return d < 0 ? d + rank : d;
}

}  // namespace ctxwin::opu
