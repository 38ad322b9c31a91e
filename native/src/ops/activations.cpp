// Activations and their backwards (elementwise; every input of one op has one shape).
//
// swiglu(gate, up) -> silu(gate) * up                      (gate's dtype)
// swiglu_backward(dy, gate, up) -> (dgate, dup)            (dy's dtype)
// gelu_tanh(x) -> 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
// gelu_tanh_backward(dy, x) -> dx                          (dy's dtype)
// gelu_erf(x) -> 0.5 x (1 + erf(x / sqrt 2))               (BERT's exact "gelu")
// gelu_erf_backward(dy, x) -> dy (Phi(x) + x phi(x))
// tanh(x) -> tanh(x)                                       (BERT's pooler, RoBERTa's head)
// tanh_backward(dy, y) -> dy (1 - y^2)                     (y: the forward's output)
#include "ops/op_util.h"

namespace ctxwin {

namespace {

// All inputs the shape of the first; outputs: `outs` tensors of that shape in the first's dtype.
OpDef same_shape_op(const char* name, std::vector<const char*> arg_names, int outs) {
  OpDef d;
  d.name = name;
  d.num_inputs = (int)arg_names.size();
  d.infer = [name, arg_names, outs](const std::vector<const TensorSpec*>& in, const Attrs&) {
    opu::count(name, in, arg_names.size(), arg_names.size());
    const TensorSpec& first = opu::req(name, in, 0, arg_names[0]);
    for (size_t i = 1; i < in.size(); ++i)
      opu::same_shape(name, arg_names[i], opu::req(name, in, i, arg_names[i]), arg_names[0], first);
    return std::vector<TensorSpec>((size_t)outs, TensorSpec{first.dtype, first.shape});
  };
  return d;
}

}  // namespace

void register_activation_ops() {
  register_op(same_shape_op("swiglu", {"gate", "up"}, 1));
  register_op(same_shape_op("swiglu_backward", {"dy", "gate", "up"}, 2));
  register_op(same_shape_op("gelu_tanh", {"x"}, 1));
  register_op(same_shape_op("gelu_tanh_backward", {"dy", "x"}, 1));
  register_op(same_shape_op("gelu_erf", {"x"}, 1));
  register_op(same_shape_op("gelu_erf_backward", {"dy", "x"}, 1));
  register_op(same_shape_op("tanh", {"x"}, 1));
  register_op(same_shape_op("tanh_backward", {"dy", "y"}, 1));
}

}  // namespace ctxwin
