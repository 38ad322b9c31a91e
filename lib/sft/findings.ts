/**
 * The four findings of seed 002 ("SFT achieves rapid task adaptation via alternating attention
 * head activation patterns") in a `ctxwin sft-study` run, computed ONLY from the numbers of its
 * report.json (per evaluation example: exact match and the head scores a(x)), with criteria fixed
 * here before any run. ONE RULE for every criterion (as the study's): it holds only when its whole
 * 95% interval satisfies it.
 *
 * Maps: a task's map on a model is the mean over the task's held-out examples of a(x) (signed) or
 * of |a(x)| (absolute) — lib/analyze/head_scores.ts. "Before" = the base model; "after" = the
 * model fine-tuned on that task at the full budget (n_max examples).
 *
 * Intervals: percentile bootstrap (2.5%, 97.5%) over the held-out EXAMPLES, the maps recomputed
 * from every resample (each task's examples resampled on their own; the same indices for every
 * model evaluated on that task, so before/after and budget comparisons are paired); finding 4
 * resamples the seeds, then the examples. Resampling indices come from a fixed seed: the same
 * report always gives the same intervals. They hold the evaluation sample's noise (and, in 4, the
 * seeds'); one SFT run per task and budget means the noise of SFT itself is not in 1–3.
 *
 * "Learned": a task is learned when the lower 95% Wilson bound of its exact-match accuracy after
 * SFT (full budget) is above both the majority baseline (always answering the most frequent
 * training response) and the base model's accuracy.
 *
 * Gates:
 *   G1  SFT teaches the tasks          at least 2 tasks learned                        → F1, F3
 *   G2  the basic maps differ          mean pairwise Pearson correlation of the basic tasks'
 *                                      signed maps (after SFT) ≤ 0.9                    → F2
 *   G3  room for pre-tuning            a complex task learned at the full budget whose plain-SFT
 *                                      accuracy at the pre-tuning budget is ≤ 0.9        → F4
 *
 * Findings:
 *   F1  maps change with little data: for each learned basic task, φ(n) = 1 − ‖M_n − M_max‖ /
 *       ‖M_0 − M_max‖ on the absolute maps (how far towards the full-data map the map of an SFT
 *       on only n examples goes, same steps); tasks count when SFT changes the map
 *       (‖M_max − M_0‖/‖M_0‖ ≥ 0.1, whole interval). Reproduced: the mean φ(n_min) over those
 *       tasks ≥ 0.5.
 *   F2  complex ≈ linear combination of its basic tasks: per complex task, the NNLS decomposition
 *       (with intercept, lib/analyze/head_maps.ts) of its signed map onto its components' signed
 *       maps (all after SFT) against CONTROL decompositions onto the same number of basic tasks it
 *       does not compose. Reproduced for a task: R²(own) ≥ 0.5 and R²(own) − mean R²(controls) > 0.
 *       The finding: reproduced when every testable complex task is.
 *   F3  activation becomes more even: the mean over learned tasks of Gini(after) − Gini(before)
 *       on the absolute maps < 0.
 *   F4  basic-task-mix pre-tuning beats plain SFT: per complex task passing G3, the mean over
 *       seeds of accuracy(mix) − accuracy(plain), same steps and the same complex-task examples,
 *       > 0. Reproduced when every such task is.
 */
import { correlation, decomposeMap, gini } from "../analyze/head_maps.js";
export { correlation };
import { wilson, type Interval } from "../study/stats.js";
import { Rng, mixSeed } from "../util/rng.js";
import type { SftEval, SftFinding, SftGate, SftReport, SftRun, SftVerdict } from "./report_schema.js";

/** The fixed thresholds of the gates and findings. */
export const SFT_CRITERIA = {
  /** G1: learned tasks needed. */
  g1Learned: 2,
  /** G2: the basic maps' mean pairwise correlation at most. */
  g2MaxCorrelation: 0.9,
  /** G3 / F4: plain-SFT accuracy at most (room to improve). */
  g3MaxPlain: 0.9,
  /** F1: relative change of the map at the full budget at least (whole interval). */
  f1MinChange: 0.1,
  /** F1: fraction of the way to the full-data map at the smallest budget at least. */
  f1Fraction: 0.5,
  /** F2: R² of the own decomposition at least. */
  f2MinR2: 0.5,
  /** F2: at most this many control sets per complex task (the first in lexicographic order). */
  f2MaxControls: 10,
  /** Seed of the bootstrap resamples. */
  bootstrapSeed: 20240607,
} as const;

export const SFT_FINDING_TEXT = {
  F1: {
    title: "SFT changes the head maps with little data",
    paper: "the activation patterns change quickly: a small number of SFT examples already moves them most of the way to their final state",
    criterion: `mean over learned basic tasks (those whose absolute map changes by ≥ ${SFT_CRITERIA.f1MinChange} relative at the full budget) of φ(n_min) = 1 − ‖M_nmin − M_max‖ / ‖M_0 − M_max‖ ≥ ${SFT_CRITERIA.f1Fraction} (whole interval), budgets with the same steps`,
  },
  F2: {
    title: "A complex task's map is a linear combination of its basic tasks' maps",
    paper: "the map of a complex task is close to a linear combination of the maps of the basic tasks it is made of (R² ≈ 0.95–0.97)",
    criterion: `per complex task, on the signed maps after SFT: R²(own components) ≥ ${SFT_CRITERIA.f2MinR2} and R²(own) − mean R²(control decompositions onto as many basic tasks it does not compose) > 0 (whole intervals); every testable complex task`,
  },
  F3: {
    title: "Activation becomes more even after SFT (Gini falls)",
    paper: "the distribution of activation over heads becomes more even after SFT (Gini 0.50 → 0.33 for Llama-3)",
    criterion: "mean over learned tasks of Gini(after) − Gini(before), absolute maps, < 0 (whole interval)",
  },
  F4: {
    title: "Pre-tuning on a mix of the basic tasks beats plain SFT on the complex task",
    paper: "tuning first on the basic tasks, mixed with the decomposition's coefficients as weights, makes the complex task's SFT better than plain SFT",
    criterion: `per complex task learnable with room (G3): mean over seeds of accuracy(mix) − accuracy(plain) > 0 (whole interval; same steps, same complex-task examples); every such task`,
  },
} as const;

export type MapVariant = "signed" | "absolute";

// ------------------------------------------------------------------ maps and small statistics

/** A map (flat, layer-major) from per-example scores: the mean of a(x) (signed) or of |a(x)| over the examples idx (default all). */
export function mapOf(scores: readonly (readonly number[])[], variant: MapVariant, idx?: ArrayLike<number>): number[] {
  const n = idx ? idx.length : scores.length;
  const width = scores[0]?.length ?? 0;
  const out = new Array<number>(width).fill(0);
  for (let k = 0; k < n; k++) {
    const row = scores[idx ? idx[k]! : k]!;
    for (let j = 0; j < width; j++) out[j]! += variant === "absolute" ? Math.abs(row[j]!) : row[j]!;
  }
  for (let j = 0; j < width; j++) out[j]! /= Math.max(1, n);
  return out;
}

function norm(a: ArrayLike<number>, b?: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - (b ? b[i]! : 0)) ** 2;
  return Math.sqrt(s);
}


/** 2.5% and 97.5% percentiles of finite values (NaN when none). */
export function percentileInterval(values: readonly number[], mean: number): Interval {
  const s = Float64Array.from(values.filter(Number.isFinite)).sort();
  if (s.length === 0) return { mean, lo: NaN, hi: NaN };
  const q = (p: number) => {
    const pos = p * (s.length - 1);
    const i = Math.floor(pos);
    const f = pos - i;
    return i + 1 < s.length ? s[i]! * (1 - f) + s[i + 1]! * f : s[i]!;
  };
  return { mean, lo: q(0.025), hi: q(0.975) };
}

/** Bootstrap index sets: `count` resamples of n items (seeded by the tag). */
function resamples(n: number, count: number, tag: number): Int32Array[] {
  const rng = new Rng(mixSeed(SFT_CRITERIA.bootstrapSeed, tag, n));
  return Array.from({ length: count }, () => {
    const idx = new Int32Array(n);
    for (let i = 0; i < n; i++) idx[i] = rng.int(n);
    return idx;
  });
}

function hashTag(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) >>> 0;
  return h;
}

const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/** "+0.123 [+0.100, +0.150]" */
export function fmtInterval(iv: Interval, signed = true): string {
  const f = (x: number) => (Number.isFinite(x) ? `${signed ? (x >= 0 ? "+" : "−") : x < 0 ? "−" : ""}${Math.abs(x).toFixed(3)}` : "–");
  return `${f(iv.mean)} [${f(iv.lo)}, ${f(iv.hi)}]`;
}

function fmtAcc(k: number, n: number): string {
  const w = wilson(k, n);
  return `${(k / Math.max(1, n)).toFixed(2)} [${w.lo.toFixed(2)}, ${w.hi.toFixed(2)}] (${k}/${n})`;
}

// ------------------------------------------------------------------ access to the report

/** Lookups over a report's runs. */
export class SftEvidence {
  readonly byId = new Map<string, SftRun>();
  readonly resampleCount: number;
  constructor(readonly report: SftReport) {
    for (const r of report.runs ?? []) this.byId.set(r.id, r);
    this.resampleCount = report.config?.presetSettings?.resamples ?? 1000;
  }
  get basic(): string[] {
    return this.report.tasks.filter((t) => t.kind === "basic").map((t) => t.name);
  }
  get complex(): string[] {
    return this.report.tasks.filter((t) => t.kind === "complex").map((t) => t.name);
  }
  task(name: string) {
    return this.report.tasks.find((t) => t.name === name);
  }
  /** The evaluation of run `id` on `task` (undefined when missing). */
  eval(id: string, task: string): SftEval | undefined {
    return this.byId.get(id)?.evals.find((e) => e.task === task);
  }
  scores(id: string, task: string): number[][] | null {
    const e = this.eval(id, task);
    return e && Array.isArray(e.scores) && e.scores.length > 0 ? e.scores : null;
  }
  /** Exact-match count and total of run `id` on `task` (null when missing). */
  accuracy(id: string, task: string): { k: number; n: number } | null {
    const e = this.eval(id, task);
    if (!e || !Array.isArray(e.correct) || e.correct.length === 0) return null;
    return { k: e.correct.reduce((a, b) => a + b, 0), n: e.correct.length };
  }
  /** The task is learned (see the header); null when a number is missing. */
  learned(task: string): boolean | null {
    const after = this.accuracy(`sft:${task}`, task);
    const before = this.accuracy("base", task);
    const info = this.task(task);
    if (!after || !before || !info) return null;
    return wilson(after.k, after.n).lo > Math.max(info.majority.accuracy, before.k / before.n);
  }
  /** Seeds of the pre-tuning comparison present for `task` and `arm`. */
  seeds(task: string, arm: "plain" | "mix" | "mix-equal"): number[] {
    return [...this.byId.values()].filter((r) => r.arm === arm && r.task === task && r.seed !== null && r.evals.some((e) => e.task === task)).map((r) => r.seed!).sort((a, b) => a - b);
  }
  /** The budgets (n < n_max) run on `task`, ascending. */
  budgets(task: string): number[] {
    return [...this.byId.values()].filter((r) => r.arm === "budget" && r.task === task).map((r) => r.examples).sort((a, b) => a - b);
  }
}

// ------------------------------------------------------------------ the decomposition (F2 and the mix weights)

export interface ComplexDecomposition {
  task: string;
  components: string[];
  /** NNLS coefficients onto the components (order of `components`). */
  coefficients: number[];
  r2: number;
  /** Each control set and its R². */
  controls: { tasks: string[]; r2: number }[];
  /** R² onto the plain mean of every basic task's map (a profile shared by all tasks). */
  r2Profile: number;
}

/** k-subsets of `items` in lexicographic order (at most `max`). */
export function subsets<T>(items: readonly T[], k: number, max = Infinity): T[][] {
  const out: T[][] = [];
  const rec = (start: number, cur: T[]) => {
    if (out.length >= max) return;
    if (cur.length === k) {
      out.push([...cur]);
      return;
    }
    for (let i = start; i < items.length; i++) rec(i + 1, [...cur, items[i]!]);
  };
  if (k >= 1 && k <= items.length) rec(0, []);
  return out;
}

/**
 * The decomposition of a complex task's map onto its components and onto the control sets,
 * from maps given by task name (flat). Control sets: every subset, of the components' size, of
 * the basic tasks it does not compose (at most SFT_CRITERIA.f2MaxControls).
 */
export function decomposeComplex(task: string, components: readonly string[], basic: readonly string[], maps: (name: string) => number[]): ComplexDecomposition {
  const target = maps(task);
  const own = decomposeMap(target, components.map(maps));
  const others = basic.filter((b) => !components.includes(b));
  const controls = subsets(others, components.length, SFT_CRITERIA.f2MaxControls).map((set) => ({ tasks: set, r2: decomposeMap(target, set.map(maps)).r2 }));
  const all = basic.map(maps);
  const profile = new Array<number>(target.length).fill(0);
  for (const m of all) for (let i = 0; i < m.length; i++) profile[i]! += m[i]! / all.length;
  return { task, components: [...components], coefficients: own.coefficients, r2: own.r2, controls, r2Profile: decomposeMap(target, [profile]).r2 };
}

/**
 * Weights of the pre-tuning mix of a complex task: its NNLS coefficients normalised to sum 1, or
 * equal weights when every coefficient is 0 (the source says which).
 */
export function mixWeights(d: Pick<ComplexDecomposition, "components" | "coefficients">): { weights: { task: string; weight: number }[]; source: string } {
  const sum = d.coefficients.reduce((a, b) => a + Math.max(0, b), 0);
  if (!(sum > 0)) return { weights: d.components.map((task) => ({ task, weight: 1 / d.components.length })), source: "equal weights (every decomposition coefficient is 0)" };
  return { weights: d.components.map((task, i) => ({ task, weight: Math.max(0, d.coefficients[i]!) / sum })), source: "NNLS coefficients of the signed-map decomposition after SFT, normalised to sum 1" };
}

// ------------------------------------------------------------------ derived numbers (page and findings)

export interface TaskSummary {
  task: string;
  kind: "basic" | "complex";
  before: { k: number; n: number } | null;
  after: { k: number; n: number } | null;
  majority: number;
  learned: boolean | null;
  /** Mean response NLL per token before and after. */
  lossBefore: number | null;
  lossAfter: number | null;
  giniBefore: number | null;
  giniAfter: number | null;
  /** ‖M_after − M_before‖/‖M_before‖ and the correlation of the two, absolute maps. */
  change: number | null;
  correlation: number | null;
}

function perToken(e: SftEval | undefined): number | null {
  if (!e || !Array.isArray(e.nll) || !e.nll.length) return null;
  const t = e.tokens.reduce((a, b) => a + b, 0);
  return t > 0 ? e.nll.reduce((a, b) => a + b, 0) / t : null;
}

const fin = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** Per task: accuracies, learned, loss, Gini and the change of the absolute map (point estimates). */
export function taskSummaries(ev: SftEvidence): TaskSummary[] {
  return ev.report.tasks.map((t) => {
    const s0 = ev.scores("base", t.name);
    const s1 = ev.scores(`sft:${t.name}`, t.name);
    const m0 = s0 ? mapOf(s0, "absolute") : null;
    const m1 = s1 ? mapOf(s1, "absolute") : null;
    return {
      task: t.name,
      kind: t.kind,
      before: ev.accuracy("base", t.name),
      after: ev.accuracy(`sft:${t.name}`, t.name),
      majority: t.majority.accuracy,
      learned: ev.learned(t.name),
      lossBefore: perToken(ev.eval("base", t.name)),
      lossAfter: perToken(ev.eval(`sft:${t.name}`, t.name)),
      giniBefore: m0 ? fin(gini(m0)) : null,
      giniAfter: m1 ? fin(gini(m1)) : null,
      change: m0 && m1 && norm(m0) > 0 ? norm(m1, m0) / norm(m0) : null,
      correlation: m0 && m1 ? fin(correlation(m0, m1)) : null,
    };
  });
}

// ------------------------------------------------------------------ gates

class Missing extends Error {}

function need<T>(x: T | null | undefined, what: string): T {
  if (x === null || x === undefined) throw new Missing(what);
  return x;
}

function signedAfter(ev: SftEvidence, task: string, idx?: ArrayLike<number>): number[] {
  return mapOf(need(ev.scores(`sft:${task}`, task), `the scores of sft:${task}`), "signed", idx);
}

/** Mean pairwise correlation of the basic tasks' signed maps after SFT. */
function basicCorrelation(ev: SftEvidence): number {
  const maps = ev.basic.map((b) => signedAfter(ev, b));
  const cs: number[] = [];
  for (let i = 0; i < maps.length; i++) for (let j = i + 1; j < maps.length; j++) cs.push(correlation(maps[i]!, maps[j]!));
  return mean(cs.filter(Number.isFinite));
}

interface F4Task {
  task: string;
  seeds: number[];
  plain: number[];
  mix: number[];
  mixEqual: number[];
  learned: boolean | null;
  room: boolean;
  testable: boolean;
}

function f4Tasks(ev: SftEvidence): F4Task[] {
  return ev.complex.map((task) => {
    const seeds = ev.seeds(task, "plain").filter((s) => ev.seeds(task, "mix").includes(s));
    const acc = (arm: string, s: number) => {
      const a = ev.accuracy(`${arm}:${task}:${s}`, task);
      return a ? a.k / a.n : NaN;
    };
    const plain = seeds.map((s) => acc("plain", s));
    const mix = seeds.map((s) => acc("mix", s));
    const mixEqual = ev.seeds(task, "mix-equal").filter((s) => seeds.includes(s)).map((s) => acc("mix-equal", s));
    const learned = ev.learned(task);
    const room = seeds.length > 0 && mean(plain) <= SFT_CRITERIA.g3MaxPlain;
    return { task, seeds, plain, mix, mixEqual, learned, room, testable: learned === true && room };
  });
}

/** The three gates of a report. */
export function computeSftGates(report: SftReport): SftGate[] {
  const ev = new SftEvidence(report);
  const C = SFT_CRITERIA;
  const gate = (id: SftGate["id"], title: string, criterion: string, body: () => { pass: boolean; text: string }): SftGate => {
    try {
      const { pass, text } = body();
      return { id, title, criterion, pass, text: `${text} ${pass ? "Passes." : "Fails."}` };
    } catch (e) {
      if (!(e instanceof Missing)) throw e;
      return { id, title, criterion, pass: null, text: `Missing: ${e.message}.` };
    }
  };
  return [
    gate("G1", "SFT teaches the tasks", `at least ${C.g1Learned} tasks learned: lower Wilson bound of the accuracy after SFT above the majority baseline and the base model's accuracy`, () => {
      const s = taskSummaries(ev);
      if (s.every((t) => t.learned === null)) throw new Missing("the evaluations of the fine-tuned models");
      const learned = s.filter((t) => t.learned === true).map((t) => t.task);
      // an interrupted run: too few learned among the tasks that were run, and some not run
      if (learned.length < C.g1Learned && s.some((t) => t.learned === null)) throw new Missing(`the fine-tuned models of ${s.filter((t) => t.learned === null).map((t) => t.task).join(", ")}`);
      const rows = s.map((t) => `${t.task} ${t.after ? fmtAcc(t.after.k, t.after.n) : "–"} vs baseline ${t.majority.toFixed(2)}${t.learned ? " ✓" : ""}`);
      return { pass: learned.length >= C.g1Learned, text: `${learned.length} of ${s.length} tasks learned (${learned.join(", ") || "none"}). Accuracy after SFT: ${rows.join("; ")}.` };
    }),
    gate("G2", "The basic tasks' maps differ", `mean pairwise Pearson correlation of the basic tasks' signed maps after SFT ≤ ${C.g2MaxCorrelation}`, () => {
      if (ev.basic.length < 2) throw new Missing("two or more basic tasks");
      const c = basicCorrelation(ev);
      return { pass: c <= C.g2MaxCorrelation, text: `Mean pairwise correlation of the ${ev.basic.length} basic maps: ${Number.isFinite(c) ? c.toFixed(3) : "–"}.` };
    }),
    gate("G3", "Room for pre-tuning", `a complex task learned at the full budget whose plain-SFT accuracy at the pre-tuning budget is ≤ ${C.g3MaxPlain} (mean over seeds)`, () => {
      const ts = f4Tasks(ev);
      if (!ts.length) return { pass: false, text: "The run has no complex task." };
      // a learned task without its runs (an interrupted run) or a task whose learning is unknown: missing
      if (ts.some((t) => t.learned === null || (t.learned === true && t.seeds.length === 0)) && !ts.some((t) => t.testable)) throw new Missing("the pre-tuning runs");
      const rows = ts.map((t) => `${t.task}: ${t.learned === true ? `learned at the full budget, plain SFT ${mean(t.plain).toFixed(2)}` : t.learned === false ? "not learned at the full budget (no pre-tuning runs)" : "unknown"}`);
      return { pass: ts.some((t) => t.testable), text: `${rows.join("; ")}.` };
    }),
  ];
}

// ------------------------------------------------------------------ findings

function verdictOf(kind: "ok" | "fail" | "untestable"): SftVerdict {
  return kind === "ok" ? "reproduced" : kind === "fail" ? "not reproduced" : "not testable";
}

/** F1's per-task numbers (also drawn on the page). */
export interface F1Task {
  task: string;
  learned: boolean | null;
  budgets: number[];
  nMax: number;
  /** ‖M_max − M_0‖/‖M_0‖ with its interval. */
  change: Interval;
  /** φ(n) per budget (order of `budgets`), with intervals. */
  phi: Interval[];
  /** Relative change ‖M_n − M_0‖/‖M_0‖ per budget (points), then at n_max. */
  changeAt: number[];
  /** Accuracy per budget, then at n_max. */
  accuracyAt: (number | null)[];
  testable: boolean;
}

export function f1Numbers(ev: SftEvidence): F1Task[] {
  const out: F1Task[] = [];
  for (const task of ev.basic) {
    const s0 = ev.scores("base", task);
    const sMax = ev.scores(`sft:${task}`, task);
    const budgets = ev.budgets(task).filter((n) => ev.scores(`budget:${task}:${n}`, task));
    if (!s0 || !sMax || budgets.length === 0) continue;
    const sN = budgets.map((n) => ev.scores(`budget:${task}:${n}`, task)!);
    const nMax = ev.byId.get(`sft:${task}`)!.examples;
    const stats = (idx?: ArrayLike<number>) => {
      const m0 = mapOf(s0, "absolute", idx);
      const mMax = mapOf(sMax, "absolute", idx);
      const d0 = norm(m0, mMax);
      return { change: norm(m0) > 0 ? d0 / norm(m0) : NaN, phi: sN.map((s) => (d0 > 0 ? 1 - norm(mapOf(s, "absolute", idx), mMax) / d0 : NaN)) };
    };
    const point = stats();
    const rs = resamples(s0.length, ev.resampleCount, hashTag(`F1:${task}`)).map((idx) => stats(idx));
    const change = percentileInterval(rs.map((r) => r.change), point.change);
    const phi = budgets.map((_, i) => percentileInterval(rs.map((r) => r.phi[i]!), point.phi[i]!));
    const m0 = mapOf(s0, "absolute");
    const changeAt = [...sN, sMax].map((s) => (norm(m0) > 0 ? norm(mapOf(s, "absolute"), m0) / norm(m0) : NaN));
    const accuracyAt = [...budgets.map((n) => `budget:${task}:${n}`), `sft:${task}`].map((id) => {
      const a = ev.accuracy(id, task);
      return a ? a.k / a.n : null;
    });
    const learned = ev.learned(task);
    out.push({ task, learned, budgets, nMax, change, phi, changeAt, accuracyAt, testable: learned === true && change.lo >= SFT_CRITERIA.f1MinChange });
  }
  return out;
}

/** F2's per-task numbers with intervals. */
export interface F2Task {
  task: string;
  components: string[];
  point: ComplexDecomposition;
  r2: Interval;
  controlMean: Interval;
  /** R²(own) − mean R²(controls). */
  margin: Interval;
  /** The same on the absolute maps (no verdict). */
  absolute: ComplexDecomposition | null;
  /** The same on the base model's signed maps (before SFT; no verdict). */
  before: ComplexDecomposition | null;
  testable: boolean;
  reason: string | null;
}

export function f2Numbers(ev: SftEvidence): F2Task[] {
  const basic = ev.basic;
  return ev.complex.map((task) => {
    const components = ev.task(task)!.components;
    const names = [task, ...basic];
    const have = names.every((n) => ev.scores(`sft:${n}`, n));
    const others = basic.filter((b) => !components.includes(b));
    const nan: Interval = { mean: NaN, lo: NaN, hi: NaN };
    const stub = { task, components, coefficients: [], r2: NaN, controls: [], r2Profile: NaN };
    if (!have) return { task, components, point: stub, r2: nan, controlMean: nan, margin: nan, absolute: null, before: null, testable: false, reason: "missing maps" };
    const byVariant = (variant: MapVariant, run: (n: string) => string, idx?: Map<string, Int32Array>) => (n: string) => mapOf(ev.scores(run(n), n)!, variant, idx?.get(n));
    const after = (n: string) => `sft:${n}`;
    const point = decomposeComplex(task, components, basic, byVariant("signed", after));
    const absolute = decomposeComplex(task, components, basic, byVariant("absolute", after));
    const before = names.every((n) => ev.scores("base", n)) ? decomposeComplex(task, components, basic, byVariant("signed", () => "base")) : null;
    if (others.length < components.length) {
      return { task, components, point, r2: { mean: point.r2, lo: NaN, hi: NaN }, controlMean: nan, margin: nan, absolute, before, testable: false, reason: `no control set: only ${others.length} basic task${others.length === 1 ? "" : "s"} outside its ${components.length} components` };
    }
    const per = new Map(names.map((n) => [n, resamples(ev.scores(`sft:${n}`, n)!.length, ev.resampleCount, hashTag(`F2:${n}`))]));
    const rs = Array.from({ length: ev.resampleCount }, (_, r) => {
      const idx = new Map(names.map((n) => [n, per.get(n)![r]!]));
      const d = decomposeComplex(task, components, basic, byVariant("signed", after, idx));
      const cm = mean(d.controls.map((c) => c.r2));
      return { r2: d.r2, control: cm, margin: d.r2 - cm };
    });
    const cm = mean(point.controls.map((c) => c.r2));
    return {
      task,
      components,
      point,
      r2: percentileInterval(rs.map((r) => r.r2), point.r2),
      controlMean: percentileInterval(rs.map((r) => r.control), cm),
      margin: percentileInterval(rs.map((r) => r.margin), point.r2 - cm),
      absolute,
      before,
      testable: true,
      reason: null,
    };
  });
}

/** F3's per-task numbers. */
export interface F3Task {
  task: string;
  learned: boolean | null;
  before: number;
  after: number;
  delta: Interval;
}

export function f3Numbers(ev: SftEvidence): { tasks: F3Task[]; pooled: Interval | null } {
  const tasks: F3Task[] = [];
  const rsByTask: number[][] = [];
  for (const t of ev.report.tasks) {
    const s0 = ev.scores("base", t.name);
    const s1 = ev.scores(`sft:${t.name}`, t.name);
    if (!s0 || !s1) continue;
    const g = (s: number[][], idx?: Int32Array) => gini(mapOf(s, "absolute", idx));
    const before = g(s0);
    const after = g(s1);
    const rs = resamples(s0.length, ev.resampleCount, hashTag(`F3:${t.name}`)).map((idx) => g(s1, idx) - g(s0, idx));
    const learned = ev.learned(t.name);
    tasks.push({ task: t.name, learned, before, after, delta: percentileInterval(rs, after - before) });
    if (learned === true) rsByTask.push(rs);
  }
  const used = tasks.filter((t) => t.learned === true);
  if (!used.length) return { tasks, pooled: null };
  const pooledRs = rsByTask[0]!.map((_, r) => mean(rsByTask.map((rs) => rs[r]!)));
  return { tasks, pooled: percentileInterval(pooledRs, mean(used.map((t) => t.after - t.before))) };
}

/** F4's per-task numbers. */
export interface F4Result extends F4Task {
  /** mean over seeds of acc(mix) − acc(plain), with the seed-then-example bootstrap interval. */
  gain: Interval | null;
  /** The same for the equal-weights mix (when run). */
  gainEqual: Interval | null;
  weights: { task: string; weight: number }[] | null;
}

export function f4Numbers(ev: SftEvidence): F4Result[] {
  return f4Tasks(ev).map((t) => {
    if (!t.seeds.length) return { ...t, gain: null, gainEqual: null, weights: null };
    const correct = (arm: string, s: number) => ev.eval(`${arm}:${t.task}:${s}`, t.task)!.correct;
    const n = correct("plain", t.seeds[0]!).length;
    const rng = new Rng(mixSeed(SFT_CRITERIA.bootstrapSeed, hashTag(`F4:${t.task}`)));
    const gainOf = (arm: string, seeds: number[]): Interval | null => {
      if (!seeds.length) return null;
      const diff = seeds.map((s) => correct(arm, s).map((c, i) => c - correct("plain", s)[i]!));
      const point = mean(diff.map((d) => mean(d)));
      const rs: number[] = [];
      for (let r = 0; r < ev.resampleCount; r++) {
        let acc = 0;
        for (let j = 0; j < seeds.length; j++) {
          const d = diff[rng.int(seeds.length)]!;
          let s = 0;
          for (let i = 0; i < n; i++) s += d[rng.int(n)]!;
          acc += s / n;
        }
        rs.push(acc / seeds.length);
      }
      return percentileInterval(rs, point);
    };
    const mixRun = ev.byId.get(`mix:${t.task}:${t.seeds[0]}`);
    return { ...t, gain: gainOf("mix", t.seeds), gainEqual: gainOf("mix-equal", ev.seeds(t.task, "mix-equal").filter((s) => t.seeds.includes(s))), weights: mixRun?.mix?.weights ?? null };
  });
}

/** The four findings (and the gates they use) of a report. */
export function computeSftFindings(report: SftReport, gates: SftGate[] = computeSftGates(report)): SftFinding[] {
  const ev = new SftEvidence(report);
  const C = SFT_CRITERIA;
  const g = (id: SftGate["id"]) => gates.find((x) => x.id === id);
  const make = (id: SftFinding["id"], needs: SftGate["id"][], body: () => { kind: "ok" | "fail" | "untestable"; text: string; summary: string; numbers: Record<string, number | null> }): SftFinding => {
    const t = SFT_FINDING_TEXT[id];
    const base = { id, title: t.title, paper: t.paper, criterion: t.criterion, gates: needs };
    try {
      const failed = needs.map((x) => g(x) ?? { id: x, title: "", pass: null as boolean | null }).filter((x) => x.pass !== true);
      const o = body();
      if (failed.length) {
        const which = failed.map((x) => `${x.id}${x.title ? ` (${x.title})` : ""} ${x.pass === false ? "fails" : "is missing"}`).join("; ");
        return { ...base, verdict: failed.some((x) => x.pass === null) && !failed.some((x) => x.pass === false) ? "missing" : "not testable", text: `${o.text} Criterion: ${t.criterion}. Not testable at this scale: ${which}.`, summary: `not testable (${failed.map((x) => `${x.id} ${x.pass === false ? "fails" : "missing"}`).join(", ")}); ${o.summary}`, numbers: o.numbers };
      }
      const verdict = verdictOf(o.kind);
      return { ...base, verdict, text: `${o.text} Criterion: ${t.criterion}. ${verdict === "reproduced" ? "Reproduced." : verdict === "not reproduced" ? "Not reproduced." : "Not testable at this scale."}`, summary: o.summary, numbers: o.numbers };
    } catch (e) {
      if (!(e instanceof Missing)) throw e;
      return { ...base, verdict: "missing", text: `Not enough data: missing ${e.message}. Criterion: ${t.criterion}.`, summary: `missing ${e.message}`, numbers: {} };
    }
  };
  return [
    make("F1", ["G1"], () => {
      const ts = f1Numbers(ev);
      if (!ts.length) throw new Missing("the budget runs of the basic tasks");
      const used = ts.filter((t) => t.testable);
      const parts = ts.map((t) => `${t.task}${t.learned ? "" : " (not learned)"}: change at n = ${t.nMax} ${fmtInterval(t.change, false)}, φ(${t.budgets[0]}) ${fmtInterval(t.phi[0]!)}`);
      const numbers: Record<string, number | null> = {};
      for (const t of ts) {
        numbers[`change:${t.task}`] = fin(t.change.mean);
        numbers[`phi:${t.task}@${t.budgets[0]}`] = fin(t.phi[0]!.mean);
      }
      if (!used.length) return { kind: "untestable", text: `${parts.join("; ")}. No learned basic task whose map SFT changes by ≥ ${C.f1MinChange}.`, summary: "no learned basic task with a changed map", numbers };
      // pooled over the tasks used: the per-task resamples are independent, combined by index
      const rs = Array.from({ length: ev.resampleCount }, () => 0);
      const perTask = used.map((t) => {
        const s0 = ev.scores("base", t.task)!;
        const sMax = ev.scores(`sft:${t.task}`, t.task)!;
        const sMin = ev.scores(`budget:${t.task}:${t.budgets[0]}`, t.task)!;
        return resamples(s0.length, ev.resampleCount, hashTag(`F1:${t.task}`)).map((idx) => {
          const m0 = mapOf(s0, "absolute", idx);
          const mMax = mapOf(sMax, "absolute", idx);
          const d0 = norm(m0, mMax);
          return d0 > 0 ? 1 - norm(mapOf(sMin, "absolute", idx), mMax) / d0 : NaN;
        });
      });
      for (let r = 0; r < rs.length; r++) rs[r] = mean(perTask.map((p) => p[r]!));
      const pooled = percentileInterval(rs, mean(used.map((t) => t.phi[0]!.mean)));
      numbers["phi:pooled"] = fin(pooled.mean);
      numbers["phi:pooled.lo"] = fin(pooled.lo);
      numbers["phi:pooled.hi"] = fin(pooled.hi);
      const ok = pooled.lo >= C.f1Fraction;
      return {
        kind: ok ? "ok" : "fail",
        text: `${parts.join("; ")}. Mean φ(n_min) over ${used.map((t) => t.task).join(", ")}: ${fmtInterval(pooled)}${ok ? "" : ` (needs ≥ ${C.f1Fraction})`}.`,
        summary: `mean φ(n_min) ${fmtInterval(pooled)} over ${used.length} task${used.length === 1 ? "" : "s"}`,
        numbers,
      };
    }),
    make("F2", ["G2"], () => {
      const ts = f2Numbers(ev);
      if (!ts.length) return { kind: "untestable", text: "The run has no complex task.", summary: "no complex task", numbers: {} };
      if (ts.every((t) => t.reason === "missing maps")) throw new Missing("the maps after SFT");
      const numbers: Record<string, number | null> = {};
      const parts = ts.map((t) => {
        numbers[`r2:${t.task}`] = fin(t.r2.mean);
        numbers[`r2control:${t.task}`] = fin(t.controlMean.mean);
        numbers[`margin:${t.task}`] = fin(t.margin.mean);
        if (!t.testable) return `${t.task}: not testable (${t.reason})`;
        return `${t.task} onto ${t.components.join(" + ")}: R² ${fmtInterval(t.r2, false)}, controls ${fmtInterval(t.controlMean, false)} (${t.point.controls.map((c) => `${c.tasks.join("+")} ${c.r2.toFixed(2)}`).join(", ")}), R² − controls ${fmtInterval(t.margin)}; shared profile R² ${t.point.r2Profile.toFixed(2)}; absolute maps R² ${t.absolute ? t.absolute.r2.toFixed(2) : "–"} vs controls ${t.absolute ? mean(t.absolute.controls.map((c) => c.r2)).toFixed(2) : "–"}`;
      });
      const used = ts.filter((t) => t.testable);
      if (!used.length) return { kind: "untestable", text: `${parts.join("; ")}.`, summary: "no complex task with a control set", numbers };
      const failed = used.filter((t) => !(t.r2.lo >= C.f2MinR2 && t.margin.lo > 0));
      const why = failed.map((t) => `${t.task}: ${t.r2.lo >= C.f2MinR2 ? "" : `R² lower bound ${t.r2.lo.toFixed(2)} < ${C.f2MinR2}`}${t.r2.lo >= C.f2MinR2 || t.margin.lo > 0 ? "" : "; "}${t.margin.lo > 0 ? "" : "does not beat the controls"}`);
      return {
        kind: failed.length ? "fail" : "ok",
        text: `${parts.join("; ")}.${failed.length ? ` Fails for ${why.join("; ")}.` : ""}`,
        summary: used.map((t) => `${t.task} R² ${t.r2.mean.toFixed(2)} vs control ${t.controlMean.mean.toFixed(2)}`).join("; "),
        numbers,
      };
    }),
    make("F3", ["G1"], () => {
      const { tasks, pooled } = f3Numbers(ev);
      if (!tasks.length) throw new Missing("the maps before and after SFT");
      const numbers: Record<string, number | null> = {};
      for (const t of tasks) {
        numbers[`gini:${t.task}.before`] = fin(t.before);
        numbers[`gini:${t.task}.after`] = fin(t.after);
      }
      const parts = tasks.map((t) => `${t.task}${t.learned ? "" : " (not learned)"} ${t.before.toFixed(3)} → ${t.after.toFixed(3)} (Δ ${fmtInterval(t.delta)})`);
      const all = `mean over all ${tasks.length} tasks ${mean(tasks.map((t) => t.before)).toFixed(3)} → ${mean(tasks.map((t) => t.after)).toFixed(3)}`;
      if (!pooled) return { kind: "untestable", text: `Gini before → after: ${parts.join("; ")}; ${all}. No learned task.`, summary: "no learned task", numbers };
      numbers["delta:pooled"] = fin(pooled.mean);
      numbers["delta:pooled.lo"] = fin(pooled.lo);
      numbers["delta:pooled.hi"] = fin(pooled.hi);
      const ok = pooled.hi < 0;
      return {
        kind: ok ? "ok" : "fail",
        text: `Gini before → after: ${parts.join("; ")}; ${all}. Mean Δ over the learned tasks: ${fmtInterval(pooled)}.`,
        summary: `mean ΔGini (learned) ${fmtInterval(pooled)}; all tasks ${mean(tasks.map((t) => t.before)).toFixed(2)} → ${mean(tasks.map((t) => t.after)).toFixed(2)}`,
        numbers,
      };
    }),
    make("F4", ["G3"], () => {
      const all = f4Numbers(ev);
      if (!all.length) return { kind: "untestable", text: "The run has no complex task.", summary: "no complex task", numbers: {} };
      const skipped = all.filter((t) => t.learned === false && t.seeds.length === 0).map((t) => `${t.task}: not learned at the full budget, so not testable (no pre-tuning runs)`);
      const ts = all.filter((t) => t.seeds.length > 0);
      if (!ts.length) {
        if (all.every((t) => t.learned === false)) return { kind: "untestable", text: `${skipped.join("; ")}.`, summary: "no complex task learned at the full budget", numbers: {} };
        throw new Missing("the pre-tuning runs");
      }
      const numbers: Record<string, number | null> = {};
      const parts = ts.map((t) => {
        numbers[`plain:${t.task}`] = fin(mean(t.plain));
        numbers[`mix:${t.task}`] = fin(mean(t.mix));
        numbers[`gain:${t.task}`] = t.gain ? fin(t.gain.mean) : null;
        const w = t.weights ? ` (weights ${t.weights.map((x) => `${x.task} ${x.weight.toFixed(2)}`).join(", ")})` : "";
        const eq = t.mixEqual.length ? `; equal-weights mix ${mean(t.mixEqual).toFixed(2)}, gain ${t.gainEqual ? fmtInterval(t.gainEqual) : "–"}` : "";
        return `${t.task}${t.testable ? "" : ` (not testable: ${t.learned !== true ? "not learned at the full budget" : "plain SFT already above " + C.g3MaxPlain})`}: accuracy plain ${mean(t.plain).toFixed(2)} [${t.plain.map((x) => x.toFixed(2)).join(", ")}], mix${w} ${mean(t.mix).toFixed(2)} [${t.mix.map((x) => x.toFixed(2)).join(", ")}] over ${t.seeds.length} seeds; mix − plain ${t.gain ? fmtInterval(t.gain) : "–"}${eq}`;
      });
      parts.push(...skipped);
      const used = ts.filter((t) => t.testable);
      if (!used.length) return { kind: "untestable", text: `${parts.join("; ")}.`, summary: "no complex task with room", numbers };
      const failed = used.filter((t) => !(t.gain && t.gain.lo > 0));
      return {
        kind: failed.length ? "fail" : "ok",
        text: `${parts.join("; ")}.${failed.length ? ` The interval of mix − plain is not above 0 for ${failed.map((t) => t.task).join(", ")}.` : ""}`,
        summary: used.map((t) => `${t.task} mix − plain ${t.gain ? fmtInterval(t.gain) : "–"}`).join("; "),
        numbers,
      };
    }),
  ];
}
