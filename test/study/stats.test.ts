/**
 * The study's statistics: the document bootstrap finds a known difference and does not find a
 * zero one, covers the true mean at about its nominal rate, handles ratios; Wilson intervals
 * against values computed by hand; bad input is a clear error.
 */
import { describe, expect, it } from "vitest";
import { bootstrapIndices, bootstrapMean, bootstrapRatio, wilson, type DocSums } from "../../dist/study/stats.js";
import { XorShift32 } from "../reference/rng.js";

/** Per-document sums of `targets` NLLs: a document effect plus token noise, plus `shift` per target. */
function docs(rng: XorShift32, n: number, targets: number, docEffects: number[], shift = 0, noise = 1): DocSums {
  const sums: number[] = [];
  const counts: number[] = [];
  for (let d = 0; d < n; d++) {
    let s = 0;
    for (let t = 0; t < targets; t++) s += 4 + docEffects[d]! + shift + noise * (rng.next() - 0.5) * 2;
    sums.push(s);
    counts.push(targets);
  }
  return { sums, counts };
}

describe("document bootstrap", () => {
  it("finds a known difference: the interval excludes 0 and contains the shift", () => {
    const rng = new XorShift32(11);
    const eff = Array.from({ length: 20 }, () => (rng.next() - 0.5) * 2);
    const a = docs(rng, 20, 32, eff, 0.1);
    const b = docs(rng, 20, 32, eff, 0);
    const r = bootstrapMean(a, b);
    expect(r.mean).toBeGreaterThan(0.05);
    expect(r.lo).toBeGreaterThan(0);
    expect(r.lo).toBeLessThan(0.1);
    expect(r.hi).toBeGreaterThan(0.1);
  });

  it("does not find a zero difference (the interval contains 0) in most of 40 repetitions", () => {
    const rng = new XorShift32(5);
    let covered = 0;
    for (let rep = 0; rep < 40; rep++) {
      const eff = Array.from({ length: 16 }, () => (rng.next() - 0.5) * 2);
      const a = docs(rng, 16, 32, eff, 0);
      const b = docs(rng, 16, 32, eff, 0);
      const r = bootstrapMean(a, b, bootstrapIndices(16, 500, rep + 1));
      if (r.lo <= 0 && r.hi >= 0) covered++;
    }
    // nominal 95%: 40 repetitions cover 0 at least 33 times with overwhelming probability
    expect(covered).toBeGreaterThanOrEqual(33);
  });

  it("the document effect cancels in a paired difference but widens an unpaired mean", () => {
    const rng = new XorShift32(3);
    const eff = Array.from({ length: 20 }, () => (rng.next() - 0.5) * 4);
    const a = docs(rng, 20, 32, eff, 0.05, 0.2);
    const b = docs(rng, 20, 32, eff, 0, 0.2);
    const paired = bootstrapMean(a, b);
    const single = bootstrapMean(a);
    expect(paired.hi - paired.lo).toBeLessThan((single.hi - single.lo) / 5);
    expect(paired.lo).toBeGreaterThan(0);
  });

  it("mean = Σ sums / Σ counts (unequal counts weigh by targets)", () => {
    const r = bootstrapMean({ sums: [10, 30], counts: [10, 10] }, { sums: [0, 0], counts: [10, 10] });
    expect(r.mean).toBeCloseTo(2, 12);
    const w = bootstrapMean({ sums: [10, 40], counts: [10, 30] });
    expect(w.mean).toBeCloseTo(50 / 40, 12);
    expect(w.lo).toBeGreaterThanOrEqual(1);
    expect(w.hi).toBeLessThanOrEqual(4 / 3 + 1e-12);
  });

  it("is reproducible: the same inputs give the same interval", () => {
    const a = { sums: [1, 2, 3, 4, 5], counts: [1, 1, 1, 1, 1] };
    expect(bootstrapMean(a)).toEqual(bootstrapMean(a));
  });

  it("ratio: a known fraction is recovered with an interval around it", () => {
    const rng = new XorShift32(8);
    const eff = Array.from({ length: 24 }, () => (rng.next() - 0.5) * 2);
    const base = docs(rng, 24, 32, eff, 0, 0.3);
    const broken = docs(rng, 24, 32, eff, 0.4, 0.3);
    const repaired = docs(rng, 24, 32, eff, 0.1, 0.3); // closes 75% of the 0.4 degradation
    const r = bootstrapRatio(broken, repaired, broken, base);
    expect(r.mean).toBeGreaterThan(0.65);
    expect(r.mean).toBeLessThan(0.85);
    expect(r.lo).toBeLessThan(0.75);
    expect(r.hi).toBeGreaterThan(0.75);
  });

  it("unpaired inputs are a clear error", () => {
    expect(() => bootstrapMean({ sums: [1, 2], counts: [3, 3] }, { sums: [1, 2], counts: [3, 4] })).toThrow(/paired measurements/);
    expect(() => bootstrapMean({ sums: [1, 2], counts: [3] })).toThrow(/same length/);
    expect(() => bootstrapIndices(0)).toThrow(/positive integer/);
  });
});

describe("Wilson interval", () => {
  it("matches values computed by hand", () => {
    // k = 45, n = 50: centre (0.9 + 1.92/50)/(1 + 3.84/50), half-width per the formula
    const z = 1.959964;
    const k = 45;
    const n = 50;
    const p = k / n;
    const den = 1 + (z * z) / n;
    const c = (p + (z * z) / (2 * n)) / den;
    const h = (z / den) * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
    const w = wilson(k, n);
    expect(w.mean).toBe(0.9);
    expect(w.lo).toBeCloseTo(c - h, 12);
    expect(w.hi).toBeCloseTo(c + h, 12);
    expect(w.lo).toBeCloseTo(0.7864, 3);
    expect(w.hi).toBeCloseTo(0.9565, 3);
  });
  it("edges: 0 and n successes stay inside [0, 1] with a non-zero width", () => {
    const a = wilson(0, 50);
    expect(a.lo).toBe(0);
    expect(a.hi).toBeGreaterThan(0.05);
    const b = wilson(50, 50);
    expect(b.hi).toBe(1);
    expect(b.lo).toBeLessThan(0.95);
    expect(() => wilson(3, 2)).toThrow(/0 <= k <= n/);
  });
});

describe("tInterval (replicates over seeds)", () => {
  it("matches hand-computed intervals; t quantiles match scipy's t.ppf(0.975, df)", async () => {
    const { tInterval, tQuantile975 } = await import("../../dist/study/stats.js");
    // scipy.stats.t.ppf(0.975, df) for df = 1, 2, 4, 10, 30, 60, 200
    const ref: [number, number][] = [[1, 12.7062047], [2, 4.30265273], [4, 2.77644511], [10, 2.22813885], [30, 2.04227246], [60, 2.00029782], [200, 1.97189617]];
    for (const [df, t] of ref) expect(Math.abs(tQuantile975(df) - t), `df ${df}`).toBeLessThan(2e-3);
    // [1, 2, 3]: mean 2, sd 1, half-width 4.30265·1/√3
    const iv = tInterval([3, 1, 2]);
    expect(iv.mean).toBe(2);
    expect(iv.sd).toBeCloseTo(1, 12);
    expect(iv.hi - iv.mean).toBeCloseTo(4.303 / Math.sqrt(3), 6);
    expect(iv.mean - iv.lo).toBeCloseTo(4.303 / Math.sqrt(3), 6);
    const one = tInterval([0.5]);
    expect([one.mean, one.lo, one.hi, one.n]).toEqual([0.5, NaN, NaN, 1]);
    expect(() => tInterval([])).toThrow(/at least one value/);
  });
});
