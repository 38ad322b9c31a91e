import { describe, expect, it } from "vitest";
import { computeFindings, CRITERIA, type Finding } from "../../lib/report/findings.js";
import { formatPpl } from "../../lib/report/format.js";
import { makeReport, missingReport, NOT, REPRODUCED } from "./fixture.js";

const byTitle = (fs: Finding[], re: RegExp) => {
  const f = fs.find((x) => re.test(x.title));
  if (!f) throw new Error(`no finding matching ${re}`);
  return f;
};

describe("computeFindings", () => {
  it("gives one finding per seed claim, in seed order", () => {
    const fs = computeFindings(makeReport());
    expect(fs.map((f) => f.seed)).toEqual(["000", "001", "001", "001", "003", "003", "003"]);
    for (const f of fs) {
      expect(f.title.length).toBeGreaterThan(5);
      expect(f.text).toMatch(/Criterion: /);
      expect(f.summary.length).toBeGreaterThan(5);
    }
  });

  it("reproduces every finding with the 'reproduced' numbers and quotes them", () => {
    const fs = computeFindings(makeReport(REPRODUCED));
    for (const f of fs) {
      expect(f.reproduced, f.title).toBe(true);
      expect(f.text, f.title).toMatch(/Reproduced: /);
    }
    const a = byTitle(fs, /ALiBi-PI/);
    // "ALiBi-PI at 2L: ppl X vs ALiBi Y vs trained-length Z"
    expect(a.text).toContain(`ALiBi-PI at 2L (256 tokens): ppl ${formatPpl(31)} vs ALiBi ${formatPpl(40)} vs trained length (ALiBi at L = 128) ${formatPpl(28)}`);
    expect(a.numbers["alibi-pi@2L"]).toBe(31);
    expect(a.numbers["alibi@2L"]).toBe(40);
    expect(a.numbers["alibi@L"]).toBe(28);
    expect(a.numbers.alibiPiVsTrained).toBeCloseTo(31 / 28 - 1, 12);
    expect(a.text).toContain("+10.7%"); // 31/28 - 1
    expect(a.text).toContain("+42.9%"); // ALiBi degrades: 40/28 - 1

    const w = byTitle(fs, /window extension/i);
    expect(w.text).toContain("34.00 / 40.00 / 50.00");
    expect(w.text).toContain("36.00 / 45.00 / 60.00");
    expect(w.text).toContain("λ = 1.1");
    const pv = byTitle(fs, /lets NoPE/);
    expect(pv.text).toContain("2000");
    expect(pv.text).toMatch(/layer = 2, α = 1.3/);
    const sc = byTitle(fs, /attention-scaling/);
    expect(sc.text).toContain("45.00 / 120.0 / 600.0");
    const y = byTitle(fs, /linear PI and NTK/);
    expect(y.text).toContain(`At 4L YaRN ${formatPpl(35)} vs PI ${formatPpl(38)} vs NTK ${formatPpl(40)}`);
    expect(y.text).toContain(`at 8L YaRN ${formatPpl(90)} vs PI ${formatPpl(120)} vs NTK ${formatPpl(150)}`);
    const d = byTitle(fs, /Dynamic YaRN/);
    expect(d.text).toContain(`dynamic YaRN ${formatPpl(27)} vs RoPE ${formatPpl(27)}`);
    expect(d.text).toContain("static YaRN 28.50");
    const ft = byTitle(fs, /fine-tune/);
    expect(ft.text).toContain("40 steps at 512 tokens");
    expect(ft.text).toContain(`at 8L ${formatPpl(60)} vs best other YaRN static (×4) ${formatPpl(90)}`);
    expect(ft.numbers.fineTuneSteps).toBe(40);
  });

  it("does not reproduce any finding with the 'not' numbers, and says why with the numbers", () => {
    const fs = computeFindings(makeReport(NOT));
    for (const f of fs) {
      expect(f.reproduced, f.title).toBe(false);
      expect(f.text, f.title).toMatch(/Not reproduced: /);
    }
    const a = byTitle(fs, /ALiBi-PI/);
    expect(a.text).toContain(`limit +${(CRITERIA.alibiPiTolerance * 100).toFixed(0)}%`);
    expect(a.text).toContain("+42.9%"); // 40/28 - 1
    expect(a.text).toMatch(/plain ALiBi is about as good at 2L/);
    expect(byTitle(fs, /window extension/i).text).toMatch(/lower at 2 of 3 lengths beyond L \(2L and 4L\); not lower by more than 0\.5% at 8L/);
    expect(byTitle(fs, /lets NoPE/).text).toMatch(/not lower by more than 0\.5% at 2L/);
    expect(byTitle(fs, /linear PI and NTK/).text).toMatch(/not more than 0\.5% below both at 4L/);
    expect(byTitle(fs, /Dynamic YaRN/).text).toMatch(/\+7\.4% from RoPE at L \(limit \+2%\)/);
    expect(byTitle(fs, /fine-tune/).text).toMatch(/as good or better at 8L/);
  });

  it("does not count differences within the 0.5% margin (near-identical perplexities)", () => {
    expect(CRITERIA.margin).toBe(0.005);
    const near = (v: number | null) => (v === null ? null : v * 0.999);
    const r = makeReport({
      ...REPRODUCED,
      "window-ext": REPRODUCED.window!.map(near),
      yarn: [28.5, 31, 38 * 0.998, 90],
      "alibi-pi": [28, 40 * 0.999, 45, 80],
    });
    const fs = computeFindings(r);
    expect(byTitle(fs, /window extension/i).reproduced).toBe(false);
    expect(byTitle(fs, /linear PI and NTK/).reproduced).toBe(false);
    const a = byTitle(fs, /ALiBi-PI/);
    expect(a.reproduced).toBe(false);
    expect(a.text).toMatch(/plain ALiBi is about as good at 2L/);
    // just outside the margin counts
    const r2 = makeReport({ ...REPRODUCED, "window-ext": REPRODUCED.window!.map((v) => (v === null ? null : v * 0.99)) });
    expect(byTitle(computeFindings(r2), /window extension/i).reproduced).toBe(true);
  });

  it("returns reproduced: null and names what is missing", () => {
    const fs = computeFindings(missingReport());
    for (const f of fs) {
      expect(f.reproduced, f.title).toBeNull();
      expect(f.text, f.title).toMatch(/Not enough data: missing /);
      expect(f.summary).toMatch(/not enough data/);
    }
    expect(byTitle(fs, /ALiBi-PI/).text).toContain("alibi-pi (not in this report)");
    expect(byTitle(fs, /window extension/i).text).toContain("window-ext (not in this report)");
    expect(byTitle(fs, /lets NoPE/).text).toContain("nope-pv at 8L (no perplexity)");
    expect(byTitle(fs, /linear PI and NTK/).text).toContain("yarn at 4L (no perplexity)");
    expect(byTitle(fs, /Dynamic YaRN/).text).toContain("rope-dynamic (not in this report)");
  });

  it("handles an empty report and a report without lengths beyond L", () => {
    const empty = makeReport({});
    for (const f of computeFindings(empty)) expect(f.reproduced).toBeNull();
    const short = makeReport();
    short.lengths = [128];
    short.methods.forEach((m) => (m.ppl = m.ppl.slice(0, 1)));
    for (const f of computeFindings(short)) {
      expect(f.reproduced).toBeNull();
      expect(f.text).not.toMatch(/NaN|undefined/);
    }
  });

  it("treats +Infinity as a diverged (measured) value and NaN/null as missing", () => {
    const r = makeReport({ ...REPRODUCED, nope: [30, 60, 300, Infinity], alibi: [28, Infinity, Infinity, Infinity] });
    const fs = computeFindings(r);
    const pv = byTitle(fs, /lets NoPE/);
    expect(pv.reproduced).toBe(true);
    expect(pv.text).toContain("∞");
    const a = byTitle(fs, /ALiBi-PI/);
    expect(a.reproduced).toBe(true);
    expect(a.text).toContain("ALiBi ∞");
    for (const f of fs) expect(f.text).not.toMatch(/NaN|undefined|Infinity/);
  });
});
