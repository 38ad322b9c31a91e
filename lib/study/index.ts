/** The context-extension study (`ctxwin study`): presets, corpus, training data, methods, paired evaluation, passkey, statistics, pipeline. */
export type { StudyReport, StudyModel, StudyMethod, StudySweep, PasskeyCell } from "./report_schema.js";
export { PRESETS, PRESET_NAMES, getPreset, validatePreset, type PresetName, type StudyPreset } from "./presets.js";
export { loadBrown, loadFiles, readTextFile, splitDocuments, splitCorpus, brownText, type Corpus, type Document } from "./corpus.js";
export { runStudy, studySplit, encodeDocuments, CACHE_VERSION, EOS, BOS, type StudyOptions, type StudyResult } from "./study.js";
export {
  studyMethods,
  dynamicFactor,
  windowExtension,
  attentionScaling,
  fineTunePositional,
  pvLayerStage,
  BASE_MODELS,
  FINE_TUNES,
  type MethodDef,
  type MethodRun,
  type MethodContext,
  type ModelName,
} from "./methods.js";
export {
  computePositionalVectors,
  interpolationSources,
  interpolateVectors,
  replacementDelta,
  replacementHook,
  type PositionalVectors,
} from "./positional_vectors.js";
export { buildPasskey, passkeyTemplate, passkeyBuckets, distanceRange, randomKey, scorePasskeyBucket, spanFiller, PASSKEY_TEXT, type PasskeySequence, type PasskeyBucket, type PasskeyResult } from "./passkey.js";
export { selectWindows, scoreWindows, docSums, meanNll, bucketCurve, type EvalWindow, type CellNll } from "./paired_eval.js";
export { bootstrapIndices, bootstrapMean, bootstrapRatio, wilson, BOOTSTRAP_RESAMPLES, type DocSums, type Interval } from "./stats.js";
export { buildTrainingRows, type MixOptions, type MixedRows } from "./training_data.js";
export { evaluateMethod, runSweep, buildEvalSet, longDocuments, nllCell, type EvalSet, type EvalSetOptions, type HeldOutDocument, type NllCell } from "./evaluate.js";
export { deviations } from "./deviations.js";
export { trainLM, StudyAborted, type TrainConfig, type TrainResult } from "./trainer.js";
export { createStageProgress, silentProgress, type ProgressSink } from "../util/progress.js";
export { renderStudyReport, type RenderOutcome } from "./render.js";
