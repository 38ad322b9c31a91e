/**
 * The positional-vector estimator on synthetic hidden states h_{t,n} = e_t + noise (known e_t, iid
 * Gaussian noise of standard deviation σ per coordinate): the recovered p̂_t must be within a bound
 * computed from the noise level, the within-position variance must estimate d·σ², and the
 * positional signal S must be ≈ 1 without a position effect and large with one.
 */
import { describe, expect, it } from "vitest";
import { Rng } from "../../dist/util/rng.js";
import { PositionalAccumulator, positionalSignal } from "../../dist/analyze/estimator.js";

function synthetic(T: number, d: number, N: number, sigma: number, e: (t: number, k: number) => number, seed: number) {
  const rng = new Rng(seed);
  const acc = new PositionalAccumulator(1, T, d);
  const B = 8;
  for (let done = 0; done < N; done += B) {
    const data = new Float32Array(B * T * d);
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let k = 0; k < d; k++) data[(b * T + t) * d + k] = e(t, k) + sigma * rng.normal();
    acc.add(0, data, B);
  }
  return acc.finish();
}

describe("positional-vector estimator", () => {
  const T = 48;
  const d = 32;
  const N = 256;
  const sigma = 0.7;
  // known positional vectors: a smooth curve with a distinct first token
  const e = (t: number, k: number) => (t === 0 ? 3 * Math.cos(k) : Math.sin((t + 1) * (k + 1) * 0.05) + 0.01 * t);

  it("recovers p_t within the chi-square bound of the noise, for every position", () => {
    const est = synthetic(T, d, N, sigma, e, 11);
    expect(est.samples).toBe(N);
    // ‖p̂_t − e_t‖² = σ²/N · χ²_d; Laurent–Massart: P(χ²_d > d + 2√(dx) + 2x) ≤ e^{−x}, x = 20
    const x = 20;
    const bound = Math.sqrt((sigma * sigma * (d + 2 * Math.sqrt(d * x) + 2 * x)) / N);
    let worst = 0;
    let sq = 0;
    for (let t = 0; t < T; t++) {
      let err = 0;
      for (let k = 0; k < d; k++) err += (est.vectors[0]![t * d + k]! - e(t, k)) ** 2;
      worst = Math.max(worst, Math.sqrt(err));
      sq += err;
    }
    expect(worst).toBeLessThan(bound);
    // and the typical error is the expected σ √(d / N), not far below it (the noise is really there)
    const rms = Math.sqrt(sq / T);
    expect(rms / (sigma * Math.sqrt(d / N))).toBeGreaterThan(0.85);
    expect(rms / (sigma * Math.sqrt(d / N))).toBeLessThan(1.15);
  });

  it("estimates the within-position variance d·σ²", () => {
    const est = synthetic(T, d, N, sigma, e, 12);
    const w = Array.from(est.withinVariance[0]!);
    const meanW = w.reduce((a, b) => a + b, 0) / T;
    // each tr Σ̂_t is σ²·χ²_{d(N−1)}/(N−1): relative sd √(2/(d(N−1))) ≈ 1.6%; the mean over T is tighter
    expect(Math.abs(meanW / (d * sigma * sigma) - 1)).toBeLessThan(0.03);
  });

  it("S ≈ 1 without a position effect, S ≫ 1 with one", () => {
    const none = synthetic(T, d, N, sigma, (_t, k) => Math.cos(k), 13);
    const sNone = positionalSignal(none, 0, 1, T).signal!;
    // S = (between / noise): under the null its sd is about √(2/(d(T−2))) ≈ 4.6%
    expect(sNone).toBeGreaterThan(0.8);
    expect(sNone).toBeLessThan(1.2);
    const some = synthetic(T, d, N, sigma, e, 14);
    expect(positionalSignal(some, 0, 1, T).signal!).toBeGreaterThan(50);
  });

  it("rejects mismatched data and incomplete layers", () => {
    const acc = new PositionalAccumulator(2, 4, 3);
    expect(() => acc.add(0, new Float32Array(11), 1)).toThrow(/expected 1 × 4 × 3 values, got 11/);
    expect(() => acc.add(2, new Float32Array(12), 1)).toThrow(/layer: expected an integer in \[0, 2\)/);
    acc.add(0, new Float32Array(12), 1);
    expect(() => acc.finish()).toThrow(/same positive number of samples at every layer, got 1, 0/);
  });
});
