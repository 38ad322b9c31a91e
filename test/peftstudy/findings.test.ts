/**
 * lib/peftstudy/findings.ts on synthetic reports: every verdict of every finding is reachable, the
 * intervals are the t intervals over seeds computed here independently, and the probe's length rule.
 */
import { describe, expect, it } from "vitest";
import { computePeftFindings, gateStatistics, PeftEvidence, NONINFERIORITY } from "../../dist/peftstudy/findings.js";
import { variableLengths } from "../../dist/peftstudy/methods.js";
import type { PeftCell, PeftReport } from "../../dist/peftstudy/report_schema.js";
import { XorShift32 } from "../reference/rng.js";

const T975 = [NaN, 12.706, 4.303, 3.182, 2.776]; // t(0.975, df) by df

function cell(task: string, setting: "full" | "few-shot", method: PeftCell["method"], seed: number, score: number | null, gates: number[][] | null = null): PeftCell {
  return {
    id: `${task}/${setting}/${method}/${seed}`, task, setting, method, seed, status: score === null ? "unavailable" : "done", reason: score === null ? "peft: adaptive prefix tuning (APT) is not in this build" : null,
    score, metrics: {}, trainableParameters: 10, totalParameters: 100, trainExamples: 5, steps: 3, seconds: 1, tokensPerSecond: 100, finalLoss: 1, lossCurve: [], prefixLengths: null,
    gates: gates ? { alpha: gates, lambda: gates.map(() => 0.5), mode: "token" } : null, reused: false,
  };
}

function report(cells: PeftCell[], seeds: number[], tasks = ["t1", "t2"]): PeftReport {
  return {
    kind: "ctxwin-peft", schema: 1, ctxwin: "0", createdAt: "", preset: "micro", seeds, device: "cpu",
    config: { presetSettings: {} as never, methods: ["full", "lora", "ptv2", "apt"], tasks, data: [], model: "", rules: {} },
    environment: { node: "", platform: "", cpu: "", threads: 1 },
    backbone: { dir: "", pretrainedHere: false, cached: false, modelType: "bert", layers: 3, hiddenSize: 8, heads: 2, vocabSize: 10, parameters: 1, tokenizer: "", pretraining: null },
    tasks: tasks.map((name) => ({ name, kind: "sequence", source: "", description: "", labels: ["a"], train: 1, test: 1, fewShotTrain: 1, metric: "accuracy", baseline: 0, truncated: { train: 0, test: 0 }, meanLength: 1 })),
    cells, probe: { rule: "", lengths: {} }, findings: [], deviations: [], timings: { totalSeconds: 0, stages: {} },
  };
}

/** APT − PTv2 differences per (task, seed) → cells for setting. */
function pairCells(setting: "full" | "few-shot", diffs: Record<string, number[]>, a: PeftCell["method"] = "apt", b: PeftCell["method"] = "ptv2"): PeftCell[] {
  const out: PeftCell[] = [];
  for (const [task, ds] of Object.entries(diffs)) ds.forEach((d, s) => out.push(cell(task, setting, b, s, 0.5), cell(task, setting, a, s, 0.5 + d)));
  return out;
}

const find = (r: PeftReport, id: string) => computePeftFindings(r).find((f) => f.id === id)!;

describe("finding (a): APT ≥ P-tuning v2", () => {
  it("reproduced: mean ≥ 0 and the lower bound above −1 point; the interval is the t interval over per-seed task means", () => {
    const diffs = { t1: [0.03, 0.05, 0.04], t2: [0.01, 0.03, 0.02] };
    const r = report(pairCells("full", diffs), [0, 1, 2]);
    const f = find(r, "a-full");
    expect(f.verdict).toBe("reproduced");
    const per = [0, 1, 2].map((s) => (diffs.t1[s]! + diffs.t2[s]!) / 2); // 0.02, 0.04, 0.03
    const m = per.reduce((a, b) => a + b) / 3;
    const sd = Math.sqrt(per.reduce((a, x) => a + (x - m) ** 2, 0) / 2);
    const lo = m - (T975[2]! * sd) / Math.sqrt(3);
    expect(f.text).toContain(`+${(100 * m).toFixed(1)} points`);
    expect(f.text).toContain(`[${lo < 0 ? "−" : "+"}${Math.abs(100 * lo).toFixed(1)}`);
    expect(f.text).toMatch(/whole interval is above 0/);
  });

  it("not reproduced when APT is worse (whole interval below 0) or the run cannot tell (wide interval)", () => {
    const worse = find(report(pairCells("full", { t1: [-0.05, -0.06, -0.055], t2: [-0.04, -0.05, -0.045] }), [0, 1, 2]), "a-full");
    expect(worse.verdict).toBe("not reproduced");
    expect(worse.text).toMatch(/APT is worse: the whole interval is below 0/);
    const wide = find(report(pairCells("full", { t1: [0.2, -0.15], t2: [0.1, -0.1] }), [0, 1]), "a-full");
    expect(wide.verdict).toBe("not reproduced");
    expect(wide.text).toMatch(new RegExp(`lower bound is below −${100 * NONINFERIORITY}`));
  });

  it("not testable with one seed, or when APT cells are unavailable; the settings are judged separately", () => {
    const one = report(pairCells("few-shot", { t1: [0.1], t2: [0.1] }), [0]);
    expect(find(one, "a-few-shot").verdict).toBe("not testable");
    expect(find(one, "a-few-shot").text).toMatch(/needs at least 2/);
    expect(find(one, "a-full").verdict).toBe("not testable"); // no full-data cells at all
    const unavailable = report([cell("t1", "full", "ptv2", 0, 0.5), cell("t1", "full", "apt", 0, null), cell("t1", "full", "ptv2", 1, 0.5), cell("t1", "full", "apt", 1, null)], [0, 1], ["t1"]);
    expect(find(unavailable, "a-full").verdict).toBe("not testable");
    expect(find(unavailable, "a-full").text).toMatch(/not in this build/);
  });

  it("not testable when neither method learned the tasks (both near the majority baseline)", () => {
    const r = report(pairCells("full", { t1: [0, 0, 0], t2: [0, 0, 0] }), [0, 1, 2]);
    r.tasks.forEach((t) => (t.baseline = 0.5)); // pairCells scores PTv2 0.5 and APT 0.5 + diff
    const f = find(r, "a-full");
    expect(f.verdict).toBe("not testable");
    expect(f.text).toMatch(/Neither APT nor P-tuning v2 learned the tasks/);
    r.tasks.forEach((t) => (t.baseline = 0.47)); // 3 points above: testable
    expect(find(r, "a-full").verdict).toBe("reproduced");
  });

  it("a seed missing a task is left out of the pairing", () => {
    const cells = pairCells("full", { t1: [0.02, 0.03, 0.04], t2: [0.02, 0.03, 0.04] }).filter((c) => !(c.task === "t2" && c.seed === 2));
    const r = report(cells, [0, 1, 2]);
    expect(find(r, "a-full").text).toMatch(/over 2 seeds/);
  });
});

describe("finding (b): gates differ between layers and tasks", () => {
  const rng = new XorShift32(5);
  /** APT cells with layer profiles `base[task][layer]` + noise per seed (4 prefix tokens). */
  const gateCells = (base: Record<string, number[]>, noise: number, seeds: number) =>
    Object.entries(base).flatMap(([task, prof]) => Array.from({ length: seeds }, (_, s) => cell(task, "full", "apt", s, 0.5, prof.map((p) => Array.from({ length: 4 }, () => p + noise * (rng.next() - 0.5))))));

  it("reproduced when layers differ beyond seed noise and tasks differ more than seeds", () => {
    const r = report(gateCells({ t1: [0.2, 0.5, 0.8], t2: [0.8, 0.5, 0.2] }, 0.02, 3), [0, 1, 2]);
    expect(find(r, "b").verdict).toBe("reproduced");
    const st = gateStatistics(new PeftEvidence(r));
    expect(st.layers.every((x) => x.ratio > 2)).toBe(true);
    expect(st.tasks!.ratio).toBeGreaterThan(1.5);
  });

  it("not reproduced when the profiles are flat (layers within seed noise) or the tasks share one profile", () => {
    const flat = report(gateCells({ t1: [0.5, 0.5, 0.5], t2: [0.2, 0.2, 0.2] }, 0.2, 3), [0, 1, 2]);
    expect(find(flat, "b").verdict).toBe("not reproduced");
    const same = report(gateCells({ t1: [0.2, 0.5, 0.8], t2: [0.2, 0.5, 0.8] }, 0.05, 3), [0, 1, 2]);
    expect(find(same, "b").verdict).toBe("not reproduced");
    expect(find(same, "b").text).toMatch(/Tasks: .* fails/);
  });

  it("the statistics match a direct computation", () => {
    const a = [[0.1, 0.3], [0.5, 0.7]]; // seed 0 layer profile [0.2, 0.6]
    const b = [[0.3, 0.5], [0.5, 0.5]]; // seed 1 layer profile [0.4, 0.5]
    const r = report([cell("t1", "full", "apt", 0, 0.5, a), cell("t1", "full", "apt", 1, 0.5, b)], [0, 1], ["t1"]);
    const st = gateStatistics(new PeftEvidence(r));
    const m = [0.3, 0.55];
    const spread = Math.sqrt((m[0]! - 0.425) ** 2 + (m[1]! - 0.425) ** 2); // sd over 2 layers (n − 1 = 1)
    const noise = Math.sqrt(((0.2 - 0.3) ** 2 * 2 + (0.6 - 0.55) ** 2 * 2) / 2 / 2); // mean over layers of var (n−1 = 1), / S
    expect(st.layers[0]!.spread).toBeCloseTo(spread, 10);
    expect(st.layers[0]!.noise).toBeCloseTo(noise, 10);
    expect(find(r, "b").verdict).toBe("not testable"); // one task
  });

  it("not testable without gates or with one seed", () => {
    expect(find(report([cell("t1", "full", "apt", 0, null)], [0], ["t1"]), "b").verdict).toBe("not testable");
    expect(find(report(gateCells({ t1: [0.2, 0.5], t2: [0.5, 0.2] }, 0.01, 1), [0]), "b").verdict).toBe("not testable");
  });
});

describe("finding (c) and the probe's lengths", () => {
  it("variable vs uniform prefix uses the criterion of (a)", () => {
    expect(find(report(pairCells("full", { t1: [0.02, 0.03, 0.025], t2: [0.01, 0.02, 0.015] }, "ptv2-variable", "ptv2"), [0, 1, 2]), "c").verdict).toBe("reproduced");
    expect(find(report(pairCells("full", { t1: [-0.1, -0.12, -0.11], t2: [-0.1, -0.12, -0.11] }, "ptv2-variable", "ptv2"), [0, 1, 2]), "c").verdict).toBe("not reproduced");
    expect(find(report(pairCells("full", { t1: [0.02, 0.03] }, "apt", "ptv2"), [0, 1], ["t1"]), "c").verdict).toBe("not testable");
  });

  it("variableLengths: proportional to the weights, the same total, at least 1 per layer, largest remainder", () => {
    expect(variableLengths([1, 1, 1, 1], 32)).toEqual([8, 8, 8, 8]);
    expect(variableLengths([0.1, 0.3, 0.6], 13)).toEqual([2, 4, 7]); // 1 + floor(10·w) = 2, 4, 7
    expect(variableLengths([0, 0, 1], 9)).toEqual([1, 1, 7]);
    expect(variableLengths([0.5, 0.5], 5)).toEqual([3, 2]); // tie: the lower layer gets the rounding
    const rng = new XorShift32(9);
    for (let i = 0; i < 100; i++) {
      const L = 1 + rng.int(8);
      const w = Array.from({ length: L }, () => rng.next());
      const total = L + rng.int(40);
      const got = variableLengths(w, total);
      expect(got.reduce((a, b) => a + b)).toBe(total);
      expect(Math.min(...got)).toBeGreaterThanOrEqual(1);
      const sum = w.reduce((a, b) => a + b);
      got.forEach((n, l) => expect(Math.abs(n - 1 - ((total - L) * w[l]!) / sum)).toBeLessThan(1 + 1e-9));
    }
    expect(() => variableLengths([1, 1, 1], 2)).toThrow(/below one token per layer/);
  });
});
