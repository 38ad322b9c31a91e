/**
 * report.html: a self-contained page (inline CSS and SVG; no scripts, no network) rendered from a
 * StudyReport (schema 2). Every number and every sentence on it comes from the report: the gates
 * and findings are recomputed by computeGates / computeFindings at each render, the intervals from
 * the per-document NLL sums and the passkey counts stored in report.json.
 *
 * Sections (each with an id, in the table of contents): header, gates, findings, deviations, nll
 * (charts), table (every method at every length), positions (where methods break), passkey,
 * sweeps, models, timings, methods, config.
 */
import type { PasskeyCell, StudyMethod, StudyModel, StudyReport, StudySweep } from "../study/report_schema.js";
import { wilson } from "../study/stats.js";
import { badge, computeFindings, computeGates, type Finding, type Gate, type Verdict } from "./findings.js";
import { bestIndices, escapeXml as esc, formatAcc, formatInt, formatNll, formatNumber, formatPpl, formatSeconds, isFiniteNumber, isValue, lengthLabel } from "./format.js";
import { heatmap, lineChart, lossCurve, seriesStyle } from "./svg.js";
import { cls, htmlPage, kv } from "./page.js";

export interface HtmlOptions {
  /** Gates to show (default: computed from the report). */
  gates?: Gate[];
  /** Findings to show (default: computed from the report with those gates). */
  findings?: Finding[];
}

const FINE_TUNE_MODELS = ["rope-ft", "rope-pi-ft", "rope-ntk-ft", "yarn-ft"];

/** The method families with their own charts (NLL by length, NLL by position). */
interface Family {
  id: string;
  title: string;
  note: string;
  select: (m: StudyMethod) => boolean;
}

function families(r: StudyReport): Family[] {
  const ft = arr(r.models).filter((m) => FINE_TUNE_MODELS.includes(m.name));
  const ftLen = [...new Set(ft.map((m) => m.seqLen).filter(isFiniteNumber))];
  const at = ftLen.length ? ` at ${ftLen.map((T) => `${lengthLabel(T, r.trainLength)} = ${T} tokens`).join(", ")}` : "";
  return [
    {
      id: "nope",
      title: "NoPE family: NoPE and sliding-window models",
      note: "Seed 001: attention scaling and positional vector replacement on the NoPE model, attention window extension on the window model.",
      select: (m) => m.model === "nope" || m.model === "window",
    },
    { id: "alibi", title: "ALiBi", note: "Seed 000: ALiBi-PI multiplies the slopes by L/T beyond the training length.", select: (m) => m.model === "alibi" },
    { id: "rope", title: "RoPE, training-free", note: "Seed 003: static and dynamic YaRN against linear PI, NTK-aware and dynamic scalings, all on the RoPE model as trained.", select: (m) => m.model === "rope" },
    {
      id: "rope-ft",
      title: "RoPE fine-tuned",
      note: `The RoPE model fine-tuned${at} with plain RoPE (the control), linear PI, NTK and YaRN (seed 003); plain RoPE without fine-tuning for reference.`,
      select: (m) => FINE_TUNE_MODELS.includes(m.model) || m.id === "rope",
    },
  ];
}

/** The methods of each family (a method may appear in two: "rope" is the fine-tunes' reference), then the rest. */
function grouped(r: StudyReport, methods: StudyMethod[]): { title: string; note: string; methods: StudyMethod[] }[] {
  const used = new Set<StudyMethod>();
  const out = families(r).map((f) => {
    const ms = methods.filter(f.select);
    ms.forEach((m) => used.add(m));
    return { title: f.title, note: f.note, methods: ms };
  });
  const rest = methods.filter((m) => !used.has(m));
  if (rest.length) out.push({ title: "Other methods", note: "", methods: rest });
  return out.filter((g) => g.methods.length);
}

function arr<T>(x: T[] | undefined | null): T[] {
  return Array.isArray(x) ? x : [];
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

/** "+0.412" / "−0.120" (nats). */
function signed(x: number): string {
  return `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(3)}`;
}

function bucketLabel(r: StudyReport, i: number): string {
  const b = arr(r.passkey?.buckets)[i];
  if (!b) return "?";
  const L = r.trainLength;
  return b.lo === 0 ? `≤ ${lengthLabel(b.hi, L)}` : `(${lengthLabel(b.lo, L)}, ${lengthLabel(b.hi, L)}]`;
}

function verdictWord(v: Verdict): string {
  return v === "not testable" ? "not testable at this scale" : v === "missing" ? "missing data" : v;
}

function label(m: StudyMethod): string {
  return m.label ?? m.id;
}

function swatch(i: number): string {
  const st = seriesStyle(i);
  return `<span class="swatch" style="border-color:${st.color}${st.dash ? ";border-top-style:dashed" : ""}"></span>`;
}

// ------------------------------------------------------------------ sections

const TOC: [string, string][] = [
  ["gates", "Gates"],
  ["findings", "Findings"],
  ["deviations", "Deviations"],
  ["nll", "NLL vs length"],
  ["table", "Table"],
  ["positions", "Where methods break"],
  ["passkey", "Passkey"],
  ["sweeps", "Sweeps"],
  ["models", "Models"],
  ["timings", "Timings"],
  ["methods", "Methods"],
  ["config", "Configuration"],
];

function tokensPerModel(models: StudyModel[]): { v: string; d?: string } {
  if (!models.length) return { v: "–" };
  const groups = new Map<string, string[]>();
  for (const m of models) {
    const key = `${formatInt(m.trainTokens)} tokens in sequences of ${formatInt(m.seqLen)}`;
    groups.set(key, [...(groups.get(key) ?? []), m.name]);
  }
  const scratch = models.filter((m) => m.base === null || m.base === undefined);
  const sv = [...new Set(scratch.map((m) => formatInt(m.trainTokens)))];
  return {
    v: sv.length ? `${sv.join(" / ")} per model from scratch` : `${[...new Set(models.map((m) => formatInt(m.trainTokens)))].join(" / ")} per model`,
    d: [...groups].map(([k, names]) => `${names.join(", ")}: ${k}`).join("; "),
  };
}

function header(r: StudyReport): string {
  const L = r.trainLength;
  const env = r.environment ?? ({} as StudyReport["environment"]);
  const corpus = r.corpus ?? ({} as StudyReport["corpus"]);
  const docs = corpus.documents ?? ({} as StudyReport["corpus"]["documents"]);
  const toks = corpus.tokens ?? ({} as StudyReport["corpus"]["tokens"]);
  const tk = corpus.tokenizer ?? ({} as StudyReport["corpus"]["tokenizer"]);
  const ev = r.evaluation ?? ({} as StudyReport["evaluation"]);
  const pk = r.passkey ?? ({} as StudyReport["passkey"]);
  const buckets = arr(pk.buckets);
  const stagesTotal = Object.values(r.timings?.stages ?? {}).filter(isFiniteNumber).reduce((a, b) => a + b, 0);
  const tpm = tokensPerModel(arr(r.models));
  const nDocs = arr(ev.documents).length;
  const items = [
    kv("Preset", `${r.preset} · seed ${r.seed} · ${r.device}`, `ctxwin ${r.ctxwin}`),
    kv("Training length L", `${formatInt(L)} tokens`, `evaluated at ${arr(r.lengths).map((T) => `${lengthLabel(T, L)} = ${T}`).join(", ")}`),
    kv("Corpus", String(corpus.source ?? "–"), `${formatInt(docs.train)} train / ${formatInt(docs.validation)} held-out documents; ${formatInt(toks.train)} / ${formatInt(toks.validation)} tokens`),
    kv("Tokenizer", tk.type === "bpe" ? "byte-level BPE" : tk.type === "byte" ? "bytes" : String(tk.type ?? "–"), `vocabulary ${formatInt(tk.vocabSize)}`),
    kv("Tokens per model", tpm.v, tpm.d),
    kv(
      "Evaluation set",
      `${formatInt(nDocs)} documents · ${formatInt(ev.windows)} windows`,
      `${formatInt(ev.targets)} scored targets per window (${formatInt(isFiniteNumber(ev.windows) && isFiniteNumber(ev.targets) ? ev.windows * ev.targets : NaN)} per method and length, the same at every length); tuning: ${formatInt(ev.tuneDocuments)} other documents, ${formatInt(ev.tuneWindows)} windows`,
    ),
    kv("Passkey", `${buckets.length} distance buckets × ${formatInt(pk.trials)} trials`, `${formatInt(pk.digits)}-digit keys; buckets ${buckets.map((_, i) => bucketLabel(r, i)).join(", ")}`),
    kv("Models · methods", `${arr(r.models).length} models · ${arr(r.methods).length} methods`),
    kv("Total time", formatSeconds(r.timings?.totalSeconds), stagesTotal ? `stages sum to ${formatSeconds(stagesTotal)}` : undefined),
    kv("Environment", `${env.platform ?? "–"} · node ${env.node ?? "–"}`, `${env.cpu ?? "–"}; ${formatInt(env.threads)} threads; ISA ${env.isa ?? "–"}; CUDA ${env.cuda ?? "none"}`),
    kv("Created", String(r.createdAt ?? "–").replace("T", " ").replace(/\.\d+Z$/, " UTC")),
  ];
  const interrupted = r.config && r.config.interrupted;
  return (
    `<header><h1>Context-window extension study</h1>` +
    `<p class="sub">ctxwin ${esc(r.ctxwin)} · ${esc(r.preset)} preset · models trained from scratch at L = ${esc(L)} tokens and evaluated at ${esc(arr(r.lengths).map((T) => lengthLabel(T, L)).join(", "))} on the same held-out targets</p>` +
    (interrupted ? `<div class="warn"><strong>Partial report.</strong> The run was interrupted (${esc(String(interrupted))}); only finished stages are shown, and gates or findings without their numbers say so.</div>` : "") +
    `<div class="summary">${items.join("")}</div>` +
    `<nav class="toc">${TOC.map(([id, t]) => `<a href="#${id}">${esc(t)}</a>`).join("")}</nav></header>`
  );
}

function gatesSection(gates: Gate[]): string {
  const rows = gates
    .map((g) => {
      const c = cls(g.pass);
      const word = g.pass === true ? "passes" : g.pass === false ? "fails" : "missing";
      return (
        `<tr><td class="badgecell"><span class="badge ${c}" title="${word}" aria-label="${word}">${badge(g.pass)}</span></td>` +
        `<td class="gid">${esc(g.id)}</td><td>${esc(g.title)}</td><td class="small">${esc(g.criterion)}</td><td class="measured small">${esc(g.text)}</td></tr>`
      );
    })
    .join("");
  const n = (v: boolean | null) => gates.filter((g) => g.pass === v).length;
  return (
    `<section id="gates"><h2>Gates</h2>` +
    `<p class="muted small">A gate asks whether this setup can show an effect at all (does the baseline actually break where the papers' methods would help?). A finding whose gate fails is not testable at this scale. ${n(true)} of ${gates.length} gates pass${n(false) ? `, ${n(false)} fail` : ""}${n(null) ? `, ${n(null)} missing data` : ""}. ✓ passes, ✗ fails, – missing data.</p>` +
    `<div class="wrap"><table class="gates"><thead><tr><th></th><th>Gate</th><th>Title</th><th>Criterion</th><th>Measured (95% interval)</th></tr></thead><tbody>${rows}</tbody></table></div></section>`
  );
}

/** The paragraph, escaped, with the criterion and the verdict emphasised. */
function findingText(text: string): string {
  return esc(text)
    .replace(/(Criterion:)/, `<span class="muted">$1</span>`)
    .replace(/(Reproduced\.|Not reproduced:|Not testable at this scale:|Not enough data:)/, `<span class="verdict">$1</span>`);
}

function findingsSection(findings: Finding[]): string {
  const n = (v: Verdict) => findings.filter((f) => f.verdict === v).length;
  const tally =
    `${n("reproduced")} of ${findings.length} reproduced, ${n("not reproduced")} not reproduced, ${n("not testable")} not testable at this scale` +
    (n("missing") ? `, ${n("missing")} missing data` : "") +
    ".";
  const cards = findings
    .map((f) => {
      const c = cls(f.reproduced);
      const word = verdictWord(f.verdict);
      return (
        `<div class="finding ${c}"><span class="badge ${c}" title="${esc(word)}" aria-label="${esc(word)}">${badge(f.reproduced)}</span>` +
        `<div><h3><span class="tag">seed ${esc(f.seed)}</span>${esc(f.title)}</h3>` +
        `<p class="needs">needs ${f.gates.map((g) => `<span class="tag">${esc(g)}</span>`).join("")} · verdict: <span class="verdict">${esc(word)}</span></p>` +
        `<p>${findingText(f.text)}</p></div></div>`
      );
    })
    .join("");
  return (
    `<section id="findings"><h2>Seed findings</h2><p class="tally">${esc(tally)}</p>` +
    `<div class="findings">${cards}</div>` +
    `<p class="muted small">Each paragraph is generated from this run's numbers with a fixed criterion (stated in it). Every NLL comparison is paired (the same targets for every method and length) with a 95% document-bootstrap interval of the mean difference; every passkey accuracy has a 95% Wilson interval; a criterion holds only when its whole interval satisfies it. ✓ reproduced, ✗ not reproduced, – not testable at this scale (a gate fails) or missing data.</p></section>`
  );
}

function deviationsSection(r: StudyReport): string {
  const devs = arr(r.deviations);
  return (
    `<section id="deviations"><h2>Deviations from the papers</h2>` +
    (devs.length ? `<ol class="deviations">${devs.map((d) => `<li>${esc(d)}</li>`).join("")}</ol>` : `<p class="muted">None recorded in this report.</p>`) +
    `</section>`
  );
}

function nllChart(r: StudyReport, methods: StudyMethod[], title: string, styleOf: (m: StudyMethod) => number, height: number): string {
  const L = r.trainLength;
  const lengths = arr(r.lengths);
  return lineChart({
    title,
    x: lengths,
    logX: true,
    logY: false,
    xTicks: lengths.map((T) => ({ value: T, label: lengthLabel(T, L), sub: `${T} tokens` })),
    xLabel: "evaluation length (log scale)",
    yLabel: "mean NLL (nats per token)",
    vline: { x: L, label: `trained length L = ${L}` },
    series: methods.map((m) => ({ label: label(m), values: arr(m.nll), ...seriesStyle(styleOf(m)) })),
    width: 1060,
    height,
    legendWidth: 240,
    format: formatNll,
  });
}

function nllSection(r: StudyReport, styleOf: (m: StudyMethod) => number): string {
  const methods = arr(r.methods);
  const parts: string[] = [`<section id="nll"><h2>NLL vs evaluation length</h2>`];
  parts.push(
    `<p class="muted small">Mean negative log-likelihood (nats per token, lower is better) of the same held-out targets at each evaluation length, one line per method; the dashed line marks the training length. A line stops where its method is not defined (or has no value); points above the chart's top edge (▲) diverged. Hover a point for its value.</p>`,
  );
  if (!methods.length) return parts.join("") + `<p class="muted">No methods in this report.</p></section>`;
  parts.push(`<div class="charts"><figure>${nllChart(r, methods, "All methods", styleOf, 440)}</figure>`);
  for (const g of grouped(r, methods)) parts.push(`<figure>${nllChart(r, g.methods, g.title, styleOf, 320)}${g.note ? `<figcaption>${esc(g.note)}</figcaption>` : ""}</figure>`);
  parts.push(`</div></section>`);
  return parts.join("");
}

function nllTable(r: StudyReport, styleOf: (m: StudyMethod) => number): string {
  const L = r.trainLength;
  const lengths = arr(r.lengths);
  const methods = arr(r.methods);
  const iL = lengths.indexOf(L);
  const best = lengths.map((_, i) => new Set(bestIndices(methods.map((m) => arr(m.nll)[i]), formatNll)));
  const head =
    `<tr><th>Method</th><th>Seed</th><th>Model</th>` +
    lengths.map((T) => `<th class="num${T === L ? " trained" : ""}">${lenHead(T, L)}</th>`).join("") +
    `<th class="num">Wall time</th></tr>`;
  const rows = methods
    .map((m, mi) => {
      const own = iL >= 0 ? arr(m.nll)[iL] : null;
      const cells = lengths
        .map((T, i) => {
          const v = arr(m.nll)[i];
          const tc = T === L ? " trained" : "";
          if (!isValue(v)) return `<td class="num na${tc}" title="not defined or no value">–</td>`;
          const ppl = `ppl ${formatPpl(Math.exp(v))}`;
          const delta = T > L && isFiniteNumber(own) && isFiniteNumber(v) ? ` · Δ ${signed(v - own)}` : "";
          const title = ` title="${esc(`perplexity ${formatPpl(Math.exp(v))}${delta ? `; ${signed(v - (own as number))} nats vs its own NLL at L` : ""}`)}"`;
          const sub = `<span class="cell-sub">${esc(ppl + delta)}</span>`;
          return best[i]!.has(mi) ? `<td class="num best${tc}"${title}><strong>${esc(formatNll(v))} ★</strong>${sub}</td>` : `<td class="num${tc}"${title}>${esc(formatNll(v))}${sub}</td>`;
        })
        .join("");
      return (
        `<tr><td>${swatch(styleOf(m))}${esc(label(m))}</td>` +
        `<td>${m.seed ? `<span class="tag">${esc(m.seed)}</span>` : `<span class="muted">baseline</span>`}</td><td>${esc(m.model)}</td>${cells}` +
        `<td class="num">${esc(formatSeconds(m.wallSeconds))}</td></tr>`
      );
    })
    .join("");
  return (
    `<section id="table"><h2>All methods at every length</h2>` +
    `<p class="muted small">Mean NLL (nats per token) on the paired held-out targets; <strong>★ bold</strong> = lowest at that length (every value shown equal to it); the shaded column is the trained length L. Under each value: the perplexity exp(NLL) and, beyond L, Δ = the change from the method's own NLL at L. – = not defined at that length.</p>` +
    `<div class="wrap"><table class="nll"><thead>${head}</thead><tbody>${rows}</tbody></table></div></section>`
  );
}

function positionsSection(r: StudyReport, styleOf: (m: StudyMethod) => number): string {
  const L = r.trainLength;
  const withCurve = arr(r.methods).filter((m) => m.positions && arr(m.positions.buckets).length);
  const parts: string[] = [`<section id="positions"><h2>Where methods break</h2>`];
  if (!withCurve.length) return parts.join("") + `<p class="muted">No per-position curves in this report.</p></section>`;
  const maxLen = Math.max(...withCurve.map((m) => m.positions!.length));
  parts.push(
    `<p class="muted small">Mean NLL (nats) by position in the window — the number of tokens of context a prediction has — at the longest length each method is defined at (${esc(`${lengthLabel(maxLen, L)} = ${maxLen} tokens`)} unless its legend says otherwise), averaged over buckets of positions. Dashed lines mark L, 2L and 4L: a curve that rises after a line is where that method stops using its context.</p>`,
  );
  const marks = [L, 2 * L, 4 * L].filter((x) => x < maxLen);
  const xTicks = [0, ...arr(r.lengths).filter((T) => T <= maxLen)].map((T) => ({ value: T, label: T === 0 ? "0" : lengthLabel(T, L), sub: T === 0 ? undefined : `${T}` }));
  parts.push(`<div class="charts">`);
  for (const g of grouped(r, withCurve)) {
    const svg = lineChart({
      title: g.title,
      x: [0, maxLen],
      logX: false,
      logY: false,
      xTicks,
      xLabel: "position in the window (tokens of context)",
      yLabel: "mean NLL (nats)",
      vlines: marks.map((x) => ({ x, label: lengthLabel(x, L) })),
      series: g.methods.map((m) => {
        const p = m.positions!;
        const b = arr(p.buckets);
        return {
          label: p.length === maxLen ? label(m) : `${label(m)} (at ${lengthLabel(p.length, L)})`,
          x: b.map((q) => (q.start + q.end) / 2),
          values: b.map((q) => q.nll),
          ...seriesStyle(styleOf(m)),
        };
      }),
      markers: false,
      width: 1060,
      height: 320,
      legendWidth: 290,
      format: formatNll,
    });
    parts.push(`<figure>${svg}</figure>`);
  }
  parts.push(`</div></section>`);
  return parts.join("");
}

function passkeyCellText(cell: PasskeyCell | null | undefined): { acc: number | null; text: string; sub: string } {
  if (!cell || !isFiniteNumber(cell.correct) || !isFiniteNumber(cell.trials) || cell.trials <= 0) return { acc: null, text: "–", sub: "" };
  const iv = wilson(cell.correct, cell.trials);
  return { acc: iv.mean, text: `${cell.correct}/${cell.trials}`, sub: `${formatAcc(iv.mean)} [${formatAcc(iv.lo)}, ${formatAcc(iv.hi)}]` };
}

function passkeySection(r: StudyReport, styleOf: (m: StudyMethod) => number): string {
  const L = r.trainLength;
  const pk = r.passkey ?? ({} as StudyReport["passkey"]);
  const buckets = arr(pk.buckets);
  const methods = arr(r.methods);
  const cols = buckets.map((_, i) => bucketLabel(r, i));
  const rule = typeof r.config?.passkeyRule === "string" ? r.config.passkeyRule : null;
  const tpl = pk.template;
  const desc =
    `Passkey retrieval: a ${esc(formatInt(pk.digits))}-digit key is stated once in natural filler text` +
    (tpl ? ` ("${esc(tpl.keySentence)}") and asked for at the end ("${esc(tpl.question)}")` : "") +
    `. A trial scores when the model's greedy continuation reproduces the key exactly; the distance between the key and the question is bucketed as shown (prompts as long as the bucket's upper end), ${esc(formatInt(pk.trials))} trials per bucket. Cells: accuracy (0–1, viridis scale); the table gives correct/trials and the 95% Wilson interval; – = the method is not defined at that distance.` +
    (rule ? ` Scoring rule (report.json → config.passkeyRule): ${esc(rule)}.` : "");
  if (!methods.length || !buckets.length) return `<section id="passkey"><h2>Passkey retrieval by distance</h2><p class="muted small">${desc}</p><p class="muted">No passkey results in this report.</p></section>`;
  const cells = methods.map((m) => buckets.map((_, j) => passkeyCellText(arr(m.passkey)[j])));
  const svg = heatmap({
    title: "Passkey accuracy by distance",
    rowLabels: methods.map(label),
    colLabels: cols,
    values: cells.map((row) => row.map((c) => c.acc)),
    min: 0,
    max: 1,
    colTitle: "distance between key and question",
    cellWidth: 70,
    cellHeight: 24,
  });
  const head = `<tr><th>Method</th>${buckets.map((b, i) => `<th class="num">${esc(cols[i]!)}<span class="th-sub">${esc(b.lo)}–${esc(b.hi)} tokens</span></th>`).join("")}</tr>`;
  const rows = methods
    .map((m, mi) => `<tr><td>${swatch(styleOf(m))}${esc(label(m))}</td>${cells[mi]!.map((c) => (c.acc === null ? `<td class="num na">–</td>` : `<td class="num">${esc(c.text)}<span class="cell-sub">${esc(c.sub)}</span></td>`)).join("")}</tr>`)
    .join("");
  return (
    `<section id="passkey"><h2>Passkey retrieval by distance</h2><p class="muted small">${desc}</p>` +
    `<figure>${svg}<figcaption>${esc(`L = ${L} tokens; ${formatInt(pk.trials)} trials per cell.`)}</figcaption></figure>` +
    `<div class="wrap"><table class="passkey"><thead>${head}</thead><tbody>${rows}</tbody></table></div></section>`
  );
}

function sweepCard(r: StudyReport, m: StudyMethod, s: StudySweep): string {
  const L = r.trainLength;
  const Ts = arr(s.lengths);
  const rows = arr(s.nll);
  const chosen = arr(s.chosen);
  const shared = s.mode === "shared";
  const fmtV = (v: number) => (typeof v === "number" ? formatNumber(v, 4) : String(v));
  const head = `<tr><th>${esc(s.param)}</th>${Ts.map((T) => `<th class="num">${lenHead(T, L)}</th>`).join("")}</tr>`;
  const body = arr(s.values)
    .map((v, k) => {
      const row = arr(rows[k]);
      const rowChosen = shared && chosen.length > 0 && chosen[0] === v;
      const cells = Ts.map((_, j) => {
        const x = row[j];
        const pick = !shared && chosen[j] === v;
        return `<td class="num${isValue(x) ? "" : " na"}${pick ? " chosen" : ""}">${pick ? `<strong>${esc(formatNll(x))} ◆</strong>` : esc(formatNll(x))}</td>`;
      }).join("");
      return `<tr${rowChosen ? ` class="chosen"` : ""}><td class="nowrap">${esc(fmtV(v))}${rowChosen ? " ◆" : ""}</td>${cells}</tr>`;
    })
    .join("");
  const what = shared
    ? `shared: ${chosen.length ? `chosen ${fmtV(chosen[0]!)}` : "nothing chosen"}`
    : `per length: ${Ts.map((T, j) => `${lengthLabel(T, L)} → ${chosen[j] === undefined ? "–" : fmtV(chosen[j]!)}`).join(", ")}`;
  return `<div class="card"><h4>${esc(label(m))}: ${esc(s.param)} <span class="muted">(${esc(what)})</span></h4><table><thead>${head}</thead><tbody>${body}</tbody></table></div>`;
}

function sweepsSection(r: StudyReport): string {
  const cards: string[] = [];
  for (const m of arr(r.methods)) for (const s of arr(m.sweeps)) cards.push(sweepCard(r, m, s));
  const rule = typeof r.config?.sweepRule === "string" ? r.config.sweepRule : null;
  return (
    `<section id="sweeps"><h2>Parameter sweeps</h2>` +
    (cards.length
      ? `<p class="muted small">Mean NLL (nats) on the tuning windows (documents disjoint from the evaluation documents) for each value tried, at each length it was scored at. ◆ highlighted = chosen: per-length sweeps choose a value for each column, shared sweeps one row for every length. Sweeps of one method run in order, each with the earlier ones' choices fixed.${rule ? ` Rule (report.json → config.sweepRule): ${esc(rule)}.` : ""}</p><div class="grid">${cards.join("")}</div>`
      : `<p class="muted">No sweeps in this report.</p>`) +
    `</section>`
  );
}

function modelsSection(r: StudyReport): string {
  const models = arr(r.models);
  if (!models.length) return `<section id="models"><h2>Models</h2><p class="muted">No models in this report.</p></section>`;
  const rows = models
    .map(
      (m: StudyModel) =>
        `<tr><td><strong>${esc(m.name)}</strong></td><td>${esc(m.base ?? "–")}</td><td>${esc(m.positional)}</td><td class="num">${esc(m.window === null || m.window === undefined ? "–" : formatInt(m.window))}</td>` +
        `<td class="num">${esc(formatInt(m.params))}</td><td class="num">${esc(formatInt(m.seqLen))}</td><td class="num">${esc(formatInt(m.trainSteps))}</td><td class="num">${esc(formatInt(m.trainTokens))}</td>` +
        `<td class="num">${esc(`${formatInt(m.mixture?.lm)} / ${formatInt(m.mixture?.passkey)}`)}</td>` +
        `<td class="num">${esc(isFiniteNumber(m.finalTrainLoss) ? m.finalTrainLoss.toFixed(3) : "–")}</td>` +
        `<td class="num">${esc(formatSeconds(m.wallSeconds))}</td><td>${m.cached ? "cached" : "trained"}</td></tr>`,
    )
    .join("");
  const curves = models
    .map(
      (m, i) =>
        `<figure>${lossCurve({ title: `${m.name} (${m.positional})`, points: arr(m.lossCurve), color: seriesStyle(i).color })}<figcaption>final loss ${esc(isFiniteNumber(m.finalTrainLoss) ? m.finalTrainLoss.toFixed(3) : "–")} after ${esc(formatInt(m.trainSteps))} steps at ${esc(formatInt(m.seqLen))} tokens${m.base ? ` (from ${esc(m.base)})` : ""}</figcaption></figure>`,
    )
    .join("");
  return (
    `<section id="models"><h2>Models</h2><p class="muted small">Trained from scratch at L = ${esc(r.trainLength)}, or fine-tuned from the model named under Base at their sequence length (or loaded from the cache of an identical earlier run: the time is then that of the original training). Mixture: training rows of natural text (lm) and passkey rows the model drew from.</p>` +
    `<div class="wrap"><table><thead><tr><th>Model</th><th>Base</th><th>Positional</th><th class="num">Window</th><th class="num">Parameters</th><th class="num">Seq. length</th><th class="num">Steps</th><th class="num">Tokens</th><th class="num">Mixture lm / passkey rows</th><th class="num">Final train loss</th><th class="num">Train time</th><th></th></tr></thead><tbody>${rows}</tbody></table></div>` +
    `<h3>Training loss</h3><div class="grid small">${curves}</div></section>`
  );
}

function barRow(labelHtml: string, seconds: unknown, max: number): string {
  const w = isFiniteNumber(seconds) && max > 0 ? Math.max(1, Math.round((seconds / max) * 110)) : 0;
  return `<tr><td>${labelHtml}</td><td class="num">${esc(formatSeconds(seconds))}</td><td class="barcell"><span class="bar" style="width:${w}px"></span></td></tr>`;
}

function timingsSection(r: StudyReport): string {
  const methods = arr(r.methods);
  const mMax = Math.max(0, ...methods.map((m) => m.wallSeconds).filter(isFiniteNumber));
  const mRows = methods.map((m) => barRow(esc(label(m)), m.wallSeconds, mMax)).join("");
  const stages = Object.entries(r.timings?.stages ?? {});
  const sMax = Math.max(0, ...stages.map(([, v]) => v).filter(isFiniteNumber));
  const sRows = stages.map(([k, v]) => barRow(`<code>${esc(k)}</code>`, v, sMax)).join("");
  return (
    `<section id="timings"><h2>Timings</h2><p>Total wall time <strong>${esc(formatSeconds(r.timings?.totalSeconds))}</strong> on ${esc(r.device)}${r.environment?.threads ? ` (${esc(r.environment.threads)} threads)` : ""}.</p>` +
    `<div class="grid two"><div class="card"><h4>Per method</h4><p class="muted small">Sweeps, evaluation at every length and passkey (training and fine-tuning are in the stages).</p><table class="timing"><thead><tr><th>Method</th><th class="num">Time</th><th></th></tr></thead><tbody>${mRows || `<tr><td colspan="3" class="muted">none recorded</td></tr>`}</tbody></table></div>` +
    `<div class="card"><h4>Per stage</h4><p class="muted small">Wall time of each pipeline stage.</p><table class="timing"><thead><tr><th>Stage</th><th class="num">Time</th><th></th></tr></thead><tbody>${sRows || `<tr><td colspan="3" class="muted">none recorded</td></tr>`}</tbody></table></div></div></section>`
  );
}

function methodsSection(r: StudyReport): string {
  const rows = arr(r.methods)
    .map(
      (m) =>
        `<tr><td class="nowrap"><code>${esc(m.id)}</code></td><td>${esc(label(m))}</td><td>${m.seed ? `<span class="tag">${esc(m.seed)}</span>` : `<span class="muted">–</span>`}</td><td>${esc(m.model)}</td>` +
        `<td class="desc">${esc(m.description ?? "")}</td><td class="params">${paramsText(m.params)}</td></tr>`,
    )
    .join("");
  return `<section id="methods"><h2>Methods</h2><p class="muted small">Settings as used (after the sweeps chose them; <code>param@T</code> = the value chosen for length T).</p><div class="wrap"><table><thead><tr><th>Id</th><th>Label</th><th>Seed</th><th>Model</th><th>Description</th><th>Parameters</th></tr></thead><tbody>${rows}</tbody></table></div></section>`;
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
  const gates = opts.gates ?? computeGates(report);
  const findings = opts.findings ?? computeFindings(report, gates);
  const index = new Map(arr(report.methods).map((m, i) => [m, i] as const));
  const styleOf = (m: StudyMethod) => index.get(m) ?? 0;
  const title = `ctxwin study report: ${report.preset}, seed ${report.seed}`;
  return htmlPage(
    title,
    header(report) +
      gatesSection(gates) +
      findingsSection(findings) +
      deviationsSection(report) +
      nllSection(report, styleOf) +
      nllTable(report, styleOf) +
      positionsSection(report, styleOf) +
      passkeySection(report, styleOf) +
      sweepsSection(report) +
      modelsSection(report) +
      timingsSection(report) +
      methodsSection(report) +
      configSection(report),
    `Generated by ctxwin ${esc(report.ctxwin)} from report.json (schema ${esc(report.schema)}), run created ${esc(report.createdAt)}. Every number and sentence on this page is computed from that file; re-render with <code>ctxwin report DIR</code>.`,
  );
}
