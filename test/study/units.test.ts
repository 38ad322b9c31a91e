/**
 * Study building blocks: passkey construction, buckets and scoring, the training mixture,
 * positional-vector replacement (interpolation by hand, identity at α = 1 and T = L), window
 * extension reaching the attention kernel call, the method definitions.
 */
import { describe, expect, it } from "vitest";
import { createModel } from "../../dist/models/index.js";
import { byteTokenizer, trainBpe } from "../../dist/models/tokenizer/index.js";
import { Rng } from "../../dist/index.js";
import type { AttentionOptions } from "../../dist/attention.js";
import {
  buildPasskey,
  passkeyTemplate,
  passkeyBuckets,
  distanceRange,
  spanFiller,
  scorePasskeyBucket,
  buildTrainingRows,
  interpolationSources,
  interpolateVectors,
  replacementDelta,
  replacementHook,
  computePositionalVectors,
  windowExtension,
  dynamicFactor,
  fineTunePositional,
  studyMethods,
  type PositionalVectors,
} from "../../dist/study/index.js";

const byteTok = byteTokenizer({ specialTokens: ["<|endoftext|>"], eosToken: "<|endoftext|>" });
const bpeTok = trainBpe(
  [
    "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. ".repeat(20),
    "What is the pass key? The pass key is 1234. Remember it. There is an important info hidden inside a lot of irrelevant text.",
  ],
  { vocabSize: 320, specialTokens: ["<|endoftext|>", "<|bos|>"], eosToken: "<|endoftext|>", bosToken: "<|bos|>" },
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

const bos = bpeTok.tokenToId("<|bos|>")!;

describe("passkey construction (the trained template)", () => {
  const t = passkeyTemplate(bpeTok);
  const enc = (s: string) => bpeTok.encode(s, { addSpecialTokens: false });
  const stream = Int32Array.from(enc("The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. ".repeat(30)));

  it("exact length, the key's ids in the key sentence, the answer last, the requested distance", () => {
    const rng = new Rng(3);
    for (const length of [40, 97, 300]) {
      for (const key of ["4817", "12", "90210"]) {
        const a = enc(` ${key}`);
        const [lo, hi] = distanceRange(t, a.length, length);
        for (const distance of [lo, Math.floor((lo + hi) / 2), hi]) {
          const s = buildPasskey(bpeTok, t, { length, key, distance, filler: spanFiller(stream, rng) });
          expect(s.ids.length).toBe(length);
          expect(s.answer).toEqual(a);
          expect(s.ids.slice(length - a.length)).toEqual(a);
          expect(s.ids.slice(s.keyIndex, s.keyIndex + a.length)).toEqual(a);
          expect(s.ids.slice(s.keyIndex - t.keyPrefix.length, s.keyIndex)).toEqual(t.keyPrefix);
          expect(length - a.length - s.keyIndex).toBe(distance);
          expect(s.distance).toBe(distance);
          // the question sits right before the answer
          expect(s.ids.slice(length - a.length - t.question.length, length - a.length)).toEqual(t.question);
          // the decoded text reads as the template
          expect(bpeTok.decode(s.ids)).toContain(`The pass key is ${key}.`);
          expect(bpeTok.decode(s.ids).endsWith(`What is the pass key? The pass key is ${key}`)).toBe(true);
        }
        expect(() => buildPasskey(bpeTok, t, { length, key, distance: lo - 1, filler: spanFiller(stream, rng) })).toThrow(/distance/);
        expect(() => buildPasskey(bpeTok, t, { length, key, distance: hi + 1, filler: spanFiller(stream, rng) })).toThrow(/distance/);
      }
    }
    expect(() => buildPasskey(bpeTok, t, { length: 60, key: "12a", distance: 30, filler: spanFiller(stream, rng) })).toThrow(/digits/);
  });

  it("buckets: distances inside (lo, hi], prompts of exactly hi tokens starting with BOS", () => {
    const lengths = [48, 96, 192];
    const b = passkeyBuckets(bpeTok, lengths, { trials: 20, digits: 3, seed: 5, filler: stream, bos });
    expect(b.map((x) => [x.lo, x.hi])).toEqual([
      [0, 48],
      [48, 96],
      [96, 192],
    ]);
    for (const bucket of b) {
      expect(bucket.trials.length).toBe(20);
      for (const s of bucket.trials) {
        expect(s.ids.length).toBe(bucket.hi);
        expect(s.ids[0]).toBe(bos);
        expect(s.distance).toBeGreaterThan(bucket.lo);
        expect(s.distance).toBeLessThanOrEqual(bucket.hi);
        expect(s.ids.length - s.answer.length - s.keyIndex).toBe(s.distance);
        expect(s.ids.slice(s.keyIndex, s.keyIndex + s.answer.length)).toEqual(s.answer);
      }
      // distances spread over the bucket, not one value
      expect(new Set(bucket.trials.map((s) => s.distance)).size).toBeGreaterThan(5);
    }
    // seeded: the same prompts again
    expect(passkeyBuckets(bpeTok, lengths, { trials: 20, digits: 3, seed: 5, filler: stream, bos })[1]!.trials[3]!.ids).toEqual(b[1]!.trials[3]!.ids);
  });

  it("scorePasskeyBucket: greedy exact match and the answer log-likelihood equal a full forward by hand", async () => {
    const model = toyModel({ positional: { type: "rope" }, vocab: bpeTok.vocabSize });
    const [bucket] = passkeyBuckets(bpeTok, [40], { trials: 5, digits: 3, seed: 2, filler: stream, bos });
    const res = await scorePasskeyBucket(model, bucket!, {}, { tokensPerBatch: 80 });
    expect(res.trials).toBe(5);
    let correct = 0;
    let ll = 0;
    const V = model.config.vocabSize;
    for (const s of bucket!.trials) {
      const logits = await model.forward([s.ids.slice(0, s.ids.length - 1)]);
      const d = await logits.data();
      logits.dispose();
      let ok = true;
      for (let j = 0; j < s.answer.length; j++) {
        const off = (s.ids.length - s.answer.length - 1 + j) * V;
        let m = -Infinity;
        let am = 0;
        for (let i = 0; i < V; i++) if (d[off + i]! > m) ((m = d[off + i]!), (am = i));
        let z = 0;
        for (let i = 0; i < V; i++) z += Math.exp(d[off + i]! - m);
        ll += d[off + s.answer[j]!]! - m - Math.log(z);
        if (am !== s.answer[j]) ok = false;
      }
      if (ok) correct++;
    }
    expect(res.correct).toBe(correct);
    expect(res.meanLogLik).toBeCloseTo(ll / 5, 3);
    model.dispose();
  });
});

describe("training mixture", () => {
  const enc = (s: string) => bpeTok.encode(s, { addSpecialTokens: false });
  const stream = Int32Array.from(enc("The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. ".repeat(40)));

  it("BOS first, LM rows are the stream, passkey rows hold the template with the answer positions listed", () => {
    const L = 48;
    const mix = buildTrainingRows(bpeTok, stream, { seqLen: L, passkeyFraction: 0.3, digits: 3, bos, seed: 4 });
    const R = L + 1;
    const n = mix.rows.length;
    expect(mix.counts.lm + mix.counts.passkey).toBe(n);
    expect(mix.counts.passkey / n).toBeCloseTo(0.3, 1);
    expect(mix.answers.length).toBe(n);
    for (let r = 0; r < n; r++) {
      const row = Array.from(mix.rows.data.subarray(r * R, (r + 1) * R));
      expect(row[0]).toBe(bos);
      const ans = mix.answers[r];
      if (r < mix.counts.lm) {
        expect(ans).toBeNull();
        // consecutive stream tokens: packSequences rows of L content tokens
        expect(row.slice(1)).toEqual(Array.from(stream.subarray(r * (L - 1), r * (L - 1) + L)));
      } else {
        expect(ans).not.toBeNull();
        const pos = Array.from(ans!);
        expect(pos[pos.length - 1]).toBe(L); // the last token of the row
        const answer = pos.map((p) => row[p]!);
        const text = bpeTok.decode(row.slice(1));
        const key = bpeTok.decode(answer).trim();
        expect(key).toMatch(/^\d{3}$/);
        expect(text).toContain(`The pass key is ${key}.`);
        expect(text.endsWith(`What is the pass key? The pass key is ${key}`)).toBe(true);
      }
    }
    expect(() => buildTrainingRows(bpeTok, stream, { seqLen: L, passkeyFraction: 1, digits: 3, bos, seed: 4 })).toThrow(/passkeyFraction/);
    expect(() => buildTrainingRows(bpeTok, stream, { seqLen: 12, passkeyFraction: 0.5, digits: 3, bos, seed: 4 })).toThrow(/too short/);
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
    const methods = studyMethods({ L, W, s: 4, temperatures: [1, 1.3], pvRatios: [2, 4, 8], pvLayers: [1], pvAlphas: [1], pvKeep: 4, pv: () => null as never });
    const ext = methods.find((m) => m.id === "window-ext")!;
    ext.params[`lambda@${4 * L}`] = 1.3;
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

describe("method definitions", () => {
  const methods = studyMethods({ L: 128, W: 32, s: 4, temperatures: [1], pvRatios: [2, 4, 8], pvLayers: [1], pvAlphas: [1], pvKeep: 4, pv: () => null as never });
  const m = (id: string) => methods.find((x) => x.id === id)!;

  it("dynamic YaRN and dynamic PI: factor max(1, T/L) per length", () => {
    expect(dynamicFactor(64, 128)).toBe(1);
    expect(dynamicFactor(320, 128)).toBe(2.5);
    for (const T of [128, 256, 512, 1024]) {
      expect(m("yarn-dynamic").at(T).forward.positional).toEqual({ type: "rope", scaling: { type: "yarn", factor: Math.max(1, T / 128), originalMaxPositions: 128 } });
      expect(m("rope-dynamic-pi").at(T).forward.positional).toEqual({ type: "rope", scaling: { type: "linear", factor: Math.max(1, T / 128) } });
    }
  });

  it("the static scalings use the fixed factor at every length; the fine-tunes carry theirs in the checkpoint", () => {
    for (const T of [128, 1024]) {
      expect(m("rope-pi").at(T).forward.positional).toEqual({ type: "rope", scaling: { type: "linear", factor: 4 } });
      expect(m("rope-ntk").at(T).forward.positional).toEqual({ type: "rope", scaling: { type: "ntk", factor: 4 } });
      expect(m("yarn").at(T).forward.positional).toEqual({ type: "rope", scaling: { type: "yarn", factor: 4, originalMaxPositions: 128 } });
      for (const id of ["rope-ft", "rope-pi-ft", "rope-ntk-ft", "yarn-ft"]) expect(m(id).at(T).forward).toEqual({});
    }
    expect(fineTunePositional("yarn-ft", 4, 128)).toEqual({ type: "rope", scaling: { type: "yarn", factor: 4, originalMaxPositions: 128 } });
    expect(fineTunePositional("rope-pi-ft", 4, 128)).toEqual({ type: "rope", scaling: { type: "linear", factor: 4 } });
    expect(fineTunePositional("rope-ntk-ft", 4, 128)).toEqual({ type: "rope", scaling: { type: "ntk", factor: 4 } });
    expect(fineTunePositional("rope-ft", 4, 128)).toEqual({ type: "rope" });
  });

  it("ALiBi-PI, attention scaling per length, PV replacement defined up to r·L", () => {
    expect(m("alibi-pi").at(512).forward.positional).toEqual({ type: "alibi", trainLength: 128 });
    const sc = m("nope-scale");
    sc.params["lambda@256"] = 1.2;
    expect(sc.at(128).forward).toEqual({});
    expect(sc.at(256).forward).toEqual({ scaleMultiplier: 1.2 });
    expect(sc.at(512).forward).toEqual({ scaleMultiplier: 1 });
    for (const r of [2, 4, 8]) {
      const pv = m(`nope-pv-r${r}`);
      for (const T of [128, 256, 512, 1024]) expect(pv.defined!(T)).toBe(T <= r * 128);
      expect(pv.at(128).forward).toEqual({});
    }
    expect(methods.map((x) => x.id)).toEqual([
      "nope", "nope-scale", "nope-pv-r2", "nope-pv-r4", "nope-pv-r8", "alibi", "alibi-pi", "rope", "rope-pi", "rope-ntk", "rope-dynamic", "rope-dynamic-pi", "yarn", "yarn-dynamic", "rope-ft", "rope-pi-ft", "rope-ntk-ft", "yarn-ft", "window", "window-ext",
    ]);
  });
});
