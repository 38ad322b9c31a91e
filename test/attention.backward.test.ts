/**
 * attentionBackward() in f32:
 *  1. dq, dk, dv against the float64 reference's analytic gradients (w.r.t. the raw q, k, v,
 *     through the rotation), relative error < 1e-4, for the case matrix of test/reference/cases.ts;
 *  2. against central finite differences of the NATIVE forward, projected on a random direction:
 *     ⟨grad, dir⟩ vs (f(x + h·dir) − f(x − h·dir)) / 2h with f = ⟨attention(q, k, v), W⟩ and
 *     dOut = W, relative tolerance 1e-2 (f32 forward) against max(|fd|, h·‖grad‖), one small
 *     case per scheme.
 */
import { describe, expect, it } from "vitest";
import { attention, attentionBackward, Tensor } from "ctxwin";
import { attentionBackwardRef, type RefOptions } from "./reference/attention_ref.js";
import { CASES, caseInputs, caseSeed, kShape, qShape, type AttnCase } from "./reference/cases.js";
import { Rng, suiteSeed } from "./reference/rng.js";
import { allFinite, dot, fmt, relErrFloor } from "./reference/util.js";
import { announceSeed, report, tensors } from "./helpers.js";

const SEED = suiteSeed();
announceSeed("attention.backward", SEED);

const TOL = 1e-4;

describe("attentionBackward (f32) vs float64 reference gradients", () => {
  for (const cs of CASES) {
    it(`${cs.name}  [B=${cs.B} Tq=${cs.Tq} Tk=${cs.Tk} Hq=${cs.Hq} Hkv=${cs.Hkv} D=${cs.D}]`, async () => {
      const rng = new Rng(caseSeed(SEED, cs.name) + 1);
      const x = caseInputs(cs, rng);
      const t = tensors(cs, x);
      try {
        const g = attentionBackward(t.q, t.k, t.v, t.dOut!, cs.opts);
        expect(g.dq.shape).toEqual(qShape(cs));
        expect(g.dk.shape).toEqual(kShape(cs));
        expect(g.dv.shape).toEqual(kShape(cs));
        for (const d of [g.dq, g.dk, g.dv]) expect(d.dtype).toBe("f32");
        const [dq, dk, dv] = await Promise.all([g.dq.data(), g.dk.data(), g.dv.data()]);
        g.dq.dispose();
        g.dk.dispose();
        g.dv.dispose();
        const want = attentionBackwardRef({ q: x.q, k: x.k, v: x.v, qShape: qShape(cs), kShape: kShape(cs) }, x.dOut, cs.opts);
        for (const [name, got, ref] of [
          ["dq", dq, want.dq],
          ["dk", dk, want.dk],
          ["dv", dv, want.dv],
        ] as const) {
          expect(allFinite(got), `${name} has non-finite values (replay with CTXWIN_TEST_SEED=${SEED})`).toBe(true);
          // rel err; where the exact gradient is ~0 (dq, dk with window 1) the error's RMS vs 0.1
          const err = relErrFloor(got, ref, 0.1);
          expect(err, `${report(SEED, `${cs.name} ${name}`, got, ref)}; floored rel err ${fmt(err)}`).toBeLessThan(TOL);
        }
      } finally {
        t.dispose();
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------

const yarn = (factor: number, L0: number, extra: Record<string, unknown> = {}): RefOptions["positional"] =>
  ({ type: "rope", scaling: { type: "yarn", factor, originalMaxPositions: L0, ...extra } }) as RefOptions["positional"];

function small(name: string, opts: RefOptions, over: Partial<AttnCase> = {}): AttnCase {
  return { name, B: 1, Tq: 12, Tk: 12, Hq: 2, Hkv: 2, D: 8, opts, ...over };
}

const FD_CASES: AttnCase[] = [
  small("none", {}),
  small("alibi", { positional: { type: "alibi" } }),
  small("alibi-PI above trainLength", { positional: { type: "alibi", trainLength: 5 } }, { Hq: 3, Hkv: 3 }),
  small("rope", { positional: { type: "rope", theta: 100 } }),
  small("rope linear", { positional: { type: "rope", scaling: { type: "linear", factor: 3 } } }),
  small("rope ntk", { positional: { type: "rope", theta: 200, scaling: { type: "ntk", factor: 4 } } }),
  small("rope dynamic above L0", { positional: { type: "rope", theta: 100, scaling: { type: "dynamic", factor: 2, originalMaxPositions: 6 } } }),
  small("yarn", { positional: yarn(4, 64) }, { D: 16 }),
  small("yarn truncate=false custom betas", { positional: yarn(8, 128, { truncate: false, betaFast: 20, betaSlow: 2 }) }, { D: 16 }),
  small("yarn attentionFactor", { positional: yarn(4, 64, { attentionFactor: 1.25 }) }, { D: 16 }),
  small("yarn mscale + mscaleAllDim", { positional: yarn(16, 64, { mscale: 1, mscaleAllDim: 0.4 }) }, { D: 16 }),
  small("partial rotary", { positional: { type: "rope", rotaryDim: 4, theta: 50 } }),
  small("window + alibi", { window: 4, positional: { type: "alibi" } }),
  small("decode Tq=1 rope", { positional: { type: "rope", theta: 100 } }, { Tq: 1 }),
  small("chunk Tq=5 queryOffset=4 rope", { queryOffset: 4, positional: { type: "rope", theta: 100 } }, { Tq: 5 }),
  small("bidirectional alibi + window", { causal: false, window: 5, positional: { type: "alibi" } }),
  small("GQA Hq=4 Hkv=1 rope", { positional: { type: "rope", theta: 100 } }, { Hq: 4, Hkv: 1 }),
  small("prefixKeys=3 + rope", { prefixKeys: 3, positional: { type: "rope", theta: 100 } }, { Tq: 9 }),
  small("softmaxScale 0.7, B=2", { softmaxScale: 0.7 }, { B: 2 }),
  small("keyLengths B=3 bidirectional alibi", { causal: false, keyLengths: [12, 7, 2], positional: { type: "alibi" } }, { B: 3 }),
  small("keyStarts B=2 (padding rows) rope", { keyStarts: [0, 5], positional: { type: "rope", theta: 100 } }, { B: 2 }),
];

describe("attentionBackward vs finite differences of the native forward (f32, projected)", () => {
  for (const cs of FD_CASES) {
    it(cs.name, async () => {
      const rng = new Rng(caseSeed(SEED, `fd ${cs.name}`));
      const x = caseInputs(cs, rng);
      const W = x.dOut; // f = <out, W>
      const t = tensors(cs, x);
      const g = attentionBackward(t.q, t.k, t.v, t.dOut!, cs.opts);
      const grads = { q: await g.dq.data(), k: await g.dk.data(), v: await g.dv.data() };
      g.dq.dispose();
      g.dk.dispose();
      g.dv.dispose();
      t.dispose();
      const f = async (inp: { q: Float32Array; k: Float32Array; v: Float32Array }): Promise<number> => {
        const q = Tensor.from(inp.q, qShape(cs));
        const k = Tensor.from(inp.k, kShape(cs));
        const v = Tensor.from(inp.v, kShape(cs));
        const out = attention(q, k, v, cs.opts);
        const vals = await out.data();
        for (const z of [q, k, v, out]) z.dispose();
        return dot(vals, W);
      };
      const h = 1e-2;
      for (const which of ["q", "k", "v"] as const) {
        const base = x[which];
        const dir = rng.normalF32(base.length);
        const plus = Float32Array.from(base, (b, i) => b + h * dir[i]);
        const minus = Float32Array.from(base, (b, i) => b - h * dir[i]);
        // the step actually taken in f32
        const step = Float64Array.from(plus, (p, i) => (p - minus[i]) / 2);
        const fp = await f({ ...x, [which]: plus });
        const fm = await f({ ...x, [which]: minus });
        const fd = (fp - fm) / 2; // derivative along `step`
        const an = dot(grads[which], step);
        // ⟨grad, step⟩ ~ h·‖grad‖·N(0, 1): judge the error against that scale too, so a direction
        // that happens to be nearly orthogonal to the gradient does not turn rounding into failure
        const rel = Math.abs(an - fd) / Math.max(Math.abs(fd), h * Math.sqrt(dot(grads[which], grads[which])));
        expect(rel, `d${which}: <grad, dir> ${fmt(an)} vs finite difference ${fmt(fd)} (replay with CTXWIN_TEST_SEED=${SEED})`).toBeLessThan(1e-2);
      }
    });
  }
});
