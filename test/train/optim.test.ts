/**
 * The AdamW optimizer (lib/train/optim.ts, on the fused native op) against a float64 transcription
 * of torch.optim.AdamW preceded by torch.nn.utils.clip_grad_norm_, over several steps of a tiny
 * parameter set: weight decay on matrices only, global-norm clipping, gradScale (accumulation), a
 * parameter without a gradient in one step (skipped, its step count not advanced — as PyTorch),
 * bf16 weights with f32 master copies, and a state save/restore that continues identically.
 */
import { describe, expect, it } from "vitest";
import { Tensor, Parameter } from "../../dist/index.js";
import { AdamW, defaultDecay } from "../../dist/train/index.js";

class R {
  s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  u(): number {
    this.s = (Math.imul(this.s, 1664525) + 1013904223) >>> 0;
    return this.s / 4294967296;
  }
  n(k: number, std = 1): Float32Array {
    return Float32Array.from({ length: k }, () => (this.u() * 2 - 1) * std * 1.7);
  }
}

interface RefParam {
  name: string;
  p: Float64Array;
  m: Float64Array;
  v: Float64Array;
  step: number;
  decay: boolean;
}

const H = { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };

/** clip_grad_norm_(params, maxNorm) on g·gradScale, then AdamW.step() for params with a grad. */
function refStep(ps: RefParam[], grads: (Float32Array | null)[], lr: number, maxNorm: number, gradScale: number): number {
  let sq = 0;
  grads.forEach((g) => g?.forEach((x) => (sq += (x * gradScale) ** 2)));
  const norm = Math.sqrt(sq);
  const clip = maxNorm > 0 ? Math.min(1, maxNorm / (norm + 1e-6)) : 1;
  ps.forEach((r, k) => {
    const g = grads[k];
    if (!g) return;
    r.step++;
    const wd = r.decay ? H.weightDecay : 0;
    const bc1 = 1 - H.beta1 ** r.step;
    const bc2 = 1 - H.beta2 ** r.step;
    for (let i = 0; i < r.p.length; i++) {
      const gi = g[i]! * gradScale * clip;
      r.p[i] = r.p[i]! * (1 - lr * wd);
      r.m[i] = H.beta1 * r.m[i]! + (1 - H.beta1) * gi;
      r.v[i] = H.beta2 * r.v[i]! + (1 - H.beta2) * gi * gi;
      r.p[i] = r.p[i]! - (lr / bc1) * (r.m[i]! / (Math.sqrt(r.v[i]!) / Math.sqrt(bc2) + H.eps));
    }
  });
  return norm;
}

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

function setup(seed: number, dtype: "f32" | "bf16" = "f32") {
  const rng = new R(seed);
  const shapes: [string, number[]][] = [
    ["layer.proj.weight", [3, 4]],
    ["layer.proj.bias", [3]],
    ["layer.input_layernorm.weight", [4]],
    ["embed.weight", [5, 2]],
  ];
  const params: [string, InstanceType<typeof Parameter>][] = [];
  const refs: RefParam[] = [];
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = rng.n(n, 0.5);
    const t = Tensor.from(data, shape, { dtype });
    const p = new Parameter(t, name);
    if (dtype !== "f32") p.master = Tensor.from(data, shape);
    params.push([name, p]);
    refs.push({ name, p: Float64Array.from(data), m: new Float64Array(n), v: new Float64Array(n), step: 0, decay: defaultDecay(name, p) });
  }
  return { rng, params, refs };
}

describe("AdamW (fused op) vs float64 torch.optim.AdamW", () => {
  it("decays matrices only by default", () => {
    const { params } = setup(1);
    expect(params.map(([n, p]) => defaultDecay(n, p))).toEqual([true, false, false, true]);
  });

  it("matches over 6 steps with clipping, gradScale and a skipped parameter", async () => {
    const { rng, params, refs } = setup(2);
    const opt = new AdamW(params, { ...H, maxNorm: 0.5 });
    for (let step = 1; step <= 6; step++) {
      const lr = H.lr * (1 - step / 10);
      const gradScale = step % 2 ? 1 : 0.5;
      const grads = refs.map((r, k) => (step === 3 && k === 1 ? null : rng.n(r.p.length, 1)));
      params.forEach(([, p], k) => {
        p.zeroGrad();
        const g = grads[k];
        if (g) p.grad = Tensor.from(g, [...p.value.shape]);
      });
      const wantNorm = refStep(refs, grads, lr, 0.5, gradScale);
      const norm = opt.step({ lr, gradScale })!;
      const gotNorm = (await norm.data())[0]!;
      norm.dispose();
      expect(gotNorm * gradScale).toBeCloseTo(wantNorm, 5);
      for (let k = 0; k < params.length; k++) {
        const got = await params[k]![1].value.data();
        expect(relErr(got, refs[k]!.p), `${refs[k]!.name} at step ${step}`).toBeLessThan(2e-6);
      }
    }
    expect(opt.entries.map((e) => e.step)).toEqual([6, 5, 6, 6]);
    expect(opt.steps).toBe(6);
    const st = await opt.state();
    expect(relErr(st.params[0]!.m, refs[0]!.m)).toBeLessThan(2e-6);
    expect(relErr(st.params[0]!.v, refs[0]!.v)).toBeLessThan(2e-6);
    opt.dispose();
    for (const [, p] of params) p.dispose();
  });

  it("without clipping returns no norm unless asked", () => {
    const { params } = setup(3);
    const opt = new AdamW(params, { ...H });
    for (const [, p] of params) p.grad = Tensor.from(new Float32Array(p.value.shape.reduce((a, b) => a * b, 1)).fill(0.1), [...p.value.shape]);
    expect(opt.step()).toBeNull();
    const n = opt.step({ norm: true });
    expect(n).not.toBeNull();
    n!.dispose();
    opt.dispose();
  });

  it("bf16 weights: updates the f32 master and rounds it into the value", async () => {
    const { rng, params, refs } = setup(4, "bf16");
    const opt = new AdamW(params, { ...H, maxNorm: 1 });
    for (let step = 1; step <= 3; step++) {
      const grads = refs.map((r) => rng.n(r.p.length, 1));
      params.forEach(([, p], k) => {
        p.zeroGrad();
        p.grad = Tensor.from(grads[k]!, [...p.value.shape]);
      });
      refStep(refs, grads, H.lr, 1, 1);
      opt.step()?.dispose();
    }
    for (let k = 0; k < params.length; k++) {
      const [, p] = params[k]!;
      const master = await p.master!.data();
      expect(relErr(master, refs[k]!.p)).toBeLessThan(2e-6);
      const value = await p.value.data();
      const roundedMaster = await Tensor.from(master, [master.length], { dtype: "bf16" }).data();
      expect(Array.from(value)).toEqual(Array.from(roundedMaster));
    }
    opt.dispose();
  });

  it("state() / loadState() continue bit for bit", async () => {
    const run = async (cut: number | null) => {
      const { params } = setup(5);
      const rng = new R(77);
      let opt = new AdamW(params, { ...H, maxNorm: 0.3 });
      for (let step = 1; step <= 6; step++) {
        if (cut !== null && step === cut + 1) {
          const s = await opt.state();
          opt.dispose();
          opt = new AdamW(params, { ...H, maxNorm: 0.3 });
          opt.loadState(s);
        }
        for (const [, p] of params) {
          p.zeroGrad();
          p.grad = Tensor.from(rng.n(p.value.shape.reduce((a, b) => a * b, 1)), [...p.value.shape]);
        }
        opt.step({ lr: 0.01 * step })?.dispose();
      }
      const out = await Promise.all(params.map(([, p]) => p.value.data()));
      opt.dispose();
      return out.map((a) => Array.from(a));
    };
    const straight = await run(null);
    expect(await run(3)).toEqual(straight);
    // saved before any update (moments not allocated yet: saved as zeros)
    expect(await run(0)).toEqual(straight);
  });

  it("rejects bad input clearly", () => {
    const { params } = setup(6);
    const opt = new AdamW(params);
    expect(() => opt.step()).toThrow(/expected gradients on the trainable parameters/);
    expect(() => new AdamW([])).toThrow(/at least one trainable parameter/);
    expect(() => new AdamW(params, { beta1: 1 })).toThrow(/beta1/);
    opt.dispose();
  });
});
