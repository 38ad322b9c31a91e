/**
 * The CUDA kernels added for encoders and adaptive prefix tuning, against the CPU backend (whose
 * kernels are checked against float64 references in test/ops): gelu_erf, tanh and their
 * backwards; gated_prefix_attention and its backward (per-token and pooled gates, a padding row);
 * the fused attention backward with an lse gradient (dLse). Needs a CUDA device: skips itself
 * otherwise. Written 2026-12-03 without a GPU: never run yet.
 */
import { describe, expect, it } from "vitest";
import { attentionBackward, attentionWithLse, ops, Tensor } from "ctxwin";
import { Rng, suiteSeed } from "../reference/rng.js";
import { cudaUnavailable } from "./cuda_available.js";

const SEED = suiteSeed();
const reason = cudaUnavailable();
const rng = new Rng(SEED + 404);
const randn = (n: number, std = 1) => Float32Array.from({ length: n }, () => std * rng.normal());
const both = (data: Float32Array, shape: number[]) => [Tensor.from(data, shape), Tensor.from(data, shape, { device: "cuda" })] as const;
async function maxDiff(a: Tensor, b: Tensor): Promise<number> {
  const [x, y] = await Promise.all([a.data(), b.data()]);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

describe.skipIf(reason !== null)("CUDA kernels for encoders and APT vs the CPU backend", () => {
  it("gelu_erf, tanh and their backwards", async () => {
    const n = 3 * 37 * 53;
    const [xc, xg] = both(randn(n, 2), [3, 37, 53]);
    const [dc, dg] = both(randn(n), [3, 37, 53]);
    expect(await maxDiff(ops.geluErf(xc), ops.geluErf(xg))).toBeLessThan(1e-5);
    expect(await maxDiff(ops.geluErfBackward(dc, xc), ops.geluErfBackward(dg, xg))).toBeLessThan(1e-5);
    expect(await maxDiff(ops.tanh(xc), ops.tanh(xg))).toBeLessThan(1e-6);
    expect(await maxDiff(ops.tanhBackward(dc, ops.tanh(xc)), ops.tanhBackward(dg, ops.tanh(xg)))).toBeLessThan(1e-5);
  });

  for (const pooled of [false, true]) {
    it(`gated prefix attention forward and backward (${pooled ? "pooled" : "per-token"} gate, GQA, a padding row)`, async () => {
      const [B, T, H, Hkv, D, P] = [2, 9, 4, 2, 32, 5];
      const Tg = pooled ? 1 : T;
      const mk = (shape: number[], std = 1) => both(randn(shape.reduce((a, b) => a * b, 1), std), shape);
      const q = mk([B, T, H, D]), k = mk([B, T, Hkv, D]), v = mk([B, T, Hkv, D]);
      const kp = mk([P, Hkv, D]), vp = mk([P, Hkv, D]), gate = mk([B, Tg, P], 1.5), lam = both(Float32Array.of(1.3), [1]);
      const dout = mk([B, T, H, D]);
      const opts = { causal: false, keyLengths: [T, T - 3], positional: { type: "none" as const } };
      const res = [0, 1].map((d) => {
        const real = attentionWithLse(q[d]!, k[d]!, v[d]!, opts);
        const x = { q: q[d]!, keys: kp[d]!, values: vp[d]!, gate: gate[d]!, lambda: lam[d]!, out: real.out, lse: real.lse };
        const merged = ops.gatedPrefixAttention(x, { softmaxScale: 1 / Math.sqrt(D) });
        const g = ops.gatedPrefixAttentionBackward(x, merged, dout[d]!, { softmaxScale: 1 / Math.sqrt(D) });
        const a = attentionBackward(q[d]!, k[d]!, v[d]!, g.dOut, opts, { out: real.out, lse: real.lse, dLse: g.dLse });
        return { out: merged.out, lse: merged.lse, ...g, dqReal: a.dq, dk: a.dk, dv: a.dv };
      });
      for (const key of ["out", "dq", "dKeys", "dValues", "dGate", "dLambda", "dOut", "dLse", "dqReal", "dk", "dv"] as const) {
        const [c, g] = [res[0]![key], res[1]![key]];
        const scale = Math.max(1, ...Array.from(await c.data(), Math.abs));
        expect((await maxDiff(c, g)) / scale, key).toBeLessThan(2e-4);
      }
    });
  }
});
