/**
 * Study presets: every size, step count, length, sweep and evaluation setting of a `ctxwin study`
 * run. The quick preset was sized by measurement (docs/study-pilot.md: the pilot table, with what
 * each setting gave and how long it took).
 *
 *   micro     seconds, for tests: tiny models, a few dozen steps, a few windows. Its numbers only
 *             show that the pipeline works.
 *   quick     the default: at most 15 minutes on 2 CPU cores, everything included.
 *   standard  a CUDA host or a patient CPU: twice the length, a bigger model, more steps and data.
 *   large     a CUDA host: L = 256, 8 layers, d = 512.
 *
 * Lengths evaluated: L, 2L, 4L, 8L (`lengthRatios`). The window model is NoPE with a sliding window
 * W = L/4 in every layer (seed 001 trains TinyLlama at C = 2048 with W = 512 = C/4). The static
 * RoPE scalings and the four fine-tunes use one factor s = `ropeFactor` (the fine-tune length s·L /
 * L). Sweeps (temperatures, α, the PV layer) are chosen on tuning documents that are never scored.
 */
import { CtxwinError } from "../errors.js";

export type PresetName = "micro" | "quick" | "standard" | "large";
export const PRESET_NAMES: readonly PresetName[] = ["micro", "quick", "standard", "large"];

export interface ModelPreset {
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  /** MLP hidden size (SwiGLU); default 8/3 · hidden rounded to 8. */
  intermediateSize?: number;
}

export interface TrainPreset {
  steps: number;
  /** Rows per step (each BOS + L − 1 content tokens). */
  batch: number;
  lr: number;
  warmupSteps: number;
  /** Cosine decay ends at lr · minLrRatio (1 = constant after warmup). */
  minLrRatio: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  /** Global gradient-norm clipping (0 = off). */
  clip: number;
}

export interface DataPreset {
  /** Fraction of training rows that are passkey rows (training_data.ts). */
  passkeyFraction: number;
  /** Weight of the auxiliary loss on the passkey answer tokens (0 = LM loss only). */
  passkeyWeight: number;
  /** Digits of the passkeys (training and evaluation). */
  digits: number;
}

export interface EvalPreset {
  /** Held-out documents holding the evaluation windows (at least 16 in the quick preset). */
  documents: number;
  windowsPerDocument: number;
  /** Held-out documents (disjoint) whose windows the sweeps score. */
  tuneDocuments: number;
  tuneWindowsPerDocument: number;
  /** Buckets of the per-position NLL curves. */
  positionBuckets: number;
  /** Passkey prompts per distance bucket. */
  passkeyTrials: number;
}

export interface StudyPreset {
  name: PresetName;
  description: string;
  /** L: the training length (tokens the model reads per row, BOS included). */
  trainLength: number;
  /** Evaluation lengths as multiples of L. */
  lengthRatios: number[];
  model: ModelPreset;
  /** "bpe": byte-level BPE trained on the training split (vocabSize); "byte": 256 bytes + specials. */
  tokenizer: { type: "bpe" | "byte"; vocabSize: number };
  /** Use at most this many documents of the corpus (0 = all). */
  maxDocuments: number;
  /** Fraction of documents held out (at least the evaluation + tuning documents are). */
  validationFraction: number;
  data: DataPreset;
  train: TrainPreset;
  /** RoPE base of the RoPE model. */
  ropeTheta: number;
  /** Factor of the static RoPE scalings and of the fine-tunes (fine-tune length ropeFactor · L). */
  ropeFactor: number;
  /** The four fine-tunes of the RoPE model (RoPE, PI, NTK, YaRN): identical settings. */
  fineTune: { steps: number; batch: number; lr: number; warmupSteps: number };
  eval: EvalPreset;
  /** Positional vectors (seed 001): windows of the longest length averaged, tokens kept, ratios r, α tried, layers tried (null: 1 … layers − 1). */
  pv: { samples: number; keep: number; ratios: number[]; alphas: number[]; layers: number[] | null };
  /** Temperatures λ tried by NoPE attention scaling and window extension, per length. */
  temperatures: number[];
}

const TEMPS = [0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.5];
const ALPHAS = [0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.5];

export const PRESETS: Record<PresetName, StudyPreset> = {
  micro: {
    name: "micro",
    description: "seconds, for tests: tiny models, a few steps; numbers show only that the pipeline runs",
    trainLength: 64,
    lengthRatios: [1, 2, 4, 8],
    model: { hiddenSize: 32, numLayers: 2, numHeads: 2 },
    tokenizer: { type: "byte", vocabSize: 258 },
    maxDocuments: 30,
    validationFraction: 0.2,
    data: { passkeyFraction: 0.3, passkeyWeight: 1, digits: 1 },
    train: { steps: 12, batch: 4, lr: 3e-3, warmupSteps: 2, minLrRatio: 0.1, weightDecay: 0.1, beta1: 0.9, beta2: 0.95, clip: 1 },
    ropeTheta: 10000,
    ropeFactor: 4,
    fineTune: { steps: 2, batch: 1, lr: 1e-3, warmupSteps: 1 },
    eval: { documents: 3, windowsPerDocument: 1, tuneDocuments: 2, tuneWindowsPerDocument: 1, positionBuckets: 8, passkeyTrials: 2 },
    pv: { samples: 2, keep: 4, ratios: [2, 4, 8], alphas: [1, 1.3], layers: null },
    temperatures: [1, 1.2],
  },
  quick: {
    name: "quick",
    description: "the default: at most 15 minutes on 2 CPU cores (L = 64, 4 layers, d = 128, 8 heads)",
    trainLength: 64,
    lengthRatios: [1, 2, 4, 8],
    model: { hiddenSize: 128, numLayers: 4, numHeads: 8 },
    tokenizer: { type: "bpe", vocabSize: 512 },
    maxDocuments: 0,
    validationFraction: 0.12,
    data: { passkeyFraction: 0.5, passkeyWeight: 1, digits: 2 },
    train: { steps: 1000, batch: 16, lr: 2e-3, warmupSteps: 100, minLrRatio: 0.1, weightDecay: 0.1, beta1: 0.9, beta2: 0.95, clip: 1 },
    ropeTheta: 10000,
    ropeFactor: 4,
    fineTune: { steps: 200, batch: 4, lr: 3e-4, warmupSteps: 20 },
    eval: { documents: 32, windowsPerDocument: 2, tuneDocuments: 8, tuneWindowsPerDocument: 2, positionBuckets: 32, passkeyTrials: 100 },
    pv: { samples: 512, keep: 4, ratios: [2, 4, 8], alphas: ALPHAS, layers: null },
    temperatures: TEMPS,
  },
  standard: {
    name: "standard",
    description: "a CUDA host or a patient CPU: L = 128, 6 layers, d = 256, 8 heads",
    trainLength: 128,
    lengthRatios: [1, 2, 4, 8],
    model: { hiddenSize: 256, numLayers: 6, numHeads: 8 },
    tokenizer: { type: "bpe", vocabSize: 1024 },
    maxDocuments: 0,
    validationFraction: 0.12,
    data: { passkeyFraction: 0.4, passkeyWeight: 1, digits: 3 },
    train: { steps: 4000, batch: 32, lr: 2e-3, warmupSteps: 200, minLrRatio: 0.1, weightDecay: 0.1, beta1: 0.9, beta2: 0.95, clip: 1 },
    ropeTheta: 10000,
    ropeFactor: 4,
    fineTune: { steps: 200, batch: 8, lr: 5e-4, warmupSteps: 20 },
    eval: { documents: 40, windowsPerDocument: 3, tuneDocuments: 10, tuneWindowsPerDocument: 2, positionBuckets: 32, passkeyTrials: 100 },
    pv: { samples: 1024, keep: 4, ratios: [2, 4, 8], alphas: ALPHAS, layers: null },
    temperatures: TEMPS,
  },
  large: {
    name: "large",
    description: "a CUDA host: L = 256, 8 layers, d = 512, 8 heads",
    trainLength: 256,
    lengthRatios: [1, 2, 4, 8],
    model: { hiddenSize: 512, numLayers: 8, numHeads: 8 },
    tokenizer: { type: "bpe", vocabSize: 4096 },
    maxDocuments: 0,
    validationFraction: 0.12,
    data: { passkeyFraction: 0.3, passkeyWeight: 1, digits: 3 },
    train: { steps: 8000, batch: 32, lr: 1e-3, warmupSteps: 400, minLrRatio: 0.1, weightDecay: 0.1, beta1: 0.9, beta2: 0.95, clip: 1 },
    ropeTheta: 10000,
    ropeFactor: 4,
    fineTune: { steps: 400, batch: 8, lr: 2e-4, warmupSteps: 20 },
    eval: { documents: 40, windowsPerDocument: 2, tuneDocuments: 10, tuneWindowsPerDocument: 2, positionBuckets: 32, passkeyTrials: 100 },
    pv: { samples: 1024, keep: 4, ratios: [2, 4, 8], alphas: ALPHAS, layers: null },
    temperatures: TEMPS,
  },
};

/** A deep copy of a preset (callers may tweak it). */
export function getPreset(name: string): StudyPreset {
  if (!(PRESET_NAMES as readonly string[]).includes(name)) {
    throw new CtxwinError("ERR_ARG", `study: --preset: expected one of ${PRESET_NAMES.join(", ")}, got ${JSON.stringify(name)}`);
  }
  return structuredClone(PRESETS[name as PresetName]);
}

/** Checks the internal consistency of a (possibly hand-edited) preset. */
export function validatePreset(p: StudyPreset): void {
  const fail = (field: string, expected: string, got: unknown): never => {
    throw new CtxwinError("ERR_ARG", `study: preset ${p.name}: ${field}: expected ${expected}, got ${JSON.stringify(got)}`);
  };
  const posInt = (field: string, v: unknown) => {
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) fail(field, "a positive integer", v);
  };
  const posNum = (field: string, v: unknown) => {
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) fail(field, "a positive number", v);
  };
  posInt("trainLength", p.trainLength);
  if (p.trainLength % 4 !== 0 || p.trainLength < 16) fail("trainLength", "a multiple of 4, at least 16 (the window is L/4)", p.trainLength);
  if (!p.lengthRatios.length || p.lengthRatios[0] !== 1 || p.lengthRatios.some((r, i) => !Number.isInteger(r) || (i > 0 && r <= p.lengthRatios[i - 1]!))) {
    fail("lengthRatios", "increasing integers starting at 1", p.lengthRatios);
  }
  posInt("model.hiddenSize", p.model.hiddenSize);
  posInt("model.numLayers", p.model.numLayers);
  posInt("model.numHeads", p.model.numHeads);
  if (p.model.hiddenSize % p.model.numHeads !== 0 || (p.model.hiddenSize / p.model.numHeads) % 2 !== 0) fail("model.numHeads", "a divisor of hiddenSize giving an even head dim", p.model.numHeads);
  if (!(p.data.passkeyFraction >= 0 && p.data.passkeyFraction < 1)) fail("data.passkeyFraction", "a fraction in [0, 1)", p.data.passkeyFraction);
  if (!(p.data.passkeyWeight >= 0)) fail("data.passkeyWeight", "a non-negative number", p.data.passkeyWeight);
  if (!(Number.isInteger(p.data.digits) && p.data.digits >= 1 && p.data.digits <= 9)) fail("data.digits", "an integer from 1 to 9", p.data.digits);
  posInt("train.steps", p.train.steps);
  posInt("train.batch", p.train.batch);
  posNum("train.lr", p.train.lr);
  posNum("ropeFactor", p.ropeFactor);
  posInt("fineTune.steps", p.fineTune.steps);
  posInt("fineTune.batch", p.fineTune.batch);
  posInt("eval.documents", p.eval.documents);
  posInt("eval.windowsPerDocument", p.eval.windowsPerDocument);
  posInt("eval.tuneDocuments", p.eval.tuneDocuments);
  posInt("eval.tuneWindowsPerDocument", p.eval.tuneWindowsPerDocument);
  posInt("eval.positionBuckets", p.eval.positionBuckets);
  posInt("eval.passkeyTrials", p.eval.passkeyTrials);
  posInt("pv.samples", p.pv.samples);
  if (!(Number.isInteger(p.pv.keep) && p.pv.keep >= 0 && p.pv.keep < p.trainLength - 1)) fail("pv.keep", `an integer in [0, ${p.trainLength - 2}]`, p.pv.keep);
  const maxRatio = p.lengthRatios[p.lengthRatios.length - 1]!;
  if (!p.pv.ratios.length || p.pv.ratios.some((r) => !Number.isInteger(r) || r < 2 || r > maxRatio)) fail("pv.ratios", `integers in [2, ${maxRatio}]`, p.pv.ratios);
  if (!p.pv.alphas.length || p.pv.alphas.some((a) => !(a > 0))) fail("pv.alphas", "positive numbers", p.pv.alphas);
  if (p.pv.layers !== null && (!p.pv.layers.length || p.pv.layers.some((l) => !Number.isInteger(l) || l < 0 || l > p.model.numLayers))) fail("pv.layers", `null or integers in [0, ${p.model.numLayers}]`, p.pv.layers);
  if (!p.temperatures.length || p.temperatures.some((t) => !(t > 0))) fail("temperatures", "positive numbers", p.temperatures);
}
