/**
 * Activations and their backwards (elementwise; all inputs of one call share a shape).
 */
import type { Tensor } from "../tensor.js";
import { checkSameShape, tensorArg } from "./check.js";
import { runOp } from "./run.js";

/** silu(gate) · up, gate's shape and dtype (silu(g) = g·sigmoid(g)). */
export function swiglu(gate: Tensor, up: Tensor): Tensor {
  const fn = "swiglu";
  tensorArg(fn, "gate", gate);
  tensorArg(fn, "up", up);
  checkSameShape(fn, "up", up, "gate", gate);
  return runOp("swiglu", [gate, up])[0]!;
}

/** Backward of swiglu: dgate = dy·up·silu'(gate), dup = dy·silu(gate) (dy's dtype). */
export function swigluBackward(dy: Tensor, gate: Tensor, up: Tensor): { dgate: Tensor; dup: Tensor } {
  const fn = "swigluBackward";
  tensorArg(fn, "dy", dy);
  tensorArg(fn, "gate", gate);
  tensorArg(fn, "up", up);
  checkSameShape(fn, "gate", gate, "dy", dy);
  checkSameShape(fn, "up", up, "dy", dy);
  const [dgate, dup] = runOp("swiglu_backward", [dy, gate, up]);
  return { dgate: dgate!, dup: dup! };
}

/** tanh-approximated GELU: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), x's shape and dtype. */
export function geluTanh(x: Tensor): Tensor {
  tensorArg("geluTanh", "x", x);
  return runOp("gelu_tanh", [x])[0]!;
}

/** Backward of geluTanh: dx = dy · gelu'(x) (dy's dtype). */
export function geluTanhBackward(dy: Tensor, x: Tensor): Tensor {
  const fn = "geluTanhBackward";
  tensorArg(fn, "dy", dy);
  tensorArg(fn, "x", x);
  checkSameShape(fn, "x", x, "dy", dy);
  return runOp("gelu_tanh_backward", [dy, x])[0]!;
}
