/**
 * Reductions. Results are f32 (sums accumulate in f32 lanes folded into f64, per-chunk partials
 * combined in a fixed order: the same bits on every machine).
 */
import { argError } from "../errors.js";
import type { Tensor } from "../tensor.js";
import { checkRank, tensorArg } from "./check.js";
import { runOp } from "./run.js";

/** x [*, d] summed over every leading index → [d] (bias gradients). */
export function sumRows(x: Tensor): Tensor {
  tensorArg("sumRows", "x", x);
  checkRank("sumRows", "x", x, 1);
  return runOp("sum_rows", [x])[0]!;
}

/** Sum of every element → [1]. */
export function sum(x: Tensor): Tensor {
  tensorArg("sum", "x", x);
  return runOp("sum", [x])[0]!;
}

/** Sum of squares of every element → [1]. */
export function sumsq(x: Tensor): Tensor {
  tensorArg("sumsq", "x", x);
  return runOp("sumsq", [x])[0]!;
}

/** sqrt(Σ sumsq(tᵢ)) over all the tensors → [1] (for adamw's maxNorm clipping, no host round trip). */
export function globalNorm(tensors: readonly Tensor[]): Tensor {
  const fn = "globalNorm";
  if (!Array.isArray(tensors) || tensors.length === 0) argError("ERR_ARG", fn, "tensors", "a non-empty array of Tensors", tensors);
  tensors.forEach((t, i) => tensorArg(fn, `tensors[${i}]`, t));
  return runOp("global_norm", tensors)[0]!;
}
