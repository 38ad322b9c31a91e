/** The context-extension study (`ctxwin study`): presets, corpus, methods, passkey, positional vectors, pipeline. */
export type { StudyReport, StudyModel, StudyMethod } from "./report_schema.js";
export { PRESETS, PRESET_NAMES, getPreset, validatePreset, type PresetName, type StudyPreset } from "./presets.js";
export { loadBrown, loadFiles, readTextFile, splitDocuments, splitCorpus, brownText, type Corpus, type Document } from "./corpus.js";
export { runStudy, encodeDocuments, CACHE_VERSION, EOS, type StudyOptions, type StudyResult } from "./study.js";
export { studyMethods, dynamicYarnFactor, windowExtension, attentionScaling, type MethodDef, type MethodRun, type MethodContext } from "./methods.js";
export {
  computePositionalVectors,
  interpolationSources,
  interpolateVectors,
  replacementDelta,
  replacementHook,
  type PositionalVectors,
} from "./positional_vectors.js";
export { buildPasskey, chooseTemplate, distractors, randomKey, scorePasskey, PASSKEY_TEMPLATES, type PasskeyPrompt, type PasskeyScore } from "./passkey.js";
export { trainLM, StudyAborted, type TrainConfig, type TrainResult } from "./trainer.js";
export { createProgress, silentProgress, type ProgressSink } from "./progress.js";
export { renderStudyReport, type RenderOutcome } from "./render.js";
