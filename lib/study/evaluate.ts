/**
 * Evaluates one study method on one model: its sweeps on the tuning windows, the paired NLL at
 * every length on the evaluation windows (per-document sums for the bootstrap, the per-position
 * curve at the longest length it is defined at), and passkey retrieval per distance bucket.
 */
import type { CausalLM } from "../models/causal_lm.js";
import type { MethodDef } from "./methods.js";
import { bucketCurve, docSums, meanNll, scoreWindows, type EvalWindow } from "./paired_eval.js";
import { scorePasskeyBucket, type PasskeyBucket } from "./passkey.js";
import type { StudyMethod, StudySweep } from "./report_schema.js";
import { checkAbort } from "./trainer.js";

/** What every method is scored on (fixed for the whole run). */
export interface EvalSet {
  L: number;
  lengths: number[];
  bos: number;
  /** Targets per window. */
  targets: number;
  docs: Int32Array[];
  windows: EvalWindow[];
  tuneDocs: Int32Array[];
  tuneWindows: EvalWindow[];
  buckets: PasskeyBucket[];
  positionBuckets: number;
}

/** Work units of a method (tokens read), for progress. */
export function methodWork(def: MethodDef, e: EvalSet): number {
  const defined = (T: number) => !def.defined || def.defined(T);
  let n = 0;
  for (const s of def.sweeps ?? []) for (const T of s.lengths(e.lengths)) n += s.values.length * T * e.tuneWindows.length;
  for (const T of e.lengths) if (defined(T)) n += T * e.windows.length;
  for (const b of e.buckets) if (defined(b.hi)) n += b.hi * b.trials.length;
  return n;
}

/**
 * Runs a sweep stage: the mean tuning NLL of every value at every length it covers, and the
 * choice (per length, or one shared by all lengths: the lowest mean over them). The chosen values
 * are written into def.params (`param@T` per length, `param` shared).
 */
export async function runSweep(model: CausalLM, def: MethodDef, stage: NonNullable<MethodDef["sweeps"]>[number], e: EvalSet, tick: (n: number) => void, signal?: AbortSignal): Promise<StudySweep> {
  const Ts = stage.lengths(e.lengths);
  const nll: (number | null)[][] = [];
  for (const v of stage.values) {
    const row: (number | null)[] = [];
    for (const T of Ts) {
      checkAbort(signal, `the ${def.id} sweep`);
      const cell = await scoreWindows(model, e.tuneDocs, e.tuneWindows, T, e.targets, stage.at(v, T).forward, { bos: e.bos, onBatch: tick });
      const m = meanNll(cell);
      row.push(Number.isFinite(m) ? m : null);
    }
    nll.push(row);
  }
  const score = (x: number | null | undefined) => (typeof x === "number" ? x : Infinity);
  let chosen: number[];
  if (stage.mode === "per-length") {
    chosen = Ts.map((T, j) => {
      let best = 0;
      stage.values.forEach((_, i) => {
        if (score(nll[i]![j]) < score(nll[best]![j])) best = i;
      });
      def.params[`${stage.param}@${T}`] = stage.values[best]!;
      return stage.values[best]!;
    });
  } else {
    const mean = (i: number) => nll[i]!.reduce((a: number, x) => a + score(x), 0) / Math.max(1, Ts.length);
    let best = 0;
    stage.values.forEach((_, i) => {
      if (mean(i) < mean(best)) best = i;
    });
    def.params[stage.param] = stage.values[best]!;
    chosen = Ts.map(() => stage.values[best]!);
  }
  return { param: stage.param, values: [...stage.values], lengths: Ts, nll, mode: stage.mode, chosen };
}

/** Sweeps (in order), then the paired NLL at every length and passkey at every bucket. */
export async function evaluateMethod(
  model: CausalLM,
  def: MethodDef,
  e: EvalSet,
  opts: { tick: (n: number) => void; signal?: AbortSignal; extraSweeps?: StudySweep[] },
): Promise<StudyMethod> {
  const t0 = performance.now();
  const sweeps: StudySweep[] = [...(opts.extraSweeps ?? [])];
  for (const stage of def.sweeps ?? []) sweeps.push(await runSweep(model, def, stage, e, opts.tick, opts.signal));
  const defined = (T: number) => !def.defined || def.defined(T);
  const longest = Math.max(...e.lengths.filter(defined));
  const nll: (number | null)[] = [];
  const docNll: (number[] | null)[] = [];
  let docTargets: number[] = [];
  let positions: StudyMethod["positions"] = null;
  for (const T of e.lengths) {
    if (!defined(T)) {
      nll.push(null);
      docNll.push(null);
      continue;
    }
    checkAbort(opts.signal, `the evaluation of ${def.id}`);
    const cell = await scoreWindows(model, e.docs, e.windows, T, e.targets, def.at(T).forward, { bos: e.bos, allPositions: T === longest, onBatch: opts.tick });
    const m = meanNll(cell);
    nll.push(Number.isFinite(m) ? m : null);
    const ds = docSums(cell, e.windows, e.targets, e.docs.length);
    docNll.push(ds.sums.map((x) => (Number.isFinite(x) ? x : Number.MAX_VALUE)));
    docTargets = [...ds.counts];
    if (cell.positions) positions = { length: T, buckets: bucketCurve(cell.positions, e.positionBuckets) };
  }
  const passkey: StudyMethod["passkey"] = [];
  for (const b of e.buckets) {
    if (!defined(b.hi)) {
      passkey.push(null);
      continue;
    }
    checkAbort(opts.signal, `the passkey of ${def.id}`);
    passkey.push(await scorePasskeyBucket(model, b, def.at(b.hi).forward, { onBatch: opts.tick }));
  }
  return {
    id: def.id,
    label: def.label,
    model: def.model,
    seed: def.seed,
    description: def.description,
    params: { ...def.params },
    nll,
    docNll,
    docTargets,
    positions,
    passkey,
    ...(sweeps.length ? { sweeps } : {}),
    wallSeconds: (performance.now() - t0) / 1000,
  };
}
