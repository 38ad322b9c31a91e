import { describe, expect, it } from "vitest";
import { computeFindings, computeGates } from "../../dist/report/findings.js";
import { defaultColor, renderTerminalSummary, visibleWidth } from "../../dist/report/terminal.js";
import { makeReport, METHODS, NLL, partialReport } from "./fixture.js";

const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");

describe("renderTerminalSummary", () => {
  const r = makeReport();

  it("prints an aligned fixed-width NLL table with the best per length marked *", () => {
    const out = renderTerminalSummary(r, { color: false });
    expect(out).not.toContain("\x1b");
    const lines = out.split("\n");
    const h = lines.findIndex((l) => l.startsWith("method"));
    const table = lines.slice(h, h + 2 + r.methods.length);
    // every row as wide as the header and the rule, columns at the same offsets
    const width = table[0]!.length;
    for (const l of table) expect(visibleWidth(l), l).toBe(width);
    const rule = table[1]!;
    expect(rule).toMatch(/^[- ]+$/);
    const spans = [...rule.matchAll(/-+/g)].map((m) => [m.index!, m.index! + m[0].length] as const);
    expect(spans.length).toBe(1 + r.lengths.length + 2);
    for (const l of table) {
      spans.forEach(([s, e], k) => {
        if (k === 0) return;
        expect(l.slice(spans[k - 1]![1], s), l).toBe("  "); // the column gap
        // right-aligned: content ends at the column's edge (or just before it: the slot of the * mark)
        expect(l.slice(s, e).trimEnd().length, l).toBeGreaterThanOrEqual(e - s - 1);
      });
    }
    // one * per best value; ties at L: six methods at 3.000
    const body = table.slice(2);
    const expected = r.lengths.reduce((a, _, i) => {
      const vals = Object.values(NLL).map((row) => row[i]).filter((v): v is number => v !== null);
      return a + vals.filter((v) => v.toFixed(3) === Math.min(...vals).toFixed(3)).length;
    }, 0);
    expect(body.join("\n").match(/\*/g)!.length).toBe(expected);
    expect(body.filter((l) => /^\S.*?\s3\.000\*/.test(l)).length).toBe(6);
    expect(out).toMatch(/YaRN ×4 fine-tuned +3\.000\* +2\.950\* +2\.950\* +3\.200 /);
    expect(out).toMatch(/Window \+ window extension +3\.300 +3\.150 +3\.100 +3\.100\*/);
    for (const m of r.methods) expect(out).toContain(m.label);
  });

  it("prints the passkey accuracy per distance bucket, – where not defined", () => {
    const out = renderTerminalSummary(r, { color: false });
    expect(out).toContain("passkey   ≤L L-2L 2L-4L 4L-8L");
    expect(out).toMatch(/\nRoPE +3\.000\* .* 0\.97 0\.41 +0\.02 +0\.00 /);
    expect(out).toMatch(/NoPE \+ PV replacement \(r=2\) .* 0\.91 0\.30 +– +– /);
    // each accuracy sits under its bucket's label
    const lines = out.split("\n");
    const head = lines.find((l) => l.startsWith("method"))!;
    const rope = lines.find((l) => l.startsWith("RoPE "))!;
    expect(rope.indexOf("0.41") + 4).toBe(head.indexOf("L-2L") + 4);
    expect(rope.lastIndexOf("0.00") + 4).toBe(head.indexOf("4L-8L") + 5);
    expect(out).toMatch(/NoPE \+ PV replacement \(r=2\) +3\.100 +3\.250 +– +– /);
  });

  it("marks every value displayed equal to the best", () => {
    const r2 = makeReport({ nll: { "rope-ntk-ft": [3.04, 2.9504, 3.1, 3.6] } }); // shown as 2.950, like yarn-ft
    const out = renderTerminalSummary(r2, { color: false });
    expect(out).toMatch(/NTK ×4 fine-tuned +3\.040 +2\.950\*/);
    expect(out).toMatch(/YaRN ×4 fine-tuned +3\.000\* +2\.950\*/);
  });

  it("prints the gates and the findings one line each with ✓ / ✗ / –", () => {
    const ok = renderTerminalSummary(r, { color: false });
    const lines = ok.split("\n");
    for (const g of computeGates(r)) expect(lines).toContain(`✓ ${g.id}  ${g.title}: ${g.text}`);
    const fl = lines.filter((l) => /^[✓✗–] 00\d  /.test(l));
    expect(fl.length).toBe(7);
    for (const l of fl) expect(l).toMatch(/^✓ 00\d  .*: reproduced; /);
    expect(ok).toContain("7 of 7 reproduced, 0 not reproduced, 0 not testable at this scale");

    // G4 fails: the ALiBi-PI finding is not testable; a failing gate is ✗
    const nt = renderTerminalSummary(makeReport({ passkey: { alibi: [0.95, 0.8, 0, 0] } }), { color: false });
    expect(nt).toMatch(/\n✗ G4  ALiBi does not reach past L: .*Fails\./);
    expect(nt).toMatch(/\n– 000  ALiBi-PI .*: not testable at this scale \(G4 fails\); /);
    expect(nt).toContain("6 of 7 reproduced, 0 not reproduced, 1 not testable at this scale");

    const not = renderTerminalSummary(makeReport({ nll: { "nope-scale": [3.1, 3.15, 3.9, 4.6] } }), { color: false });
    expect(not).toMatch(/\n✗ 001  Positional vector replacement beats the attention-scaling baseline: not reproduced; 2L \+0\.050/);

    const miss = renderTerminalSummary(makeReport({ drop: METHODS.map((m) => m.id) }), { color: false });
    expect(miss.split("\n").filter((l) => /^– G\d  .*: Missing: /.test(l)).length).toBe(5);
    expect(miss.split("\n").filter((l) => /^– 00\d  .*: missing /.test(l)).length).toBe(7);
  });

  it("uses the gates and findings given", () => {
    const gates = computeGates(r);
    const findings = computeFindings(r, gates).map((f) => ({ ...f, summary: "GIVEN" }));
    expect(renderTerminalSummary(r, { color: false, gates, findings })).toContain("reproduced; GIVEN");
  });

  it("says when the report is partial", () => {
    const out = renderTerminalSummary(partialReport(), { color: false });
    expect(out).toContain("PARTIAL REPORT: interrupted during fine-tune rope-pi-ft");
    expect(out).not.toMatch(/NaN|undefined/);
  });

  it("uses ANSI colours only when asked, and the text is otherwise identical", () => {
    const plain = renderTerminalSummary(r, { color: false });
    const colored = renderTerminalSummary(r, { color: true });
    expect(colored).toContain("\x1b[");
    expect(strip(colored)).toBe(plain);
  });

  it("defaults to colour only on a TTY without NO_COLOR", () => {
    expect(defaultColor({}, true)).toBe(true);
    expect(defaultColor({ NO_COLOR: "1" }, true)).toBe(false);
    expect(defaultColor({ NO_COLOR: "" }, true)).toBe(true);
    expect(defaultColor({}, false)).toBe(false);
    // under vitest stdout is not a TTY: no colour by default
    if (!process.stdout.isTTY) expect(renderTerminalSummary(r)).not.toContain("\x1b");
  });
});
