/**
 * Task metrics against hand-computed values and seqeval's documented examples (its README:
 * f1_score of the MISC/PER example is 0.5), plus the chunking rules one by one.
 */
import { describe, expect, it } from "vitest";
import { accuracy, macroF1, spanF1, spans } from "../../dist/tasks/metrics.js";

describe("classification metrics", () => {
  it("accuracy", () => {
    expect(accuracy([1, 2, 3, 4], [1, 2, 0, 4])).toBe(0.75);
    expect(accuracy(["a"], ["a"])).toBe(1);
  });
  it("macro-F1 as scikit-learn computes it", () => {
    // gold a a b c, pred a b b b: a P=1 R=.5 F=2/3; b P=1/3 R=1 F=.5; c P=0 R=0 F=0
    const r = macroF1(["a", "a", "b", "c"], ["a", "b", "b", "b"]);
    expect(r.macroF1).toBeCloseTo((2 / 3 + 0.5 + 0) / 3, 12);
    expect(r.classes.find((c) => c.label === "b")).toMatchObject({ precision: 1 / 3, recall: 1, support: 1 });
    // a class only predicted counts too (sklearn: labels = union)
    expect(macroF1([0, 0], [0, 1]).classes.map((c) => c.label)).toEqual([0, 1]);
    expect(macroF1([0, 0], [0, 1]).macroF1).toBeCloseTo((2 / 3 + 0) / 2, 12);
  });
  it("bad input is a clear error", () => {
    expect(() => accuracy([1, 2], [1])).toThrow(/accuracy: pred: expected 2 labels \(as gold\), got 1/);
    expect(() => macroF1([], [])).toThrow(/macroF1: gold: expected at least one label/);
  });
});

describe("span F1 (seqeval semantics)", () => {
  it("seqeval's README example", () => {
    const gold = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]];
    const pred = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]];
    const r = spanF1(gold, pred);
    expect(r).toMatchObject({ gold: 2, predicted: 2, correct: 1, precision: 0.5, recall: 0.5, f1: 0.5 });
  });
  it("chunking: I- after O or another type starts a chunk; B- always does; types split chunks", () => {
    expect(spans([["I-PER", "I-PER", "O"]])).toEqual([{ type: "PER", start: 0, end: 1 }]);
    expect(spans([["B-PER", "B-PER", "I-PER"]])).toEqual([
      { type: "PER", start: 0, end: 0 },
      { type: "PER", start: 1, end: 2 },
    ]);
    expect(spans([["B-PER", "I-LOC", "I-LOC"]])).toEqual([
      { type: "PER", start: 0, end: 0 },
      { type: "LOC", start: 1, end: 2 },
    ]);
    // sentences do not run into each other (an O between them), positions are flattened
    expect(spans([["B-X"], ["I-X"]])).toEqual([
      { type: "X", start: 0, end: 0 },
      { type: "X", start: 2, end: 2 },
    ]);
    // IOBES
    expect(spans([["S-A", "B-B", "E-B", "O"]])).toEqual([
      { type: "A", start: 0, end: 0 },
      { type: "B", start: 1, end: 2 },
    ]);
  });
  it("no predicted chunks: precision 0, recall 0, F1 0; perfect: 1", () => {
    expect(spanF1([["B-A", "O"]], [["O", "O"]])).toMatchObject({ precision: 0, recall: 0, f1: 0 });
    expect(spanF1([["B-A", "I-A"]], [["B-A", "I-A"]]).f1).toBe(1);
  });
  it("bad input is a clear error", () => {
    expect(() => spanF1([["O"]], [["O", "O"]])).toThrow(/spanF1: pred\[0\]: expected 1 tags \(as gold\[0\]\), got 2/);
    expect(() => spans([[3 as never]])).toThrow(/spans: tag 0: expected a string/);
  });
});
