/**
 * report.html: a self-contained page (inline CSS and SVG; no scripts, no network) rendered from a
 * StudyReport. Every number and every sentence on it comes from the report (the findings are
 * recomputed by computeFindings at each render).
 */
import type { StudyMethod, StudyModel, StudyReport } from "../study/report_schema.js";
import { badge, computeFindings, CRITERIA, type Finding } from "./findings.js";
import { bestIndices, escapeXml as esc, formatAcc, formatInt, formatNumber, formatPpl, formatSeconds, isFiniteNumber, isValue, lengthLabel } from "./format.js";
import { heatmap, lineChart, lossCurve, seriesStyle } from "./svg.js";

export interface HtmlOptions {
  /** Findings to show (default: computed from the report). */
  findings?: Finding[];
}

/** The method families shown in their own perplexity chart (by the model they run on). */
const FAMILIES: { seed: string; title: string; models: string[]; note: string }[] = [
  { seed: "000", title: "ALiBi: plain vs position interpolation", models: ["alibi"], note: "Seed 000: ALiBi-PI rescales the slopes by L/T beyond the training length." },
  {
    seed: "001",
    title: "NoPE and sliding-window models",
    models: ["nope", "window"],
    note: "Seed 001: positional vector replacement (NoPE) and attention window extension (window model), with the attention-scaling baseline.",
  },
  { seed: "003", title: "RoPE scalings: linear PI, NTK, dynamic NTK, YaRN", models: ["rope"], note: "Seed 003: YaRN static, dynamic and after a short fine-tune, against the earlier RoPE scalings." },
];

const CSS = `
:root { --ink: #1d2330; --muted: #5b6272; --line: #dde1e8; --zebra: #f5f7fa; --head: #eceff4; --accent: #0072B2; --yes: #009E73; --no: #D55E00; --na: #8f96a3; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--ink); background: #fff; font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1140px; margin: 0 auto; padding: 36px 32px 72px; }
h1 { font-size: 28px; line-height: 1.2; margin: 0 0 6px; letter-spacing: -0.01em; }
h2 { font-size: 20px; margin: 44px 0 14px; padding-bottom: 6px; border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 26px 0 8px; }
h4 { font-size: 14px; margin: 0 0 8px; }
p { margin: 8px 0; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 12.5px; }
.sub { color: var(--muted); margin: 0 0 18px; }
.muted { color: var(--muted); }
.small { font-size: 13px; }
nav.toc { font-size: 13.5px; margin: 14px 0 8px; display: flex; flex-wrap: wrap; gap: 4px 16px; }
.summary { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 10px; margin: 18px 0 6px; }
.kv { border: 1px solid var(--line); border-radius: 8px; padding: 9px 12px; background: #fafbfc; }
.kv .k { font-size: 11.5px; text-transform: uppercase; letter-spacing: 0.05em; color: var(--muted); }
.kv .v { font-size: 14.5px; font-weight: 600; overflow-wrap: anywhere; }
.kv .d { font-size: 12.5px; color: var(--muted); overflow-wrap: anywhere; }
.warn { border: 1px solid #e7b46a; background: #fff6e6; border-radius: 8px; padding: 10px 14px; margin: 14px 0; }
.findings { display: grid; gap: 12px; }
.finding { display: grid; grid-template-columns: 34px 1fr; gap: 4px 12px; border: 1px solid var(--line); border-left-width: 5px; border-radius: 8px; padding: 12px 16px 10px 12px; }
.finding.yes { border-left-color: var(--yes); } .finding.no { border-left-color: var(--no); } .finding.na { border-left-color: var(--na); }
.finding h3 { margin: 3px 0 2px; font-size: 15.5px; }
.finding p { margin: 2px 0 4px; font-size: 14px; }
.badge { display: inline-flex; align-items: center; justify-content: center; width: 28px; height: 28px; border-radius: 50%; color: #fff; font-weight: 700; font-size: 16px; }
.badge.yes { background: var(--yes); } .badge.no { background: var(--no); } .badge.na { background: var(--na); }
.tag { display: inline-block; font-size: 11.5px; font-weight: 600; padding: 1px 7px; border-radius: 10px; background: #e8eef6; color: #2b4a6b; margin-right: 6px; vertical-align: 1px; white-space: nowrap; }
.verdict { font-weight: 600; }
.tally { margin: 4px 0 14px; }
.wrap { overflow-x: auto; margin: 8px 0 6px; }
table { border-collapse: collapse; font-size: 13.5px; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { background: var(--head); font-weight: 600; border-bottom: 2px solid #c8ced8; vertical-align: bottom; }
tbody tr:nth-child(even) { background: var(--zebra); }
tbody tr:hover { background: #eaf2fb; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th.trained, td.trained { background: rgba(0, 114, 178, 0.08); }
thead th.trained { background: #dce8f3; }
td.best strong { color: #004f7c; }
td.na { color: #a0a6b0; }
tr.chosen td { background: #fff4d6; }
.th-sub { display: block; font-weight: 400; font-size: 11.5px; color: var(--muted); }
.swatch { display: inline-block; width: 18px; height: 0; border-top: 3px solid; vertical-align: middle; margin-right: 6px; }
.charts { display: grid; gap: 18px; }
.chart { max-width: 100%; height: auto; display: block; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 12px 12px 8px; background: #fff; }
figcaption { font-size: 13px; color: var(--muted); margin-top: 6px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 14px; }
.grid.small { grid-template-columns: repeat(auto-fill, minmax(270px, 1fr)); }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; background: #fff; overflow-x: auto; }
.grid.two { grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); }
.nowrap { white-space: nowrap; }
table.timing td:first-child { white-space: nowrap; }
td.barcell { width: 120px; }
table.timing { width: 100%; }
td.desc { min-width: 260px; }
.bar { display: inline-block; height: 10px; background: #8fb8d8; border-radius: 2px; vertical-align: middle; }
.params code { background: #f0f2f5; padding: 0 4px; border-radius: 3px; margin-right: 4px; white-space: nowrap; }
details { border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px; margin: 10px 0; }
details summary { cursor: pointer; font-weight: 600; }
details pre { background: var(--zebra); border-radius: 6px; padding: 12px; overflow: auto; max-height: 560px; margin: 10px 0 4px; }
footer { margin-top: 48px; padding-top: 12px; border-top: 1px solid var(--line); font-size: 12.5px; color: var(--muted); }
@media print { main { max-width: none; padding: 0; } h2 { break-after: avoid; } figure, .card, .finding { break-inside: avoid; } details { display: none; } }
`;

function cls(r: boolean | null): "yes" | "no" | "na" {
  return r === true ? "yes" : r === false ? "no" : "na";
}

function arr<T>(x: T[] | undefined | null): T[] {
  return Array.isArray(x) ? x : [];
}

function kv(k: string, v: string, d?: string): string {
  return `<div class="kv"><div class="k">${esc(k)}</div><div class="v">${esc(v)}</div>${d ? `<div class="d">${esc(d)}</div>` : ""}</div>`;
}

function lenHead(T: number, L: number): string {
  return `${esc(lengthLabel(T, L))}<span class="th-sub">${esc(formatInt(T))} tokens${T === L ? " · trained" : ""}</span>`;
}

function paramsText(p: StudyMethod["params"] | undefined): string {
  if (!p || typeof p !== "object") return "";
  return Object.entries(p)
    .map(([k, v]) => `<code>${esc(k)}=${esc(typeof v === "number" ? formatNumber(v, 4) : String(v))}</code>`)
    .join(" ");
}

// ------------------------------------------------------------------ sections

function header(r: StudyReport): string {
  const L = r.trainLength;
  const env = r.environment ?? ({} as StudyReport["environment"]);
  const corpus = r.corpus ?? ({} as StudyReport["corpus"]);
  const docs = corpus.documents ?? ({} as StudyReport["corpus"]["documents"]);
  const toks = corpus.tokens ?? ({} as StudyReport["corpus"]["tokens"]);
  const tk = corpus.tokenizer ?? ({} as StudyReport["corpus"]["tokenizer"]);
  const stagesTotal = Object.values(r.timings?.stages ?? {}).filter(isFiniteNumber).reduce((a, b) => a + b, 0);
  const items = [
    kv("Preset", `${r.preset} · seed ${r.seed} · ${r.device}`, `ctxwin ${r.ctxwin}`),
    kv("Training length L", `${formatInt(L)} tokens`, `evaluated at ${arr(r.lengths).map((T) => `${lengthLabel(T, L)} = ${T}`).join(", ")}`),
    kv("Corpus", String(corpus.source ?? "–"), `${formatInt(docs.train)} train / ${formatInt(docs.validation)} validation documents; ${formatInt(toks.train)} / ${formatInt(toks.validation)} tokens`),
    kv("Tokenizer", tk.type === "bpe" ? "byte-level BPE" : tk.type === "byte" ? "bytes" : String(tk.type ?? "–"), `vocabulary ${formatInt(tk.vocabSize)}`),
    kv("Models · methods", `${arr(r.models).length} models · ${arr(r.methods).length} methods`, `passkey: ${arr(r.passkey?.depths).length} depths × ${formatInt(r.passkey?.trials)} trials, ${formatInt(r.passkey?.digits)}-digit keys`),
    kv("Total time", formatSeconds(r.timings?.totalSeconds), stagesTotal ? `stages sum to ${formatSeconds(stagesTotal)}` : undefined),
    kv("Environment", `${env.platform ?? "–"} · node ${env.node ?? "–"}`, `${env.cpu ?? "–"}; ${formatInt(env.threads)} threads; ISA ${env.isa ?? "–"}; CUDA ${env.cuda ?? "none"}`),
    kv("Created", String(r.createdAt ?? "–").replace("T", " ").replace(/\.\d+Z$/, " UTC")),
  ];
  const interrupted = r.config && r.config.interrupted;
  return (
    `<header><h1>Context-window extension study</h1>` +
    `<p class="sub">ctxwin ${esc(r.ctxwin)} · ${esc(r.preset)} preset · models trained from scratch at L = ${esc(L)} tokens and evaluated at ${esc(arr(r.lengths).map((T) => lengthLabel(T, L)).join(", "))} on the same held-out tokens</p>` +
    (interrupted ? `<div class="warn"><strong>Partial report.</strong> The run was interrupted (${esc(String(interrupted))}); only finished stages are shown.</div>` : "") +
    `<div class="summary">${items.join("")}</div>` +
    `<nav class="toc"><a href="#findings">Findings</a><a href="#perplexity">Perplexity</a><a href="#table">Table</a><a href="#sweeps">Sweeps</a><a href="#passkey">Passkey</a><a href="#models">Models</a><a href="#timings">Timings</a><a href="#methods">Methods</a><a href="#config">Configuration</a></nav></header>`
  );
}

/** The paragraph, escaped, with the criterion and the verdict emphasised. */
function findingText(text: string): string {
  return esc(text)
    .replace(/(Criterion:)/, `<span class="muted">$1</span>`)
    .replace(/(Reproduced:|Not reproduced:|Not enough data:)/, `<span class="verdict">$1</span>`);
}

function findingsSection(findings: Finding[]): string {
  const n = (v: boolean | null) => findings.filter((f) => f.reproduced === v).length;
  const tally = `${n(true)} of ${findings.length} findings reproduced, ${n(false)} not reproduced${n(null) ? `, ${n(null)} without enough data` : ""}.`;
  const cards = findings
    .map((f) => {
      const c = cls(f.reproduced);
      const word = f.reproduced === true ? "reproduced" : f.reproduced === false ? "not reproduced" : "not enough data";
      return (
        `<div class="finding ${c}"><span class="badge ${c}" title="${word}" aria-label="${word}">${badge(f.reproduced)}</span>` +
        `<div><h3><span class="tag">seed ${esc(f.seed)}</span>${esc(f.title)}</h3><p>${findingText(f.text)}</p></div></div>`
      );
    })
    .join("");
  return (
    `<section id="findings"><h2>Seed findings</h2><p class="tally">${esc(tally)}</p>` +
    `<div class="findings">${cards}</div>` +
    `<p class="muted small">Each paragraph is generated from this run's perplexities with a fixed criterion (stated in it): ALiBi-PI within ${(CRITERIA.alibiPiTolerance * 100).toFixed(0)}% of the trained-length perplexity at 2L; extensions compared with their plain models at every length beyond L; YaRN compared at 4L and 8L; dynamic YaRN within ${(CRITERIA.dynamicAtLTolerance * 100).toFixed(0)}% of RoPE at L; "below" means lower by more than ${(CRITERIA.margin * 100).toFixed(1)}%. ✓ reproduced, ✗ not reproduced, – not enough data.</p></section>`
  );
}

function pplChart(r: StudyReport, methods: StudyMethod[], title: string, styleOf: (m: StudyMethod) => number, width = 1060, height = 380): string {
  const L = r.trainLength;
  const lengths = arr(r.lengths);
  return lineChart({
    title,
    x: lengths,
    logX: true,
    logY: true,
    xTicks: lengths.map((T) => ({ value: T, label: lengthLabel(T, L), sub: `${T} tokens` })),
    xLabel: "evaluation length (log scale)",
    yLabel: "perplexity (log scale)",
    vline: { x: L, label: `trained length L = ${L}` },
    series: methods.map((m) => ({ label: m.label ?? m.id, values: arr(m.ppl), ...seriesStyle(styleOf(m)) })),
    width,
    height,
    legendWidth: 240,
    format: formatPpl,
  });
}

function perplexitySection(r: StudyReport, styleOf: (m: StudyMethod) => number): string {
  const methods = arr(r.methods);
  const parts: string[] = [`<section id="perplexity"><h2>Perplexity vs evaluation length</h2>`];
  parts.push(
    `<p class="muted small">Held-out perplexity (log scale) at each evaluation length, one line per method; the dashed line marks the training length. Points above the chart's top edge (▲) diverged to infinity; gaps are lengths without a value; methods with equal values draw on top of each other. Hover a point for its value.</p>`,
  );
  parts.push(`<div class="charts"><figure>${pplChart(r, methods, "All methods", styleOf, 1060, 420)}</figure>`);
  const used = new Set<string>();
  const groups: { title: string; note: string; methods: StudyMethod[] }[] = FAMILIES.map((f) => {
    const ms = methods.filter((m) => f.models.includes(m.model));
    ms.forEach((m) => used.add(m.id));
    return { title: `Seed ${f.seed}: ${f.title}`, note: f.note, methods: ms };
  });
  const rest = methods.filter((m) => !used.has(m.id));
  if (rest.length) groups.push({ title: "Other methods", note: "", methods: rest });
  for (const g of groups) {
    if (!g.methods.length) continue;
    parts.push(`<figure>${pplChart(r, g.methods, g.title, styleOf, 1060, 340)}${g.note ? `<figcaption>${esc(g.note)}</figcaption>` : ""}</figure>`);
  }
  parts.push(`</div></section>`);
  return parts.join("");
}

function pplTable(r: StudyReport, styleOf: (m: StudyMethod) => number): string {
  const L = r.trainLength;
  const lengths = arr(r.lengths);
  const methods = arr(r.methods);
  const best = lengths.map((_, i) => new Set(bestIndices(methods.map((m) => arr(m.ppl)[i]))));
  const head =
    `<tr><th>Method</th><th>Seed</th><th>Model</th>` +
    lengths.map((T) => `<th class="num${T === L ? " trained" : ""}">${lenHead(T, L)}</th>`).join("") +
    `<th class="num">Mean passkey</th><th class="num">Wall time</th></tr>`;
  const rows = methods
    .map((m, mi) => {
      const st = seriesStyle(styleOf(m));
      const own = arr(m.ppl)[lengths.indexOf(L)];
      const cells = lengths
        .map((T, i) => {
          const v = arr(m.ppl)[i];
          const isBest = best[i]!.has(mi);
          const tc = T === L ? " trained" : "";
          if (!isValue(v)) return `<td class="num na${tc}">–</td>`;
          const rel = isFiniteNumber(own) && isFiniteNumber(v) && T !== L ? ` title="${esc(`${formatNumber(v / own, 2)}× its perplexity at L`)}"` : "";
          return isBest ? `<td class="num best${tc}"${rel}><strong>${esc(formatPpl(v))} ★</strong></td>` : `<td class="num${tc}"${rel}>${esc(formatPpl(v))}</td>`;
        })
        .join("");
      const pk = arr(m.passkey).flat().filter(isFiniteNumber);
      const pkMean = pk.length ? pk.reduce((a, b) => a + b, 0) / pk.length : NaN;
      return (
        `<tr><td><span class="swatch" style="border-color:${st.color}${st.dash ? ";border-top-style:dashed" : ""}"></span>${esc(m.label ?? m.id)}</td>` +
        `<td>${m.seed ? `<span class="tag">${esc(m.seed)}</span>` : `<span class="muted">baseline</span>`}</td><td>${esc(m.model)}</td>${cells}` +
        `<td class="num">${esc(formatAcc(pkMean))}</td><td class="num">${esc(formatSeconds(m.wallSeconds))}</td></tr>`
      );
    })
    .join("");
  return (
    `<section id="table"><h2>All methods at every length</h2>` +
    `<p class="muted small">Held-out perplexity; <strong>★ bold</strong> = lowest at that length; the shaded column is the trained length L. Mean passkey = accuracy averaged over all lengths and depths. Hover a value for its ratio to the method's own perplexity at L.</p>` +
    `<div class="wrap"><table class="ppl"><thead>${head}</thead><tbody>${rows}</tbody></table></div></section>`
  );
}

function sweepsSection(r: StudyReport): string {
  const L = r.trainLength;
  const lengths = arr(r.lengths);
  const cards: string[] = [];
  for (const m of arr(r.methods)) {
    for (const s of arr(m.sweeps)) {
      const rows = arr(s.ppl);
      const cols = lengths.map((_, i) => i).filter((i) => rows.some((row) => isValue(arr(row)[i])));
      const best = cols.map((i) => new Set(bestIndices(rows.map((row) => arr(row)[i]))));
      const head = `<tr><th>${esc(s.param)}</th>${cols.map((i) => `<th class="num">${lenHead(lengths[i]!, L)}</th>`).join("")}<th class="num">mean ln ppl</th></tr>`;
      const body = arr(s.values)
        .map((v, k) => {
          const row = arr(rows[k]);
          const vals = cols.map((i) => row[i]);
          const logs = vals.map((x) => (isValue(x) && x > 0 ? Math.log(x) : NaN));
          const obj = logs.length && logs.every((x) => !Number.isNaN(x)) ? logs.reduce((a, b) => a + b, 0) / logs.length : NaN;
          const chosen = v === s.chosen;
          return (
            `<tr${chosen ? ` class="chosen"` : ""}><td class="nowrap">${esc(typeof v === "number" ? formatNumber(v, 4) : String(v))}${chosen ? " ◆" : ""}</td>` +
            vals.map((x, j) => (best[j]!.has(k) ? `<td class="num best"><strong>${esc(formatPpl(x))}</strong></td>` : `<td class="num${isValue(x) ? "" : " na"}">${esc(formatPpl(x))}</td>`)).join("") +
            `<td class="num">${esc(Number.isFinite(obj) ? obj.toFixed(3) : obj === Infinity ? "∞" : "–")}</td></tr>`
          );
        })
        .join("");
      cards.push(
        `<div class="card"><h4>${esc(m.label ?? m.id)}: ${esc(s.param)} <span class="muted">(chosen ${esc(String(s.chosen))})</span></h4>` +
          `<table><thead>${head}</thead><tbody>${body}</tbody></table></div>`,
      );
    }
  }
  return (
    `<section id="sweeps"><h2>Parameter sweeps</h2>` +
    (cards.length
      ? `<p class="muted small">Perplexity on held-out tuning tokens (disjoint from the evaluation tokens) for each value tried; the value with the lowest mean ln perplexity beyond L was chosen (◆, highlighted). Sweeps run in order, each with the earlier ones' choices fixed.</p><div class="grid">${cards.join("")}</div>`
      : `<p class="muted">No sweeps in this report.</p>`) +
    `</section>`
  );
}

function passkeySection(r: StudyReport): string {
  const L = r.trainLength;
  const lengths = arr(r.lengths);
  const depths = arr(r.passkey?.depths);
  const scoring = (r.config?.passkeyScoring ?? {}) as { chance?: unknown; candidates?: unknown; rule?: unknown; template?: unknown };
  const chance = isFiniteNumber(scoring.chance) ? scoring.chance : undefined;
  const maps = arr(r.methods).map((m) => {
    const vals = arr(m.passkey).flat().filter(isFiniteNumber);
    const mean = vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : NaN;
    const svg = heatmap({
      title: m.label ?? m.id,
      rowLabels: lengths.map((T) => `${lengthLabel(T, L)} (${T})`),
      colLabels: depths.map((d) => `${formatNumber(d * 100, 0)}%`),
      values: lengths.map((_, i) => depths.map((_, j) => arr(arr(m.passkey)[i])[j] ?? null)),
      min: 0,
      max: 1,
      colTitle: "depth of the key in the filler",
      cellWidth: 42,
      cellHeight: 26,
      ...(chance !== undefined ? { reference: { value: chance, label: "chance" } } : {}),
    });
    return `<figure>${svg}<figcaption>mean ${esc(formatAcc(mean))}${chance !== undefined ? ` (chance ${esc(formatAcc(chance))})` : ""}</figcaption></figure>`;
  });
  const desc =
    `Passkey retrieval: a ${esc(formatInt(r.passkey?.digits))}-digit number hidden in filler text at a depth from 0% (start) to 100% (end), prompt length = evaluation length; ` +
    `${esc(formatInt(r.passkey?.trials))} trial(s) per cell; cells show the accuracy (0–1, viridis scale).` +
    (isFiniteNumber(scoring.candidates) ? ` A trial scores when the true key is the most likely of ${esc(scoring.candidates)} candidates${chance !== undefined ? ` (chance ${esc(formatAcc(chance))})` : ""}.` : "");
  return `<section id="passkey"><h2>Passkey retrieval</h2><p class="muted small">${desc}</p>${maps.length ? `<div class="grid small">${maps.join("")}</div>` : `<p class="muted">No methods.</p>`}</section>`;
}

function modelsSection(r: StudyReport): string {
  const models = arr(r.models);
  if (!models.length) return `<section id="models"><h2>Models</h2><p class="muted">No models in this report.</p></section>`;
  const rows = models
    .map(
      (m: StudyModel) =>
        `<tr><td><strong>${esc(m.name)}</strong></td><td>${esc(m.positional)}</td><td class="num">${esc(m.window === null || m.window === undefined ? "–" : formatInt(m.window))}</td>` +
        `<td class="num">${esc(formatInt(m.params))}</td><td class="num">${esc(formatInt(m.trainSteps))}</td><td class="num">${esc(formatInt(m.trainTokens))}</td>` +
        `<td class="num">${esc(isFiniteNumber(m.finalTrainLoss) ? m.finalTrainLoss.toFixed(3) : "–")}</td><td class="num">${esc(formatPpl(m.valPplAtL))}</td>` +
        `<td class="num">${esc(formatSeconds(m.wallSeconds))}</td><td>${m.cached ? "cached" : "trained"}</td></tr>`,
    )
    .join("");
  const curves = models
    .map((m, i) => `<figure>${lossCurve({ title: `${m.name} (${m.positional})`, points: arr(m.lossCurve), color: seriesStyle(i).color })}<figcaption>final loss ${esc(isFiniteNumber(m.finalTrainLoss) ? m.finalTrainLoss.toFixed(3) : "–")} after ${esc(formatInt(m.trainSteps))} steps</figcaption></figure>`)
    .join("");
  return (
    `<section id="models"><h2>Models</h2><p class="muted small">Trained from scratch at L = ${esc(r.trainLength)} (or loaded from the cache of an identical earlier run: the wall time is then that of the original training). Validation perplexity at L on the evaluation tokens.</p>` +
    `<div class="wrap"><table><thead><tr><th>Model</th><th>Positional</th><th class="num">Window</th><th class="num">Parameters</th><th class="num">Steps</th><th class="num">Tokens</th><th class="num">Final train loss</th><th class="num">Val. ppl at L</th><th class="num">Train time</th><th></th></tr></thead><tbody>${rows}</tbody></table></div>` +
    `<h3>Training loss</h3><div class="grid small">${curves}</div></section>`
  );
}

function barRow(label: string, seconds: unknown, max: number): string {
  const w = isFiniteNumber(seconds) && max > 0 ? Math.max(1, Math.round((seconds / max) * 110)) : 0;
  return `<tr><td>${label}</td><td class="num">${esc(formatSeconds(seconds))}</td><td class="barcell"><span class="bar" style="width:${w}px"></span></td></tr>`;
}

function timingsSection(r: StudyReport): string {
  const methods = arr(r.methods);
  const mMax = Math.max(0, ...methods.map((m) => m.wallSeconds).filter(isFiniteNumber));
  const mRows = methods
    .map((m) => barRow(`${esc(m.label ?? m.id)}${isFiniteNumber(m.fineTuneSteps) ? ` <span class="muted small">(incl. ${esc(formatInt(m.fineTuneSteps))} fine-tune steps)</span>` : ""}`, m.wallSeconds, mMax))
    .join("");
  const stages = Object.entries(r.timings?.stages ?? {});
  const sMax = Math.max(0, ...stages.map(([, v]) => v).filter(isFiniteNumber));
  const sRows = stages.map(([k, v]) => barRow(`<code>${esc(k)}</code>`, v, sMax)).join("");
  return (
    `<section id="timings"><h2>Timings</h2><p>Total wall time <strong>${esc(formatSeconds(r.timings?.totalSeconds))}</strong> on ${esc(r.device)}${r.environment?.threads ? ` (${esc(r.environment.threads)} threads)` : ""}.</p>` +
    `<div class="grid two"><div class="card"><h4>Per method</h4><p class="muted small">Sweeps, evaluation at every length and passkey; for the fine-tuned YaRN including the fine-tune, for PV replacement including the positional vectors.</p><table class="timing"><thead><tr><th>Method</th><th class="num">Time</th><th></th></tr></thead><tbody>${mRows}</tbody></table></div>` +
    `<div class="card"><h4>Per stage</h4><p class="muted small">Wall time of each pipeline stage (train.* includes saving; eval.* the evaluation of every method of that model).</p><table class="timing"><thead><tr><th>Stage</th><th class="num">Time</th><th></th></tr></thead><tbody>${sRows || `<tr><td colspan="3" class="muted">none recorded</td></tr>`}</tbody></table></div></div></section>`
  );
}

function methodsSection(r: StudyReport): string {
  const rows = arr(r.methods)
    .map(
      (m) =>
        `<tr><td class="nowrap"><code>${esc(m.id)}</code></td><td>${esc(m.label ?? m.id)}</td><td>${m.seed ? `<span class="tag">${esc(m.seed)}</span>` : `<span class="muted">–</span>`}</td><td>${esc(m.model)}</td>` +
        `<td class="desc">${esc(m.description ?? "")}</td><td class="params">${paramsText(m.params)}${isFiniteNumber(m.fineTuneSteps) ? ` <code>fineTuneSteps=${esc(m.fineTuneSteps)}</code>` : ""}</td></tr>`,
    )
    .join("");
  return `<section id="methods"><h2>Methods</h2><p class="muted small">Settings as used (after the sweeps chose them).</p><div class="wrap"><table><thead><tr><th>Id</th><th>Label</th><th>Seed</th><th>Model</th><th>Description</th><th>Parameters</th></tr></thead><tbody>${rows}</tbody></table></div></section>`;
}

function configSection(r: StudyReport): string {
  let json: string;
  try {
    json = JSON.stringify(r.config ?? {}, null, 2);
  } catch {
    json = String(r.config);
  }
  let env: string;
  try {
    env = JSON.stringify(r.environment ?? {}, null, 2);
  } catch {
    env = String(r.environment);
  }
  return (
    `<section id="config"><h2>Configuration</h2>` +
    `<details><summary>Full configuration (report.json → config)</summary><pre>${esc(json)}</pre></details>` +
    `<details><summary>Environment</summary><pre>${esc(env)}</pre></details></section>`
  );
}

/** The whole page. */
export function renderHtml(report: StudyReport, opts: HtmlOptions = {}): string {
  const findings = opts.findings ?? computeFindings(report);
  const index = new Map(arr(report.methods).map((m, i) => [m, i] as const));
  const styleOf = (m: StudyMethod) => index.get(m) ?? 0;
  const title = `ctxwin study report: ${report.preset}, seed ${report.seed}`;
  return (
    `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>${esc(title)}</title><style>${CSS}</style></head><body><main>` +
    header(report) +
    findingsSection(findings) +
    perplexitySection(report, styleOf) +
    pplTable(report, styleOf) +
    sweepsSection(report) +
    passkeySection(report) +
    modelsSection(report) +
    timingsSection(report) +
    methodsSection(report) +
    configSection(report) +
    `<footer>Generated by ctxwin ${esc(report.ctxwin)} from report.json (schema ${esc(report.schema)}), run created ${esc(report.createdAt)}. Every number and sentence on this page is computed from that file; re-render with <code>ctxwin report DIR</code>.</footer>` +
    `</main></body></html>\n`
  );
}
