/**
 * The positional-vector estimator (seed 001): over N sampled windows, the hidden state h_{l,t,n}
 * at hidden index l and position t averages to the positional vector
 *
 *     p̂_{l,t} = (1/N) Σ_n h_{l,t,n}
 *
 * (h − p is the semantic part). Besides the means it keeps Σ_n ‖h_{l,t,n}‖², which gives the
 * within-position variance tr Σ_{l,t} = (Σ_n ‖h‖² − N ‖p̂‖²) / (N − 1) and so the estimator's own
 * noise: E‖p̂_t − p_t‖² = tr Σ_t / N.
 *
 * Positional signal of a layer over positions [lo, hi) (n positions):
 *
 *     S = [Σ_t ‖p̂_t − p̄‖² / (n − 1)] / [Σ_t tr Σ_t / (n · N)]
 *
 * the spread of the vectors across positions divided by what sampling noise alone gives: E[S] = 1
 * when the hidden states carry no information about the position, S ≫ 1 when they do.
 */
import { CtxwinError } from "../errors.js";
import type { PositionalVectors } from "../study/positional_vectors.js";

/** Positional vectors with the within-position variances (PositionalVectors + noise). */
export interface PositionalEstimate extends PositionalVectors {
  /** withinVariance[l][t] = tr Σ_{l,t} (unbiased; 0 when N = 1). */
  withinVariance: Float64Array[];
}

export class PositionalAccumulator {
  readonly layers: number;
  readonly length: number;
  readonly dim: number;
  #sum: Float64Array[];
  #sq: Float64Array[];
  #count: number[];

  constructor(layers: number, length: number, dim: number) {
    for (const [k, v] of [["layers", layers], ["length", length], ["dim", dim]] as const) {
      if (!Number.isInteger(v) || v <= 0) throw new CtxwinError("ERR_ARG", `PositionalAccumulator: ${k}: expected a positive integer, got ${v}`);
    }
    this.layers = layers;
    this.length = length;
    this.dim = dim;
    this.#sum = Array.from({ length: layers }, () => new Float64Array(length * dim));
    this.#sq = Array.from({ length: layers }, () => new Float64Array(length));
    this.#count = new Array<number>(layers).fill(0);
  }

  /** Hidden states [B, length, dim] (row-major) of hidden index `layer`. */
  add(layer: number, data: ArrayLike<number>, B: number): void {
    if (!(Number.isInteger(layer) && layer >= 0 && layer < this.layers)) throw new CtxwinError("ERR_ARG", `PositionalAccumulator.add: layer: expected an integer in [0, ${this.layers}), got ${layer}`);
    const n = this.length * this.dim;
    if (data.length !== B * n) throw new CtxwinError("ERR_SHAPE", `PositionalAccumulator.add: data: expected ${B} × ${this.length} × ${this.dim} values, got ${data.length}`);
    const sum = this.#sum[layer]!;
    const sq = this.#sq[layer]!;
    const d = this.dim;
    for (let b = 0; b < B; b++) {
      const off = b * n;
      for (let t = 0; t < this.length; t++) {
        let s = 0;
        const o = off + t * d;
        for (let k = 0; k < d; k++) {
          const x = data[o + k]!;
          sum[t * d + k] += x;
          s += x * x;
        }
        sq[t] += s;
      }
    }
    this.#count[layer]! += B;
  }

  /** Samples added (the same for every layer once a batch is complete). */
  get samples(): number {
    return this.#count[0]!;
  }

  finish(): PositionalEstimate {
    const N = this.#count[0]!;
    if (N === 0 || this.#count.some((c) => c !== N)) throw new CtxwinError("ERR_ARG", `PositionalAccumulator.finish: expected the same positive number of samples at every layer, got ${this.#count.join(", ")}`);
    const d = this.dim;
    const vectors: Float32Array[] = [];
    const withinVariance: Float64Array[] = [];
    for (let l = 0; l < this.layers; l++) {
      const sum = this.#sum[l]!;
      const v = new Float32Array(sum.length);
      const w = new Float64Array(this.length);
      for (let t = 0; t < this.length; t++) {
        let norm2 = 0;
        for (let k = 0; k < d; k++) {
          const m = sum[t * d + k]! / N;
          v[t * d + k] = m;
          norm2 += m * m;
        }
        w[t] = N > 1 ? Math.max(0, (this.#sq[l]![t]! - N * norm2) / (N - 1)) : 0;
      }
      vectors.push(v);
      withinVariance.push(w);
    }
    return { layers: this.layers, length: this.length, dim: d, samples: N, vectors, withinVariance };
  }
}

export interface PositionalSignal {
  /** S (see the header); null when it cannot be computed (N = 1, fewer than 2 positions, no noise). */
  signal: number | null;
  /** Σ_t ‖p̂_t − p̄‖² / (n − 1). */
  between: number;
  /** Mean within-position variance tr Σ_t. */
  within: number;
}

/** The positional signal of hidden index `layer` over positions [lo, hi). */
export function positionalSignal(est: PositionalEstimate, layer: number, lo: number, hi: number): PositionalSignal {
  const d = est.dim;
  hi = Math.min(hi, est.length);
  const n = hi - lo;
  const p = est.vectors[layer]!;
  if (n < 2) return { signal: null, between: NaN, within: NaN };
  const mean = new Float64Array(d);
  for (let t = lo; t < hi; t++) for (let k = 0; k < d; k++) mean[k] += p[t * d + k]! / n;
  let between = 0;
  let within = 0;
  for (let t = lo; t < hi; t++) {
    for (let k = 0; k < d; k++) between += (p[t * d + k]! - mean[k]!) ** 2;
    within += est.withinVariance[layer]![t]!;
  }
  between /= n - 1;
  within /= n;
  const noise = within / est.samples;
  return { signal: est.samples > 1 && noise > 0 ? between / noise : null, between, within };
}
