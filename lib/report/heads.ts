/**
 * The page and the terminal table of `ctxwin analyze heads` (lib/analyze/heads_report.ts), built
 * from the shared pieces: the page shell and tables of page.ts, the heatmaps of svg.ts, the
 * terminal tables of terminal.ts. Every number comes from the report.
 *
 * Sections: header, definitions, then per checkpoint: tasks (loss, Gini), maps (layer × head
 * heatmaps of the analysed variant), decomposition (coefficients, R²), clusters (cluster map and
 * centroids); then the before/after comparison (Δ maps, relative change, correlation, Gini
 * before → after, the heads that moved most); configuration.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { HeadsCheckpoint, HeadsReport } from "../analyze/heads_schema.js";
import { writeFileAtomic } from "../util/atomic.js";
import { escapeXml as esc, formatNumber, formatSeconds, isFiniteNumber } from "./format.js";
import { figure, htmlPage, htmlTable, kv, section } from "./page.js";
import { heatmap, PALETTE } from "./svg.js";
import { defaultColor, formatTable, paint } from "./terminal.js";

/** A score: 3 significant digits, exponent form below 1e-3 ("–" when missing). */
export function formatScore(x: unknown): string {
  if (!isFiniteNumber(x)) return "–";
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a < 1e-3 || a >= 1e5) return x.toExponential(2).replace("-", "−");
  return Number(x.toPrecision(3)).toString().replace("-", "−");
}

/** Three decimals, always ("–" when missing): table columns line up. */
function f3(x: unknown): string {
  return isFiniteNumber(x) ? x.toFixed(3).replace("-", "−") : "–";
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** A map cell: 2 significant digits (0.13, 0.0067, 6.7e-4), at most about 6 characters. */
function cellFormat(x: number): string {
  if (x === 0) return "0";
  const a = Math.abs(x);
  const t = a < 1e-3 || a >= 1e4 ? x.toExponential(1) : String(Number(x.toPrecision(2)));
  return t.replace("-", "−");
}

function clusterColor(id: number): string {
  return PALETTE[id % PALETTE.length]!;
}

/** Cell size and whether values fit in the cells, for an L × H map in about 560 px. */
function cellSize(L: number, H: number): { cellWidth: number; cellHeight: number; showValues: boolean } {
  const cellWidth = Math.max(10, Math.min(46, Math.floor(560 / H)));
  const cellHeight = Math.max(8, Math.min(24, Math.floor(420 / L)));
  return { cellWidth, cellHeight, showValues: cellWidth >= 44 && cellHeight >= 18 };
}

/** A layer × head heatmap of a map (diverging for signed values), sized for about 560 px; shared by the pages that draw head maps. */
export function headMapSvg(title: string, values: number[][], diverging: boolean, opts: { min?: number; max?: number } = {}): string {
  const L = values.length;
  const H = values[0]?.length ?? 0;
  return heatmap({
    title,
    rowLabels: values.map((_, l) => `L${l}`),
    colLabels: Array.from({ length: H }, (_, h) => (H > 16 && h % 4 !== 0 ? "" : `${h}`)),
    values,
    rowTitle: "layer",
    colTitle: "head",
    diverging,
    min: opts.min,
    max: opts.max,
    format: cellFormat,
    barFormat: formatScore,
    ...cellSize(L, H),
  });
}

function checkpointSections(r: HeadsReport, cp: HeadsCheckpoint, idx: number): string {
  const score = r.config.score;
  const id = `cp${idx}`;
  const taskRows = cp.tasks.map((t) => [
    esc(t.task),
    esc(t.examples),
    esc(t.tokens),
    esc(f3(t.loss)),
    esc(f3(t.gini.absolute)),
    esc(f3(t.gini.signed)),
    esc(formatSeconds(t.seconds)),
  ]);
  const tasksHtml =
    `<p class="muted small">${esc(cp.dir)} · ${esc(cp.model.modelType)}, ${cp.model.layers} layers × ${cp.model.heads} heads (${cp.model.kvHeads} key/value heads), ${esc(formatNumber(cp.model.parameters / 1e6, 2))}M parameters</p>` +
    htmlTable({ head: ["Task", "Examples", "Tokens", "Loss", "Gini (absolute)", "Gini (signed)", "Time"], rows: taskRows, numeric: [1, 2, 3, 4, 5, 6] });
  // one colour scale for every map of the checkpoint, so maps compare by eye
  const all = cp.tasks.flatMap((t) => t[score].flat()).filter(isFiniteNumber);
  const m = Math.max(0, ...all.map(Math.abs));
  const range = score === "signed" ? { min: -m || -1, max: m || 1 } : { min: 0, max: m || 1 };
  const maps = cp.tasks.map((t) => figure(headMapSvg(t.task, t[score], score === "signed", range), `${esc(t.examples)} examples · Gini ${esc(f3(t.gini[score]))}`)).join("");
  const mapsHtml = `<p class="muted small">${score === "signed" ? "Signed scores, one colour scale for all tasks of this checkpoint: blue (a < 0) heads lower the response loss (scaling one down would raise it, to first order), red (a > 0) heads raise it." : "Absolute scores, one colour scale for all tasks of this checkpoint."}</p><div class="maps">${maps}</div>`;
  let decompHtml = `<p class="muted">Needs two or more tasks.</p>`;
  if (cp.decomposition.length) {
    const rows = cp.decomposition.map((d) => [
      esc(d.task),
      `<strong>${esc(f3(d.r2))}</strong>`,
      esc(f3(d.r2EqualWeights)),
      d.onto.map((o, i) => `<code>${esc(o)}</code> ${esc(f3(d.coefficients[i]))}`).join(" · "),
      esc(formatScore(d.intercept)),
      esc(formatScore(d.rmse)),
    ]);
    decompHtml =
      `<p class="muted small">Each task's map as a ${r.config.decomposition === "nnls" ? "non-negative " : ""}mix of the other tasks' maps plus a constant (${esc(r.config.decomposition === "nnls" ? "NNLS" : "plain least squares")}); R² near 1: the map is such a mix. "R² equal weights" fits the plain mean of the other maps instead: what a profile shared by all tasks explains; the gap between the two is what the task-specific weights add.</p>` +
      htmlTable({ head: ["Task", "R²", "R² equal weights", "Coefficients", "Intercept", "RMSE"], rows, numeric: [1, 2, 4, 5] });
  }
  const c = cp.clusters;
  const clusterMap = heatmap({
    title: "Head clusters",
    rowLabels: c.assignments.map((_, l) => `L${l}`),
    colLabels: Array.from({ length: cp.model.heads }, (_, h) => (cp.model.heads > 16 && h % 4 !== 0 ? "" : `${h}`)),
    values: c.assignments,
    rowTitle: "layer",
    colTitle: "head",
    fill: (v) => clusterColor(v),
    format: (v) => String(v),
    ...cellSize(cp.model.layers, cp.model.heads),
  });
  const legend = `<div class="legend">${c.clusters.map((k) => `<span><span class="chip" style="background:${clusterColor(k.id)}"></span>cluster ${k.id} (${plural(k.size, "head")})</span>`).join("")}</div>`;
  const centroidRows = c.clusters.map((k) => [`<span class="chip" style="display:inline-block;width:10px;height:10px;background:${clusterColor(k.id)}"></span> ${k.id}`, esc(k.size), ...k.centroid.map((v) => esc(f3(v)))]);
  const clustersHtml =
    `<p class="muted small">k-means (k = ${c.k}) of the heads by their profile across tasks (each task's map divided by its largest |score|); ${c.iterations} iterations, inertia ${esc(f3(c.inertia))}.</p>` +
    `<div class="grid two"><div>${figure(clusterMap)}${legend}</div><div>${htmlTable({ head: ["Cluster", "Heads", ...c.tasks.map(esc)], rows: centroidRows, numeric: c.tasks.map((_, i) => i + 2).concat([1]) })}</div></div>`;
  const title = r.checkpoints.length > 1 ? ` (${cp.label})` : "";
  return (
    section(`${id}-tasks`, `Tasks${title}`, tasksHtml) +
    section(`${id}-maps`, `Activation maps${title}`, mapsHtml) +
    section(`${id}-decomposition`, `Decomposition${title}`, decompHtml) +
    section(`${id}-clusters`, `Head clusters${title}`, clustersHtml)
  );
}

function comparisonSection(r: HeadsReport): string {
  const cmp = r.comparison;
  if (!cmp) return "";
  const rows = cmp.tasks.map((t) => [
    esc(t.task),
    esc(f3(t.relativeChange)),
    esc(f3(t.correlation)),
    `${esc(f3(t.giniBefore))} → ${esc(f3(t.giniAfter))}`,
    `${esc(f3(t.lossBefore))} → ${esc(f3(t.lossAfter))}`,
    t.topChanged.slice(0, 5).map((h) => `L${h.layer}.H${h.head} ${esc(formatScore(h.delta))}`).join(", "),
  ]);
  const all = cmp.tasks.flatMap((t) => t.delta.flat()).filter(isFiniteNumber);
  const m = Math.max(0, ...all.map(Math.abs)) || 1;
  const maps = cmp.tasks.map((t) => figure(headMapSvg(`${t.task}: after − before`, t.delta, true, { min: -m, max: m }), `relative change ${esc(f3(t.relativeChange))} · correlation ${esc(f3(t.correlation))}`)).join("");
  return section(
    "comparison",
    `What changed: ${cmp.before} → ${cmp.after}`,
    `<p class="muted small">Per task, on the ${esc(r.config.score)} maps: relative change ‖after − before‖/‖before‖, the correlation of the two maps over the heads, Gini and the response loss before → after, and the heads that moved most (Δ).</p>` +
      htmlTable({ head: ["Task", "Relative change", "Correlation", "Gini", "Loss", "Largest changes"], rows, numeric: [1, 2] }) +
      `<div class="maps">${maps}</div>`,
  );
}

/** report.html of `ctxwin analyze heads`. */
export function renderHeadsHtml(r: HeadsReport): string {
  const labels = r.checkpoints.map((c) => c.label).join(" → ");
  const tasks = r.checkpoints[0]?.tasks ?? [];
  const examples = tasks.reduce((s, t) => s + t.examples, 0);
  const toc = [
    ...r.checkpoints.flatMap((cp, i) => {
      const sfx = r.checkpoints.length > 1 ? ` (${cp.label})` : "";
      return [[`cp${i}-maps`, `Maps${sfx}`], [`cp${i}-decomposition`, `Decomposition${sfx}`], [`cp${i}-clusters`, `Clusters${sfx}`]];
    }),
    ...(r.comparison ? [["comparison", "Comparison"]] : []),
    ["definitions", "Definitions"],
    ["config", "Configuration"],
  ];
  const header =
    `<h1>Head activation maps</h1><p class="sub">ctxwin analyze heads · ${esc(labels)} · ${tasks.length} task${tasks.length === 1 ? "" : "s"}, ${examples} examples · ${esc(r.config.score)} scores</p>` +
    `<nav class="toc">${toc.map(([id, t]) => `<a href="#${esc(id)}">${esc(t)}</a>`).join("")}</nav>` +
    `<div class="summary">${r.checkpoints.map((cp) => kv(cp.label, `${cp.model.modelType}, ${cp.model.layers} × ${cp.model.heads} heads`, cp.dir)).join("")}` +
    kv("tasks", tasks.map((t) => t.task).join(", "), r.config.taskFiles.join(", ")) +
    kv("device", r.device, `total ${formatSeconds(r.timings.totalSeconds)}`) +
    `</div>`;
  const defs = section(
    "definitions",
    "Definitions",
    `<dl>${Object.entries(r.definitions)
      .map(([k, v]) => `<dt><strong>${esc(k)}</strong></dt><dd>${esc(v)}</dd>`)
      .join("")}</dl>`,
  );
  const config = section("config", "Configuration", `<details><summary>report.json → config</summary><pre>${esc(JSON.stringify(r.config, null, 2))}</pre></details><details><summary>Environment</summary><pre>${esc(JSON.stringify(r.environment, null, 2))}</pre></details>`);
  return htmlPage(
    `ctxwin analyze heads: ${labels}`,
    header + r.checkpoints.map((cp, i) => checkpointSections(r, cp, i)).join("") + comparisonSection(r) + defs + config,
    `Generated by ctxwin ${esc(r.ctxwin)} from report.json (${esc(r.kind)}, schema ${esc(r.schema)}), created ${esc(r.createdAt)}. Every number on this page is in that file; re-render with <code>ctxwin report DIR</code>.`,
  );
}

/** The terminal summary of `ctxwin analyze heads` (no trailing newline). */
export function renderHeadsSummary(r: HeadsReport, opts: { color?: boolean } = {}): string {
  const color = opts.color ?? defaultColor();
  const c = paint(color);
  const out: string[] = [];
  const score = r.config.score;
  for (const cp of r.checkpoints) {
    out.push(c("1", `${cp.label}: ${cp.model.modelType}, ${cp.model.layers} layers × ${cp.model.heads} heads (${cp.dir})`));
    const header = ["task", "examples", "loss", "Gini", "R² (onto others)", "R² (equal weights)", "top heads"];
    const rows = cp.tasks.map((t) => {
      const d = cp.decomposition.find((x) => x.task === t.task);
      const flat = t[score].flatMap((row, l) => row.map((v, h) => ({ l, h, v })));
      const top = flat.sort((a, b) => Math.abs(b.v) - Math.abs(a.v) || a.l - b.l || a.h - b.h).slice(0, 3);
      return [t.task, String(t.examples), f3(t.loss), f3(t.gini[score]), d ? f3(d.r2) : "–", d ? f3(d.r2EqualWeights) : "–", top.map((x) => `L${x.l}.H${x.h}`).join(" ")];
    });
    out.push(...formatTable(header, rows, { color }));
    const k = cp.clusters;
    out.push(c("2", `clusters (k = ${k.k}): ${k.clusters.map((x) => `${x.id}: ${plural(x.size, "head")}`).join(", ")}`));
    out.push("");
  }
  if (r.comparison) {
    out.push(c("1", `${r.comparison.before} → ${r.comparison.after}`));
    const rows = r.comparison.tasks.map((t) => [
      t.task,
      f3(t.relativeChange),
      f3(t.correlation),
      `${f3(t.giniBefore)} → ${f3(t.giniAfter)}`,
      `${f3(t.lossBefore)} → ${f3(t.lossAfter)}`,
      t.topChanged
        .slice(0, 3)
        .map((h) => `L${h.layer}.H${h.head}`)
        .join(" "),
    ]);
    out.push(...formatTable(["task", "rel. change", "correlation", "Gini", "loss", "most changed"], rows, { color }));
    out.push("");
  }
  out.push(c("2", `${score} scores; Gini of the absolute scores; R² of the ${r.config.decomposition === "nnls" ? "non-negative" : "plain"} least-squares fit onto the other tasks' maps; total ${formatSeconds(r.timings.totalSeconds)}`));
  return out.join("\n");
}

/**
 * Writes `outDir/report.json` and `outDir/report.html` (atomically; both rendered in memory first)
 * and returns their paths with the terminal summary.
 */
export async function renderHeadsReport(r: HeadsReport, outDir: string, opts: { color?: boolean } = {}): Promise<{ json: string; html: string; summary: string }> {
  const jsonText = JSON.stringify(r, null, 2) + "\n";
  const html = renderHeadsHtml(r);
  const summary = renderHeadsSummary(r, opts);
  await mkdir(outDir, { recursive: true });
  const json = join(outDir, "report.json");
  const htmlPath = join(outDir, "report.html");
  await writeFileAtomic(json, jsonText);
  await writeFileAtomic(htmlPath, html);
  return { json, html: htmlPath, summary };
}
