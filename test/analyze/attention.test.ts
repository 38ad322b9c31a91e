/**
 * Attention sinks and decay on hand-built attention maps (uniform causal, all on the first token,
 * exponential decay with distance, a sliding window), and the probabilities read back from the
 * attention kernel (one-hot values) against softmax(q·kᵀ) computed here — without positional
 * encoding and with ALiBi (whose bias is simple enough to write down) — and through a model's
 * `qk` hook.
 */
import { describe, expect, it } from "vitest";
import { Tensor, alibiSlopes, createModel, defaultDevice, memory, synchronize } from "ctxwin";
import { Rng } from "../../dist/util/rng.js";
import { AttentionStats, decayCurve, distanceEdges, layerSinkMass, meanAttention, uniformSinkShare } from "../../dist/analyze/attention_stats.js";
import { attentionProbabilities, type ProbabilityBlock } from "../../dist/analyze/attention_probs.js";
import { collectRun } from "../../dist/analyze/collect.js";

/** A map P[i][j] (rows normalised) as key blocks of `width`, for H identical heads and B sequences. */
function blocks(P: number[][], width: number, H = 2, B = 1): ProbabilityBlock[] {
  const T = P.length;
  const out: ProbabilityBlock[] = [];
  for (let s = 0; s < T; s += width) {
    const keys = Math.min(width, T - s);
    const data = new Float32Array(B * T * H * width);
    for (let b = 0; b < B; b++) for (let i = 0; i < T; i++) for (let h = 0; h < H; h++) for (let m = 0; m < keys; m++) data[((b * T + i) * H + h) * width + m] = P[i]![s + m]!;
    out.push({ B, Tq: T, heads: H, keyStart: s, keys, width, data });
  }
  return out;
}

function normalised(T: number, w: (i: number, j: number) => number): number[][] {
  return Array.from({ length: T }, (_, i) => {
    const row = Array.from({ length: T }, (_, j) => (j <= i ? w(i, j) : 0));
    const s = row.reduce((a, b) => a + b, 0);
    return row.map((x) => x / s);
  });
}

describe("sink and decay statistics", () => {
  const T = 32;
  const K = 4;
  const ranges = [{ name: "late", lo: 16, hi: 32 }];

  it("uniform causal attention: sink mass = the uniform share, flat decay", () => {
    const st = new AttentionStats(1, 2, { sinkTokens: K, ranges, maxDistance: T });
    for (const b of blocks(normalised(T, () => 1), 8, 2, 3)) st.add(0, b);
    const [r] = st.finish();
    let want = 0;
    for (let i = 16; i < 32; i++) want += K / (i + 1);
    want /= 16;
    expect(r!.queries[0]).toBe(3 * 16);
    expect(r!.sinkMass[0]![0]).toBeCloseTo(want, 6);
    expect(r!.sinkMass[0]![1]).toBeCloseTo(want, 6);
    expect(r!.sinkBaseline[0]).toBeCloseTo(want, 12);
    // per-key attention at distance δ is the mean of 1/(i+1) over queries that have a key (≥ K) there
    const near = meanAttention(r!, 0, 1, 4)!;
    const far = meanAttention(r!, 0, 8, 16)!;
    expect(near / far).toBeGreaterThan(0.9);
    expect(near / far).toBeLessThan(1.1);
  });

  it("all attention on the first token: sink mass 1, no decay mass", () => {
    const st = new AttentionStats(2, 2, { sinkTokens: K, ranges, maxDistance: T });
    for (const b of blocks(normalised(T, (_i, j) => (j === 0 ? 1 : 0)), 16)) st.add(1, b);
    const [r] = st.finish();
    expect(layerSinkMass(r!, 1)).toBeCloseTo(1, 6);
    expect(layerSinkMass(r!, 0)).toBeNull(); // layer 0 never added
    expect(meanAttention(r!, 1, 1, 32)).toBe(0);
  });

  it("attention ∝ exp(−δ/τ) away from the sinks: the near/far ratio and the log-2 curve", () => {
    const tau = 3;
    const P = normalised(T, (i, j) => (j < K ? 0 : Math.exp(-(i - j) / tau)));
    const st = new AttentionStats(1, 1, { sinkTokens: K, ranges, maxDistance: T });
    for (const b of blocks(P, 5, 1)) st.add(0, b);
    const [r] = st.finish();
    expect(layerSinkMass(r!, 0)).toBeCloseTo(0, 9);
    // by hand: mean over the range's queries and over distances [dLo, dHi) of P[i][i − δ]
    const byHand = (dLo: number, dHi: number) => {
      let s = 0;
      let n = 0;
      for (let i = 16; i < 32; i++) for (let dd = dLo; dd < dHi; dd++) if (i - dd >= K) (s += P[i]![i - dd]!), n++;
      return s / n;
    };
    expect(meanAttention(r!, 0, 1, 4)).toBeCloseTo(byHand(1, 4), 7);
    expect(meanAttention(r!, 0, 4, 8)).toBeCloseTo(byHand(4, 8), 7);
    const edges = distanceEdges(T);
    expect(edges).toEqual([0, 1, 2, 4, 8, 16, 32]);
    const curve = decayCurve(r!, edges)[0]!;
    for (let b = 1; b < curve.length - 1; b++) expect(curve[b]!).toBeGreaterThan(curve[b + 1] ?? 0);
  });

  it("the uniform share respects a sliding window", () => {
    expect(uniformSinkShare(10, 4, 0)).toBeCloseTo(4 / 11, 12);
    expect(uniformSinkShare(10, 4, 8)).toBeCloseTo(1 / 8, 12); // keys 3..10: only key 3 is among the first 4
    expect(uniformSinkShare(11, 4, 8)).toBe(0); // keys 4..11
    expect(uniformSinkShare(9, 4, 8)).toBeCloseTo(2 / 8, 12); // keys 2..9: 2, 3 are among the first 4
    expect(uniformSinkShare(2, 4, 8)).toBe(1);
  });
});

function softmaxRef(q: Float32Array, k: Float32Array, T: number, H: number, D: number, bias: (h: number, i: number, j: number) => number, Hkv = H): number[][][] {
  const out: number[][][] = [];
  for (let h = 0; h < H; h++) {
    const rows: number[][] = [];
    for (let i = 0; i < T; i++) {
      const s: number[] = [];
      for (let j = 0; j <= i; j++) {
        let dot = 0;
        const g = Math.floor(h / (H / Hkv));
        for (let c = 0; c < D; c++) dot += q[(i * H + h) * D + c]! * k[(j * Hkv + g) * D + c]!;
        s.push(dot / Math.sqrt(D) + bias(h, i, j));
      }
      const m = Math.max(...s);
      const e = s.map((x) => Math.exp(x - m));
      const z = e.reduce((a, b) => a + b, 0);
      rows.push([...e.map((x) => x / z), ...new Array(T - 1 - i).fill(0)]);
    }
    out.push(rows);
  }
  return out;
}

describe("attention probabilities from the kernel", () => {
  const T = 19;
  const H = 2;
  const D = 8;
  const rng = new Rng(3);
  const q = new Float32Array(T * H * D).map(() => rng.normal());
  const k = new Float32Array(T * H * D).map(() => rng.normal());
  const slopes = alibiSlopes(H);
  for (const [name, opts, bias] of [
    ["no positional encoding", { causal: true }, () => 0],
    ["ALiBi", { causal: true, positional: { type: "alibi" } }, (h: number, i: number, j: number) => -slopes[h]! * (i - j)],
  ] as const) {
    it(`match softmax(q·kᵀ/√D) computed here (${name}; ${Math.ceil(T / D)} key blocks, the last partial)`, () => {
      const qt = Tensor.from(q, [1, T, H, D]);
      const kt = Tensor.from(k, [1, T, H, D]);
      const ref = softmaxRef(q, k, T, H, D, bias);
      let worst = 0;
      const seen = new Set<number>();
      attentionProbabilities(qt, kt, opts, (b) => {
        seen.add(b.keyStart);
        for (let i = 0; i < T; i++) for (let h = 0; h < H; h++) for (let m = 0; m < b.keys; m++) worst = Math.max(worst, Math.abs(b.data[(i * H + h) * b.width + m]! - ref[h]![i]![b.keyStart + m]!));
      });
      qt.dispose();
      kt.dispose();
      expect([...seen]).toEqual([0, 8, 16]);
      expect(worst).toBeLessThan(2e-6);
    });
  }

  it("grouped-query attention: query head h reads key head ⌊h / (Hq / Hkv)⌋", () => {
    const Hq = 4;
    const q4 = new Float32Array(T * Hq * D).map(() => rng.normal());
    const qt = Tensor.from(q4, [1, T, Hq, D]);
    const kt = Tensor.from(k, [1, T, H, D]);
    const ref = softmaxRef(q4, k, T, Hq, D, () => 0, H);
    let worst = 0;
    attentionProbabilities(qt, kt, { causal: true }, (b) => {
      expect(b.heads).toBe(Hq);
      for (let i = 0; i < T; i++) for (let h = 0; h < Hq; h++) for (let m = 0; m < b.keys; m++) worst = Math.max(worst, Math.abs(b.data[(i * Hq + h) * b.width + m]! - ref[h]![i]![b.keyStart + m]!));
    });
    qt.dispose();
    kt.dispose();
    expect(worst).toBeLessThan(2e-6);
  });

  it("through a model's qk hook: every layer, rows summing to 1, windows honoured", async () => {
    const model = createModel({ family: "llama", vocabSize: 40, hiddenSize: 16, numLayers: 2, numHeads: 2, positional: { type: "none" }, windows: [0, 5], maxPositions: 16 }, { seed: 2 });
    const ids = [Array.from({ length: 12 }, (_, i) => (i * 7) % 40)];
    const sums = new Map<string, number>();
    let beyondWindow = 0;
    const res = await collectRun(model, {
      windows: ids,
      attentionRows: 1,
      ranges: [{ name: "all", lo: 0, hi: 12 }],
      sinkTokens: 2,
      batch: 1,
      forward: {
        hooks: {
          qk: (l, q2, k2, o) =>
            attentionProbabilities(q2, k2, o, (b) => {
              for (let i = 0; i < 12; i++)
                for (let h = 0; h < 2; h++)
                  for (let m = 0; m < b.keys; m++) {
                    const key = `${l}/${i}/${h}`;
                    const p = b.data[(i * 2 + h) * b.width + m]!;
                    sums.set(key, (sums.get(key) ?? 0) + p);
                    if (l === 1 && i - (b.keyStart + m) >= 5) beyondWindow += p;
                  }
            }),
        },
      },
    });
    model.dispose();
    expect(sums.size).toBe(2 * 12 * 2);
    for (const s of sums.values()) expect(s).toBeCloseTo(1, 5);
    expect(beyondWindow).toBe(0);
    // the collector's own statistics saw both layers, and layer 1's window (5) in its baseline
    const r = res.attention![0]!;
    expect(r.queries).toEqual([12, 12]);
    expect(r.sinkBaseline[1]).toBeCloseTo(Array.from({ length: 12 }, (_, i) => uniformSinkShare(i, 2, 5)).reduce((a, b) => a + b, 0) / 12, 12);
    expect(res.estimate.samples).toBe(1);
    expect(res.estimate.layers).toBe(3);
  });

  it("collectRun leaves no tensor behind: after a run, and when a hook throws part-way", async () => {
    const live = async () => (await synchronize(), memory()[defaultDevice()]?.tensors ?? 0);
    const model = createModel({ family: "llama", vocabSize: 40, hiddenSize: 16, numLayers: 2, numHeads: 2, positional: { type: "rope", theta: 10000 }, maxPositions: 16 }, { seed: 3 });
    const windows = Array.from({ length: 3 }, (_, b) => Array.from({ length: 10 }, (_, i) => (i * 5 + b) % 40));
    const run = { windows, attentionRows: 2, ranges: [{ name: "all", lo: 0, hi: 10 }], sinkTokens: 2, batch: 2 };
    const before = await live();
    await collectRun(model, run);
    expect(await live()).toBe(before);
    const boom = (l: number) => {
      if (l === 1) throw new Error("boom");
    };
    await expect(collectRun(model, { ...run, forward: { hooks: { qk: boom } } })).rejects.toThrow("boom");
    expect(await live()).toBe(before);
    model.dispose();
  });
});
