/**
 * Elementwise ops. Outputs take the first input's dtype; half-type inputs compute in f32.
 */
import { argError } from "../errors.js";
import type { Tensor } from "../tensor.js";
import { checkRank, checkSameShape, finiteNumber, tensorArg } from "./check.js";
import { runOp } from "./run.js";

/** a + b (same shapes). */
export function add(a: Tensor, b: Tensor): Tensor {
  tensorArg("add", "a", a);
  tensorArg("add", "b", b);
  checkSameShape("add", "b", b, "a", a);
  return runOp("add", [a, b])[0]!;
}

/** a · b elementwise (same shapes). */
export function mul(a: Tensor, b: Tensor): Tensor {
  tensorArg("mul", "a", a);
  tensorArg("mul", "b", b);
  checkSameShape("mul", "b", b, "a", a);
  return runOp("mul", [a, b])[0]!;
}

/** alpha · x. */
export function scale(x: Tensor, alpha: number): Tensor {
  tensorArg("scale", "x", x);
  finiteNumber("scale", "alpha", alpha);
  return runOp("scale", [x], { alpha })[0]!;
}

/** x [*, d] + b [d] (b broadcast over the leading dims). */
export function addBias(x: Tensor, b: Tensor): Tensor {
  const fn = "addBias";
  tensorArg(fn, "x", x);
  tensorArg(fn, "b", b);
  checkRank(fn, "x", x, 1);
  const d = x.shape[x.shape.length - 1]!;
  if (b.shape.length !== 1 || b.shape[0] !== d) argError("ERR_SHAPE", fn, "b", `shape [${d}] (the last dim of x)`, [...b.shape]);
  return runOp("add_bias", [x, b])[0]!;
}

/** A new tensor of x's shape and dtype with every element `value` (x is not modified). */
export function fill(x: Tensor, value: number): Tensor {
  tensorArg("fill", "x", x);
  if (typeof value !== "number") argError("ERR_ARG", "fill", "value", "a number", value);
  return runOp("fill", [x], { value })[0]!;
}
