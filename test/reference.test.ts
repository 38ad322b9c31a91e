/**
 * Self-checks of the float64 reference (test/reference/): its analytic backward against central
 * finite differences of its own forward (float64, tight), known values of the positional math,
 * and the independent rounding helpers. Needs no native code.
 */
import { describe, expect, it } from "vitest";
import {
  attentionBackwardRef,
  attentionRef,
  defaultAlibiSlopes,
  effectiveAlibiSlopes,
  ropeRotate,
  ropeTables,
  yarnBounds,
  type RefInputs,
  type RefOptions,
} from "./reference/attention_ref.js";
import { Rng, suiteSeed } from "./reference/rng.js";
import { bf16ViaBits, dot, relErr, roundBf16, roundF16 } from "./reference/util.js";

const SEED = suiteSeed();

interface Small {
  name: string;
  B: number;
  Tq: number;
  Tk: number;
  Hq: number;
  Hkv: number;
  D: number;
  opts: RefOptions;
}

const yarn = (factor: number, L0: number, extra: Record<string, unknown> = {}): RefOptions["positional"] =>
  ({ type: "rope", scaling: { type: "yarn", factor, originalMaxPositions: L0, ...extra } }) as RefOptions["positional"];

const SMALL: Small[] = [
  { name: "none", B: 1, Tq: 5, Tk: 5, Hq: 2, Hkv: 2, D: 4, opts: {} },
  { name: "alibi H=3", B: 1, Tq: 5, Tk: 5, Hq: 3, Hkv: 3, D: 4, opts: { positional: { type: "alibi" } } },
  { name: "alibi-PI", B: 1, Tq: 6, Tk: 6, Hq: 2, Hkv: 2, D: 4, opts: { positional: { type: "alibi", trainLength: 3 } } },
  { name: "rope", B: 1, Tq: 5, Tk: 5, Hq: 2, Hkv: 2, D: 4, opts: { positional: { type: "rope", theta: 100 } } },
  { name: "rope linear", B: 1, Tq: 5, Tk: 5, Hq: 2, Hkv: 1, D: 4, opts: { positional: { type: "rope", scaling: { type: "linear", factor: 2 } } } },
  { name: "rope ntk", B: 1, Tq: 5, Tk: 5, Hq: 2, Hkv: 2, D: 6, opts: { positional: { type: "rope", theta: 50, scaling: { type: "ntk", factor: 3 } } } },
  {
    name: "rope dynamic above L0",
    B: 1,
    Tq: 6,
    Tk: 6,
    Hq: 2,
    Hkv: 2,
    D: 4,
    opts: { positional: { type: "rope", theta: 30, scaling: { type: "dynamic", factor: 2, originalMaxPositions: 3 } } },
  },
  { name: "yarn", B: 1, Tq: 5, Tk: 5, Hq: 2, Hkv: 2, D: 8, opts: { positional: yarn(4, 64) } },
  { name: "yarn truncate=false attentionFactor", B: 1, Tq: 5, Tk: 5, Hq: 2, Hkv: 2, D: 8, opts: { positional: yarn(4, 64, { truncate: false, attentionFactor: 1.4 }) } },
  { name: "partial rotary + prefixKeys", B: 1, Tq: 4, Tk: 6, Hq: 2, Hkv: 2, D: 6, opts: { prefixKeys: 2, positional: { type: "rope", rotaryDim: 4, theta: 20 } } },
  { name: "window + alibi, B=2", B: 2, Tq: 6, Tk: 6, Hq: 2, Hkv: 2, D: 4, opts: { window: 2, positional: { type: "alibi" } } },
  { name: "bidirectional window rope", B: 1, Tq: 4, Tk: 6, Hq: 2, Hkv: 2, D: 4, opts: { causal: false, window: 3, queryOffset: 1, positional: { type: "rope", theta: 10 } } },
  { name: "decode GQA softmaxScale", B: 1, Tq: 1, Tk: 6, Hq: 4, Hkv: 2, D: 4, opts: { softmaxScale: 0.8, positional: { type: "alibi" } } },
];

describe("reference: analytic backward vs finite differences of the forward (float64)", () => {
  for (const cs of SMALL) {
    it(cs.name, () => {
      const seed = SEED + cs.name.length * 7919;
      const rng = new Rng(seed);
      const qn = cs.B * cs.Tq * cs.Hq * cs.D;
      const kn = cs.B * cs.Tk * cs.Hkv * cs.D;
      const q = Float64Array.from({ length: qn }, () => rng.normal());
      const k = Float64Array.from({ length: kn }, () => rng.normal());
      const v = Float64Array.from({ length: kn }, () => rng.normal());
      const W = Float64Array.from({ length: qn }, () => rng.normal());
      const shapes = { qShape: [cs.B, cs.Tq, cs.Hq, cs.D] as [number, number, number, number], kShape: [cs.B, cs.Tk, cs.Hkv, cs.D] as [number, number, number, number] };
      const f = (inp: RefInputs): number => dot(attentionRef(inp, cs.opts), W);
      const g = attentionBackwardRef({ q, k, v, ...shapes }, W, cs.opts);
      const h = 1e-5;
      for (const [name, x, grad] of [
        ["q", q, g.dq],
        ["k", k, g.dk],
        ["v", v, g.dv],
      ] as const) {
        const fd = new Float64Array(x.length);
        for (let i = 0; i < x.length; i++) {
          const x0 = x[i];
          x[i] = x0 + h;
          const fp = f({ q, k, v, ...shapes });
          x[i] = x0 - h;
          const fm = f({ q, k, v, ...shapes });
          x[i] = x0;
          fd[i] = (fp - fm) / (2 * h);
        }
        const err = relErr(grad, fd);
        expect(err, `seed ${seed}: d${name} rel err ${err}`).toBeLessThan(1e-7);
      }
    });
  }
});

describe("reference: positional math known values", () => {
  it("default ALiBi slopes, power of two", () => {
    expect(defaultAlibiSlopes(8)).toEqual([1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64, 1 / 128, 1 / 256]);
    expect(defaultAlibiSlopes(4)).toEqual([1 / 4, 1 / 16, 1 / 64, 1 / 256]);
    const s16 = defaultAlibiSlopes(16);
    for (let h = 0; h < 16; h++) expect(s16[h]).toBeCloseTo(Math.pow(2, -0.5 * (h + 1)), 15);
  });
  it("default ALiBi slopes, not a power of two (BLOOM's recipe)", () => {
    // H=6: the 4 slopes of H=4, then slopes 1 and 3 (1-based) of H=8
    expect(defaultAlibiSlopes(6)).toEqual([1 / 4, 1 / 16, 1 / 64, 1 / 256, 1 / 2, 1 / 8]);
    // H=12: the 8 slopes of H=8, then slopes 1,3,5,7 of H=16
    const s12 = defaultAlibiSlopes(12);
    expect(s12.slice(0, 8)).toEqual(defaultAlibiSlopes(8));
    const s16 = defaultAlibiSlopes(16);
    expect(s12.slice(8)).toEqual([s16[0], s16[2], s16[4], s16[6]]);
    expect(defaultAlibiSlopes(3)).toEqual([1 / 16, 1 / 256, 1 / 4]);
  });
  it("ALiBi-PI scales slopes by L/Tk only above trainLength", () => {
    expect(effectiveAlibiSlopes({ trainLength: 64 }, 4, 64)).toEqual(defaultAlibiSlopes(4));
    expect(effectiveAlibiSlopes({ trainLength: 64 }, 4, 10)).toEqual(defaultAlibiSlopes(4));
    expect(effectiveAlibiSlopes({ trainLength: 64 }, 4, 128)).toEqual(defaultAlibiSlopes(4).map((s) => s / 2));
  });
  it("YaRN bounds match HF for Llama-2 4096 × 16 (D=128)", () => {
    expect(yarnBounds(128, 10000, 4096, 32, 1, true)).toEqual([20, 46]);
    const [lo, hi] = yarnBounds(128, 10000, 4096, 32, 1, false);
    expect(lo).toBeCloseTo(20.94, 1);
    expect(hi).toBeCloseTo(45.03, 1);
    // equal after clamping: high += 0.001
    expect(yarnBounds(16, 10000, 4, 32, 1, true)).toEqual([0, 0.001]);
  });
  it("YaRN attention factor defaults", () => {
    expect(ropeTables({ scaling: { type: "yarn", factor: 16, originalMaxPositions: 4096 } }, 128, 10).attnFactor).toBeCloseTo(0.1 * Math.log(16) + 1, 14);
    expect(ropeTables({ scaling: { type: "yarn", factor: 1, originalMaxPositions: 4096 } }, 128, 10).attnFactor).toBe(1);
    expect(ropeTables({ scaling: { type: "yarn", factor: 40, originalMaxPositions: 4096, mscale: 1, mscaleAllDim: 1 } }, 64, 10).attnFactor).toBe(1);
    expect(
      ropeTables({ scaling: { type: "yarn", factor: 40, originalMaxPositions: 4096, mscale: 0.707, mscaleAllDim: 0.5 } }, 64, 10).attnFactor,
    ).toBeCloseTo((0.1 * 0.707 * Math.log(40) + 1) / (0.1 * 0.5 * Math.log(40) + 1), 14);
    expect(ropeTables({ scaling: { type: "yarn", factor: 4, originalMaxPositions: 64, attentionFactor: 0.9 } }, 64, 10).attnFactor).toBe(0.9);
  });
  it("RoPE inv_freq: plain, linear, ntk, dynamic", () => {
    const plain = ropeTables({ theta: 10000 }, 8, 1).invFreq;
    expect(plain).toEqual([1, Math.pow(10000, -0.25), Math.pow(10000, -0.5), Math.pow(10000, -0.75)]);
    const lin = ropeTables({ scaling: { type: "linear", factor: 4 } }, 8, 1).invFreq;
    lin.forEach((x, i) => expect(x).toBeCloseTo(plain[i] / 4, 15));
    const ntk = ropeTables({ scaling: { type: "ntk", factor: 4 } }, 8, 1).invFreq;
    const th = 10000 * Math.pow(4, 8 / 6);
    ntk.forEach((x, i) => expect(x).toBeCloseTo(Math.pow(th, (-2 * i) / 8), 15));
    // dynamic with Tk <= L0 is plain rope; above: theta' = theta (f s/L0 − (f−1))^(R/(R−2))
    expect(ropeTables({ scaling: { type: "dynamic", factor: 4, originalMaxPositions: 100 } }, 8, 50).invFreq).toEqual(plain);
    const dyn = ropeTables({ scaling: { type: "dynamic", factor: 4, originalMaxPositions: 100 } }, 8, 200).invFreq;
    const thd = 10000 * Math.pow((4 * 200) / 100 - 3, 8 / 6);
    dyn.forEach((x, i) => expect(x).toBeCloseTo(Math.pow(thd, (-2 * i) / 8), 15));
  });
  it("yarn inv_freq blends interpolation and extrapolation by the ramp", () => {
    const R = 128;
    const t = ropeTables({ scaling: { type: "yarn", factor: 16, originalMaxPositions: 4096 } }, R, 1).invFreq;
    const plain = ropeTables({}, R, 1).invFreq;
    for (let i = 0; i < R / 2; i++) {
      if (i <= 20) expect(t[i]).toBe(plain[i]); // ramp 0: extrapolation (unchanged)
      else if (i >= 46) expect(t[i]).toBeCloseTo(plain[i] / 16, 18); // ramp 1: interpolation
      else {
        const r = (i - 20) / 26;
        expect(t[i]).toBeCloseTo((plain[i] / 16) * r + plain[i] * (1 - r), 18);
      }
    }
  });
  it("rotation is orthogonal times the attention factor; rotate-half pairing", () => {
    const rt = ropeTables({ rotaryDim: 4, theta: 10 }, 6, 1);
    const x = Float64Array.from([1, 2, 3, 4, 5, 6]);
    ropeRotate(x, rt, 3);
    const a0 = 3 * 1;
    const a1 = 3 * Math.pow(10, -0.5);
    expect(x[0]).toBeCloseTo(1 * Math.cos(a0) - 3 * Math.sin(a0), 14);
    expect(x[2]).toBeCloseTo(3 * Math.cos(a0) + 1 * Math.sin(a0), 14);
    expect(x[1]).toBeCloseTo(2 * Math.cos(a1) - 4 * Math.sin(a1), 14);
    expect(x[3]).toBeCloseTo(4 * Math.cos(a1) + 2 * Math.sin(a1), 14);
    expect([x[4], x[5]]).toEqual([5, 6]);
  });
  it("causal row 0 equals v_0; bidirectional rows are convex combinations", () => {
    const rng = new Rng(SEED);
    const q = Float64Array.from({ length: 4 * 2 }, () => rng.normal());
    const k = Float64Array.from({ length: 4 * 2 }, () => rng.normal());
    const v = Float64Array.from({ length: 4 * 2 }, () => rng.normal());
    const out = attentionRef({ q, k, v, qShape: [1, 4, 1, 2], kShape: [1, 4, 1, 2] }, { positional: { type: "alibi" } });
    expect([out[0], out[1]]).toEqual([v[0], v[1]]);
    const bi = attentionRef({ q, k, v, qShape: [1, 4, 1, 2], kShape: [1, 4, 1, 2] }, { causal: false });
    const lo = Math.min(v[0], v[2], v[4], v[6]);
    const hi = Math.max(v[0], v[2], v[4], v[6]);
    for (let i = 0; i < 4; i++) expect(bi[2 * i]).toBeGreaterThanOrEqual(lo - 1e-15), expect(bi[2 * i]).toBeLessThanOrEqual(hi + 1e-15);
  });
  it("a fully masked row throws", () => {
    const z = new Float64Array(2 * 2);
    expect(() => attentionRef({ q: z, k: z, v: z, qShape: [1, 2, 1, 2], kShape: [1, 2, 1, 2] }, { window: 2, queryOffset: 10 })).toThrow(/sees no key/);
  });
});

describe("reference: rounding helpers", () => {
  it("bf16: arithmetic rounding agrees with the bit trick", () => {
    const rng = new Rng(SEED + 1);
    for (let i = 0; i < 20000; i++) {
      const x = Math.fround(rng.normal() * Math.pow(2, rng.int(-130, 130)));
      expect(roundBf16(x)).toBe(bf16ViaBits(x));
    }
    for (const x of [0, -0, 1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.4028234663852886e38, 1e-45, Infinity, -Infinity]) {
      expect(Object.is(roundBf16(Math.fround(x)), bf16ViaBits(Math.fround(x)))).toBe(true);
    }
  });
  it("f16 known values", () => {
    expect(roundF16(65504)).toBe(65504);
    expect(roundF16(65519.99)).toBe(65504);
    expect(roundF16(65520)).toBe(Infinity);
    expect(roundF16(-1e6)).toBe(-Infinity);
    expect(roundF16(2 ** -24)).toBe(2 ** -24);
    expect(roundF16(2 ** -25)).toBe(0); // tie to even (0)
    expect(roundF16(3 * 2 ** -25)).toBe(2 ** -23); // tie to even (2)
    expect(roundF16(1 + 2 ** -11)).toBe(1);
    expect(roundF16(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9);
    expect(roundF16(0.1)).toBe(0.0999755859375);
    expect(Number.isNaN(roundF16(NaN))).toBe(true);
  });
});
