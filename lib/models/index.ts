/** Model families, loading/saving HF checkpoints and PEFT adapters (lib/models/io does the file formats). */
export { CausalLM, idsTensor, lmTargets, type ForwardOptions, type ForwardHooks, type LossOptions, type CausalLMParts } from "./causal_lm.js";
export { LlamaLike } from "./llama/model.js";
export { Bloom } from "./bloom/model.js";
export {
  type ArchConfig,
  type ArchConfigInput,
  type Family,
  completeArch,
  mergePositional,
  archFromConfig,
  configFromArch,
} from "./arch.js";
export { loadModel, createModel, buildModel, weightSpecs, type LoadModelOptions, type CreateModelOptions, type WeightSpec } from "./load.js";
export { saveModel, saveAdapter, fuseQkv, type SaveModelOptions } from "./save.js";
export { Encoder, classificationTargets, type EncoderForwardOptions, type ClassificationLossOptions } from "./encoder/model.js";
export {
  parseEncoderConfig,
  encoderConfigToJson,
  encoderArchitecture,
  isEncoderConfig,
  type EncoderConfig,
  type EncoderType,
  type EncoderAct,
  type EncoderHeadKind,
} from "./encoder/config.js";
export { MlmHead } from "./encoder/mlm_head.js";
export { maskTokens, maskedLmLoss, scoreMasked, type MaskTokensOptions, type MaskedTokens, type MaskedLmLossOptions } from "./encoder/mlm.js";
export { loadEncoder, createEncoder, saveEncoder, readEncoderConfig, type LoadEncoderOptions, type CreateEncoderOptions, type EncoderHeadOptions } from "./encoder/load.js";
export { DecoderClassifier, loadDecoderClassifier, saveDecoderClassifier, predict, predictLabels, type DecoderHeadOptions, type HeadForwardOptions, type LoadDecoderClassifierOptions } from "./heads.js";
