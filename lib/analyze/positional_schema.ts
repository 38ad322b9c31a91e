/**
 * report.json of `ctxwin analyze positional` (schema "ctxwin-analyze-positional/1"): the numbers
 * behind every plot and every verdict of report.html. Layers: "hidden index" l = 0 … numLayers
 * (0 = the embeddings, l = the input of block l, numLayers = the last block's output, before the
 * final norm); "attention layer" l = block l. Positions are 0-based; position 0 holds BOS when the
 * tokenizer has one. Missing or undefined values are null.
 */

export type ModelKind = "nope" | "rope" | "alibi" | "window";
export type Verdict = "holds" | "does not hold" | "not testable";

export interface Bucket {
  start: number;
  end: number;
  value: number | null;
}

export interface LayerPca {
  layer: number;
  /** Fraction of the variance of the fitted vectors on PC1 and PC2. */
  explained: number[];
  /** Positions plotted (the fitted ones, sampled to at most ~400 points), with their scores. */
  positions: number[];
  x: number[];
  y: number[];
}

export interface LayerGeometry {
  layer: number;
  /** Positional signal S (estimator.ts): spread across positions [1, L) / sampling noise; E[S] = 1 without positional information. */
  signal: number | null;
  /** Mean ‖p_t‖ over the trained positions [0, L). */
  meanNorm: number;
  /** Anchor scores a_t of the first K positions (geometry.ts). */
  anchorScores: number[];
  /** σ: median distance of trained positions [K, L) from their centroid. */
  spread: number;
  /** r: RMS radius of the trained positions [K, L). */
  radius: number;
  /** Cosine similarity of p at `similarityPositions` (report.settings). */
  similarity: number[][];
  /** ‖p_t − p_{t−1}‖ / σ, bucketed over positions. */
  stepChange: Bucket[];
  /** OOD distance (geometry.ts) bucketed over all positions: trained positions left-one-out, the rest against [K, L). */
  ood: Bucket[];
  /** Mean OOD distance of the trained positions [L/2, L), each left out of the reference (the in-range reference). */
  oodInRange: number | null;
  /** Mean OOD distance of positions [L, T) for each analysed length T > L. */
  oodBeyond: { length: number; mean: number | null }[];
  /** √(2 · mean tr Σ_t / N) / r: the distance two independent estimates of one vector have, in OOD units. */
  noiseFloor: number | null;
}

export interface AttentionRangeReport {
  name: string;
  lo: number;
  hi: number;
  /** Sequences × queries per layer. */
  queries: number[];
  /** [attention layer][head]: mean attention mass on the first K tokens. */
  sinkMass: (number | null)[][];
  /** [attention layer]: the uniform share of the first K tokens for these queries. */
  sinkBaseline: (number | null)[];
  /** [attention layer][bucket]: mean attention per key (keys ≥ K) by distance bucket (report.attention.distanceEdges). */
  decay: (number | null)[][];
  /** [attention layer]: mean attention per key at distances [1, 4) and [L/8, L/4) (the decay criterion's near and far). */
  near: (number | null)[];
  far: (number | null)[];
}

export interface RunReport {
  /** Sequence length of the run. */
  length: number;
  samples: number;
  attentionSamples: number;
  seconds: number;
  attention: AttentionRangeReport[] | null;
}

export interface MethodLengthReport extends RunReport {
  /** [hidden index]: mean OOD distance of positions [L, length) against the base model's trained vectors. */
  oodBeyond: (number | null)[];
  /** [hidden index]: OOD distance bucketed over positions [0, length). */
  ood: Bucket[][];
  /** [hidden index]: mean OOD distance of positions [L/2, L) (the method may change the trained range too). */
  oodInRange: (number | null)[];
  /** Projections of positions [L, length) on the base model's principal axes, at `pcaLayers`. */
  pca: { layer: number; positions: number[]; x: number[]; y: number[] }[];
}

export interface MethodReport {
  id: string;
  label: string;
  description: string;
  /** Seed paper of the method ("000", "001", "003") or null. */
  seed: string | null;
  params: Record<string, number | string | boolean | null>;
  /** Where each parameter came from ("given", "study report", "default"). */
  paramSources: Record<string, string>;
  lengths: MethodLengthReport[];
}

export interface Observation {
  id: "formation" | "anchors" | "sinks" | "decay" | "ood" | "interpolation";
  title: string;
  /** The paper's claim, in a sentence. */
  claim: string;
  /** The criterion, fixed in lib/analyze/observations.ts before any run. */
  criterion: string;
  verdict: Verdict;
  /** The measured numbers in words (always), and why not testable when so. */
  measured: string;
  numbers: Record<string, number | null>;
}

export interface PositionalReport {
  schema: "ctxwin-analyze-positional/1";
  ctxwin: string;
  createdAt: string;
  model: {
    dir: string | null;
    kind: ModelKind;
    /** How the kind was found: "study_meta.json" (a study model), "config.json" or "given". */
    kindSource: string;
    family: string;
    modelType: string;
    positional: string;
    window: number | null;
    layers: number;
    hiddenSize: number;
    heads: number;
    kvHeads: number;
    headDim: number;
    params: number;
  };
  trainLength: number;
  /** Analysed lengths (ascending); the model as trained runs once at the longest. */
  lengths: number[];
  corpus: { source: string; documents: number; tokens: number; bos: boolean };
  settings: {
    samples: number;
    attentionSamples: number;
    seed: number;
    /** K: initial tokens examined as anchors and sinks. */
    anchors: number;
    /** The PCA is fitted on the base model's positions [pcaFrom, longest length). */
    pcaFrom: number;
    /** Hidden indices whose method projections are kept. */
    pcaLayers: number[];
    similarityPositions: number[];
    /** Width of the position buckets of the curves. */
    bucketWidth: number;
    distanceEdges: number[];
  };
  base: {
    run: RunReport;
    layers: LayerGeometry[];
    pca: LayerPca[];
  };
  methods: MethodReport[];
  skippedMethods: { id: string; reason: string }[];
  observations: Observation[];
  timings: { totalSeconds: number };
}
