/**
 * The gates and findings of `ctxwin sft-study` (lib/sft/findings.ts) on synthetic reports whose
 * per-example numbers are built so that each criterion holds, fails, or cannot be tested — and
 * the edges: a gate that fails makes its findings "not testable", missing runs make them
 * "missing", no control set makes a complex task untestable.
 */
import { describe, expect, it } from "vitest";
import { Rng } from "../../dist/util/rng.js";
import { SFT_CRITERIA, computeSftFindings, computeSftGates, decomposeComplex, mixWeights, percentileInterval, subsets, type SftReport, type SftRun, type SftEval } from "../../dist/sft/index.js";
import { getSftPreset } from "../../dist/sft/presets.js";

const L = 2;
const H = 8;
const W = L * H;
const N = 32;

/** Per-example scores: `map` + Gaussian noise of std `noise`. */
function scores(map: number[], noise: number, rng: Rng): number[][] {
  return Array.from({ length: N }, () => map.map((v) => v + noise * rng.normal()));
}

function evalOf(task: string, correct: number, sc: number[][] | null, rng: Rng): SftEval {
  // `correct` of the N examples right (a fraction → that many, in a seeded order)
  const k = Math.round(correct * N);
  const order = Array.from(rng.permutation(N));
  const c = new Array<number>(N).fill(0);
  for (let i = 0; i < k; i++) c[order[i]!] = 1;
  return { task, correct: c, nll: new Array(N).fill(1), tokens: new Array(N).fill(2), scores: sc };
}

function run(id: string, arm: SftRun["arm"], task: string | null, evals: SftEval[], extra: Partial<SftRun> = {}): SftRun {
  return { id, arm, task, examples: 64, steps: 10, seed: 0, mix: null, finalLoss: 0.1, lossCurve: [], seconds: 1, evals, ...extra };
}

interface Spec {
  /** Basic maps after SFT by task (signed); absolute maps use |·| of the same examples. */
  basic: Record<string, number[]>;
  /** Complex task (name a+b) → its map after SFT. */
  complex: Record<string, number[]>;
  /** Maps of the base model per task (default: a concentrated map). */
  before?: (task: string) => number[];
  /** Accuracy after SFT (default 0.8), before (default 0). */
  after?: number;
  /** Budget maps: a mix t·M_max + (1 − t)·M_0 (default 0.9). */
  budgetT?: number;
  /** F4 arms: accuracies per seed. */
  plain?: number[];
  mix?: number[];
  noise?: number;
}

const concentrated = () => Array.from({ length: W }, (_, i) => (i === 0 ? 10 : 0.2));

function report(spec: Spec): SftReport {
  const rng = new Rng(11);
  const noise = spec.noise ?? 0.02;
  const names = [...Object.keys(spec.basic), ...Object.keys(spec.complex)];
  const maps: Record<string, number[]> = { ...spec.basic, ...spec.complex };
  const before = spec.before ?? concentrated;
  const baseEvals = names.map((t) => evalOf(t, 0, scores(before(t), noise, rng), rng));
  const runs: SftRun[] = [run("base", "base", null, baseEvals, { seed: null, examples: 0, steps: 0, finalLoss: null })];
  for (const t of names) runs.push(run(`sft:${t}`, "sft", t, [evalOf(t, spec.after ?? 0.8, scores(maps[t]!, noise, rng), rng)]));
  const bt = spec.budgetT ?? 0.9;
  for (const t of Object.keys(spec.basic)) {
    const m = maps[t]!.map((v, i) => bt * v + (1 - bt) * before(t)[i]!);
    runs.push(run(`budget:${t}:8`, "budget", t, [evalOf(t, 0.5, scores(m, noise, rng), rng)], { examples: 8 }));
  }
  if (spec.plain) {
    for (const t of Object.keys(spec.complex)) {
      spec.plain.forEach((p, s) => {
        runs.push(run(`plain:${t}:${s}`, "plain", t, [evalOf(t, p, null, rng)], { seed: s }));
        runs.push(run(`mix:${t}:${s}`, "mix", t, [evalOf(t, spec.mix![s]!, null, rng)], { seed: s, mix: { weights: t.split("+").map((x) => ({ task: x, weight: 0.5 })), steps: 5, source: "test" } }));
      });
    }
  }
  const preset = getSftPreset("micro");
  preset.resamples = 300;
  return {
    kind: "ctxwin-sft-study",
    schema: 1,
    ctxwin: "test",
    createdAt: "now",
    preset: "micro",
    seed: 0,
    device: "cpu",
    config: { presetSettings: preset, tasks: "synthetic", model: "synthetic", rules: {} },
    environment: { node: "", platform: "", cpu: "", threads: 1 },
    model: { dir: "", pretrainedHere: true, cached: false, modelType: "llama", layers: L, heads: H, kvHeads: H, hiddenSize: 16, vocabSize: 10, parameters: 1, tokenizer: "", pretraining: null },
    corpus: null,
    tasks: names.map((n) => ({
      name: n,
      kind: n.includes("+") ? "complex" : "basic",
      components: n.includes("+") ? n.split("+") : [],
      description: "",
      source: "synthetic",
      train: 64,
      eval: N,
      example: { prompt: "", response: "" },
      majority: { response: "", accuracy: 0.1 },
      tokens: { prompt: 3, response: 2, max: 6 },
    })),
    runs,
    gates: [],
    findings: [],
    deviations: [],
    timings: { totalSeconds: 1, stages: {} },
  };
}

const rnd = (seed: number) => {
  const r = new Rng(seed);
  return Array.from({ length: W }, () => r.normal());
};
const even = (seed: number) => {
  const r = new Rng(seed);
  return Array.from({ length: W }, () => 1 + 0.1 * r.normal());
};
const mixOf = (a: number[], b: number[], ca: number, cb: number) => a.map((v, i) => ca * v + cb * b[i]!);

function verdicts(r: SftReport): Record<string, string> {
  const gates = computeSftGates(r);
  return Object.fromEntries([...gates.map((g) => [g.id, String(g.pass)]), ...computeSftFindings(r, gates).map((f) => [f.id, f.verdict])]);
}

const A = rnd(1);
const B = rnd(2);
const C = rnd(3);
const D = rnd(4);

describe("sft-study findings on synthetic numbers", () => {
  it("reproduces every finding when the numbers show the paper's effects", () => {
    const r = report({
      basic: { a: A, b: B, c: C, d: D },
      complex: { "a+b": mixOf(A, B, 0.6, 0.4) },
      // after SFT the absolute maps are the |·| of random maps: more even than the concentrated base
      plain: [0.3, 0.35, 0.25],
      mix: [0.8, 0.75, 0.85],
    });
    const v = verdicts(r);
    expect(v).toMatchObject({ G1: "true", G2: "true", G3: "true", F1: "reproduced", F2: "reproduced", F3: "reproduced", F4: "reproduced" });
    const f2 = computeSftFindings(r).find((f) => f.id === "F2")!;
    expect(f2.numbers["r2:a+b"]).toBeGreaterThan(0.95);
    expect(f2.text).toContain("controls");
    expect(f2.criterion).toContain("control");
  });

  it("does not reproduce when the numbers contradict the paper", () => {
    const E = rnd(9);
    const r = report({
      basic: { a: A, b: B, c: C, d: D },
      // the complex map is unrelated to its components
      complex: { "a+b": E },
      // after SFT the maps are MORE concentrated than before
      before: (t) => even(t.length),
      budgetT: 0.05,
      plain: [0.5, 0.5, 0.5],
      mix: [0.5, 0.5, 0.5],
    });
    expect(verdicts(r)).toMatchObject({ G1: "true", G2: "true", G3: "true", F1: "not reproduced", F2: "not reproduced", F3: "not reproduced", F4: "not reproduced" });
  });

  it("F2 must beat the controls: a complex map that every pair fits equally is not reproduced", () => {
    // every basic map is close to one shared profile, so the controls fit as well as the components
    const P = rnd(5);
    const near = (s: number) => mixOf(P, rnd(s), 1, 0.15);
    const r = report({ basic: { a: near(1), b: near(2), c: near(3), d: near(4) }, complex: { "a+b": mixOf(near(1), near(2), 0.5, 0.5) } });
    const f2 = computeSftFindings(r).find((f) => f.id === "F2")!;
    // a high R² alone ...
    expect(f2.numbers["r2:a+b"]).toBeGreaterThan(0.9);
    expect(f2.numbers["r2control:a+b"]).toBeGreaterThan(0.8);
    // ... that controls match is not a composition (or the maps are too alike to test it)
    expect(["not reproduced", "not testable"]).toContain(f2.verdict);
  });

  it("makes findings not testable when their gate fails, with the reason", () => {
    // identical basic maps (G2), nothing learned (G1), plain SFT at ceiling (G3)
    const r = report({ basic: { a: A, b: A, c: A, d: A }, complex: { "a+b": A }, after: 0, plain: [1, 1, 1], mix: [1, 1, 1] });
    const v = verdicts(r);
    expect(v).toMatchObject({ G1: "false", G2: "false", G3: "false", F1: "not testable", F2: "not testable", F3: "not testable", F4: "not testable" });
    const f = computeSftFindings(r);
    for (const x of f) expect(x.text).toMatch(/Not testable at this scale: G\d \(.+\) fails/);
  });

  it("F4 needs room: plain SFT above the limit makes it not testable", () => {
    const r = report({ basic: { a: A, b: B, c: C, d: D }, complex: { "a+b": mixOf(A, B, 0.5, 0.5), "c+d": mixOf(C, D, 0.5, 0.5) }, plain: [0.95, 0.95, 0.95], mix: [1, 1, 1] });
    // both complex tasks share the accuracies here, so neither has room
    expect(verdicts(r)).toMatchObject({ G3: "false", F4: "not testable" });
  });

  it("a complex task that composes every basic task has no control set", () => {
    const r = report({ basic: { a: A, b: B }, complex: { "a+b": mixOf(A, B, 0.5, 0.5) } });
    const f2 = computeSftFindings(r).find((f) => f.id === "F2")!;
    expect(f2.verdict).toBe("not testable");
    expect(f2.text).toContain("no control set");
  });

  it("says missing when the runs are not in the report (an interrupted run)", () => {
    const r = report({ basic: { a: A, b: B, c: C }, complex: { "a+b": mixOf(A, B, 0.5, 0.5) } });
    r.runs = r.runs.filter((x) => x.arm === "base");
    const gates = computeSftGates(r);
    expect(gates.map((g) => g.pass)).toEqual([null, null, null]);
    for (const f of computeSftFindings(r, gates)) expect(f.verdict).toBe("missing");
  });

  it("the helpers: decomposition with controls, mix weights, subsets, percentile intervals", () => {
    const maps: Record<string, number[]> = { a: A, b: B, c: C, d: D, "a+b": mixOf(A, B, 3, 1) };
    const d = decomposeComplex("a+b", ["a", "b"], ["a", "b", "c", "d"], (n) => maps[n]!);
    expect(d.r2).toBeCloseTo(1, 6);
    expect(d.coefficients[0]).toBeCloseTo(3, 4);
    expect(d.coefficients[1]).toBeCloseTo(1, 4);
    expect(d.controls.map((c) => c.tasks)).toEqual([["c", "d"]]);
    expect(d.controls[0]!.r2).toBeLessThan(0.5);
    const w = mixWeights(d);
    expect(w.weights.map((x) => x.weight)).toEqual([expect.closeTo(0.75, 4), expect.closeTo(0.25, 4)]);
    expect(mixWeights({ components: ["a", "b"], coefficients: [0, 0] }).weights.map((x) => x.weight)).toEqual([0.5, 0.5]);
    expect(subsets(["a", "b", "c"], 2)).toEqual([["a", "b"], ["a", "c"], ["b", "c"]]);
    expect(subsets(["a", "b", "c", "d", "e"], 2, 3)).toHaveLength(3);
    expect(subsets(["a"], 2)).toEqual([]);
    const iv = percentileInterval(Array.from({ length: 101 }, (_, i) => i), 50);
    expect(iv).toEqual({ mean: 50, lo: 2.5, hi: 97.5 });
    expect(percentileInterval([NaN], 1).lo).toBeNaN();
    expect(SFT_CRITERIA.f2MinR2).toBe(0.5);
  });
});
