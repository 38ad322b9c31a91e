/**
 * Differentiable ops on Variables (see lib/nn/autograd.ts for recording and ownership rules).
 * Each op computes its forward with one native op and records a backward calling the native
 * backward op. Shapes (row-major):
 *   linear     x [..., in], w [out, in], b [out]      → [..., out]           (y = x·wᵀ + b)
 *   matmul     a [M, K] (or [..., K]), b [K, N] / [N, K] with transB → [M, N]
 *   embedding  w [V, d], ids Tensor [...] (f32-valued) → [..., d]
 *   rmsnorm    x [..., d], w [d]                      → [..., d]
 *   layernorm  x [..., d], w [d], b [d]               → [..., d]
 *   swiglu     gate, up [..., f]                      → [..., f]             (silu(gate)·up)
 *   gelu       x                                      → same                 (tanh approximation)
 *   geluErf / tanh x                                  → same                 (computed on the host)
 *   gatherRows x [N, d], rows                         → [rows.length, d]
 *   attention  q [B, Tq, Hq, D], k/v [B, Tk, Hkv, D]  → [B, Tq, Hq, D]       (fused kernel)
 *   crossEntropy logits [N, V], targets [N]           → [1]                  (mean over counted rows)
 *   add/mul    same shapes; scale x·α; addBias x [..., d] + b [d]; concat/slice along a dim;
 *   reshape    free view; sum → [1]
 * Gradients of parameter-like inputs are accumulated with GEMM c/beta where possible.
 */
import { CtxwinError } from "../errors.js";
import { IGNORE_INDEX } from "../defaults.js";
import { Tensor, numel } from "../tensor.js";
import { attentionBackward, attentionWithLse, type AttentionOptions } from "../attention.js";
import * as ops from "../ops/index.js";
import { activeTape, emit, emitMany, knownScalar, tagScalar, Variable, type BackwardContext } from "./autograd.js";

function shapeStr(s: readonly number[]): string {
  return `[${s.join(", ")}]`;
}

function check(cond: boolean, fn: string, arg: string, expected: string, got: string): void {
  if (!cond) throw new CtxwinError("ERR_SHAPE", `${fn}: ${arg}: expected ${expected}, got ${got}`);
}

/** A same-shape tensor of zeros. */
export function zerosLike(t: Tensor): Tensor {
  return ops.fill(t, 0);
}

/** t viewed as `shape` (t's handle is given up). */
function reshaped(t: Tensor, shape: readonly number[]): Tensor {
  if (t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i])) return t;
  const r = t.reshape(shape);
  t.dispose();
  return r;
}

// ---------------------------------------------------------------- shape ops

/** A view with another shape (free); the gradient is viewed back. */
export function reshape(x: Variable, shape: readonly number[]): Variable {
  const inShape = x.shape;
  const y = x.value.reshape(shape);
  return emit("reshape", [x], y, (g) => {
    const r = g.reshape(inShape);
    const k = knownScalar(g);
    if (k !== undefined) tagScalar(r, k);
    return [r];
  });
}

/** Concatenation along `dim`. */
export function concat(a: Variable, b: Variable, dim: number): Variable {
  const na = a.shape[dim]!;
  const nb = b.shape[dim]!;
  const y = ops.concat(a.value, b.value, dim);
  return emit("concat", [a, b], y, (g, ctx) => [
    ctx.needs(0) ? ops.slice(g, dim, 0, na) : null,
    ctx.needs(1) ? ops.slice(g, dim, na, na + nb) : null,
  ]);
}

/** Rows [start, end) along `dim` (a copy). The backward scatters the gradient into zeros. */
export function slice(x: Variable, dim: number, start: number, end: number): Variable {
  const inShape = x.shape;
  const { device, dtype } = x.value;
  const y = ops.slice(x.value, dim, start, end);
  return emit("slice", [x], y, (g) => {
    const z = Tensor.from(new Float32Array(numel(inShape)), inShape, { device, dtype });
    ops.copyInto(z, g, dim, start);
    return [z];
  });
}

/** `n` copies of x [1, ...] stacked along dim 0 → [n, ...] (e.g. a prefix broadcast over the batch). */
export function repeatBatch(x: Variable, n: number): Variable {
  check(x.shape[0] === 1, "repeatBatch", "x", "a leading dim of 1", shapeStr(x.shape));
  if (n === 1) return reshape(x, x.shape);
  let acc = ops.concat(x.value, x.value, 0);
  let have = 2;
  while (have < n) {
    const take = Math.min(have, n - have);
    const part = take === have ? acc : ops.slice(acc, 0, 0, take);
    const next = ops.concat(acc, part, 0);
    if (part !== acc) part.dispose();
    acc.dispose();
    acc = next;
    have += take;
  }
  return emit("repeatBatch", [x], acc, (g) => {
    let sum = ops.slice(g, 0, 0, 1);
    for (let i = 1; i < n; i++) {
      const s = ops.slice(g, 0, i, i + 1);
      const t = ops.add(sum, s);
      sum.dispose();
      s.dispose();
      sum = t;
    }
    return [sum];
  });
}

// ---------------------------------------------------------------- elementwise

export function add(a: Variable, b: Variable): Variable {
  check(a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]), "add", "b", `the shape of a ${shapeStr(a.shape)}`, shapeStr(b.shape));
  const y = ops.add(a.value, b.value);
  return emit("add", [a, b], y, (g, ctx) => [ctx.needs(0) ? g : null, ctx.needs(1) ? g : null]);
}

export function mul(a: Variable, b: Variable): Variable {
  check(a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]), "mul", "b", `the shape of a ${shapeStr(a.shape)}`, shapeStr(b.shape));
  const y = ops.mul(a.value, b.value);
  return emit("mul", [a, b], y, (g, ctx) => [ctx.needs(0) ? ops.mul(g, b.value) : null, ctx.needs(1) ? ops.mul(g, a.value) : null], { save: [a, b] });
}

export function scale(x: Variable, alpha: number): Variable {
  const y = ops.scale(x.value, alpha);
  return emit("scale", [x], y, (g) => {
    const r = ops.scale(g, alpha);
    const k = knownScalar(g);
    if (k !== undefined) tagScalar(r, k * alpha);
    return [r];
  });
}

/** x [..., d] + b [d]. */
export function addBias(x: Variable, b: Variable): Variable {
  const d = x.shape[x.shape.length - 1]!;
  check(b.shape.length === 1 && b.shape[0] === d, "addBias", "b", `shape [${d}]`, shapeStr(b.shape));
  const y = ops.addBias(x.value, b.value);
  return emit("addBias", [x, b], y, (g, ctx) => {
    let db: Tensor | null = null;
    if (ctx.needs(1)) {
      const g2 = g.reshape([-1, d]);
      db = ops.sumRows(g2);
      g2.dispose();
      const acc = ctx.take(1);
      if (acc) {
        const s = ops.add(acc, db);
        acc.dispose();
        db.dispose();
        db = s;
      }
    }
    return [ctx.needs(0) ? g : null, db];
  });
}

/** sum of all elements → [1]. */
export function sum(x: Variable): Variable {
  const y = reshaped(ops.sum(x.value), [1]);
  const inShape = x.shape;
  const like = x.value;
  return emit("sum", [x], y, (g) => {
    let c = knownScalar(g);
    if (c === undefined) c = g.dataSync()[0]!; // a non-constant upstream gradient (rare): read it
    return [tagScalar(filled(inShape, like, c), c)];
  }, { save: [x] });
  function filled(shape: readonly number[], t: Tensor, value: number): Tensor {
    return reshaped(ops.fill(t, value), shape);
  }
}

/** tanh-approximation GELU. */
export function gelu(x: Variable): Variable {
  const y = ops.geluTanh(x.value);
  return emit("gelu", [x], y, (g) => [ops.geluTanhBackward(g, x.value)], { save: [x] });
}

/** Exact GELU x·Φ(x) = 0.5·x·(1 + erf(x/√2)) (HF's "gelu"). Backward: Φ(x) + x·φ(x). */
export function geluErf(x: Variable): Variable {
  const y = ops.geluErf(x.value);
  return emit("geluErf", [x], y, (g) => [ops.geluErfBackward(g, x.value)], { save: [x] });
}

/** tanh (BERT's pooler, RoBERTa's classification head). Backward from the output: 1 − y². */
export function tanh(x: Variable): Variable {
  const y = ops.tanh(x.value);
  const out: Variable = emit("tanh", [x], y, (g) => [ops.tanhBackward(g, out.value)], { saveOutputs: [0] });
  return out;
}

/**
 * Rows of x [N, d] picked by index (a gather): rows[i] → [rows.length, d]. The backward
 * scatter-adds into a zero [N, d] (the embedding op's backward). Used to pick one position per
 * sequence (the last real token of a right-padded batch).
 */
export function gatherRows(x: Variable, rows: readonly number[]): Variable {
  check(x.shape.length === 2, "gatherRows", "x", "a 2-d [N, d] Variable", shapeStr(x.shape));
  const N = x.shape[0]!;
  rows.forEach((r, i) => {
    if (!Number.isInteger(r) || r < 0 || r >= N) throw new CtxwinError("ERR_ARG", `gatherRows: rows[${i}]: expected an integer in [0, ${N}), got ${r}`);
  });
  using idx = Tensor.from(Float32Array.from(rows), [rows.length], { device: x.value.device });
  return embedding(x, idx);
}

/** silu(gate) · up. */
export function swiglu(gate: Variable, up: Variable): Variable {
  const y = ops.swiglu(gate.value, up.value);
  return emit("swiglu", [gate, up], y, (g, ctx) => {
    const { dgate, dup } = ops.swigluBackward(g, gate.value, up.value);
    return [ctx.needs(0) ? dgate : (dgate.dispose(), null), ctx.needs(1) ? dup : (dup.dispose(), null)];
  }, { save: [gate, up] });
}

// ---------------------------------------------------------------- GEMM

/**
 * A weight gradient op(a)·op(b), accumulated: with f32 operands the accumulated gradient goes in as
 * the GEMM's c (beta 1); with half-precision operands the product is added into an f32 accumulator
 * (weight gradients are always f32, so accumulation over micro-batches does not round to bf16).
 */
function gemmAcc(a: Tensor, b: Tensor, o: { transA?: boolean; transB?: boolean }, ctx: BackwardContext, i: number): Tensor {
  const acc = ctx.take(i);
  if (a.dtype === "f32") {
    if (!acc) return ops.matmul(a, b, o);
    const out = ops.matmul(a, b, { ...o, beta: 1, c: acc });
    acc.dispose();
    return out;
  }
  const d = ops.matmul(a, b, o);
  let out: Tensor;
  if (acc && acc.dtype === "f32") out = ops.add(acc, d);
  else if (acc) {
    const a32 = acc.to("f32");
    out = ops.add(a32, d);
    a32.dispose();
  } else out = d.to("f32");
  acc?.dispose();
  d.dispose();
  return out;
}

/**
 * y = x·wᵀ (+ b): x [..., in], w [out, in] (the HF/PyTorch layout), b [out].
 * Backward: dx = dy·w, dw += dyᵀ·x, db += Σ_rows dy.
 */
export function linear(x: Variable, w: Variable, b?: Variable | null): Variable {
  const [out, inF] = w.shape as [number, number];
  check(w.shape.length === 2, "linear", "w", "a 2-d weight [out, in]", shapeStr(w.shape));
  check(x.shape[x.shape.length - 1] === inF, "linear", "x", `a last dim of ${inF} (the weight's in features)`, shapeStr(x.shape));
  const y = ops.matmul(x.value, w.value, { transB: true }); // [...lead, out]
  const xShape = x.shape;
  const res = emit("linear", [x, w], y, (g, ctx) => {
    const g2 = g.reshape([-1, out]);
    let dx: Tensor | null = null;
    if (ctx.needs(0)) {
      const d = ops.matmul(g2, w.value);
      dx = reshaped(d, xShape);
    }
    let dw: Tensor | null = null;
    if (ctx.needs(1)) {
      const x2 = x.value.reshape([-1, inF]);
      dw = gemmAcc(g2, x2, { transA: true }, ctx, 1);
      x2.dispose();
    }
    g2.dispose();
    return [dx, dw];
  }, { save: [x, w] });
  if (!b) return res;
  const z = addBias(res, b);
  res.release();
  return z;
}

/** a [M, K] (any leading dims, flattened) · b [K, N] (or [N, K] with transB) → [M, N]. */
export function matmul(a: Variable, b: Variable, opts: { transB?: boolean } = {}): Variable {
  const transB = opts.transB ?? false;
  const K = a.shape[a.shape.length - 1]!;
  const aShape = a.shape;
  const y = ops.matmul(a.value, b.value, { transB });
  return emit("matmul", [a, b], y, (g, ctx) => {
    let da: Tensor | null = null;
    if (ctx.needs(0)) {
      const d = ops.matmul(g, b.value, { transB: !transB });
      da = d.reshape(aShape);
      d.dispose();
    }
    let db: Tensor | null = null;
    if (ctx.needs(1)) {
      const a2 = a.value.reshape([-1, K]);
      db = transB ? gemmAcc(g, a2, { transA: true }, ctx, 1) : gemmAcc(a2, g, { transA: true }, ctx, 1);
      a2.dispose();
    }
    return [da, db];
  }, { save: [a, b] });
}

// ---------------------------------------------------------------- embedding, norms

/** Rows of w [V, d] picked by ids (a Tensor of f32-valued ids, any shape) → [...ids.shape, d]. */
export function embedding(w: Variable, ids: Tensor): Variable {
  const [V, d] = w.shape as [number, number];
  const y0 = ops.embedding(w.value, ids);
  const y = y0.reshape([...ids.shape, d]);
  y0.dispose();
  const idsCopy = ids.reshape(ids.shape); // the node's own handle (the caller may dispose ids)
  return emit("embedding", [w], y, (g, ctx) => {
    const g2 = g.reshape([-1, d]);
    let dw = ops.embeddingBackward(g2, idsCopy, V);
    g2.dispose();
    const acc = ctx.take(0);
    if (acc) {
      const s = ops.add(acc, dw);
      acc.dispose();
      dw.dispose();
      dw = s;
    }
    return [dw];
  }, { aux: [idsCopy] });
}

/** RMSNorm over the last dim: x·rsqrt(mean(x²) + eps)·w. */
export function rmsnorm(x: Variable, w: Variable, eps: number): Variable {
  const { y, rstd } = ops.rmsnorm(x.value, w.value, eps);
  return emit("rmsnorm", [x, w], y, (g, ctx) => {
    const { dx, dw } = ops.rmsnormBackward(g, x.value, w.value, rstd);
    return [ctx.needs(0) ? dx : (dx.dispose(), null), ctx.needs(1) ? accumulate(dw, ctx, 1) : (dw.dispose(), null)];
  }, { save: [x, w], aux: [rstd] });
}

/** LayerNorm over the last dim: (x − mean)·rstd·w + b. */
export function layernorm(x: Variable, w: Variable, b: Variable, eps: number): Variable {
  const { y, mean, rstd } = ops.layernorm(x.value, w.value, b.value, eps);
  return emit("layernorm", [x, w, b], y, (g, ctx) => {
    const { dx, dw, db } = ops.layernormBackward(g, x.value, w.value, mean, rstd);
    return [
      ctx.needs(0) ? dx : (dx.dispose(), null),
      ctx.needs(1) ? accumulate(dw, ctx, 1) : (dw.dispose(), null),
      ctx.needs(2) ? accumulate(db, ctx, 2) : (db.dispose(), null),
    ];
  }, { save: [x, w], aux: [mean, rstd] });
}

/** Folds the accumulated gradient of input i into g (returns the total). */
function accumulate(g: Tensor, ctx: BackwardContext, i: number): Tensor {
  const acc = ctx.take(i);
  if (!acc) return g;
  const s = ops.add(acc, g);
  acc.dispose();
  g.dispose();
  return s;
}

// ---------------------------------------------------------------- attention

/**
 * Fused attention (positional scheme, window, prefix keys inside the kernel). q [B, Tq, Hq, D],
 * k/v [B, Tk, Hkv, D] → [B, Tq, Hq, D]. The backward reuses the forward's output and logsumexp.
 */
export function attention(q: Variable, k: Variable, v: Variable, opts: AttentionOptions = {}): Variable {
  const { out, lse } = attentionWithLse(q.value, k.value, v.value, opts);
  const outVar: Variable = emit("attention", [q, k, v], out, (g, ctx) => {
    const { dq, dk, dv } = attentionBackward(q.value, k.value, v.value, g, opts, { out: outVar.value, lse });
    return [ctx.needs(0) ? dq : (dq.dispose(), null), ctx.needs(1) ? dk : (dk.dispose(), null), ctx.needs(2) ? dv : (dv.dispose(), null)];
  }, { save: [q, k, v], aux: [lse], saveOutputs: [0] });
  return outVar;
}

/**
 * Attention over the real tokens (the fused kernel, as `attention`) merged with a gated prefix
 * (adaptive prefix tuning): prefix token p's key and value are scaled, for every query, by
 * λ·sigmoid(gateLogits[b, t, p]) and attended exactly beside the fused attention, the two merged
 * through their log-sum-exp (lib/ops/gated_prefix.ts). q [B, T, Hq, D], k/v [B, Tk, Hkv, D] (no
 * prefix in them, opts.prefixKeys 0), keys/values [P, Hkv, D], gateLogits [B, T or 1, P],
 * lambda [1]. The backward runs the prefix part's backward, then the fused attention's with the
 * lse gradient it produced. The prefix part sees q as given: positional "none" only (the caller
 * checks).
 */
export function gatedPrefixAttention(
  q: Variable,
  k: Variable,
  v: Variable,
  keys: Variable,
  values: Variable,
  gateLogits: Variable,
  lambda: Variable,
  opts: AttentionOptions = {},
): Variable {
  const real = attentionWithLse(q.value, k.value, v.value, opts);
  const softmaxScale = opts.softmaxScale ?? 1 / Math.sqrt(q.shape[3]!);
  const parts = () => ({ q: q.value, keys: keys.value, values: values.value, gate: gateLogits.value, lambda: lambda.value, out: real.out, lse: real.lse });
  const merged = ops.gatedPrefixAttention(parts(), { softmaxScale });
  const outVar: Variable = emit("gatedPrefixAttention", [q, k, v, keys, values, gateLogits, lambda], merged.out, (g, ctx) => {
    const gp = ops.gatedPrefixAttentionBackward(parts(), { out: outVar.value, lse: mergedLse }, g, { softmaxScale });
    const ga = attentionBackward(q.value, k.value, v.value, gp.dOut, opts, { out: real.out, lse: real.lse, dLse: gp.dLse });
    gp.dOut.dispose();
    gp.dLse.dispose();
    const dq = ops.add(gp.dq, ga.dq);
    gp.dq.dispose();
    ga.dq.dispose();
    const grads = [dq, ga.dk, ga.dv, gp.dKeys, gp.dValues, gp.dGate, gp.dLambda];
    return grads.map((t, i) => (ctx.needs(i) ? t : (t.dispose(), null)));
  }, { save: [q, k, v, keys, values, gateLogits, lambda], aux: [real.out, real.lse, merged.lse], saveOutputs: [0] });
  const mergedLse = merged.lse;
  return outVar;
}

// ---------------------------------------------------------------- loss

export interface CrossEntropyOptions {
  /** Targets equal to this are not counted. Default -100 (the HF convention). */
  ignoreIndex?: number;
  /** "mean" (default) over counted rows, or "sum". */
  reduction?: "mean" | "sum";
  /** Divide by this instead of the number of counted rows (for gradient accumulation over micro-batches). */
  normalizer?: number;
}

/**
 * Softmax cross-entropy of logits [N, V] (or [..., V]) against integer targets (N numbers, or
 * an f32 Tensor [N] with `count` = counted rows given), reduced to a scalar [1]. With a tape
 * the fused kernel computes dlogits in the forward (the logits themselves are not kept).
 */
export function crossEntropy(logits: Variable, targets: readonly number[] | Tensor, opts: CrossEntropyOptions = {}): Variable {
  const V = logits.shape[logits.shape.length - 1]!;
  const N = numel(logits.shape) / V;
  const ignoreIndex = opts.ignoreIndex ?? IGNORE_INDEX;
  let tgt: Tensor;
  let counted: number;
  let ownTgt = false;
  if (targets instanceof Tensor) {
    check(numel(targets.shape) === N, "crossEntropy", "targets", `${N} targets (one per logits row)`, shapeStr(targets.shape));
    tgt = targets;
    counted = opts.normalizer ?? N;
  } else {
    check(targets.length === N, "crossEntropy", "targets", `${N} targets (one per logits row)`, `${targets.length}`);
    counted = 0;
    for (const t of targets) {
      if (t === ignoreIndex) continue;
      if (!Number.isInteger(t) || t < 0 || t >= V) throw new CtxwinError("ERR_ARG", `crossEntropy: targets: expected integers in [0, ${V}) or ${ignoreIndex}, got ${t}`);
      counted++;
    }
    tgt = Tensor.from(Float32Array.from(targets), [N], { device: logits.value.device });
    ownTgt = true;
  }
  const mean = (opts.reduction ?? "mean") === "mean";
  const div = mean ? (opts.normalizer ?? Math.max(counted, 1)) : 1;
  const track = activeTape() !== null && logits.requiresGrad;
  const l2 = logits.value.reshape([N, V]);
  const { losses, dlogits } = ops.softmaxCrossEntropy(l2, tgt, { ignoreIndex, grad: track, gradScale: 1 / div });
  l2.dispose();
  if (ownTgt) tgt.dispose();
  const s = ops.sum(losses);
  losses.dispose();
  const total = reshaped(ops.scale(s, 1 / div), [1]);
  s.dispose();
  const lShape = logits.shape;
  const dl = dlogits ?? null;
  return emit("crossEntropy", [logits], total, (g) => {
    let c = knownScalar(g);
    if (c === undefined) c = g.dataSync()[0]!;
    const d = dl!.reshape(lShape);
    if (c === 1) return [d];
    const r = ops.scale(d, c);
    d.dispose();
    return [r];
  }, { aux: dl ? [dl] : [] });
}

/** Per-row losses of logits [N, V] vs targets (inference helper; ignored rows give 0). Not recorded. */
export function crossEntropyRows(logits: Tensor, targets: Tensor, ignoreIndex = IGNORE_INDEX): Tensor {
  const V = logits.shape[logits.shape.length - 1]!;
  const l2 = logits.reshape([-1, V]);
  const { losses, dlogits } = ops.softmaxCrossEntropy(l2, targets, { ignoreIndex, grad: false });
  l2.dispose();
  dlogits?.dispose();
  return losses;
}

export { emit, emitMany };
