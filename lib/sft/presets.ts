/**
 * Presets of `ctxwin sft-study`: the base model, the SFT runs, the budgets and the evaluation.
 *
 *   micro     seconds, for tests: a tiny base (byte tokenizer), a few steps; the numbers only show
 *             that the pipeline runs.
 *   quick     the default: at most 15 minutes on 2 CPU cores, everything included (the base is the
 *             quick study's RoPE architecture: L = 64, 4 layers, d = 128, 8 heads, BPE 512).
 *             Measured: 9 min 14 s for seed 0 on the 2-core development machine under a load
 *             average of about 7 (base model 2 min 56 s, 36 SFT runs); a re-run with the base
 *             cached saves the base. The equal-weights mix arm is left out to stay well inside.
 *   standard  a CUDA host or a patient CPU: 6 layers, d = 256, longer pretraining, more data, seeds.
 *   large     a CUDA host: 8 layers, d = 512.
 *
 * Every SFT run is full fine-tuning (all weights) with AdamW at a constant rate after a short
 * warmup (lib/sft/sft.ts); the same `sft` settings serve the per-task runs, the data budgets and
 * both arms of the pre-tuning comparison, so they differ only in their data.
 */
import { CtxwinError } from "../errors.js";

export type SftPresetName = "micro" | "quick" | "standard" | "large";
export const SFT_PRESET_NAMES: readonly SftPresetName[] = ["micro", "quick", "standard", "large"];

export interface SftPreset {
  name: SftPresetName;
  description: string;
  /** The base model, pretrained on the corpus by ctxwin (ignored with --model). */
  base: {
    /** Tokens per pretraining row (BOS included). */
    trainLength: number;
    hiddenSize: number;
    numLayers: number;
    numHeads: number;
    tokenizer: { type: "bpe" | "byte"; vocabSize: number };
    /** Use this many Brown documents, spread over the corpus (0 = all 500). */
    maxDocuments: number;
    steps: number;
    batch: number;
    lr: number;
    warmupSteps: number;
    minLrRatio: number;
    weightDecay: number;
  };
  /** One SFT run. */
  sft: { steps: number; batch: number; lr: number; warmupSteps: number; weightDecay: number; clip: number };
  /** Training examples per task at the full budget (n_max; a few hundred at most). */
  trainExamples: number;
  /** Smaller budgets of finding 1 (the basic tasks are also tuned on their first n examples, same steps). */
  budgets: number[];
  /** Held-out examples per task (accuracy, maps). */
  evalExamples: number;
  /**
   * Finding 4: complex-task examples of both arms, seeds per arm, the share of the steps the mix
   * arm spends on the basic tasks first, whether an equal-weights mix arm runs as a control, and
   * whether complex tasks that full-budget SFT does not teach are skipped (they cannot pass gate G3;
   * micro runs them anyway so that the pipeline is exercised).
   */
  pretune: { examples: number; seeds: number; mixFraction: number; equalWeightsArm: boolean; onlyLearned: boolean };
  /** Bootstrap resamples of the findings' intervals. */
  resamples: number;
}

export const SFT_PRESETS: Record<SftPresetName, SftPreset> = {
  micro: {
    name: "micro",
    description: "seconds, for tests: a tiny base model and a few steps; numbers only show that the pipeline runs",
    base: { trainLength: 64, hiddenSize: 32, numLayers: 2, numHeads: 4, tokenizer: { type: "byte", vocabSize: 258 }, maxDocuments: 36, steps: 8, batch: 4, lr: 3e-3, warmupSteps: 2, minLrRatio: 0.1, weightDecay: 0.1 },
    sft: { steps: 3, batch: 4, lr: 1e-3, warmupSteps: 1, weightDecay: 0, clip: 1 },
    trainExamples: 16,
    budgets: [4],
    evalExamples: 8,
    pretune: { examples: 8, seeds: 2, mixFraction: 0.5, equalWeightsArm: true, onlyLearned: false },
    resamples: 200,
  },
  quick: {
    name: "quick",
    description: "the default: at most 15 minutes on 2 CPU cores (base: L = 64, 4 layers, d = 128, 8 heads, BPE 512)",
    base: { trainLength: 64, hiddenSize: 128, numLayers: 4, numHeads: 8, tokenizer: { type: "bpe", vocabSize: 512 }, maxDocuments: 0, steps: 1000, batch: 16, lr: 2e-3, warmupSteps: 100, minLrRatio: 0.1, weightDecay: 0.1 },
    sft: { steps: 150, batch: 8, lr: 1e-3, warmupSteps: 10, weightDecay: 0, clip: 1 },
    trainExamples: 256,
    budgets: [16, 64],
    evalExamples: 64,
    pretune: { examples: 32, seeds: 3, mixFraction: 0.5, equalWeightsArm: false, onlyLearned: true },
    resamples: 1000,
  },
  standard: {
    name: "standard",
    description: "a CUDA host or a patient CPU: base 6 layers, d = 256, 8 heads, BPE 1024, 4000 steps",
    base: { trainLength: 128, hiddenSize: 256, numLayers: 6, numHeads: 8, tokenizer: { type: "bpe", vocabSize: 1024 }, maxDocuments: 0, steps: 4000, batch: 32, lr: 2e-3, warmupSteps: 200, minLrRatio: 0.1, weightDecay: 0.1 },
    sft: { steps: 300, batch: 8, lr: 5e-4, warmupSteps: 20, weightDecay: 0, clip: 1 },
    trainExamples: 384,
    budgets: [16, 64, 128],
    evalExamples: 128,
    pretune: { examples: 48, seeds: 5, mixFraction: 0.5, equalWeightsArm: true, onlyLearned: true },
    resamples: 2000,
  },
  large: {
    name: "large",
    description: "a CUDA host: base 8 layers, d = 512, 8 heads, BPE 4096, 8000 steps",
    base: { trainLength: 128, hiddenSize: 512, numLayers: 8, numHeads: 8, tokenizer: { type: "bpe", vocabSize: 4096 }, maxDocuments: 0, steps: 8000, batch: 32, lr: 1e-3, warmupSteps: 400, minLrRatio: 0.1, weightDecay: 0.1 },
    sft: { steps: 400, batch: 8, lr: 2e-4, warmupSteps: 20, weightDecay: 0, clip: 1 },
    trainExamples: 384,
    budgets: [16, 64, 128],
    evalExamples: 128,
    pretune: { examples: 48, seeds: 5, mixFraction: 0.5, equalWeightsArm: true, onlyLearned: true },
    resamples: 2000,
  },
};

/** A deep copy of a preset (callers may tweak it). */
export function getSftPreset(name: string): SftPreset {
  if (!(SFT_PRESET_NAMES as readonly string[]).includes(name)) {
    throw new CtxwinError("ERR_ARG", `sft-study: --preset: expected one of ${SFT_PRESET_NAMES.join(", ")}, got ${JSON.stringify(name)}`);
  }
  return structuredClone(SFT_PRESETS[name as SftPresetName]);
}

/** Checks a (possibly hand-edited) preset. */
export function validateSftPreset(p: SftPreset): void {
  const fail = (field: string, expected: string, got: unknown): never => {
    throw new CtxwinError("ERR_ARG", `sft-study: preset ${p.name}: ${field}: expected ${expected}, got ${JSON.stringify(got)}`);
  };
  const posInt = (field: string, v: unknown) => {
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) fail(field, "a positive integer", v);
  };
  const posNum = (field: string, v: unknown) => {
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) fail(field, "a positive number", v);
  };
  const b = p.base;
  for (const k of ["trainLength", "hiddenSize", "numLayers", "numHeads", "steps", "batch"] as const) posInt(`base.${k}`, b[k]);
  if (b.hiddenSize % b.numHeads !== 0 || (b.hiddenSize / b.numHeads) % 2 !== 0) fail("base.numHeads", "a divisor of hiddenSize giving an even head dim", b.numHeads);
  posNum("base.lr", b.lr);
  for (const k of ["steps", "batch"] as const) posInt(`sft.${k}`, p.sft[k]);
  posNum("sft.lr", p.sft.lr);
  posInt("trainExamples", p.trainExamples);
  posInt("evalExamples", p.evalExamples);
  if (!Array.isArray(p.budgets) || p.budgets.some((n, i) => !Number.isInteger(n) || n < 1 || n >= p.trainExamples || (i > 0 && n <= p.budgets[i - 1]!))) {
    fail("budgets", `increasing integers below trainExamples (${p.trainExamples})`, p.budgets);
  }
  posInt("pretune.examples", p.pretune.examples);
  if (p.pretune.examples > p.trainExamples) fail("pretune.examples", `at most trainExamples (${p.trainExamples})`, p.pretune.examples);
  posInt("pretune.seeds", p.pretune.seeds);
  if (!(p.pretune.mixFraction > 0 && p.pretune.mixFraction < 1)) fail("pretune.mixFraction", "a fraction in (0, 1)", p.pretune.mixFraction);
  if (Math.round(p.sft.steps * p.pretune.mixFraction) < 1 || p.sft.steps - Math.round(p.sft.steps * p.pretune.mixFraction) < 1) fail("pretune.mixFraction", "a share leaving at least one step to each phase", p.pretune.mixFraction);
  posInt("resamples", p.resamples);
}
