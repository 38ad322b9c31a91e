/**
 * ctxwin: fused attention with positional schemes as kernel parameters, on CPU and CUDA.
 * See README.md for a tour and docs/design.md (Positional conventions) for the exact math.
 */
import { cpuBackend, cudaUnavailableReason, loadedBackends, type Device } from "./backend.js";
import { argError, fromNative } from "./errors.js";

export { Tensor, setDefaultDevice, defaultDevice, type TensorOptions, type Device, type DType } from "./tensor.js";
export { attention, attentionWithLse, attentionBackward, alibiSlopes, type AttentionOptions } from "./attention.js";
export { type Positional, type AlibiPositional, type RopePositional, type RopeScaling, positionalLabel } from "./positional.js";
export { CtxwinError, type ErrorCode } from "./errors.js";

/** Resolves when all work queued so far on `device` (default: every loaded device) has finished. */
export async function synchronize(device?: Device): Promise<void> {
  if (device !== undefined && device !== "cpu" && device !== "cuda") argError("ERR_DEVICE", "synchronize", "device", `"cpu" or "cuda"`, device);
  const addons = loadedBackends().filter((a) => device === undefined || a.device === device);
  try {
    await Promise.all(addons.map((a) => a.synchronize()));
  } catch (e) {
    throw fromNative(e);
  }
}

/** Live tensors and bytes per loaded device. */
export function memory(): { [device: string]: { tensors: number; bytes: number } } {
  cpuBackend();
  const out: { [device: string]: { tensors: number; bytes: number } } = {};
  for (const a of loadedBackends()) out[a.device] = a.memory();
  return out;
}

export interface BackendInfo {
  cpu: {
    isa: string;
    threads: number;
    features: Record<string, boolean>;
    /** Most bytes of freed tensor memory the CPU backend keeps for reuse (CTXWIN_CPU_CACHE_MB). */
    memoryCacheLimitBytes: number;
    /** Bytes it holds now (not counted by memory(), which counts live tensors). */
    memoryCachedBytes: number;
  };
  cuda: { available: true; info: unknown } | { available: false; reason: string };
}

/** What `ctxwin doctor` prints: the CPU kernels in use and whether CUDA can be used (and why not). */
export function backendInfo(): BackendInfo {
  const cpu = JSON.parse(cpuBackend().info());
  const reason = cudaUnavailableReason();
  if (reason !== null) return { cpu, cuda: { available: false, reason } };
  const addon = loadedBackends().find((a) => a.device === "cuda")!;
  return { cpu, cuda: { available: true, info: JSON.parse(addon.info()) } };
}

// Native ops (lib/ops) as a namespace: ops.matmul, ops.rmsnorm, ...
export * as ops from "./ops/index.js";

// Event-loop slicing of long recordings (train, generate, perplexity).
export { eventLoopSlice, type Steps } from "./util/slices.js";

// Autograd and modules.
export {
  Variable,
  Parameter,
  Tape,
  noGrad,
  noGradSliced,
  tidy,
  tidySteps,
  leaf,
  constant,
  F,
  Module,
  ModuleList,
  Linear,
  Embedding,
  RMSNorm,
  LayerNorm,
  MLP,
  Attention,
  Block,
  KVCache,
} from "./nn/index.js";

// The seeded random generator (weight init, sampling, data order; state saveable for checkpoints).
export { Rng, type RngState } from "./util/rng.js";

// Models: HF checkpoints (Llama family, BLOOM; BERT / RoBERTa encoders), creation, saving, adapters.
export {
  CausalLM,
  LlamaLike,
  Bloom,
  loadModel,
  createModel,
  saveModel,
  saveAdapter,
  lmTargets,
  type ArchConfig,
  type ArchConfigInput,
  type ForwardOptions,
  type ForwardHooks,
  type LoadModelOptions,
  type CreateModelOptions,
  type SaveModelOptions,
  Encoder,
  loadEncoder,
  createEncoder,
  saveEncoder,
  MlmHead,
  maskTokens,
  maskedLmLoss,
  scoreMasked,
  type MaskTokensOptions,
  type MaskedTokens,
  type MaskedLmLossOptions,
  classificationTargets,
  type EncoderConfig,
  type EncoderHeadKind,
  type EncoderForwardOptions,
  type ClassificationLossOptions,
  type LoadEncoderOptions,
  type CreateEncoderOptions,
  type EncoderHeadOptions,
  DecoderClassifier,
  loadDecoderClassifier,
  saveDecoderClassifier,
  type LoadDecoderClassifierOptions,
  predict,
  predictLabels,
  type DecoderHeadOptions,
  type HeadForwardOptions,
} from "./models/index.js";
export { generate, generateAll, perplexity, type GenerateOptions, type PerplexityOptions, type PerplexityResult } from "./infer/index.js";
export {
  addLora,
  mergeLora,
  removeLora,
  addPrefix,
  removePrefix,
  prefixParameters,
  promptEmbeddings,
  layerPrefixLengths,
  parameterCounts,
  type LoraOptions,
  type PrefixOptions,
  type PeftModel,
  type ParameterCounts,
} from "./peft/index.js";
export { addApt, aptParameters, aptInfo, meanAptGates, saveAptAdapter, loadAptAdapter, type AptOptions, type AptModel, type GateBatch } from "./peft/index.js";
// A backbone for PEFT when the user has none: a small BERT pretrained by masked language modelling, cached.
export {
  pretrainEncoder,
  trainEncoderTokenizer,
  resolvePretrainOptions,
  PRETRAIN_PRESETS,
  PRETRAIN_VERSION,
  type PretrainEncoderOptions,
  type PretrainEncoderResult,
  type PretrainSizes,
} from "./peft/backbone.js";

// File formats.
export {
  readConfig,
  configToJson,
  writeConfig,
  openCheckpoint,
  writeCheckpoint,
  writeSafetensors,
  readSafetensorsHeader,
  readTensor,
  readAdapter,
  writeLoraAdapter,
  writePrefixAdapter,
  type ModelConfig,
  type Checkpoint,
  type PeftAdapter,
} from "./models/io/index.js";

// Tokenizers.
export {
  loadTokenizer,
  saveTokenizer,
  tokenizerFromJSON,
  trainBpe,
  ByteTokenizer,
  byteTokenizer,
  BpeTokenizer,
  DecodeStream,
  WordPieceModel,
  encodePair,
  specialTokenIds,
  type SpecialTokenIds,
  type Tokenizer,
  type TrainBpeOptions,
} from "./models/tokenizer/index.js";

// Training: data packing/loading, AdamW, schedules, the train() loop with checkpoints.
// (Only what docs/api.md documents: test/api.test.ts fails on an export it does not list.)
export {
  train,
  evaluate,
  packSequences,
  PackedRows,
  DataLoader,
  splitRows,
  trainValSplit,
  AdamW,
  lrAt,
  schedule,
  saveCheckpoint,
  readCheckpoint,
  latestCheckpoint,
  restoreParams,
  type TrainOptions,
  type TrainResult,
  type StepInfo,
  type TrainableModel,
  type Batch,
  type DataLoaderOptions,
  type Documents,
  type LoaderState,
  type PackOptions,
  type SplitOptions,
  type TokenStream,
  type AdamWConfig,
  type AdamWState,
  type StepOptions,
  type ScheduleOptions,
  type EvalResult,
  type LoadedCheckpoint,
  type TrainerState,
} from "./train/index.js";

// Analyses: head activation scores and maps (seed 002), task files, `ctxwin analyze heads`;
// positional vectors (seed 001), `ctxwin analyze positional`.
export {
  headActivationScores,
  responseLoss,
  scaleHeadsHook,
  gini,
  decomposeMap,
  clusterHeads,
  compareMaps,
  readTaskFiles,
  parseTaskJsonl,
  encodeTasks,
  runHeadsAnalysis,
  analyzePositional,
  runAnalyzePositional,
  type TaskExample,
  type HeadScoreOptions,
  type HeadScores,
  type HeadMap,
  type DecomposeOptions,
  type Decomposition,
  type ClusterOptions,
  type HeadCluster,
  type HeadClustering,
  type MapComparison,
  type TaskRecord,
  type TaskData,
  type HeadsAnalysisOptions,
  type HeadsReport,
  type AnalyzePositionalOptions,
  type AnalyzePositionalCommand,
  type AnalyzePositionalResult,
  type PositionalReport,
  type PositionalObservation,
  type ModelKind,
} from "./analyze/index.js";
export { renderHeadsReport } from "./report/heads.js";

// `ctxwin eval`: checkpoints × methods × lengths with the study's paired evaluation, resumable.
export { runEval, type EvalOptions, type EvalRunResult, type EvalReport } from "./eval/index.js";
// `ctxwin sft-study` (seed 002 in miniature): the built-in tasks, SFT on prompt/response examples,
// the pipeline, the findings computed from its report, and the report's page.
export {
  runSftStudy,
  makeTaskExamples,
  BUILTIN_TASKS,
  taskComponents,
  encodeExample,
  sftTrain,
  evaluateExamples,
  SFT_PRESETS,
  computeSftGates,
  computeSftFindings,
  SFT_CRITERIA,
  type SftStudyOptions,
  type SftStudyResult,
  type SftExample,
  type SftTaskDef,
  type EncodedExample,
  type SftConfig,
  type SftResult,
  type ExampleScores,
  type SftPreset,
  type SftPresetName,
  type SftReport,
  type SftRun,
  type SftEval,
  type SftTaskInfo,
  type SftGate,
  type SftFinding,
  type SftVerdict,
} from "./sft/index.js";
export { renderSftReport } from "./report/sft.js";

// `ctxwin peft` (seed 004): APT vs P-tuning v2, LoRA and full fine-tuning on encoders.
export {
  runPeftStudy,
  getPeftPreset,
  PEFT_PRESETS,
  computePeftFindings,
  variableLengths,
  type PeftStudyOptions,
  type PeftStudyResult,
  type PeftPreset,
  type PeftPresetName,
  type PeftReport,
  type PeftCell,
  type PeftFinding,
  type PeftParts,
} from "./peftstudy/index.js";
export { renderPeftReport } from "./report/peft.js";

// The batching engine: one model, many concurrent generations (continuous batching).
export { Engine, createEngine, type EngineOptions, type EngineGenerateOptions, type EngineStats, type LatencySummary } from "./engine/index.js";

// Task metrics (classification and BIO tagging).
export { accuracy, macroF1, spanF1, spans, type ClassScores, type Span } from "./tasks/metrics.js";
export {
  brownGenreTask,
  brownNamesTask,
  readSuperGlue,
  readConll,
  readPlainJsonl,
  fewShot,
  properNounTags,
  type ClassificationExample,
  type TaggingExample,
  type SuperGlueTask,
} from "./tasks/data.js";
export {
  inputCodec,
  labelMap,
  encodeClassification,
  encodeTagging,
  wordPredictions,
  type InputCodec,
  type LabelMap,
  type EncodedTask,
  type EncodedSequence,
  type EncodedTagged,
} from "./tasks/encode.js";
export {
  trainClassifier,
  evaluateClassifier,
  type ClassifierModel,
  type ClassifierInputs,
  type TrainClassifierOptions,
  type TrainClassifierResult,
  type SequenceScores,
  type TokenScores,
} from "./tasks/train.js";
