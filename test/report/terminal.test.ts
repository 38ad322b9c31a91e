import { describe, expect, it } from "vitest";
import { defaultColor, renderTerminalSummary, visibleWidth } from "../../lib/report/terminal.js";
import { makeReport, missingReport } from "./fixture.js";

const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");

describe("renderTerminalSummary", () => {
  const r = makeReport();

  it("prints an aligned fixed-width table with the best per length marked *", () => {
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
    // one * per best value (ties at L: RoPE, dynamic NTK and dynamic YaRN all 27.00)
    const stars = table.slice(2).join("\n").match(/\*/g) ?? [];
    expect(stars.length).toBe(r.lengths.length + 2);
    expect(table.filter((l) => /27\.00\*/.test(l)).length).toBe(3);
    expect(out).toMatch(/YaRN fine-tuned \(×4\) .*29\.00\* +30\.00\* +60\.00 /);
    expect(out).toMatch(/Window \+ window extension .* 50\.00\*/);
    for (const m of r.methods) expect(out).toContain(m.label);
  });

  it("marks every value displayed equal to the best", () => {
    const r2 = makeReport();
    r2.methods.find((m) => m.id === "yarn-finetuned")!.ppl[1] = 29.001; // shown as 29.00, like the best 29.00
    r2.methods.find((m) => m.id === "yarn")!.ppl[1] = 28.999;
    const out = renderTerminalSummary(r2, { color: false });
    expect(out).toMatch(/YaRN static \(×4\) .*29\.00\*/);
    expect(out).toMatch(/YaRN fine-tuned \(×4\) .*29\.00\*/);
  });

  it("prints one line per finding with ✓ / ✗ / –", () => {
    const ok = renderTerminalSummary(r, { color: false });
    expect(ok.split("\n").filter((l) => l.startsWith("✓ ")).length).toBe(7);
    const miss = renderTerminalSummary(missingReport(), { color: false });
    expect(miss.split("\n").filter((l) => l.startsWith("– ")).length).toBe(7);
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
