/**
 * Gated prefix attention (adaptive prefix tuning): F.gatedPrefixAttention = the fused attention
 * over the real tokens merged, through the log-sum-exp, with an exact attention over P gated
 * prefix keys (lib/ops/gated_prefix.ts, native/src/ops/gated_prefix.cpp).
 *
 * The float64 reference below does not merge anything: it builds, per query, ONE softmax over the
 * gated prefix keys and the visible real keys together and weighs the gated values, as the
 * method is defined. Forward against it; every gradient (q, k, v, prefix keys/values, gate logits,
 * λ) against central finite differences of that float64 reference. Options: GQA, causal and
 * bidirectional, right padding, a window, per-token and per-sequence (pooled) gates, odd sizes.
 */
import { describe, expect, it } from "vitest";
import { Tensor, ops } from "ctxwin";
import { F, leaf, Tape, constant } from "../../dist/nn/index.js";
import { Rng, suiteSeed } from "../reference/rng.js";
import { announceSeed } from "../helpers.js";

const SEED = suiteSeed();
announceSeed("gated_prefix", SEED);

interface Case {
  name: string;
  B: number;
  T: number;
  H: number;
  Hkv: number;
  D: number;
  P: number;
  pooled: boolean;
  causal: boolean;
  lengths?: number[];
  window?: number;
}

const CASES: Case[] = [
  { name: "bidirectional, per-token gate, GQA", B: 2, T: 5, H: 4, Hkv: 2, D: 5, P: 3, pooled: false, causal: false },
  { name: "causal, per-token gate", B: 1, T: 7, H: 2, Hkv: 2, D: 6, P: 2, pooled: false, causal: true },
  { name: "bidirectional, padding, pooled gate", B: 3, T: 6, H: 3, Hkv: 1, D: 4, P: 4, pooled: true, causal: false, lengths: [6, 2, 4] },
  { name: "causal, padding, per-token gate", B: 2, T: 5, H: 2, Hkv: 1, D: 7, P: 1, pooled: false, causal: true, lengths: [3, 5] },
  { name: "window 2, bidirectional, pooled gate", B: 1, T: 6, H: 2, Hkv: 2, D: 3, P: 5, pooled: true, causal: false, window: 2 },
];

type Arrays = { q: Float64Array; k: Float64Array; v: Float64Array; kp: Float64Array; vp: Float64Array; z: Float64Array; lam: Float64Array };
const NAMES = ["q", "k", "v", "kp", "vp", "z", "lam"] as const;

/** The float64 method: one softmax per query over gated prefix keys + visible real keys. Padding rows → 0. */
function reference(c: Case, x: Arrays): Float64Array {
  const { B, T, H, Hkv, D, P } = c;
  const G = H / Hkv;
  const scale = 1 / Math.sqrt(D);
  const out = new Float64Array(B * T * H * D);
  const sig = (u: number): number => 1 / (1 + Math.exp(-u));
  for (let b = 0; b < B; b++) {
    const len = c.lengths?.[b] ?? T;
    for (let t = 0; t < T; t++) {
      if (t >= len) continue;
      for (let h = 0; h < H; h++) {
        const hk = Math.floor(h / G);
        const qo = ((b * T + t) * H + h) * D;
        const scores: number[] = [];
        const vals: Float64Array[] = [];
        for (let p = 0; p < P; p++) {
          const cp = x.lam[0]! * sig(x.z[(b * (c.pooled ? 1 : T) + (c.pooled ? 0 : t)) * P + p]!);
          let d = 0;
          for (let i = 0; i < D; i++) d += x.q[qo + i]! * x.kp[(p * Hkv + hk) * D + i]!;
          scores.push(scale * cp * d);
          vals.push(Float64Array.from({ length: D }, (_, i) => cp * x.vp[(p * Hkv + hk) * D + i]!));
        }
        for (let j = 0; j < T; j++) {
          if (j >= len) continue;
          if (c.causal && j > t) continue;
          if (c.window && (c.causal ? t - j >= c.window : Math.abs(t - j) >= c.window)) continue;
          const ko = ((b * T + j) * Hkv + hk) * D;
          let d = 0;
          for (let i = 0; i < D; i++) d += x.q[qo + i]! * x.k[ko + i]!;
          scores.push(scale * d);
          vals.push(x.v.slice(ko, ko + D));
        }
        const m = Math.max(...scores);
        const w = scores.map((s) => Math.exp(s - m));
        const z = w.reduce((a, b2) => a + b2, 0);
        for (let n = 0; n < w.length; n++) for (let i = 0; i < D; i++) out[qo + i]! += (w[n]! / z) * vals[n]![i]!;
      }
    }
  }
  return out;
}

function shapes(c: Case): Record<(typeof NAMES)[number], number[]> {
  return {
    q: [c.B, c.T, c.H, c.D],
    k: [c.B, c.T, c.Hkv, c.D],
    v: [c.B, c.T, c.Hkv, c.D],
    kp: [c.P, c.Hkv, c.D],
    vp: [c.P, c.Hkv, c.D],
    z: [c.B, c.pooled ? 1 : c.T, c.P],
    lam: [1],
  };
}

function inputs(c: Case, rng: Rng): Arrays {
  const s = shapes(c);
  const arr = (n: number, std: number, mean = 0): Float64Array => Float64Array.from({ length: n }, () => mean + std * rng.normal());
  const size = (k: (typeof NAMES)[number]): number => s[k].reduce((a, b) => a * b, 1);
  // float32-representable values, so the float64 reference sees exactly what ctxwin sees
  const f32 = (a: Float64Array): Float64Array => Float64Array.from(Float32Array.from(a));
  return {
    q: f32(arr(size("q"), 1)),
    k: f32(arr(size("k"), 1)),
    v: f32(arr(size("v"), 1)),
    kp: f32(arr(size("kp"), 1.5)),
    vp: f32(arr(size("vp"), 1)),
    z: f32(arr(size("z"), 1.5)),
    lam: f32(Float64Array.of(0.7 + rng.uniform())),
  };
}

const opts = (c: Case) => ({ causal: c.causal, keyLengths: c.lengths, window: c.window, positional: { type: "none" as const } });

describe("gated prefix attention vs the float64 joint softmax", () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const rng = new Rng(SEED + c.B * 131 + c.T * 17 + c.P);
      const x = inputs(c, rng);
      const s = shapes(c);
      const R = Float64Array.from({ length: c.B * c.T * c.H * c.D }, () => rng.normal());
      const tape = new Tape();
      const ts = NAMES.map((n) => Tensor.from(Float32Array.from(x[n]), s[n]));
      const vars = ts.map((t) => leaf(t, { borrowed: true }));
      const [q, k, v, kp, vp, z, lam] = vars;
      const y = tape.run(() => F.gatedPrefixAttention(q!, k!, v!, kp!, vp!, z!, lam!, opts(c)));
      // forward
      const got = await y.value.data();
      const want = reference(c, x);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
      expect(worst, `forward max abs error (seed ${SEED})`).toBeLessThan(2e-5);
      // backward of L = Σ y ∘ R
      const rt = Tensor.from(Float32Array.from(R), y.shape);
      const loss = tape.run(() => {
        const rc = constant(rt);
        return F.sum(F.mul(y, rc));
      });
      tape.backward(loss);
      const L = (a: Arrays): number => {
        const o = reference(c, a);
        let sum = 0;
        for (let i = 0; i < o.length; i++) sum += o[i]! * R[i]!;
        return sum;
      };
      for (let n = 0; n < NAMES.length; n++) {
        const name = NAMES[n]!;
        const g = await vars[n]!.grad!.data();
        const fd = new Float64Array(g.length);
        const eps = 1e-6;
        for (let i = 0; i < g.length; i++) {
          const a = x[name][i]!;
          x[name][i] = a + eps;
          const lp = L(x);
          x[name][i] = a - eps;
          const lm = L(x);
          x[name][i] = a;
          fd[i] = (lp - lm) / (2 * eps);
        }
        const scale = Math.max(1, ...Array.from(fd, Math.abs));
        let err = 0;
        for (let i = 0; i < g.length; i++) err = Math.max(err, Math.abs(g[i]! - fd[i]!));
        expect(err / scale, `d${name}: max abs error / max(1, max |grad|) (seed ${SEED})`).toBeLessThan(2e-4);
      }
      rt.dispose();
      loss.release();
      y.release();
      for (const vr of vars) {
        vr.grad?.dispose();
        vr.release();
      }
      ts.forEach((t) => t.dispose());
    });
  }

  it("padding rows get exactly zero output and no gradient", async () => {
    const c = CASES[2]!;
    const x = inputs(c, new Rng(SEED + 5));
    const s = shapes(c);
    const ts = NAMES.map((n) => Tensor.from(Float32Array.from(x[n]), s[n]));
    const o = F.gatedPrefixAttention(...(ts.map((t) => constant(t)) as [never, never, never, never, never, never, never]), opts(c));
    const d = await o.value.data();
    const { T, H, D } = c;
    for (let t = c.lengths![1]!; t < T; t++) for (let i = 0; i < H * D; i++) expect(d[(1 * T + t) * H * D + i]).toBe(0);
    o.release();
    ts.forEach((t) => t.dispose());
  });

  it("bad inputs are clear errors naming the argument", () => {
    const t = (shape: number[]) => Tensor.from(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
    const base = { q: t([1, 2, 2, 4]), keys: t([3, 2, 4]), values: t([3, 2, 4]), gate: t([1, 2, 3]), lambda: t([1]), out: t([1, 2, 2, 4]), lse: t([1, 2, 2]) };
    expect(() => ops.gatedPrefixAttention({ ...base, gate: t([1, 2, 4]) }, { softmaxScale: 1 })).toThrow(/gatedPrefixAttention: gate: expected \[1, 2 or 1, 3\]/);
    expect(() => ops.gatedPrefixAttention({ ...base, keys: t([3, 3, 4]) }, { softmaxScale: 1 })).toThrow(/keys: expected/);
    expect(() => ops.gatedPrefixAttention({ ...base, lambda: t([2]) }, { softmaxScale: 1 })).toThrow(/lambda: expected shape \[1\]/);
    expect(() => ops.gatedPrefixAttention({ ...base, lse: t([1, 2, 3]) }, { softmaxScale: 1 })).toThrow(/lse: expected shape \[1, 2, 2\]/);
    expect(() => ops.gatedPrefixAttention(base, { softmaxScale: 0 })).toThrow(/softmaxScale: expected a finite number > 0/);
    expect(() => ops.gatedPrefixAttention({ ...base, q: t([1, 2, 2, 4]).to("bf16") }, { softmaxScale: 1 })).toThrow(/q: expected dtype "f32"/);
  });
});
