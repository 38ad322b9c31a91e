/**
 * Positional vectors (seed 001, "Exploring Context Window of LLMs via Decomposed Positional
 * Vectors"): the hidden state h_{l,t} averaged over many samples at position t is the positional
 * vector p_{l,t}; h − p is the semantic part.
 *
 * Positional vector replacement (training-free extension of a NoPE model to a length T > L): at
 * one layer l (the input hidden state of block l; chosen by a sweep), for every token t ≥ keep
 * (keep = 4: the initial tokens, the anchors, keep their vectors):
 *
 *     h'_{l,t} = h_{l,t} − p_{l,t} + α · p̂_{l,t}
 *
 * where p_{l,t} is the positional vector measured at position t of length-T inputs (out of
 * distribution beyond L: that is what is taken out), and p̂ interpolates the trained range
 * [keep, L) linearly onto [keep, T): position t reads the source position
 *
 *     s(t) = keep + (t − keep) · (L − 1 − keep) / (T − 1 − keep)
 *
 * (between the two neighbouring trained vectors, linearly). α scales the interpolated vectors
 * (seed 001: α = 1 at r = 4, α = 1.3 at r = 5). With T = L and α = 1, s(t) = t and h' = h.
 */
import { CtxwinError } from "../errors.js";
import { Tensor } from "../tensor.js";
import * as ops from "../ops/index.js";
import { noGrad, tidy, Variable } from "../nn/autograd.js";
import { disposingArray } from "../util/scope.js";
import * as F from "../nn/functional.js";
import { Rng } from "../util/rng.js";
import type { CausalLM, ForwardHooks, ForwardOptions } from "../models/causal_lm.js";
import { checkAbort } from "./trainer.js";

export interface PositionalVectors {
  /** Hidden-state indices 0 … numLayers (0 = embeddings, l = input of block l, numLayers = last block's output). */
  layers: number;
  /** Positions measured. */
  length: number;
  dim: number;
  samples: number;
  /** vectors[l] = [length · dim], row t = p_{l,t}. */
  vectors: Float32Array[];
}

/**
 * Averages the hidden states of `samples` windows of `length` tokens drawn (seeded) from `stream`
 * (BOS + length − 1 stream tokens when `bos` is given), at every layer, in batches of `batch`.
 * `forward` options apply (none for a plain NoPE model).
 */
export async function computePositionalVectors(
  model: CausalLM,
  stream: Int32Array,
  opts: { samples: number; length: number; seed: number; batch?: number; bos?: number; forward?: ForwardOptions; signal?: AbortSignal; onBatch?: (done: number) => void },
): Promise<PositionalVectors> {
  const { samples, length } = opts;
  if (stream.length < length) throw new CtxwinError("ERR_ARG", `positional vectors: expected at least ${length} tokens to sample from, got ${stream.length}`);
  const L = model.numLayers;
  const d = model.config.hiddenSize;
  const sums = Array.from({ length: L + 1 }, () => new Float64Array(length * d));
  const rng = new Rng(opts.seed);
  const batch = Math.max(1, opts.batch ?? 4);
  for (let done = 0; done < samples; ) {
    checkAbort(opts.signal, "positional vectors");
    const B = Math.min(batch, samples - done);
    const ids: number[][] = [];
    const content = opts.bos === undefined ? length : length - 1;
    for (let b = 0; b < B; b++) {
      const s = rng.int(stream.length - content + 1);
      const span = Array.from(stream.subarray(s, s + content));
      ids.push(opts.bos === undefined ? span : [opts.bos, ...span]);
    }
    // copies of every layer's input hidden state (and the last layer's output) as the forward passes
    using copies = disposingArray<Tensor>();
    const hooks: ForwardHooks = {
      ...opts.forward?.hooks,
      hidden: (l, h) => {
        copies[l] = ops.scale(h.value, 1);
      },
    };
    noGrad(() => tidy(() => void model.hidden(ids, { ...opts.forward, hooks })));
    for (let l = 0; l <= L; l++) {
      const data = await copies[l]!.data();
      const acc = sums[l]!;
      for (let b = 0; b < B; b++) {
        const off = b * length * d;
        for (let i = 0; i < length * d; i++) acc[i] += data[off + i]!;
      }
    }
    done += B;
    opts.onBatch?.(done);
  }
  const vectors = sums.map((s) => {
    const v = new Float32Array(s.length);
    for (let i = 0; i < s.length; i++) v[i] = s[i]! / samples;
    return v;
  });
  return { layers: L + 1, length, dim: d, samples, vectors };
}

/** Source position s(t) of every target position t < targetLength (see the header). */
export function interpolationSources(trainLength: number, targetLength: number, keep: number): Float64Array {
  if (!(Number.isInteger(keep) && keep >= 0 && keep < trainLength - 1)) {
    throw new CtxwinError("ERR_ARG", `interpolationSources: keep: expected an integer in [0, ${trainLength - 2}], got ${keep}`);
  }
  if (!(targetLength >= trainLength)) throw new CtxwinError("ERR_ARG", `interpolationSources: targetLength: expected at least trainLength ${trainLength}, got ${targetLength}`);
  const out = new Float64Array(targetLength);
  const scale = (trainLength - 1 - keep) / (targetLength - 1 - keep);
  for (let t = 0; t < targetLength; t++) out[t] = t < keep ? t : keep + (t - keep) * scale;
  return out;
}

/**
 * p̂: the trained vectors p[0 … trainLength) ([*, dim] rows) interpolated to targetLength rows
 * (rows < keep copied, the rest linearly interpolated at interpolationSources).
 */
export function interpolateVectors(p: Float32Array, dim: number, trainLength: number, targetLength: number, keep: number): Float32Array {
  if (p.length < trainLength * dim) throw new CtxwinError("ERR_ARG", `interpolateVectors: p: expected at least ${trainLength} rows of ${dim}, got ${p.length / dim}`);
  const src = interpolationSources(trainLength, targetLength, keep);
  const out = new Float32Array(targetLength * dim);
  for (let t = 0; t < targetLength; t++) {
    const s = src[t]!;
    const i0 = Math.min(Math.floor(s), trainLength - 1);
    const i1 = Math.min(i0 + 1, trainLength - 1);
    const w = s - i0;
    for (let k = 0; k < dim; k++) out[t * dim + k] = (1 - w) * p[i0 * dim + k]! + w * p[i1 * dim + k]!;
  }
  return out;
}

/** Δ_t = α · p̂_t − p_t for t ≥ keep, 0 before: what replacement adds to h ([targetLength · dim]). */
export function replacementDelta(pv: PositionalVectors, opts: { layer: number; alpha: number; trainLength: number; targetLength: number; keep: number }): Float32Array {
  const { layer, alpha, trainLength, targetLength, keep } = opts;
  if (!(Number.isInteger(layer) && layer >= 0 && layer < pv.layers)) throw new CtxwinError("ERR_ARG", `positional vector replacement: layer: expected an integer in [0, ${pv.layers - 1}], got ${layer}`);
  if (targetLength > pv.length) {
    throw new CtxwinError("ERR_ARG", `positional vector replacement: targetLength: expected at most ${pv.length} (the positions measured), got ${targetLength}`);
  }
  const d = pv.dim;
  const p = pv.vectors[layer]!;
  const hat = interpolateVectors(p, d, trainLength, targetLength, keep);
  const delta = new Float32Array(targetLength * d);
  for (let t = keep; t < targetLength; t++) {
    for (let k = 0; k < d; k++) delta[t * d + k] = alpha * hat[t * d + k]! - p[t * d + k]!;
  }
  return delta;
}

/**
 * A `hidden` hook doing the replacement at `layer` for sequences of `targetLength` tokens. The
 * hook reads the absolute position of the call's first token from `offset()` (0 for a full
 * forward; the cached length when decoding with a KV cache).
 */
export function replacementHook(
  pv: PositionalVectors,
  opts: { layer: number; alpha: number; trainLength: number; targetLength: number; keep: number; offset?: () => number },
): NonNullable<ForwardHooks["hidden"]> {
  const delta = replacementDelta(pv, opts);
  const d = pv.dim;
  return (l: number, h: Variable): Variable | void => {
    if (l !== opts.layer) return;
    const [B, T] = h.shape as [number, number, number];
    const off = opts.offset?.() ?? 0;
    if (off + T > opts.targetLength) {
      throw new CtxwinError("ERR_ARG", `positional vector replacement: expected positions below ${opts.targetLength} (the target length), got ${off + T}`);
    }
    const rows = new Float32Array(B * T * d);
    const slab = delta.subarray(off * d, (off + T) * d);
    for (let b = 0; b < B; b++) rows.set(slab, b * T * d);
    // made inside the forward (its tidy frees the delta with the other intermediates)
    return F.add(h, new Variable(Tensor.from(rows, [B, T, d], { device: h.value.device, dtype: h.value.dtype })));
  };
}
