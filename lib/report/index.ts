/**
 * lib/report: renders a study's report.json (schema 2) as report.html (self-contained, SVG charts)
 * and a terminal summary, with the gates and seed findings computed from the numbers.
 *
 *   renderReport(report, outDir)  → writes outDir/report.json and outDir/report.html (atomically)
 *   loadReport(dir)               → reads and validates dir/report.json (ERR_FORMAT naming file + field)
 *   reportCommand(dir)            → `ctxwin report DIR`: load, re-render report.html, return the summary
 *                                   (a study report, an `analyze heads` report: heads.ts, an
 *                                   `analyze positional` report: positional.ts, a `ctxwin eval`
 *                                   report: eval.ts, an `sft-study` report: sft.ts, or a
 *                                   `ctxwin peft` report: peft.ts)
 */
import { mkdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { writeFileAtomic, type AtomicIo } from "../util/atomic.js";
import { CtxwinError, show } from "../errors.js";
import type { StudyReport } from "../study/report_schema.js";
import { computeFindings, computeGates } from "./findings.js";
import { renderHtml } from "./html.js";
import { renderTerminalSummary, type TerminalOptions } from "./terminal.js";
import { renderHeadsReport } from "./heads.js";
import { HEADS_REPORT_KIND, type HeadsReport } from "../analyze/heads_schema.js";
import { renderPositionalHtml, renderPositionalSummary } from "./positional.js";
import type { PositionalReport } from "../analyze/positional_schema.js";
import { renderEvalHtml, renderEvalSummary } from "./eval.js";
import { EVAL_REPORT_KIND, type EvalReport } from "../eval/schema.js";
import { renderSftReport } from "./sft.js";
import { SFT_REPORT_KIND, type SftReport } from "../sft/report_schema.js";
import { renderPeftReport } from "./peft.js";
import { PEFT_REPORT_KIND, type PeftReport } from "../peftstudy/report_schema.js";

export { computeFindings, computeGates, badge, formatInterval, CRITERIA, Evidence, type Finding, type Gate, type GateId, type SeedId, type Verdict } from "./findings.js";
export { renderHtml, type HtmlOptions } from "./html.js";
export { renderTerminalSummary, defaultColor, visibleWidth, formatTable, paint, type TerminalOptions, type TableRow, type TableOptions } from "./terminal.js";
export { renderHeadsReport, renderHeadsHtml, renderHeadsSummary } from "./heads.js";
export { renderPositionalHtml, renderPositionalSummary } from "./positional.js";
export { renderEvalHtml, renderEvalSummary, renderEvalReport, formatNllInterval } from "./eval.js";
export { renderSftReport, renderSftHtml, renderSftSummary } from "./sft.js";
export { renderPeftReport, renderPeftHtml, renderPeftSummary } from "./peft.js";
export { htmlPage, htmlTable, figure, section, kv, cls, CSS, type HtmlTableOptions } from "./page.js";
export { lineChart, heatmap, lossCurve, scatterChart, logTicks, linearTicks, viridis, seriesStyle, PALETTE, type LineChartOptions, type HeatmapOptions, type LossCurveOptions } from "./svg.js";
export { formatNll, formatPpl, formatSeconds, lengthLabel, escapeXml } from "./format.js";

// Atomic writes: the one implementation in lib/util/atomic.ts (re-exported: tests inject an AtomicIo).
export { writeFileAtomic, type AtomicIo } from "../util/atomic.js";

/** Paths of the written files. */
export interface RenderedFiles {
  html: string;
  json: string;
}

/**
 * Writes `outDir/report.json` (pretty JSON) and `outDir/report.html`, each atomically. Both are
 * rendered in memory first, so a rendering error writes nothing.
 */
export async function renderReport(report: StudyReport, outDir: string, io?: AtomicIo): Promise<RenderedFiles> {
  const jsonText = JSON.stringify(report, null, 2) + "\n";
  const html = renderHtml(report);
  await mkdir(outDir, { recursive: true });
  const json = join(outDir, "report.json");
  const htmlPath = join(outDir, "report.html");
  await writeFileAtomic(json, jsonText, io);
  await writeFileAtomic(htmlPath, html, io);
  return { html: htmlPath, json };
}

/** The terminal summary (an alias of renderTerminalSummary, found by lib/study/render.ts). */
export function terminalSummary(report: StudyReport): string {
  return renderTerminalSummary(report);
}

/**
 * `ctxwin report DIR`: loads DIR/report.json (or the .json file given), recomputes the gates and findings,
 * re-renders report.html next to it (report.json is left as it is) and returns the terminal summary.
 */
export async function reportCommand(dir: string, opts: TerminalOptions = {}): Promise<string> {
  const file = reportFile(dir);
  const value = await readReportJson(file);
  if (isHeadsReport(value)) {
    // an `analyze heads` report: heads.ts renders its page and summary
    const heads = validateHeadsReport(value, file);
    return (await renderHeadsReport(heads, dirname(file), { color: opts.color })).summary;
  }
  if (isSftReport(value)) {
    // an `sft-study` report: sft.ts recomputes its gates and findings and renders the page
    const r = validateSftReport(value, file);
    return (await renderSftReport(r, dirname(file), { color: opts.color, writeJson: false })).summary;
  }
  if (isPeftReport(value)) {
    // a `ctxwin peft` report: peft.ts recomputes its findings and renders the page
    const r = validatePeftReport(value, file);
    return (await renderPeftReport(r, dirname(file), { color: opts.color, writeJson: false })).summary;
  }
  if (isPositionalReport(value)) {
    // an `analyze positional` report: positional.ts renders its page and summary
    const r = validatePositionalReport(value, file);
    await writeFileAtomic(join(dirname(file), "report.html"), renderPositionalHtml(r));
    return renderPositionalSummary(r, { color: opts.color });
  }
  if (isEvalReport(value)) {
    // a `ctxwin eval` report: eval.ts renders its page and table
    const r = validateEvalReport(value, file);
    await writeFileAtomic(join(dirname(file), "report.html"), renderEvalHtml(r));
    return renderEvalSummary(r, { color: opts.color });
  }
  const report = validateReport(value, file);
  const gates = computeGates(report);
  const findings = computeFindings(report, gates);
  await writeFileAtomic(join(dirname(file), "report.html"), renderHtml(report, { gates, findings }));
  return renderTerminalSummary(report, { ...opts, gates, findings });
}

// ------------------------------------------------------------------ loading and validation

function isHeadsReport(v: unknown): boolean {
  return v !== null && typeof v === "object" && (v as { kind?: unknown }).kind === HEADS_REPORT_KIND;
}

/** The fields the heads page and summary read (ERR_FORMAT naming the file and the field). */
export function validateHeadsReport(value: unknown, file = "report.json"): HeadsReport {
  const c = new Check(file);
  const r = c.object(value, "(top level)");
  if (r.schema !== 1) c.fail("schema", `1 (a ${HEADS_REPORT_KIND} report)`, r.schema);
  c.array(r.checkpoints, "checkpoints").forEach((cp, i) => {
    const o = c.object(cp, `checkpoints[${i}]`);
    c.array(o.tasks, `checkpoints[${i}].tasks`);
    c.object(o.model, `checkpoints[${i}].model`);
    c.object(o.clusters, `checkpoints[${i}].clusters`);
  });
  c.object(r.config, "config");
  return value as HeadsReport;
}

function isEvalReport(v: unknown): boolean {
  return v !== null && typeof v === "object" && (v as { kind?: unknown }).kind === EVAL_REPORT_KIND;
}

/** The fields the eval page and table read, with the lengths they rely on (ERR_FORMAT naming the file and the field). */
export function validateEvalReport(value: unknown, file = "report.json"): EvalReport {
  const c = new Check(file);
  const r = c.object(value, "(top level)");
  if (r.schema !== 1) c.fail("schema", `1 (a ${EVAL_REPORT_KIND} report)`, r.schema);
  for (const k of ["ctxwin", "createdAt"]) c.string(r[k], k);
  c.oneOf(r.device, "device", ["cpu", "cuda"] as const);
  c.int(r.seed, "seed");
  if (r.interrupted !== null) c.string(r.interrupted, "interrupted");
  const cfg = c.object(r.config, "config");
  const methods = c.array(cfg.methods, "config.methods");
  methods.forEach((m, i) => c.string(m, `config.methods[${i}]`));
  const lengths = c.array(cfg.lengths, "config.lengths");
  if (!lengths.length) c.fail("config.lengths", "a non-empty array", lengths);
  lengths.forEach((m, i) => c.string(m, `config.lengths[${i}]`));
  const metrics = c.array(cfg.metrics, "config.metrics");
  metrics.forEach((m, i) => c.oneOf(m, `config.metrics[${i}]`, ["ppl", "passkey"] as const));
  c.int(c.object(cfg.passkey, "config.passkey").trials, "config.passkey.trials");
  c.string(cfg.log, "config.log");
  c.int(cfg.tokensPerBatch, "config.tokensPerBatch");
  const corpus = c.object(r.corpus, "corpus");
  c.string(corpus.source, "corpus.source");
  c.int(corpus.documents, "corpus.documents");
  const rules = c.object(r.rules, "rules");
  for (const [k, v] of Object.entries(rules)) c.string(v, `rules.${k}`);
  const models = c.array(r.models, "models");
  models.forEach((x, i) => {
    const f = `models[${i}]`;
    const m = c.object(x, f);
    for (const k of ["dir", "label", "hash", "kind", "modelType"]) c.string(m[k], `${f}.${k}`);
    c.int(m.trainLength, `${f}.trainLength`, 1);
    const ls = c.array(m.lengths, `${f}.lengths`);
    if (ls.length !== lengths.length) c.fail(`${f}.lengths`, `one length per config.lengths item (${lengths.length})`, ls);
    ls.forEach((T, j) => c.int(T, `${f}.lengths[${j}]`, 1));
    if (m.evaluation !== null) {
      const ev = c.object(m.evaluation, `${f}.evaluation`);
      c.array(ev.documents, `${f}.evaluation.documents`);
      c.int(ev.windows, `${f}.evaluation.windows`);
      c.int(ev.targets, `${f}.evaluation.targets`);
    }
  });
  const interval = (x: unknown, f: string) => {
    if (x === null || x === undefined) return;
    const o = c.object(x, f);
    for (const k of ["mean", "lo", "hi"]) c.measured(o[k], `${f}.${k}`);
  };
  c.array(r.rows, "rows").forEach((x, i) => {
    const f = `rows[${i}]`;
    const row = c.object(x, f);
    const mi = c.int(row.model, `${f}.model`);
    if (mi >= models.length) c.fail(`${f}.model`, `an index into models (${models.length})`, mi);
    for (const k of ["method", "canonical", "label", "description"]) c.string(row[k], `${f}.${k}`);
    if (row.reference !== null) c.string(row.reference, `${f}.reference`);
    for (const metric of ["ppl", "passkey"] as const) {
      if (row[metric] === null) continue;
      const cells = c.array(row[metric], `${f}.${metric}`);
      if (cells.length !== lengths.length) c.fail(`${f}.${metric}`, `one cell per length (${lengths.length})`, cells);
      cells.forEach((y, j) => {
        const g = `${f}.${metric}[${j}]`;
        const cell = c.object(y, g);
        const status = c.oneOf(cell.status, `${g}.status`, ["done", "n/a", "missing"] as const);
        if (metric === "passkey") {
          c.int(cell.lo, `${g}.lo`);
          c.int(cell.hi, `${g}.hi`, 1);
        }
        if (status !== "done") return;
        if (metric === "ppl") {
          interval(cell.nll, `${g}.nll`);
          interval(cell.vsReference, `${g}.vsReference`);
          interval(cell.vsShortest, `${g}.vsShortest`);
        } else {
          const trials = c.int(cell.trials, `${g}.trials`, 1);
          const correct = c.int(cell.correct, `${g}.correct`);
          if (correct > trials) c.fail(`${g}.correct`, `at most trials (${trials})`, correct);
          interval(cell.accuracy, `${g}.accuracy`);
        }
      });
    }
  });
  const counts = c.object(r.counts, "counts");
  for (const k of ["cells", "computed", "reused", "na", "missing"]) c.int(counts[k], `counts.${k}`);
  c.object(r.timings, "timings");
  return value as EvalReport;
}

function isPeftReport(v: unknown): boolean {
  return v !== null && typeof v === "object" && (v as { kind?: unknown }).kind === PEFT_REPORT_KIND;
}

/**
 * The fields the `ctxwin peft` page and findings read (ERR_FORMAT naming the file and the field):
 * the tasks, every cell's scores and costs, the APT gates' shapes.
 */
export function validatePeftReport(value: unknown, file = "report.json"): PeftReport {
  const c = new Check(file);
  const r = c.object(value, "(top level)");
  if (r.schema !== 1) c.fail("schema", `1 (a ${PEFT_REPORT_KIND} report)`, r.schema);
  c.string(r.ctxwin, "ctxwin");
  c.string(r.createdAt, "createdAt");
  c.oneOf(r.preset, "preset", ["micro", "quick", "standard", "paper"] as const);
  c.oneOf(r.device, "device", ["cpu", "cuda"] as const);
  const seeds = c.array(r.seeds, "seeds");
  seeds.forEach((s, i) => c.int(s, `seeds[${i}]`));
  const cfg = c.object(r.config, "config");
  const preset = c.object(cfg.presetSettings, "config.presetSettings");
  c.int(preset.fewShotK, "config.presetSettings.fewShotK", 1);
  c.array(cfg.methods, "config.methods").forEach((m, i) => c.oneOf(m, `config.methods[${i}]`, ["full", "lora", "ptv2", "apt"] as const));
  for (const [k, v] of Object.entries(c.object(cfg.rules, "config.rules"))) c.string(v, `config.rules.${k}`);
  if (cfg.interrupted !== undefined) c.string(cfg.interrupted, "config.interrupted");
  c.object(r.environment, "environment");
  const b = c.object(r.backbone, "backbone");
  for (const k of ["dir", "modelType", "tokenizer"]) c.string(b[k], `backbone.${k}`);
  c.boolean(b.pretrainedHere, "backbone.pretrainedHere");
  c.boolean(b.cached, "backbone.cached");
  for (const k of ["layers", "hiddenSize", "heads", "vocabSize", "parameters"]) c.int(b[k], `backbone.${k}`);
  if (b.pretraining !== null) {
    const p = c.object(b.pretraining, "backbone.pretraining");
    c.measured(p.finalLoss, "backbone.pretraining.finalLoss");
    c.number(p.seconds, "backbone.pretraining.seconds");
  }
  const names = c.array(r.tasks, "tasks").map((t, i) => {
    const f = `tasks[${i}]`;
    const o = c.object(t, f);
    c.oneOf(o.kind, `${f}.kind`, ["sequence", "token"] as const);
    c.oneOf(o.metric, `${f}.metric`, ["accuracy", "span F1"] as const);
    for (const k of ["source", "description"]) c.string(o[k], `${f}.${k}`);
    c.array(o.labels, `${f}.labels`).forEach((l, j) => c.string(l, `${f}.labels[${j}]`));
    for (const k of ["train", "test", "fewShotTrain"]) c.int(o[k], `${f}.${k}`);
    c.number(o.baseline, `${f}.baseline`);
    c.number(o.meanLength, `${f}.meanLength`);
    const tr = c.object(o.truncated, `${f}.truncated`);
    c.int(tr.train, `${f}.truncated.train`);
    c.int(tr.test, `${f}.truncated.test`);
    return c.string(o.name, `${f}.name`);
  });
  c.array(r.cells, "cells").forEach((x, i) => {
    const o = c.object(x, `cells[${i}]`);
    const f = typeof o.id === "string" ? `cells[${i}] (${o.id})` : `cells[${i}]`;
    c.string(o.id, `${f}.id`);
    const task = c.string(o.task, `${f}.task`);
    if (!names.includes(task)) c.fail(`${f}.task`, "the name of a task of this report", task);
    c.oneOf(o.setting, `${f}.setting`, ["full", "few-shot"] as const);
    c.oneOf(o.method, `${f}.method`, ["full", "lora", "ptv2", "apt", "ptv2-variable"] as const);
    c.int(o.seed, `${f}.seed`);
    const status = c.oneOf(o.status, `${f}.status`, ["done", "unavailable", "failed"] as const);
    if (o.reason !== null) c.string(o.reason, `${f}.reason`);
    if (status === "done") c.number(o.score, `${f}.score`);
    for (const [k, v] of Object.entries(c.object(o.metrics, `${f}.metrics`))) c.number(v, `${f}.metrics.${k}`);
    for (const k of ["trainableParameters", "totalParameters", "trainExamples", "steps"]) c.int(o[k], `${f}.${k}`);
    for (const k of ["seconds", "tokensPerSecond"]) c.number(o[k], `${f}.${k}`);
    c.array(o.lossCurve, `${f}.lossCurve`);
    if (o.prefixLengths !== null) c.array(o.prefixLengths, `${f}.prefixLengths`).forEach((n, j) => c.int(n, `${f}.prefixLengths[${j}]`, 1));
    if (o.gates !== null) {
      const g = c.object(o.gates, `${f}.gates`);
      const alpha = c.array(g.alpha, `${f}.gates.alpha`);
      const lambda = c.array(g.lambda, `${f}.gates.lambda`);
      if (lambda.length !== alpha.length) c.fail(`${f}.gates.lambda`, `one value per layer (${alpha.length})`, lambda);
      alpha.forEach((row, l) => c.array(row, `${f}.gates.alpha[${l}]`).forEach((v, k) => c.number(v, `${f}.gates.alpha[${l}][${k}]`)));
      lambda.forEach((v, l) => c.number(v, `${f}.gates.lambda[${l}]`));
      c.oneOf(g.mode, `${f}.gates.mode`, ["token", "pooled"] as const);
    }
  });
  const probe = c.object(r.probe, "probe");
  c.string(probe.rule, "probe.rule");
  for (const [k, v] of Object.entries(c.object(probe.lengths, "probe.lengths"))) c.array(v, `probe.lengths.${k}`).forEach((n, j) => c.int(n, `probe.lengths.${k}[${j}]`, 1));
  c.array(r.deviations, "deviations").forEach((d, i) => c.string(d, `deviations[${i}]`));
  const t = c.object(r.timings, "timings");
  c.measured(t.totalSeconds, "timings.totalSeconds");
  return value as PeftReport;
}

function isSftReport(v: unknown): boolean {
  return v !== null && typeof v === "object" && (v as { kind?: unknown }).kind === SFT_REPORT_KIND;
}

/**
 * The fields the sft-study page, its gates and its findings read (ERR_FORMAT naming the file and
 * the field): per run and evaluation one exact-match flag, NLL and token count per held-out
 * example of the task, and the head scores (layers × heads each) when present.
 */
export function validateSftReport(value: unknown, file = "report.json"): SftReport {
  const c = new Check(file);
  const r = c.object(value, "(top level)");
  if (r.schema !== 1) c.fail("schema", `1 (a ${SFT_REPORT_KIND} report)`, r.schema);
  c.string(r.ctxwin, "ctxwin");
  c.string(r.createdAt, "createdAt");
  c.oneOf(r.preset, "preset", ["micro", "quick", "standard", "large"] as const);
  c.int(r.seed, "seed");
  c.oneOf(r.device, "device", ["cpu", "cuda"] as const);
  const cfg = c.object(r.config, "config");
  c.object(cfg.presetSettings, "config.presetSettings");
  c.string(cfg.tasks, "config.tasks");
  c.string(cfg.model, "config.model");
  for (const [k, v] of Object.entries(c.object(cfg.rules, "config.rules"))) c.string(v, `config.rules.${k}`);
  if (cfg.interrupted !== undefined) c.string(cfg.interrupted, "config.interrupted");
  const env = c.object(r.environment, "environment");
  for (const k of ["node", "platform", "cpu"]) c.string(env[k], `environment.${k}`);
  const m = c.object(r.model, "model");
  c.string(m.dir, "model.dir");
  c.string(m.modelType, "model.modelType");
  c.string(m.tokenizer, "model.tokenizer");
  c.boolean(m.pretrainedHere, "model.pretrainedHere");
  c.boolean(m.cached, "model.cached");
  for (const k of ["layers", "heads", "kvHeads", "hiddenSize", "vocabSize", "parameters"]) c.int(m[k], `model.${k}`);
  if (m.pretraining !== null) {
    const p = c.object(m.pretraining, "model.pretraining");
    for (const k of ["steps", "tokens", "seconds"]) c.number(p[k], `model.pretraining.${k}`);
    c.measured(p.finalLoss, "model.pretraining.finalLoss");
    c.array(p.lossCurve, "model.pretraining.lossCurve");
  }
  const width = (m.layers as number) * (m.heads as number);
  const tasks = c.array(r.tasks, "tasks");
  const evalCount = new Map<string, number>();
  tasks.forEach((t, i) => {
    const f = `tasks[${i}]`;
    const o = c.object(t, f);
    const name = c.string(o.name, `${f}.name`);
    c.oneOf(o.kind, `${f}.kind`, ["basic", "complex"] as const);
    c.array(o.components, `${f}.components`).forEach((x, j) => {
      c.string(x, `${f}.components[${j}]`);
      if (!tasks.some((u) => (u as { name?: unknown }).name === x)) c.fail(`${f}.components[${j}]`, "the name of a task of this report", x);
    });
    for (const k of ["description", "source"]) c.string(o[k], `${f}.${k}`);
    c.int(o.train, `${f}.train`);
    evalCount.set(name, c.int(o.eval, `${f}.eval`));
    const ex = c.object(o.example, `${f}.example`);
    c.string(ex.prompt, `${f}.example.prompt`);
    c.string(ex.response, `${f}.example.response`);
    const maj = c.object(o.majority, `${f}.majority`);
    c.string(maj.response, `${f}.majority.response`);
    c.number(maj.accuracy, `${f}.majority.accuracy`);
  });
  c.array(r.runs, "runs").forEach((x, i) => {
    const o = c.object(x, `runs[${i}]`);
    const f = typeof o.id === "string" ? `runs[${i}] (${o.id})` : `runs[${i}]`;
    c.string(o.id, `${f}.id`);
    c.oneOf(o.arm, `${f}.arm`, ["base", "sft", "budget", "plain", "mix", "mix-equal"] as const);
    if (o.task !== null) c.string(o.task, `${f}.task`);
    c.int(o.examples, `${f}.examples`);
    c.int(o.steps, `${f}.steps`);
    if (o.seed !== null) c.int(o.seed, `${f}.seed`);
    if (o.mix !== null) {
      const mx = c.object(o.mix, `${f}.mix`);
      c.array(mx.weights, `${f}.mix.weights`).forEach((w, j) => {
        const wo = c.object(w, `${f}.mix.weights[${j}]`);
        c.string(wo.task, `${f}.mix.weights[${j}].task`);
        c.number(wo.weight, `${f}.mix.weights[${j}].weight`);
      });
      c.int(mx.steps, `${f}.mix.steps`);
    }
    c.measured(o.finalLoss, `${f}.finalLoss`);
    c.array(o.lossCurve, `${f}.lossCurve`);
    c.measured(o.seconds, `${f}.seconds`);
    c.array(o.evals, `${f}.evals`).forEach((e, j) => {
      const g = `${f}.evals[${j}]`;
      const eo = c.object(e, g);
      const task = c.string(eo.task, `${g}.task`);
      const n = evalCount.get(task);
      if (n === undefined) c.fail(`${g}.task`, "the name of a task of this report", task);
      for (const k of ["correct", "nll", "tokens"]) {
        const a = c.array(eo[k], `${g}.${k}`);
        if (a.length !== n) c.fail(`${g}.${k}`, `one value per held-out example of ${task} (${n})`, `${a.length} values`);
        a.forEach((v, q) => (k === "correct" ? c.oneOf(v, `${g}.${k}[${q}]`, [0, 1] as const) : c.number(v, `${g}.${k}[${q}]`)));
      }
      if (eo.scores !== null) {
        const s = c.array(eo.scores, `${g}.scores`);
        if (s.length !== n) c.fail(`${g}.scores`, `one row per held-out example of ${task} (${n})`, `${s.length} rows`);
        s.forEach((row, q) => {
          const rr = c.array(row, `${g}.scores[${q}]`);
          if (rr.length !== width) c.fail(`${g}.scores[${q}]`, `layers × heads = ${width} values`, `${rr.length} values`);
          rr.forEach((v, h) => c.number(v, `${g}.scores[${q}][${h}]`));
        });
      }
    });
  });
  c.array(r.deviations, "deviations").forEach((d, i) => c.string(d, `deviations[${i}]`));
  const t = c.object(r.timings, "timings");
  c.measured(t.totalSeconds, "timings.totalSeconds");
  for (const [k, v] of Object.entries(c.object(t.stages, "timings.stages"))) c.measured(v, `timings.stages.${k}`);
  return value as SftReport;
}

function reportFile(dir: string): string {
  return dir.endsWith(".json") ? dir : join(dir, "report.json");
}

class Check {
  constructor(readonly file: string) {}
  fail(field: string, expected: string, got: unknown): never {
    throw new CtxwinError("ERR_FORMAT", `loadReport: ${this.file}: ${field}: expected ${expected}, got ${show(got)}`);
  }
  object(x: unknown, field: string): Record<string, unknown> {
    if (x === null || typeof x !== "object" || Array.isArray(x)) this.fail(field, "an object", x);
    return x as Record<string, unknown>;
  }
  array(x: unknown, field: string): unknown[] {
    if (!Array.isArray(x)) this.fail(field, "an array", x);
    return x;
  }
  string(x: unknown, field: string): string {
    if (typeof x !== "string") this.fail(field, "a string", x);
    return x;
  }
  number(x: unknown, field: string): number {
    if (typeof x !== "number" || Number.isNaN(x)) this.fail(field, "a number", x);
    return x;
  }
  /** A measured value: JSON writes NaN/Infinity as null. */
  measured(x: unknown, field: string): void {
    if (x !== null && (typeof x !== "number" || Number.isNaN(x))) this.fail(field, "a number or null", x);
  }
  int(x: unknown, field: string, min = 0): number {
    if (typeof x !== "number" || !Number.isInteger(x) || x < min) this.fail(field, min > 0 ? "a positive integer" : "a non-negative integer", x);
    return x;
  }
  oneOf<T>(x: unknown, field: string, values: readonly T[]): T {
    if (!values.includes(x as T)) this.fail(field, `one of ${values.map((v) => JSON.stringify(v)).join(", ")}`, x);
    return x as T;
  }
  boolean(x: unknown, field: string): boolean {
    if (typeof x !== "boolean") this.fail(field, "a boolean", x);
    return x;
  }
}

const MODEL_NAMES = ["nope", "rope", "alibi", "window", "rope-ft", "rope-pi-ft", "rope-ntk-ft", "yarn-ft"] as const;

/**
 * Checks that `value` has the StudyReport shape (schema 2): every field the renderer, the gates and
 * the findings read, with the array lengths they rely on (one NLL per length, one passkey cell per
 * distance bucket, one per-document sum per evaluation document). Throws ERR_FORMAT naming `file`
 * and the field.
 */
export function validateReport(value: unknown, file = "report.json"): StudyReport {
  const c = new Check(file);
  const r = c.object(value, "(top level)");
  if (r.schema === 1) {
    throw new CtxwinError(
      "ERR_FORMAT",
      `loadReport: ${file}: schema: expected 2, got 1: this report.json was written by an older ctxwin (schema 1: perplexities without the per-document sums the gates and findings need); re-run \`ctxwin study\` with this version to get a schema-2 report`,
    );
  }
  if (r.schema !== 2) c.fail("schema", "2 (a ctxwin study report, schema 2)", r.schema);
  c.string(r.ctxwin, "ctxwin");
  c.string(r.createdAt, "createdAt");
  c.oneOf(r.preset, "preset", ["micro", "quick", "standard", "large"] as const);
  c.int(r.seed, "seed");
  c.oneOf(r.device, "device", ["cpu", "cuda"] as const);
  c.object(r.config, "config");
  const env = c.object(r.environment, "environment");
  for (const k of ["node", "platform", "cpu", "isa"]) c.string(env[k], `environment.${k}`);
  c.number(env.threads, "environment.threads");
  if (env.cuda !== null) c.string(env.cuda, "environment.cuda");
  const corpus = c.object(r.corpus, "corpus");
  c.string(corpus.source, "corpus.source");
  for (const k of ["documents", "tokens"]) {
    const o = c.object(corpus[k], `corpus.${k}`);
    c.number(o.train, `corpus.${k}.train`);
    c.number(o.validation, `corpus.${k}.validation`);
  }
  const tok = c.object(corpus.tokenizer, "corpus.tokenizer");
  c.oneOf(tok.type, "corpus.tokenizer.type", ["bpe", "byte"] as const);
  c.number(tok.vocabSize, "corpus.tokenizer.vocabSize");
  c.int(r.trainLength, "trainLength", 1);
  const lengths = c.array(r.lengths, "lengths");
  if (!lengths.length) c.fail("lengths", "a non-empty array", lengths);
  lengths.forEach((T, i) => {
    c.int(T, `lengths[${i}]`, 1);
    if (i > 0 && (T as number) <= (lengths[i - 1] as number)) c.fail(`lengths[${i}]`, `a length above lengths[${i - 1}] (${String(lengths[i - 1])})`, T);
  });

  const ev = c.object(r.evaluation, "evaluation");
  const documents = c.array(ev.documents, "evaluation.documents");
  documents.forEach((d, i) => c.string(d, `evaluation.documents[${i}]`));
  for (const k of ["windows", "targets", "tuneDocuments", "tuneWindows"]) c.int(ev[k], `evaluation.${k}`);
  const nDocs = documents.length;

  const pk = c.object(r.passkey, "passkey");
  const buckets = c.array(pk.buckets, "passkey.buckets");
  buckets.forEach((b, i) => {
    const o = c.object(b, `passkey.buckets[${i}]`);
    const lo = c.int(o.lo, `passkey.buckets[${i}].lo`);
    const hi = c.int(o.hi, `passkey.buckets[${i}].hi`, 1);
    if (hi <= lo) c.fail(`passkey.buckets[${i}].hi`, `a distance above lo (${lo})`, hi);
  });
  c.int(pk.trials, "passkey.trials");
  c.int(pk.digits, "passkey.digits");
  const tpl = c.object(pk.template, "passkey.template");
  c.string(tpl.keySentence, "passkey.template.keySentence");
  c.string(tpl.question, "passkey.template.question");

  c.array(r.models, "models").forEach((x, i) => {
    const f = `models[${i}]`;
    const m = c.object(x, f);
    c.oneOf(m.name, `${f}.name`, MODEL_NAMES);
    if (m.base !== null) c.oneOf(m.base, `${f}.base`, MODEL_NAMES);
    c.string(m.positional, `${f}.positional`);
    if (m.window !== null) c.number(m.window, `${f}.window`);
    for (const k of ["params", "trainSteps", "trainTokens"]) c.number(m[k], `${f}.${k}`);
    c.int(m.seqLen, `${f}.seqLen`, 1);
    const mix = c.object(m.mixture, `${f}.mixture`);
    c.number(mix.lm, `${f}.mixture.lm`);
    c.number(mix.passkey, `${f}.mixture.passkey`);
    for (const k of ["finalTrainLoss", "wallSeconds"]) c.measured(m[k], `${f}.${k}`);
    c.boolean(m.cached, `${f}.cached`);
    c.string(m.dir, `${f}.dir`);
    c.array(m.lossCurve, `${f}.lossCurve`).forEach((p, j) => {
      const o = c.object(p, `${f}.lossCurve[${j}]`);
      c.number(o.step, `${f}.lossCurve[${j}].step`);
      c.measured(o.loss, `${f}.lossCurve[${j}].loss`);
    });
  });

  c.array(r.methods, "methods").forEach((x, i) => {
    const m = c.object(x, `methods[${i}]`);
    const f = typeof m.id === "string" ? `methods[${i}] (${m.id})` : `methods[${i}]`;
    c.string(m.id, `${f}.id`);
    c.string(m.label, `${f}.label`);
    c.oneOf(m.model, `${f}.model`, MODEL_NAMES);
    c.oneOf(m.seed, `${f}.seed`, ["000", "001", "003", null] as const);
    c.string(m.description, `${f}.description`);
    const params = c.object(m.params, `${f}.params`);
    for (const [k, v] of Object.entries(params)) {
      if (v !== null && !["number", "string", "boolean"].includes(typeof v)) c.fail(`${f}.params.${k}`, "a number, string, boolean or null", v);
    }
    const nll = c.array(m.nll, `${f}.nll`);
    if (nll.length !== lengths.length) c.fail(`${f}.nll`, `one value per length (${lengths.length})`, nll);
    nll.forEach((v, j) => c.measured(v, `${f}.nll[${j}]`));
    const docNll = c.array(m.docNll, `${f}.docNll`);
    if (docNll.length !== lengths.length) c.fail(`${f}.docNll`, `one row per length (${lengths.length})`, docNll);
    let anyRow = false;
    docNll.forEach((row, j) => {
      if (row === null) return;
      anyRow = true;
      const rr = c.array(row, `${f}.docNll[${j}]`);
      if (rr.length !== nDocs) c.fail(`${f}.docNll[${j}]`, `one NLL sum per evaluation document (${nDocs}) or null`, rr);
      rr.forEach((v, k) => c.number(v, `${f}.docNll[${j}][${k}]`));
    });
    const targets = c.array(m.docTargets, `${f}.docTargets`);
    // a method without any evaluated length has no per-document counts
    if (targets.length !== nDocs && (anyRow || targets.length !== 0)) c.fail(`${f}.docTargets`, `one target count per evaluation document (${nDocs})`, targets);
    targets.forEach((v, k) => c.int(v, `${f}.docTargets[${k}]`));
    if (m.positions !== null) {
      const p = c.object(m.positions, `${f}.positions`);
      c.int(p.length, `${f}.positions.length`, 1);
      c.array(p.buckets, `${f}.positions.buckets`).forEach((b, j) => {
        const g = `${f}.positions.buckets[${j}]`;
        const o = c.object(b, g);
        c.number(o.start, `${g}.start`);
        c.number(o.end, `${g}.end`);
        c.measured(o.nll, `${g}.nll`);
      });
    }
    const cells = c.array(m.passkey, `${f}.passkey`);
    if (cells.length !== buckets.length) c.fail(`${f}.passkey`, `one cell per distance bucket (${buckets.length})`, cells);
    cells.forEach((cell, j) => {
      if (cell === null) return;
      const g = `${f}.passkey[${j}]`;
      const o = c.object(cell, g);
      const trials = c.int(o.trials, `${g}.trials`, 1);
      const correct = c.int(o.correct, `${g}.correct`);
      if (correct > trials) c.fail(`${g}.correct`, `at most trials (${trials})`, correct);
      c.measured(o.meanLogLik, `${g}.meanLogLik`);
    });
    if (m.sweeps !== undefined) {
      c.array(m.sweeps, `${f}.sweeps`).forEach((s, j) => {
        const g = `${f}.sweeps[${j}]`;
        const o = c.object(s, g);
        c.string(o.param, `${g}.param`);
        const values = c.array(o.values, `${g}.values`);
        values.forEach((v, k) => c.number(v, `${g}.values[${k}]`));
        const sl = c.array(o.lengths, `${g}.lengths`);
        sl.forEach((T, k) => c.int(T, `${g}.lengths[${k}]`, 1));
        const rows = c.array(o.nll, `${g}.nll`);
        if (rows.length !== values.length) c.fail(`${g}.nll`, `one row per value (${values.length})`, rows);
        rows.forEach((row, k) => {
          const rr = c.array(row, `${g}.nll[${k}]`);
          if (rr.length !== sl.length) c.fail(`${g}.nll[${k}]`, `one value per swept length (${sl.length})`, rr);
          rr.forEach((v, l) => c.measured(v, `${g}.nll[${k}][${l}]`));
        });
        c.oneOf(o.mode, `${g}.mode`, ["per-length", "shared"] as const);
        const chosen = c.array(o.chosen, `${g}.chosen`);
        if (chosen.length !== sl.length) c.fail(`${g}.chosen`, `one value per swept length (${sl.length})`, chosen);
        chosen.forEach((v, k) => c.number(v, `${g}.chosen[${k}]`));
      });
    }
    c.measured(m.wallSeconds, `${f}.wallSeconds`);
  });
  c.array(r.deviations, "deviations").forEach((d, i) => c.string(d, `deviations[${i}]`));
  const t = c.object(r.timings, "timings");
  c.measured(t.totalSeconds, "timings.totalSeconds");
  for (const [k, v] of Object.entries(c.object(t.stages, "timings.stages"))) c.measured(v, `timings.stages.${k}`);
  return value as StudyReport;
}

/**
 * Reads DIR/report.json (or the .json file given) and validates it. Throws CtxwinError ERR_ARG when
 * the file cannot be read, ERR_FORMAT (naming the file and the field) when it is not valid JSON or
 * not a schema-2 study report (a schema-1 file, from an older ctxwin, must be re-run).
 */
export async function loadReport(dir: string): Promise<StudyReport> {
  const file = reportFile(dir);
  return validateReport(await readReportJson(file), file);
}

/** Reads and parses a report.json (ERR_ARG when unreadable, ERR_FORMAT when not JSON). */
async function readReportJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const got = err.code === "ENOENT" ? "no such file" : err.code === "EISDIR" ? "a directory" : (err.code ?? err.message);
    throw new CtxwinError("ERR_ARG", `loadReport: ${file}: expected a report.json written by ctxwin study, got ${got}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new CtxwinError("ERR_FORMAT", `loadReport: ${file}: expected JSON, got a parse error (${(e as Error).message})`);
  }
  return value;
}

function isPositionalReport(v: unknown): boolean {
  return v !== null && typeof v === "object" && (v as { schema?: unknown }).schema === "ctxwin-analyze-positional/1";
}

/** The fields the positional page and summary read (ERR_FORMAT naming the file and the field). */
export function validatePositionalReport(value: unknown, file = "report.json"): PositionalReport {
  const c = new Check(file);
  const r = c.object(value, "(top level)");
  c.string(r.ctxwin, "ctxwin");
  c.string(r.createdAt, "createdAt");
  const m = c.object(r.model, "model");
  c.oneOf(m.kind, "model.kind", ["nope", "rope", "alibi", "window"] as const);
  for (const k of ["layers", "hiddenSize", "heads"]) c.int(m[k], `model.${k}`, 1);
  const L = c.int(r.trainLength, "trainLength", 1);
  const lengths = c.array(r.lengths, "lengths");
  if (!lengths.length) c.fail("lengths", "a non-empty array", lengths);
  lengths.forEach((T, i) => c.int(T, `lengths[${i}]`, 1));
  if ((lengths[lengths.length - 1] as number) < L) c.fail("lengths", `a longest length ≥ trainLength (${L})`, lengths);
  c.object(r.corpus, "corpus");
  const st = c.object(r.settings, "settings");
  for (const k of ["samples", "attentionSamples", "anchors", "bucketWidth"]) c.int(st[k], `settings.${k}`);
  c.array(st.similarityPositions, "settings.similarityPositions");
  c.array(st.distanceEdges, "settings.distanceEdges");
  const base = c.object(r.base, "base");
  c.object(base.run, "base.run");
  const layers = c.array(base.layers, "base.layers");
  if (layers.length !== (m.layers as number) + 1) c.fail("base.layers", `one entry per hidden layer (${(m.layers as number) + 1})`, layers);
  layers.forEach((g, i) => {
    const o = c.object(g, `base.layers[${i}]`);
    for (const k of ["anchorScores", "similarity", "stepChange", "ood", "oodBeyond"]) c.array(o[k], `base.layers[${i}].${k}`);
  });
  c.array(base.pca, "base.pca").forEach((p, i) => {
    const o = c.object(p, `base.pca[${i}]`);
    const n = c.array(o.positions, `base.pca[${i}].positions`).length;
    for (const k of ["x", "y"]) if (c.array(o[k], `base.pca[${i}].${k}`).length !== n) c.fail(`base.pca[${i}].${k}`, `one value per position (${n})`, o[k]);
  });
  c.array(r.methods, "methods").forEach((x, i) => {
    const o = c.object(x, `methods[${i}]`);
    c.string(o.id, `methods[${i}].id`);
    c.array(o.lengths, `methods[${i}].lengths`);
  });
  c.array(r.skippedMethods, "skippedMethods");
  c.array(r.observations, "observations").forEach((x, i) => {
    const o = c.object(x, `observations[${i}]`);
    for (const k of ["title", "criterion", "measured"]) c.string(o[k], `observations[${i}].${k}`);
    c.oneOf(o.verdict, `observations[${i}].verdict`, ["holds", "does not hold", "not testable"] as const);
  });
  c.object(r.timings, "timings");
  return value as PositionalReport;
}
