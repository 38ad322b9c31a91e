/**
 * Gates and seed findings on synthetic schema-2 reports (test/report/fixture.ts): every gate passes
 * and fails, and every finding is reproduced, not reproduced (including an interval that straddles
 * 0), not testable (its gate fails) and missing (a method or value absent).
 */
import { describe, expect, it } from "vitest";
import { computeFindings, computeGates, CRITERIA, Evidence, formatInterval, type Finding, type Gate } from "../../dist/report/findings.js";
import type { StudyReport } from "../../lib/study/report_schema.js";
import { L, LENGTHS, makeReport, METHODS, NLL, PASSKEY, TRIALS, type FixtureOptions } from "./fixture.js";

const gateOf = (r: StudyReport, id: string): Gate => computeGates(r).find((g) => g.id === id)!;
const TITLES = {
  alibiPi: /^ALiBi-PI/,
  window: /window extension/i,
  pv: /Positional vector replacement lets NoPE/,
  pvScale: /attention-scaling/,
  yarnFt: /Fine-tuned YaRN beats/,
  dynYarn: /Dynamic YaRN/,
  yarnBest: /short YaRN fine-tune/,
} as const;
function finding(o: FixtureOptions | StudyReport, key: keyof typeof TITLES): Finding {
  const r = "schema" in o ? (o as StudyReport) : makeReport(o as FixtureOptions);
  const f = computeFindings(r).find((x) => TITLES[key].test(x.title));
  if (!f) throw new Error(`no finding ${key}`);
  return f;
}
const row = (id: string, i: number, v: number | null) => {
  const r = [...NLL[id]!];
  r[i] = v;
  return r;
};
const pkRow = (id: string, i: number, v: number | null) => {
  const r = [...PASSKEY[id]!];
  r[i] = v;
  return r;
};
/** Gates that fail: G1 (RoPE barely degrades), G2 (NoPE barely degrades), G3, G4, G5. */
const FAIL: Record<string, FixtureOptions> = {
  G1: { nll: { rope: [3.0, 3.2, 3.25, 3.3] } },
  G2: { nll: { nope: [3.1, 3.2, 4.2, 5.0] } },
  G3: { nll: { window: [3.05, 3.25, 3.25, 3.25] } },
  G4: { passkey: { alibi: pkRow("alibi", 1, 0.8) } },
  G5: { passkey: { rope: pkRow("rope", 0, 0.7) } },
};

describe("fixture", () => {
  it("has all 20 methods and per-document sums whose mean is the stated NLL", () => {
    const r = makeReport();
    expect(r.methods.map((m) => m.id)).toEqual(METHODS.map((m) => m.id));
    expect(r.methods.length).toBe(20);
    for (const m of r.methods) {
      m.nll.forEach((v, i) => {
        const s = m.docNll[i];
        if (v === null) return expect(s).toBeNull();
        const mean = s!.reduce((a, b) => a + b, 0) / m.docTargets.reduce((a, b) => a + b, 0);
        expect(mean).toBeCloseTo(v, 10);
      });
    }
  });
});

describe("Evidence and formatInterval", () => {
  it("paired differences are exact in the mean, with a deterministic interval", () => {
    const r = makeReport();
    const e = new Evidence(r);
    const d = e.diff("rope", 4 * L, "rope", L);
    expect(d.mean).toBeCloseTo(1.5, 10);
    expect(d.lo).toBeLessThan(1.5);
    expect(d.hi).toBeGreaterThan(1.5);
    expect(new Evidence(r).diff("rope", 4 * L, "rope", L)).toEqual(d);
    expect(e.numbers["rope@4L−rope@L"]).toBeCloseTo(1.5, 10);
    const p = e.passkey("rope", L);
    expect(p.cell.correct).toBe(Math.round(0.97 * TRIALS));
    expect(p.lo).toBeLessThan(p.mean);
    expect(formatInterval({ mean: 0.1234, lo: -0.01, hi: 0.2 })).toBe("+0.123 [−0.010, +0.200]");
    expect(formatInterval({ mean: 0.75, lo: 0.5, hi: 1 }, false)).toBe("0.750 [0.500, 1.000]");
  });
  it("a wide jitter makes the interval of a small difference straddle 0", () => {
    const e = new Evidence(makeReport({ nll: { "alibi-pi": row("alibi-pi", 1, 3.39) }, noise: { "alibi-pi": 0.2 } }));
    const d = e.diff("alibi-pi", 2 * L, "alibi", 2 * L);
    expect(d.mean).toBeCloseTo(-0.01, 10);
    expect(d.lo).toBeLessThan(0);
    expect(d.hi).toBeGreaterThan(0);
  });
});

describe("computeGates", () => {
  it("all five pass on the default fixture, quoting their numbers", () => {
    const gates = computeGates(makeReport());
    expect(gates.map((g) => g.id)).toEqual(["G1", "G2", "G3", "G4", "G5"]);
    for (const g of gates) {
      expect(g.pass, g.id).toBe(true);
      expect(g.text, g.id).toMatch(/Passes\.$/);
      expect(g.criterion.length).toBeGreaterThan(10);
    }
    expect(gates[0]!.text).toContain("NLL(RoPE, 4L) − NLL(RoPE, L) = +1.500 [");
    expect(gates[1]!.text).toContain("+0.400 [");
    expect(gates[2]!.text).toContain("−0.200 [");
    expect(gates[3]!.text).toContain("(61/64)");
    expect(gates[3]!.text).toContain("(13/64)");
    expect(gates[4]!.text).toContain("(62/64)");
    expect(gates[4]!.text).toMatch(/for comparison NoPE .*, ALiBi /);
  });

  for (const [id, opts] of Object.entries(FAIL)) {
    it(`${id} fails when its criterion does not hold`, () => {
      const g = gateOf(makeReport(opts), id);
      expect(g.pass).toBe(false);
      expect(g.text).toMatch(/Fails\.$/);
      // the other gates are unaffected
      for (const other of computeGates(makeReport(opts))) if (other.id !== id) expect(other.pass, other.id).toBe(true);
    });
  }

  it("G1 and G2 need the whole interval above the threshold", () => {
    // mean degradation 0.31 ≥ 0.3, but a wide interval reaches below
    const g1 = gateOf(makeReport({ nll: { rope: [3.0, 3.2, 3.31, 3.5] }, noise: { rope: 0.2 } }), "G1");
    expect(g1.numbers["rope@4L−rope@L"]).toBeCloseTo(0.31, 10);
    expect(g1.numbers["rope@4L−rope@L.lo"]).toBeLessThan(CRITERIA.g1RopeDegradation);
    expect(g1.pass).toBe(false);
    const g1ok = gateOf(makeReport({ nll: { rope: [3.0, 3.2, 3.31, 3.5] } }), "G1");
    expect(g1ok.pass).toBe(true);
    const g2 = gateOf(makeReport({ nll: { nope: [3.1, 3.32, 4.2, 5.0] }, noise: { nope: 0.2 } }), "G2");
    expect(g2.pass).toBe(false);
    expect(gateOf(makeReport({ nll: { nope: [3.1, 3.32, 4.2, 5.0] } }), "G2").pass).toBe(true);
  });

  it("G3 fails when the difference is not clearly below 0", () => {
    const g = gateOf(makeReport({ nll: { window: [3.1, 3.25, 3.25, 3.25] }, noise: { window: 0.1 } }), "G3");
    expect(g.pass).toBe(false);
    expect(g.numbers["nope@L−window@L.lo"]).toBeLessThan(0);
    expect(g.numbers["nope@L−window@L.hi"]).toBeGreaterThan(0);
  });

  it("G4 fails when ALiBi never retrieves, G5 uses the lower Wilson bound", () => {
    expect(gateOf(makeReport({ passkey: { alibi: [0, 0, 0, 0] } }), "G4").pass).toBe(false);
    // 54/64 = 0.84 ≥ 0.8, but its Wilson lower bound is below 0.8
    const g5 = gateOf(makeReport({ passkey: { rope: pkRow("rope", 0, 54 / 64) } }), "G5");
    expect(g5.text).toContain("(54/64)");
    expect(g5.pass).toBe(false);
  });

  it("a missing method or value gives pass: null naming it", () => {
    const g1 = gateOf(makeReport({ drop: ["rope"] }), "G1");
    expect(g1.pass).toBeNull();
    expect(g1.text).toBe("Missing: rope (not in this report).");
    expect(gateOf(makeReport({ nll: { nope: row("nope", 1, null) } }), "G2").text).toBe("Missing: nope at 2L.");
    expect(gateOf(makeReport({ drop: ["window"] }), "G3").pass).toBeNull();
    const g4 = gateOf(makeReport({ passkey: { alibi: pkRow("alibi", 1, null) } }), "G4");
    expect(g4.pass).toBeNull();
    expect(g4.text).toContain("passkey of alibi at (L, 2L]");
    expect(gateOf(makeReport({ drop: ["rope"] }), "G5").pass).toBeNull();
    const short = makeReport();
    short.lengths = [L, 2 * L];
    short.methods.forEach((m) => {
      m.nll = m.nll.slice(0, 2);
      m.docNll = m.docNll.slice(0, 2);
    });
    expect(gateOf(short, "G1").text).toBe("Missing: rope at 4L (length not evaluated).");
  });
});

describe("computeFindings", () => {
  it("gives the seven findings in seed order with their gates", () => {
    const fs = computeFindings(makeReport());
    expect(fs.map((f) => f.seed)).toEqual(["000", "001", "001", "001", "003", "003", "003"]);
    expect(fs.map((f) => f.gates)).toEqual([["G4"], ["G3"], ["G2"], ["G2"], ["G1"], ["G1"], ["G1", "G5"]]);
    for (const f of fs) {
      expect(f.verdict, f.title).toBe("reproduced");
      expect(f.reproduced).toBe(true);
      expect(f.text, f.title).toMatch(/Criterion: .*Reproduced\.$/);
      expect(f.text).not.toMatch(/NaN|undefined/);
    }
  });

  it("gates passed in are used; a needed gate absent from them counts as missing, never passed", () => {
    const r = makeReport();
    const gates = computeGates(r).filter((g) => g.id !== "G4");
    const f = computeFindings(r, gates)[0]!;
    expect(f.verdict).toBe("not testable");
    expect(f.text).toContain("G4 is missing");
    expect(f.summary).toMatch(/^not testable at this scale \(G4 missing\)/);
  });

  describe("000 ALiBi-PI", () => {
    it("reproduced: below ALiBi at 2L and within 0.05 nats of ALiBi at L", () => {
      const f = finding({}, "alibiPi");
      expect(f.verdict).toBe("reproduced");
      expect(f.text).toContain("NLL(ALiBi-PI) − NLL(ALiBi) = −0.330 [");
      expect(f.text).toContain("NLL(ALiBi-PI, 2L) − NLL(ALiBi, L) = +0.020 [");
      expect(f.numbers["alibi-pi@2L−alibi@L"]).toBeCloseTo(0.02, 10);
    });
    it("not reproduced: too far above the trained-length NLL", () => {
      const f = finding({ nll: { "alibi-pi": row("alibi-pi", 1, 3.12) } }, "alibiPi");
      expect(f.verdict).toBe("not reproduced");
      expect(f.reproduced).toBe(false);
      expect(f.text).toMatch(/Not reproduced: ALiBi-PI at 2L is not within 0\.05 nats of ALiBi at L \(\+0\.070 \[/);
    });
    it("not reproduced: the interval of the difference to ALiBi straddles 0", () => {
      const f = finding({ nll: { "alibi-pi": row("alibi-pi", 1, 3.39) }, noise: { "alibi-pi": 0.2 } }, "alibiPi");
      expect(f.verdict).toBe("not reproduced");
      expect(f.numbers["alibi-pi@2L−alibi@2L.lo"]).toBeLessThan(0);
      expect(f.numbers["alibi-pi@2L−alibi@2L.hi"]).toBeGreaterThan(0);
      expect(f.text).toContain("ALiBi-PI is not below ALiBi at 2L");
    });
    it("not testable when G4 fails (and never reproduced)", () => {
      const f = finding(FAIL.G4!, "alibiPi");
      expect(f.verdict).toBe("not testable");
      expect(f.reproduced).toBeNull();
      expect(f.text).toContain("Not testable at this scale: G4 (ALiBi does not reach past L) fails");
      expect(f.text).toContain("would hold");
      expect(f.summary).toMatch(/^not testable at this scale \(G4 fails\)/);
    });
    it("missing without ALiBi-PI", () => {
      const f = finding({ drop: ["alibi-pi"] }, "alibiPi");
      expect(f.verdict).toBe("missing");
      expect(f.reproduced).toBeNull();
      expect(f.text).toBe(`Not enough data: missing alibi-pi (not in this report). Criterion: ${f.criterion}.`);
    });
  });

  describe("001 window extension", () => {
    it("reproduced", () => {
      const f = finding({}, "window");
      expect(f.verdict).toBe("reproduced");
      expect(f.text).toContain("2L −0.100 [");
      expect(f.text).toContain("4L −0.150 [");
    });
    it("not reproduced: at 4L the interval straddles 0", () => {
      const f = finding({ nll: { "window-ext": row("window-ext", 2, 3.25) }, noise: { "window-ext": 0.08 } }, "window");
      expect(f.numbers["window-ext@4L−window@4L.lo"]).toBeLessThan(0);
      expect(f.numbers["window-ext@4L−window@4L.hi"]).toBeGreaterThan(0);
      expect(f.verdict).toBe("not reproduced");
      expect(f.text).toContain("Not reproduced: not below at 4L.");
    });
    it("not testable when G3 fails", () => {
      const f = finding(FAIL.G3!, "window");
      expect(f.verdict).toBe("not testable");
      expect(f.reproduced).toBeNull();
      expect(f.text).toContain("G3 (Context beyond the window helps) fails");
    });
    it("missing without the window extension", () => {
      expect(finding({ drop: ["window-ext"] }, "window").text).toContain("missing window-ext (not in this report)");
    });
  });

  describe("001 PV replacement vs NoPE", () => {
    it("reproduced, with the closed fraction and the chosen layer and α", () => {
      const f = finding({}, "pv");
      expect(f.verdict).toBe("reproduced");
      expect(f.numbers["closure@2L"]).toBeCloseTo(0.75, 10); // (3.5 − 3.2) / (3.5 − 3.1)
      expect(f.text).toContain("layer 2, α = 1.3");
      expect(f.text).toContain("closed: 0.750 [");
    });
    it("not reproduced: below NoPE but closing less than half of the degradation", () => {
      const f = finding({ nll: { "nope-pv-r4": row("nope-pv-r4", 1, 3.4) } }, "pv");
      expect(f.verdict).toBe("not reproduced");
      expect(f.numbers["closure@2L"]).toBeCloseTo(0.25, 10);
      expect(f.text).toMatch(/Not reproduced: closes 0\.250 \[.*\] of the 2L degradation \(needs ≥ 0\.5\)/);
    });
    it("not reproduced: at 4L the interval straddles 0", () => {
      const f = finding({ nll: { "nope-pv-r4": row("nope-pv-r4", 2, 4.19) }, noise: { "nope-pv-r4": 0.2 } }, "pv");
      expect(f.verdict).toBe("not reproduced");
      expect(f.text).toContain("not below NoPE at 4L");
    });
    it("not testable when G2 fails", () => {
      const f = finding(FAIL.G2!, "pv");
      expect(f.verdict).toBe("not testable");
      expect(f.reproduced).toBeNull();
      expect(f.text).toContain("G2 (NoPE fails past L) fails");
    });
    it("missing where r = 4 is not defined", () => {
      const f = finding({ nll: { "nope-pv-r4": [3.1, 3.2, null, null] } }, "pv");
      expect(f.verdict).toBe("missing");
      expect(f.text).toContain("missing nope-pv-r4 at 4L");
    });
  });

  describe("001 PV replacement vs attention scaling", () => {
    it("reproduced", () => {
      const f = finding({}, "pvScale");
      expect(f.verdict).toBe("reproduced");
      expect(f.text).toContain("2L −0.150 [");
    });
    it("not reproduced where attention scaling is better at 2L", () => {
      const f = finding({ nll: { "nope-scale": row("nope-scale", 1, 3.15) } }, "pvScale");
      expect(f.verdict).toBe("not reproduced");
      expect(f.text).toContain("2L +0.050 [");
      expect(f.text).toContain("Not reproduced: not below at 2L.");
    });
    it("not testable when G2 fails", () => {
      expect(finding(FAIL.G2!, "pvScale").verdict).toBe("not testable");
    });
    it("missing without attention scaling", () => {
      expect(finding({ drop: ["nope-scale"] }, "pvScale").text).toContain("missing nope-scale (not in this report)");
    });
  });

  describe("003 fine-tuned YaRN vs fine-tuned PI and NTK", () => {
    it("reproduced", () => {
      const f = finding({}, "yarnFt");
      expect(f.verdict).toBe("reproduced");
      expect(f.text).toContain("NLL(YaRN ft) − NLL(PI ft): 4L −0.100 [");
      expect(f.text).toContain("NLL(YaRN ft) − NLL(NTK ft): 4L −0.150 [");
    });
    it("not reproduced where NTK ft is better at 8L", () => {
      const f = finding({ nll: { "rope-ntk-ft": row("rope-ntk-ft", 3, 3.15) } }, "yarnFt");
      expect(f.verdict).toBe("not reproduced");
      expect(f.text).toContain("Not reproduced: not below NTK at 8L.");
    });
    it("not reproduced where the interval straddles 0", () => {
      const f = finding({ nll: { "rope-pi-ft": row("rope-pi-ft", 2, 2.96) }, noise: { "rope-pi-ft": 0.2 } }, "yarnFt");
      expect(f.verdict).toBe("not reproduced");
      expect(f.text).toContain("not below PI at 4L");
    });
    it("not testable when G1 fails", () => {
      const f = finding(FAIL.G1!, "yarnFt");
      expect(f.verdict).toBe("not testable");
      expect(f.text).toContain("G1 (RoPE fails past L) fails");
    });
    it("missing without fine-tuned PI", () => {
      expect(finding({ drop: ["rope-pi-ft"] }, "yarnFt").text).toContain("missing rope-pi-ft (not in this report)");
    });
  });

  describe("003 dynamic YaRN", () => {
    it("reproduced at every length beyond L", () => {
      const f = finding({}, "dynYarn");
      expect(f.verdict).toBe("reproduced");
      expect(f.text).toContain("NLL(dynamic YaRN) − NLL(RoPE): 2L −0.500 [");
      expect(f.text).toContain("8L −1.900 [");
    });
    it("not reproduced where the difference to dynamic PI at 2L straddles 0", () => {
      const f = finding({ nll: { "yarn-dynamic": row("yarn-dynamic", 1, 3.2) }, noise: { "yarn-dynamic": 0.2 } }, "dynYarn");
      expect(f.verdict).toBe("not reproduced");
      expect(f.text).toContain("Not reproduced: not below dynamic PI at 2L.");
    });
    it("not testable when G1 fails", () => {
      expect(finding(FAIL.G1!, "dynYarn").verdict).toBe("not testable");
    });
    it("missing without dynamic PI, or without any length beyond L (no vacuous pass)", () => {
      expect(finding({ drop: ["rope-dynamic-pi"] }, "dynYarn").text).toContain("missing rope-dynamic-pi (not in this report)");
      const short = makeReport();
      short.lengths = [L];
      short.methods.forEach((m) => {
        m.nll = m.nll.slice(0, 1);
        m.docNll = m.docNll.slice(0, 1);
      });
      const f = finding(short, "dynYarn");
      expect(f.verdict).toBe("missing");
      expect(f.text).toContain("missing evaluation lengths beyond L");
    });
  });

  describe("003 a short YaRN fine-tune is best", () => {
    it("reproduced: below every other RoPE method, close to RoPE ft at L, passkey up to 4L", () => {
      const f = finding({}, "yarnBest");
      expect(f.verdict).toBe("reproduced");
      expect(f.text).toContain("4L: closest Linear PI ×4 fine-tuned −0.100 [");
      expect(f.text).toContain("at L, NLL(YaRN ft) − NLL(RoPE ft) = +0.000 [");
      expect(f.text).toContain("YaRN ft passkey ≤ L 1.00 [");
      expect(f.text).toContain("(2L, 4L] 0.97 [");
      expect(f.text).not.toContain("(4L, 8L]");
    });
    it("not reproduced: too far from RoPE ft at L", () => {
      const f = finding({ nll: { "yarn-ft": row("yarn-ft", 0, 3.03) } }, "yarnBest");
      expect(f.verdict).toBe("not reproduced");
      expect(f.text).toMatch(/NLL at L is \+0\.030 \[.*\] from fine-tuned RoPE \(limit \+0\.02\)/);
    });
    it("not reproduced: passkey below 0.8 (lower Wilson bound) in (2L, 4L]", () => {
      const f = finding({ passkey: { "yarn-ft": pkRow("yarn-ft", 2, 54 / 64) } }, "yarnBest");
      expect(f.verdict).toBe("not reproduced");
      expect(f.text).toContain("passkey below 0.8 at (2L, 4L]");
    });
    it("not reproduced: a training-free method is as good at 8L", () => {
      const f = finding({ nll: { yarn: row("yarn", 3, 3.19) }, noise: { yarn: 0.2 } }, "yarnBest");
      expect(f.verdict).toBe("not reproduced");
      expect(f.text).toContain("not below YaRN ×4 at 8L");
    });
    it("not testable when G5 fails (or G1)", () => {
      const f = finding(FAIL.G5!, "yarnBest");
      expect(f.verdict).toBe("not testable");
      expect(f.reproduced).toBeNull();
      expect(f.text).toContain("G5 (Passkey is learnable) fails");
      expect(finding(FAIL.G1!, "yarnBest").verdict).toBe("not testable");
    });
    it("missing when any RoPE method is absent (the comparison is with every one)", () => {
      expect(finding({ drop: ["rope-ft"] }, "yarnBest").text).toContain("missing rope-ft (not in this report)");
      expect(finding({ drop: ["yarn"] }, "yarnBest").text).toContain("missing yarn (not in this report)");
      expect(finding({ passkey: { "yarn-ft": pkRow("yarn-ft", 1, null) } }, "yarnBest").text).toContain("missing passkey of yarn-ft at (L, 2L]");
    });
  });

  it("an empty report gives missing gates and findings without errors", () => {
    const r = makeReport({ drop: METHODS.map((m) => m.id) });
    for (const g of computeGates(r)) expect(g.pass).toBeNull();
    for (const f of computeFindings(r)) {
      expect(f.verdict).toBe("missing");
      expect(f.text).not.toMatch(/NaN|undefined/);
    }
  });

  it("a report without evaluation documents gives missing gates, not an error", () => {
    const r = makeReport();
    r.evaluation.documents = [];
    r.methods.forEach((m) => {
      m.docNll = m.docNll.map((x) => (x ? [] : null));
      m.docTargets = [];
    });
    const g = computeGates(r);
    expect(g[0]!.text).toBe("Missing: rope at 4L (no evaluation documents).");
    for (const f of computeFindings(r, g)) expect(f.verdict).toBe("missing");
  });

  it("uses the lengths of the report, not fixed ones", () => {
    expect(LENGTHS).toEqual([L, 2 * L, 4 * L, 8 * L]);
    const r = makeReport();
    for (const f of computeFindings(r)) expect(f.text).not.toMatch(/\b(2048|4096)\b/);
  });
});
