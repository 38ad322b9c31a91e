/** `ctxwin sft-study` (seed 002 in miniature): tasks, SFT, presets, the report and its findings. */
export { runSftStudy, spreadDocuments, splitByGenre, mixPool, SFT_CACHE_VERSION, MIN_TASK_EXAMPLES, type SftStudyOptions, type SftStudyResult } from "./study.js";
export { BUILTIN_TASKS, GENRES, brownGenre, isCapitalised, sentencesOf, makeTaskExamples, taskPrompt, taskAnswer, taskComponents, type SftExample, type SftTaskDef, type Genre } from "./tasks.js";
export { encodeExample, sftRows, sftTrain, evaluateExamples, type EncodedExample, type SftConfig, type SftResult, type ExampleScores } from "./sft.js";
export { SFT_PRESETS, SFT_PRESET_NAMES, getSftPreset, validateSftPreset, type SftPreset, type SftPresetName } from "./presets.js";
export {
  SFT_CRITERIA,
  SFT_FINDING_TEXT,
  SftEvidence,
  computeSftGates,
  computeSftFindings,
  decomposeComplex,
  mixWeights,
  mapOf,
  correlation,
  percentileInterval,
  subsets,
  taskSummaries,
  f1Numbers,
  f2Numbers,
  f3Numbers,
  f4Numbers,
  fmtInterval,
  type MapVariant,
  type ComplexDecomposition,
  type TaskSummary,
} from "./findings.js";
export { SFT_REPORT_KIND, type SftReport, type SftRun, type SftEval, type SftTaskInfo, type SftGate, type SftFinding, type SftVerdict, type SftArm } from "./report_schema.js";
export { parseSftArgs, sftStudyCommand, SFT_STUDY_HELP, type SftArgs } from "./command.js";
