/**
 * The paired evaluation: every method, at every length T, scores THE SAME target tokens.
 *
 * Windows are chosen inside single held-out documents (never across a document boundary): a
 * window is a document and an end index e with e ≥ maxLen (the longest evaluated length), and
 * its targets are the `targets` tokens doc[e − targets … e). At length T the model reads BOS and
 * the T − 1 tokens doc[e − T + 1 … e) (every sequence the study's models see starts with BOS) and
 * is scored on those targets only (each predicted from everything
 * before it in the window: contexts from T − targets to T − 1 tokens). So the targets and their
 * documents are identical across lengths and methods, and a difference in NLL between two
 * (method, length) cells is the effect of the method and of the context, nothing else. (The
 * old disjoint-window perplexity scored every position, so a longer T also scored more
 * well-contexted tokens, which hid degradation.)
 *
 * Per window, the targets' NLLs are kept (summed per document for the bootstrap in stats.ts).
 * At the longest length the NLL of every position of the window is also kept, bucketed, for the
 * per-position curves that show where a method breaks.
 */
import { CtxwinError } from "../errors.js";
import { Tensor } from "../tensor.js";
import * as ops from "../ops/index.js";
import { noGrad, tidy, Variable } from "../nn/autograd.js";
import { crossEntropyRows } from "../nn/functional.js";
import type { CausalLM, ForwardOptions } from "../models/causal_lm.js";
import type { DocSums } from "./stats.js";

export interface EvalWindow {
  /** Index into the documents given to selectWindows. */
  doc: number;
  /** Exclusive end of the window (and of its targets) in the document's ids. */
  end: number;
}

/**
 * Up to `perDoc` windows per document, ends spread evenly over [maxLen, length] with targets that
 * never overlap (ends at least `targets` apart); documents shorter than maxLen hold none.
 */
export function selectWindows(docLengths: readonly number[], opts: { maxLen: number; targets: number; perDoc: number }): EvalWindow[] {
  const { maxLen, targets, perDoc } = opts;
  if (!(Number.isInteger(targets) && targets >= 1 && targets < maxLen)) throw new CtxwinError("ERR_ARG", `selectWindows: targets: expected an integer in [1, ${maxLen}), got ${targets}`);
  if (!(Number.isInteger(perDoc) && perDoc >= 1)) throw new CtxwinError("ERR_ARG", `selectWindows: perDoc: expected a positive integer, got ${perDoc}`);
  const out: EvalWindow[] = [];
  docLengths.forEach((len, doc) => {
    if (len < maxLen) return;
    const room = len - maxLen; // ends in [maxLen, len]
    const k = Math.min(perDoc, Math.floor(room / targets) + 1);
    for (let i = 0; i < k; i++) {
      const end = k === 1 ? len : maxLen + Math.round((i * room) / (k - 1));
      out.push({ doc, end });
    }
  });
  return out;
}

/** The NLLs of one (method, length) cell: targets of every window, in window order. */
export interface CellNll {
  /** windows × targets NLLs (nats). */
  nll: Float32Array;
  /** Per-position mean NLL over all windows (only when positions were requested): [T − 1], position p = token p + 1 of the window. */
  positions?: Float64Array;
}

/**
 * Scores the windows at length T with the method's forward options. Batches of about
 * `tokensPerBatch` tokens. With `allPositions`, every position of each window is scored too.
 */
export async function scoreWindows(
  model: CausalLM,
  docs: readonly Int32Array[],
  windows: readonly EvalWindow[],
  T: number,
  targets: number,
  forward: ForwardOptions,
  opts: { bos?: number; allPositions?: boolean; tokensPerBatch?: number; headRows?: number; onBatch?: (tokens: number) => void } = {},
): Promise<CellNll> {
  if (!(Number.isInteger(T) && T > targets)) throw new CtxwinError("ERR_ARG", `scoreWindows: T: expected an integer above the ${targets} targets, got ${T}`);
  const W = windows.length;
  const nll = new Float32Array(W * targets);
  const posSum = opts.allPositions ? new Float64Array(T - 1) : null;
  const B = Math.max(1, Math.floor((opts.tokensPerBatch ?? 4096) / T));
  const headRows = opts.headRows ?? 2048;
  // scored positions of a window: inputs first..T−2 predict tokens first+1..T−1
  const first = opts.allPositions ? 0 : T - targets - 1;
  const rows = T - 1 - first;
  for (let s = 0; s < W; s += B) {
    const batch = windows.slice(s, s + B);
    const content = opts.bos === undefined ? T : T - 1;
    const ids = batch.map((w) => {
      const d = docs[w.doc];
      if (!d || w.end > d.length || w.end < content) throw new CtxwinError("ERR_ARG", `scoreWindows: window (doc ${w.doc}, end ${w.end}) does not hold ${content} tokens of its document`);
      const span = Array.from(d.subarray(w.end - content, w.end));
      return opts.bos === undefined ? span : [opts.bos, ...span];
    });
    const n = batch.length;
    const parts: { tensor: Tensor; b0: number; b1: number }[] = [];
    noGrad(() =>
      tidy(() => {
        const h = model.hidden(ids, forward);
        using sel = ops.slice(h.value, 1, first, T - 1); // [n, rows, d]
        using flat = sel.reshape([n * rows, h.shape[2]!]);
        const tg = new Float32Array(n * rows);
        for (let b = 0; b < n; b++) for (let r = 0; r < rows; r++) tg[b * rows + r] = ids[b]![first + r + 1]!;
        const perChunk = Math.max(rows, Math.floor(headRows / rows) * rows);
        for (let r0 = 0; r0 < n * rows; r0 += perChunk) {
          const r1 = Math.min(r0 + perChunk, n * rows);
          using part = ops.slice(flat, 0, r0, r1);
          using logits = model.head(new Variable(part, { borrowed: true }));
          using t = Tensor.from(tg.subarray(r0, r1), [r1 - r0], { device: part.device });
          parts.push({ tensor: crossEntropyRows(logits.value, t), b0: r0, b1: r1 });
        }
      }),
    );
    for (const p of parts) {
      let data: Float32Array;
      try {
        data = await p.tensor.data();
      } finally {
        p.tensor.dispose();
      }
      for (let i = p.b0; i < p.b1; i++) {
        const b = Math.floor(i / rows);
        const r = i - b * rows;
        const v = data[i - p.b0]!;
        if (posSum) posSum[first + r] += v;
        const ti = r - (rows - targets);
        if (ti >= 0) nll[(s + b) * targets + ti] = v;
      }
    }
    opts.onBatch?.(n * T);
  }
  const out: CellNll = { nll };
  if (posSum) {
    for (let i = 0; i < posSum.length; i++) posSum[i] /= W;
    out.positions = posSum;
  }
  return out;
}

/** Per-document NLL sums and target counts of a cell (documents numbered 0 … docs − 1). */
export function docSums(cell: CellNll, windows: readonly EvalWindow[], targets: number, docs: number): DocSums {
  const sums = new Array<number>(docs).fill(0);
  const counts = new Array<number>(docs).fill(0);
  windows.forEach((w, i) => {
    let s = 0;
    for (let t = 0; t < targets; t++) s += cell.nll[i * targets + t]!;
    sums[w.doc] += s;
    counts[w.doc] += targets;
  });
  return { sums, counts };
}

/** Mean NLL of a cell. */
export function meanNll(cell: CellNll): number {
  let s = 0;
  for (let i = 0; i < cell.nll.length; i++) s += cell.nll[i]!;
  return s / cell.nll.length;
}

/** Position curve averaged into `buckets` equal ranges of positions (mean of each range). */
export function bucketCurve(positions: Float64Array, buckets: number): { start: number; end: number; nll: number }[] {
  const n = positions.length;
  const k = Math.min(buckets, n);
  const out: { start: number; end: number; nll: number }[] = [];
  for (let i = 0; i < k; i++) {
    const a = Math.floor((i * n) / k);
    const b = Math.floor(((i + 1) * n) / k);
    let s = 0;
    for (let p = a; p < b; p++) s += positions[p]!;
    // positions are 0-based prediction indices: position p scores token p + 1 (context p + 1 tokens)
    out.push({ start: a + 1, end: b, nll: s / (b - a) });
  }
  return out;
}
