/** Packing token streams into rows, seeded shuffling, resumable loader state, deterministic splits. */
import { describe, expect, it } from "vitest";
import { Rng } from "../../dist/index.js";
import { DataLoader, PAD, orderedBatches, packSequences, splitRows, trainValSplit } from "../../dist/train/index.js";

const GOLDEN_42 = [582187279, 1399420924, 753];
const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

describe("packSequences", () => {
  it("cuts one stream into rows of seqLen + 1 that overlap by one token (every token a target once)", () => {
    const rows = packSequences(Int32Array.from(range(0, 14)), { seqLen: 4 });
    expect(rows.length).toBe(3); // starts 0, 4, 8 (12 + 5 > 14)
    expect([...rows.row(0)]).toEqual([0, 1, 2, 3, 4]);
    expect([...rows.row(1)]).toEqual([4, 5, 6, 7, 8]);
    expect(rows.inputs(2)).toEqual([8, 9, 10, 11]);
    expect(rows.targets(2)).toEqual([9, 10, 11, 12]);
  });

  it("separates documents with EOS (and BOS when asked); stride seqLen + 1 gives disjoint rows", () => {
    const docs = [[1, 2, 3], [4, 5], [6, 7, 8, 9]];
    const rows = packSequences(docs, { seqLen: 3, eos: 0, bos: 99 });
    // stream: 99 1 2 3 0 99 4 5 0 99 6 7 8 9 0  (15 tokens) → starts 0, 3, 6, 9
    expect([...rows.data]).toEqual([99, 1, 2, 3, 3, 0, 99, 4, 4, 5, 0, 99, 99, 6, 7, 8]);
    const disjoint = packSequences(docs, { seqLen: 3, eos: 0, stride: 4 });
    // stream: 1 2 3 0 4 5 0 6 7 8 9 0 (12) → starts 0, 4, 8
    expect([...disjoint.data]).toEqual([1, 2, 3, 0, 4, 5, 0, 6, 7, 8, 9, 0]);
  });

  it("pads the tail on request: padded inputs get padId, their targets are ignored", () => {
    const rows = packSequences([1, 2, 3, 4, 5, 6, 7], { seqLen: 4, remainder: "pad" });
    expect(rows.length).toBe(2);
    expect([...rows.row(1)]).toEqual([5, 6, 7, PAD, PAD]);
    expect(rows.inputs(1, 0)).toEqual([5, 6, 7, 0]);
    expect(rows.targets(1)).toEqual([6, 7, -100, -100]);
    expect(rows.scored(1)).toBe(2);
    expect(packSequences([1, 2, 3, 4, 5, 6, 7], { seqLen: 4 }).length).toBe(1);
  });

  it("rejects ambiguous or invalid input clearly", () => {
    expect(() => packSequences([[1, 2], [3]], { seqLen: 2 })).toThrow(/eos: expected the separator id/);
    expect(() => packSequences([1, -2, 3], { seqLen: 2 })).toThrow(/tokens\[1\]: expected token ids/);
    expect(() => packSequences([1, 2, 70], { seqLen: 2, vocabSize: 64 })).toThrow(/integers in \[0, 64\), got 70/);
    expect(() => packSequences([1, 2, 3], { seqLen: 0 })).toThrow(/seqLen/);
    expect(() => packSequences([1, 2, 3], { seqLen: 2, stride: 4 })).toThrow(/stride/);
  });
});

describe("DataLoader", () => {
  const rows = packSequences(Int32Array.from(range(0, 10 * 5 + 1)), { seqLen: 5 }); // 10 rows
  const firstIds = (b: { inputs: number[][] }) => b.inputs.map((r) => r[0]! / 5);

  it("shuffles each epoch with a seeded PRNG: same seed, same batches; other seed, other order", () => {
    const take = (seed: number, n: number) => {
      const l = new DataLoader(rows, { batchSize: 3, seed });
      return Array.from({ length: n }, () => firstIds(l.next()!));
    };
    const a = take(1, 9);
    expect(take(1, 9)).toEqual(a);
    expect(take(2, 9)).not.toEqual(a);
    // dropLast: 3 batches per epoch, each epoch a different permutation of distinct rows
    const e0 = a.slice(0, 3).flat();
    const e1 = a.slice(3, 6).flat();
    expect(new Set(e0).size).toBe(9);
    expect(new Set(e1).size).toBe(9);
    expect(e0).not.toEqual(e1);
  });

  it("the order is fixed across runs and machines (golden values for seed 0)", () => {
    expect(Array.from(new Rng(0).permutation(10))).toEqual([1, 6, 7, 9, 2, 4, 3, 5, 8, 0]);
    const l = new DataLoader(rows, { batchSize: 4, seed: 0 });
    expect(firstIds(l.next()!)).toEqual([1, 6, 7, 9]);
    const r = new Rng(42);
    expect([r.nextU32(), r.nextU32(), r.int(1000)]).toEqual(GOLDEN_42);
  });

  it("state()/setState() continue exactly where the loader was (mid-epoch and across epochs)", () => {
    const ref = new DataLoader(rows, { batchSize: 3, seed: 5 });
    const all = Array.from({ length: 10 }, () => firstIds(ref.next()!));
    for (const cut of [1, 3, 4, 7]) {
      const l = new DataLoader(rows, { batchSize: 3, seed: 5 });
      for (let i = 0; i < cut; i++) l.next();
      const saved = JSON.parse(JSON.stringify(l.state()));
      const r = new DataLoader(rows, { batchSize: 3, seed: 5 });
      r.setState(saved);
      const rest = Array.from({ length: 10 - cut }, () => firstIds(r.next()!));
      expect(rest).toEqual(all.slice(cut));
    }
    const other = new DataLoader(rows.select([0, 1, 2, 3]), { batchSize: 3, seed: 5 });
    expect(() => other.setState(ref.state())).toThrow(/state.rows: expected 4/);
  });

  it("finite epochs end with null; no shuffle keeps the order; dropLast false yields the tail", () => {
    const l = new DataLoader(rows, { batchSize: 4, shuffle: false, epochs: 2, dropLast: false });
    const got = [...l].map(firstIds);
    expect(got).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9], [0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    expect(l.next()).toBeNull();
    const b = new DataLoader(rows, { batchSize: 4, shuffle: false, epochs: 1 });
    expect([...b].length).toBe(2);
    expect(b.batchesPerEpoch).toBe(2);
    expect(() => new DataLoader(rows, { batchSize: 11 })).toThrow(/batchSize: expected at most the 10 rows/);
  });

  it("batches carry targets shifted by one and their token count", () => {
    const l = new DataLoader(rows, { batchSize: 2, shuffle: false });
    const b = l.next()!;
    expect(b.inputs[1]).toEqual([5, 6, 7, 8, 9]);
    expect(b.targets[1]).toEqual([6, 7, 8, 9, 10]);
    expect(b.tokens).toBe(10);
    const ev = [...orderedBatches(rows, 4)];
    expect(ev.map((x) => x.rows.length)).toEqual([4, 4, 2]);
    expect([...orderedBatches(rows, 4, 1)].length).toBe(1);
  });
});

describe("train/validation splits", () => {
  it("are deterministic for a seed, disjoint, complete, and keep the original order", () => {
    const items = range(0, 100);
    const a = trainValSplit(items, { valFraction: 0.1, seed: 3 });
    expect(a.val.length).toBe(10);
    expect(a.train.length).toBe(90);
    expect([...a.train, ...a.val].sort((x, y) => x - y)).toEqual(items);
    expect(a.val).toEqual([...a.val].sort((x, y) => x - y));
    expect(trainValSplit(items, { valFraction: 0.1, seed: 3 })).toEqual(a);
    expect(trainValSplit(items, { valFraction: 0.1, seed: 4 }).val).not.toEqual(a.val);
    expect(trainValSplit(items, { valCount: 3 }).val.length).toBe(3);
  });

  it("splitRows splits packed rows the same way", () => {
    const rows = packSequences(Int32Array.from(range(0, 41)), { seqLen: 4 }); // 10 rows
    const { train, val } = splitRows(rows, { valFraction: 0.2, seed: 1 });
    expect(train.length).toBe(8);
    expect(val.length).toBe(2);
    const firsts = [...Array(train.length).keys()].map((i) => train.row(i)[0]).concat([...Array(val.length).keys()].map((i) => val.row(i)[0]));
    expect(firsts.sort((x, y) => x! - y!)).toEqual(range(0, 10).map((i) => i * 4));
  });
});
