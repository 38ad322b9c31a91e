/**
 * The page and the terminal summary of `ctxwin peft` (lib/peftstudy), from the shared pieces of
 * page.ts, svg.ts and terminal.ts. Every number comes from report.json; the intervals and the
 * findings are recomputed from its cells (lib/peftstudy/findings.ts), so `ctxwin report DIR`
 * gives the same page.
 *
 * Sections: header, findings (verdict cards with their criteria), scores (task × setting ×
 * method: mean and 95% t interval over seeds, trainable parameters, time, tokens/s), APT gates
 * (heatmaps layer × prefix token per task, λ per layer, the layer profiles), the probe's lengths,
 * tasks, deviations, rules, configuration and timings.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { PeftCellMethod, PeftFinding, PeftReport, PeftSetting, PeftVerdict } from "../peftstudy/report_schema.js";
import { computePeftFindings, gateStatistics, methodSummary, PeftEvidence } from "../peftstudy/findings.js";
import { writeFileAtomic } from "../util/atomic.js";
import { escapeXml as esc, formatSeconds, isFiniteNumber } from "./format.js";
import { cls, figure, htmlPage, htmlTable, kv, section } from "./page.js";
import { heatmap, lineChart, PALETTE } from "./svg.js";
import { defaultColor, formatTable, paint } from "./terminal.js";

const METHOD_LABEL: Record<PeftCellMethod, string> = { full: "full fine-tuning", lora: "LoRA", ptv2: "P-tuning v2", apt: "APT", "ptv2-variable": "P-tuning v2, variable prefix (probe)" };
const SETTINGS: PeftSetting[] = ["full", "few-shot"];
const pct = (x: unknown) => (isFiniteNumber(x) ? (100 * x).toFixed(1) : "–");
const count = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : String(n));

function verdictClass(v: PeftVerdict): "yes" | "no" | "na" {
  return cls(v === "reproduced" ? true : v === "not reproduced" ? false : null);
}

function methodsOf(r: PeftReport): PeftCellMethod[] {
  const ms: PeftCellMethod[] = [...r.config.methods];
  if (r.cells.some((c) => c.method === "ptv2-variable")) ms.push("ptv2-variable");
  return ms;
}

function findingsSection(findings: PeftFinding[]): string {
  const n = (v: PeftVerdict) => findings.filter((f) => f.verdict === v).length;
  const cards = findings
    .map((f) => {
      const c = verdictClass(f.verdict);
      return (
        `<div class="finding ${c}"><span class="badge ${c}" aria-label="${esc(f.verdict)}">${f.verdict === "reproduced" ? "✓" : f.verdict === "not reproduced" ? "✗" : "–"}</span>` +
        `<div><h3><span class="tag">${esc(f.id)}</span>${esc(f.title)}</h3><p class="needs">paper: ${esc(f.paper)}</p>` +
        `<p class="needs">criterion (fixed before the run): ${esc(f.criterion)} · verdict: <span class="verdict">${esc(f.verdict)}</span></p><p>${esc(f.text)}</p></div></div>`
      );
    })
    .join("");
  return section(
    "findings",
    "Findings of seed 004",
    `<p class="tally">${n("reproduced")} of ${findings.length} reproduced, ${n("not reproduced")} not reproduced, ${n("not testable")} not testable at this scale.</p><div class="findings">${cards}</div>` +
      `<p class="muted small">Criteria in lib/peftstudy/findings.ts. Scores: accuracy (sequence tasks) or span F1 (tagging) on the test split, in points. Seeds are the replicates: each comparison averages the tasks within a seed, then takes a 95% Student t interval over seeds.</p>`,
  );
}

function scoresSection(r: PeftReport): string {
  const methods = methodsOf(r);
  const parts = r.tasks.map((t) => {
    const rows: string[][] = [];
    for (const setting of SETTINGS) {
      for (const m of methods) {
        if (m === "ptv2-variable" && setting !== "full") continue;
        const s = methodSummary(r, t.name, setting, m);
        const unavailable = r.cells.find((c) => c.task === t.name && c.setting === setting && c.method === m && c.status !== "done");
        if (!s && !unavailable) continue;
        const total = r.cells.find((c) => c.task === t.name && c.method === m && c.status === "done")?.totalParameters ?? 0;
        rows.push([
          esc(setting === "full" ? "full data" : `few-shot (k = ${r.config.presetSettings.fewShotK})`),
          esc(METHOD_LABEL[m]),
          s ? `<strong>${pct(s.mean)}</strong>${s.n > 1 ? `<span class="cell-sub">[${pct(Math.max(0, s.lo))}, ${pct(Math.min(1, s.hi))}] · ${s.n} seeds</span>` : `<span class="cell-sub">1 seed</span>`}` : `<span class="muted">${esc(unavailable?.status ?? "")}</span>`,
          s ? `${count(s.trainable)}<span class="cell-sub">${total ? `${((100 * s.trainable) / total).toFixed(2)}% of ${count(total)}` : ""}</span>` : "–",
          s ? esc(formatSeconds(s.seconds)) : "–",
          s ? String(Math.round(s.tokensPerSecond)) : "–",
        ]);
      }
    }
    const note = r.cells.find((c) => c.task === t.name && c.status === "unavailable");
    return (
      `<h3>${esc(t.name)} <span class="muted small">(${esc(t.metric)}; majority baseline ${pct(t.baseline)})</span></h3>` +
      htmlTable({ head: ["Setting", "Method", `${esc(t.metric)} (95% t interval, clipped to [0, 100])`, "Trainable parameters", "Training time", "Tokens/s"], rows, numeric: [2, 3, 4, 5] }) +
      (note ? `<p class="muted small">Unavailable cells: ${esc(note.reason ?? "")}</p>` : "")
    );
  });
  return section("scores", "Scores per task, setting and method", parts.join(""));
}

/** Mean over seeds of the APT gates of a task (full data). */
function meanGates(r: PeftReport, task: string): { alpha: number[][]; lambda: number[]; seeds: number; mode: string } | null {
  const gs = r.cells.filter((c) => c.task === task && c.setting === "full" && c.method === "apt" && c.status === "done" && c.gates).map((c) => c.gates!);
  if (!gs.length) return null;
  const L = gs[0]!.alpha.length;
  const P = gs[0]!.alpha[0]?.length ?? 0;
  const alpha = Array.from({ length: L }, (_, l) => Array.from({ length: P }, (_, k) => gs.reduce((a, g) => a + (g.alpha[l]?.[k] ?? NaN), 0) / gs.length));
  const lambda = Array.from({ length: L }, (_, l) => gs.reduce((a, g) => a + (g.lambda[l] ?? NaN), 0) / gs.length);
  return { alpha, lambda, seeds: gs.length, mode: gs[0]!.mode };
}

function gatesSection(r: PeftReport): string {
  const ev = new PeftEvidence(r);
  const st = gateStatistics(ev);
  const maps = r.tasks
    .map((t) => {
      const g = meanGates(r, t.name);
      if (!g) return "";
      const svg = heatmap({
        title: `${t.name}: mean gate α`,
        rowLabels: g.alpha.map((_, l) => `layer ${l + 1} · λ ${g.lambda[l]!.toFixed(2)}`),
        colLabels: g.alpha[0]!.map((_, k) => String(k + 1)),
        values: g.alpha,
        min: 0,
        max: 1,
        rowTitle: "layer (λ)",
        colTitle: "prefix token",
        cellWidth: g.alpha[0]!.length > 12 ? 30 : 42,
        showValues: g.alpha[0]!.length <= 12,
      });
      return figure(svg, `${esc(t.name)}: α averaged over the real tokens of the training inputs and ${g.seeds} seed(s); gate ${esc(g.mode)}; λ per layer in the row labels.`);
    })
    .filter(Boolean);
  if (!maps.length) return section("gates", "APT gates", `<p class="muted">No APT gates in this report${ev.reasonMissing("apt") ? ` (${esc(ev.reasonMissing("apt"))})` : ""}.</p>`);
  const profiles = [...st.profiles.entries()];
  const L = profiles[0]![1].values().next().value!.length;
  const chart = lineChart({
    title: "Layer profile: mean α per layer (each seed)",
    x: Array.from({ length: L }, (_, l) => l + 1),
    series: profiles.flatMap(([task, bySeed], i) => [...bySeed.entries()].map(([s, p]) => ({ label: `${task} seed ${s}`, values: p, color: PALETTE[i % PALETTE.length] }))),
    logX: false,
    logY: false,
    xLabel: "layer",
    yLabel: "mean α",
    format: (v) => v.toFixed(2),
    width: 560,
    height: 280,
    legendWidth: 190,
  });
  const rows = st.layers.map((x) => [esc(x.task), x.spread.toFixed(4), x.noise.toFixed(4), isFiniteNumber(x.ratio) ? x.ratio.toFixed(2) : "–"]);
  return section(
    "gates",
    "APT gates: which layers and prefix tokens matter",
    `<div class="maps">${maps.join("")}</div>` +
      figure(chart, "Each line is one seed's layer profile (mean α over prefix tokens); colours are tasks.") +
      htmlTable({ head: ["Task", "Spread over layers (sd)", "Seed noise of a layer mean", "Ratio"], rows, numeric: [1, 2, 3] }) +
      (st.tasks ? `<p>Between tasks (same seed) the layer profiles are ${st.tasks.betweenTasks.toFixed(4)} apart (RMS), between seeds (same task) ${st.tasks.betweenSeeds.toFixed(4)}: ratio ${st.tasks.ratio.toFixed(2)}.</p>` : ""),
  );
}

function probeSection(r: PeftReport): string {
  const entries = Object.entries(r.probe.lengths);
  if (!entries.length) return section("probe", "Variable-prefix probe", `<p class="muted">Not run (it needs APT gates and P-tuning v2 cells).</p>`);
  const rows = entries.map(([task, lengths]) => {
    const v = methodSummary(r, task, "full", "ptv2-variable");
    const u = methodSummary(r, task, "full", "ptv2");
    return [esc(task), esc(lengths.join(" · ")), String(lengths.reduce((a, b) => a + b, 0)), u ? pct(u.mean) : "–", v ? pct(v.mean) : "–"];
  });
  return section("probe", "Variable-prefix probe", `<p class="muted small">Rule: ${esc(r.probe.rule)}.</p>` + htmlTable({ head: ["Task", "Prefix length per layer (1 → L)", "Total", "Uniform prefix", "Variable prefix"], rows, numeric: [2, 3, 4] }));
}

function tasksSection(r: PeftReport): string {
  const rows = r.tasks.map((t) => [
    `<strong>${esc(t.name)}</strong><span class="cell-sub">${esc(t.kind)}</span>`,
    `<div style="max-width:380px">${esc(t.description)}<span class="cell-sub" style="white-space:normal">${esc(t.source)}</span></div>`,
    `${t.labels.length}<span class="cell-sub" style="white-space:normal;max-width:200px">${esc(t.labels.slice(0, 8).join(", "))}${t.labels.length > 8 ? ", …" : ""}</span>`,
    String(t.train),
    String(t.fewShotTrain),
    String(t.test),
    t.meanLength.toFixed(1),
    `${t.truncated.train} / ${t.truncated.test}`,
  ]);
  return section("tasks", "Tasks", htmlTable({ head: ["Task", "What", "Labels", "Train", "Few-shot train", "Test", "Mean length", "Truncated (train / test)"], rows, numeric: [3, 4, 5, 6, 7] }));
}

/** The page of a `ctxwin peft` report. */
export function renderPeftHtml(r: PeftReport, findings = computePeftFindings(r)): string {
  const b = r.backbone;
  const header =
    `<h1>Adaptive prefix tuning vs P-tuning v2 (seed 004)</h1><p class="sub">ctxwin peft · preset ${esc(r.preset)} · seeds ${esc(r.seeds.join(", "))} · ${esc(r.device)} · ${esc(r.createdAt)}</p>` +
    (r.config.interrupted ? `<div class="warn">Partial report: ${esc(r.config.interrupted)}.</div>` : "") +
    `<div class="summary">` +
    kv("backbone", `${b.modelType} ${b.layers} × d ${b.hiddenSize}, ${count(b.parameters)}`, b.pretrainedHere ? `pretrained here by MLM on Brown${b.pretraining ? `: loss ${b.pretraining.finalLoss.toFixed(3)}, ${formatSeconds(b.pretraining.seconds)}` : ""}${b.cached ? " (cached)" : ""}` : b.dir) +
    kv("tasks", r.tasks.map((t) => t.name).join(", "), `${r.tasks.length} task(s) × full data and few-shot`) +
    kv("methods", r.config.methods.map((m) => METHOD_LABEL[m]).join(", "), `${r.cells.filter((c) => c.status === "done").length} cells done, ${r.cells.filter((c) => c.status !== "done").length} unavailable`) +
    kv("time", formatSeconds(r.timings.totalSeconds), Object.entries(r.timings.stages).map(([k, v]) => `${k} ${formatSeconds(v)}`).join(" · ")) +
    `</div>`;
  const devs = section("deviations", "Deviations from the paper's setup", `<ol class="deviations">${r.deviations.map((d) => `<li>${esc(d)}</li>`).join("")}</ol>`);
  const rules = section("rules", "How it is measured", htmlTable({ head: ["", "Rule"], rows: Object.entries(r.config.rules).map(([k, v]) => [`<strong>${esc(k)}</strong>`, esc(v)]) }));
  const config = section("config", "Configuration", `<details><summary>report.json → config</summary><pre>${esc(JSON.stringify(r.config, null, 2))}</pre></details><details><summary>Environment</summary><pre>${esc(JSON.stringify(r.environment, null, 2))}</pre></details>`);
  return htmlPage(
    `ctxwin peft (${r.preset})`,
    header + findingsSection(findings) + scoresSection(r) + gatesSection(r) + probeSection(r) + tasksSection(r) + devs + rules + config,
    `Generated by ctxwin ${esc(r.ctxwin)} from report.json (${esc(r.kind)}, schema ${esc(r.schema)}). Every number on this page is in that file or computed from it; re-render with <code>ctxwin report DIR</code>.`,
  );
}

/** The terminal summary (no trailing newline). */
export function renderPeftSummary(r: PeftReport, opts: { color?: boolean; findings?: PeftFinding[] } = {}): string {
  const color = opts.color ?? defaultColor();
  const c = paint(color);
  const findings = opts.findings ?? computePeftFindings(r);
  const out: string[] = [];
  const b = r.backbone;
  out.push(c("1", `ctxwin peft: preset ${r.preset}, seeds ${r.seeds.join(", ")}, backbone ${b.modelType} ${b.layers} layers d ${b.hiddenSize} (${count(b.parameters)}${b.pretrainedHere ? ", MLM-pretrained here" : ""})${r.config.interrupted ? ` — PARTIAL (${r.config.interrupted})` : ""}`));
  const methods = methodsOf(r);
  const rows: string[][] = [];
  for (const t of r.tasks) {
    for (const setting of SETTINGS) {
      rows.push([
        `${t.name} ${setting}`,
        ...methods.map((m) => {
          const s = methodSummary(r, t.name, setting, m);
          return s ? `${pct(s.mean)}${s.n > 1 ? ` ±${pct((s.hi - s.lo) / 2)}` : ""}` : "–";
        }),
      ]);
    }
  }
  out.push(...formatTable(["task / setting", ...methods], rows, { color }));
  out.push("");
  const cost = methods.map((m) => {
    const cs = r.cells.filter((x) => x.method === m && x.status === "done");
    return [m, cs.length ? count(Math.max(...cs.map((x) => x.trainableParameters))) : "–", cs.length ? String(Math.round(cs.reduce((a, x) => a + x.tokensPerSecond, 0) / cs.length)) : "–", cs.length ? formatSeconds(cs.reduce((a, x) => a + x.seconds, 0) / cs.length) : "–"];
  });
  out.push(...formatTable(["method", "trainable (max)", "tokens/s", "time / run"], cost, { color }));
  out.push("");
  const word = (v: PeftVerdict) => (v === "reproduced" ? c("32", v) : v === "not reproduced" ? c("31", v) : c("2", v));
  out.push(...formatTable(["finding", "verdict", "numbers"], findings.map((f) => [`${f.id} ${f.title}`, word(f.verdict), f.summary]), { color, align: ["left", "left", "left"] }));
  out.push("");
  out.push(c("2", `scores in points (accuracy or span F1) ± half the 95% t interval over seeds; stages: ${Object.entries(r.timings.stages).map(([k, v]) => `${k} ${formatSeconds(v)}`).join(", ")}; total ${formatSeconds(r.timings.totalSeconds)}`));
  return out.join("\n");
}

/** Writes outDir/report.json (unless writeJson is false) and report.html atomically; returns the paths and the summary. */
export async function renderPeftReport(r: PeftReport, outDir: string, opts: { color?: boolean; writeJson?: boolean } = {}): Promise<{ json: string; html: string; summary: string }> {
  const findings = computePeftFindings(r);
  const html = renderPeftHtml(r, findings);
  const summary = renderPeftSummary(r, { color: opts.color, findings });
  await mkdir(outDir, { recursive: true });
  const json = join(outDir, "report.json");
  const htmlPath = join(outDir, "report.html");
  if (opts.writeJson ?? true) await writeFileAtomic(json, JSON.stringify({ ...r, findings }, null, 2) + "\n");
  await writeFileAtomic(htmlPath, html);
  return { json, html: htmlPath, summary };
}
