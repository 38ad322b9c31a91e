/**
 * matmul: the blocked, SIMD, threaded GEMM (native/src/cpu/ops/gemm.h) behind one op.
 */
import { argError } from "../errors.js";
import type { Tensor } from "../tensor.js";
import { boolean, fail, finiteNumber, options, shapeStr, tensorArg } from "./check.js";
import { runOp } from "./run.js";

export interface MatmulOptions {
  /** Use aᵀ: a [*, M] is viewed as [R, M] and op(a) = aᵀ [M, R] (K = R). Default false. */
  transA?: boolean;
  /** Use bᵀ: b is [N, K]. Default false. */
  transB?: boolean;
  /** Scales op(a)·op(b). Default 1. */
  alpha?: number;
  /** Scales c. Default 1 when c is given; must be 0 (or left out) without c. */
  beta?: number;
  /** Added as beta·c; the output's shape, any dtype. */
  c?: Tensor | null;
}

/**
 * out = alpha · op(a) · op(b) + beta · c, accumulated in f32; the output takes a's dtype.
 *
 * - without transA: a [*, K] (leading dims flattened to M rows) → out [*, N] (a's leading dims + N)
 * - with transA: a [*, M] viewed as [R, M]; op(a) = aᵀ [M, R], K = R → out [M, N]
 *   (weight gradients: matmul(x, dy, { transA: true }) = xᵀ·dy)
 * - b [K, N], or with transB [N, K] (x·Wᵀ for a [out, in] weight)
 */
export function matmul(a: Tensor, b: Tensor, opts?: MatmulOptions): Tensor {
  const fn = "matmul";
  tensorArg(fn, "a", a);
  tensorArg(fn, "b", b);
  const o = options(fn, opts, ["transA", "transB", "alpha", "beta", "c"]);
  const transA = boolean(fn, "transA", o.transA, false);
  const transB = boolean(fn, "transB", o.transB, false);
  const alpha = finiteNumber(fn, "alpha", o.alpha, 1);
  const c = (o.c ?? null) as Tensor | null;
  if (c !== null) tensorArg(fn, "c", c);
  const beta = finiteNumber(fn, "beta", o.beta, c ? 1 : 0);
  if (!c && beta !== 0) argError("ERR_ARG", fn, "beta", "0 when no c is given", beta);
  if (a.shape.length < 1) fail("ERR_SHAPE", fn, "a", "at least 1 dim", `shape ${shapeStr(a.shape)}`);
  if (b.shape.length !== 2) fail("ERR_SHAPE", fn, "b", transB ? "a 2-d tensor [N, K]" : "a 2-d tensor [K, N]", `shape ${shapeStr(b.shape)}`);
  const last = a.shape[a.shape.length - 1]!;
  const lead = a.shape.slice(0, -1).reduce((p, d) => p * d, 1);
  const K = transA ? lead : last;
  const [b0, b1] = b.shape as [number, number];
  const bk = transB ? b1 : b0;
  const N = transB ? b0 : b1;
  if (bk !== K) {
    const kWhat = transA ? "the product of a's leading dims (transA)" : "the last dim of a";
    argError("ERR_SHAPE", fn, "b", transB ? `shape [N, ${K}] (transB; K = ${K}, ${kWhat})` : `shape [${K}, N] (K = ${K}, ${kWhat})`, [...b.shape]);
  }
  const outShape = transA ? [last, N] : [...a.shape.slice(0, -1), N];
  if (c && (c.shape.length !== outShape.length || c.shape.some((d, i) => d !== outShape[i]))) {
    argError("ERR_SHAPE", fn, "c", `shape ${shapeStr(outShape)} (the output's)`, [...c.shape]);
  }
  return runOp("matmul", [a, b, c], { transA, transB, alpha, beta })[0]!;
}
