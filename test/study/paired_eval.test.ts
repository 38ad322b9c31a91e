/**
 * The paired evaluation: windows stay inside their documents and their targets never overlap;
 * every length scores the same target tokens; the NLLs equal a full forward computed by hand
 * (float64 log-softmax); per-document sums and the per-position curve add up.
 */
import { describe, expect, it } from "vitest";
import { createModel } from "../../dist/models/index.js";
import { bucketCurve, docSums, meanNll, scoreWindows, selectWindows } from "../../dist/study/index.js";
import { XorShift32 } from "../reference/rng.js";

const V = 50;
const BOS = 49;

function toyModel(positional: { type: "none" } | { type: "rope" } = { type: "rope" }) {
  return createModel({ vocabSize: V, hiddenSize: 16, numLayers: 2, numHeads: 2, positional, tieWordEmbeddings: true, initializerRange: 0.3 }, { seed: 7 });
}

function docsOf(lengths: number[], seed = 1): Int32Array[] {
  const rng = new XorShift32(seed);
  return lengths.map((n) => Int32Array.from({ length: n }, () => Math.floor(rng.next() * (V - 1))));
}

/** NLL of every position p ≥ 1 of `ids` (predicted from ids[0 … p − 1]) by a full forward, in float64. */
async function nllByHand(model: ReturnType<typeof toyModel>, ids: number[]): Promise<number[]> {
  const logits = await model.forward([ids]);
  const d = await logits.data();
  logits.dispose();
  const out: number[] = [];
  for (let p = 1; p < ids.length; p++) {
    const off = (p - 1) * V;
    let m = -Infinity;
    for (let i = 0; i < V; i++) m = Math.max(m, d[off + i]!);
    let z = 0;
    for (let i = 0; i < V; i++) z += Math.exp(d[off + i]! - m);
    out.push(-(d[off + ids[p]!]! - m - Math.log(z)));
  }
  return out;
}

describe("selectWindows", () => {
  it("windows inside their documents, ends ≥ maxLen, targets disjoint, at most perDoc, short documents skipped", () => {
    const lengths = [100, 40, 63, 64, 300, 1000];
    const w = selectWindows(lengths, { maxLen: 64, targets: 16, perDoc: 4 });
    expect(w.some((x) => x.doc === 1 || x.doc === 2)).toBe(false); // shorter than maxLen
    for (const x of w) {
      expect(x.end).toBeLessThanOrEqual(lengths[x.doc]!);
      expect(x.end).toBeGreaterThanOrEqual(64);
    }
    for (let d = 0; d < lengths.length; d++) {
      const ends = w.filter((x) => x.doc === d).map((x) => x.end).sort((a, b) => a - b);
      expect(ends.length).toBeLessThanOrEqual(4);
      for (let i = 1; i < ends.length; i++) expect(ends[i]! - ends[i - 1]!).toBeGreaterThanOrEqual(16);
    }
    expect(w.filter((x) => x.doc === 3).map((x) => x.end)).toEqual([64]); // exactly one fits
    expect(w.filter((x) => x.doc === 0).length).toBe(3); // room 36 → ends 64, 82, 100
    expect(w.filter((x) => x.doc === 5).length).toBe(4);
    expect(() => selectWindows([100], { maxLen: 64, targets: 64, perDoc: 1 })).toThrow(/targets/);
  });
});

describe("scoreWindows", () => {
  it("scores the same targets at every length, each from the window's own document, as a full forward does", async () => {
    const model = toyModel();
    const docs = docsOf([90, 130, 70]);
    const targets = 8;
    const maxLen = 64;
    const windows = selectWindows(
      docs.map((d) => d.length),
      { maxLen: maxLen - 1, targets, perDoc: 2 },
    );
    expect(windows.length).toBe(5); // 70 tokens hold one window (ends 63 … 70 are closer than the targets), the others two
    for (const T of [16, 32, 64]) {
      const cell = await scoreWindows(model, docs, windows, T, targets, {}, { bos: BOS, tokensPerBatch: 70 });
      expect(cell.nll.length).toBe(windows.length * targets);
      for (const [i, w] of windows.entries()) {
        // BOS + the T − 1 tokens before the end, all from document w.doc
        const ids = [BOS, ...Array.from(docs[w.doc]!.subarray(w.end - (T - 1), w.end))];
        const want = (await nllByHand(model, ids)).slice(-targets);
        for (let t = 0; t < targets; t++) expect(cell.nll[i * targets + t]).toBeCloseTo(want[t]!, 4);
      }
    }
    model.dispose();
  });

  it("the per-position curve is the mean over windows of every position's NLL; docSums add per document", async () => {
    const model = toyModel({ type: "none" });
    const docs = docsOf([80, 80, 120], 3);
    const windows = selectWindows(
      docs.map((d) => d.length),
      { maxLen: 39, targets: 6, perDoc: 2 },
    );
    const T = 40;
    const cell = await scoreWindows(model, docs, windows, T, 6, {}, { bos: BOS, allPositions: true });
    expect(cell.positions!.length).toBe(T - 1);
    const sum = new Float64Array(T - 1);
    for (const w of windows) {
      const ids = [BOS, ...Array.from(docs[w.doc]!.subarray(w.end - (T - 1), w.end))];
      (await nllByHand(model, ids)).forEach((v, p) => (sum[p] += v));
    }
    for (let p = 0; p < T - 1; p++) expect(cell.positions![p]).toBeCloseTo(sum[p]! / windows.length, 4);
    const ds = docSums(cell, windows, 6, docs.length);
    for (let d = 0; d < docs.length; d++) {
      const mine = windows.map((w, i) => (w.doc === d ? i : -1)).filter((i) => i >= 0);
      expect(ds.counts[d]).toBe(6 * mine.length);
      let s = 0;
      for (const i of mine) for (let t = 0; t < 6; t++) s += cell.nll[i * 6 + t]!;
      expect(ds.sums[d]).toBeCloseTo(s, 3);
    }
    const all = Array.from(cell.nll).reduce((a, b) => a + b, 0) / cell.nll.length;
    expect(meanNll(cell)).toBeCloseTo(all, 6);
    const b = bucketCurve(cell.positions!, 4);
    expect(b.length).toBe(4);
    expect(b[0]!.start).toBe(1);
    expect(b[3]!.end).toBe(T - 1);
    model.dispose();
  });

  it("a window that does not hold T tokens of its document is an error", async () => {
    const model = toyModel();
    const docs = docsOf([50]);
    await expect(scoreWindows(model, docs, [{ doc: 0, end: 40 }], 48, 4, {}, { bos: BOS })).rejects.toThrow(/does not hold/);
    await expect(scoreWindows(model, docs, [{ doc: 0, end: 50 }], 4, 4, {})).rejects.toThrow(/above the 4 targets/);
    model.dispose();
  });
});
