/**
 * attention() forward in f32 against the float64 reference (test/reference/attention_ref.ts),
 * relative error ‖out − ref‖/‖ref‖ < 1e-5, for every positional scheme and combination of
 * test/reference/cases.ts. Inputs are fresh random normals each run (seed printed; replay with
 * CTXWIN_TEST_SEED).
 */
import { describe, expect, it } from "vitest";
import { attention, synchronize } from "ctxwin";
import { attentionRef } from "./reference/attention_ref.js";
import { CASES, caseInputs, caseSeed, kShape, qShape } from "./reference/cases.js";
import { Rng, suiteSeed } from "./reference/rng.js";
import { allFinite, relErr } from "./reference/util.js";
import { announceSeed, report, tensors } from "./helpers.js";

const SEED = suiteSeed();
announceSeed("attention.forward", SEED);

const TOL = 1e-5;

describe("attention forward (f32) vs float64 reference", () => {
  for (const cs of CASES) {
    it(`${cs.name}  [B=${cs.B} Tq=${cs.Tq} Tk=${cs.Tk} Hq=${cs.Hq} Hkv=${cs.Hkv} D=${cs.D}]`, async () => {
      const rng = new Rng(caseSeed(SEED, cs.name));
      const x = caseInputs(cs, rng);
      const t = tensors(cs, x);
      try {
        const out = attention(t.q, t.k, t.v, cs.opts);
        expect(out.shape).toEqual(qShape(cs));
        expect(out.dtype).toBe("f32");
        expect(out.device).toBe(t.q.device); // the inputs' device (CUDA under CTXWIN_TEST_DEVICE=cuda)
        const got = await out.data();
        out.dispose();
        const want = attentionRef({ q: x.q, k: x.k, v: x.v, qShape: qShape(cs), kShape: kShape(cs) }, cs.opts);
        expect(allFinite(got), `non-finite output (replay with CTXWIN_TEST_SEED=${SEED})`).toBe(true);
        expect(relErr(got, want), report(SEED, cs.name, got, want)).toBeLessThan(TOL);
      } finally {
        t.dispose();
      }
    });
  }
});

describe("attention forward: option semantics", () => {
  const cs = { name: "sem", B: 1, Tq: 24, Tk: 24, Hq: 4, Hkv: 4, D: 16, opts: {} };
  const rng = new Rng(caseSeed(SEED, "semantics"));
  const x = caseInputs(cs, rng);

  it("defaults equal the explicit defaults (causal, 1/sqrt(D), queryOffset Tk−Tq, none, theta 10000, rotaryDim D)", async () => {
    const t = tensors(cs, x);
    const a = await attention(t.q, t.k, t.v).data();
    const b = await attention(t.q, t.k, t.v, { causal: true, softmaxScale: 1 / Math.sqrt(16), queryOffset: 0, positional: { type: "none" } }).data();
    expect(relErr(a, b)).toBeLessThan(1e-7);
    const c = await attention(t.q, t.k, t.v, { positional: { type: "rope" } }).data();
    const d = await attention(t.q, t.k, t.v, { positional: { type: "rope", theta: 10000, rotaryDim: 16 } }).data();
    expect(relErr(c, d)).toBeLessThan(1e-7);
    t.dispose();
  });

  it("ALiBi-PI at or below trainLength equals plain ALiBi; above it differs", async () => {
    const t = tensors(cs, x);
    const plain = await attention(t.q, t.k, t.v, { positional: { type: "alibi" } }).data();
    const below = await attention(t.q, t.k, t.v, { positional: { type: "alibi", trainLength: 24 } }).data();
    const above = await attention(t.q, t.k, t.v, { positional: { type: "alibi", trainLength: 8 } }).data();
    expect(relErr(below, plain)).toBeLessThan(1e-7);
    expect(relErr(above, plain)).toBeGreaterThan(1e-3);
    t.dispose();
  });

  it("dynamic NTK at or below L0 equals plain rope", async () => {
    const t = tensors(cs, x);
    const plain = await attention(t.q, t.k, t.v, { positional: { type: "rope" } }).data();
    const dyn = await attention(t.q, t.k, t.v, { positional: { type: "rope", scaling: { type: "dynamic", factor: 8, originalMaxPositions: 24 } } }).data();
    expect(relErr(dyn, plain)).toBeLessThan(1e-7);
    t.dispose();
  });

  it("the ALiBi bias is not multiplied by softmaxScale", async () => {
    // with q = 0 the scores are the bias alone, whatever the scale
    const t = tensors(cs, { ...x, q: new Float32Array(x.q.length) });
    const a = await attention(t.q, t.k, t.v, { positional: { type: "alibi" }, softmaxScale: 0.01 }).data();
    const b = await attention(t.q, t.k, t.v, { positional: { type: "alibi" }, softmaxScale: 100 }).data();
    expect(relErr(a, b)).toBeLessThan(1e-7);
    t.dispose();
  });

  it("many calls queued before any read give the same values as one at a time", async () => {
    const t = tensors(cs, x);
    const outs = Array.from({ length: 8 }, (_, i) => attention(t.q, t.k, t.v, { window: 1 + i * 3, positional: { type: "alibi" } }));
    const vals = await Promise.all(outs.map((o) => o.data()));
    await synchronize();
    for (let i = 0; i < 8; i++) {
      const want = attentionRef({ q: x.q, k: x.k, v: x.v, qShape: qShape(cs), kShape: kShape(cs) }, { window: 1 + i * 3, positional: { type: "alibi" } });
      expect(relErr(vals[i], want), `window ${1 + i * 3} (replay with CTXWIN_TEST_SEED=${SEED})`).toBeLessThan(TOL);
      outs[i].dispose();
    }
    t.dispose();
  });
});
