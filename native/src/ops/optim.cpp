// adamw(param, grad, m, v, norm?) — in place on param, m, v; no outputs. PyTorch AdamW:
//   g = grad * gradScale * clip,  clip = min(1, maxNorm / (gradScale * norm + 1e-6)) when
//       maxNorm > 0 and `norm` (global_norm of the raw gradients, [1]) is given, else 1
//   param *= 1 - lr * weightDecay                  (decoupled weight decay, before the update)
//   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
//   param -= lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
// attrs: lr (required), beta1 0.9, beta2 0.999, eps 1e-8, weightDecay 0.01, step (required,
// 1-based), maxNorm 0, gradScale 1. param f32/bf16/f16 (updated in f32, rounded back); grad the
// param's shape, any dtype; m, v f32 of the param's shape.
#include "ops/adamw_step.h"

#include "ops/op_util.h"

namespace ctxwin {

AdamWStep adamw_step(const Attrs& a, double clip) {
  double lr = a.num("lr", 0.0), b1 = a.num("beta1", 0.9), b2 = a.num("beta2", 0.999);
  double step = a.num("step", 1.0), eps = a.num("eps", 1e-8), wd = a.num("weightDecay", 0.01);
  AdamWStep s;
  s.decay = (float)(1.0 - lr * wd);
  s.beta1 = (float)b1;
  s.beta2 = (float)b2;
  s.one_minus_beta1 = (float)(1.0 - b1);
  s.one_minus_beta2 = (float)(1.0 - b2);
  s.step_size = (float)(lr / (1.0 - std::pow(b1, step)));
  s.inv_bias_c2_sqrt = (float)(1.0 / std::sqrt(1.0 - std::pow(b2, step)));
  s.eps = (float)eps;
  s.grad_mul = (float)(a.num("gradScale", 1.0) * clip);
  return s;
}

namespace {

std::vector<TensorSpec> infer_adamw(const std::vector<const TensorSpec*>& in, const Attrs& at) {
  const char* op = "adamw";
  opu::count(op, in, 4, 5);
  const TensorSpec& p = opu::req(op, in, 0, "param");
  const TensorSpec& g = opu::req(op, in, 1, "grad");
  const TensorSpec& m = opu::req(op, in, 2, "m");
  const TensorSpec& v = opu::req(op, in, 3, "v");
  const TensorSpec* norm = opu::opt(in, 4);
  opu::same_shape(op, "grad", g, "param", p);
  opu::same_shape(op, "m", m, "param", p);
  opu::same_shape(op, "v", v, "param", p);
  opu::is_f32(op, "m", m);
  opu::is_f32(op, "v", v);
  if (norm && norm->numel() != 1) op_error(op, "norm", "a tensor of 1 element (global_norm)", "shape " + shape_string(norm->shape));
  opu::non_negative(op, at, "lr", 0);
  if (!at.nums.count("lr")) op_error(op, "lr", "a number", "nothing", "ERR_ARG");
  double b1 = opu::finite(op, at, "beta1", 0.9), b2 = opu::finite(op, at, "beta2", 0.999);
  if (!(b1 >= 0 && b1 < 1)) op_error(op, "beta1", "a number in [0, 1)", opu::num_str(b1), "ERR_ARG");
  if (!(b2 >= 0 && b2 < 1)) op_error(op, "beta2", "a number in [0, 1)", opu::num_str(b2), "ERR_ARG");
  opu::positive(op, at, "eps", 1e-8);
  opu::non_negative(op, at, "weightDecay", 0.01);
  opu::integer_req(op, at, "step", 1, (int64_t)1 << 50);
  opu::non_negative(op, at, "maxNorm", 0);
  opu::finite(op, at, "gradScale", 1.0);
  return {};
}

}  // namespace

void register_optim_ops() {
  OpDef d;
  d.name = "adamw";
  d.num_inputs = -1;
  d.mutates = {0, 2, 3};
  d.optional_inputs = true;
  d.infer = infer_adamw;
  register_op(d);
}

}  // namespace ctxwin
