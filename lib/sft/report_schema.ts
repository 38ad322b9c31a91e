/**
 * report.json of `ctxwin sft-study` (kind "ctxwin-sft-study", schema 1). Every number the
 * findings use is in it — per evaluation example: exact match, response NLL and the head scores
 * a(x) — so that `ctxwin report DIR` recomputes the maps, the intervals, the gates and the
 * findings from the file alone. lib/report reads these types without loading any model code.
 */
import type { Device } from "../tensor.js";
import type { SftPreset, SftPresetName } from "./presets.js";

export const SFT_REPORT_KIND = "ctxwin-sft-study";

export interface SftTaskInfo {
  name: string;
  kind: "basic" | "complex";
  /** The basic tasks a complex task composes (from its name "a+b"). */
  components: string[];
  description: string;
  /** "built-in" or the JSONL files it came from. */
  source: string;
  /** Training examples in the task's pool (the full budget uses all of them). */
  train: number;
  /** Held-out examples (the same, in the same order, in every run's evaluation). */
  eval: number;
  /** The first held-out example (text, or token ids as text). */
  example: { prompt: string; response: string };
  /** The most frequent training response and its exact-match accuracy on the held-out examples. */
  majority: { response: string; accuracy: number };
  /** Mean prompt and response tokens (BOS in the prompt, EOS in the response), longest sequence. */
  tokens: { prompt: number; response: number; max: number };
}

/** One model evaluated on one task's held-out examples. */
export interface SftEval {
  task: string;
  /** Per example: 1 when greedy decoding gives the response exactly (teacher-forced argmax at every response token), else 0. */
  correct: number[];
  /** Per example: summed response NLL (nats). */
  nll: number[];
  /** Per example: response tokens scored. */
  tokens: number[];
  /** Per example: a(x) of every head, layer-major (layers × heads values, 4 significant digits); null when not computed. */
  scores: number[][] | null;
}

export type SftArm = "base" | "sft" | "budget" | "plain" | "mix" | "mix-equal";

export interface SftRun {
  /** "base", "sft:<task>", "budget:<task>:<n>", "plain:<task>:<seed>", "mix:<task>:<seed>", "mix-equal:<task>:<seed>". */
  id: string;
  arm: SftArm;
  /** The task tuned on (null for the base model). */
  task: string | null;
  /** Examples of `task` the run trained on (0 for the base). */
  examples: number;
  /** Optimizer steps in all (both phases of a mix arm). */
  steps: number;
  seed: number | null;
  /** Mix arms: the basic tasks' weights in the pre-tuning phase, its steps, where the weights came from. */
  mix: { weights: { task: string; weight: number }[]; steps: number; source: string } | null;
  /** Mean training loss of the last tenth of the steps (null for the base). */
  finalLoss: number | null;
  lossCurve: { step: number; loss: number }[];
  seconds: number;
  evals: SftEval[];
}

export type SftVerdict = "reproduced" | "not reproduced" | "not testable" | "missing";

export interface SftGate {
  id: "G1" | "G2" | "G3";
  title: string;
  criterion: string;
  /** null: the numbers are missing. */
  pass: boolean | null;
  text: string;
}

export interface SftFinding {
  id: "F1" | "F2" | "F3" | "F4";
  title: string;
  /** What the paper reports. */
  paper: string;
  criterion: string;
  gates: SftGate["id"][];
  verdict: SftVerdict;
  /** The numbers with their intervals, the criterion's outcome and, when not reproduced or not testable, why. */
  text: string;
  /** One line for the terminal. */
  summary: string;
  numbers: Record<string, number | null>;
}

export interface SftReport {
  kind: typeof SFT_REPORT_KIND;
  schema: 1;
  ctxwin: string;
  createdAt: string;
  preset: SftPresetName;
  seed: number;
  device: Device;
  config: {
    presetSettings: SftPreset;
    /** "built-in" or the --tasks files. */
    tasks: string;
    /** How the base model was obtained. */
    model: string;
    /** The rules of the run (shown on the page). */
    rules: Record<string, string>;
    /** Set when the run was interrupted: where. */
    interrupted?: string;
  };
  environment: { node: string; platform: string; cpu: string; threads: number };
  model: {
    dir: string;
    /** true: pretrained by this run or an earlier one with the same settings (cached); false: --model. */
    pretrainedHere: boolean;
    cached: boolean;
    modelType: string;
    layers: number;
    heads: number;
    kvHeads: number;
    hiddenSize: number;
    vocabSize: number;
    parameters: number;
    tokenizer: string;
    pretraining: { steps: number; tokens: number; finalLoss: number; seconds: number; lossCurve: { step: number; loss: number }[] } | null;
  };
  corpus: { source: string; documents: { train: number; validation: number }; tokens: number } | null;
  tasks: SftTaskInfo[];
  runs: SftRun[];
  gates: SftGate[];
  findings: SftFinding[];
  deviations: string[];
  timings: { totalSeconds: number; stages: Record<string, number> };
}
