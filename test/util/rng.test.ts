/**
 * The one seeded generator (lib/util/rng.ts): its stream is sfc32 (checked against an
 * independent BigInt implementation), the same seed gives the same numbers and other seeds other
 * numbers, a saved state resumes the exact stream, the distributions have the right moments, and
 * every function taking a seed rejects the same bad values with its own name.
 *
 * The statistical checks draw from fixed seeds (they cannot flake) with bounds of 5 standard
 * errors: a generator with the wrong mean, scale or range fails them by far more.
 */
import { describe, expect, it } from "vitest";
import { Rng, createModel, addLora, addPrefix, generateAll, DataLoader, packSequences, splitRows, train, CtxwinError } from "../../dist/index.js";
import { checkSeed, mixSeed } from "../../dist/util/rng.js";
import { runStudy, silentProgress } from "../../dist/study/index.js";

const M32 = (1n << 32n) - 1n;
/** sfc32 as published (PractRand's sfc32), in BigInt arithmetic: shares nothing with lib/util/rng.ts. */
function sfc32Reference(state: readonly number[], n: number): number[] {
  let [a, b, c, d] = state.map((x) => BigInt(x));
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = (a! + b! + d!) & M32;
    d = (d! + 1n) & M32;
    a = b! ^ (b! >> 9n);
    b = (c! + (c! << 3n)) & M32;
    c = ((c! << 21n) | (c! >> 11n)) & M32;
    c = (c + t) & M32;
    out.push(Number(t));
  }
  return out;
}

const moments = (xs: ArrayLike<number>) => {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < xs.length; i++) {
    s += xs[i]!;
    s2 += xs[i]! * xs[i]!;
  }
  const mean = s / xs.length;
  return { mean, variance: s2 / xs.length - mean * mean };
};

describe("Rng: the stream", () => {
  it("is sfc32 from the seeded state (independent BigInt implementation)", () => {
    for (const seed of [0, 1, 42, 2 ** 40 + 3]) {
      const r = new Rng(seed);
      const expected = sfc32Reference(r.state(), 1000);
      expect(Array.from({ length: 1000 }, () => r.nextU32())).toEqual(expected);
    }
    // from an arbitrary state too (all words large: the additions wrap)
    const s = [0xffffffff, 0xdeadbeef, 0x80000000, 0xfffffffe];
    const r = Rng.fromState(s);
    expect(Array.from({ length: 300 }, () => r.nextU32())).toEqual(sfc32Reference(s, 300));
  });

  it("next() is nextU32 / 2^32 and uniform(lo, hi) scales it", () => {
    const a = new Rng(3);
    const b = new Rng(3);
    for (let i = 0; i < 100; i++) expect(a.next()).toBe(b.nextU32() / 2 ** 32);
    const u = a.uniform(-2, 6);
    expect(u).toBe(-2 + 8 * (b.nextU32() / 2 ** 32));
    expect(a.uniform(5, 5)).toBe(5);
  });

  it("normals are Box–Muller of consecutive words: normal() the cosine of one pair, normals(n) both values", () => {
    const words = sfc32Reference(new Rng(11).state(), 8);
    const pair = (k: number) => {
      const r = Math.sqrt(-2 * Math.log((words[2 * k]! + 1) / 2 ** 32));
      const theta = (2 * Math.PI * words[2 * k + 1]!) / 2 ** 32;
      return [r * Math.cos(theta), r * Math.sin(theta)];
    };
    const one = new Rng(11);
    expect(one.normal()).toBe(pair(0)[0]);
    expect(one.normal()).toBe(pair(1)[0]);
    const [z0, z1] = pair(0);
    const [z2] = pair(1);
    // odd n: the last value is a normal() of its own pair
    expect(Array.from(new Rng(11).normals(3, 0.5))).toEqual([z0! * 0.5, z1! * 0.5, z2! * 0.5].map(Math.fround));
  });

  it("the same seed gives the same numbers; different seeds (nearby or far) give different ones", () => {
    const draw = (seed: number) => {
      const r = new Rng(seed);
      return [r.nextU32(), r.int(1000), r.next(), ...r.normals(4), r.normal(), ...r.permutation(8)];
    };
    expect(draw(7)).toEqual(draw(7));
    const firsts = new Set<number>();
    const seeds = [...Array.from({ length: 200 }, (_, i) => i), 2 ** 32, 2 ** 32 + 1, 2 ** 53 - 1];
    for (const s of seeds) firsts.add(new Rng(s).nextU32());
    // 203 draws of 32 bits: a collision has probability ~5e-6
    expect(firsts.size).toBe(seeds.length);
    // the high bits count: 2^32 is not seed 0 (a 32-bit truncation would make them equal)
    expect(draw(2 ** 32)).not.toEqual(draw(0));
  });

  it("a saved state resumes the exact stream (mid normals, after ints and shuffles), also through JSON", () => {
    const r = new Rng(123);
    r.normals(5);
    r.int(17);
    r.permutation(9);
    r.normal();
    const saved = JSON.parse(JSON.stringify(r.state()));
    const rest = () => [r.nextU32(), r.normal(), ...r.normals(3), r.int(10), r.uniform(1, 2)];
    const expected = rest();
    const fresh = Rng.fromState(saved);
    expect([fresh.nextU32(), fresh.normal(), ...fresh.normals(3), fresh.int(10), fresh.uniform(1, 2)]).toEqual(expected);
    const other = new Rng(9);
    other.setState(saved);
    expect(other.state()).toEqual(saved);
    expect(other.nextU32()).toBe(expected[0]);
    // state() is a copy: drawing does not change a state taken before
    const before = r.state();
    r.nextU32();
    expect(r.state()).not.toEqual(before);
  });

  it("mixSeed: order and every part matter, and parts above 2^32 are not truncated", () => {
    expect(mixSeed(1, 2)).not.toBe(mixSeed(2, 1));
    expect(mixSeed(5, 0)).not.toBe(mixSeed(5));
    expect(mixSeed(2 ** 32)).not.toBe(mixSeed(0));
    expect(mixSeed(3, 4)).toBe(mixSeed(3, 4));
  });
});

describe("Rng: distributions (n = 200 000, bounds at 5 standard errors)", () => {
  const n = 200_000;
  it("next() is uniform in [0, 1): mean 1/2, variance 1/12, every decile filled evenly", () => {
    const r = new Rng(1);
    const xs = new Float64Array(n);
    const deciles = new Array(10).fill(0);
    let outside = 0;
    for (let i = 0; i < n; i++) {
      const x = r.next();
      if (!(x >= 0 && x < 1)) outside++;
      xs[i] = x;
      deciles[Math.floor(x * 10)]++;
    }
    expect(outside).toBe(0);
    const m = moments(xs);
    expect(Math.abs(m.mean - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n));
    // Var((U − ½)²) = 1/80 − 1/144
    expect(Math.abs(m.variance - 1 / 12)).toBeLessThan(5 * Math.sqrt((1 / 80 - 1 / 144) / n));
    for (const c of deciles) expect(Math.abs(c - n / 10)).toBeLessThan(5 * Math.sqrt(n * 0.1 * 0.9));
  });

  it("uniform(lo, hi) stays in [lo, hi) with mean (lo + hi) / 2", () => {
    const r = new Rng(2);
    let s = 0;
    let outside = 0;
    for (let i = 0; i < n; i++) {
      const x = r.uniform(-3, 5);
      if (!(x >= -3 && x < 5)) outside++;
      s += x;
    }
    expect(outside).toBe(0);
    expect(Math.abs(s / n - 1)).toBeLessThan(5 * (8 / Math.sqrt(12 * n)));
  });

  it("normals(n, std): mean 0, standard deviation std, 5% beyond ±1.96·std, the two values of a pair uncorrelated", () => {
    const std = 0.02;
    const z = new Rng(3).normals(n, std);
    const m = moments(z);
    expect(Math.abs(m.mean)).toBeLessThan(5 * (std / Math.sqrt(n)));
    // Var(s²) = 2σ⁴ / n for a normal sample
    expect(Math.abs(m.variance - std * std)).toBeLessThan(5 * Math.sqrt(2 / n) * std * std);
    let tails = 0;
    let cross = 0;
    for (let i = 0; i < n; i++) if (Math.abs(z[i]!) > 1.96 * std) tails++;
    for (let i = 0; i < n; i += 2) cross += (z[i]! / std) * (z[i + 1]! / std);
    expect(Math.abs(tails / n - 0.05)).toBeLessThan(5 * Math.sqrt((0.05 * 0.95) / n));
    expect(Math.abs(cross / (n / 2))).toBeLessThan(5 / Math.sqrt(n / 2));
  });

  it("normal(): mean 0, variance 1, a symmetric and finite distribution", () => {
    const r = new Rng(4);
    const z = Float64Array.from({ length: n }, () => r.normal());
    const m = moments(z);
    expect(Math.abs(m.mean)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(m.variance - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
    expect(z.every(Number.isFinite)).toBe(true);
    const positive = z.filter((x) => x > 0).length;
    expect(Math.abs(positive - n / 2)).toBeLessThan(5 * Math.sqrt(n / 4));
  });

  it("int(n) stays in [0, n), hits every value evenly, and works at the ends (n = 1, n = 2^32)", () => {
    const r = new Rng(5);
    for (const k of [1, 2, 3, 7, 10, 1000]) {
      const counts = new Array(k).fill(0);
      const draws = k * 2000;
      let outside = 0;
      for (let i = 0; i < draws; i++) {
        const x = r.int(k);
        if (Number.isInteger(x) && x >= 0 && x < k) counts[x]++;
        else outside++;
      }
      expect(outside).toBe(0);
      const p = 1 / k;
      for (const c of counts) expect(Math.abs(c - draws * p)).toBeLessThanOrEqual(5 * Math.sqrt(draws * p * (1 - p)));
    }
    // n = 3·2^30: rejection sampling keeps the lower two thirds of [0, 2^32) from being favoured
    const big = 3 * 2 ** 30;
    let low = 0;
    for (let i = 0; i < 30_000; i++) if (r.int(big) < 2 ** 31) low++;
    expect(Math.abs(low / 30_000 - 2 / 3)).toBeLessThan(5 * Math.sqrt((2 / 9) / 30_000));
    const all = new Rng(6);
    const top = Array.from({ length: 1000 }, () => all.int(2 ** 32));
    expect(top.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32)).toBe(true);
  });

  it("permutation(n) and shuffle: every element once; each position takes each value evenly", () => {
    const r = new Rng(8);
    const k = 5;
    const seen = Array.from({ length: k }, () => new Array(k).fill(0));
    const trials = 20_000;
    let invalid = 0;
    for (let t = 0; t < trials; t++) {
      const p = r.permutation(k);
      if (new Set(p).size !== k || p.some((v) => v >= k)) invalid++;
      p.forEach((v, i) => seen[i]![v]!++);
    }
    expect(invalid).toBe(0);
    for (const row of seen) for (const c of row) expect(Math.abs(c - trials / k)).toBeLessThan(5 * Math.sqrt(trials * (1 / k) * (1 - 1 / k)));
    const a = ["a", "b", "c", "d"];
    expect(r.shuffle(a)).toBe(a);
    expect([...a].sort()).toEqual(["a", "b", "c", "d"]);
    expect(r.permutation(0).length).toBe(0);
  });
});

describe("Rng: bad arguments", () => {
  it("names the method and the argument", () => {
    for (const seed of [-1, 1.5, NaN, Infinity, 2 ** 53, "3", null]) {
      expect(() => new Rng(seed as number)).toThrow(/^Rng: seed: expected an integer in \[0, 2\^53 − 1\], got /);
    }
    const r = new Rng();
    for (const n of [0, -3, 2.5, 2 ** 32 + 1, NaN]) expect(() => r.int(n)).toThrow(/^Rng\.int: n: expected an integer in \[1, 2\^32\]/);
    expect(() => r.uniform(1, 0)).toThrow(/^Rng\.uniform: lo, hi: expected finite numbers with lo <= hi, got 1, 0$/);
    expect(() => r.uniform(NaN, 1)).toThrow(/Rng\.uniform/);
    expect(() => r.uniform(0, Infinity)).toThrow(/Rng\.uniform/);
    expect(() => r.normals(-1)).toThrow(/^Rng\.normals: n: expected a non-negative integer, got -1$/);
    expect(() => r.normals(2, -0.1)).toThrow(/^Rng\.normals: std: expected a finite number >= 0, got -0\.1$/);
    expect(() => r.permutation(1.5)).toThrow(/^Rng\.permutation: n/);
    for (const s of [[1, 2, 3], [1, 2, 3, -4], [1, 2, 3, 2 ** 32], [1, 2, 3, 0.5], "abcd"]) {
      expect(() => r.setState(s as number[])).toThrow(/^Rng\.setState: state: expected 4 unsigned 32-bit integers/);
      expect(() => Rng.fromState(s as number[])).toThrow(CtxwinError);
    }
  });

  it("every function taking a seed rejects the same values, naming itself (checkSeed)", async () => {
    expect(checkSeed("f", 0)).toBe(0);
    expect(checkSeed("f", 2 ** 53 - 1)).toBe(2 ** 53 - 1);
    expect(() => checkSeed("f", -2, "opts.seed")).toThrow(/^f: opts\.seed: expected an integer in \[0, 2\^53 − 1\], got -2$/);
    const cfg = { vocabSize: 16, hiddenSize: 8, numLayers: 1, numHeads: 2 };
    expect(() => createModel(cfg, { seed: -1 })).toThrow(/^createModel: opts\.seed: expected an integer in \[0, 2\^53 − 1\], got -1$/);
    const model = createModel(cfg, { seed: 1 });
    try {
      expect(() => addPrefix(model, { numVirtualTokens: 2, seed: 0.5 })).toThrow(/^addPrefix: seed: expected an integer/);
      expect(() => addLora(model, { r: 2, targetModules: ["q_proj"], seed: -1 })).toThrow(/^addLora: seed: expected an integer/);
      await expect(generateAll(model, [1, 2], { maxNewTokens: 1, temperature: 1, seed: -1 })).rejects.toThrow(/^generate: seed: expected an integer/);
      const rows = packSequences([Array.from({ length: 40 }, (_, i) => i % 16)], { seqLen: 4 });
      expect(() => new DataLoader(rows, { batchSize: 2, seed: 2 ** 53 })).toThrow(/^DataLoader: seed: expected an integer/);
      expect(() => splitRows(rows, { valCount: 1, seed: -3 })).toThrow(/^splitRows: seed: expected an integer/);
      await expect(train(model, { data: rows, steps: 1, batchSize: 2, lr: 1e-3, seed: 1.5 })).rejects.toThrow(/^train: seed: expected an integer/);
      // the study derives seed + 1 … seed + 4, so its own bound is 4 lower
      await expect(runStudy({ preset: "micro", seed: 2 ** 53 - 4, progress: silentProgress })).rejects.toThrow(/^study: --seed: expected an integer in \[0, 2\^53 − 5\], got 9007199254740988$/);
    } finally {
      model.dispose();
    }
  });
});
