/**
 * Study presets: every size, step count, length and sweep of a `ctxwin study` run.
 *
 *   micro     seconds, for tests: L = 32, 2 layers, d = 32, byte tokenizer, a few dozen steps,
 *             a few hundred evaluation tokens. Its numbers only show that the pipeline works.
 *   quick     the default: at most 15 minutes on 2 CPU cores, everything included. L = 128,
 *             4 layers, d = 128, 4 heads, byte-level BPE with 2048 tokens, 1200 steps of
 *             4 × 128 tokens per model (614k tokens), lr 3e-3 after a 240-step warmup. Sized on a
 *             shared 2-core EPYC (4–7k training tokens/s): many small steps learn more in the time
 *             than fewer large ones (RoPE val ppl 145 with batch 4 × 1000 steps and a 20% warmup,
 *             198 with a 5% warmup, 284 with batch 16 × 240), so the models are small-batch and
 *             warmed up long. 8192 evaluation tokens per length.
 *   standard  a CUDA host (or a patient CPU): L = 256, 6 layers, d = 256, 4096 tokens, 3000 steps.
 *   large     a CUDA host: L = 512, 8 layers, d = 512, 8192 tokens, 6000 steps.
 *
 * Lengths evaluated: L, 2L, 4L, 8L (`lengthRatios`). The window model is NoPE with a sliding
 * window W = L/4 in every layer (seed 001 trains TinyLlama at C = 2048 with W = 512 = C/4).
 * RoPE-family static methods (linear PI, NTK, YaRN static, YaRN fine-tuned) use one fixed factor
 * `ropeFactor` (= 4: the fine-tune length 4L / L) at every length; dynamic NTK and dynamic YaRN
 * derive theirs from the length (factor max(1, Tk/L)).
 * Sweeps (temperatures, α, PV layer) are chosen on `tuneTokens` held-out tokens that are NOT the
 * evaluation tokens, by the mean log-perplexity over the extension lengths (2L, 4L, 8L).
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
  /** Sequences per step (each trainLength tokens). */
  batch: number;
  lr: number;
  warmupSteps: number;
  /** Cosine decay ends at lr · minLrRatio. */
  minLrRatio: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  /** Global gradient-norm clipping (0 = off). */
  clip: number;
}

export interface FineTunePreset {
  /** YaRN fine-tune (seed 003: 400 steps at the new length; here scaled down). */
  steps: number;
  /** Sequences per step, each ropeFactor · L tokens. */
  batch: number;
  lr: number;
  warmupSteps: number;
}

export interface PasskeyPreset {
  /** Depths of the key in the filler, fractions in [0, 1]. */
  depths: number[];
  /** Prompts per (length, depth) cell. */
  trials: number;
  /** Digits of the key. */
  digits: number;
  /** Candidates ranked per prompt (the key + candidates − 1 distractors): chance = 1/candidates. */
  candidates: number;
}

export interface StudyPreset {
  name: PresetName;
  description: string;
  /** L: the training length. */
  trainLength: number;
  /** Evaluation lengths as multiples of L. */
  lengthRatios: number[];
  model: ModelPreset;
  /** "bpe": byte-level BPE trained on the training split (vocabSize); "byte": 256 bytes + EOS. */
  tokenizer: { type: "bpe" | "byte"; vocabSize: number };
  /** Use at most this many documents of the corpus (0 = all). */
  maxDocuments: number;
  /** Fraction of documents held out (at least enough for evalTokens + tuneTokens). */
  validationFraction: number;
  train: TrainPreset;
  /** RoPE base of the RoPE model. */
  ropeTheta: number;
  /** Fixed factor of the static RoPE scalings (linear PI, NTK, YaRN static and fine-tuned). */
  ropeFactor: number;
  fineTune: FineTunePreset;
  /** Held-out tokens scored at every length by every method (a multiple of the longest length). */
  evalTokens: number;
  /** Held-out tokens (disjoint from evalTokens) on which the sweeps choose their parameters. */
  tuneTokens: number;
  /** Sequences of the longest length averaged into the positional vectors (seed 001). */
  pvSamples: number;
  /** Initial tokens whose positional vectors are kept (seed 001: 4). */
  pvKeep: number;
  /** Layers tried for positional-vector replacement (hidden-state index: input of block l); null = every layer 1 .. numLayers − 1. */
  pvLayers: number[] | null;
  /** α values tried for positional-vector replacement. */
  pvAlphas: number[];
  /** Temperatures λ tried for the window extension (logits × λ). */
  windowTemperatures: number[];
  /** Temperatures λ tried for the NoPE attention-scaling baseline. */
  nopeTemperatures: number[];
  passkey: PasskeyPreset;
}

const SWEEP_T = [0.9, 1.0, 1.1, 1.2, 1.3, 1.5];

export const PRESETS: Record<PresetName, StudyPreset> = {
  micro: {
    name: "micro",
    description: "seconds, for tests: tiny models, a few steps; numbers show only that the pipeline runs",
    trainLength: 32,
    lengthRatios: [1, 2, 4, 8],
    model: { hiddenSize: 32, numLayers: 2, numHeads: 2 },
    tokenizer: { type: "byte", vocabSize: 257 },
    maxDocuments: 24,
    validationFraction: 0.1,
    train: { steps: 24, batch: 4, lr: 3e-3, warmupSteps: 4, minLrRatio: 0.1, weightDecay: 0.1, beta1: 0.9, beta2: 0.95, clip: 1 },
    ropeTheta: 10000,
    ropeFactor: 4,
    fineTune: { steps: 3, batch: 1, lr: 1e-3, warmupSteps: 1 },
    evalTokens: 512,
    tuneTokens: 256,
    pvSamples: 2,
    pvKeep: 4,
    pvLayers: null,
    pvAlphas: [1, 1.3],
    windowTemperatures: [1, 1.2],
    nopeTemperatures: [1, 1.2],
    passkey: { depths: [0, 0.5, 1], trials: 1, digits: 2, candidates: 4 },
  },
  quick: {
    name: "quick",
    description: "the default: at most 15 minutes on 2 CPU cores (L = 128, 4 layers, d = 128)",
    trainLength: 128,
    lengthRatios: [1, 2, 4, 8],
    model: { hiddenSize: 128, numLayers: 4, numHeads: 4 },
    tokenizer: { type: "bpe", vocabSize: 2048 },
    maxDocuments: 0,
    validationFraction: 0.1,
    train: { steps: 1200, batch: 4, lr: 3e-3, warmupSteps: 240, minLrRatio: 0.1, weightDecay: 0.1, beta1: 0.9, beta2: 0.95, clip: 1 },
    ropeTheta: 10000,
    ropeFactor: 4,
    fineTune: { steps: 60, batch: 2, lr: 3e-4, warmupSteps: 6 },
    evalTokens: 8192,
    tuneTokens: 2048,
    pvSamples: 96,
    pvKeep: 4,
    pvLayers: null,
    pvAlphas: [0.9, 1.0, 1.1, 1.2, 1.3, 1.5],
    windowTemperatures: SWEEP_T,
    nopeTemperatures: SWEEP_T,
    passkey: { depths: [0, 0.25, 0.5, 0.75, 1], trials: 4, digits: 4, candidates: 10 },
  },
  standard: {
    name: "standard",
    description: "a CUDA host: L = 256, 6 layers, d = 256, 3000 steps",
    trainLength: 256,
    lengthRatios: [1, 2, 4, 8],
    model: { hiddenSize: 256, numLayers: 6, numHeads: 4 },
    tokenizer: { type: "bpe", vocabSize: 4096 },
    maxDocuments: 0,
    validationFraction: 0.1,
    train: { steps: 3000, batch: 32, lr: 1.5e-3, warmupSteps: 300, minLrRatio: 0.1, weightDecay: 0.1, beta1: 0.9, beta2: 0.95, clip: 1 },
    ropeTheta: 10000,
    ropeFactor: 4,
    fineTune: { steps: 200, batch: 8, lr: 2e-4, warmupSteps: 10 },
    evalTokens: 32768,
    tuneTokens: 8192,
    pvSamples: 64,
    pvKeep: 4,
    pvLayers: null,
    pvAlphas: [0.9, 1.0, 1.1, 1.2, 1.3, 1.5],
    windowTemperatures: SWEEP_T,
    nopeTemperatures: SWEEP_T,
    passkey: { depths: [0, 0.25, 0.5, 0.75, 1], trials: 10, digits: 5, candidates: 10 },
  },
  large: {
    name: "large",
    description: "a CUDA host: L = 512, 8 layers, d = 512, 6000 steps",
    trainLength: 512,
    lengthRatios: [1, 2, 4, 8],
    model: { hiddenSize: 512, numLayers: 8, numHeads: 8 },
    tokenizer: { type: "bpe", vocabSize: 8192 },
    maxDocuments: 0,
    validationFraction: 0.1,
    train: { steps: 6000, batch: 32, lr: 1e-3, warmupSteps: 600, minLrRatio: 0.1, weightDecay: 0.1, beta1: 0.9, beta2: 0.95, clip: 1 },
    ropeTheta: 10000,
    ropeFactor: 4,
    fineTune: { steps: 400, batch: 8, lr: 1e-4, warmupSteps: 20 },
    evalTokens: 65536,
    tuneTokens: 16384,
    pvSamples: 64,
    pvKeep: 4,
    pvLayers: null,
    pvAlphas: [0.9, 1.0, 1.1, 1.2, 1.3, 1.5],
    windowTemperatures: SWEEP_T,
    nopeTemperatures: SWEEP_T,
    passkey: { depths: [0, 0.25, 0.5, 0.75, 1], trials: 10, digits: 5, candidates: 10 },
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
  posInt("trainLength", p.trainLength);
  if (p.trainLength % 4 !== 0 || p.trainLength < 16) fail("trainLength", "a multiple of 4, at least 16 (the window is L/4)", p.trainLength);
  if (!p.lengthRatios.length || p.lengthRatios[0] !== 1 || p.lengthRatios.some((r, i) => !Number.isInteger(r) || (i > 0 && r <= p.lengthRatios[i - 1]!))) {
    fail("lengthRatios", "increasing integers starting at 1", p.lengthRatios);
  }
  posInt("model.hiddenSize", p.model.hiddenSize);
  posInt("model.numLayers", p.model.numLayers);
  posInt("model.numHeads", p.model.numHeads);
  if (p.model.hiddenSize % p.model.numHeads !== 0 || (p.model.hiddenSize / p.model.numHeads) % 2 !== 0) fail("model.numHeads", "a divisor of hiddenSize giving an even head dim", p.model.numHeads);
  posInt("train.steps", p.train.steps);
  posInt("train.batch", p.train.batch);
  posInt("fineTune.steps", p.fineTune.steps);
  posInt("fineTune.batch", p.fineTune.batch);
  const longest = p.trainLength * p.lengthRatios[p.lengthRatios.length - 1]!;
  if (p.evalTokens % longest !== 0) fail("evalTokens", `a multiple of the longest length ${longest}`, p.evalTokens);
  if (p.tuneTokens % longest !== 0) fail("tuneTokens", `a multiple of the longest length ${longest}`, p.tuneTokens);
  if (p.passkey.depths.some((d) => !(d >= 0 && d <= 1))) fail("passkey.depths", "fractions in [0, 1]", p.passkey.depths);
  if (p.passkey.candidates < 2) fail("passkey.candidates", "at least 2", p.passkey.candidates);
  if (p.passkey.digits < 1 || p.passkey.digits > 9) fail("passkey.digits", "1 to 9", p.passkey.digits);
}
