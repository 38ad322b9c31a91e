/**
 * Presets of `ctxwin peft`: the backbone pretrained when no --model is given, the tasks' sizes,
 * the training budgets per setting, and each method's settings.
 *
 *   micro     seconds, for tests: a 2-layer d = 32 backbone, a few steps; numbers only show that
 *             the pipeline runs.
 *   quick     the default: at most 15 minutes on 2 CPU cores, backbone pretraining included
 *             (4 layers, d = 64; 3 seeds; see README for the measured stage times).
 *   standard  a patient CPU or a GPU: 6 layers, d = 256, 3 seeds, more data and steps.
 *   paper     a GPU host with a real checkpoint (--model bert-base / roberta-base): the paper's
 *             budgets (prefix length 16, 5 seeds); pretraining is only a fallback.
 *
 * Every method gets the same steps, batch and examples in a setting; only the learning rate is
 * per method (prefix methods need larger rates than full fine-tuning, as in P-tuning v2).
 */
import { CtxwinError } from "../errors.js";
import type { PeftMethod } from "./report_schema.js";

export type PeftPresetName = "micro" | "quick" | "standard" | "paper";
export const PEFT_PRESET_NAMES: readonly PeftPresetName[] = ["micro", "quick", "standard", "paper"];

export interface PeftPreset {
  name: PeftPresetName;
  description: string;
  /**
   * The backbone pretrained by masked language modelling on Brown (ignored with --model); maxLength
   * is its rows' length and max_position_embeddings (room for the task inputs plus prefix positions).
   */
  backbone: { hiddenSize: number; numLayers: number; numHeads: number; intermediateSize: number; vocabSize: number; maxLength: number; steps: number; batch: number; lr: number };
  /**
   * Task sizes: training / test examples at most, the input length limit (specials included);
   * brown-genre's labels ("category": Brown's 15; "coarse": press / nonfiction / fiction, as the
   * sft-study) and passage length; whether brown-names keeps only sentences with a proper noun
   * (3.8% of Brown's words are in one: a small model trained briefly predicts O everywhere).
   */
  data: { maxTrain: number; maxTest: number; maxLength: number; genreSentences: number; genreLabels: "category" | "coarse"; namesWithEntities: boolean; perDocument: number; testFraction: number };
  /** Few-shot: k training examples per class (token tasks: per entity type, and k without entities). */
  fewShotK: number;
  /** Training budget per setting (the same for every method). */
  train: Record<"full" | "fewShot", { steps: number; batch: number; warmup: number }>;
  /** Peak learning rate per method (the probe's variable prefix uses ptv2's). */
  lr: Record<PeftMethod, number>;
  lora: { r: number; alpha: number; targetModules: string[] };
  /** Prefix tokens per layer (P-tuning v2 and APT; the probe keeps the total L·P). */
  prefixLength: number;
  /** APT's gate: "token" (per input token, the paper's) or "pooled" (per sequence). */
  aptGate: "token" | "pooled";
  seeds: number;
  evalBatch: number;
}

export const PEFT_PRESETS: Record<PeftPresetName, PeftPreset> = {
  micro: {
    name: "micro",
    description: "seconds, for tests: a 2-layer d = 32 backbone and a few steps; numbers only show that the pipeline runs",
    backbone: { hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 64, vocabSize: 300, maxLength: 32, steps: 10, batch: 8, lr: 1e-3 },
    data: { maxTrain: 24, maxTest: 12, maxLength: 32, genreSentences: 1, genreLabels: "category", namesWithEntities: true, perDocument: 1, testFraction: 0.2 },
    fewShotK: 2,
    train: { full: { steps: 4, batch: 4, warmup: 1 }, fewShot: { steps: 3, batch: 4, warmup: 0 } },
    lr: { full: 1e-3, lora: 5e-3, ptv2: 1e-2, apt: 1e-2 },
    lora: { r: 2, alpha: 4, targetModules: ["query", "value"] },
    prefixLength: 2,
    aptGate: "token",
    seeds: 2,
    evalBatch: 16,
  },
  quick: {
    name: "quick",
    description: "the default: at most 15 minutes on 2 CPU cores with backbone pretraining (4 layers, d = 64, 3 seeds)",
    backbone: { hiddenSize: 64, numLayers: 4, numHeads: 4, intermediateSize: 256, vocabSize: 1024, maxLength: 96, steps: 600, batch: 16, lr: 3e-3 },
    data: { maxTrain: 600, maxTest: 200, maxLength: 64, genreSentences: 2, genreLabels: "coarse", namesWithEntities: true, perDocument: 4, testFraction: 0.2 },
    fewShotK: 8,
    train: { full: { steps: 200, batch: 16, warmup: 10 }, fewShot: { steps: 60, batch: 8, warmup: 5 } },
    lr: { full: 3e-3, lora: 1e-2, ptv2: 3e-2, apt: 3e-2 },
    lora: { r: 8, alpha: 16, targetModules: ["query", "value"] },
    prefixLength: 8,
    aptGate: "token",
    seeds: 3,
    evalBatch: 32,
  },
  standard: {
    name: "standard",
    description: "a patient CPU or a GPU: backbone 6 layers, d = 256, 3 seeds, more data and steps",
    backbone: { hiddenSize: 256, numLayers: 6, numHeads: 4, intermediateSize: 1024, vocabSize: 8000, maxLength: 256, steps: 4000, batch: 32, lr: 5e-4 },
    data: { maxTrain: 2000, maxTest: 600, maxLength: 128, genreSentences: 3, genreLabels: "category", namesWithEntities: true, perDocument: 8, testFraction: 0.2 },
    fewShotK: 16,
    train: { full: { steps: 600, batch: 32, warmup: 40 }, fewShot: { steps: 150, batch: 8, warmup: 10 } },
    lr: { full: 5e-4, lora: 2e-3, ptv2: 1e-2, apt: 1e-2 },
    lora: { r: 8, alpha: 16, targetModules: ["query", "value"] },
    prefixLength: 16,
    aptGate: "token",
    seeds: 3,
    evalBatch: 64,
  },
  paper: {
    name: "paper",
    description: "a GPU host with --model (bert-base / roberta-base): prefix length 16, 5 seeds, 3 epochs of the capped data",
    backbone: { hiddenSize: 768, numLayers: 12, numHeads: 12, intermediateSize: 3072, vocabSize: 30000, maxLength: 512, steps: 20000, batch: 64, lr: 2e-4 },
    data: { maxTrain: 10000, maxTest: 2000, maxLength: 128, genreSentences: 3, genreLabels: "category", namesWithEntities: false, perDocument: 20, testFraction: 0.2 },
    fewShotK: 16,
    train: { full: { steps: 1000, batch: 32, warmup: 60 }, fewShot: { steps: 200, batch: 8, warmup: 10 } },
    lr: { full: 2e-5, lora: 5e-4, ptv2: 5e-3, apt: 5e-3 },
    lora: { r: 8, alpha: 16, targetModules: ["query", "value"] },
    prefixLength: 16,
    aptGate: "token",
    seeds: 5,
    evalBatch: 64,
  },
};

/** A deep copy of a preset (callers may tweak it). */
export function getPeftPreset(name: string): PeftPreset {
  if (!(PEFT_PRESET_NAMES as readonly string[]).includes(name)) throw new CtxwinError("ERR_ARG", `peft: --preset: expected one of ${PEFT_PRESET_NAMES.join(", ")}, got ${JSON.stringify(name)}`);
  return structuredClone(PEFT_PRESETS[name as PeftPresetName]);
}

/** Checks a (possibly hand-edited) preset; errors name the field. */
export function validatePeftPreset(p: PeftPreset): void {
  const fail = (field: string, expected: string, got: unknown): never => {
    throw new CtxwinError("ERR_ARG", `peft: preset ${p.name}: ${field}: expected ${expected}, got ${JSON.stringify(got)}`);
  };
  const posInt = (field: string, v: unknown) => {
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) fail(field, "a positive integer", v);
  };
  const posNum = (field: string, v: unknown) => {
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) fail(field, "a positive number", v);
  };
  const b = p.backbone;
  for (const k of ["hiddenSize", "numLayers", "numHeads", "intermediateSize", "vocabSize", "maxLength", "steps", "batch"] as const) posInt(`backbone.${k}`, b[k]);
  if (b.hiddenSize % b.numHeads !== 0) fail("backbone.numHeads", `a divisor of hiddenSize (${b.hiddenSize})`, b.numHeads);
  posNum("backbone.lr", b.lr);
  for (const k of ["maxTrain", "maxTest", "maxLength", "genreSentences", "perDocument"] as const) posInt(`data.${k}`, p.data[k]);
  if (p.data.maxLength < 8) fail("data.maxLength", "at least 8 (room for the specials)", p.data.maxLength);
  if (!(p.data.testFraction > 0 && p.data.testFraction < 1)) fail("data.testFraction", "a fraction in (0, 1)", p.data.testFraction);
  if (p.data.genreLabels !== "category" && p.data.genreLabels !== "coarse") fail("data.genreLabels", `"category" or "coarse"`, p.data.genreLabels);
  if (typeof p.data.namesWithEntities !== "boolean") fail("data.namesWithEntities", "true or false", p.data.namesWithEntities);
  posInt("fewShotK", p.fewShotK);
  for (const s of ["full", "fewShot"] as const) {
    posInt(`train.${s}.steps`, p.train[s].steps);
    posInt(`train.${s}.batch`, p.train[s].batch);
    if (!Number.isInteger(p.train[s].warmup) || p.train[s].warmup < 0) fail(`train.${s}.warmup`, "a non-negative integer", p.train[s].warmup);
  }
  for (const m of ["full", "lora", "ptv2", "apt"] as const) posNum(`lr.${m}`, p.lr[m]);
  posInt("lora.r", p.lora.r);
  posNum("lora.alpha", p.lora.alpha);
  if (!Array.isArray(p.lora.targetModules) || p.lora.targetModules.length === 0) fail("lora.targetModules", "a non-empty list of module names", p.lora.targetModules);
  posInt("prefixLength", p.prefixLength);
  if (p.aptGate !== "token" && p.aptGate !== "pooled") fail("aptGate", `"token" or "pooled"`, p.aptGate);
  posInt("seeds", p.seeds);
  posInt("evalBatch", p.evalBatch);
}
