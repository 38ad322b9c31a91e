/**
 * Gated prefix attention (adaptive prefix tuning, seed 004; native/src/ops/gated_prefix.cpp has
 * the math): an exact attention over P prefix keys/values scaled per (query, prefix token) by
 * c = lambda · sigmoid(gate logit), merged with an attention over the real tokens (o_r, lse_r from the fused
 * attention) through their log-sum-exp. The merged lse is returned for the backward.
 */
import type { Tensor } from "../tensor.js";
import { checkF32, fail, positiveNumber, shapeStr, tensorArg } from "./check.js";
import { runOp } from "./run.js";

export interface GatedPrefixInputs {
  /** Queries [B, T, H, D] (rotated as the fused attention saw them). */
  q: Tensor;
  /** Prefix keys / values [P, Hkv, D] (never rotated). */
  keys: Tensor;
  values: Tensor;
  /** Gate logits [B, T, P] (one per token) or [B, 1, P] (one per sequence); the gate is their sigmoid. */
  gate: Tensor;
  /** The layer's scale λ, [1]. */
  lambda: Tensor;
  /** The fused attention's output [B, T, H, D] and lse [B, H, T] over the real tokens. */
  out: Tensor;
  lse: Tensor;
}

const NAMES = ["q", "keys", "values", "gate", "lambda", "out", "lse"] as const;

function inputsOf(fn: string, x: GatedPrefixInputs): Tensor[] {
  if (x === null || typeof x !== "object") fail("ERR_ARG", fn, "inputs", "an object { q, keys, values, gate, lambda, out, lse }", String(x));
  const ts = NAMES.map((n) => {
    tensorArg(fn, n, x[n]);
    checkF32(fn, n, x[n]);
    return x[n];
  });
  const [B, T, H, D] = x.q.shape as number[];
  if (x.q.shape.length !== 4) fail("ERR_SHAPE", fn, "q", "4 dims [B, T, H, D]", `shape ${shapeStr(x.q.shape)}`);
  const [P, Hkv, Dk] = x.keys.shape as number[];
  if (x.keys.shape.length !== 3 || Dk !== D || !(P! >= 1) || H! % Hkv! !== 0) {
    fail("ERR_SHAPE", fn, "keys", `[P ≥ 1, Hkv dividing ${H}, ${D}]`, `shape ${shapeStr(x.keys.shape)}`);
  }
  if (shapeStr(x.values.shape) !== shapeStr(x.keys.shape)) fail("ERR_SHAPE", fn, "values", `the shape of keys ${shapeStr(x.keys.shape)}`, `shape ${shapeStr(x.values.shape)}`);
  const g = x.gate.shape;
  if (g.length !== 3 || g[0] !== B || (g[1] !== T && g[1] !== 1) || g[2] !== P) fail("ERR_SHAPE", fn, "gate", `[${B}, ${T} or 1, ${P}]`, `shape ${shapeStr(g)}`);
  if (shapeStr(x.lambda.shape) !== "[1]") fail("ERR_SHAPE", fn, "lambda", "shape [1]", `shape ${shapeStr(x.lambda.shape)}`);
  if (shapeStr(x.out.shape) !== shapeStr(x.q.shape)) fail("ERR_SHAPE", fn, "out", `the shape of q ${shapeStr(x.q.shape)}`, `shape ${shapeStr(x.out.shape)}`);
  if (shapeStr(x.lse.shape) !== shapeStr([B!, H!, T!])) fail("ERR_SHAPE", fn, "lse", `shape ${shapeStr([B!, H!, T!])}`, `shape ${shapeStr(x.lse.shape)}`);
  return ts;
}

/** Merged output [B, T, H, D] and lse [B, H, T]. */
export function gatedPrefixAttention(x: GatedPrefixInputs, opts: { softmaxScale: number }): { out: Tensor; lse: Tensor } {
  const fn = "gatedPrefixAttention";
  const ins = inputsOf(fn, x);
  const softmaxScale = positiveNumber(fn, "softmaxScale", opts?.softmaxScale);
  const [out, lse] = runOp("gated_prefix_attention", ins, { softmaxScale });
  return { out: out!, lse: lse! };
}

export interface GatedPrefixGrads {
  dq: Tensor;
  dKeys: Tensor;
  dValues: Tensor;
  dGate: Tensor;
  dLambda: Tensor;
  /** Gradients of the fused attention's output and lse (feed them to attentionBackward). */
  dOut: Tensor;
  dLse: Tensor;
}

/** Gradients of sum(gatedPrefixAttention(x).out ∘ dMerged) (`merged` is that call's result). */
export function gatedPrefixAttentionBackward(x: GatedPrefixInputs, merged: { out: Tensor; lse: Tensor }, dMerged: Tensor, opts: { softmaxScale: number }): GatedPrefixGrads {
  const fn = "gatedPrefixAttentionBackward";
  const ins = inputsOf(fn, x);
  for (const [n, t] of [["merged.out", merged?.out], ["merged.lse", merged?.lse], ["dMerged", dMerged]] as const) {
    tensorArg(fn, n, t);
    checkF32(fn, n, t!);
  }
  const softmaxScale = positiveNumber(fn, "softmaxScale", opts?.softmaxScale);
  const g = runOp("gated_prefix_attention_backward", [...ins, merged.out, merged.lse, dMerged], { softmaxScale });
  return { dq: g[0]!, dKeys: g[1]!, dValues: g[2]!, dGate: g[3]!, dLambda: g[4]!, dOut: g[5]!, dLse: g[6]! };
}
