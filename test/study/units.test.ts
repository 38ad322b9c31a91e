/**
 * Study building blocks: passkey construction and scoring, positional-vector replacement
 * (interpolation by hand, identity at α = 1 and T = L), window extension reaching the attention
 * kernel call, the dynamic-YaRN factor, the training schedule.
 */
import { describe, expect, it } from "vitest";
import { createModel } from "../../dist/models/index.js";
import { byteTokenizer, trainBpe } from "../../dist/models/tokenizer/index.js";
import { Rng } from "../../dist/nn/index.js";
import type { AttentionOptions } from "../../dist/attention.js";
import {
  buildPasskey,
  chooseTemplate,
  distractors,
  scorePasskey,
  PASSKEY_TEMPLATES,
  interpolationSources,
  interpolateVectors,
  replacementDelta,
  replacementHook,
  computePositionalVectors,
  windowExtension,
  dynamicYarnFactor,
  studyMethods,
  type PositionalVectors,
} from "../../dist/study/index.js";

const byteTok = byteTokenizer({ specialTokens: ["<|endoftext|>"], eosToken: "<|endoftext|>" });
const bpeTok = trainBpe(
  [
    "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. ".repeat(20),
    "What is the pass key? The pass key is 1234. Remember it. There is an important info hidden inside a lot of irrelevant text.",
  ],
  { vocabSize: 320, specialTokens: ["<|endoftext|>"], eosToken: "<|endoftext|>" },
);

function toyModel(opts: { positional?: { type: "none" } | { type: "rope" }; windows?: number[]; vocab?: number; seed?: number } = {}) {
  return createModel(
    {
      vocabSize: opts.vocab ?? 260,
      hiddenSize: 16,
      numLayers: 2,
      numHeads: 2,
      positional: opts.positional ?? { type: "none" },
      tieWordEmbeddings: true,
      initializerRange: 0.2,
      ...(opts.windows ? { windows: opts.windows } : {}),
    },
    { seed: opts.seed ?? 3 },
  );
}

describe("passkey construction", () => {
  for (const [name, tok] of [
    ["bytes", byteTok],
    ["bpe", bpeTok],
  ] as const) {
    for (const template of PASSKEY_TEMPLATES) {
      it(`${name}, ${template.name}: exact length, key at the requested depth, answer last`, () => {
        const enc = (s: string) => tok.encode(s, { addSpecialTokens: false });
        for (const length of [300, 517, 900]) {
          for (const depth of [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1]) {
            const key = "4817";
            const p = buildPasskey(tok, { length, depth, key, template });
            expect(p.ids.length).toBe(length);
            expect(p.promptLength + p.answer.length).toBe(length);
            expect(p.answer).toEqual(enc(` ${key}`));
            expect(p.ids.slice(p.promptLength)).toEqual(p.answer);
            const keySent = enc(template.key(key));
            expect(p.ids.slice(p.keyStart, p.keyStart + keySent.length)).toEqual(keySent);
            expect(tok.decode(p.ids.slice(p.keyStart, p.keyStart + keySent.length))).toBe(template.key(key));
            // the prompt ends with the question
            const q = enc(template.question);
            expect(p.ids.slice(p.promptLength - q.length, p.promptLength)).toEqual(q);
            // depth: the key sits at the filler-sentence boundary nearest to depth · filler
            const S = enc(template.filler).length;
            expect(p.keyStart - p.fillerStart).toBe(p.fillerBefore);
            expect(Math.abs(p.fillerBefore - depth * p.fillerTokens)).toBeLessThanOrEqual(S / 2);
            if (depth === 0) expect(p.keyStart).toBe(p.fillerStart);
            if (depth === 1) expect(p.keyStart + keySent.length).toBe(p.promptLength - q.length);
            // the key occurs in the prompt only inside the key sentence
            const text = tok.decode(p.ids.slice(0, p.promptLength));
            expect(text.split(key).length - 1).toBe(template.name === "full" ? 2 : 1);
          }
        }
      });
    }
  }

  it("chooses the richest template that fits and errors when none does", () => {
    expect(chooseTemplate(bpeTok, 512, 4).name).toBe("full");
    expect(chooseTemplate(byteTok, 32, 2).name).toBe("tiny");
    expect(() => chooseTemplate(byteTok, 12, 2)).toThrow(/passkey/);
    expect(() => buildPasskey(byteTok, { length: 20, depth: 0.5, key: "12", template: PASSKEY_TEMPLATES[0] })).toThrow(/at least/);
  });

  it("distractors: distinct keys with the key's token count", () => {
    const rng = new Rng(5);
    const d = distractors(bpeTok, "4817", 9, rng);
    expect(d.length).toBe(9);
    const want = bpeTok.encode(" 4817", { addSpecialTokens: false }).length;
    const texts = new Set(d.map((ids) => bpeTok.decode(ids)));
    expect(texts.size).toBe(9);
    expect(texts.has(" 4817")).toBe(false);
    for (const ids of d) expect(ids.length).toBe(want);
  });

  it("scorePasskey (cached prompt, batched candidates) equals full-forward log-likelihoods", async () => {
    const model = toyModel({ positional: { type: "rope" } });
    const p = buildPasskey(byteTok, { length: 64, depth: 0.5, key: "381", template: PASSKEY_TEMPLATES[2] });
    const others = distractors(byteTok, "381", 3, new Rng(1));
    const sc = await scorePasskey(model, p, others, {});
    expect(sc.logLikelihoods.length).toBe(4);
    const prompt = p.ids.slice(0, p.promptLength);
    for (const [c, ans] of [p.answer, ...others].entries()) {
      const seq = [...prompt, ...ans];
      const logits = await model.forward([seq]);
      const d = await logits.data();
      logits.dispose();
      const V = model.config.vocabSize;
      let ll = 0;
      for (let j = 0; j < ans.length; j++) {
        const off = (prompt.length - 1 + j) * V;
        let m = -Infinity;
        for (let i = 0; i < V; i++) m = Math.max(m, d[off + i]!);
        let s = 0;
        for (let i = 0; i < V; i++) s += Math.exp(d[off + i]! - m);
        ll += d[off + ans[j]!]! - m - Math.log(s);
      }
      expect(sc.logLikelihoods[c]).toBeCloseTo(ll, 3);
    }
    expect(sc.correct).toBe(sc.logLikelihoods.slice(1).every((x) => sc.logLikelihoods[0]! > x));
    model.dispose();
  });
});

describe("positional vector replacement", () => {
  it("interpolation sources and vectors on a hand example", () => {
    // L = 8, T = 14, keep 4: s(t) = 4 + (t − 4) · 3/9
    const s = interpolationSources(8, 14, 4);
    expect(Array.from(s.slice(0, 4))).toEqual([0, 1, 2, 3]);
    expect(s[4]).toBeCloseTo(4, 12);
    expect(s[5]).toBeCloseTo(4 + 1 / 3, 12);
    expect(s[7]).toBeCloseTo(5, 12);
    expect(s[13]).toBeCloseTo(7, 12);
    // p_t = (t², −t) in 2 dims
    const p = new Float32Array(16);
    for (let t = 0; t < 8; t++) {
      p[2 * t] = t * t;
      p[2 * t + 1] = -t;
    }
    const hat = interpolateVectors(p, 2, 8, 14, 4);
    expect(hat.length).toBe(28);
    expect(hat[2 * 2]).toBe(4); // kept
    expect(hat[2 * 5]).toBeCloseTo((2 / 3) * 16 + (1 / 3) * 25, 5); // between p4 and p5
    expect(hat[2 * 5 + 1]).toBeCloseTo(-(4 + 1 / 3), 5);
    expect(hat[2 * 7]).toBeCloseTo(25, 5);
    expect(hat[2 * 13]).toBeCloseTo(49, 5);
    // same length: the identity
    expect(Array.from(interpolateVectors(p, 2, 8, 8, 4))).toEqual(Array.from(p));
  });

  it("delta: α·p̂ − p past the kept tokens, zero before", () => {
    const L = 6;
    const T = 11;
    const d = 3;
    const vec = new Float32Array(T * d);
    for (let i = 0; i < vec.length; i++) vec[i] = Math.sin(i) * 3;
    const pv: PositionalVectors = { layers: 2, length: T, dim: d, samples: 1, vectors: [new Float32Array(T * d), vec] };
    const delta = replacementDelta(pv, { layer: 1, alpha: 1.3, trainLength: L, targetLength: T, keep: 2 });
    const hat = interpolateVectors(vec, d, L, T, 2);
    for (let t = 0; t < T; t++) {
      for (let k = 0; k < d; k++) {
        const want = t < 2 ? 0 : 1.3 * hat[t * d + k]! - vec[t * d + k]!;
        expect(delta[t * d + k]).toBeCloseTo(want, 5);
      }
    }
    expect(() => replacementDelta(pv, { layer: 1, alpha: 1, trainLength: L, targetLength: T + 1, keep: 2 })).toThrow(/at most/);
  });

  it("with α = 1 and the new length = L the model's output is unchanged; with T > L it changes", async () => {
    const model = toyModel();
    const L = 12;
    const rng = new Rng(9);
    const stream = Int32Array.from({ length: 400 }, () => Math.floor(rng.next() * 256));
    const pv = await computePositionalVectors(model, stream, { samples: 5, length: 3 * L, seed: 1, batch: 2 });
    expect(pv.layers).toBe(3);
    expect(pv.vectors[1]!.length).toBe(3 * L * 16);
    const ids = Array.from(stream.subarray(7, 7 + L));
    const base = await (await model.forward([ids])).data();
    const hook = replacementHook(pv, { layer: 1, alpha: 1, trainLength: L, targetLength: L, keep: 4 });
    const same = await (await model.forward([ids], { hooks: { hidden: hook } })).data();
    for (let i = 0; i < base.length; i++) expect(Math.abs(same[i]! - base[i]!)).toBeLessThan(1e-5);
    // extension: positions < keep untouched (causal), later ones replaced
    const long = Array.from(stream.subarray(50, 50 + 3 * L));
    const hook3 = replacementHook(pv, { layer: 1, alpha: 1.2, trainLength: L, targetLength: 3 * L, keep: 4 });
    const a = await (await model.forward([long])).data();
    const b = await (await model.forward([long], { hooks: { hidden: hook3 } })).data();
    const V = 260;
    let firstDiff = -1;
    for (let t = 0; t < 3 * L && firstDiff < 0; t++) {
      for (let i = 0; i < V; i++) if (Math.abs(a[t * V + i]! - b[t * V + i]!) > 1e-4) firstDiff = t;
    }
    expect(firstDiff).toBe(4);
    model.dispose();
  });
});

describe("attention window extension", () => {
  it("window W → r·W and temperature λ reach the attention kernel call", async () => {
    const L = 16;
    const W = 4;
    expect(windowExtension(L, L, W, 1.3)).toEqual({});
    expect(windowExtension(4 * L, L, W, 1.3)).toEqual({ window: 16, scaleMultiplier: 1.3 });
    const model = toyModel({ windows: [W, W] });
    const methods = studyMethods({ L, W, s: 4, windowTemperatures: [1, 1.3], nopeTemperatures: [1], pvLayers: [1], pvAlphas: [1], pvKeep: 4, pv: () => null as never });
    const ext = methods.find((m) => m.id === "window-ext")!;
    ext.params.lambda = 1.3;
    const seen: AttentionOptions[] = [];
    const run = ext.at(4 * L);
    const ids = [Array.from({ length: 4 * L }, (_, i) => (i * 7) % 250)];
    const logits = await model.forward(ids, { ...run.forward, hooks: { attention: (_l, o) => (seen.push(o), o) } });
    logits.dispose();
    expect(seen.length).toBe(2);
    for (const o of seen) {
      expect(o.window).toBe(4 * W);
      expect(o.softmaxScale).toBeCloseTo(1.3 / Math.sqrt(8), 10);
    }
    // the plain window model keeps W and the default scale
    seen.length = 0;
    const plain = methods.find((m) => m.id === "window")!.at(4 * L);
    (await model.forward(ids, { ...plain.forward, hooks: { attention: (_l, o) => (seen.push(o), o) } })).dispose();
    for (const o of seen) {
      expect(o.window).toBe(W);
      expect(o.softmaxScale).toBeCloseTo(1 / Math.sqrt(8), 10);
    }
    model.dispose();
  });
});

describe("dynamic YaRN", () => {
  it("factor = max(1, Tk / L0), per length", () => {
    expect(dynamicYarnFactor(64, 128)).toBe(1);
    expect(dynamicYarnFactor(128, 128)).toBe(1);
    expect(dynamicYarnFactor(256, 128)).toBe(2);
    expect(dynamicYarnFactor(320, 128)).toBe(2.5);
    expect(dynamicYarnFactor(1024, 128)).toBe(8);
    const m = studyMethods({ L: 128, W: 32, s: 4, windowTemperatures: [1], nopeTemperatures: [1], pvLayers: [1], pvAlphas: [1], pvKeep: 4, pv: () => null as never }).find((x) => x.id === "yarn-dynamic")!;
    for (const T of [128, 256, 512, 1024]) {
      expect(m.at(T).forward.positional).toEqual({ type: "rope", scaling: { type: "yarn", factor: Math.max(1, T / 128), originalMaxPositions: 128 } });
    }
  });
});
