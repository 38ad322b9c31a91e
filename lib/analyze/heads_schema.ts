/**
 * report.json of `ctxwin analyze heads` (kind "ctxwin-heads", schema 1): the types and the
 * definitions shown on the page. lib/report reads these without loading any model code.
 */
import type { Device } from "../tensor.js";
import type { HeadClustering, MapComparison } from "./head_maps.js";

export const HEADS_REPORT_KIND = "ctxwin-heads";

export type ScoreVariant = "absolute" | "signed";

/** One task's maps on one checkpoint. */
export interface HeadsTaskResult {
  task: string;
  files: string[];
  examples: number;
  /** Response tokens scored. */
  tokens: number;
  /** Mean response loss (nats per token). */
  loss: number;
  signed: number[][];
  absolute: number[][];
  /** Gini of |signed| and of absolute (both over the absolute values). */
  gini: { signed: number | null; absolute: number | null };
  seconds: number;
}

export interface HeadsDecomposition {
  task: string;
  onto: string[];
  coefficients: number[];
  intercept: number;
  r2: number | null;
  rmse: number;
  /**
   * R² of the fit onto the equal-weight mean of the same maps (b + c·mean): how much a profile
   * shared by every task explains. The decomposition can only do better (the mean is one of its
   * candidates); the difference is what task-specific weights add.
   */
  r2EqualWeights: number | null;
}

export interface HeadsCheckpoint {
  label: string;
  dir: string;
  model: { family: string; modelType: string; layers: number; heads: number; kvHeads: number; headDim: number; vocabSize: number; parameters: number };
  tasks: HeadsTaskResult[];
  /** Each task's map (the analysed variant) onto the other tasks' (≥ 2 tasks). */
  decomposition: HeadsDecomposition[];
  clusters: HeadClustering & { tasks: string[] };
}

export interface HeadsComparisonTask extends Omit<MapComparison, "correlation" | "giniBefore" | "giniAfter" | "relativeChange"> {
  task: string;
  relativeChange: number | null;
  correlation: number | null;
  giniBefore: number | null;
  giniAfter: number | null;
  lossBefore: number;
  lossAfter: number;
}

/** report.json of `ctxwin analyze heads` (NaN / Infinity are written as null). */
export interface HeadsReport {
  kind: typeof HEADS_REPORT_KIND;
  schema: 1;
  ctxwin: string;
  createdAt: string;
  config: {
    taskFiles: string[];
    tokenizer: string | null;
    score: ScoreVariant;
    clusters: number;
    batchSize: number;
    maxExamples: number | null;
    maxLength: number | null;
    decomposition: "nnls" | "ls";
  };
  device: Device;
  environment: { node: string; platform: string; cpu: string };
  /** How the numbers are defined (shown on the page). */
  definitions: Record<string, string>;
  checkpoints: HeadsCheckpoint[];
  comparison: { before: string; after: string; tasks: HeadsComparisonTask[] } | null;
  timings: { totalSeconds: number };
}

export const HEADS_DEFINITIONS: Record<string, string> = {
  score:
    "a_{l,h}(x) = Σ_t Σ_d Γ·∂L_x/∂Γ for the head's attention output Γ (before the output projection), L_x the mean cross-entropy of example x's response tokens; signed map = mean over examples of a(x), absolute map = mean over examples of |a(x)| (per-example magnitude, as Michel et al. 2019)",
  gini: "Gini coefficient of the absolute scores over all heads: 0 = every head equally active, (n − 1)/n = one head has all of it",
  decomposition:
    "each task's map ≈ b + Σ_k c_k · map_k over the other tasks' maps, least squares over the heads with c_k ≥ 0 (NNLS, Lawson–Hanson) and a free intercept b; R² = 1 − SS_res/SS_tot about the map's mean (in [0, 1]; about k/(n − 1) for unrelated maps). Maps of one model share a profile (heads that are large for every task), which alone gives a high R²: compare with the equal-weights R² (the fit onto the plain mean of the other maps) and, for a claim of composition, with a decomposition onto unrelated tasks",
  clusters:
    "k-means of the heads by their profile across tasks (each task's map divided by its largest |score|), farthest-point initialisation from the largest profile: deterministic; cluster 0 has the largest centroid",
  comparison:
    "per task: Δ = after − before per head; relative change ‖Δ‖₂/‖before‖₂; Pearson correlation of the two maps; Gini before and after",
};

