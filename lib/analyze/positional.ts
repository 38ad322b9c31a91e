/**
 * `analyzePositional(model, opts)`: seed 001's analysis of a causal model's positional vectors
 * (the library side of `ctxwin analyze positional`).
 *
 *   windows: `samples` random windows of the token stream (BOS + T − 1 tokens, seeded), the same
 *            windows (prefixes) for every run, so runs are paired
 *   base:    the model as trained reads them at the longest length → positional vectors per hidden
 *            layer and position (causal: the prefix of a long run is the short run), their signal,
 *            PCA, cosine similarity, anchors, step change, OOD distance past L; attention sinks and
 *            decay from the first `attentionSamples` windows (query ranges: "sink" [V/2, V),
 *            V = min(L, window); "trained" [L/2, L); "beyond@T" [T − L/2, T) for each T > L)
 *   methods: each extension method (methods.ts) at each analysed length T > L where it is defined:
 *            the same measurements, OOD distances against the base model's trained vectors, and
 *            projections on the base model's principal axes
 *   then the observations (observations.ts), computed from those numbers only.
 */
import { CtxwinError } from "../errors.js";
import { Rng, checkSeed } from "../util/rng.js";
import type { CausalLM } from "../models/causal_lm.js";
import { positionalLabel, type Positional } from "../positional.js";
import { silentProgress, type ProgressSink } from "../util/progress.js";
import { collectRun, type RunResult } from "./collect.js";
import { positionalSignal, type PositionalEstimate } from "./estimator.js";
import { fitPca, projectRows, type PcaFit } from "./pca.js";
import { anchorScores, bucketize, cloudStats, cosineMatrix, mean, oodDistances, samplePositions, stepChanges } from "./geometry.js";
import { decayCurve, distanceEdges, meanAttention, type QueryRange } from "./attention_stats.js";
import { parseMethodSpec, resolveMethods, type MethodSpec } from "./methods.js";
import { ANCHOR_TOKENS, CRITERIA, computeObservations } from "./observations.js";
import type { StudyParams } from "./study_params.js";
import type { AttentionRangeReport, LayerGeometry, LayerPca, MethodReport, ModelKind, PositionalReport, RunReport } from "./positional_schema.js";

export interface AnalyzePositionalOptions {
  /** Token ids to draw windows from (e.g. a corpus encoded with the model's tokenizer). */
  stream: Int32Array | readonly number[];
  /** Prepended to every window (the study's models are trained on BOS + text). */
  bos?: number | null;
  /** L: the length the model was trained at. Default: config max_position_embeddings. */
  trainLength?: number;
  /** Analysed lengths (ascending after sorting; the longest must be ≥ L). Default [L, 2L, 4L]. */
  lengths?: number[];
  /** Windows averaged per run (default 128). */
  samples?: number;
  /** Windows whose attention probabilities are measured (default min(8, samples)). */
  attentionSamples?: number;
  /** Extension methods (`id` or `id:key=value,...`, or parsed); default: every applicable one. */
  methods?: (string | MethodSpec)[];
  /** The model's kind (default: from its positional scheme and windows). */
  kind?: ModelKind;
  /** The settings a study chose for this model's methods (readStudyParams). */
  studyParams?: StudyParams | null;
  seed?: number;
  /** Windows per forward (default max(1, ⌊8192 / T⌋)). */
  batch?: number;
  progress?: ProgressSink;
  signal?: AbortSignal;
  /** Shown in report.model / report.corpus. */
  modelDir?: string | null;
  corpus?: { source: string; documents: number };
  kindSource?: string;
  version?: string;
}

/** The kind of model by its scheme: rope, alibi, window (no positional encoding + a sliding window), or nope. */
export function modelKind(model: CausalLM): ModelKind {
  return schemeKind(model.positional, model.config.windows);
}

/** The kind of a positional scheme with per-layer windows (null or 0: none): rope, alibi, window (NoPE with a window) or nope. */
export function schemeKind(p: Positional, windows: readonly (number | null)[]): ModelKind {
  if (p.type === "rope") return "rope";
  if (p.type === "alibi") return "alibi";
  return windows.some((w) => w !== null && w > 0) ? "window" : "nope";
}

const fail = (arg: string, expected: string, got: unknown): never => {
  throw new CtxwinError("ERR_ARG", `analyzePositional: ${arg}: expected ${expected}, got ${typeof got === "string" ? got : JSON.stringify(got)}`);
};

/** Validated, sorted, de-duplicated lengths. */
export function checkLengths(lengths: unknown, L: number, arg = "lengths"): number[] {
  if (!Array.isArray(lengths) || !lengths.length) fail(arg, "a non-empty list of lengths", lengths);
  for (const T of lengths as unknown[]) if (!(typeof T === "number" && Number.isInteger(T) && T >= 2)) fail(arg, "integers ≥ 2", lengths);
  const out = [...new Set(lengths as number[])].sort((a, b) => a - b);
  if (out[out.length - 1]! < L) fail(arg, `at least one length ≥ the trained length L = ${L}`, out.join(","));
  return out;
}

/** Analyses `model`; see the file header and positional_schema.ts. */
export async function analyzePositional(model: CausalLM, opts: AnalyzePositionalOptions): Promise<PositionalReport> {
  const t0 = performance.now();
  const progress = opts.progress ?? silentProgress;
  const L = opts.trainLength ?? model.config.maxPositions;
  if (!(Number.isInteger(L) && L >= 2)) fail("trainLength", "an integer ≥ 2 (the length the model was trained at)", L);
  const lengths = checkLengths(opts.lengths ?? [L, 2 * L, 4 * L], L);
  const maxLen = lengths[lengths.length - 1]!;
  const N = opts.samples ?? 128;
  if (!(Number.isInteger(N) && N >= 2)) fail("samples", "an integer ≥ 2", N);
  const M = opts.attentionSamples ?? Math.min(8, N);
  if (!(Number.isInteger(M) && M >= 0 && M <= N)) fail("attentionSamples", `an integer in [0, samples = ${N}]`, M);
  if (model.prefixLength > 0) fail("model", "a model without prefix-tuning keys", `a prefix of ${model.prefixLength}`);
  const seed = checkSeed("analyzePositional", opts.seed ?? 0);
  const stream = opts.stream;
  const bos = opts.bos ?? null;
  const content = bos === null ? maxLen : maxLen - 1;
  if (!stream || stream.length < content + 1) fail("stream", `at least ${content + 1} tokens (one window of the longest length ${maxLen})`, `${stream?.length ?? 0} tokens`);
  const kind = opts.kind ?? modelKind(model);
  const W = Math.max(0, ...model.config.windows);
  const K = ANCHOR_TOKENS;
  const numLayers = model.numLayers;
  const V = Math.min(L, W > 0 ? W : L);

  // the methods are checked before anything runs (PV replacement reads the base vectors when it runs)
  let est: PositionalEstimate | null = null;
  const specs = opts.methods?.map((m) => (typeof m === "string" ? parseMethodSpec(m) : m)) ?? null;
  const { methods: defs, skipped } = resolveMethods(specs, {
    kind,
    L,
    W,
    lengths,
    numLayers,
    pv: () => {
      if (!est) throw new CtxwinError("ERR_INTERNAL", "analyzePositional: positional vectors used before they were measured");
      return est;
    },
    study: opts.studyParams ?? null,
  });

  // ---------------------------------------------------------------- the windows (paired across runs)
  const rng = new Rng(seed);
  const windows: number[][] = [];
  for (let i = 0; i < N; i++) {
    const s = rng.int(stream.length - content + 1);
    const span = Array.from(stream.slice(s, s + content));
    windows.push(bos === null ? span : [bos, ...span]);
  }
  const at = (T: number) => windows.map((w) => w.slice(0, T));
  const batchFor = (T: number) => opts.batch ?? Math.max(1, Math.floor(8192 / T));
  const ranges = (T: number): QueryRange[] => [
    { name: "sink", lo: Math.floor(V / 2), hi: V },
    { name: "trained", lo: Math.floor(L / 2), hi: L },
    ...lengths.filter((x) => x > L && x <= T).map((x) => ({ name: `beyond@${x}`, lo: x - Math.floor(L / 2), hi: x })),
  ];
  const edges = distanceEdges(maxLen);
  const far = [Math.round(L * CRITERIA.decay.farFraction[0]), Math.round(L * CRITERIA.decay.farFraction[1])] as const;
  const runReport = (T: number, res: RunResult, seconds: number): RunReport => ({
    length: T,
    samples: N,
    attentionSamples: M,
    seconds,
    attention:
      res.attention?.map(
        (r): AttentionRangeReport => ({
          name: r.name,
          lo: r.lo,
          hi: r.hi,
          queries: r.queries,
          sinkMass: r.sinkMass,
          sinkBaseline: r.sinkBaseline,
          decay: decayCurve(r, edges),
          near: r.decaySum.map((_, l) => meanAttention(r, l, CRITERIA.decay.near[0], CRITERIA.decay.near[1])),
          far: r.decaySum.map((_, l) => meanAttention(r, l, far[0], far[1])),
        }),
      ) ?? null,
  });
  const run = async (label: string, T: number, forward = {}): Promise<{ res: RunResult; report: RunReport }> => {
    progress.stage(`${label}: ${N} windows × ${T} tokens${M ? ` (attention of ${M})` : ""}`);
    const st = performance.now();
    const res = await collectRun(model, {
      windows: at(T),
      forward,
      attentionRows: M,
      ranges: ranges(T),
      sinkTokens: K,
      batch: batchFor(T),
      signal: opts.signal,
      onRows: (done) => progress.update({ step: done, total: N }),
    });
    const seconds = (performance.now() - st) / 1000;
    progress.done();
    return { res, report: runReport(T, res, seconds) };
  };

  // ---------------------------------------------------------------- the model as trained
  const base = await run("as trained", maxLen);
  const baseEst = base.res.estimate;
  est = baseEst;
  const bucketWidth = Math.max(1, Math.ceil(maxLen / 64));
  const simPositions = samplePositions(maxLen, 24);
  const refHi = Math.min(L, maxLen);
  const clouds = baseEst.vectors.map((p) => cloudStats(p, baseEst.dim, K, refHi));
  const layers: LayerGeometry[] = baseEst.vectors.map((p, l) => {
    const d = baseEst.dim;
    const { scores, spread } = anchorScores(p, d, refHi, K);
    const r = clouds[l]!.radius;
    const inRange = oodDistances(p, 0, refHi, p, K, refHi, d, r, true);
    const beyond = maxLen > L ? oodDistances(p, L, maxLen, p, K, refHi, d, r) : [];
    const within = mean(Array.from(baseEst.withinVariance[l]!.subarray(K, refHi)));
    let norms = 0;
    for (let t = 0; t < refHi; t++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += p[t * d + k]! ** 2;
      norms += Math.sqrt(s) / refHi;
    }
    return {
      layer: l,
      signal: positionalSignal(baseEst, l, 1, refHi).signal,
      meanNorm: norms,
      anchorScores: scores,
      spread,
      radius: r,
      similarity: cosineMatrix(p, d, simPositions),
      stepChange: bucketize(stepChanges(p, d, maxLen, spread), 1, bucketWidth),
      ood: bucketize([...inRange, ...beyond], 0, bucketWidth),
      oodInRange: nullable(mean(inRange.slice(Math.floor(refHi / 2)))),
      oodBeyond: lengths.filter((T) => T > L).map((T) => ({ length: T, mean: nullable(mean(beyond.slice(0, T - L))) })),
      noiseFloor: r > 0 && Number.isFinite(within) ? Math.sqrt((2 * within) / baseEst.samples) / r : null,
    };
  });
  const fits: PcaFit[] = [];
  const pcaStride = Math.max(1, Math.ceil((maxLen - K) / 400));
  const pcaPositions = Array.from({ length: Math.ceil((maxLen - K) / pcaStride) }, (_, i) => K + i * pcaStride);
  const pca: LayerPca[] = baseEst.vectors.map((p, l) => {
    const fit = fitPca(p, baseEst.dim, 2, [K, maxLen]);
    fits.push(fit);
    const sc = projectRows(fit, p, K, maxLen);
    return { layer: l, explained: fit.explained, positions: pcaPositions, x: pcaPositions.map((t) => sc[0]![t - K]!), y: pcaPositions.map((t) => (sc[1] ?? [])[t - K] ?? 0) };
  });
  const pcaLayers = [...new Set(Array.from({ length: Math.min(4, numLayers) }, (_, i) => Math.round(((i + 1) * numLayers) / Math.min(4, numLayers))))];

  // ---------------------------------------------------------------- the extension methods
  const methods: MethodReport[] = [];
  for (const m of defs) {
    const rep: MethodReport = { id: m.id, label: m.label, description: m.description, seed: m.seed, params: m.params, paramSources: m.paramSources, lengths: [] };
    for (const T of m.lengths) {
      const r = await run(`${m.id} at ${T}`, T, m.at(T));
      rep.lengths.push({ ...r.report, ...methodGeometry(r.res.estimate, baseEst, clouds, { L: refHi, T, K, bucketWidth, fits, pcaLayers, stride: Math.max(1, Math.ceil((T - L) / 200)) }) });
    }
    methods.push(rep);
  }

  const partial = {
    trainLength: L,
    lengths,
    model: {
      dir: opts.modelDir ?? null,
      kind,
      kindSource: opts.kindSource ?? (opts.kind ? "given" : "config.json"),
      family: model.config.family,
      modelType: model.config.modelType,
      positional: positionalLabel(model.positional),
      window: W > 0 ? W : null,
      layers: numLayers,
      hiddenSize: model.config.hiddenSize,
      heads: model.config.numHeads,
      kvHeads: model.config.numKvHeads,
      headDim: model.config.headDim,
      params: model.numParameters(),
    },
    settings: { samples: N, attentionSamples: M, seed, anchors: K, pcaFrom: K, pcaLayers, similarityPositions: simPositions, bucketWidth, distanceEdges: edges },
    base: { run: base.report, layers, pca },
    methods,
  };
  return {
    schema: "ctxwin-analyze-positional/1",
    ctxwin: opts.version ?? "unknown",
    createdAt: new Date().toISOString(),
    ...partial,
    corpus: { source: opts.corpus?.source ?? "(token stream)", documents: opts.corpus?.documents ?? 0, tokens: stream.length, bos: bos !== null },
    skippedMethods: skipped,
    observations: computeObservations(partial),
    timings: { totalSeconds: (performance.now() - t0) / 1000 },
  };
}

function nullable(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

/** A method run's vectors against the base model's trained vectors. */
function methodGeometry(
  est: PositionalEstimate,
  base: PositionalEstimate,
  clouds: { radius: number }[],
  o: { L: number; T: number; K: number; bucketWidth: number; fits: PcaFit[]; pcaLayers: number[]; stride: number },
): Pick<MethodReport["lengths"][number], "oodBeyond" | "ood" | "oodInRange" | "pca"> {
  const d = est.dim;
  const oodBeyond: (number | null)[] = [];
  const ood: MethodReport["lengths"][number]["ood"] = [];
  const oodInRange: (number | null)[] = [];
  est.vectors.forEach((p, l) => {
    const all = oodDistances(p, 0, o.T, base.vectors[l]!, o.K, o.L, d, clouds[l]!.radius);
    oodBeyond.push(nullable(mean(all.slice(o.L))));
    oodInRange.push(nullable(mean(all.slice(Math.floor(o.L / 2), o.L))));
    ood.push(bucketize(all, 0, o.bucketWidth));
  });
  const positions = Array.from({ length: Math.ceil((o.T - o.L) / o.stride) }, (_, i) => o.L + i * o.stride);
  const pca = o.pcaLayers.map((layer) => {
    const sc = projectRows(o.fits[layer]!, est.vectors[layer]!, o.L, o.T);
    return { layer, positions, x: positions.map((t) => sc[0]![t - o.L]!), y: positions.map((t) => (sc[1] ?? [])[t - o.L] ?? 0) };
  });
  return { oodBeyond, ood, oodInRange, pca };
}
