/**
 * The pieces every report shares (lib/report/page.ts, svg.ts heatmaps, terminal.ts tables) and the
 * `analyze heads` page and table built from them (lib/report/heads.ts).
 */
import { describe, expect, it } from "vitest";
import { divergingColor, heatmap, viridis } from "../../dist/report/svg.js";
import { formatTable } from "../../dist/report/terminal.js";
import { CSS, htmlPage, htmlTable } from "../../dist/report/page.js";
import { formatScore, renderHeadsHtml, renderHeadsSummary } from "../../dist/report/heads.js";
import type { HeadsReport } from "../../dist/analyze/heads_schema.js";

const fills = (svg: string) => [...svg.matchAll(/<rect [^>]*fill="(#[0-9a-f]{6})"><title>/g)].map((m) => m[1]);

describe("heatmap scales", () => {
  it("diverging: symmetric about 0 by default, white at 0, blue below, red above", () => {
    const svg = heatmap({ rowLabels: ["a"], colLabels: ["x", "y", "z"], values: [[-2, 0, 1]], diverging: true });
    const [neg, zero, pos] = fills(svg);
    expect(zero).toBe("#f7f7f7");
    expect(neg).toBe(divergingColor(0));
    expect(pos).toBe(divergingColor(0.75)); // 1 on [−2, 2]
    expect(parseInt(neg!.slice(5, 7), 16)).toBeGreaterThan(parseInt(neg!.slice(1, 3), 16)); // blue > red
    expect(parseInt(pos!.slice(1, 3), 16)).toBeGreaterThan(parseInt(pos!.slice(5, 7), 16));
    expect(svg).not.toMatch(/NaN|undefined/);
  });
  it("categorical fill, no colour bar; showValues: false leaves the cells without text", () => {
    const svg = heatmap({ rowLabels: ["a"], colLabels: ["x", "y"], values: [[0, 1]], fill: (v) => (v === 0 ? "#123456" : "#abcdef"), showValues: false });
    expect(fills(svg)).toEqual(["#123456", "#abcdef"]);
    expect(svg).not.toContain(viridis(0.5));
    expect(svg).not.toMatch(/tabular-nums/);
    const seq = heatmap({ rowLabels: ["a"], colLabels: ["x"], values: [[0.5]], min: 0, max: 1, barFormat: (v) => `<${v}>` });
    expect(fills(seq)).toEqual([viridis(0.5)]);
    expect(seq).toContain("&lt;1&gt;");
  });
});

describe("formatTable", () => {
  it("pads columns (first left, others right), rules the header, highlights cells only with colour", () => {
    const lines = formatTable(["task", "R²"], [["copy", "0.951"], { cells: ["copy-continue", "1"], highlight: [false, true] }]);
    expect(lines).toEqual(["task              R²", "-------------  -----", "copy           0.951", "copy-continue      1"]);
    const coloured = formatTable(["a", "b"], [{ cells: ["x", "y"], highlight: [false, true] }], { color: true });
    expect(coloured[0]).toBe("\x1b[1ma  b\x1b[0m");
    expect(coloured[2]).toBe("x  \x1b[1;32my\x1b[0m");
    expect(formatTable(["a", "b"], [["xx", "y"]], { align: ["right", "left"] })[2]).toBe("xx  y");
  });
});

describe("page", () => {
  it("is one self-contained document with the shared stylesheet", () => {
    const html = htmlPage("a <b>", "<p>body</p>", "made by <code>x</code>");
    expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
    expect(html).toContain("<title>a &lt;b&gt;</title>");
    expect(html).toContain(CSS);
    expect(html).toContain("<footer>made by <code>x</code></footer>");
    expect(html).not.toMatch(/<script|<link/);
    const t = htmlTable({ head: ["Task", "R²"], rows: [["copy", "0.9"]], numeric: [1] });
    expect(t).toContain(`<th class="num">R²</th>`);
    expect(t).toContain(`<td class="num">0.9</td>`);
  });
});

function headsReport(): HeadsReport {
  const map = (s: number) => [
    [0.1 * s, 0.2 * s],
    [0.3 * s, -0.05 * s],
  ];
  const task = (name: string, s: number) => ({ task: name, files: ["t.jsonl"], examples: 4, tokens: 20, loss: 3.21, signed: map(s), absolute: map(s).map((r) => r.map(Math.abs)), gini: { signed: 0.3, absolute: 0.3 }, seconds: 0.5 });
  const cp = (label: string, s: number) => ({
    label,
    dir: `/m/${label}`,
    model: { family: "llama", modelType: "llama", layers: 2, heads: 2, kvHeads: 1, headDim: 4, vocabSize: 10, parameters: 1000 },
    tasks: [task("copy", s), task("reverse", 2 * s)],
    decomposition: [
      { task: "copy", onto: ["reverse"], coefficients: [0.5], intercept: 0, r2: 1, rmse: 0, r2EqualWeights: 1 },
      { task: "reverse", onto: ["copy"], coefficients: [2], intercept: 0, r2: NaN as unknown as null, rmse: 0, r2EqualWeights: null },
    ],
    clusters: { k: 2, assignments: [[0, 0], [1, 1]], clusters: [{ id: 0, size: 2, centroid: [1, 1], heads: [[0, 0], [0, 1]] as [number, number][] }, { id: 1, size: 2, centroid: [0.2, 0.2], heads: [[1, 0], [1, 1]] as [number, number][] }], inertia: 0.1, iterations: 2, tasks: ["copy", "reverse"] },
  });
  return {
    kind: "ctxwin-heads",
    schema: 1,
    ctxwin: "0.0.0",
    createdAt: "2025-01-01T00:00:00Z",
    config: { taskFiles: ["t.jsonl"], tokenizer: null, score: "signed", clusters: 2, batchSize: 8, maxExamples: null, maxLength: null, decomposition: "nnls" },
    device: "cpu",
    environment: { node: "v22", platform: "linux-x64", cpu: "x" },
    definitions: { score: "Γ·∂L/∂Γ <per example>" },
    checkpoints: [cp("before", 1), cp("after", 1.5)],
    comparison: {
      before: "before",
      after: "after",
      tasks: [{ task: "copy", delta: map(0.5), relativeChange: 0.5, correlation: 1, giniBefore: 0.3, giniAfter: 0.3, topChanged: [{ layer: 1, head: 0, before: 0.3, after: 0.45, delta: 0.15 }], lossBefore: 3.2, lossAfter: 2.9 }],
    },
    timings: { totalSeconds: 2 },
  } as HeadsReport;
}

describe("analyze heads page and table", () => {
  it("renders every section from the report, escapes text, shows missing numbers as –", () => {
    const r = headsReport();
    const html = renderHeadsHtml(r);
    for (const id of ["cp0-maps", "cp0-decomposition", "cp0-clusters", "cp1-maps", "comparison", "definitions", "config"]) expect(html).toContain(`id="${id}"`);
    expect(html).toContain("What changed: before → after");
    expect(html).toContain("Γ·∂L/∂Γ &lt;per example&gt;");
    expect(html).not.toMatch(/NaN|undefined|<script/);
    expect(html).toContain("–"); // the NaN R² of "reverse"
    expect((html.match(/<svg/g) ?? []).length).toBe(2 * 2 + 2 + 1); // maps, cluster maps, Δ map
    const t = renderHeadsSummary(r, { color: false });
    expect(t).toMatch(/^before: llama, 2 layers × 2 heads/);
    expect(t).toMatch(/copy\s+4\s+3\.210\s+0\.300\s+1\.000\s+1\.000\s+L1\.H0 L0\.H1 L0\.H0/);
    expect(t).toMatch(/reverse .* – +– /);
    expect(t).toMatch(/copy\s+0\.500\s+1\.000\s+0\.300 → 0\.300\s+3\.200 → 2\.900\s+L1\.H0/);
    expect(t).not.toContain("\x1b");
  });
  it("formats scores with 3 significant digits and a real minus sign", () => {
    expect(formatScore(0.012345)).toBe("0.0123");
    expect(formatScore(-0.00012)).toBe("−1.20e-4");
    expect(formatScore(12.5)).toBe("12.5");
    expect(formatScore(null)).toBe("–");
  });
});
