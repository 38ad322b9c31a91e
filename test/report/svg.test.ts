import { describe, expect, it } from "vitest";
import { coord, heatmap, lineChart, linearTicks, logTicks, lossCurve, seriesStyle, tickLabel, viridis } from "../../dist/report/svg.js";

/** Every number in path data and in numeric attributes. */
function numbersIn(svg: string): string[] {
  const out: string[] = [];
  for (const m of svg.matchAll(/\sd="([^"]*)"/g)) out.push(...(m[1]!.match(/[^\sMLZ]+/g) ?? []));
  for (const m of svg.matchAll(/\s(?:x|y|x1|x2|y1|y2|cx|cy|r|width|height)="([^"]*)"/g)) out.push(m[1]!);
  for (const m of svg.matchAll(/viewBox="([^"]*)"/g)) out.push(...m[1]!.split(/\s+/));
  return out;
}

function expectFinite(svg: string) {
  expect(svg).not.toMatch(/NaN|Infinity|undefined/);
  const nums = numbersIn(svg);
  expect(nums.length).toBeGreaterThan(0);
  for (const n of nums) expect(Number.isFinite(Number(n)), `"${n}"`).toBe(true);
}

describe("logTicks", () => {
  it("uses 1-2-5 ticks over a few decades", () => {
    expect(logTicks(20, 2000)).toEqual([20, 30, 50, 100, 200, 300, 500, 1000, 2000]);
    expect(logTicks(20, 20000)).toEqual([20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000]);
  });
  it("uses powers of ten over many decades, thinned when too many", () => {
    expect(logTicks(1, 1e8)).toEqual([1, 10, 100, 1000, 1e4, 1e5, 1e6, 1e7, 1e8]);
    const t = logTicks(1, 1e20);
    expect(t.length).toBeLessThanOrEqual(11);
    expect(t[0]).toBe(1);
    for (const v of t) expect(Math.log10(v) % 1).toBeCloseTo(0, 9);
  });
  it("falls back to linear ticks within a decade", () => {
    expect(logTicks(25, 40)).toEqual([25, 30, 35, 40]);
    expect(logTicks(9, 31)).toEqual([9, 10, 20, 30]); // spans a decade boundary: 1…9 per decade
  });
  it("always returns increasing positive ticks inside the range", () => {
    for (const [a, b] of [
      [1.01, 1.02],
      [0.003, 0.9],
      [27, 3000],
      [5, 5.5],
      [1e-3, 1e12],
      [3.3, 4.1e4],
    ] as const) {
      const t = logTicks(a, b);
      expect(t.length, `${a}..${b}`).toBeGreaterThanOrEqual(2);
      for (let i = 0; i < t.length; i++) {
        expect(t[i]).toBeGreaterThan(0);
        expect(t[i]!).toBeGreaterThanOrEqual(a * (1 - 1e-9));
        expect(t[i]!).toBeLessThanOrEqual(b * (1 + 1e-9));
        if (i) expect(t[i]!).toBeGreaterThan(t[i - 1]!);
      }
    }
  });
  it("returns nothing for invalid ranges", () => {
    expect(logTicks(0, 10)).toEqual([]);
    expect(logTicks(-1, 10)).toEqual([]);
    expect(logTicks(NaN, 10)).toEqual([]);
    expect(logTicks(1, Infinity)).toEqual([]);
    expect(logTicks(7, 7)).toEqual([7]);
  });
  it("linear ticks and labels", () => {
    expect(linearTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(linearTicks(3.1, 3.9, 4)).toEqual([3.2, 3.4, 3.6, 3.8]);
    expect(tickLabel(2000)).toBe("2000");
    expect(tickLabel(20000)).toBe("20k");
    expect(tickLabel(2e6)).toBe("2e+6");
    expect(tickLabel(0.05)).toBe("0.05");
  });
});

describe("lineChart", () => {
  const bad = [null, NaN, Infinity, -Infinity, 0, -3, 1e308, 5, undefined];
  it("keeps every coordinate finite with null/NaN/±Infinity/0 in the data", () => {
    const svg = lineChart({
      title: "t",
      x: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      logX: true,
      series: [
        { label: "bad", values: bad },
        { label: "ok", values: [1, 2, 3, 4, 5, 6, 7, 8, 9] },
      ],
      vline: { x: 2, label: "L" },
    });
    expectFinite(svg);
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.endsWith("</svg>")).toBe(true);
    expect(svg).toContain("∞ (off the chart)");
  });
  it("draws an empty chart when nothing is plottable", () => {
    const svg = lineChart({ x: [NaN, 0, -1], logX: true, series: [{ label: "none", values: [null, NaN, Infinity] }], vline: { x: NaN, label: "L" } });
    expectFinite(svg);
    expect(svg).toContain("(no data)");
    expectFinite(lineChart({ x: [], series: [] }));
    expectFinite(lineChart({ x: [1, 2], series: [{ label: "flat", values: [3, 3] }], logY: false }));
  });
  it("has a legend entry per series, breaks lines at gaps, escapes text", () => {
    const svg = lineChart({ x: [1, 2, 3, 4], series: [{ label: "a <b> & 'c'", values: [1, null, 3, 4] }, { label: "z", values: [2, 2, 2, 2] }], yLabel: "perplexity" });
    expect(svg).toContain("a &lt;b&gt; &amp; &#39;c&#39;");
    expect(svg).not.toContain("<b>");
    const paths = [...svg.matchAll(/<path d="([^"]*)" fill="none"/g)].map((m) => m[1]!);
    expect(paths[0]!.match(/M/g)!.length).toBe(2); // the gap starts a new sub-path
    expect(svg).not.toContain("xmlns");
    expect(lineChart({ x: [1], series: [], standalone: true })).toContain('xmlns="http://www.w3.org/2000/svg"');
  });
  it("series with their own x, several vertical markers, no point markers, linear axes", () => {
    const svg = lineChart({
      title: "positions",
      x: [0, 512],
      logX: false,
      logY: false,
      vlines: [
        { x: 64, label: "L" },
        { x: 128, label: "2L" },
        { x: 256, label: "4L" },
        { x: NaN, label: "bad" },
      ],
      series: [
        { label: "long", x: [16, 48, 200, 480], values: [4, 3.5, 3.2, 5] },
        { label: "short", x: [8, 24, 40, 56, 1e9], values: [4.2, 3.8, 3.6, 3.5, NaN] },
      ],
      markers: false,
    });
    expectFinite(svg);
    expect(svg.match(/stroke-dasharray="5 4"/g)!.length).toBe(3);
    for (const l of ["L", "2L", "4L"]) expect(svg).toContain(`>${l}</text>`);
    expect(svg).not.toContain(">bad<");
    // no point markers in the plot, the lines carry the tooltip
    expect(svg).not.toMatch(/<circle[^>]*><title>/);
    expect(svg).toContain("<title>long</title></path>");
    const paths = [...svg.matchAll(/<path d="([^"]*)" fill="none"/g)].map((m) => m[1]!);
    expect(paths.length).toBe(2);
    expect(paths[0]!.match(/L/g)!.length).toBe(3); // 4 points, one sub-path
    expect(paths[1]!.match(/L/g)!.length).toBe(3); // the NaN at the end is dropped
    // the own x values set the domain: the point at 480 is right of the one at 200
    const xs = paths[0]!.split(/[ML]/).filter(Boolean).map((p) => Number(p.split(" ")[0]));
    for (let i = 1; i < xs.length; i++) expect(xs[i]!).toBeGreaterThan(xs[i - 1]!);
  });
  it("series styles are distinct for the first 7 and differ in dash after", () => {
    const s = Array.from({ length: 14 }, (_, i) => seriesStyle(i));
    expect(new Set(s.slice(0, 7).map((x) => x.color)).size).toBe(7);
    expect(s[7]!.color).toBe(s[0]!.color);
    expect(s[7]!.dash).not.toBe(s[0]!.dash);
  });
  it("coord never prints NaN", () => {
    expect(coord(NaN)).toBe("0");
    expect(coord(Infinity)).toBe("0");
    expect(coord(-0.001)).toBe("0");
    expect(coord(1.23456)).toBe("1.23");
  });
});

describe("heatmap and loss curve", () => {
  it("prints the values, greys out missing cells, stays finite", () => {
    const svg = heatmap({
      title: "passkey",
      rowLabels: ["L", "2L"],
      colLabels: ["0%", "50%", "100%"],
      values: [
        [0, 0.5, 1],
        [null, NaN, 2],
      ],
      reference: { value: 0.1, label: "chance" },
    });
    expectFinite(svg);
    expect(svg).toContain(">0.50<");
    expect(svg).toContain(">1.00<");
    expect(svg).toContain(">–<");
    expect(svg).toContain("chance");
    expect(svg).toContain(viridis(0));
    expect(svg).toContain(viridis(1)); // 2 is clamped to the top colour
  });
  it("viridis endpoints and clamping", () => {
    expect(viridis(0)).toBe("#440154");
    expect(viridis(1)).toBe("#fde725");
    expect(viridis(-5)).toBe("#440154");
    expect(viridis(NaN)).toBe("#c8ccd4");
  });
  it("loss curves with bad or no points", () => {
    expectFinite(lossCurve({ title: "x", points: [] }));
    expect(lossCurve({ points: [] })).toContain("no loss curve");
    expectFinite(lossCurve({ points: [{ step: 0, loss: NaN }, { step: 1, loss: 2 }, { step: 2, loss: null }, { step: 3, loss: Infinity }] }));
    expectFinite(lossCurve({ points: [{ step: 5, loss: 2 }] }));
  });
});
