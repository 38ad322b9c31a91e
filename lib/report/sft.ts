/**
 * The page and the terminal summary of `ctxwin sft-study` (lib/sft), built from the shared pieces:
 * the page shell and tables of page.ts, the line charts, heatmaps and loss curves of svg.ts (the
 * head maps as heads.ts draws them), the terminal tables of terminal.ts. Every number comes from
 * report.json: the maps, intervals, gates and findings are recomputed from its per-example numbers
 * (lib/sft/findings.ts), so `ctxwin report DIR` gives the same page.
 *
 * Sections: header, findings (verdict cards), gates, tasks (accuracy before/after, learned, loss,
 * Gini, change of the map), finding 1 (φ and the change of the map vs the number of examples),
 * finding 2 (decompositions against the controls), finding 3 (Gini; maps before/after), finding 4
 * (accuracy per seed and arm), training (base model, every run), deviations, rules, configuration.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { wilson } from "../study/stats.js";
import type { SftFinding, SftGate, SftReport, SftVerdict } from "../sft/report_schema.js";
import { SftEvidence, computeSftFindings, computeSftGates, f1Numbers, f2Numbers, f3Numbers, f4Numbers, fmtInterval, mapOf, taskSummaries } from "../sft/findings.js";
import { writeFileAtomic } from "../util/atomic.js";
import { escapeXml as esc, formatSeconds, isFiniteNumber } from "./format.js";
import { cls, figure, htmlPage, htmlTable, kv, section } from "./page.js";
import { lineChart, lossCurve, PALETTE } from "./svg.js";
import { headMapSvg } from "./heads.js";
import { defaultColor, formatTable, paint } from "./terminal.js";

const f2 = (x: unknown) => (isFiniteNumber(x) ? x.toFixed(2).replace("-", "−") : "–");
const f3 = (x: unknown) => (isFiniteNumber(x) ? x.toFixed(3).replace("-", "−") : "–");

function verdictClass(v: SftVerdict): "yes" | "no" | "na" {
  return cls(v === "reproduced" ? true : v === "not reproduced" ? false : null);
}
function verdictBadge(v: SftVerdict): string {
  return v === "reproduced" ? "✓" : v === "not reproduced" ? "✗" : "–";
}

function acc(k: number, n: number): string {
  const w = wilson(k, n);
  return `${(k / n).toFixed(2)}<span class="cell-sub">[${w.lo.toFixed(2)}, ${w.hi.toFixed(2)}] ${k}/${n}</span>`;
}

/** A flat layer-major map as rows. */
function rows(flat: readonly number[], L: number, H: number): number[][] {
  return Array.from({ length: L }, (_, l) => flat.slice(l * H, (l + 1) * H));
}

function findingsSection(findings: SftFinding[]): string {
  const n = (v: SftVerdict) => findings.filter((f) => f.verdict === v).length;
  const tally = `${n("reproduced")} of ${findings.length} reproduced, ${n("not reproduced")} not reproduced, ${n("not testable")} not testable at this scale${n("missing") ? `, ${n("missing")} missing data` : ""}.`;
  const cards = findings
    .map((f) => {
      const c = verdictClass(f.verdict);
      return (
        `<div class="finding ${c}"><span class="badge ${c}" title="${esc(f.verdict)}" aria-label="${esc(f.verdict)}">${verdictBadge(f.verdict)}</span>` +
        `<div><h3><span class="tag">${esc(f.id)}</span>${esc(f.title)}</h3>` +
        `<p class="needs">paper: ${esc(f.paper)}</p>` +
        `<p class="needs">needs ${f.gates.map((g) => `<span class="tag">${esc(g)}</span>`).join("")} · verdict: <span class="verdict">${esc(f.verdict)}</span></p>` +
        `<p>${esc(f.text)}</p></div></div>`
      );
    })
    .join("");
  return section(
    "findings",
    "Findings of seed 002",
    `<p class="tally">${esc(tally)}</p><div class="findings">${cards}</div>` +
      `<p class="muted small">Each paragraph is generated from this run's numbers with a criterion fixed in lib/sft/findings.ts before the run (stated in it). Intervals are 95% bootstraps over the held-out examples (finding 4: over the seeds, then the examples); a criterion holds only when its whole interval satisfies it. ✓ reproduced, ✗ not reproduced, – not testable at this scale (a gate fails, with the reason) or missing data.</p>`,
  );
}

function gatesSection(gates: SftGate[]): string {
  const body = gates.map((g) => {
    const c = cls(g.pass);
    return [`<span class="badge ${c}">${g.pass === true ? "✓" : g.pass === false ? "✗" : "–"}</span>`, `<strong>${esc(g.id)}</strong> ${esc(g.title)}`, esc(g.criterion), esc(g.text)];
  });
  return section("gates", "Gates: can this run test a finding?", htmlTable({ head: ["", "Gate", "Criterion", "Measured"], rows: body, className: "gates" }));
}

function tasksSection(r: SftReport, ev: SftEvidence): string {
  const s = taskSummaries(ev);
  const body = s.map((t) => {
    const info = ev.task(t.task)!;
    return [
      `<strong>${esc(t.task)}</strong><span class="cell-sub">${esc(info.kind)}${info.components.length ? ` of ${esc(info.components.join(" + "))}` : ""}</span><span class="cell-sub">${info.train} train / ${info.eval} held out</span>`,
      `<div style="max-width:330px"><code>${esc(info.example.prompt)}</code> → <code>${esc(info.example.response)}</code><span class="cell-sub" style="white-space:normal">${esc(info.description)}</span></div>`,
      t.before ? acc(t.before.k, t.before.n) : "–",
      t.after ? acc(t.after.k, t.after.n) : "–",
      `${t.learned === true ? "✓" : t.learned === false ? "✗" : "–"}<span class="cell-sub">baseline ${f2(t.majority)}</span>`,
      `${f2(t.lossBefore)} → ${f2(t.lossAfter)}`,
      `${f3(t.giniBefore)} → ${f3(t.giniAfter)}`,
      `${f2(t.change)}<span class="cell-sub">r = ${f2(t.correlation)}</span>`,
    ];
  });
  return section(
    "tasks",
    "Tasks: before and after SFT",
    `<p class="muted small">Accuracy: exact match on the held-out examples (95% Wilson interval); baseline: always answering the most frequent training response; learned: the lower bound after SFT is above the baseline and the base model's accuracy. Loss: mean response NLL per token. Gini and change (‖after − before‖/‖before‖, r = correlation) of the absolute maps.</p>` +
      htmlTable({ head: ["Task", "Example (held out)", "Accuracy before", "Accuracy after", "Learned", "Loss", "Gini", "Map change"], rows: body, numeric: [2, 3, 4, 5, 6, 7] }),
  );
}

function f1Section(ev: SftEvidence): string {
  const ts = f1Numbers(ev);
  if (!ts.length) return section("f1", "Finding 1: maps vs the number of SFT examples", `<p class="muted">No budget runs in this report.</p>`);
  const xs = [...new Set(ts.flatMap((t) => [...t.budgets, t.nMax]))].sort((a, b) => a - b);
  const at = (t: (typeof ts)[number], vals: (number | null)[]) => xs.map((x) => {
    const i = [...t.budgets, t.nMax].indexOf(x);
    return i >= 0 ? vals[i] ?? null : null;
  });
  const phiChart = lineChart({
    title: "φ(n): how far towards the full-data map (1 = all the way)",
    x: xs,
    series: ts.map((t, i) => ({ label: `${t.task}${t.learned ? "" : " (not learned)"}`, values: at(t, [...t.phi.map((p) => p.mean), 1]), color: PALETTE[i % PALETTE.length] })),
    logX: true,
    logY: false,
    xLabel: "SFT examples n (same steps)",
    yLabel: "φ(n)",
    format: (v) => v.toFixed(2),
    width: 560,
    height: 300,
    legendWidth: 170,
  });
  const changeChart = lineChart({
    title: "‖M_n − M_0‖ / ‖M_0‖ (absolute maps)",
    x: xs,
    series: ts.map((t, i) => ({ label: t.task, values: at(t, t.changeAt), color: PALETTE[i % PALETTE.length] })),
    logX: true,
    logY: false,
    xLabel: "SFT examples n (same steps)",
    yLabel: "relative change",
    format: (v) => v.toFixed(2),
    width: 560,
    height: 300,
    legendWidth: 170,
  });
  const body = ts.map((t) => [
    `<strong>${esc(t.task)}</strong>`,
    t.learned === true ? "✓" : t.learned === false ? "✗" : "–",
    esc(fmtInterval(t.change, false)),
    ...t.phi.map((p, i) => `${esc(fmtInterval(p))}<span class="cell-sub">n = ${t.budgets[i]}, accuracy ${f2(t.accuracyAt[i])}</span>`),
    `accuracy ${f2(t.accuracyAt[t.accuracyAt.length - 1])}`,
    t.testable ? "yes" : "no",
  ]);
  const nb = Math.max(...ts.map((t) => t.budgets.length));
  return section(
    "f1",
    "Finding 1: maps vs the number of SFT examples",
    `<p class="muted small">Each basic task is tuned on its first n examples with the same steps as the full budget (n = ${ts[0]!.nMax}). φ(n) = 1 − ‖M_n − M_max‖ / ‖M_0 − M_max‖ on the absolute maps: 0 = no closer to the full-data map than the base model, 1 = there. Intervals: bootstrap over the held-out examples.</p>` +
      `<div class="grid two"><div>${figure(phiChart)}</div><div>${figure(changeChart)}</div></div>` +
      htmlTable({ head: ["Task", "Learned", `Change at n_max`, ...Array.from({ length: nb }, (_, i) => `φ(n${i === 0 ? "_min" : ` #${i + 1}`})`), "n_max", "Counts for F1"], rows: body, numeric: [2, 3, 4] }),
  );
}

function f2Section(ev: SftEvidence): string {
  const ts = f2Numbers(ev);
  if (!ts.length) return section("f2", "Finding 2: complex maps as mixes of basic maps", `<p class="muted">No complex task in this run.</p>`);
  const ctl = (cs: { tasks: string[]; r2: number }[]) => cs.map((c) => `${esc(c.tasks.join("+"))} ${f2(c.r2)}`).join("<br>");
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
  const body = ts.map((t) => [
    `<strong>${esc(t.task)}</strong><span class="cell-sub">onto ${esc(t.components.join(" + "))}</span>`,
    t.point.coefficients.length ? t.components.map((c, i) => `${esc(c)} ${f3(t.point.coefficients[i])}`).join("<br>") : "–",
    `<strong>${esc(fmtInterval(t.r2, false))}</strong>`,
    `${esc(fmtInterval(t.controlMean, false))}<span class="cell-sub">${ctl(t.point.controls)}</span>`,
    esc(fmtInterval(t.margin)),
    f2(t.point.r2Profile),
    t.absolute ? `${f2(t.absolute.r2)} vs ${f2(mean(t.absolute.controls.map((c) => c.r2)))}<span class="cell-sub">profile ${f2(t.absolute.r2Profile)}</span>` : "–",
    t.before ? `${f2(t.before.r2)} vs ${f2(mean(t.before.controls.map((c) => c.r2)))}` : "–",
    t.testable ? "yes" : esc(`no: ${t.reason}`),
  ]);
  return section(
    "f2",
    "Finding 2: complex maps as mixes of basic maps",
    `<p class="muted small">The signed map of each complex task after its SFT, decomposed (non-negative least squares with an intercept) onto the signed maps of its components after theirs, against control decompositions onto as many basic tasks it does not compose. "Shared profile": the fit onto the plain mean of every basic map (what a profile common to all tasks explains). The absolute maps and the base model's maps (before SFT) are shown for comparison; the verdict uses the signed maps after SFT.</p>` +
      htmlTable({ head: ["Complex task", "Coefficients", "R² (own)", "R² (controls)", "R² own − controls", "R² shared profile", "Absolute maps: own vs controls", "Before SFT: own vs controls", "Testable"], rows: body, numeric: [2, 3, 4, 5] }),
  );
}

function f3Section(r: SftReport, ev: SftEvidence): string {
  const { tasks, pooled } = f3Numbers(ev);
  const L = r.model.layers;
  const H = r.model.heads;
  const body = tasks.map((t) => [`<strong>${esc(t.task)}</strong>`, t.learned === true ? "✓" : t.learned === false ? "✗" : "–", f3(t.before), f3(t.after), esc(fmtInterval(t.delta))]);
  const maps = r.tasks
    .map((t) => {
      const s0 = ev.scores("base", t.name);
      const s1 = ev.scores(`sft:${t.name}`, t.name);
      if (!s0 || !s1) return "";
      const m0 = mapOf(s0, "absolute");
      const m1 = mapOf(s1, "absolute");
      const max = Math.max(...m0, ...m1) || 1;
      return `<div>${figure(headMapSvg(`${t.name}: before`, rows(m0, L, H), false, { min: 0, max }))}${figure(headMapSvg(`${t.name}: after SFT`, rows(m1, L, H), false, { min: 0, max }))}</div>`;
    })
    .join("");
  return section(
    "f3",
    "Finding 3: Gini before and after SFT",
    `<p class="muted small">Gini of the absolute maps (0 = every head equally active). Δ = after − before with a paired bootstrap over the held-out examples.${pooled ? ` Mean Δ over the learned tasks: <strong>${esc(fmtInterval(pooled))}</strong>.` : ""}</p>` +
      htmlTable({ head: ["Task", "Learned", "Gini before", "Gini after", "Δ"], rows: body, numeric: [2, 3, 4] }) +
      `<h3>Absolute maps, before and after SFT</h3><p class="muted small">One colour scale per task (its larger map's maximum).</p><div class="maps">${maps}</div>`,
  );
}

function f4Section(ev: SftEvidence): string {
  const all = f4Numbers(ev);
  const ts = all.filter((t) => t.seeds.length);
  const skipped = all.filter((t) => !t.seeds.length).map((t) => [`<strong>${esc(t.task)}</strong>`, "–", "–", "–", "–", "–", "–", esc(t.learned === false ? "no: not learned at the full budget (no runs)" : "missing")]);
  if (!ts.length) return section("f4", "Finding 4: basic-task-mix pre-tuning vs plain SFT", `<p class="muted">No pre-tuning runs in this report${all.length ? ": no complex task is learned at the full budget" : ""}.</p>`);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const body = ts.map((t) => [
    `<strong>${esc(t.task)}</strong>`,
    t.weights ? t.weights.map((w) => `${esc(w.task)} ${f2(w.weight)}`).join("<br>") : "–",
    `${f2(mean(t.plain))}<span class="cell-sub">${t.plain.map(f2).join(", ")}</span>`,
    `${f2(mean(t.mix))}<span class="cell-sub">${t.mix.map(f2).join(", ")}</span>`,
    t.mixEqual.length ? `${f2(mean(t.mixEqual))}<span class="cell-sub">${t.mixEqual.map(f2).join(", ")}</span>` : "–",
    `<strong>${t.gain ? esc(fmtInterval(t.gain)) : "–"}</strong>`,
    t.gainEqual ? esc(fmtInterval(t.gainEqual)) : "–",
    t.testable ? "yes" : esc(t.learned !== true ? "no: not learned at the full budget" : "no: plain SFT leaves no room"),
  ]);
  const run = ev.byId.get(`mix:${ts[0]!.task}:${ts[0]!.seeds[0]}`);
  return section(
    "f4",
    "Finding 4: basic-task-mix pre-tuning vs plain SFT",
    `<p class="muted small">Per complex task and seed (${ts[0]!.seeds.length} seeds: the order of the examples and the draw of the mix), from the base model: plain = ${run ? run.steps : "?"} steps on ${run ? run.examples : "?"} examples of the complex task; mix = ${run?.mix ? run.mix.steps : "?"} steps on its basic tasks' training examples mixed by the weights (the decomposition's), then the rest of the steps on the same examples; mix-equal = the same with equal weights (a control). Exact-match accuracy on the held-out examples; intervals: bootstrap over the seeds, then the examples.</p>` +
      htmlTable({ head: ["Complex task", "Mix weights", "Plain", "Mix", "Mix (equal weights)", "Mix − plain", "Mix-equal − plain", "Testable"], rows: [...body, ...skipped], numeric: [2, 3, 4, 5, 6] }),
  );
}

function trainingSection(r: SftReport): string {
  const pre = r.model.pretraining;
  const base = pre
    ? figure(lossCurve({ title: `base model pretraining (${pre.steps} steps)`, points: pre.lossCurve, width: 420, height: 170 }), `${(pre.tokens / 1e6).toFixed(2)}M tokens, final loss ${f3(pre.finalLoss)}, ${esc(formatSeconds(pre.seconds))}${r.model.cached ? " (cached: trained by an earlier run with these settings)" : ""}`)
    : `<p class="muted">The base model was given (--model ${esc(r.model.dir)}).</p>`;
  const body = r.runs
    .filter((x) => x.arm !== "base")
    .map((x) => [
      `<code>${esc(x.id)}</code>`,
      esc(x.examples),
      esc(x.steps),
      x.mix ? x.mix.weights.map((w) => `${esc(w.task)} ${f2(w.weight)}`).join(", ") + ` (${x.mix.steps} steps)` : "–",
      f3(x.finalLoss),
      esc(x.evals.map((e) => `${e.task} ${f2(e.correct.reduce((a, b) => a + b, 0) / Math.max(1, e.correct.length))}`).join(", ")),
      esc(formatSeconds(x.seconds)),
    ]);
  return section(
    "training",
    "Training",
    `<div class="grid two"><div>${base}</div><div>${kv("base model", `${r.model.modelType}, ${r.model.layers} layers × ${r.model.heads} heads, d = ${r.model.hiddenSize}`, `${(r.model.parameters / 1e6).toFixed(2)}M parameters · vocabulary ${r.model.vocabSize} (${r.model.tokenizer}) · ${r.model.dir}`)}</div></div>` +
      `<details><summary>Every SFT run (${body.length})</summary>${htmlTable({ head: ["Run", "Examples", "Steps", "Mix", "Final loss", "Accuracy", "Time"], rows: body, numeric: [1, 2, 4, 6] })}</details>`,
  );
}

/** report.html of `ctxwin sft-study` (gates and findings recomputed from the numbers unless given). */
export function renderSftHtml(r: SftReport, gf?: { gates: SftGate[]; findings: SftFinding[] }): string {
  const gates = gf?.gates ?? computeSftGates(r);
  const findings = gf?.findings ?? computeSftFindings(r, gates);
  const ev = new SftEvidence(r);
  const n = (v: SftVerdict) => findings.filter((f) => f.verdict === v).length;
  const toc = [
    ["findings", "Findings"],
    ["gates", "Gates"],
    ["tasks", "Tasks"],
    ["f1", "F1 data"],
    ["f2", "F2 decomposition"],
    ["f3", "F3 Gini and maps"],
    ["f4", "F4 pre-tuning"],
    ["training", "Training"],
    ["deviations", "Deviations"],
    ["rules", "Rules"],
    ["config", "Configuration"],
  ];
  const header =
    `<h1>SFT and attention-head activation maps</h1><p class="sub">ctxwin sft-study · seed 002 in miniature · preset ${esc(r.preset)} · seed ${esc(r.seed)} · ${esc(r.device)}</p>` +
    `<nav class="toc">${toc.map(([id, t]) => `<a href="#${esc(id)}">${esc(t)}</a>`).join("")}</nav>` +
    (r.config.interrupted ? `<div class="warn"><strong>Partial report:</strong> the run was ${esc(r.config.interrupted)}; findings that need the missing runs say so.</div>` : "") +
    `<div class="summary">` +
    kv("findings", `${n("reproduced")} reproduced · ${n("not reproduced")} not · ${n("not testable")} not testable`, n("missing") ? `${n("missing")} missing data` : "criteria fixed before the run") +
    kv("base model", `${r.model.layers} layers × ${r.model.heads} heads, ${(r.model.parameters / 1e6).toFixed(2)}M`, r.model.pretrainedHere ? `pretrained here${r.model.pretraining ? ` on ${(r.model.pretraining.tokens / 1e6).toFixed(2)}M tokens` : ""}` : r.model.dir) +
    kv("tasks", `${ev.basic.length} basic, ${ev.complex.length} complex`, r.config.tasks) +
    kv("runs", `${r.runs.filter((x) => x.arm !== "base").length} SFT runs`, `total ${formatSeconds(r.timings.totalSeconds)}`) +
    `</div>`;
  const devs = section("deviations", "Deviations from the paper's setup", `<ol class="deviations">${r.deviations.map((d) => `<li>${esc(d)}</li>`).join("")}</ol>`);
  const rules = section("rules", "Rules of the run", `<dl>${Object.entries(r.config.rules).map(([k, v]) => `<dt><strong>${esc(k)}</strong></dt><dd>${esc(v)}</dd>`).join("")}</dl>`);
  const stages = Object.entries(r.timings.stages).map(([k, v]) => `${k} ${formatSeconds(v)}`).join(" · ");
  const config = section(
    "config",
    "Configuration",
    `<p class="muted small">Time: ${esc(stages)}; total ${esc(formatSeconds(r.timings.totalSeconds))}.</p><details><summary>report.json → config</summary><pre>${esc(JSON.stringify(r.config, null, 2))}</pre></details><details><summary>Environment</summary><pre>${esc(JSON.stringify(r.environment, null, 2))}</pre></details>`,
  );
  return htmlPage(
    `ctxwin sft-study (${r.preset}, seed ${r.seed})`,
    header + findingsSection(findings) + gatesSection(gates) + tasksSection(r, ev) + f1Section(ev) + f2Section(ev) + f3Section(r, ev) + f4Section(ev) + trainingSection(r) + devs + rules + config,
    `Generated by ctxwin ${esc(r.ctxwin)} from report.json (${esc(r.kind)}, schema ${esc(r.schema)}), created ${esc(r.createdAt)}. Every number on this page is in that file or computed from it; re-render with <code>ctxwin report DIR</code>.`,
  );
}

/** The terminal summary of `ctxwin sft-study` (no trailing newline). */
export function renderSftSummary(r: SftReport, opts: { color?: boolean; gates?: SftGate[]; findings?: SftFinding[] } = {}): string {
  const color = opts.color ?? defaultColor();
  const c = paint(color);
  const gates = opts.gates ?? computeSftGates(r);
  const findings = opts.findings ?? computeSftFindings(r, gates);
  const ev = new SftEvidence(r);
  const out: string[] = [];
  out.push(c("1", `ctxwin sft-study: preset ${r.preset}, seed ${r.seed}, base ${r.model.layers} layers × ${r.model.heads} heads (${(r.model.parameters / 1e6).toFixed(2)}M)${r.config.interrupted ? ` — PARTIAL (${r.config.interrupted})` : ""}`));
  const s = taskSummaries(ev);
  out.push(
    ...formatTable(
      ["task", "kind", "acc before", "acc after", "baseline", "learned", "Gini before → after", "map change"],
      s.map((t) => [t.task, t.kind, t.before ? (t.before.k / t.before.n).toFixed(2) : "–", t.after ? (t.after.k / t.after.n).toFixed(2) : "–", f2(t.majority), t.learned === true ? "yes" : t.learned === false ? "no" : "–", `${f3(t.giniBefore)} → ${f3(t.giniAfter)}`, f2(t.change)]),
      { color },
    ),
  );
  out.push("");
  out.push(...formatTable(["gate", "", "can the run test it?"], gates.map((g) => [g.id, g.pass === true ? "✓" : g.pass === false ? "✗" : "–", g.title]), { color, align: ["left", "left", "left"] }));
  out.push("");
  const word = (v: SftVerdict) => (v === "reproduced" ? c("32", v) : v === "not reproduced" ? c("31", v) : c("2", v));
  out.push(...formatTable(["finding", "verdict", "numbers"], findings.map((f) => [`${f.id} ${f.title}`, word(f.verdict), f.summary]), { color, align: ["left", "left", "left"] }));
  out.push("");
  out.push(c("2", `criteria fixed in lib/sft/findings.ts; 95% bootstrap intervals; total ${formatSeconds(r.timings.totalSeconds)}`));
  return out.join("\n");
}

/**
 * Writes `outDir/report.json` and `outDir/report.html` (atomically; both rendered in memory first)
 * and returns their paths with the terminal summary.
 */
export async function renderSftReport(r: SftReport, outDir: string, opts: { color?: boolean; writeJson?: boolean } = {}): Promise<{ json: string; html: string; summary: string }> {
  const gates = computeSftGates(r);
  const findings = computeSftFindings(r, gates);
  const html = renderSftHtml(r, { gates, findings });
  const summary = renderSftSummary(r, { color: opts.color, gates, findings });
  await mkdir(outDir, { recursive: true });
  const json = join(outDir, "report.json");
  const htmlPath = join(outDir, "report.html");
  if (opts.writeJson ?? true) await writeFileAtomic(json, JSON.stringify({ ...r, gates, findings }, null, 2) + "\n");
  await writeFileAtomic(htmlPath, html);
  return { json, html: htmlPath, summary };
}
