/**
 * Principal components of a set of vectors (the positional vectors p_{l,·} of one layer), by power
 * iteration with deflation on the smaller of the two symmetric matrices: the Gram matrix X Xᵀ
 * (m × m, when there are fewer rows than dimensions) or the scatter matrix Xᵀ X (d × d), X the
 * centred rows used for the fit. Principal axes are unit vectors in the d-dimensional space, so any
 * row (fitted or not) can be projected: score_i(x) = (x − mean) · axis_i.
 *
 * Sign convention (deterministic plots): each axis is oriented so that its scores over the fitted
 * rows correlate non-negatively with the row index (PC1 grows with the position where it can).
 */
import { CtxwinError } from "../errors.js";

export interface PcaFit {
  dim: number;
  /** Mean of the fitted rows [dim]. */
  mean: Float64Array;
  /** Unit principal axes [dim] each, largest variance first. */
  axes: Float64Array[];
  /** Variance along each axis (eigenvalue / (m − 1)). */
  variances: number[];
  /** Fraction of the total variance each axis explains. */
  explained: number[];
  /** Total variance (trace of the covariance). */
  totalVariance: number;
}

/** Leading eigenpairs of a symmetric positive semi-definite n × n matrix (row-major), largest first. */
export function topEigen(a: Float64Array, n: number, k: number, opts: { maxIter?: number; tol?: number } = {}): { values: number[]; vectors: Float64Array[] } {
  if (a.length !== n * n) throw new CtxwinError("ERR_SHAPE", `topEigen: a: expected ${n} × ${n} values, got ${a.length}`);
  const maxIter = opts.maxIter ?? 10000;
  const tol = opts.tol ?? 1e-12;
  const values: number[] = [];
  const vectors: Float64Array[] = [];
  const kk = Math.min(k, n);
  const w = new Float64Array(n);
  for (let c = 0; c < kk; c++) {
    // a deterministic start with weight on every direction
    let v = new Float64Array(n);
    for (let i = 0; i < n; i++) v[i] = 1 + ((i * 7919 + c * 104729) % 1009) / 1009;
    const orth = (x: Float64Array) => {
      for (const u of vectors) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += x[i]! * u[i]!;
        for (let i = 0; i < n; i++) x[i] -= dot * u[i]!;
      }
      let norm = 0;
      for (let i = 0; i < n; i++) norm += x[i]! * x[i]!;
      norm = Math.sqrt(norm);
      if (norm > 0) for (let i = 0; i < n; i++) x[i] /= norm;
      return norm;
    };
    if (orth(v) === 0) break;
    let lambda = 0;
    for (let it = 0; it < maxIter; it++) {
      for (let i = 0; i < n; i++) {
        let s = 0;
        const row = i * n;
        for (let j = 0; j < n; j++) s += a[row + j]! * v[j]!;
        w[i] = s;
      }
      const next = Float64Array.from(w);
      const norm = orth(next);
      if (norm === 0) {
        lambda = 0;
        break;
      }
      let diff = 0;
      for (let i = 0; i < n; i++) diff += (next[i]! - v[i]!) ** 2;
      v = next;
      lambda = norm;
      if (diff < tol) break;
    }
    values.push(lambda);
    vectors.push(v);
  }
  return { values, vectors };
}

/**
 * Fits `k` principal components to rows [lo, hi) of `rows` ([n · dim], row-major; default all
 * rows).
 */
export function fitPca(rows: ArrayLike<number>, dim: number, k = 2, range?: [number, number]): PcaFit {
  const n = Math.floor(rows.length / dim);
  const [lo, hi] = range ?? [0, n];
  const m = hi - lo;
  if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo >= 0 && hi <= n && m >= 2)) throw new CtxwinError("ERR_ARG", `fitPca: range: expected at least 2 rows within [0, ${n}), got [${lo}, ${hi})`);
  const mean = new Float64Array(dim);
  for (let r = lo; r < hi; r++) for (let j = 0; j < dim; j++) mean[j] += rows[r * dim + j]! / m;
  const x = new Float64Array(m * dim);
  let trace = 0;
  for (let r = 0; r < m; r++) {
    for (let j = 0; j < dim; j++) {
      const v = rows[(lo + r) * dim + j]! - mean[j]!;
      x[r * dim + j] = v;
      trace += v * v;
    }
  }
  let axes: Float64Array[];
  let eig: number[];
  if (m <= dim) {
    const g = new Float64Array(m * m);
    for (let i = 0; i < m; i++) {
      for (let j = i; j < m; j++) {
        let s = 0;
        for (let c = 0; c < dim; c++) s += x[i * dim + c]! * x[j * dim + c]!;
        g[i * m + j] = g[j * m + i] = s;
      }
    }
    const e = topEigen(g, m, k);
    eig = e.values;
    // axis = Xᵀ u / ‖Xᵀ u‖
    axes = e.vectors.map((u) => {
      const a = new Float64Array(dim);
      for (let i = 0; i < m; i++) for (let c = 0; c < dim; c++) a[c] += x[i * dim + c]! * u[i]!;
      let norm = 0;
      for (let c = 0; c < dim; c++) norm += a[c]! * a[c]!;
      norm = Math.sqrt(norm);
      if (norm > 0) for (let c = 0; c < dim; c++) a[c] /= norm;
      return a;
    });
  } else {
    const s = new Float64Array(dim * dim);
    for (let i = 0; i < m; i++) {
      for (let a = 0; a < dim; a++) {
        const xa = x[i * dim + a]!;
        for (let b = a; b < dim; b++) s[a * dim + b] += xa * x[i * dim + b]!;
      }
    }
    for (let a = 0; a < dim; a++) for (let b = 0; b < a; b++) s[a * dim + b] = s[b * dim + a]!;
    const e = topEigen(s, dim, k);
    eig = e.values;
    axes = e.vectors;
  }
  // orientation: scores correlate non-negatively with the row index
  for (const a of axes) {
    let corr = 0;
    for (let i = 0; i < m; i++) {
      let sc = 0;
      for (let c = 0; c < dim; c++) sc += x[i * dim + c]! * a[c]!;
      corr += sc * (i - (m - 1) / 2);
    }
    if (corr < 0) for (let c = 0; c < dim; c++) a[c] = -a[c]!;
  }
  return {
    dim,
    mean,
    axes,
    variances: eig.map((v) => v / (m - 1)),
    explained: eig.map((v) => (trace > 0 ? v / trace : 0)),
    totalVariance: trace / (m - 1),
  };
}

/** Scores of rows [lo, hi) of `rows` on every axis of `fit`: result[i][r − lo]. */
export function projectRows(fit: PcaFit, rows: ArrayLike<number>, lo: number, hi: number): number[][] {
  const d = fit.dim;
  return fit.axes.map((a) => {
    const out: number[] = [];
    for (let r = lo; r < hi; r++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += (rows[r * d + c]! - fit.mean[c]!) * a[c]!;
      out.push(s);
    }
    return out;
  });
}
