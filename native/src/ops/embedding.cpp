// embedding(weight [V, d], ids [*] f32 integer ids) -> [*, d] (weight's dtype).
//   An id outside [0, V) (or not an integer) fails the kernel: the output carries
//   "embedding: ids: expected ids in [0, V), got X", reported when it is read.
// embedding_backward(dy [*, d], ids [*]; vocab) -> dweight [vocab, d] f32
//   (rows of dy summed by id; ids must match dy's leading dims in count).
#include "ops/op_util.h"

namespace ctxwin {

namespace {

std::vector<TensorSpec> infer_embedding(const std::vector<const TensorSpec*>& in, const Attrs&) {
  const char* op = "embedding";
  opu::count(op, in, 2, 2);
  const TensorSpec& w = opu::req(op, in, 0, "weight");
  const TensorSpec& ids = opu::req(op, in, 1, "ids");
  opu::rank_is(op, "weight", w, 2);
  opu::is_f32(op, "ids", ids);
  std::vector<int64_t> out = ids.shape;
  out.push_back(w.shape[1]);
  return {TensorSpec{w.dtype, out}};
}

std::vector<TensorSpec> infer_embedding_backward(const std::vector<const TensorSpec*>& in, const Attrs& at) {
  const char* op = "embedding_backward";
  opu::count(op, in, 2, 2);
  const TensorSpec& dy = opu::req(op, in, 0, "dy");
  const TensorSpec& ids = opu::req(op, in, 1, "ids");
  opu::rank_at_least(op, "dy", dy, 1);
  opu::is_f32(op, "ids", ids);
  int64_t vocab = opu::integer_req(op, at, "vocab", 1, (int64_t)1 << 40);
  int64_t d = dy.shape.back();
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < dy.shape.size(); ++i) rows *= dy.shape[i];
  if (ids.numel() != rows)
    op_error(op, "ids", std::to_string(rows) + " ids (one per row of dy " + shape_string(dy.shape) + ")",
             "shape " + shape_string(ids.shape));
  return {TensorSpec{DType::F32, {vocab, d}}};
}

}  // namespace

void register_embedding_ops() {
  register_op({"embedding", 2, {}, false, infer_embedding});
  register_op({"embedding_backward", 2, {}, false, infer_embedding_backward});
}

}  // namespace ctxwin
