/**
 * The observations' fixed criteria on hand-made numbers: each verdict flips exactly at its stated
 * threshold, "not testable" says why, and the OOD verdict depends on the model's kind as the paper
 * reports (NoPE/RoPE out of distribution past L, ALiBi/window in distribution).
 */
import { describe, expect, it } from "vitest";
import { CRITERIA, computeObservations } from "../../dist/analyze/observations.js";
import type { PositionalReport } from "../../dist/analyze/positional_schema.js";

type Input = Parameters<typeof computeObservations>[0];

function input(o: { kind?: PositionalReport["model"]["kind"]; S?: number[]; anchor?: number; sink?: number; uniform?: number; near?: number; far?: number; D?: number; Din?: number; noise?: number; L?: number; methodD?: number } = {}): Input {
  const L = o.L ?? 64;
  const T = 4 * L;
  const S = o.S ?? [1, 20, 30, 30, 30];
  const layers = S.map((s, l) => ({
    layer: l,
    signal: s,
    meanNorm: 1,
    anchorScores: [o.anchor ?? 5, 1, 1, 1],
    spread: 1,
    radius: 1,
    similarity: [],
    stepChange: [],
    ood: [],
    oodInRange: o.Din ?? 0.1,
    oodBeyond: [{ length: T, mean: o.D ?? 1 }],
    noiseFloor: o.noise ?? 0.1,
  }));
  const att = (name: string) => ({
    name,
    lo: 32,
    hi: 64,
    queries: [8, 8, 8, 8],
    sinkMass: [0, 1, 2, 3].map(() => [o.sink ?? 0.6, o.sink ?? 0.6]),
    sinkBaseline: [0, 1, 2, 3].map(() => o.uniform ?? 0.085),
    decay: [],
    near: [0, 1, 2, 3].map(() => o.near ?? 0.05),
    far: [0, 1, 2, 3].map(() => o.far ?? 0.01),
  });
  return {
    trainLength: L,
    lengths: [L, 2 * L, T],
    model: { dir: null, kind: o.kind ?? "nope", kindSource: "given", family: "llama", modelType: "llama", positional: "none", window: null, layers: 4, hiddenSize: 8, heads: 2, kvHeads: 2, headDim: 4, params: 1 },
    settings: { samples: 64, attentionSamples: 8, seed: 0, anchors: 4, pcaFrom: 4, pcaLayers: [], similarityPositions: [], bucketWidth: 4, distanceEdges: [] },
    base: { layers, run: { length: T, samples: 64, attentionSamples: 8, seconds: 1, attention: [att("sink"), att("trained")] } },
    methods:
      o.methodD === undefined
        ? []
        : [{ id: "nope-pv-r4", label: "PV", description: "", seed: "001", params: {}, paramSources: {}, lengths: [{ length: T, samples: 64, attentionSamples: 8, seconds: 1, attention: null, oodBeyond: [0, o.methodD, o.methodD, o.methodD, o.methodD], ood: [], oodInRange: [], pca: [] }] }],
  };
}

const verdict = (i: Input, id: string) => computeObservations(i).find((x) => x.id === id)!;

describe("observations under fixed criteria", () => {
  it("formation: S(0) < 2 and max(S(1), S(2)) ≥ 10", () => {
    expect(verdict(input({ S: [1, 10, 3, 3, 3] }), "formation").verdict).toBe("holds");
    expect(verdict(input({ S: [1, 9.99, 3, 3, 3] }), "formation").verdict).toBe("does not hold");
    expect(verdict(input({ S: [2, 30, 30, 30, 30] }), "formation").verdict).toBe("does not hold");
  });

  it("anchors: mean over layers ≥ 1 of max a ≥ 3", () => {
    expect(verdict(input({ anchor: 3 }), "anchors").verdict).toBe("holds");
    expect(verdict(input({ anchor: 2.99 }), "anchors").verdict).toBe("does not hold");
  });

  it("sinks: mass ≥ 5 × uniform; not testable when 5 × uniform ≥ 1", () => {
    expect(verdict(input({ sink: 0.625, uniform: 0.125 }), "sinks").verdict).toBe("holds");
    expect(verdict(input({ sink: 0.624, uniform: 0.125 }), "sinks").verdict).toBe("does not hold");
    const w = verdict(input({ sink: 0.9, uniform: 0.2 }), "sinks");
    expect(w.verdict).toBe("not testable");
    expect(w.measured).toMatch(/is ≥ 1, so no attention pattern could satisfy it/);
  });

  it("decay: near ≥ 2 × far; not testable when L < 32", () => {
    expect(verdict(input({ near: 0.02, far: 0.01 }), "decay").verdict).toBe("holds");
    expect(verdict(input({ near: 0.0199, far: 0.01 }), "decay").verdict).toBe("does not hold");
    expect(verdict(input({ L: 16 }), "decay").verdict).toBe("not testable");
  });

  it("ood: D ≥ 3 D_in is out of distribution, which holds for NoPE/RoPE and not for ALiBi/window", () => {
    expect(CRITERIA.ood.ratioAtLeast).toBe(3);
    for (const kind of ["nope", "rope"] as const) {
      expect(verdict(input({ kind, D: 0.375, Din: 0.125 }), "ood").verdict).toBe("holds");
      expect(verdict(input({ kind, D: 0.374, Din: 0.125 }), "ood").verdict).toBe("does not hold");
    }
    for (const kind of ["alibi", "window"] as const) {
      expect(verdict(input({ kind, D: 0.374, Din: 0.125 }), "ood").verdict).toBe("holds");
      expect(verdict(input({ kind, D: 0.375, Din: 0.125 }), "ood").verdict).toBe("does not hold");
    }
    expect(verdict(input({ noise: 0.6 }), "ood").verdict).toBe("not testable");
  });

  it("interpolation: a method must halve D; not testable when the model as trained is in distribution", () => {
    expect(verdict(input({ D: 1, Din: 0.125, methodD: 0.5 }), "interpolation").verdict).toBe("holds");
    expect(verdict(input({ D: 1, Din: 0.125, methodD: 0.51 }), "interpolation").verdict).toBe("does not hold");
    expect(verdict(input({ D: 0.2, Din: 0.1, methodD: 0.05 }), "interpolation").verdict).toBe("not testable");
  });
});
