// softmax(x [*, V]) -> row softmax over the last dim (x's dtype).
// softmax_cross_entropy(logits [*, V], targets [*] f32 ids; ignoreIndex = -100, grad = false,
//                       gradScale = 1 / (number of non-ignored rows))
//   -> losses [*] f32: logsumexp(row) - row[target], 0 for ignored rows
//   -> and with grad: dlogits [*, V] (logits' dtype) = (softmax(row) - onehot(target)) * gradScale,
//      zero rows for ignored targets.
//   A target that is neither ignoreIndex nor an integer in [0, V) fails the kernel (ERR_ARG).
#include "ops/op_util.h"

namespace ctxwin {

namespace {

std::vector<TensorSpec> infer_softmax(const std::vector<const TensorSpec*>& in, const Attrs&) {
  const char* op = "softmax";
  opu::count(op, in, 1, 1);
  const TensorSpec& x = opu::req(op, in, 0, "x");
  opu::rank_at_least(op, "x", x, 1);
  opu::nonempty_last(op, "x", x);
  return {TensorSpec{x.dtype, x.shape}};
}

std::vector<TensorSpec> infer_xent(const std::vector<const TensorSpec*>& in, const Attrs& at) {
  const char* op = "softmax_cross_entropy";
  opu::count(op, in, 2, 2);
  const TensorSpec& logits = opu::req(op, in, 0, "logits");
  const TensorSpec& targets = opu::req(op, in, 1, "targets");
  opu::rank_at_least(op, "logits", logits, 2);
  opu::nonempty_last(op, "logits", logits);
  opu::is_f32(op, "targets", targets);
  int64_t rows = opu::rows_of(logits);
  if (targets.numel() != rows)
    op_error(op, "targets", std::to_string(rows) + " targets (one per row of logits " + shape_string(logits.shape) + ")",
             "shape " + shape_string(targets.shape));
  opu::integer(op, at, "ignoreIndex", -100, -((int64_t)1 << 40), (int64_t)1 << 40);
  bool grad = opu::flag(op, at, "grad", false);
  if (at.has("gradScale")) opu::finite(op, at, "gradScale", 1.0);
  std::vector<TensorSpec> out = {TensorSpec{DType::F32, opu::leading(logits.shape)}};
  if (grad) out.push_back(TensorSpec{logits.dtype, logits.shape});
  return out;
}

}  // namespace

void register_softmax_ops() {
  register_op({"softmax", 1, {}, false, infer_softmax});
  register_op({"softmax_cross_entropy", 2, {}, false, infer_xent});
}

}  // namespace ctxwin
