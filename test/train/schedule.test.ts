/** Warmup + cosine (and linear / constant) learning-rate schedules: exact values at known steps. */
import { describe, expect, it } from "vitest";
import { lrAt, schedule } from "../../dist/train/index.js";

describe("lrAt", () => {
  const o = { lr: 1e-3, minLr: 1e-4, warmup: 10, decaySteps: 110 };

  it("warms up linearly from lr/W at step 1 to lr at step W", () => {
    expect(lrAt(1, o)).toBeCloseTo(1e-4, 15);
    expect(lrAt(5, o)).toBeCloseTo(5e-4, 15);
    expect(lrAt(10, o)).toBeCloseTo(1e-3, 15);
  });

  it("decays along a half cosine to minLr at decaySteps, then stays there", () => {
    // halfway through the decay (step 60): minLr + (lr - minLr) / 2
    expect(lrAt(60, o)).toBeCloseTo(5.5e-4, 15);
    // a quarter of the way: minLr + (lr - minLr)·(1 + cos(π/4))/2
    expect(lrAt(35, o)).toBeCloseTo(1e-4 + 9e-4 * 0.5 * (1 + Math.cos(Math.PI / 4)), 15);
    expect(lrAt(110, o)).toBe(1e-4);
    expect(lrAt(500, o)).toBe(1e-4);
    for (let s = 11; s < 110; s++) expect(lrAt(s + 1, o)).toBeLessThan(lrAt(s, o));
  });

  it("defaults: no warmup, minLr = lr/10; linear decay to 0; constant", () => {
    expect(lrAt(1, { lr: 2, decaySteps: 100 })).toBeCloseTo(0.2 + 1.8 * 0.5 * (1 + Math.cos(Math.PI / 100)), 12);
    expect(lrAt(100, { lr: 2, decaySteps: 100 })).toBeCloseTo(0.2, 15);
    expect(lrAt(50, { lr: 1, decaySteps: 100, decay: "linear" })).toBeCloseTo(0.5, 15);
    expect(lrAt(100, { lr: 1, decaySteps: 100, decay: "linear" })).toBe(0);
    expect(lrAt(3, { lr: 1, warmup: 4, decaySteps: 100, decay: "constant" })).toBe(0.75);
    expect(lrAt(70, { lr: 1, warmup: 4, decaySteps: 100, decay: "constant" })).toBe(1);
    // warmup longer than the run: lr after warmup
    expect(lrAt(12, { lr: 1, warmup: 10, decaySteps: 5 })).toBe(1);
  });

  it("is a pure function of the step (schedule() binds the options)", () => {
    const f = schedule(o);
    for (const s of [1, 7, 10, 11, 64, 110, 111]) expect(f(s)).toBe(lrAt(s, o));
  });

  it("rejects bad arguments with the field named", () => {
    expect(() => lrAt(0, o)).toThrow(/step: expected a positive integer/);
    expect(() => lrAt(1, { ...o, minLr: 2e-3 })).toThrow(/minLr: expected a number in \[0, lr/);
    expect(() => lrAt(1, { ...o, warmup: -1 })).toThrow(/warmup/);
    expect(() => lrAt(1, { ...o, lr: NaN })).toThrow(/lr: expected a finite number/);
  });
});
