/**
 * What is read from activation maps (lib/analyze/head_maps.ts): Gini of known distributions, the
 * decomposition of synthetic maps with known coefficients (and R² of unrelated ones), the
 * deterministic head clusters, and the before/after comparison.
 */
import { describe, expect, it } from "vitest";
import { clusterHeads, compareMaps, decomposeMap, gini } from "../../dist/analyze/index.js";
import { suiteSeed, XorShift32 } from "../reference/rng.js";

const seed = suiteSeed();
console.log(`[head_maps] seed ${seed} (set CTXWIN_TEST_SEED=${seed} to replay)`);
const rng = new XorShift32(seed >>> 0 || 1);

/** A random L × H map of |N(0, 1)| values (activation maps are non-negative). */
function randomMap(L: number, H: number): number[][] {
  return Array.from({ length: L }, () => Array.from({ length: H }, () => Math.abs(rng.normal())));
}
const combine = (maps: number[][][], c: number[], noise: number) => maps[0]!.map((row, l) => row.map((_, h) => maps.reduce((s, m, k) => s + c[k]! * m[l]![h]!, 0) + noise * rng.normal()));

describe("gini", () => {
  it("is 0 for a uniform map, (n − 1)/n for a one-hot one, 0.25 for 1, 2, 3, 4", () => {
    expect(gini(new Array(64).fill(0.37))).toBeCloseTo(0, 12);
    const oneHot = new Array(64).fill(0);
    oneHot[17] = 2.5;
    expect(gini(oneHot)).toBeCloseTo(63 / 64, 12);
    // Σ_i Σ_j |x_i − x_j| = 20, 2·n·Σx = 80
    expect(gini([1, 2, 3, 4])).toBeCloseTo(0.25, 12);
    expect(gini([[4, 1], [3, 2]])).toBeCloseTo(0.25, 12); // a layer × head map, any order
    // of the absolute values: signs do not matter
    expect(gini([-1, 2, -3, 4])).toBeCloseTo(0.25, 12);
    // [0, 0, 1, 1]: Σ|x_i − x_j| = 8, 2·4·2 = 16
    expect(gini([0, 1, 0, 1])).toBeCloseTo(0.5, 12);
    expect(gini([0, 0, 0])).toBeNaN();
    expect(() => gini([])).toThrow(/gini: values: expected at least one value/);
    expect(() => gini([1, NaN])).toThrow(/gini: values: expected finite numbers/);
  });
});

describe("decomposeMap", () => {
  it("recovers known coefficients of a noisy mix: 0.3·a + 0.7·b (+ an unrelated map c with coefficient 0)", () => {
    const a = randomMap(16, 16);
    const b = randomMap(16, 16);
    const c = randomMap(16, 16);
    const target = combine([a, b], [0.3, 0.7], 0.01);
    for (const nonNegative of [true, false]) {
      const d = decomposeMap(target, [a, b, c], { nonNegative });
      expect(d.coefficients[0]).toBeCloseTo(0.3, 1);
      expect(Math.abs(d.coefficients[0]! - 0.3)).toBeLessThan(0.01);
      expect(Math.abs(d.coefficients[1]! - 0.7)).toBeLessThan(0.01);
      expect(Math.abs(d.coefficients[2]!)).toBeLessThan(0.01);
      expect(Math.abs(d.intercept)).toBeLessThan(0.01);
      expect(d.r2).toBeGreaterThan(0.999);
      expect(d.method).toBe(nonNegative ? "nnls" : "ls");
    }
  });

  it("gives R² ≈ 0 on unrelated random maps: below 0.1 with n = 256 heads and k = 3 maps (expected k/(n − 1) ≈ 0.012)", () => {
    let sum = 0;
    const trials = 20;
    for (let i = 0; i < trials; i++) {
      const d = decomposeMap(randomMap(16, 16), [randomMap(16, 16), randomMap(16, 16), randomMap(16, 16)]);
      expect(d.r2).toBeGreaterThanOrEqual(0);
      expect(d.r2).toBeLessThan(0.1);
      for (const c of d.coefficients) expect(c).toBeGreaterThanOrEqual(0);
      sum += d.r2;
    }
    expect(sum / trials).toBeLessThan(0.04);
  });

  it("keeps coefficients non-negative where plain least squares would go negative", () => {
    const a = randomMap(8, 8);
    const b = randomMap(8, 8);
    const target = combine([a, b], [1, -0.5], 0);
    const ls = decomposeMap(target, [a, b], { nonNegative: false });
    expect(ls.coefficients[1]).toBeCloseTo(-0.5, 6);
    expect(ls.r2).toBeCloseTo(1, 9);
    const nn = decomposeMap(target, [a, b]);
    expect(nn.coefficients[1]).toBe(0);
    expect(nn.coefficients[0]).toBeGreaterThan(0);
    expect(nn.r2).toBeLessThan(ls.r2);
    // the NNLS optimum with b fixed at 0 is the one-variable fit of a (with intercept)
    const one = decomposeMap(target, [a]);
    expect(nn.coefficients[0]).toBeCloseTo(one.coefficients[0]!, 9);
    expect(nn.r2).toBeCloseTo(one.r2, 9);
  });

  it("copes with duplicated bases and rejects mismatched shapes", () => {
    const a = randomMap(4, 4);
    const d = decomposeMap(combine([a], [2], 0), [a, a]);
    expect(d.coefficients[0]! + d.coefficients[1]!).toBeCloseTo(2, 6);
    expect(d.r2).toBeCloseTo(1, 9);
    expect(() => decomposeMap(a, [randomMap(4, 3)])).toThrow(/decomposeMap: bases\[0\]: expected 16 values \(as the target\), got 12/);
    expect(() => decomposeMap(a, [])).toThrow(/decomposeMap: bases: expected at least one map/);
  });
});

describe("clusterHeads", () => {
  it("separates heads active for one task, the other, both and neither; deterministically", () => {
    // 4 × 4 heads; task A activates row 0, task B row 1, both row 2, row 3 nothing
    const A = [[1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]].map((r) => r.map((v) => v + 0.01 * rng.next()));
    const B = [[0, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0]].map((r) => r.map((v) => v + 0.01 * rng.next()));
    const c = clusterHeads([A, B], { k: 4 });
    expect(c.k).toBe(4);
    for (let l = 0; l < 4; l++) expect(new Set(c.assignments[l]).size).toBe(1);
    expect(new Set(c.assignments.map((r) => r[0])).size).toBe(4);
    // cluster 0 = the largest centroid: the heads active for both tasks
    expect(c.assignments[2]![0]).toBe(0);
    expect(c.assignments[3]![0]).toBe(3);
    expect(c.clusters.map((k) => k.size)).toEqual([4, 4, 4, 4]);
    expect(c.clusters[0]!.centroid[0]).toBeGreaterThan(0.9);
    expect(clusterHeads([A, B], { k: 4 })).toEqual(c);
    // fewer distinct profiles than k: fewer clusters
    const flat = [[1, 1], [1, 1]];
    expect(clusterHeads([flat], { k: 3 }).k).toBe(1);
  });
});

describe("compareMaps", () => {
  it("measures the change per head, its relative size, the correlation and Gini before/after", () => {
    const before = [[1, 0], [0, 0]];
    const after = [[1, 1], [1, 1]];
    const c = compareMaps(before, after, { top: 2 });
    expect(c.delta).toEqual([[0, 1], [1, 1]]);
    expect(c.relativeChange).toBeCloseTo(Math.sqrt(3), 12);
    expect(c.correlation).toBeNaN(); // after is constant
    expect(c.giniBefore).toBeCloseTo(0.75, 12);
    expect(c.giniAfter).toBeCloseTo(0, 12);
    expect(c.topChanged).toEqual([
      { layer: 0, head: 1, before: 0, after: 1, delta: 1 },
      { layer: 1, head: 0, before: 0, after: 1, delta: 1 },
    ]);
    const m = randomMap(3, 5);
    const same = compareMaps(m, m.map((r) => r.map((v) => 2 * v)));
    expect(same.correlation).toBeCloseTo(1, 12);
    expect(same.relativeChange).toBeCloseTo(1, 12);
    expect(() => compareMaps(m, randomMap(5, 3))).toThrow(/compareMaps: after: expected 3 × 5/);
  });
});
