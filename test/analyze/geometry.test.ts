/**
 * Geometry of positional vectors on synthetic data with known answers: OOD distances (points on a
 * circle arc, then beyond it at known distances), anchor scores, step changes, cosine similarity.
 */
import { describe, expect, it } from "vitest";
import { anchorScores, bucketize, cloudStats, cosineMatrix, oodDistances, samplePositions, stepChanges } from "../../dist/analyze/geometry.js";

describe("positional-vector geometry", () => {
  it("OOD distance: 0 on the trained set, the known distance off it, in units of the radius", () => {
    // trained positions 0..9 on the unit circle arc (radius 1 around the origin, not around their centroid)
    const d = 2;
    const p: number[] = [];
    for (let t = 0; t < 10; t++) p.push(Math.cos(t * 0.1), Math.sin(t * 0.1));
    // positions 10, 11: radially out by 0.5 and 2 from trained point 9
    const a = 0.9;
    p.push(1.5 * Math.cos(a), 1.5 * Math.sin(a), 3 * Math.cos(a), 3 * Math.sin(a));
    const { radius } = cloudStats(p, d, 0, 10);
    const ood = oodDistances(p, 10, 12, p, 0, 10, d, radius);
    expect(ood[0]! * radius).toBeCloseTo(0.5, 9);
    expect(ood[1]! * radius).toBeCloseTo(2, 9);
    // left-one-out in range: the chord to the neighbour, 2 sin(0.05)
    const inRange = oodDistances(p, 0, 10, p, 0, 10, d, radius, true);
    for (const x of inRange) expect(x * radius).toBeCloseTo(2 * Math.sin(0.05), 9);
    // without leaving out, a trained vector is at distance 0 from itself
    expect(oodDistances(p, 3, 4, p, 0, 10, d, radius)[0]).toBe(0);
    // the radius: RMS distance from the centroid
    const c = [0, 0];
    for (let t = 0; t < 10; t++) (c[0]! += p[2 * t]! / 10), (c[1]! += p[2 * t + 1]! / 10);
    const rms = Math.sqrt(Array.from({ length: 10 }, (_, t) => (p[2 * t]! - c[0]!) ** 2 + (p[2 * t + 1]! - c[1]!) ** 2).reduce((x, y) => x + y, 0) / 10);
    expect(radius).toBeCloseTo(rms, 12);
  });

  it("anchor scores: a far first token scores high, the bulk about 1", () => {
    const d = 3;
    const L = 40;
    const p: number[] = [];
    for (let t = 0; t < L; t++) p.push(t === 0 ? 50 : Math.cos(t), Math.sin(t), 0);
    const { scores, spread } = anchorScores(p, d, L, 4);
    expect(spread).toBeGreaterThan(0.9); // the bulk: a unit circle, centroid near the origin
    expect(spread).toBeLessThan(1.1);
    expect(scores[0]).toBeGreaterThan(40);
    for (const s of scores.slice(1)) expect(s).toBeGreaterThan(0.8), expect(s).toBeLessThan(1.2);
    const steps = stepChanges(p, d, L, spread);
    expect(steps.length).toBe(L - 1);
    expect(steps[0]).toBeGreaterThan(40);
    expect(steps[5]! * spread).toBeCloseTo(2 * Math.sin(0.5), 9);
  });

  it("cosine similarity, sampled positions and buckets", () => {
    const p = [1, 0, 0, 2, 1, 1, -3, 0];
    const m = cosineMatrix(p, 2, [0, 1, 2, 3]);
    expect(m[0]![0]).toBeCloseTo(1, 12);
    expect(m[0]![1]).toBeCloseTo(0, 12);
    expect(m[0]![2]).toBeCloseTo(Math.SQRT1_2, 12);
    expect(m[0]![3]).toBeCloseTo(-1, 12);
    const pos = samplePositions(256, 24);
    expect(pos.slice(0, 8)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(pos[pos.length - 1]).toBe(255);
    expect(new Set(pos).size).toBe(pos.length);
    expect(bucketize([1, 2, 3, 4, NaN], 10, 2)).toEqual([
      { start: 10, end: 12, value: 1.5 },
      { start: 12, end: 14, value: 3.5 },
      { start: 14, end: 15, value: null },
    ]);
  });
});
