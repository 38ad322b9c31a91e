/**
 * PCA by power iteration against independent references: a symmetric matrix built from a known
 * eigen-decomposition (Q Λ Qᵀ), and a cyclic Jacobi eigen-decomposition (written here) of the
 * covariance of random data, through both paths of fitPca (Gram matrix when rows < dims, scatter
 * matrix otherwise).
 */
import { describe, expect, it } from "vitest";
import { Rng } from "../../dist/util/rng.js";
import { fitPca, projectRows, topEigen } from "../../dist/analyze/pca.js";

/** Cyclic Jacobi: all eigenvalues and eigenvectors (columns of V) of a symmetric n × n matrix. */
function jacobi(a0: number[][]): { values: number[]; vectors: number[][] } {
  const n = a0.length;
  const a = a0.map((r) => [...r]);
  const v = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p]![q]! ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (Math.abs(a[p]![q]!) < 1e-300) continue;
        const theta = (a[q]![q]! - a[p]![p]!) / (2 * a[p]![q]!);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k]![p]!;
          const akq = a[k]![q]!;
          a[k]![p] = c * akp - s * akq;
          a[k]![q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p]![k]!;
          const aqk = a[q]![k]!;
          a[p]![k] = c * apk - s * aqk;
          a[q]![k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k]![p]!;
          const vkq = v[k]![q]!;
          v[k]![p] = c * vkp - s * vkq;
          v[k]![q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[j]![j]! - a[i]![i]!);
  return { values: order.map((i) => a[i]![i]!), vectors: order.map((i) => v.map((row) => row[i]!)) };
}

function randomOrthogonal(n: number, rng: Rng): number[][] {
  const q: number[][] = [];
  while (q.length < n) {
    const v = Array.from({ length: n }, () => rng.normal());
    for (const u of q) {
      const dot = v.reduce((s, x, i) => s + x * u[i]!, 0);
      for (let i = 0; i < n; i++) v[i] -= dot * u[i]!;
    }
    const norm = Math.hypot(...v);
    q.push(v.map((x) => x / norm));
  }
  return q;
}

const absDot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return Math.abs(s);
};

describe("PCA", () => {
  it("topEigen recovers a known eigen-decomposition Q Λ Qᵀ", () => {
    const n = 7;
    const rng = new Rng(5);
    const q = randomOrthogonal(n, rng);
    const lambda = [9, 4, 2.5, 1, 0.5, 0.2, 0.05];
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) a[i * n + j] += q[k]![i]! * lambda[k]! * q[k]![j]!;
    const e = topEigen(a, n, 3);
    e.values.forEach((v, i) => expect(v).toBeCloseTo(lambda[i]!, 9));
    e.vectors.forEach((v, i) => expect(absDot(v, q[i]!)).toBeCloseTo(1, 9));
  });

  for (const [rows, dim] of [
    [10, 6],
    [5, 9],
  ] as const) {
    it(`fitPca matches a Jacobi eigen-decomposition of the covariance (${rows} rows × ${dim} dims: ${rows > dim ? "scatter" : "Gram"} path)`, () => {
      const rng = new Rng(rows * 100 + dim);
      // anisotropic data so that the leading eigenvalues are well separated
      const data = new Float64Array(rows * dim);
      for (let r = 0; r < rows; r++) for (let c = 0; c < dim; c++) data[r * dim + c] = rng.normal() * (c + 1) + 0.3 * r * (c === 0 ? 1 : 0);
      const mean = Array.from({ length: dim }, (_, c) => Array.from({ length: rows }, (_, r) => data[r * dim + c]!).reduce((a, b) => a + b, 0) / rows);
      const cov = Array.from({ length: dim }, (_, i) =>
        Array.from({ length: dim }, (_, j) => {
          let s = 0;
          for (let r = 0; r < rows; r++) s += (data[r * dim + i]! - mean[i]!) * (data[r * dim + j]! - mean[j]!);
          return s / (rows - 1);
        }),
      );
      const ref = jacobi(cov);
      const total = ref.values.reduce((a, b) => a + b, 0);
      const fit = fitPca(data, dim, 2);
      expect(fit.totalVariance).toBeCloseTo(total, 9);
      for (let i = 0; i < 2; i++) {
        expect(fit.variances[i]!).toBeCloseTo(ref.values[i]!, 7);
        expect(fit.explained[i]!).toBeCloseTo(ref.values[i]! / total, 8);
        expect(absDot(fit.axes[i]!, ref.vectors[i]!)).toBeCloseTo(1, 7);
      }
      // scores: (x − mean) · axis, and their variance is the eigenvalue
      const sc = projectRows(fit, data, 0, rows);
      const v0 = sc[0]!.reduce((a, s) => a + s * s, 0) / (rows - 1);
      expect(v0).toBeCloseTo(ref.values[0]!, 7);
      // orientation: PC scores correlate non-negatively with the row index
      for (const s of sc) expect(s.reduce((a, x, r) => a + x * (r - (rows - 1) / 2), 0)).toBeGreaterThanOrEqual(0);
    });
  }

  it("fits a sub-range and projects rows outside it", () => {
    // points on a line through the origin along (1, 2, 2)/3 in the fitted range; the last row is off-line
    const dim = 3;
    const rows: number[] = [];
    for (let t = 0; t < 6; t++) rows.push(t / 3, (2 * t) / 3, (2 * t) / 3);
    rows.push(0, 3, -3);
    const fit = fitPca(rows, dim, 1, [0, 6]);
    expect(fit.explained[0]).toBeCloseTo(1, 9);
    const s = projectRows(fit, rows, 0, 7)[0]!;
    for (let t = 1; t < 6; t++) expect(s[t]! - s[t - 1]!).toBeCloseTo(1, 9);
    expect(s[6]!).toBeCloseTo((0 * 1 + 3 * 2 - 3 * 2) / 3 - (2.5 * 3) / 3, 9); // (x − mean)·axis
    expect(() => fitPca(rows, dim, 1, [3, 4])).toThrow(/at least 2 rows/);
  });
});
