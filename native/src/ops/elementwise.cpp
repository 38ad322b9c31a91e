// Elementwise ops (outputs take the first input's dtype):
//   add(a, b), mul(a, b): same shapes          scale(x; alpha)
//   add_bias(x [*, d], b [d]) -> x + b (broadcast over the leading dims)
//   fill(x; value) -> a tensor of x's shape and dtype filled with value
#include "ops/op_util.h"

namespace ctxwin {

namespace {

std::vector<TensorSpec> same_shape_binary(const std::string& op, const std::vector<const TensorSpec*>& in) {
  opu::count(op, in, 2, 2);
  const TensorSpec& a = opu::req(op, in, 0, "a");
  opu::same_shape(op, "b", opu::req(op, in, 1, "b"), "a", a);
  return {TensorSpec{a.dtype, a.shape}};
}

}  // namespace

void register_elementwise_ops() {
  register_op({"add", 2, {}, false, [](auto& in, auto&) { return same_shape_binary("add", in); }});
  register_op({"mul", 2, {}, false, [](auto& in, auto&) { return same_shape_binary("mul", in); }});
  register_op({"scale", 1, {}, false, [](auto& in, const Attrs& a) {
                 opu::count("scale", in, 1, 1);
                 const TensorSpec& x = opu::req("scale", in, 0, "x");
                 opu::finite_req("scale", a, "alpha");
                 return std::vector<TensorSpec>{TensorSpec{x.dtype, x.shape}};
               }});
  register_op({"add_bias", 2, {}, false, [](auto& in, auto&) {
                 const char* op = "add_bias";
                 opu::count(op, in, 2, 2);
                 const TensorSpec& x = opu::req(op, in, 0, "x");
                 const TensorSpec& b = opu::req(op, in, 1, "b");
                 opu::rank_at_least(op, "x", x, 1);
                 if (b.shape != std::vector<int64_t>{x.shape.back()})
                   op_error(op, "b", "shape [" + std::to_string(x.shape.back()) + "] (the last dim of x)", shape_string(b.shape));
                 return std::vector<TensorSpec>{TensorSpec{x.dtype, x.shape}};
               }});
  register_op({"fill", 1, {}, false, [](auto& in, const Attrs& a) {
                 const char* op = "fill";
                 opu::count(op, in, 1, 1);
                 const TensorSpec& x = opu::req(op, in, 0, "x");
                 opu::attr_is_number(op, a, "value");
                 if (!a.nums.count("value")) op_error(op, "value", "a number", "nothing", "ERR_ARG");
                 return std::vector<TensorSpec>{TensorSpec{x.dtype, x.shape}};
               }});
}

}  // namespace ctxwin
