/**
 * Geometry of one layer's positional vectors p_t (rows of [length · dim]):
 *
 * - cosine similarity between positions;
 * - anchors: how far each initial token's vector lies from the bulk of the trained range,
 *     a_t = ‖p_t − c‖ / σ,  c = mean of p_s over s ∈ [K, L),  σ = median over s ∈ [K, L) of ‖p_s − c‖
 *   (a_t ≈ 1 for a typical trained position; K = the number of initial tokens examined);
 * - step change: ‖p_t − p_{t−1}‖ / σ (where the vectors stop changing);
 * - out-of-distribution distance of a vector q from the trained range:
 *     ood(q) = min_{s ∈ [K, L)} ‖q − p_s‖ / r,  r = RMS over s ∈ [K, L) of ‖p_s − c‖
 *   (0: it coincides with a trained vector; 1: as far as the trained cloud's radius). The in-range
 *   reference is the same distance for trained positions with the position itself left out.
 */
export function norm2(a: ArrayLike<number>, ao: number, b: ArrayLike<number>, bo: number, d: number): number {
  let s = 0;
  for (let k = 0; k < d; k++) s += (a[ao + k]! - b[bo + k]!) ** 2;
  return s;
}

/** Cosine similarity of p_i and p_j for every pair of `positions`. */
export function cosineMatrix(p: ArrayLike<number>, dim: number, positions: readonly number[]): number[][] {
  const norms = positions.map((t) => {
    let s = 0;
    for (let k = 0; k < dim; k++) s += p[t * dim + k]! ** 2;
    return Math.sqrt(s);
  });
  return positions.map((i, a) =>
    positions.map((j, b) => {
      let s = 0;
      for (let k = 0; k < dim; k++) s += p[i * dim + k]! * p[j * dim + k]!;
      const den = norms[a]! * norms[b]!;
      return den > 0 ? s / den : 0;
    }),
  );
}

/** Centroid c, median distance σ and RMS radius r of rows [lo, hi). */
export function cloudStats(p: ArrayLike<number>, dim: number, lo: number, hi: number): { centroid: Float64Array; median: number; radius: number } {
  const n = hi - lo;
  const c = new Float64Array(dim);
  for (let t = lo; t < hi; t++) for (let k = 0; k < dim; k++) c[k] += p[t * dim + k]! / n;
  const dist: number[] = [];
  let sq = 0;
  for (let t = lo; t < hi; t++) {
    const d2 = norm2(p, t * dim, c, 0, dim);
    dist.push(Math.sqrt(d2));
    sq += d2;
  }
  dist.sort((a, b) => a - b);
  const median = n % 2 ? dist[(n - 1) / 2]! : (dist[n / 2 - 1]! + dist[n / 2]!) / 2;
  return { centroid: c, median, radius: Math.sqrt(sq / n) };
}

/** a_t for t < K (see the header), with σ. */
export function anchorScores(p: ArrayLike<number>, dim: number, trainLength: number, K: number): { scores: number[]; spread: number } {
  const { centroid, median } = cloudStats(p, dim, K, trainLength);
  const scores: number[] = [];
  for (let t = 0; t < K; t++) scores.push(median > 0 ? Math.sqrt(norm2(p, t * dim, centroid, 0, dim)) / median : NaN);
  return { scores, spread: median };
}

/** ‖p_t − p_{t−1}‖ / σ for t = 1 … length − 1 (index t − 1). */
export function stepChanges(p: ArrayLike<number>, dim: number, length: number, spread: number): number[] {
  const out: number[] = [];
  for (let t = 1; t < length; t++) out.push(spread > 0 ? Math.sqrt(norm2(p, t * dim, p, (t - 1) * dim, dim)) / spread : NaN);
  return out;
}

/**
 * ood(q_t) for rows t ∈ [lo, hi) of `q` against the reference rows [refLo, refHi) of `ref`, divided
 * by `radius`; with `leaveOut`, a query row t skips reference row t (q and ref the same vectors).
 */
export function oodDistances(
  q: ArrayLike<number>,
  lo: number,
  hi: number,
  ref: ArrayLike<number>,
  refLo: number,
  refHi: number,
  dim: number,
  radius: number,
  leaveOut = false,
): number[] {
  const out: number[] = [];
  for (let t = lo; t < hi; t++) {
    let best = Infinity;
    for (let s = refLo; s < refHi; s++) {
      if (leaveOut && s === t) continue;
      const d2 = norm2(q, t * dim, ref, s * dim, dim);
      if (d2 < best) best = d2;
    }
    out.push(radius > 0 ? Math.sqrt(best) / radius : NaN);
  }
  return out;
}

/** Mean of the finite values (NaN when none). */
export function mean(xs: readonly number[]): number {
  let s = 0;
  let n = 0;
  for (const x of xs) {
    if (Number.isFinite(x)) {
      s += x;
      n++;
    }
  }
  return n ? s / n : NaN;
}

/** Positions to show in a similarity matrix: 0 … min(8, n) − 1, then about `count` more spread evenly up to n − 1. */
export function samplePositions(n: number, count = 24): number[] {
  const out = new Set<number>();
  for (let t = 0; t < Math.min(8, n); t++) out.add(t);
  for (let i = 0; i < count; i++) out.add(Math.min(n - 1, Math.round(8 + ((n - 1 - 8) * (i + 1)) / count)));
  return [...out].filter((t) => t >= 0 && t < n).sort((a, b) => a - b);
}

/** Buckets of `width` positions from `offset`: the mean of `values` (values[i] is position offset + i) in each. */
export function bucketize(values: readonly number[], offset: number, width: number): { start: number; end: number; value: number | null }[] {
  const w = Math.max(1, Math.floor(width));
  const out: { start: number; end: number; value: number | null }[] = [];
  for (let s = offset; s < offset + values.length; s += w) {
    const e = Math.min(offset + values.length, s + w);
    const m = mean(values.slice(s - offset, e - offset));
    out.push({ start: s, end: e, value: Number.isFinite(m) ? m : null });
  }
  return out;
}
