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

/** Exact GELU 0.5·x·(1 + erf(x/√2)) (HF's "gelu": BERT, RoBERTa), x's shape and dtype. */
export function geluErf(x: Tensor): Tensor {
  tensorArg("geluErf", "x", x);
  return runOp("gelu_erf", [x])[0]!;
}

/** Backward of geluErf: dx = dy · (Φ(x) + x·φ(x)) (dy's dtype). */
export function geluErfBackward(dy: Tensor, x: Tensor): Tensor {
  const fn = "geluErfBackward";
  tensorArg(fn, "dy", dy);
  tensorArg(fn, "x", x);
  checkSameShape(fn, "x", x, "dy", dy);
  return runOp("gelu_erf_backward", [dy, x])[0]!;
}

/** tanh(x), x's shape and dtype. */
export function tanh(x: Tensor): Tensor {
  tensorArg("tanh", "x", x);
  return runOp("tanh", [x])[0]!;
}

/** Backward of tanh from its output y: dx = dy · (1 − y²) (dy's dtype). */
export function tanhBackward(dy: Tensor, y: Tensor): Tensor {
  const fn = "tanhBackward";
  tensorArg(fn, "dy", dy);
  tensorArg(fn, "y", y);
  checkSameShape(fn, "y", y, "dy", dy);
  return runOp("tanh_backward", [dy, y])[0]!;
}
