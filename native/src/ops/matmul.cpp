// matmul(a, b, c?; transA, transB, alpha, beta): out = alpha * op(a) * op(b) + beta * c.
//
//   without transA: a [*, K] viewed as [M, K] (M = product of the leading dims);
//                   out = a's leading dims + [N]
//   with transA:    a [*, M] viewed as [R, M], op(a) = a^T [M, R] (K = R); out [M, N]
//   b: [K, N], or with transB [N, K]
//   c (optional): the output's shape, any dtype; beta defaults to 1 with c, must be 0 without
// The output takes a's dtype; the product accumulates in f32 (cpu/ops/gemm.h).
#include "ops/op_util.h"

namespace ctxwin {

namespace {

const char* kOp = "matmul";

std::vector<TensorSpec> infer_matmul(const std::vector<const TensorSpec*>& in, const Attrs& at) {
  opu::count(kOp, in, 2, 3);
  const TensorSpec& a = opu::req(kOp, in, 0, "a");
  const TensorSpec& b = opu::req(kOp, in, 1, "b");
  const TensorSpec* c = opu::opt(in, 2);
  bool ta = opu::flag(kOp, at, "transA", false), tb = opu::flag(kOp, at, "transB", false);
  opu::finite(kOp, at, "alpha", 1.0);
  double beta = opu::finite(kOp, at, "beta", c ? 1.0 : 0.0);
  if (!c && beta != 0.0) op_error(kOp, "beta", "0 when no c is given", opu::num_str(beta), "ERR_ARG");
  opu::rank_at_least(kOp, "a", a, 1);
  opu::rank_is(kOp, "b", b, 2);
  int64_t last = a.shape.back(), lead = 1;
  for (size_t i = 0; i + 1 < a.shape.size(); ++i) lead *= a.shape[i];
  int64_t K = ta ? lead : last;
  std::string k_what = ta ? "the product of a's leading dims (transA)" : "the last dim of a";
  int64_t bk = tb ? b.shape[1] : b.shape[0];
  int64_t N = tb ? b.shape[0] : b.shape[1];
  if (bk != K) {
    std::string want = tb ? "shape [N, " + std::to_string(K) + "] (transB; K = " + std::to_string(K) + ", " + k_what + ")"
                          : "shape [" + std::to_string(K) + ", N] (K = " + std::to_string(K) + ", " + k_what + ")";
    op_error(kOp, "b", want, shape_string(b.shape));
  }
  std::vector<int64_t> out;
  if (ta) {
    out = {last, N};
  } else {
    out.assign(a.shape.begin(), a.shape.end() - 1);
    out.push_back(N);
  }
  if (c && c->shape != out) op_error(kOp, "c", "shape " + shape_string(out) + " (the output's)", shape_string(c->shape));
  return {TensorSpec{a.dtype, out}};
}

}  // namespace

void register_matmul_ops() {
  OpDef d;
  d.name = kOp;
  d.num_inputs = -1;
  d.optional_inputs = true;
  d.infer = infer_matmul;
  register_op(d);
}

}  // namespace ctxwin
