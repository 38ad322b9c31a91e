/**
 * `ctxwin analyze heads`: head activation maps of one checkpoint (or two: before and after SFT)
 * on the tasks of JSONL files, and what seed 002 reads from them.
 *
 *   task files ─► encodeTasks ─► per checkpoint, per task: headActivationScores (signed and |·| maps)
 *     ─► per checkpoint: Gini of every map, each task's map decomposed onto the other tasks' maps
 *        (NNLS + intercept, R²), k-means clusters of heads by their profile across tasks
 *     ─► with --before/--after: per task, the change of the map (after − before), its relative
 *        L2 size, the correlation of the two maps, Gini before and after, the heads that moved most
 *     ─► report.json (every number) + report.html (lib/report/heads.ts) + the terminal table
 *
 * The analyses (decomposition, clusters, comparison) run on one variant of the maps, `score`
 * ("absolute" by default: the paper reads activation magnitudes); both variants are in report.json.
 */
import { access, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { cpus } from "node:os";
import { CtxwinError } from "../errors.js";
import { defaultDevice, type Device } from "../tensor.js";
import { loadModel } from "../models/load.js";
import { loadTokenizer } from "../models/tokenizer/hf.js";
import type { Tokenizer } from "../models/tokenizer/types.js";
import type { CausalLM } from "../models/causal_lm.js";
import { writeFileAtomic } from "../util/atomic.js";
import { silentProgress, type ProgressSink } from "../util/progress.js";
import { headActivationScores } from "./head_scores.js";
import { clusterHeads, compareMaps, decomposeMap, gini } from "./head_maps.js";
import { encodeTasks, readTaskFiles } from "./tasks.js";
import { HEADS_DEFINITIONS, HEADS_REPORT_KIND, type HeadsCheckpoint, type HeadsDecomposition, type HeadsReport, type HeadsTaskResult, type ScoreVariant } from "./heads_schema.js";

export { HEADS_DEFINITIONS, HEADS_REPORT_KIND, type HeadsCheckpoint, type HeadsComparisonTask, type HeadsDecomposition, type HeadsReport, type HeadsTaskResult, type ScoreVariant } from "./heads_schema.js";

export interface HeadsAnalysisOptions {
  /** One checkpoint, or two to compare (the first is "before"). */
  checkpoints: { label: string; dir: string }[];
  /** JSONL task files. */
  taskFiles: string[];
  /** Directory of tokenizer.json (default: the first checkpoint's, when it has one). */
  tokenizer?: string;
  /** Where report.json and report.html go (created). */
  out: string;
  device?: Device;
  score?: ScoreVariant;
  /** k of the head clusters (default 4). */
  clusters?: number;
  batchSize?: number;
  /** Examples per task at most (first ones in file order; default all). */
  maxExamples?: number;
  maxLength?: number;
  /** Plain least squares instead of NNLS for the decompositions. */
  plainLeastSquares?: boolean;
  progress?: ProgressSink;
  signal?: AbortSignal;
  /** The ctxwin version written into the report. */
  version?: string;
}

const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

/** Runs the analysis and writes `out/report.json` (the caller renders the HTML). */
export async function runHeadsAnalysis(opts: HeadsAnalysisOptions): Promise<HeadsReport> {
  const fn = "analyze heads";
  const started = performance.now();
  const progress = opts.progress ?? silentProgress;
  const score = opts.score ?? "absolute";
  const k = opts.clusters ?? 4;
  const batchSize = opts.batchSize ?? 8;
  if (opts.checkpoints.length < 1 || opts.checkpoints.length > 2) throw new CtxwinError("ERR_ARG", `${fn}: checkpoints: expected one model or a before/after pair, got ${opts.checkpoints.length}`);
  const records = await readTaskFiles(opts.taskFiles);
  const tokDir = opts.tokenizer ?? opts.checkpoints[0]!.dir;
  let tokenizer: Tokenizer | null = null;
  if (opts.tokenizer !== undefined || (await exists(join(tokDir, "tokenizer.json")))) tokenizer = await loadTokenizer(tokDir);
  progress.log(`${fn}: ${records.length} examples from ${opts.taskFiles.length} file${opts.taskFiles.length === 1 ? "" : "s"}; tokenizer ${tokenizer ? tokDir : "none (token ids only)"}`);

  const checkpoints: HeadsCheckpoint[] = [];
  for (const cp of opts.checkpoints) {
    if (opts.signal?.aborted) throw new CtxwinError("ERR_ARG", `${fn}: interrupted`);
    progress.stage(`load ${cp.label}`);
    const model: CausalLM = await loadModel(cp.dir, { device: opts.device });
    try {
      const cfg = model.config;
      progress.done(`${cfg.modelType}, ${cfg.numLayers} layers × ${cfg.numHeads} heads, ${(model.numParameters() / 1e6).toFixed(2)}M parameters`);
      const tasks = encodeTasks(records, cfg.vocabSize, tokenizer, { maxExamples: opts.maxExamples });
      const results: HeadsTaskResult[] = [];
      for (const t of tasks) {
        progress.stage(`${cp.label}: ${t.task}`);
        const t0 = performance.now();
        const s = await headActivationScores(model, t.examples, {
          batchSize,
          maxLength: opts.maxLength,
          signal: opts.signal,
          onProgress: (done, total) => progress.update({ step: done, total, note: "examples" }),
        });
        const seconds = (performance.now() - t0) / 1000;
        results.push({
          task: t.task,
          files: t.files,
          examples: s.examples,
          tokens: s.tokens,
          loss: s.loss,
          signed: s.signed,
          absolute: s.absolute,
          gini: { signed: finiteOrNull(gini(s.signed)), absolute: finiteOrNull(gini(s.absolute)) },
          seconds,
        });
        progress.done(`loss ${s.loss.toFixed(3)}, Gini ${formatMaybe(gini(s[score]))}`);
      }
      const maps = results.map((r) => r[score]);
      const decomposition: HeadsDecomposition[] = [];
      if (results.length >= 2) {
        results.forEach((r, i) => {
          const others = results.filter((_, j) => j !== i);
          const d = decomposeMap(maps[i]!, others.map((o) => o[score]), { nonNegative: !opts.plainLeastSquares });
          const mean = maps[i]!.map((row, l) => row.map((_, h) => others.reduce((s, o) => s + o[score][l]![h]!, 0) / others.length));
          const eq = decomposeMap(maps[i]!, [mean], { nonNegative: !opts.plainLeastSquares });
          decomposition.push({ task: r.task, onto: others.map((o) => o.task), coefficients: d.coefficients, intercept: d.intercept, r2: finiteOrNull(d.r2), rmse: d.rmse, r2EqualWeights: finiteOrNull(eq.r2) });
        });
      }
      const clusters = { ...clusterHeads(maps, { k }), tasks: results.map((r) => r.task) };
      checkpoints.push({
        label: cp.label,
        dir: cp.dir,
        model: { family: cfg.family, modelType: cfg.modelType, layers: cfg.numLayers, heads: cfg.numHeads, kvHeads: cfg.numKvHeads, headDim: cfg.headDim, vocabSize: cfg.vocabSize, parameters: model.numParameters() },
        tasks: results,
        decomposition,
        clusters,
      });
    } finally {
      model.dispose();
    }
  }

  let comparison: HeadsReport["comparison"] = null;
  if (checkpoints.length === 2) {
    const [b, a] = checkpoints as [HeadsCheckpoint, HeadsCheckpoint];
    if (b.model.layers !== a.model.layers || b.model.heads !== a.model.heads) {
      throw new CtxwinError("ERR_ARG", `${fn}: --after: expected a model with the layers × heads of --before (${b.model.layers} × ${b.model.heads}), got ${a.model.layers} × ${a.model.heads}`);
    }
    comparison = {
      before: b.label,
      after: a.label,
      tasks: b.tasks.map((tb) => {
        const ta = a.tasks.find((t) => t.task === tb.task)!;
        const c = compareMaps(tb[score], ta[score]);
        return {
          task: tb.task,
          delta: c.delta,
          relativeChange: finiteOrNull(c.relativeChange),
          correlation: finiteOrNull(c.correlation),
          giniBefore: finiteOrNull(c.giniBefore),
          giniAfter: finiteOrNull(c.giniAfter),
          topChanged: c.topChanged,
          lossBefore: tb.loss,
          lossAfter: ta.loss,
        };
      }),
    };
  }

  const report: HeadsReport = {
    kind: HEADS_REPORT_KIND,
    schema: 1,
    ctxwin: opts.version ?? "unknown",
    createdAt: new Date().toISOString(),
    config: {
      taskFiles: [...opts.taskFiles],
      tokenizer: tokenizer ? tokDir : null,
      score,
      clusters: k,
      batchSize,
      maxExamples: opts.maxExamples ?? null,
      maxLength: opts.maxLength ?? null,
      decomposition: opts.plainLeastSquares ? "ls" : "nnls",
    },
    device: opts.device ?? defaultDevice(),
    environment: { node: process.version, platform: `${process.platform}-${process.arch}`, cpu: cpus()[0]?.model ?? "unknown" },
    definitions: HEADS_DEFINITIONS,
    checkpoints,
    comparison,
    timings: { totalSeconds: (performance.now() - started) / 1000 },
  };
  await mkdir(opts.out, { recursive: true });
  await writeFileAtomic(join(opts.out, "report.json"), JSON.stringify(report, null, 2) + "\n");
  return report;
}

function formatMaybe(x: number): string {
  return Number.isFinite(x) ? x.toFixed(3) : "–";
}
