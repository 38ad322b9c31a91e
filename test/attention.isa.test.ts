/**
 * Every CPU kernel variant this machine can run (the portable "generic" build always, "avx2" and
 * "avx512" where the CPU has them) against the float64 reference, forward and backward, on the
 * whole case matrix. The default suites only exercise the variant picked at run time; this one
 * forces each in turn (selectVariant), so the portable fallback is proven on every host.
 */
import { afterAll, describe, expect, it } from "vitest";
import { attention, attentionBackward, backendInfo } from "ctxwin";
import { cpuBackend } from "../dist/backend.js";
import { attentionBackwardRef, attentionRef } from "./reference/attention_ref.js";
import { CASES, caseInputs, caseSeed, kShape, qShape } from "./reference/cases.js";
import { Rng, suiteSeed } from "./reference/rng.js";
import { relErr, relErrFloor } from "./reference/util.js";
import { announceSeed, report, tensors } from "./helpers.js";

const SEED = suiteSeed();
announceSeed("attention.isa", SEED);

const features = backendInfo().cpu.features;
const variants = ["generic", ...(features.avx2 && features.fma ? ["avx2"] : []), ...(features.avx512f ? ["avx512"] : [])];

afterAll(() => {
  cpuBackend().selectVariant("auto");
});

for (const variant of variants) {
  describe(`CPU kernels, variant ${variant}`, () => {
    it("is selected", () => {
      expect(cpuBackend().selectVariant(variant)).toBe(variant);
    });
    for (const cs of CASES) {
      it(`${cs.name}: forward and backward vs float64`, async () => {
        cpuBackend().selectVariant(variant);
        const x = caseInputs(cs, new Rng(caseSeed(SEED, `${variant}/${cs.name}`)));
        const t = tensors(cs, x);
        try {
          const out = attention(t.q, t.k, t.v, cs.opts);
          const g = attentionBackward(t.q, t.k, t.v, t.dOut!, cs.opts);
          const [o, dq, dk, dv] = await Promise.all([out.data(), g.dq.data(), g.dk.data(), g.dv.data()]);
          for (const r of [out, g.dq, g.dk, g.dv]) r.dispose();
          const inputs = { q: x.q, k: x.k, v: x.v, qShape: qShape(cs), kShape: kShape(cs) };
          const want = attentionRef(inputs, cs.opts);
          expect(relErr(o, want), report(SEED, `${variant} ${cs.name} out`, o, want)).toBeLessThan(1e-5);
          const wg = attentionBackwardRef(inputs, x.dOut, cs.opts);
          expect(relErrFloor(dq, wg.dq, 0.1), report(SEED, `${variant} ${cs.name} dq`, dq, wg.dq)).toBeLessThan(1e-4);
          expect(relErrFloor(dk, wg.dk, 0.1), report(SEED, `${variant} ${cs.name} dk`, dk, wg.dk)).toBeLessThan(1e-4);
          expect(relErrFloor(dv, wg.dv, 0.1), report(SEED, `${variant} ${cs.name} dv`, dv, wg.dv)).toBeLessThan(1e-4);
        } finally {
          t.dispose();
        }
      });
    }
  });
}
