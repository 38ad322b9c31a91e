/**
 * The statistics of the study's criteria: paired differences of mean NLL with a document
 * bootstrap, and Wilson intervals for passkey accuracies.
 *
 * Paired NLL: every method scores the same target tokens at every length (paired_eval.ts), so
 * two measurements a and b (method × length) have per-document NLL sums over identical targets.
 * The mean difference is Σ_d (a_d − b_d) / Σ_d n_d. Its 95% interval resamples DOCUMENTS with
 * replacement (targets within a document are correlated; documents are the independent units)
 * and takes the 2.5% and 97.5% percentiles of the resampled means. The resampling indices come
 * from a fixed seed, so the same report always gives the same intervals, and every comparison in
 * one report uses the same resamples.
 */
import { CtxwinError } from "../errors.js";
import { Rng, mixSeed } from "../util/rng.js";

/** Per-document NLL sums (nats) of one measurement and the scored targets per document. */
export interface DocSums {
  sums: readonly number[];
  counts: readonly number[];
}

export interface Interval {
  /** Point estimate. */
  mean: number;
  /** 95% interval (2.5% and 97.5% bootstrap percentiles, or Wilson bounds). */
  lo: number;
  hi: number;
}

export const BOOTSTRAP_RESAMPLES = 2000;
export const BOOTSTRAP_SEED = 20240607;

/** Document indices of `resamples` bootstrap resamples of `docs` documents (seeded, reproducible). */
export function bootstrapIndices(docs: number, resamples = BOOTSTRAP_RESAMPLES, seed = BOOTSTRAP_SEED): Int32Array[] {
  if (!Number.isInteger(docs) || docs < 1) throw new CtxwinError("ERR_ARG", `bootstrap: docs: expected a positive integer, got ${docs}`);
  const rng = new Rng(mixSeed(seed, docs));
  const out: Int32Array[] = [];
  for (let r = 0; r < resamples; r++) {
    const idx = new Int32Array(docs);
    for (let i = 0; i < docs; i++) idx[i] = rng.int(docs);
    out.push(idx);
  }
  return out;
}

function percentile(sorted: Float64Array, q: number): number {
  const pos = q * (sorted.length - 1);
  const i = Math.floor(pos);
  const f = pos - i;
  return i + 1 < sorted.length ? sorted[i]! * (1 - f) + sorted[i + 1]! * f : sorted[i]!;
}

function checkPaired(a: DocSums, b: DocSums | null): void {
  const n = a.sums.length;
  if (a.counts.length !== n || (b && (b.sums.length !== n || b.counts.length !== n))) {
    throw new CtxwinError("ERR_ARG", `bootstrap: expected per-document sums and counts of the same length, got ${a.sums.length}/${a.counts.length}${b ? ` and ${b.sums.length}/${b.counts.length}` : ""}`);
  }
  if (b) for (let i = 0; i < n; i++) if (a.counts[i] !== b.counts[i]) throw new CtxwinError("ERR_ARG", `bootstrap: expected paired measurements (the same targets), got ${a.counts[i]} and ${b.counts[i]} targets in document ${i}`);
}

/**
 * Mean of a (b null) or of the paired difference a − b per target, with its 95% document-bootstrap
 * interval.
 */
export function bootstrapMean(a: DocSums, b: DocSums | null = null, resamples?: Int32Array[]): Interval {
  checkPaired(a, b);
  const n = a.sums.length;
  if (n === 0) throw new CtxwinError("ERR_ARG", "bootstrap: expected at least one document, got none");
  const diff = new Float64Array(n);
  const cnt = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    diff[i] = a.sums[i]! - (b ? b.sums[i]! : 0);
    cnt[i] = a.counts[i]!;
  }
  const mean = sum(diff) / sum(cnt);
  const rs = resamples ?? bootstrapIndices(n);
  const stats = new Float64Array(rs.length);
  rs.forEach((idx, r) => {
    let s = 0;
    let c = 0;
    for (let i = 0; i < idx.length; i++) {
      s += diff[idx[i]!]!;
      c += cnt[idx[i]!]!;
    }
    stats[r] = c > 0 ? s / c : mean;
  });
  stats.sort();
  return { mean, lo: percentile(stats, 0.025), hi: percentile(stats, 0.975) };
}

/**
 * The ratio (x1 − x2) / (y1 − y2) of two paired differences over the same documents (e.g. the
 * fraction of a degradation that a method closes), with its bootstrap interval. Resamples whose
 * denominator is 0 are dropped.
 */
export function bootstrapRatio(x1: DocSums, x2: DocSums, y1: DocSums, y2: DocSums, resamples?: Int32Array[]): Interval {
  checkPaired(x1, x2);
  checkPaired(y1, y2);
  checkPaired(x1, y1);
  const n = x1.sums.length;
  const num = new Float64Array(n);
  const den = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    num[i] = x1.sums[i]! - x2.sums[i]!;
    den[i] = y1.sums[i]! - y2.sums[i]!;
  }
  const mean = sum(num) / sum(den);
  const rs = resamples ?? bootstrapIndices(n);
  const stats: number[] = [];
  for (const idx of rs) {
    let a = 0;
    let b = 0;
    for (let i = 0; i < idx.length; i++) {
      a += num[idx[i]!]!;
      b += den[idx[i]!]!;
    }
    if (b !== 0) stats.push(a / b);
  }
  const s = Float64Array.from(stats).sort();
  return s.length ? { mean, lo: percentile(s, 0.025), hi: percentile(s, 0.975) } : { mean, lo: NaN, hi: NaN };
}

/** Wilson score interval (95%) of k successes in n trials. */
export function wilson(k: number, n: number, z = 1.959964): Interval {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(k) || k < 0 || k > n) throw new CtxwinError("ERR_ARG", `wilson: expected 0 <= k <= n integers, got k = ${k}, n = ${n}`);
  if (n === 0) return { mean: NaN, lo: 0, hi: 1 };
  const p = k / n;
  const z2 = z * z;
  const den = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / den;
  const half = (z / den) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // at k = 0 (k = n) the exact bound is 0 (1); the formula gives it up to rounding
  return { mean: p, lo: k === 0 ? 0 : Math.max(0, centre - half), hi: k === n ? 1 : Math.min(1, centre + half) };
}

function sum(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
}

/** Student t quantiles t(0.975, df) for df = 1..30 (two-sided 95%). */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

/** t(0.975, df): the table for df ≤ 30, beyond it the Cornish–Fisher step z + (z³ + z)/(4·df) (error < 0.002). */
export function tQuantile975(df: number): number {
  if (!Number.isInteger(df) || df < 1) throw new CtxwinError("ERR_ARG", `tQuantile975: df: expected a positive integer, got ${df}`);
  if (df <= 30) return T975[df - 1]!;
  const z = 1.959964;
  return z + (z ** 3 + z) / (4 * df);
}

/**
 * Mean of independent replicates (e.g. one value per training seed) with its 95% Student t
 * interval mean ± t(0.975, n − 1)·sd/√n; fewer than 2 values give lo = hi = NaN (no interval).
 */
export function tInterval(values: readonly number[]): Interval & { n: number; sd: number } {
  const n = values.length;
  if (n === 0) throw new CtxwinError("ERR_ARG", "tInterval: values: expected at least one value, got none");
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, lo: NaN, hi: NaN, n, sd: NaN };
  const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
  const half = (tQuantile975(n - 1) * sd) / Math.sqrt(n);
  return { mean, lo: mean - half, hi: mean + half, n, sd };
}
