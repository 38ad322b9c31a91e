// RMSNorm and LayerNorm over the last dim, with their backwards. Statistics are f32.
//
// rmsnorm(x [*, d], w [d]; eps = 1e-6) -> (y [*, d] x's dtype, rstd [*] f32)
//   y = x * rstd * w, rstd = 1 / sqrt(mean(x^2) + eps)
// rmsnorm_backward(dy, x, w, rstd) -> (dx [*, d] dy's dtype, dw [d] f32)
// layernorm(x [*, d], w [d], b [d] or null; eps = 1e-5) -> (y, mean [*] f32, rstd [*] f32)
//   y = (x - mean) * rstd * w + b, rstd = 1 / sqrt(var(x) + eps) (biased variance)
// layernorm_backward(dy, x, w, mean, rstd) -> (dx, dw [d] f32, db [d] f32)
// [*] is x's leading dims ([1] for a 1-d x).
#include "ops/op_util.h"

namespace ctxwin {

namespace {

int64_t norm_dim(const std::string& op, const TensorSpec& x) {
  opu::rank_at_least(op, "x", x, 1);
  opu::nonempty_last(op, "x", x);
  return x.shape.back();
}

void check_w(const std::string& op, const std::string& name, const TensorSpec& w, int64_t d) {
  if (w.shape != std::vector<int64_t>{d})
    op_error(op, name, "shape [" + std::to_string(d) + "] (the last dim of x)", shape_string(w.shape));
}

void check_stat(const std::string& op, const std::string& name, const TensorSpec& s, const TensorSpec& x) {
  opu::is_f32(op, name, s);
  if (s.numel() != opu::rows_of(x))
    op_error(op, name, "shape " + shape_string(opu::leading(x.shape)) + " (one value per row of x)", shape_string(s.shape));
}

std::vector<TensorSpec> infer_rmsnorm(const std::vector<const TensorSpec*>& in, const Attrs& at) {
  const char* op = "rmsnorm";
  opu::count(op, in, 2, 2);
  const TensorSpec& x = opu::req(op, in, 0, "x");
  const TensorSpec& w = opu::req(op, in, 1, "w");
  int64_t d = norm_dim(op, x);
  check_w(op, "w", w, d);
  opu::positive(op, at, "eps", 1e-6);
  return {TensorSpec{x.dtype, x.shape}, TensorSpec{DType::F32, opu::leading(x.shape)}};
}

std::vector<TensorSpec> infer_rmsnorm_backward(const std::vector<const TensorSpec*>& in, const Attrs&) {
  const char* op = "rmsnorm_backward";
  opu::count(op, in, 4, 4);
  const TensorSpec& dy = opu::req(op, in, 0, "dy");
  const TensorSpec& x = opu::req(op, in, 1, "x");
  const TensorSpec& w = opu::req(op, in, 2, "w");
  const TensorSpec& rstd = opu::req(op, in, 3, "rstd");
  int64_t d = norm_dim(op, x);
  opu::same_shape(op, "dy", dy, "x", x);
  check_w(op, "w", w, d);
  check_stat(op, "rstd", rstd, x);
  return {TensorSpec{dy.dtype, x.shape}, TensorSpec{DType::F32, {d}}};
}

std::vector<TensorSpec> infer_layernorm(const std::vector<const TensorSpec*>& in, const Attrs& at) {
  const char* op = "layernorm";
  opu::count(op, in, 2, 3);
  const TensorSpec& x = opu::req(op, in, 0, "x");
  const TensorSpec& w = opu::req(op, in, 1, "w");
  const TensorSpec* b = opu::opt(in, 2);
  int64_t d = norm_dim(op, x);
  check_w(op, "w", w, d);
  if (b) check_w(op, "b", *b, d);
  opu::positive(op, at, "eps", 1e-5);
  std::vector<int64_t> lead = opu::leading(x.shape);
  return {TensorSpec{x.dtype, x.shape}, TensorSpec{DType::F32, lead}, TensorSpec{DType::F32, lead}};
}

std::vector<TensorSpec> infer_layernorm_backward(const std::vector<const TensorSpec*>& in, const Attrs&) {
  const char* op = "layernorm_backward";
  opu::count(op, in, 5, 5);
  const TensorSpec& dy = opu::req(op, in, 0, "dy");
  const TensorSpec& x = opu::req(op, in, 1, "x");
  const TensorSpec& w = opu::req(op, in, 2, "w");
  const TensorSpec& mean = opu::req(op, in, 3, "mean");
  const TensorSpec& rstd = opu::req(op, in, 4, "rstd");
  int64_t d = norm_dim(op, x);
  opu::same_shape(op, "dy", dy, "x", x);
  check_w(op, "w", w, d);
  check_stat(op, "mean", mean, x);
  check_stat(op, "rstd", rstd, x);
  return {TensorSpec{dy.dtype, x.shape}, TensorSpec{DType::F32, {d}}, TensorSpec{DType::F32, {d}}};
}

}  // namespace

void register_norm_ops() {
  register_op({"rmsnorm", 2, {}, false, infer_rmsnorm});
  register_op({"rmsnorm_backward", 4, {}, false, infer_rmsnorm_backward});
  register_op({"layernorm", -1, {}, true, infer_layernorm});
  register_op({"layernorm_backward", 5, {}, false, infer_layernorm_backward});
}

}  // namespace ctxwin
