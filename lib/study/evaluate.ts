/**
 * Evaluates one study method on one model: its sweeps on the tuning windows, the paired NLL at
 * every length on the evaluation windows (per-document sums for the bootstrap, the per-position
 * curve at the longest length it is defined at), and passkey retrieval per distance bucket.
 *
 * The pieces `ctxwin eval` (lib/eval) shares with the study, so that both measure the same way:
 * `buildEvalSet` (held-out documents → evaluation documents, paired windows, passkey prompts) and
 * `nllCell` (one (method, length) cell of the paired evaluation); passkey cells are
 * `scorePasskeyBucket` (passkey.ts).
 */
import type { CausalLM, ForwardOptions } from "../models/causal_lm.js";
import type { Tokenizer } from "../models/tokenizer/types.js";
import type { MethodDef } from "./methods.js";
import { bucketCurve, docSums, meanNll, scoreWindows, selectWindows, type EvalWindow } from "./paired_eval.js";
import { passkeyBuckets, scorePasskeyBucket, type PasskeyBucket } from "./passkey.js";
import type { StudyMethod, StudySweep } from "./report_schema.js";
import { checkAbort } from "./trainer.js";

/** What every method is scored on (fixed for the whole run). */
export interface EvalSet {
  L: number;
  lengths: number[];
  /** Every sequence starts with this id (undefined: a tokenizer without BOS; windows are then all text). */
  bos: number | undefined;
  /** Targets per window. */
  targets: number;
  docs: Int32Array[];
  windows: EvalWindow[];
  tuneDocs: Int32Array[];
  tuneWindows: EvalWindow[];
  buckets: PasskeyBucket[];
  positionBuckets: number;
}

/** A held-out document as token ids. */
export interface HeldOutDocument {
  source: string;
  ids: Int32Array;
}

/** The held-out documents long enough for a window of `maxLen` tokens (BOS included when given). */
export function longDocuments<D extends HeldOutDocument>(heldOut: readonly D[], maxLen: number, bos: number | undefined): D[] {
  const content = bos === undefined ? maxLen : maxLen - 1;
  return heldOut.filter((d) => d.ids.length >= content);
}

export interface EvalSetOptions {
  L: number;
  /** Evaluation lengths, increasing (the last is the longest window). */
  lengths: number[];
  bos: number | undefined;
  /** Targets per window (the last ones before its end; fewer than the shortest length). */
  targets: number;
  /** Evaluation documents (the first long-enough held-out ones) and windows in each. */
  documents: number;
  windowsPerDocument: number;
  /** Tuning documents (the next long-enough ones; 0: none) and windows in each. */
  tuneDocuments: number;
  tuneWindowsPerDocument: number;
  positionBuckets: number;
  /** Passkey prompts per bucket (lo, hi] of consecutive lengths; null: no passkey prompts. */
  passkey: { trials: number; digits: number; seed: number } | null;
}

function concatIds(docs: readonly Int32Array[]): Int32Array {
  const out = new Int32Array(docs.reduce((a, d) => a + d.length, 0));
  let o = 0;
  for (const d of docs) {
    out.set(d, o);
    o += d.length;
  }
  return out;
}

/**
 * The paired evaluation's text and the passkey prompts, from held-out documents (the caller checks
 * that there are enough long ones, with its own message): the evaluation documents are the first
 * `documents` held-out documents long enough for the longest length, the tuning documents the next
 * `tuneDocuments`; windows by selectWindows (the same targets at every length); passkey filler is
 * the held-out text outside the evaluation documents (all of it when that is shorter than the
 * longest prompt), prompts drawn by passkeyBuckets with `passkey.seed`.
 */
export function buildEvalSet<D extends HeldOutDocument>(heldOut: readonly D[], tok: Tokenizer, o: EvalSetOptions): { set: EvalSet; evalDocs: D[]; tuneDocs: D[] } {
  const maxLen = o.lengths[o.lengths.length - 1]!;
  const content = o.bos === undefined ? maxLen : maxLen - 1;
  const long = longDocuments(heldOut, maxLen, o.bos);
  const evalDocs = long.slice(0, o.documents);
  const tuneDocs = long.slice(o.documents, o.documents + o.tuneDocuments);
  const windows = (docs: readonly D[], perDoc: number) =>
    selectWindows(
      docs.map((d) => d.ids.length),
      { maxLen: content, targets: o.targets, perDoc },
    );
  const set: EvalSet = {
    L: o.L,
    lengths: [...o.lengths],
    bos: o.bos,
    targets: o.targets,
    docs: evalDocs.map((d) => d.ids),
    windows: windows(evalDocs, o.windowsPerDocument),
    tuneDocs: tuneDocs.map((d) => d.ids),
    tuneWindows: tuneDocs.length ? windows(tuneDocs, o.tuneWindowsPerDocument) : [],
    buckets: [],
    positionBuckets: o.positionBuckets,
  };
  if (o.passkey) {
    let filler = concatIds(heldOut.filter((d) => !evalDocs.includes(d)).map((d) => d.ids));
    if (filler.length < maxLen) filler = concatIds(heldOut.map((d) => d.ids));
    set.buckets = passkeyBuckets(tok, o.lengths, { ...o.passkey, filler, bos: o.bos });
  }
  return { set, evalDocs, tuneDocs };
}

/** One cell of the paired evaluation: a method's forward options at one length. */
export interface NllCell {
  /** Mean NLL per target (nats); null when not finite. */
  nll: number | null;
  /** Per-document NLL sums (evaluation documents in order; a non-finite sum is Number.MAX_VALUE). */
  docNll: number[];
  /** Targets per document. */
  docTargets: number[];
  /** Mean NLL by position in `positionBuckets` buckets (with allPositions), else null. */
  positions: { length: number; buckets: { start: number; end: number; nll: number }[] } | null;
}

/** Scores the evaluation windows at length T with `forward` (see paired_eval.ts). */
export async function nllCell(model: CausalLM, e: EvalSet, T: number, forward: ForwardOptions, opts: { allPositions?: boolean; tick?: (n: number) => void; tokensPerBatch?: number } = {}): Promise<NllCell> {
  const cell = await scoreWindows(model, e.docs, e.windows, T, e.targets, forward, {
    bos: e.bos,
    allPositions: opts.allPositions,
    onBatch: opts.tick,
    ...(opts.tokensPerBatch !== undefined ? { tokensPerBatch: opts.tokensPerBatch } : {}),
  });
  const m = meanNll(cell);
  const ds = docSums(cell, e.windows, e.targets, e.docs.length);
  return {
    nll: Number.isFinite(m) ? m : null,
    docNll: ds.sums.map((x) => (Number.isFinite(x) ? x : Number.MAX_VALUE)),
    docTargets: [...ds.counts],
    positions: cell.positions ? { length: T, buckets: bucketCurve(cell.positions, e.positionBuckets) } : null,
  };
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
    const cell = await nllCell(model, e, T, def.at(T).forward, { allPositions: T === longest, tick: opts.tick });
    nll.push(cell.nll);
    docNll.push(cell.docNll);
    docTargets = cell.docTargets;
    if (cell.positions) positions = cell.positions;
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
