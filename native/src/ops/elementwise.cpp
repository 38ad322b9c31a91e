// Elementwise ops: add(a, b), mul(a, b), scale(a; alpha). Same shapes; the output takes a's dtype.
#include "ops/op.h"

namespace ctxwin {

namespace {

std::vector<TensorSpec> same_shape_binary(const std::string& op, const std::vector<const TensorSpec*>& in) {
  if (in.size() != 2) op_error(op, "inputs", "2 tensors", std::to_string(in.size()), "ERR_ARG");
  if (in[0]->shape != in[1]->shape) op_error(op, "b", "the shape of a " + shape_string(in[0]->shape), shape_string(in[1]->shape));
  return {TensorSpec{in[0]->dtype, in[0]->shape}};
}

}  // namespace

void register_elementwise_ops() {
  register_op({"add", 2, {}, false, [](auto& in, auto&) { return same_shape_binary("add", in); }});
  register_op({"mul", 2, {}, false, [](auto& in, auto&) { return same_shape_binary("mul", in); }});
  register_op({"scale", 1, {}, false, [](auto& in, const Attrs& a) {
                 a.num("scale", "alpha");
                 return std::vector<TensorSpec>{TensorSpec{in[0]->dtype, in[0]->shape}};
               }});
}

}  // namespace ctxwin
