/**
 * Attention sinks and long-term decay from attention probabilities P[b, h, i, j] (query i, key j;
 * causal, queries at positions 0 … Tq − 1), accumulated over samples for named query ranges
 * [lo, hi):
 *
 * - sink mass of layer l, head h: the mean over the range's queries of Σ_{j < K} P_{i,j} (the
 *   attention on the first K tokens), beside the uniform baseline: the mean over the same queries of
 *   (visible keys among the first K) / (visible keys), i.e. what attention spread evenly over the
 *   keys a query sees (causal, and the layer's sliding window) would give them;
 * - decay of layer l: the mean attention on one key at distance δ = i − j, over the range's queries,
 *   every head, and keys j ≥ K (the sink keys left out, so decay and sinks are measured apart).
 *   Keys masked by a window count with attention 0.
 */
import { CtxwinError } from "../errors.js";
import type { ProbabilityBlock } from "./attention_probs.js";

export interface QueryRange {
  name: string;
  lo: number;
  hi: number;
}

export interface RangeAttention {
  name: string;
  lo: number;
  hi: number;
  /** Sequences × queries counted per layer. */
  queries: number[];
  /** sinkMass[l][h]: mean attention mass on the first K tokens (null: no query in range). */
  sinkMass: (number | null)[][];
  /** sinkBaseline[l]: the uniform share of the first K tokens for these queries (null: no query). */
  sinkBaseline: (number | null)[];
  /** decaySum[l][δ] and decayCount[l][δ] (δ = 0 … maxDistance − 1): mean = sum / count. */
  decaySum: Float64Array[];
  decayCount: Float64Array[];
}

/** Uniform share of the first K keys for query p with window w (0: none). */
export function uniformSinkShare(p: number, K: number, w: number): number {
  const first = w > 0 ? Math.max(0, p - w + 1) : 0;
  const visible = p - first + 1;
  const sinks = Math.max(0, Math.min(K, p + 1) - first);
  return sinks / visible;
}

export class AttentionStats {
  readonly layers: number;
  readonly heads: number;
  readonly sinkTokens: number;
  readonly ranges: QueryRange[];
  readonly maxDistance: number;
  #sink: Float64Array[][];
  #queries: number[][];
  #baseline: number[][];
  #decaySum: Float64Array[][];
  #decayCount: Float64Array[][];

  constructor(layers: number, heads: number, opts: { sinkTokens: number; ranges: QueryRange[]; maxDistance: number }) {
    if (!Number.isInteger(opts.sinkTokens) || opts.sinkTokens < 1) throw new CtxwinError("ERR_ARG", `AttentionStats: sinkTokens: expected a positive integer, got ${opts.sinkTokens}`);
    for (const r of opts.ranges) {
      if (!(Number.isInteger(r.lo) && Number.isInteger(r.hi) && r.lo >= 0 && r.hi > r.lo)) throw new CtxwinError("ERR_ARG", `AttentionStats: ranges: expected integer ranges lo < hi, got ${r.name} [${r.lo}, ${r.hi})`);
    }
    this.layers = layers;
    this.heads = heads;
    this.sinkTokens = opts.sinkTokens;
    this.ranges = opts.ranges.map((r) => ({ ...r }));
    this.maxDistance = opts.maxDistance;
    const R = this.ranges.length;
    this.#sink = Array.from({ length: R }, () => Array.from({ length: layers }, () => new Float64Array(heads)));
    this.#queries = Array.from({ length: R }, () => new Array<number>(layers).fill(0));
    this.#baseline = Array.from({ length: R }, () => new Array<number>(layers).fill(0));
    this.#decaySum = Array.from({ length: R }, () => Array.from({ length: layers }, () => new Float64Array(opts.maxDistance)));
    this.#decayCount = Array.from({ length: R }, () => Array.from({ length: layers }, () => new Float64Array(opts.maxDistance)));
  }

  /** Adds one key block of layer `layer` (queries at positions 0 … Tq − 1; `window` 0 = none). */
  add(layer: number, block: ProbabilityBlock, window = 0): void {
    if (!(Number.isInteger(layer) && layer >= 0 && layer < this.layers)) throw new CtxwinError("ERR_ARG", `AttentionStats.add: layer: expected an integer in [0, ${this.layers}), got ${layer}`);
    if (block.heads !== this.heads) throw new CtxwinError("ERR_SHAPE", `AttentionStats.add: expected ${this.heads} heads, got ${block.heads}`);
    const { B, Tq, heads: H, keyStart, keys, width, data } = block;
    const K = this.sinkTokens;
    this.ranges.forEach((r, ri) => {
      const lo = r.lo;
      const hi = Math.min(r.hi, Tq);
      if (hi <= lo) return;
      const sink = this.#sink[ri]![layer]!;
      const dsum = this.#decaySum[ri]![layer]!;
      const dcnt = this.#decayCount[ri]![layer]!;
      if (keyStart === 0) {
        // count the queries (and their uniform baseline) once per sequence
        this.#queries[ri]![layer]! += B * (hi - lo);
        let base = 0;
        for (let i = lo; i < hi; i++) base += uniformSinkShare(i, K, window);
        this.#baseline[ri]![layer]! += B * base;
      }
      for (let b = 0; b < B; b++) {
        for (let i = lo; i < hi; i++) {
          for (let h = 0; h < H; h++) {
            const row = ((b * Tq + i) * H + h) * width;
            for (let m = 0; m < keys; m++) {
              const j = keyStart + m;
              if (j > i) break;
              const p = data[row + m]!;
              if (j < K) sink[h] += p;
              else {
                const dist = i - j;
                if (dist < this.maxDistance) {
                  dsum[dist] += p;
                  dcnt[dist] += 1;
                }
              }
            }
          }
        }
      }
    });
  }

  finish(): RangeAttention[] {
    return this.ranges.map((r, ri) => ({
      name: r.name,
      lo: r.lo,
      hi: r.hi,
      queries: [...this.#queries[ri]!],
      sinkMass: this.#sink[ri]!.map((hs, l) => Array.from(hs, (s) => (this.#queries[ri]![l]! > 0 ? s / this.#queries[ri]![l]! : null))),
      sinkBaseline: this.#baseline[ri]!.map((s, l) => (this.#queries[ri]![l]! > 0 ? s / this.#queries[ri]![l]! : null)),
      decaySum: this.#decaySum[ri]!,
      decayCount: this.#decayCount[ri]!,
    }));
  }
}

/** Mean attention per key over distances [dLo, dHi) of layer l (null: no pair counted). */
export function meanAttention(r: RangeAttention, layer: number, dLo: number, dHi: number): number | null {
  let s = 0;
  let n = 0;
  const sum = r.decaySum[layer]!;
  const cnt = r.decayCount[layer]!;
  for (let d = Math.max(0, dLo); d < Math.min(dHi, sum.length); d++) {
    s += sum[d]!;
    n += cnt[d]!;
  }
  return n > 0 ? s / n : null;
}

/** Log2 distance buckets: [0, 1), [1, 2), [2, 4), [4, 8), … up to maxDistance. */
export function distanceEdges(maxDistance: number): number[] {
  const edges = [0, 1];
  while (edges[edges.length - 1]! < maxDistance) edges.push(Math.min(maxDistance, edges[edges.length - 1]! * 2));
  return edges;
}

/** Mean attention per key in each bucket of `edges`, per layer. */
export function decayCurve(r: RangeAttention, edges: readonly number[]): (number | null)[][] {
  return r.decaySum.map((_, l) => edges.slice(0, -1).map((lo, i) => meanAttention(r, l, lo, edges[i + 1]!)));
}

/** Mean over heads of sinkMass[l] (null when missing). */
export function layerSinkMass(r: RangeAttention, layer: number): number | null {
  const hs = r.sinkMass[layer]!.filter((v): v is number => v !== null);
  return hs.length ? hs.reduce((a, b) => a + b, 0) / hs.length : null;
}
