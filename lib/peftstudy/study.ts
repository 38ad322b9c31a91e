/**
 * `ctxwin peft`: seed 004 (Adaptive Prefix Tuning vs P-tuning v2) in miniature, end to end:
 *
 *   backbone: --model DIR (BERT / RoBERTa checkpoint with tokenizer.json), or a small encoder
 *     pretrained here by MLM on the Brown corpus (parts.pretrainEncoder, cached under OUT/models)
 *   → tasks: brown-genre, brown-names and any --data files (tasks.ts), encoded for the backbone
 *     (lib/tasks/encode.ts; label maps from the training split)
 *   → cells: task × setting (full data, few-shot) × method (full, lora, ptv2, apt) × seed: a fresh
 *     backbone with a fresh head (seeded), the method applied (methods.ts), trainClassifier with
 *     the setting's steps and the method's learning rate, evaluateClassifier on the test split;
 *     APT cells also read their mean gates α and λ over the training inputs
 *   → the probe: per task, per-layer prefix lengths from the APT gates (variableLengths), P-tuning
 *     v2 retrained with them on full data for every seed
 *   → report.json (findings.ts computes the verdicts from it).
 *
 * Resumable: every finished cell is appended to OUT/cells.jsonl with a key of everything it
 * depends on (preset, backbone, tasks, seed); a re-run with the same key reuses it. Interrupted
 * (signal): a partial report.json with the cells so far.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { CtxwinError } from "../errors.js";
import { backendInfo } from "../index.js";
import { packageVersion } from "../backend.js";
import type { Device } from "../tensor.js";
import { loadEncoder, readEncoderConfig } from "../models/encoder/load.js";
import { parameterCounts } from "../peft/count.js";
import type { Encoder } from "../models/encoder/model.js";
import { encodeClassification, encodeTagging, inputCodec, labelMap, type EncodedTask, type InputCodec, type LabelMap } from "../tasks/encode.js";
import { evaluateClassifier, padBatch, trainClassifier } from "../tasks/train.js";
import { StudyAborted, checkAbort } from "../study/trainer.js";
import { appendDurable, writeJsonAtomic } from "../util/atomic.js";
import { createStageProgress, type ProgressSink } from "../util/progress.js";
import { stageTimer } from "../util/stages.js";
import { mixSeed } from "../util/rng.js";
import { applyMethod, variableLengths } from "./methods.js";
import { defaultParts, MissingPart, type GateBatch, type PeftParts } from "./parts.js";
import { getPeftPreset, validatePeftPreset, type PeftPreset, type PeftPresetName } from "./presets.js";
import { BUILTIN_TASK_NAMES, builtinTask, dataTask, fewShotTrain, type RawTask } from "./tasks.js";
import { computePeftFindings, layerProfile } from "./findings.js";
import { PEFT_METHODS, PEFT_REPORT_KIND, type PeftBackboneInfo, type PeftCell, type PeftCellMethod, type PeftMethod, type PeftReport, type PeftSetting, type PeftTaskInfo } from "./report_schema.js";
import { runEnvironment } from "../util/environment.js";

/** Bump when a cell's meaning changes (earlier cells.jsonl lines are then not reused). */
export const PEFT_CELL_VERSION = 1;

export interface PeftStudyOptions {
  /** A preset name (default "quick") or a full preset (tests). */
  preset?: PeftPresetName | PeftPreset;
  /** A BERT / RoBERTa checkpoint directory with tokenizer.json instead of pretraining one. */
  model?: string;
  /** Task files (SuperGLUE JSONL, plain JSONL, CoNLL) added to the built-in tasks. */
  data?: string[];
  /** Only these tasks (names: brown-genre, brown-names, a --data file's base name). Default all. */
  tasks?: string[];
  /** Default all four. */
  methods?: PeftMethod[];
  /** Seeds per cell (default: the preset's); seeds are seed, seed + 1, … */
  seeds?: number;
  device?: Device;
  /** Output directory (default ./ctxwin-peft). */
  out?: string;
  /** First seed; also the seed of the splits and the backbone. Default 0. */
  seed?: number;
  signal?: AbortSignal;
  progress?: ProgressSink;
  version?: string;
  /** Stand-ins for parts (tests); default: this build's (parts.ts). */
  parts?: Partial<PeftParts>;
}

export interface PeftStudyResult {
  report: PeftReport;
  reportPath: string;
  interrupted: boolean;
}

const FN = "peft";


function sha(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/** config.json, tokenizer.json and the weight files' sizes and times: a cheap identity of a checkpoint. */
function checkpointHash(dir: string): string {
  const parts: string[] = [];
  for (const f of ["config.json", "tokenizer.json", "model.safetensors", "model.safetensors.index.json"]) {
    const p = join(dir, f);
    if (existsSync(p)) {
      const st = statSync(p);
      parts.push(`${f}:${st.size}:${st.mtimeMs}`);
    }
  }
  return sha(parts.join("|"));
}

interface PreparedTask {
  raw: RawTask;
  labels: LabelMap;
  train: EncodedTask;
  test: EncodedTask;
  info: PeftTaskInfo;
}

function encodeFor(raw: RawTask, codec: InputCodec, labels: LabelMap, which: "train" | "test" | RawTask["train"], maxLength: number, where: string): EncodedTask {
  const xs = which === "train" ? raw.train : which === "test" ? raw.test : which;
  return raw.kind === "sequence" ? encodeClassification(xs as never, codec, labels, { maxLength, where }) : encodeTagging(xs as never, codec, labels, { maxLength, where });
}

function prepare(raw: RawTask, codec: InputCodec, maxLength: number, k: number, seed: number): PreparedTask {
  if (raw.train.length === 0 || raw.test.length === 0) throw new CtxwinError("ERR_ARG", `${FN}: task ${raw.name}: expected training and test examples, got ${raw.train.length} and ${raw.test.length}`);
  const labels = labelMap(raw.kind === "sequence" ? raw.train.map((e) => e.label) : raw.train.flatMap((e) => e.tags));
  const train = encodeFor(raw, codec, labels, "train", maxLength, `${raw.name} train`);
  const test = encodeFor(raw, codec, labels, "test", maxLength, `${raw.name} test`);
  let baseline = 0;
  if (raw.kind === "sequence") {
    const counts = new Map<string, number>();
    for (const e of raw.train) counts.set(e.label, (counts.get(e.label) ?? 0) + 1);
    const top = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]![0];
    baseline = raw.test.filter((e) => e.label === top).length / raw.test.length;
  }
  const all = [...train.examples, ...test.examples];
  const info: PeftTaskInfo = {
    name: raw.name,
    kind: raw.kind,
    source: raw.source,
    description: raw.description,
    labels: labels.names,
    train: raw.train.length,
    test: raw.test.length,
    fewShotTrain: fewShotTrain(raw.train as never[], k, mixSeed(seed, 0xf5)).length,
    metric: raw.kind === "sequence" ? "accuracy" : "span F1",
    baseline,
    truncated: { train: train.truncated, test: test.truncated },
    meanLength: all.reduce((a, e) => a + e.ids.length, 0) / all.length,
  };
  return { raw, labels, train, test, info };
}

/** Runs the comparison; see the file header. */
export async function runPeftStudy(opts: PeftStudyOptions = {}): Promise<PeftStudyResult> {
  const t0 = performance.now();
  const preset = typeof opts.preset === "object" ? structuredClone(opts.preset) : getPeftPreset(opts.preset ?? "quick");
  validatePeftPreset(preset);
  const seed = opts.seed ?? 0;
  const nSeeds = opts.seeds ?? preset.seeds;
  if (!Number.isInteger(nSeeds) || nSeeds < 1) throw new CtxwinError("ERR_ARG", `${FN}: --seeds: expected a positive integer, got ${JSON.stringify(nSeeds)}`);
  if (!Number.isInteger(seed) || seed < 0 || !Number.isSafeInteger(seed + nSeeds)) throw new CtxwinError("ERR_ARG", `${FN}: --seed: expected a non-negative integer, got ${seed}`);
  const seeds = Array.from({ length: nSeeds }, (_, i) => seed + i);
  const methods = opts.methods ?? [...PEFT_METHODS];
  for (const m of methods) if (!PEFT_METHODS.includes(m)) throw new CtxwinError("ERR_ARG", `${FN}: --methods: expected some of ${PEFT_METHODS.join(", ")}, got ${JSON.stringify(m)}`);
  const device: Device = opts.device ?? "cpu";
  if (device !== "cpu" && device !== "cuda") throw new CtxwinError("ERR_ARG", `${FN}: --device: expected "cpu" or "cuda", got ${JSON.stringify(device)}`);
  const info = backendInfo();
  if (device === "cuda" && !info.cuda.available) throw new CtxwinError("ERR_DEVICE", `${FN}: --device cuda: CUDA is unavailable (${info.cuda.reason})`);
  const out = resolve(opts.out ?? "ctxwin-peft");
  const progress = opts.progress ?? createStageProgress();
  const signal = opts.signal;
  const version = opts.version ?? packageVersion();
  const parts: PeftParts = { ...defaultParts(), ...opts.parts };

  // everything checkable before anything runs: the model directory, the task files, the task names
  if (opts.model !== undefined && !existsSync(join(opts.model, "config.json"))) {
    throw new CtxwinError("ERR_ARG", `${FN}: --model: expected a checkpoint directory with config.json, got ${JSON.stringify(opts.model)} (${existsSync(opts.model) ? "no config.json in it" : "no such directory"})`);
  }
  const dataTasks = (opts.data ?? []).map((f) => dataTask(f, preset, seed));
  const allNames = [...BUILTIN_TASK_NAMES, ...dataTasks.map((t) => t.name)];
  const dup = allNames.find((n, i) => allNames.indexOf(n) !== i);
  if (dup) throw new CtxwinError("ERR_ARG", `${FN}: --data: expected task names (file base names) distinct from each other and from ${BUILTIN_TASK_NAMES.join(", ")}, got ${JSON.stringify(dup)} twice`);
  const wanted = opts.tasks?.length ? opts.tasks : allNames;
  for (const n of wanted) if (!allNames.includes(n)) throw new CtxwinError("ERR_ARG", `${FN}: --tasks: expected some of ${allNames.join(", ")}, got ${JSON.stringify(n)}`);

  const { stages, timed } = stageTimer();
  const cells: PeftCell[] = [];
  let backbone: PeftBackboneInfo | null = null;
  let tasksInfo: PeftTaskInfo[] = [];
  const probe: PeftReport["probe"] = { rule: "per-layer prefix length ∝ the layer's mean APT gate α (mean over prefix tokens, training inputs' real tokens and seeds), total = layers × P as the uniform prefix, at least 1 per layer, largest-remainder rounding", lengths: {} };
  const rules: Record<string, string> = {
    inputs: "BERT: [CLS] a [SEP] (b [SEP]), type ids 0/1; RoBERTa: <s> a </s></s> b </s>; truncated longest-first to maxLength ids (specials included): the preset's, or less so that the longest first-layer prefix of the run (P-tuning v2 shifts positions by it; the probe's can reach L·P − L + 1) still fits the position embeddings — the same for every method. Tagging: every word tokenised with a leading space, its first sub-token carries the label, continuations and specials are not scored; words past maxLength are cut and predicted O",
    methods: `full: every weight; lora: r ${preset.lora.r}, alpha ${preset.lora.alpha} on ${preset.lora.targetModules.join(", ")}; ptv2: ${preset.prefixLength} prefix key/value vectors per layer, no reparameterisation; apt: the same prefixes with ${preset.aptGate === "token" ? "per-token" : "pooled per-sequence"} gates α and a scale λ per layer. Adapter methods also train the head (classifier and pooler)`,
    training: `the same steps, batch and warmup for every method (full data: ${preset.train.full.steps} steps × ${preset.train.full.batch}; few-shot: ${preset.train.fewShot.steps} × ${preset.train.fewShot.batch}); AdamW (weight decay 0.01, clipping 1), warmup then cosine to 0.1·lr; lr per method: ${Object.entries(preset.lr).map(([m, v]) => `${m} ${v}`).join(", ")}; the score is the model after the last step (no dev-set selection)`,
    fewShot: `k = ${preset.fewShotK} training examples per class (tagging: per entity type of a sentence's first entity, and k sentences without one), a fresh draw per seed`,
    scores: "accuracy (sequence tasks) or span F1 (tagging, seqeval semantics) on the test split; intervals are 95% Student t intervals over seeds",
    seeds: "a seed fixes the head's and the adapter's initialisation, the example order and the few-shot draw; splits and the backbone are the same for every seed",
    gates: "APT gates: mean α per layer and prefix token over the real tokens of the training inputs (first 256 examples), and λ per layer, read after training",
    probe: probe.rule,
  };
  const config: PeftReport["config"] = { presetSettings: preset, methods, tasks: wanted, data: (opts.data ?? []).map((f) => resolve(f)), model: opts.model ? resolve(opts.model) : "pretrained on the Brown corpus by this command (MLM)", rules };
  const buildReport = (interrupted: string | null): PeftReport => {
    const report: PeftReport = {
      kind: PEFT_REPORT_KIND,
      schema: 1,
      ctxwin: version,
      createdAt: new Date().toISOString(),
      preset: preset.name,
      seeds,
      device,
      config: { ...config, ...(interrupted ? { interrupted } : {}) },
      environment: runEnvironment(info.cpu.threads),
      backbone: backbone ?? { dir: "", pretrainedHere: !opts.model, cached: false, modelType: "", layers: 0, hiddenSize: 0, heads: 0, vocabSize: 0, parameters: 0, tokenizer: "", pretraining: null },
      tasks: tasksInfo,
      cells: [...cells],
      probe,
      findings: [],
      deviations: deviations(preset, backbone, dataTasks.length > 0, wanted, nSeeds),
      timings: { totalSeconds: (performance.now() - t0) / 1000, stages: { ...stages } },
    };
    report.findings = computePeftFindings(report);
    return report;
  };
  const reportPath = join(out, "report.json");

  try {
    mkdirSync(out, { recursive: true });
    // ---------------------------------------------------------------- backbone
    let dir: string;
    if (opts.model) {
      dir = resolve(opts.model);
      progress.stage(`backbone ${dir}`);
    } else {
      progress.stage(`backbone: MLM pretraining on Brown (${preset.backbone.numLayers} layers, d = ${preset.backbone.hiddenSize})`);
    }
    const pre = opts.model ? null : await timed("backbone", () => parts.pretrainEncoder({ ...preset.backbone, cacheDir: join(out, "models"), seed, progress, signal }));
    dir = opts.model ? resolve(opts.model) : pre!.dir;
    const cfg = await readEncoderConfig(dir, FN);
    if (!existsSync(join(dir, "tokenizer.json"))) throw new CtxwinError("ERR_ARG", `${FN}: --model: expected tokenizer.json in ${dir} (the tasks are text), got none`);
    const tok = await parts.loadTokenizer(dir);
    const codec = inputCodec(tok, cfg.modelType === "roberta" ? "roberta" : "bert");
    // P-tuning v2 prefixes shift the real tokens' positions by the first layer's prefix length (as
    // transformers with past_key_values): every method gets inputs that fit the longest first-layer
    // prefix of the run (the probe's can reach L·P − L + 1), so all methods see the same truncation
    const prefixReserve = !methods.some((m) => m === "ptv2" || m === "apt") ? 0 : methods.includes("ptv2") && methods.includes("apt") ? cfg.numLayers * (preset.prefixLength - 1) + 1 : preset.prefixLength;
    const maxLength = Math.min(preset.data.maxLength, cfg.maxPositions - (cfg.modelType === "roberta" ? cfg.padTokenId + 1 : 0) - prefixReserve);
    if (maxLength < 8) {
      throw new CtxwinError("ERR_ARG", `${FN}: --model: expected max_position_embeddings of at least ${cfg.maxPositions - maxLength + 8} (room for 8 input tokens besides ${prefixReserve} prefix positions), got ${cfg.maxPositions} in ${dir}/config.json`);
    }
    {
      const bare = await loadEncoder(dir, { device, head: { kind: "none" } });
      backbone = { dir, pretrainedHere: !opts.model, cached: pre?.cached ?? false, modelType: cfg.modelType, layers: cfg.numLayers, hiddenSize: cfg.hiddenSize, heads: cfg.numHeads, vocabSize: cfg.vocabSize, parameters: bare.numParameters(), tokenizer: `tokenizer.json of ${dir}`, pretraining: pre ? { finalLoss: pre.finalLoss, seconds: pre.seconds } : null };
      bare.dispose();
    }
    progress.done(`${cfg.modelType}, ${cfg.numLayers} layers, d = ${cfg.hiddenSize}, ${(backbone.parameters / 1e6).toFixed(2)}M parameters${pre ? `, MLM loss ${pre.finalLoss.toFixed(3)}${pre.cached ? " (cached)" : ""}` : ""}`);
    checkAbort(signal, "backbone");

    // ---------------------------------------------------------------- tasks
    progress.stage("tasks");
    const prepared = await timed("tasks", async () => {
      const raws = wanted.map((n) => dataTasks.find((t) => t.name === n) ?? builtinTask(n as (typeof BUILTIN_TASK_NAMES)[number], preset, seed));
      return raws.map((r) => prepare(r, codec, maxLength, preset.fewShotK, seed));
    });
    tasksInfo = prepared.map((p) => p.info);
    progress.done(prepared.map((p) => `${p.info.name} ${p.info.train}/${p.info.test}`).join(", "));

    // ---------------------------------------------------------------- cells (resumable)
    const log = join(out, "cells.jsonl");
    const runKey = sha(JSON.stringify({ v: PEFT_CELL_VERSION, preset, backbone: checkpointHash(dir), dir, device, seed, tasks: prepared.map((p) => [p.info.name, p.info.source, p.info.train, p.info.test]) }));
    const previous = readCellLog(log, runKey);
    const fewShotCache = new Map<string, EncodedTask>();
    const trainSet = (p: PreparedTask, setting: PeftSetting, s: number): EncodedTask => {
      if (setting === "full") return p.train;
      const key = `${p.info.name}:${s}`;
      if (!fewShotCache.has(key)) fewShotCache.set(key, encodeFor(p.raw, codec, p.labels, fewShotTrain(p.raw.train as never[], preset.fewShotK, mixSeed(s, 0xf5)) as RawTask["train"], maxLength, `${p.info.name} few-shot`));
      return fewShotCache.get(key)!;
    };
    const settings: PeftSetting[] = ["full", "few-shot"];
    const plan: { p: PreparedTask; setting: PeftSetting; method: PeftCellMethod; seed: number }[] = [];
    for (const p of prepared) for (const setting of settings) for (const method of methods) for (const s of seeds) plan.push({ p, setting, method, seed: s });
    const probeRuns = methods.includes("apt") && methods.includes("ptv2") ? prepared.length * seeds.length : 0;
    const total = plan.length + probeRuns;
    let index = 0;

    const runCell = async (p: PreparedTask, setting: PeftSetting, method: PeftCellMethod, s: number, lengths?: number[]): Promise<void> => {
      index++;
      const id = `${p.info.name}/${setting}/${method}/${s}${lengths ? `/${lengths.join("-")}` : ""}`;
      const old = previous.get(id);
      if (old) {
        cells.push({ ...old, reused: true });
        progress.log(`[${index}/${total}] ${id}: reused from ${log}`);
        return;
      }
      progress.stage(`${index}/${total} ${p.info.name} · ${setting} · ${method} · seed ${s}`);
      const data = trainSet(p, setting, s);
      const budget = setting === "full" ? preset.train.full : preset.train.fewShot;
      const lr = preset.lr[method === "ptv2-variable" ? "ptv2" : method];
      const base: PeftCell = { id, task: p.info.name, setting, method, seed: s, status: "done", reason: null, score: null, metrics: {}, trainableParameters: 0, totalParameters: 0, trainExamples: data.examples.length, steps: 0, seconds: 0, tokensPerSecond: 0, finalLoss: null, lossCurve: [], prefixLengths: null, gates: null, reused: false };
      const model: Encoder = await loadEncoder(dir, { device, head: { kind: p.info.kind, numLabels: p.labels.names.length }, seed: mixSeed(s, 0x4ead) });
      try {
        let applied;
        try {
          applied = applyMethod(model, method, preset, mixSeed(s, 0xada), parts, lengths);
        } catch (e) {
          if (!(e instanceof MissingPart)) throw e;
          cells.push({ ...base, status: "unavailable", reason: e.message });
          progress.done(`unavailable: ${e.message}`);
          return;
        }
        const st = performance.now();
        const res = await timed("train", () =>
          trainClassifier(model, data, {
            steps: budget.steps,
            batchSize: Math.min(budget.batch, data.examples.length),
            lr,
            warmup: budget.warmup,
            seed: mixSeed(s, 0x0de5),
            params: applied.params,
            signal,
            progress: (u) => progress.update({ step: u.step, total: u.steps, loss: u.loss, tokensPerSecond: u.tokensPerSecond }),
          }),
        );
        if (res.aborted) throw new StudyAborted(id);
        const ev = await timed("evaluate", () => evaluateClassifier(model, p.test, { batchSize: preset.evalBatch, signal }));
        let gates: PeftCell["gates"] = null;
        if (method === "apt") {
          const n = Math.min(256, p.train.examples.length);
          const batches: GateBatch[] = [];
          for (let i = 0; i < n; i += preset.evalBatch) {
            const b = padBatch(p.train, Array.from({ length: Math.min(preset.evalBatch, n - i) }, (_, j) => i + j));
            batches.push({ ids: b.ids, keyLengths: b.keyLengths, tokenTypeIds: b.tokenTypeIds });
          }
          const g = await timed("gates", () => parts.meanAptGates(model, batches));
          gates = { alpha: g.alpha.map((r) => r.map(round4)), lambda: g.lambda.map(round4), mode: applied.gate ?? preset.aptGate };
        }
        const n = res.losses.length;
        const every = Math.max(1, Math.floor(n / 25));
        const tail = res.losses.slice(-Math.max(1, Math.floor(n / 10)));
        const metrics: Record<string, number> = ev.kind === "sequence" ? { accuracy: ev.accuracy, macroF1: ev.macroF1 } : { spanF1: ev.spanF1, precision: ev.precision, recall: ev.recall, accuracy: ev.accuracy };
        const cell: PeftCell = {
          ...base,
          score: ev.kind === "sequence" ? ev.accuracy : ev.spanF1,
          metrics,
          trainableParameters: res.trainableParameters,
          totalParameters: parameterCounts(model).total, // the adapters register their parameters on the model
          steps: res.steps,
          seconds: (performance.now() - st) / 1000,
          tokensPerSecond: res.tokensPerSecond,
          finalLoss: tail.reduce((a, b) => a + b, 0) / tail.length,
          lossCurve: res.losses.map((loss, i) => ({ step: i + 1, loss: round4(loss) })).filter((q) => q.step === 1 || q.step === n || q.step % every === 0),
          prefixLengths: applied.prefixLengths,
          gates,
        };
        cells.push(cell);
        await appendDurable(log, JSON.stringify({ key: runKey, id, cell }) + "\n");
        progress.done(`${p.info.metric} ${cell.score!.toFixed(3)}, ${formatCount(cell.trainableParameters)} trainable, ${Math.round(cell.tokensPerSecond)} tok/s`);
      } finally {
        model.dispose();
      }
    };

    for (const c of plan) await runCell(c.p, c.setting, c.method, c.seed);

    // ---------------------------------------------------------------- the variable-prefix probe
    if (probeRuns) {
      for (const p of prepared) {
        const profiles = cells.filter((c) => c.task === p.info.name && c.setting === "full" && c.method === "apt" && c.status === "done").map(layerProfile).filter((x): x is number[] => x !== null);
        if (!profiles.length) {
          index += seeds.length;
          continue;
        }
        const L = profiles[0]!.length;
        const weights = Array.from({ length: L }, (_, l) => profiles.reduce((a, q) => a + q[l]!, 0) / profiles.length);
        const lengths = variableLengths(weights, L * preset.prefixLength);
        probe.lengths[p.info.name] = lengths;
        for (const s of seeds) await timed("probe", () => runCell(p, "full", "ptv2-variable", s, lengths));
      }
    }
  } catch (e) {
    if (e instanceof StudyAborted) {
      const report = buildReport(e.message);
      await writeJsonAtomic(reportPath, report);
      progress.log(`ctxwin ${FN}: ${e.message}; partial report written to ${reportPath} (finished cells are kept in cells.jsonl)`);
      return { report, reportPath, interrupted: true };
    }
    throw e;
  }
  const report = buildReport(null);
  await writeJsonAtomic(reportPath, report);
  return { report, reportPath, interrupted: false };
}

const round4 = (x: number) => (x === 0 || !Number.isFinite(x) ? x : Number(x.toPrecision(4)));
const formatCount = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : String(n));

/** Done cells of this run's key from an earlier cells.jsonl (a last line cut by a crash is ignored). */
function readCellLog(file: string, key: string): Map<string, PeftCell> {
  const out = new Map<string, PeftCell>();
  if (!existsSync(file)) return out;
  const lines = readFileSync(file, "utf8").split("\n");
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let rec: { key?: unknown; id?: unknown; cell?: PeftCell };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch (e) {
      if (i >= lines.length - 2) return; // the last line of a crashed run
      throw new CtxwinError("ERR_FORMAT", `${FN}: ${file}:${i + 1}: line: expected a JSON cell record, got a parse error (${(e as Error).message}); delete the file to start over`);
    }
    if (rec.key === key && typeof rec.id === "string" && rec.cell && rec.cell.status === "done") out.set(rec.id, rec.cell);
  });
  return out;
}

/** How the run departs from the paper's setup (shown in the report). */
function deviations(preset: PeftPreset, b: PeftBackboneInfo | null, userData: boolean, tasks: string[], seeds: number): string[] {
  const out: string[] = [];
  if (b && b.parameters > 0) {
    out.push(
      b.pretrainedHere
        ? `The backbone is a ${(b.parameters / 1e6).toFixed(2)}M-parameter ${b.modelType.toUpperCase()} (${b.layers} layers, d = ${b.hiddenSize}) pretrained here by masked language modelling on the Brown corpus${b.pretraining ? ` (final MLM loss ${b.pretraining.finalLoss.toFixed(3)}, ${Math.round(b.pretraining.seconds)} s)` : ""}, not BERT-large / RoBERTa-large (335M): prefix methods are known to need large backbones to match full fine-tuning, so small-model gaps say little about the paper's scale.`
        : `The backbone is ${b.dir} (${(b.parameters / 1e6).toFixed(2)}M parameters, ${b.layers} layers).`,
    );
  }
  if (tasks.some((t) => t.startsWith("brown-"))) out.push("brown-genre (short passages → Brown categories or coarse genres) stands in for the SuperGLUE tasks and brown-names (proper-noun spans, one entity type) for CoNLL-2003 / OntoNotes NER; pass real task files with --data.");
  if (!userData) out.push("No SuperGLUE or NER data is used (nothing is downloaded).");
  out.push(`Every method trains for a fixed number of steps (no epochs with dev-set selection, no hyper-parameter search per method and task as in the paper); the learning rates are fixed per method (${Object.entries(preset.lr).map(([m, v]) => `${m} ${v}`).join(", ")}).`);
  out.push(`${seeds} seed(s): the intervals over seeds are wide at this count (t(0.975, ${Math.max(1, seeds - 1)}) = ${seeds > 1 ? ["12.71", "4.30", "3.18", "2.78", "2.57"][Math.min(seeds - 2, 4)] : "–"}).`);
  out.push(`Prefix length ${preset.prefixLength} per layer for both prefix methods (the paper tunes it per task); APT's gate is ${preset.aptGate === "token" ? "per input token (α = sigmoid(h W_i), as the paper)" : "pooled per sequence (an option, not the paper's)"}.`);
  out.push("With LoRA, P-tuning v2 and APT the head trains in full: the classifier (as PEFT's modules_to_save) and also BERT's pooler, which PEFT leaves frozen — a backbone pretrained here by MLM alone has an untrained pooler.");
  if (preset.data.namesWithEntities && tasks.includes("brown-names")) out.push("brown-names keeps only sentences with at least one proper noun (a small backbone learns nothing from the many sentences without one in this budget).");
  out.push("The variable-prefix probe runs on full data only, not few-shot (the paper probes its own settings).");
  out.push("APT as ctxwin reads the paper: α_i = sigmoid(h_{i−1} W_i) scales each prefix token's key and value for each input token, λ_i scales the layer's prefix; the paper's text does not pin every detail (initialisation, where λ enters).");
  out.push(`Few-shot = ${preset.fewShotK} examples per class drawn from the training split (the paper's few-shot splits are its own).`);
  return out;
}
