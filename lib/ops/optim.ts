/**
 * Fused AdamW step, in place on the parameter and its moments.
 */
import { argError } from "../errors.js";
import type { Tensor } from "../tensor.js";
import { checkF32, checkSameShape, finiteNumber, integer, nonNegativeNumber, numel, options, positiveNumber, tensorArg } from "./check.js";
import { runOp } from "./run.js";

export interface AdamWOptions {
  /** Learning rate (required, >= 0). */
  lr: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay: param *= 1 − lr·weightDecay before the update. Default 0.01 (PyTorch). */
  weightDecay?: number;
  /** 1-based step number (bias correction). Required. */
  step: number;
  /**
   * Gradient clipping: with a `norm` tensor, the gradient is scaled by
   * min(1, maxNorm / (gradScale·norm + 1e-6)). 0 (default) disables it.
   */
  maxNorm?: number;
  /** globalNorm() of the raw gradients (before gradScale), [1]; used when maxNorm > 0. */
  norm?: Tensor | null;
  /** Multiplies the gradient (e.g. 1/accumulation steps). Default 1. */
  gradScale?: number;
}

/**
 * One AdamW step with PyTorch's semantics (torch.optim.AdamW), queued on the device; param, m
 * and v are updated in place (nothing is returned, nothing waits):
 *   g = grad · gradScale · clip;  param *= 1 − lr·wd;  m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²;
 *   param −= lr/(1−β1^step) · m / (sqrt(v)/sqrt(1−β2^step) + eps)
 * @param param f32, bf16 or f16 (updated in f32 and rounded back)
 * @param grad the param's shape, any dtype
 * @param m first moment, f32, the param's shape (start at zeros)
 * @param v second moment, f32, the param's shape (start at zeros)
 */
export function adamw(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, opts: AdamWOptions): void {
  const fn = "adamw";
  tensorArg(fn, "param", param);
  tensorArg(fn, "grad", grad);
  tensorArg(fn, "m", m);
  tensorArg(fn, "v", v);
  if (opts === undefined) argError("ERR_ARG", fn, "opts", "an object with lr and step", opts);
  const o = options(fn, opts, ["lr", "beta1", "beta2", "eps", "weightDecay", "step", "maxNorm", "norm", "gradScale"]);
  const lr = nonNegativeNumber(fn, "lr", o.lr);
  const beta1 = finiteNumber(fn, "beta1", o.beta1, 0.9);
  const beta2 = finiteNumber(fn, "beta2", o.beta2, 0.999);
  if (!(beta1 >= 0 && beta1 < 1)) argError("ERR_ARG", fn, "beta1", "a number in [0, 1)", beta1);
  if (!(beta2 >= 0 && beta2 < 1)) argError("ERR_ARG", fn, "beta2", "a number in [0, 1)", beta2);
  const eps = positiveNumber(fn, "eps", o.eps, 1e-8);
  const weightDecay = nonNegativeNumber(fn, "weightDecay", o.weightDecay, 0.01);
  const step = integer(fn, "step", o.step, 1, 2 ** 50);
  const maxNorm = nonNegativeNumber(fn, "maxNorm", o.maxNorm, 0);
  const gradScale = finiteNumber(fn, "gradScale", o.gradScale, 1);
  const norm = (o.norm ?? null) as Tensor | null;
  if (norm !== null) {
    tensorArg(fn, "norm", norm);
    if (numel(norm.shape) !== 1) argError("ERR_SHAPE", fn, "norm", "a tensor of 1 element (globalNorm)", [...norm.shape]);
  }
  checkSameShape(fn, "grad", grad, "param", param);
  checkSameShape(fn, "m", m, "param", param);
  checkSameShape(fn, "v", v, "param", param);
  checkF32(fn, "m", m);
  checkF32(fn, "v", v);
  runOp("adamw", [param, grad, m, v, norm], { lr, beta1, beta2, eps, weightDecay, step, maxNorm, gradScale });
}
