/**
 * RMSNorm and LayerNorm over the last dim, with their backwards. Statistics (rstd, mean) are f32
 * tensors of x's leading dims ([1] for a 1-d x), saved by the forward for the backward.
 */
import { argError } from "../errors.js";
import type { Tensor } from "../tensor.js";
import { checkF32, checkRank, checkSameShape, fail, numel, positiveNumber, shapeStr, tensorArg } from "./check.js";
import { runOp } from "./run.js";

function lastDim(fn: string, x: Tensor): number {
  checkRank(fn, "x", x, 1);
  const d = x.shape[x.shape.length - 1]!;
  if (d === 0) fail("ERR_SHAPE", fn, "x", "a non-empty last dim", `shape ${shapeStr(x.shape)}`);
  return d;
}

function checkVec(fn: string, name: string, t: Tensor, d: number): void {
  tensorArg(fn, name, t);
  if (t.shape.length !== 1 || t.shape[0] !== d) argError("ERR_SHAPE", fn, name, `shape [${d}] (the last dim of x)`, [...t.shape]);
}

function checkStat(fn: string, name: string, t: Tensor, x: Tensor): void {
  tensorArg(fn, name, t);
  checkF32(fn, name, t);
  const rows = numel(x.shape.slice(0, -1));
  if (numel(t.shape) !== rows) argError("ERR_SHAPE", fn, name, `shape ${shapeStr(x.shape.length > 1 ? x.shape.slice(0, -1) : [1])} (one value per row of x)`, [...t.shape]);
}

/**
 * y = x · rstd · w with rstd = 1/sqrt(mean(x²) + eps) per row.
 * @param x [*, d]; w [d]; eps > 0 (default 1e-6)
 * @returns y [*, d] (x's dtype) and rstd [*] (f32)
 */
export function rmsnorm(x: Tensor, w: Tensor, eps = 1e-6): { y: Tensor; rstd: Tensor } {
  const fn = "rmsnorm";
  tensorArg(fn, "x", x);
  const d = lastDim(fn, x);
  checkVec(fn, "w", w, d);
  positiveNumber(fn, "eps", eps);
  const [y, rstd] = runOp("rmsnorm", [x, w], { eps });
  return { y: y!, rstd: rstd! };
}

/**
 * Backward of rmsnorm. dy, x [*, d]; w [d]; rstd [*] from the forward.
 * @returns dx [*, d] (dy's dtype) and dw [d] (f32, summed over rows)
 */
export function rmsnormBackward(dy: Tensor, x: Tensor, w: Tensor, rstd: Tensor): { dx: Tensor; dw: Tensor } {
  const fn = "rmsnormBackward";
  tensorArg(fn, "dy", dy);
  tensorArg(fn, "x", x);
  const d = lastDim(fn, x);
  checkSameShape(fn, "dy", dy, "x", x);
  checkVec(fn, "w", w, d);
  checkStat(fn, "rstd", rstd, x);
  const [dx, dw] = runOp("rmsnorm_backward", [dy, x, w, rstd]);
  return { dx: dx!, dw: dw! };
}

/**
 * y = (x − mean) · rstd · w + b per row (biased variance, rstd = 1/sqrt(var + eps)).
 * @param x [*, d]; w [d]; b [d] or null (no bias); eps > 0 (default 1e-5)
 * @returns y [*, d] (x's dtype), mean [*] and rstd [*] (f32)
 */
export function layernorm(x: Tensor, w: Tensor, b: Tensor | null, eps = 1e-5): { y: Tensor; mean: Tensor; rstd: Tensor } {
  const fn = "layernorm";
  tensorArg(fn, "x", x);
  const d = lastDim(fn, x);
  checkVec(fn, "w", w, d);
  if (b !== null && b !== undefined) checkVec(fn, "b", b, d);
  positiveNumber(fn, "eps", eps);
  const [y, mean, rstd] = runOp("layernorm", [x, w, b ?? null], { eps });
  return { y: y!, mean: mean!, rstd: rstd! };
}

/**
 * Backward of layernorm. dy, x [*, d]; w [d]; mean, rstd [*] from the forward.
 * @returns dx [*, d] (dy's dtype), dw [d] and db [d] (f32, summed over rows)
 */
export function layernormBackward(dy: Tensor, x: Tensor, w: Tensor, mean: Tensor, rstd: Tensor): { dx: Tensor; dw: Tensor; db: Tensor } {
  const fn = "layernormBackward";
  tensorArg(fn, "dy", dy);
  tensorArg(fn, "x", x);
  const d = lastDim(fn, x);
  checkSameShape(fn, "dy", dy, "x", x);
  checkVec(fn, "w", w, d);
  checkStat(fn, "mean", mean, x);
  checkStat(fn, "rstd", rstd, x);
  const [dx, dw, db] = runOp("layernorm_backward", [dy, x, w, mean, rstd]);
  return { dx: dx!, dw: dw!, db: db! };
}
