/**
 * lib/nn: tape autograd (autograd.ts), differentiable ops (functional.ts), modules.
 * See autograd.ts for the recording / ownership / gradient-accumulation conventions.
 */
export {
  Variable,
  Parameter,
  Tape,
  noGrad,
  noGradSliced,
  tidy,
  tidySteps,
  activeTape,
  leaf,
  constant,
  emit,
  emitMany,
  knownScalar,
  type VariableOptions,
  type BackwardContext,
  type BackwardFn,
  type BackwardOptions,
  type EmitOptions,
} from "./autograd.js";
export * as F from "./functional.js";
export { type CrossEntropyOptions } from "./functional.js";
export { Module, ModuleList } from "./module.js";
export { Builder, randomInit, type WeightFactory, type WeightKind, type RandomInitOptions } from "./init.js";
export { Linear, Embedding, RMSNorm, LayerNorm, MLP, type Norm, type MLPOptions, type LoraState } from "./layers.js";
export { Attention, KVCache, LayerCache, type LayerKV, type AttentionCall, type AttentionConfig } from "./attention.js";
export { Block, type BlockParts } from "./block.js";
