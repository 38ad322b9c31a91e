/**
 * adamw against a float64 transcription of torch.optim.AdamW (decoupled weight decay, bias
 * correction) over several steps, with gradient clipping from a globalNorm tensor (no host round
 * trip), gradScale, and bf16 parameters.
 */
import { describe, expect, it } from "vitest";
import { adamw, globalNorm } from "../../dist/ops/index.js";
import { announceSeed } from "../helpers.js";
import { close, randn, rngFor, rounded, SEED, T, throwsWith, vals } from "./util.js";

announceSeed("ops.optim", SEED);

interface Hyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  maxNorm: number;
  gradScale: number;
}

/** torch.optim.AdamW's step (single tensor, foreach=False), with clip_grad_norm_ beforehand. */
function refStep(p: Float64Array, g: ArrayLike<number>, m: Float64Array, v: Float64Array, h: Hyper, step: number, norm: number) {
  const clip = h.maxNorm > 0 ? Math.min(1, h.maxNorm / (norm * Math.abs(h.gradScale) + 1e-6)) : 1;
  const bc1 = 1 - h.beta1 ** step, bc2 = 1 - h.beta2 ** step;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i]! * h.gradScale * clip;
    p[i] = p[i]! * (1 - h.lr * h.weightDecay);
    m[i] = h.beta1 * m[i]! + (1 - h.beta1) * gi;
    v[i] = h.beta2 * v[i]! + (1 - h.beta2) * gi * gi;
    const denom = Math.sqrt(v[i]!) / Math.sqrt(bc2) + h.eps;
    p[i] = p[i]! - (h.lr / bc1) * (m[i]! / denom);
  }
}

describe("adamw vs PyTorch AdamW semantics", () => {
  const cases: [string, Hyper][] = [
    ["plain", { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxNorm: 0, gradScale: 1 }],
    ["weight decay", { lr: 3e-3, beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.1, maxNorm: 0, gradScale: 1 }],
    ["clipping + gradScale", { lr: 1e-2, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.01, maxNorm: 0.5, gradScale: 0.25 }],
  ];
  for (const [name, h] of cases) {
    it(`${name}: 6 steps on two tensors (37x53 and 20000)`, async () => {
      const rng = rngFor(`adamw ${name}`);
      const shapes = [[37, 53], [20000]];
      const ns = shapes.map((s) => s.reduce((p, d) => p * d, 1));
      const p64 = ns.map((n) => Float64Array.from(randn(rng, n)));
      const m64 = ns.map((n) => new Float64Array(n)), v64 = ns.map((n) => new Float64Array(n));
      const params = shapes.map((s, i) => T(Float32Array.from(p64[i]!), s));
      const ms = shapes.map((s, i) => T(new Float32Array(ns[i]!), s)), vs = shapes.map((s, i) => T(new Float32Array(ns[i]!), s));
      for (let step = 1; step <= 6; step++) {
        const grads = ns.map((n) => randn(rng, n, 3));
        const gt = grads.map((g, i) => T(g, shapes[i]!));
        const norm = globalNorm(gt);
        const normValue = Math.sqrt(grads.reduce((s, g) => s + g.reduce((q, x) => q + x * x, 0), 0));
        for (let i = 0; i < params.length; i++) {
          adamw(params[i]!, gt[i]!, ms[i]!, vs[i]!, { ...h, step, norm: h.maxNorm > 0 ? norm : null });
          refStep(p64[i]!, grads[i]!, m64[i]!, v64[i]!, h, step, normValue);
        }
      }
      for (let i = 0; i < params.length; i++) {
        close(await vals(params[i]!), p64[i]!, 1e-5, `param ${i}`);
        close(await vals(ms[i]!), m64[i]!, 1e-5, `m ${i}`);
        close(await vals(vs[i]!), v64[i]!, 1e-5, `v ${i}`);
      }
    });
  }

  it("clipping really engages (large gradients move params by ~lr, not more)", async () => {
    const rng = rngFor("adamw clip");
    const g = randn(rng, 100, 1000);
    const p = T(new Float32Array(100), [100]), m = T(new Float32Array(100), [100]), v = T(new Float32Array(100), [100]);
    const gt = T(g, [100]);
    adamw(p, gt, m, v, { lr: 0.1, step: 1, weightDecay: 0, maxNorm: 1, norm: globalNorm([gt]) });
    const normG = Math.sqrt(g.reduce((s, x) => s + x * x, 0));
    const mv = await vals(m);
    close(mv, Array.from(g, (x) => 0.1 * x * (1 / (normG + 1e-6))), 1e-5, "m after clipping");
  });

  it("bf16 params update in f32 and round back", async () => {
    const rng = rngFor("adamw bf16");
    const h: Hyper = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxNorm: 0, gradScale: 1 };
    const n = 1000;
    const p0 = rounded(randn(rng, n), "bf16");
    const p = T(p0, [n], "bf16"), m = T(new Float32Array(n), [n]), v = T(new Float32Array(n), [n]);
    const p64 = Float64Array.from(p0), m64 = new Float64Array(n), v64 = new Float64Array(n);
    for (let step = 1; step <= 3; step++) {
      const g = randn(rng, n);
      adamw(p, T(g, [n], "bf16"), m, v, { ...h, step });
      refStep(p64, rounded(g, "bf16"), m64, v64, h, step, 0);
      // the reference parameter is stored in bf16 too
      p64.set(rounded(Float32Array.from(p64), "bf16"));
    }
    expect(p.dtype).toBe("bf16");
    close(await vals(p), p64, 1e-2, "bf16 param");
    close(await vals(m), m64, 1e-5, "m");
  });

  it("errors", () => {
    const p = T(new Float32Array(4), [4]);
    throwsWith(() => adamw(p, p, p, T(new Float32Array(4), [4], "bf16"), { lr: 1, step: 1 }), "ERR_DTYPE", 'adamw: v: expected dtype "f32", got "bf16"');
    throwsWith(() => adamw(p, T(new Float32Array(3), [3]), p, p, { lr: 1, step: 1 }), "ERR_SHAPE", "adamw: grad: expected the shape of param [4], got [3]");
    throwsWith(() => adamw(p, p, p, p, { lr: 1, step: 0 }), "ERR_ARG", "adamw: step: expected an integer in [1,");
    throwsWith(() => adamw(p, p, p, p, { lr: 1, step: 1, beta1: 1 }), "ERR_ARG", "adamw: beta1: expected a number in [0, 1)");
    throwsWith(() => adamw(p, p, p, p, { lr: 1, step: 1, norm: p }), "ERR_SHAPE", "adamw: norm: expected a tensor of 1 element");
  });
});
