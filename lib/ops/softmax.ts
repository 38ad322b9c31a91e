/**
 * Row softmax and the fused softmax + cross-entropy loss (with its gradient in the same pass).
 */
import { IGNORE_INDEX } from "../defaults.js";
import { argError } from "../errors.js";
import type { Tensor } from "../tensor.js";
import { boolean, checkF32, checkRank, fail, finiteNumber, integer, numel, options, shapeStr, tensorArg } from "./check.js";
import { runOp } from "./run.js";

/** softmax over the last dim of x [*, V] (x's dtype); e.g. next-token probabilities for sampling. */
export function softmax(x: Tensor): Tensor {
  const fn = "softmax";
  tensorArg(fn, "x", x);
  checkRank(fn, "x", x, 1);
  if (x.shape[x.shape.length - 1] === 0) fail("ERR_SHAPE", fn, "x", "a non-empty last dim", `shape ${shapeStr(x.shape)}`);
  return runOp("softmax", [x])[0]!;
}

export interface SoftmaxCrossEntropyOptions {
  /** Rows whose target equals this are ignored (loss 0, zero gradient, not counted). Default -100. */
  ignoreIndex?: number;
  /** Also return dlogits. Default false. */
  grad?: boolean;
  /** dlogits scale. Default 1 / (number of non-ignored rows): the gradient of the mean loss. */
  gradScale?: number;
}

/**
 * Per-row cross-entropy of softmax(logits) against integer targets, numerically stable
 * (max-subtracted; exp sums in f32 lanes folded into f64).
 * @param logits [*, V] (rows = the leading dims)
 * @param targets f32 ids, one per row (any shape with that many elements)
 * @returns losses [*] (f32): logsumexp(row) − row[target], 0 for ignored rows; with `grad`,
 *   dlogits [*, V] (logits' dtype) = (softmax(row) − onehot(target)) · gradScale, zero rows for
 *   ignored targets. A target that is neither ignoreIndex nor in [0, V) makes the results fail
 *   when read.
 */
export function softmaxCrossEntropy(
  logits: Tensor,
  targets: Tensor,
  opts?: SoftmaxCrossEntropyOptions,
): { losses: Tensor; dlogits?: Tensor } {
  const fn = "softmaxCrossEntropy";
  tensorArg(fn, "logits", logits);
  tensorArg(fn, "targets", targets);
  const o = options(fn, opts, ["ignoreIndex", "grad", "gradScale"]);
  const ignoreIndex = integer(fn, "ignoreIndex", o.ignoreIndex, -(2 ** 40), 2 ** 40, IGNORE_INDEX);
  const grad = boolean(fn, "grad", o.grad, false);
  const gradScale = o.gradScale === undefined ? undefined : finiteNumber(fn, "gradScale", o.gradScale);
  checkRank(fn, "logits", logits, 2, "at least 2 dims [N, V]");
  if (logits.shape[logits.shape.length - 1] === 0) fail("ERR_SHAPE", fn, "logits", "a non-empty last dim", `shape ${shapeStr(logits.shape)}`);
  checkF32(fn, "targets", targets);
  const rows = numel(logits.shape.slice(0, -1));
  if (numel(targets.shape) !== rows) {
    fail("ERR_SHAPE", fn, "targets", `${rows} targets (one per row of logits ${shapeStr(logits.shape)})`, `shape ${shapeStr(targets.shape)}`);
  }
  const outs = runOp("softmax_cross_entropy", [logits, targets], { ignoreIndex, grad, gradScale });
  return grad ? { losses: outs[0]!, dlogits: outs[1]! } : { losses: outs[0]! };
}
