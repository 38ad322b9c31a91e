// Reductions. Outputs are f32 (sums accumulate in f32 lanes folded into f64).
//
// sum_rows(x [*, d]) -> [d]      sum over every leading index (bias gradients)
// sum(x) -> [1]                  sumsq(x) -> [1] (sum of squares)
// global_norm(t0, t1, ...) -> [1] = sqrt(sum of sumsq(ti))  (gradient clipping; >= 1 tensor)
#include "ops/op_util.h"

namespace ctxwin {

namespace {

std::vector<TensorSpec> infer_sum_rows(const std::vector<const TensorSpec*>& in, const Attrs&) {
  const char* op = "sum_rows";
  opu::count(op, in, 1, 1);
  const TensorSpec& x = opu::req(op, in, 0, "x");
  opu::rank_at_least(op, "x", x, 1);
  return {TensorSpec{DType::F32, {x.shape.back()}}};
}

OpDef scalar_reduce(const char* name) {
  OpDef d;
  d.name = name;
  d.num_inputs = 1;
  d.infer = [name](const std::vector<const TensorSpec*>& in, const Attrs&) {
    opu::count(name, in, 1, 1);
    opu::req(name, in, 0, "x");
    return std::vector<TensorSpec>{TensorSpec{DType::F32, {1}}};
  };
  return d;
}

std::vector<TensorSpec> infer_global_norm(const std::vector<const TensorSpec*>& in, const Attrs&) {
  const char* op = "global_norm";
  if (in.empty()) op_error(op, "inputs", "at least 1 tensor", "0", "ERR_ARG");
  for (size_t i = 0; i < in.size(); ++i) opu::req(op, in, i, "inputs[" + std::to_string(i) + "]");
  return {TensorSpec{DType::F32, {1}}};
}

}  // namespace

void register_reduce_ops() {
  register_op({"sum_rows", 1, {}, false, infer_sum_rows});
  register_op(scalar_reduce("sum"));
  register_op(scalar_reduce("sumsq"));
  register_op({"global_norm", -1, {}, false, infer_global_norm});
}

}  // namespace ctxwin
