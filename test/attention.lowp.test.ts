/**
 * Half-precision tensors (bf16, f16): stored as such, computed in f32.
 *
 * Conversions: Tensor.from(..., {dtype}) and t.to(dtype) round to nearest, ties to even, with
 * subnormals, overflow to ±Infinity and NaN kept — checked against rounding computed in the test
 * (test/reference/util.ts, arithmetic, from IEEE 754).
 *
 * Attention: the f64 reference runs on the *rounded* inputs, so the only error left is the
 * kernel's own f32 arithmetic plus rounding of the result to the format. Tolerances (relative,
 * ‖got − ref‖/‖ref‖), justified by the unit roundoff u of each format:
 *   bf16: 8 significant bits, u = 2^−9 ≈ 2.0e−3; rounding the output alone gives ≈ u/√3 rms;
 *         tolerance 1e−2 ≈ 5u leaves room for a low-precision intermediate (e.g. the stored
 *         output re-read by the backward) but catches anything structurally wrong.
 *   f16:  11 significant bits, u = 2^−11 ≈ 4.9e−4; tolerance 2e−3 ≈ 4u.
 * The same tolerances apply to dq/dk/dv.
 */
import { describe, expect, it } from "vitest";
import { attention, attentionBackward, Tensor } from "ctxwin";
import { attentionBackwardRef, attentionRef } from "./reference/attention_ref.js";
import { CASES, caseInputs, caseSeed, kShape, qShape } from "./reference/cases.js";
import { Rng, suiteSeed } from "./reference/rng.js";
import { allFinite, bf16ViaBits, relErr, roundArray, roundBf16, roundF16 } from "./reference/util.js";
import { announceSeed, report, tensors, type DType } from "./helpers.js";

const SEED = suiteSeed();
announceSeed("attention.lowp", SEED);

const TOL: Record<"bf16" | "f16", number> = { bf16: 1e-2, f16: 2e-3 };

const LOWP_CASES = [
  "none causal",
  "alibi default slopes H=6 (not a power of two)",
  "alibi-PI Tk above trainLength",
  "rope default theta",
  "rope ntk factor 8",
  "rope dynamic Tk above L0",
  "yarn defaults (L0=2048, factor 4)",
  "yarn mscale + mscaleAllDim",
  "rope partial rotaryDim=16 of D=32",
  "window 6 + alibi",
  "decode Tq=1, yarn GQA",
  "chunk Tq=8 Tk=40 queryOffset=20, alibi",
  "bidirectional alibi + window 5",
  "GQA Hq=6 Hkv=2, rope",
  "odd T=37 D=40, yarn",
  "prefixKeys=5 + rope",
  "large T=300 D=64 yarn GQA",
  "pad: causal keyLengths B=3, rope",
  "pad: decode Tq=1 keyStarts (left padding), yarn GQA",
].map((name) => {
  const cs = CASES.find((c) => c.name === name);
  if (!cs) throw new Error(`no case named ${name}`);
  return cs;
});

/** Whether every value is exactly representable in dtype (i.e. the tensor really holds that format). */
function representable(a: Float32Array, dtype: "bf16" | "f16"): boolean {
  const r = roundArray(a, dtype);
  for (let i = 0; i < a.length; i++) if (!Object.is(r[i], a[i]) && !(Number.isNaN(r[i]) && Number.isNaN(a[i]))) return false;
  return true;
}

for (const dtype of ["bf16", "f16"] as const) {
  describe(`attention forward and backward in ${dtype} vs f64 reference on rounded inputs (rel < ${TOL[dtype]})`, () => {
    for (const cs of LOWP_CASES) {
      it(`${cs.name}`, async () => {
        const rng = new Rng(caseSeed(SEED, `${dtype} ${cs.name}`));
        const x = caseInputs(cs, rng);
        const r = { q: roundArray(x.q, dtype), k: roundArray(x.k, dtype), v: roundArray(x.v, dtype), dOut: roundArray(x.dOut, dtype) };
        const t = tensors(cs, x, dtype);
        try {
          for (const z of [t.q, t.k, t.v, t.dOut!]) expect(z.dtype).toBe(dtype);
          const out = attention(t.q, t.k, t.v, cs.opts);
          expect(out.dtype).toBe(dtype);
          expect(out.shape).toEqual(qShape(cs));
          const got = await out.data();
          out.dispose();
          expect(representable(got, dtype), "output values are not representable in the output dtype").toBe(true);
          const ref = { q: r.q, k: r.k, v: r.v, qShape: qShape(cs), kShape: kShape(cs) };
          const want = attentionRef(ref, cs.opts);
          expect(allFinite(got)).toBe(true);
          expect(relErr(got, want), report(SEED, `${dtype} ${cs.name} out`, got, want)).toBeLessThan(TOL[dtype]);

          const g = attentionBackward(t.q, t.k, t.v, t.dOut!, cs.opts);
          const wantG = attentionBackwardRef(ref, r.dOut, cs.opts);
          for (const [name, tensor, wantArr] of [
            ["dq", g.dq, wantG.dq],
            ["dk", g.dk, wantG.dk],
            ["dv", g.dv, wantG.dv],
          ] as const) {
            expect(tensor.dtype, `${name} dtype`).toBe(dtype);
            const gotArr = await tensor.data();
            tensor.dispose();
            expect(allFinite(gotArr), `${name} finite`).toBe(true);
            expect(relErr(gotArr, wantArr), report(SEED, `${dtype} ${cs.name} ${name}`, gotArr, wantArr)).toBeLessThan(TOL[dtype]);
          }
        } finally {
          t.dispose();
        }
      });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Conversions

/** Interesting f32 values for conversions, with ties placed exactly. */
function specialValues(): number[] {
  const out: number[] = [0, -0, 1, -1, 0.1, -2.5, 3.14159, 1e-3, 1e3, Infinity, -Infinity, NaN];
  const f32 = (bits: number): number => new Float32Array(new Uint32Array([bits >>> 0]).buffer)[0];
  // bf16 ties: the low 16 bits exactly 0x8000 (tie → even), just below and above
  for (const hi of [0x3f80, 0x3f81, 0xbf80, 0xbf81, 0x4049, 0x0001, 0x0080, 0x7f7f]) {
    out.push(f32((hi << 16) | 0x8000), f32((hi << 16) | 0x7fff), f32((hi << 16) | 0x8001));
  }
  out.push(3.4028234663852886e38, -3.4028234663852886e38, 1e38, 1.17549435e-38, 1e-40, -1e-40, 1.401298464324817e-45);
  // f16: max finite, the overflow threshold, subnormals, underflow, ties
  out.push(65504, 65519, 65520, 65536, 1e5, -1e5, 6.103515625e-5, 6.0975551605224609e-5);
  out.push(2 ** -24, 2 ** -25, 3 * 2 ** -25, 2 ** -26, 5 * 2 ** -25, 2 ** -14 - 2 ** -24, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2049, 2051, 4097);
  return out.map(Math.fround);
}

function sameValues(got: Float32Array, want: ArrayLike<number>): { ok: boolean; first: string } {
  for (let i = 0; i < want.length; i++) {
    const a = got[i];
    const b = want[i];
    if (!(Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)))) return { ok: false, first: `index ${i}: got ${a}, want ${b}` };
  }
  return { ok: got.length === want.length, first: `length ${got.length} vs ${want.length}` };
}

describe("dtype conversions round to nearest even", () => {
  const rng = new Rng(caseSeed(SEED, "conversions"));
  const random = Array.from({ length: 4000 }, () => Math.fround(rng.normal() * Math.pow(2, rng.int(-30, 20))));
  const values = Float32Array.from([...specialValues(), ...random]);
  const expected: Record<DType, Float32Array> = {
    f32: values,
    bf16: roundArray(values, "bf16"),
    f16: roundArray(values, "f16"),
  };

  it("the test's bf16 rounding agrees with the bitwise route on these values", () => {
    for (const x of values) {
      const a = roundBf16(x);
      const b = bf16ViaBits(x);
      expect(Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b))).toBe(true);
    }
  });

  for (const dtype of ["bf16", "f16"] as const) {
    it(`Tensor.from(..., {dtype: "${dtype}"}) stores the rounded values`, async () => {
      const t = Tensor.from(values, [values.length], { dtype });
      expect(t.dtype).toBe(dtype);
      const r = sameValues(await t.data(), expected[dtype]);
      expect(r.ok, r.first).toBe(true);
      const s = sameValues(t.dataSync(), expected[dtype]);
      expect(s.ok, s.first).toBe(true);
      t.dispose();
    });

    it(`t.to("${dtype}").to("f32") equals round-to-nearest-even of the values`, async () => {
      const t = Tensor.from(values, [values.length]);
      const h = t.to(dtype);
      expect(h.dtype).toBe(dtype);
      expect(h.shape).toEqual([values.length]);
      const back = h.to("f32");
      expect(back.dtype).toBe("f32");
      const r = sameValues(await back.data(), expected[dtype]);
      expect(r.ok, r.first).toBe(true);
      for (const z of [t, h, back]) z.dispose();
    });
  }

  it("f16 specifics: subnormals, overflow to inf, NaN, signed zero", async () => {
    const vals = [2 ** -24, 2 ** -25, 3 * 2 ** -25, 2 ** -26, -(2 ** -24), 65504, 65519, 65520, 70000, -70000, Infinity, -Infinity, NaN, -0, 2 ** -14, 2 ** -15];
    const want = [2 ** -24, 0, 2 ** -23, 0, -(2 ** -24), 65504, 65504, Infinity, Infinity, -Infinity, Infinity, -Infinity, NaN, -0, 2 ** -14, 2 ** -15];
    const t = Tensor.from(vals, [vals.length]).to("f16");
    const got = await t.to("f32").data();
    const r = sameValues(got, want);
    expect(r.ok, r.first).toBe(true);
    // and the independent helper says the same
    expect(sameValues(Float32Array.from(vals.map(roundF16)), want).ok).toBe(true);
    t.dispose();
  });

  it("bf16 specifics: ties to even, overflow of f32 max to inf, NaN", async () => {
    const vals = [1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, 3.4028234663852886e38, -3.4028234663852886e38, NaN, -0, 1e-40];
    const want = [1, 1 + 2 ** -6, 1 + 2 ** -7, Infinity, -Infinity, NaN, -0, roundBf16(Math.fround(1e-40))];
    const t = Tensor.from(vals, [vals.length], { dtype: "bf16" });
    const r = sameValues(await t.data(), want);
    expect(r.ok, r.first).toBe(true);
    t.dispose();
  });

  it("f16 → bf16 and bf16 → f16 round the already-rounded values again", async () => {
    const t16 = Tensor.from(values, [values.length], { dtype: "f16" });
    const a = t16.to("bf16");
    const ra = sameValues(await a.data(), roundArray(expected.f16, "bf16"));
    expect(ra.ok, ra.first).toBe(true);
    const tb = Tensor.from(values, [values.length], { dtype: "bf16" });
    const b = tb.to("f16");
    const rb = sameValues(await b.data(), roundArray(expected.bf16, "f16"));
    expect(rb.ok, rb.first).toBe(true);
    for (const z of [t16, a, tb, b]) z.dispose();
  });
});
