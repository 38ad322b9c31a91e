/**
 * The architecture description the model classes are built from (normalised from an HF
 * config.json by loadModel, or written by hand for createModel), and positional helpers.
 */
import { CtxwinError } from "../errors.js";
import type { Positional, RopePositional } from "../positional.js";

export type Family = "llama" | "bloom";

export interface ArchConfig {
  family: Family;
  /** HF model_type: llama | mistral | qwen2 | bloom (kept when saving). */
  modelType: string;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  /** GQA key/value heads (= numHeads for MHA; BLOOM always numHeads). */
  numKvHeads: number;
  headDim: number;
  /** MLP hidden size (BLOOM: 4·hidden). */
  intermediateSize: number;
  /** RMSNorm / LayerNorm epsilon. */
  eps: number;
  /** lm_head shares the embedding matrix. */
  tieWordEmbeddings: boolean;
  /** Bias on q/k/v projections (qwen2, llama attention_bias, BLOOM). */
  qkvBias: boolean;
  /** Bias on the attention output projection (llama attention_bias, BLOOM). */
  outBias: boolean;
  /** Biases in the MLP (llama mlp_bias, BLOOM). */
  mlpBias: boolean;
  /** Sliding window per layer (0 = full attention); length numLayers. */
  windows: number[];
  /** The checkpoint's positional scheme (before any override). */
  positional: Positional;
  /** max_position_embeddings (informational; rope scaling uses its own field). */
  maxPositions: number;
  /** HF initializer_range (createModel's init std). */
  initializerRange: number;
  /** BLOOM apply_residual_connection_post_layernorm. */
  residualFromNorm: boolean;
  /** Extra HF config fields to keep when saving (bos/eos ids, torch_dtype, ...). */
  extra?: Record<string, unknown>;
}

/** What createModel needs at least; everything else gets family defaults. */
export type ArchConfigInput = Partial<ArchConfig> &
  Pick<ArchConfig, "vocabSize" | "hiddenSize" | "numLayers" | "numHeads"> & { family?: Family; slidingWindow?: number | null };

/** Fills defaults and validates (throws ERR_ARG naming the field). */
export function completeArch(c: ArchConfigInput): ArchConfig {
  const fn = "createModel";
  const family: Family = c.family ?? (c.modelType === "bloom" ? "bloom" : "llama");
  if (family !== "llama" && family !== "bloom") throw new CtxwinError("ERR_ARG", `${fn}: config.family: expected "llama" or "bloom", got ${JSON.stringify(family)}`);
  const pos = (name: string, v: unknown): number => {
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) throw new CtxwinError("ERR_ARG", `${fn}: config.${name}: expected a positive integer, got ${JSON.stringify(v)}`);
    return v;
  };
  const vocabSize = pos("vocabSize", c.vocabSize);
  const hiddenSize = pos("hiddenSize", c.hiddenSize);
  const numLayers = pos("numLayers", c.numLayers);
  const numHeads = pos("numHeads", c.numHeads);
  const numKvHeads = pos("numKvHeads", c.numKvHeads ?? numHeads);
  if (numHeads % numKvHeads !== 0) throw new CtxwinError("ERR_ARG", `${fn}: config.numKvHeads: expected a divisor of numHeads = ${numHeads}, got ${numKvHeads}`);
  if (family === "bloom" && numKvHeads !== numHeads) throw new CtxwinError("ERR_ARG", `${fn}: config.numKvHeads: BLOOM has no GQA (expected ${numHeads}), got ${numKvHeads}`);
  const headDim = pos("headDim", c.headDim ?? hiddenSize / numHeads);
  const intermediateSize = pos("intermediateSize", c.intermediateSize ?? (family === "bloom" ? 4 * hiddenSize : Math.ceil((8 * hiddenSize) / 3 / 8) * 8));
  const bloom = family === "bloom";
  let windows = c.windows;
  if (!windows) {
    const w = c.slidingWindow ?? 0;
    windows = new Array(numLayers).fill(w ?? 0);
  }
  if (windows.length !== numLayers || windows.some((w) => !Number.isInteger(w) || w < 0)) {
    throw new CtxwinError("ERR_ARG", `${fn}: config.windows: expected ${numLayers} non-negative integers (0 = no window), got ${JSON.stringify(windows)}`);
  }
  return {
    family,
    modelType: c.modelType ?? (bloom ? "bloom" : windows.some((w) => w > 0) ? "mistral" : "llama"),
    vocabSize,
    hiddenSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize,
    eps: c.eps ?? (bloom ? 1e-5 : 1e-6),
    tieWordEmbeddings: c.tieWordEmbeddings ?? bloom,
    qkvBias: c.qkvBias ?? bloom,
    outBias: c.outBias ?? bloom,
    mlpBias: c.mlpBias ?? bloom,
    windows,
    positional: c.positional ?? (bloom ? { type: "alibi" } : { type: "rope", theta: 10000 }),
    maxPositions: c.maxPositions ?? 2048,
    initializerRange: c.initializerRange ?? 0.02,
    residualFromNorm: c.residualFromNorm ?? false,
    extra: c.extra,
  };
}

/**
 * The positional scheme in effect when `override` is given on top of the checkpoint's `base`
 * (docs/design.md, Models and HF I/O: rope fields the override leaves out — theta, rotaryDim —
 * come from the checkpoint).
 */
export function mergePositional(base: Positional, override: Positional | undefined): Positional {
  if (!override) return base;
  if (override.type !== "rope") return { ...override };
  const out: RopePositional = { ...override };
  if (base.type === "rope") {
    if (out.theta === undefined && base.theta !== undefined) out.theta = base.theta;
    if (out.rotaryDim === undefined && base.rotaryDim !== undefined) out.rotaryDim = base.rotaryDim;
  }
  for (const k of Object.keys(out) as (keyof RopePositional)[]) if (out[k] === undefined) delete out[k];
  return out;
}

import type { ModelConfig } from "./io/config.js";

/** ArchConfig from io's normalised HF config. */
export function archFromConfig(mc: ModelConfig): ArchConfig {
  const bloom = mc.family === "bloom";
  const extra: Record<string, unknown> = {
    bosTokenId: mc.bosTokenId,
    eosTokenId: mc.eosTokenId,
    padTokenId: mc.padTokenId,
    torchDtype: mc.torchDtype,
  };
  return {
    family: mc.family,
    modelType: mc.modelType,
    vocabSize: mc.vocabSize,
    hiddenSize: mc.hiddenSize,
    numLayers: mc.numLayers,
    numHeads: mc.numHeads,
    numKvHeads: mc.numKvHeads,
    headDim: mc.headDim,
    intermediateSize: mc.intermediateSize,
    eps: mc.family === "bloom" ? mc.layerNormEps : mc.rmsNormEps,
    tieWordEmbeddings: mc.tieWordEmbeddings,
    qkvBias: mc.attentionBias,
    outBias: mc.attentionOutBias,
    mlpBias: mc.mlpBias,
    windows: mc.layerWindows.map((w) => w ?? 0),
    positional: mc.positional,
    maxPositions: mc.maxPositionEmbeddings ?? 0,
    initializerRange: mc.initializerRange,
    residualFromNorm: mc.family === "bloom" ? mc.residualPostLayernorm : false,
    extra,
  };
}

/** io's ModelConfig for an ArchConfig (with `positional` as the scheme to record). */
export function configFromArch(a: ArchConfig, positional: Positional = a.positional): ModelConfig {
  const x = a.extra ?? {};
  const windows = a.windows.map((w) => (w > 0 ? w : null));
  const sliding = windows.find((w) => w !== null) ?? null;
  const common = {
    vocabSize: a.vocabSize,
    hiddenSize: a.hiddenSize,
    numLayers: a.numLayers,
    numHeads: a.numHeads,
    numKvHeads: a.numKvHeads,
    headDim: a.headDim,
    intermediateSize: a.intermediateSize,
    tieWordEmbeddings: a.tieWordEmbeddings,
    attentionBias: a.qkvBias,
    attentionOutBias: a.outBias,
    mlpBias: a.mlpBias,
    slidingWindow: sliding,
    layerWindows: windows,
    positional,
    initializerRange: a.initializerRange,
    bosTokenId: (x.bosTokenId as number | null | undefined) ?? null,
    eosTokenId: (x.eosTokenId as number | number[] | null | undefined) ?? null,
    padTokenId: (x.padTokenId as number | null | undefined) ?? null,
    torchDtype: (x.torchDtype as string | null | undefined) ?? "float32",
  };
  if (a.family === "bloom") {
    return { ...common, family: "bloom", modelType: "bloom", layerNormEps: a.eps, residualPostLayernorm: a.residualFromNorm, maxPositionEmbeddings: null, hiddenAct: "gelu_tanh" };
  }
  const mt = (["llama", "mistral", "qwen2"].includes(a.modelType) ? a.modelType : "llama") as "llama" | "mistral" | "qwen2";
  return { ...common, family: "llama", modelType: mt, rmsNormEps: a.eps, maxPositionEmbeddings: a.maxPositions || 2048, hiddenAct: "silu" };
}
