/**
 * lib/analyze: analyses of trained models. Head activation scores (seed 002): the gradient
 * attribution of every attention head for a task (head_scores.ts), what is read from the maps
 * (head_maps.ts: Gini, decomposition, clusters, before/after comparison), task files (tasks.ts),
 * and the `ctxwin analyze heads` pipeline (heads_report.ts). Positional vectors (seed 001): the
 * analysis (positional.ts: estimator, PCA, geometry, attention statistics, extension methods,
 * observations), its report schema (positional_schema.ts) and the `ctxwin analyze positional`
 * pipeline (positional_report.ts). The command line of both: command.ts.
 */
export { headActivationScores, responseLoss, scaleHeadsHook, type TaskExample, type HeadScoreOptions, type HeadScores } from "./head_scores.js";
export {
  gini,
  decomposeMap,
  clusterHeads,
  compareMaps,
  type HeadMap,
  type DecomposeOptions,
  type Decomposition,
  type ClusterOptions,
  type HeadCluster,
  type HeadClustering,
  type MapComparison,
} from "./head_maps.js";
export { readTaskFiles, parseTaskJsonl, encodeTasks, type TaskRecord, type TaskData } from "./tasks.js";
export {
  runHeadsAnalysis,
  HEADS_REPORT_KIND,
  type HeadsAnalysisOptions,
  type HeadsReport,
  type HeadsCheckpoint,
  type HeadsTaskResult,
  type HeadsDecomposition,
  type HeadsComparisonTask,
  type ScoreVariant,
} from "./heads_report.js";
export { analyzePositional, type AnalyzePositionalOptions } from "./positional.js";
export { runAnalyzePositional, type AnalyzePositionalCommand, type AnalyzePositionalResult } from "./positional_report.js";
export type { PositionalReport, Observation as PositionalObservation, ModelKind } from "./positional_schema.js";
