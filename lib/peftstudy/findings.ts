/**
 * The findings of `ctxwin peft`, computed from report.json's cells with criteria fixed here
 * before any run (and printed on the page). Scores are each task's primary metric on its test
 * split (accuracy for sequence tasks, span F1 for tagging). Seeds are the independent replicates:
 * a comparison averages its differences over the tasks within each seed, and its 95% interval is
 * the Student t interval over those per-seed means (lib/study/stats.ts tInterval).
 *
 *   (a) APT ≥ P-tuning v2, full data and few-shot separately: reproduced when the mean of
 *       APT − PTv2 is ≥ 0 AND the interval's lower bound is above −NONINFERIORITY (APT is not worse
 *       by more than one point); otherwise not reproduced (the text says whether APT is worse —
 *       the whole interval below 0 — or the run cannot tell). Not testable: fewer than 2 complete
 *       seeds, missing APT / PTv2 cells, or neither method learned the tasks (the better of the
 *       two is on average less than MIN_LEARNED above the tasks' majority baselines: two methods
 *       stuck at the baseline are "equal" without saying anything about the claim).
 *   (b) Gates differ between layers and between tasks (APT, full data). A cell's layer profile
 *       p[l] = mean over prefix tokens of α[l][k]. Layers: in every task the spread (sd over
 *       layers) of the seed-mean profile exceeds LAYER_RATIO × the seed noise of a layer mean
 *       (sqrt(mean over layers of var over seeds / S)). Tasks: the mean RMS distance between two
 *       tasks' profiles of the same seed exceeds TASK_RATIO × the mean RMS distance between two
 *       seeds' profiles of the same task. Reproduced when both hold; needs ≥ 2 seeds (and ≥ 2
 *       tasks for the second part).
 *   (c) The variable-prefix probe: P-tuning v2 with per-layer lengths set from the learned gates
 *       (methods.ts variableLengths: proportional to the layer's mean α, the same total) vs the
 *       uniform prefix, full data: the criterion of (a).
 */
import { tInterval } from "../study/stats.js";
import type { PeftCell, PeftCellMethod, PeftFinding, PeftReport, PeftSetting } from "./report_schema.js";

/** APT may be this much worse (score units: 0.01 = one point) and still count as "≥". */
export const NONINFERIORITY = 0.01;
/** (a), (c): the better method must beat the majority baseline by this much (mean over tasks) for a comparison to mean anything. */
export const MIN_LEARNED = 0.02;
/** Finding (b): layer spread / seed noise needed in every task. */
export const LAYER_RATIO = 2;
/** Finding (b): between-task / between-seed profile distance needed. */
export const TASK_RATIO = 1.5;

const pts = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}` : "–");
const signedPts = (x: number) => (Number.isFinite(x) ? `${x >= 0 ? "+" : "−"}${(100 * Math.abs(x)).toFixed(1)}` : "–");
const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : "–");

/** Done cells by task, setting, method and seed. */
export class PeftEvidence {
  readonly #cells = new Map<string, PeftCell>();
  constructor(readonly report: PeftReport) {
    for (const c of report.cells) this.#cells.set(PeftEvidence.key(c.task, c.setting, c.method, c.seed), c);
  }
  static key(task: string, setting: PeftSetting, method: PeftCellMethod, seed: number): string {
    return `${task}\u0000${setting}\u0000${method}\u0000${seed}`;
  }
  cell(task: string, setting: PeftSetting, method: PeftCellMethod, seed: number): PeftCell | undefined {
    return this.#cells.get(PeftEvidence.key(task, setting, method, seed));
  }
  score(task: string, setting: PeftSetting, method: PeftCellMethod, seed: number): number | null {
    const c = this.cell(task, setting, method, seed);
    return c && c.status === "done" && c.score !== null ? c.score : null;
  }
  get tasks(): string[] {
    return this.report.tasks.map((t) => t.name);
  }
  get seeds(): number[] {
    return this.report.seeds;
  }
  /** Why a method's cells are missing (the first unavailable / failed cell's reason), or null. */
  reasonMissing(method: PeftCellMethod): string | null {
    const c = this.report.cells.find((x) => x.method === method && x.status !== "done");
    return c ? `${c.status}: ${c.reason ?? ""}` : null;
  }
}

/** Per-seed mean over tasks of score(a) − score(b); seeds missing a task are left out. */
export function pairedSeedMeans(ev: PeftEvidence, setting: PeftSetting, a: PeftCellMethod, b: PeftCellMethod): { seed: number; diff: number }[] {
  const out: { seed: number; diff: number }[] = [];
  for (const s of ev.seeds) {
    const ds = ev.tasks.map((t) => {
      const x = ev.score(t, setting, a, s);
      const y = ev.score(t, setting, b, s);
      return x === null || y === null ? null : x - y;
    });
    if (ds.length && ds.every((d) => d !== null)) out.push({ seed: s, diff: (ds as number[]).reduce((p, q) => p + q, 0) / ds.length });
  }
  return out;
}

/** The ≥ comparison of (a) and (c) (see the file header). */
function geFinding(ev: PeftEvidence, setting: PeftSetting, a: PeftCellMethod, b: PeftCellMethod, names: [string, string]): { verdict: PeftFinding["verdict"]; text: string; summary: string } {
  const missing = [a, b].filter((m) => !ev.tasks.some((t) => ev.seeds.some((s) => ev.score(t, setting, m, s) !== null)));
  if (missing.length) {
    const why = missing.map((m) => `${m}: ${ev.reasonMissing(m) ?? "no cells in this report"}`).join("; ");
    return { verdict: "not testable", text: `No scores for ${missing.join(" and ")} in the ${setting} setting (${why}).`, summary: `no ${missing.join("/")} scores` };
  }
  const baseline = new Map(ev.report.tasks.map((t) => [t.name, t.baseline]));
  const learned = ev.tasks.map((t) => {
    const best = [a, b].map((m) => ev.seeds.map((s) => ev.score(t, setting, m, s)).filter((x): x is number => x !== null)).map((xs) => (xs.length ? mean(xs) : -Infinity));
    return Math.max(...best) - (baseline.get(t) ?? 0);
  });
  const gain = mean(learned);
  if (!(gain >= MIN_LEARNED)) {
    return { verdict: "not testable", text: `Neither ${names[0]} nor ${names[1]} learned the tasks in the ${setting} setting: the better of the two is ${signedPts(gain)} points above the majority baselines on average (needs ≥ ${pts(MIN_LEARNED)}), so equal scores would say nothing.`, summary: `not learned (${signedPts(gain)} pts over baseline)` };
  }
  const per = pairedSeedMeans(ev, setting, a, b);
  const list = per.map((p) => `seed ${p.seed}: ${signedPts(p.diff)}`).join(", ");
  if (per.length < 2) {
    const m = per.length ? per[0]!.diff : NaN;
    return { verdict: "not testable", text: `${names[0]} − ${names[1]} = ${signedPts(m)} points (mean over ${ev.tasks.length} task(s)) from ${per.length} complete seed(s): an interval over seeds needs at least 2 (--seeds).`, summary: `${signedPts(m)} pts, ${per.length} seed` };
  }
  const iv = tInterval(per.map((p) => p.diff));
  const holds = iv.mean >= 0 && iv.lo > -NONINFERIORITY;
  const worse = iv.hi < 0;
  const better = iv.lo > 0;
  const detail = `${names[0]} − ${names[1]} = ${signedPts(iv.mean)} points, 95% t interval [${signedPts(iv.lo)}, ${signedPts(iv.hi)}] over ${per.length} seeds (${list}; each the mean over ${ev.tasks.length} task(s)).`;
  const text = holds
    ? `${detail} The mean is ≥ 0 and the lower bound is above −${pts(NONINFERIORITY)} point${better ? "; the whole interval is above 0 (better, not only not worse)" : ""}.`
    : `${detail} ${worse ? `${names[0]} is worse: the whole interval is below 0.` : iv.mean < 0 ? `The mean is below 0.` : `The lower bound is below −${pts(NONINFERIORITY)} point: this run cannot tell the two apart at that margin.`}`;
  return { verdict: holds ? "reproduced" : "not reproduced", text, summary: `${signedPts(iv.mean)} pts [${signedPts(iv.lo)}, ${signedPts(iv.hi)}]` };
}

/** Layer profile of an APT cell: mean α over prefix tokens per layer. */
export function layerProfile(c: PeftCell): number[] | null {
  if (!c.gates) return null;
  return c.gates.alpha.map((row) => (row.length ? row.reduce((a, b) => a + b, 0) / row.length : NaN));
}

function rms(a: readonly number[], b: readonly number[]): number {
  return Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]!) ** 2, 0) / a.length);
}
function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
function variance(xs: readonly number[]): number {
  const m = mean(xs);
  return xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1);
}

/** Finding (b)'s statistics (see the file header), for the page and the verdict. */
export function gateStatistics(ev: PeftEvidence): {
  profiles: Map<string, Map<number, number[]>>;
  layers: { task: string; spread: number; noise: number; ratio: number }[];
  tasks: { betweenTasks: number; betweenSeeds: number; ratio: number } | null;
} {
  const profiles = new Map<string, Map<number, number[]>>();
  for (const t of ev.tasks) {
    const bySeed = new Map<number, number[]>();
    for (const s of ev.seeds) {
      const c = ev.cell(t, "full", "apt", s);
      const p = c && c.status === "done" ? layerProfile(c) : null;
      if (p) bySeed.set(s, p);
    }
    if (bySeed.size) profiles.set(t, bySeed);
  }
  const layers: { task: string; spread: number; noise: number; ratio: number }[] = [];
  for (const [task, bySeed] of profiles) {
    const ps = [...bySeed.values()];
    if (ps.length < 2) continue;
    const L = ps[0]!.length;
    const m = Array.from({ length: L }, (_, l) => mean(ps.map((p) => p[l]!)));
    const spread = L > 1 ? Math.sqrt(variance(m)) : 0;
    const noise = Math.sqrt(mean(Array.from({ length: L }, (_, l) => variance(ps.map((p) => p[l]!)))) / ps.length);
    layers.push({ task, spread, noise, ratio: noise > 0 ? spread / noise : spread > 0 ? Infinity : NaN });
  }
  let tasks: { betweenTasks: number; betweenSeeds: number; ratio: number } | null = null;
  const names = [...profiles.keys()];
  if (names.length >= 2) {
    const bt: number[] = [];
    const bs: number[] = [];
    for (const s of ev.seeds) {
      for (let i = 0; i < names.length; i++) {
        for (let j = i + 1; j < names.length; j++) {
          const a = profiles.get(names[i]!)!.get(s);
          const b = profiles.get(names[j]!)!.get(s);
          if (a && b && a.length === b.length) bt.push(rms(a, b));
        }
      }
    }
    for (const bySeed of profiles.values()) {
      const ps = [...bySeed.values()];
      for (let i = 0; i < ps.length; i++) for (let j = i + 1; j < ps.length; j++) bs.push(rms(ps[i]!, ps[j]!));
    }
    if (bt.length && bs.length) {
      const betweenTasks = mean(bt);
      const betweenSeeds = mean(bs);
      tasks = { betweenTasks, betweenSeeds, ratio: betweenSeeds > 0 ? betweenTasks / betweenSeeds : betweenTasks > 0 ? Infinity : NaN };
    }
  }
  return { profiles, layers, tasks };
}

function gateFinding(ev: PeftEvidence): { verdict: PeftFinding["verdict"]; text: string; summary: string } {
  const st = gateStatistics(ev);
  if (st.profiles.size === 0) return { verdict: "not testable", text: `No APT gates in this report (${ev.reasonMissing("apt") ?? "no APT cells"}).`, summary: "no APT gates" };
  if (st.layers.length === 0) return { verdict: "not testable", text: "The gates of fewer than 2 seeds per task: the seed noise of a layer's mean gate cannot be estimated (--seeds).", summary: "1 seed" };
  const layersHold = st.layers.length === st.profiles.size && st.layers.every((x) => x.ratio > LAYER_RATIO);
  const layerText = `Layers: spread of the mean gate across layers / seed noise = ${st.layers.map((x) => `${x.task} ${f3(x.spread)}/${f3(x.noise)} = ${x.ratio.toFixed(1)}`).join(", ")} (needs > ${LAYER_RATIO} in every task: ${layersHold ? "holds" : "fails"}).`;
  if (!st.tasks) {
    return { verdict: "not testable", text: `${layerText} Tasks: only one task has gates, so between-task differences cannot be measured (add a task).`, summary: `layers ${layersHold ? "differ" : "do not differ"}; 1 task` };
  }
  const tasksHold = st.tasks.ratio > TASK_RATIO;
  const taskText = `Tasks: RMS distance between tasks' layer profiles ${f3(st.tasks.betweenTasks)} vs between seeds ${f3(st.tasks.betweenSeeds)}, ratio ${st.tasks.ratio.toFixed(2)} (needs > ${TASK_RATIO}: ${tasksHold ? "holds" : "fails"}).`;
  return { verdict: layersHold && tasksHold ? "reproduced" : "not reproduced", text: `${layerText} ${taskText}`, summary: `layer ratio min ${Math.min(...st.layers.map((x) => x.ratio)).toFixed(1)}, task/seed ${st.tasks.ratio.toFixed(2)}` };
}

/** The criteria in words (shown on the page beside each finding). */
export const CRITERIA = {
  ge: `mean over seeds of (mean over tasks of the score difference) ≥ 0 and its 95% t interval's lower bound > −${100 * NONINFERIORITY} point; not testable with fewer than 2 seeds or when the better method is less than ${100 * MIN_LEARNED} points above the majority baselines`,
  gates: `every task: sd over layers of the seed-mean layer profile > ${LAYER_RATIO} × the seed noise of a layer mean; and the mean RMS distance between two tasks' profiles (same seed) > ${TASK_RATIO} × that between two seeds (same task)`,
};

/** The findings of a report (see the file header). */
export function computePeftFindings(r: PeftReport): PeftFinding[] {
  const ev = new PeftEvidence(r);
  const out: PeftFinding[] = [];
  for (const [setting, id] of [["full", "a-full"], ["few-shot", "a-few-shot"]] as const) {
    const g = geFinding(ev, setting, "apt", "ptv2", ["APT", "P-tuning v2"]);
    out.push({ id, title: `APT ≥ P-tuning v2 (${setting === "full" ? "full data" : "few-shot"})`, paper: "APT beats P-tuning v2 on SuperGLUE and NER with BERT / RoBERTa, in full-data and few-shot settings", criterion: CRITERIA.ge, ...g });
  }
  out.push({ id: "b", title: "The gates differ between layers and between tasks", paper: "the learned gates show which layers and prefix tokens matter, and differ per task", criterion: CRITERIA.gates, ...gateFinding(ev) });
  out.push({
    id: "c",
    title: "A prefix length per layer from the gates ≥ the uniform prefix",
    paper: "prefix lengths set per layer from the learned gates, retrained with P-tuning v2, do at least as well as the uniform prefix at the same total length",
    criterion: `${CRITERIA.ge} (P-tuning v2 with the probe's lengths vs uniform, full data)`,
    ...geFinding(ev, "full", "ptv2-variable", "ptv2", ["variable prefix", "uniform prefix"]),
  });
  return out;
}

/** Per task × setting × method: the score's t interval over seeds and the mean cost. */
export function methodSummary(r: PeftReport, task: string, setting: PeftSetting, method: PeftCellMethod): { n: number; mean: number; lo: number; hi: number; trainable: number; seconds: number; tokensPerSecond: number } | null {
  const cells = r.cells.filter((c) => c.task === task && c.setting === setting && c.method === method && c.status === "done" && c.score !== null);
  if (!cells.length) return null;
  const iv = tInterval(cells.map((c) => c.score!));
  return { n: cells.length, mean: iv.mean, lo: iv.lo, hi: iv.hi, trainable: cells[0]!.trainableParameters, seconds: mean(cells.map((c) => c.seconds)), tokensPerSecond: mean(cells.map((c) => c.tokensPerSecond)) };
}
