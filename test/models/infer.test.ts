/**
 * Inference: KV-cache greedy decoding equals the argmax of the full forward at every step (Llama
 * GQA, Mistral window, BLOOM + prefix), seeded sampling is reproducible and honours top-k / top-p,
 * and sliding-window perplexity equals exp(mean NLL) computed naively (float64) with the HF recipe.
 */
import { afterAll, describe, expect, it } from "vitest";
import { defaultDevice, memory, synchronize } from "ctxwin";
import { loadModel, createModel } from "../../dist/models/index.js";
import { generate, generateAll, perplexity, sampleToken } from "../../dist/infer/index.js";
import { Rng } from "../../dist/index.js";
import { naiveForward, nllOf, type RefConfig, type RefPrefix } from "./naive.js";
import { bloomCfg, llamaCfg, randomWeights, rmDir, tmpDir, writeCheckpoint, writePrefixAdapter } from "./fixtures.js";
import { XorShift32 } from "../reference/rng.js";

const root = tmpDir("infer");
afterAll(() => rmDir(root));

function argmaxRow(a: ArrayLike<number>, off: number, V: number): number {
  let b = 0;
  for (let i = 1; i < V; i++) if (a[off + i]! > a[off + b]!) b = i;
  return b;
}

describe("generate: KV cache", () => {
  const cases: [string, RefConfig, { modelType?: string; prefix?: number }][] = [
    ["llama GQA + rope", llamaCfg(), {}],
    ["mistral window 3 (decoding past the window)", llamaCfg({ windows: [3, 3] }), { modelType: "mistral" }],
    // (dynamic rope is left out on purpose: its base depends on the current length, so the cached
    // keys/values of deeper layers — computed at a shorter length — differ from a recomputation,
    // exactly as with transformers' cache)
    ["qwen2 + yarn", llamaCfg({ qkvBias: true, positional: { type: "rope", theta: 50, scaling: { type: "yarn", factor: 2, originalMaxPositions: 6 } } }), { modelType: "qwen2" }],
    ["bloom + prefix", bloomCfg(), { prefix: 2 }],
  ];
  for (const [name, cfg, x] of cases) {
    it(`greedy decoding equals the argmax of the full forward at each step: ${name}`, async () => {
      const dir = writeCheckpoint(`${root}/g-${name.length}`, cfg, randomWeights(cfg, 21), { modelType: x.modelType, maxPositions: 6 });
      let adapter: string | undefined;
      if (x.prefix) {
        adapter = `${dir}-ad`;
        writePrefixAdapter(adapter, cfg, x.prefix, 3);
      }
      const model = await loadModel(dir, { adapter });
      const before = (await synchronize(), memory()[defaultDevice()]?.tensors ?? 0);
      const prompt = [1, 5, 2, 7];
      const got = await generateAll(model, prompt, { maxNewTokens: 8 });
      expect(got.length).toBe(8);
      expect((await synchronize(), memory()[defaultDevice()]?.tensors ?? 0)).toBe(before); // the cache is freed
      // reference: full forward over prompt + generated so far
      const seq = [...prompt];
      for (let s = 0; s < 8; s++) {
        const logits = await model.forward([seq]);
        const d = await logits.data();
        logits.dispose();
        const next = argmaxRow(d, (seq.length - 1) * cfg.vocab, cfg.vocab);
        expect(got[s]).toBe(next);
        seq.push(next);
      }
      model.dispose();
    });
  }

  it("streams tokens, stops at stop tokens, seeded sampling is reproducible", async () => {
    const model = createModel({ family: "llama", vocabSize: 31, hiddenSize: 16, numLayers: 1, numHeads: 2, initializerRange: 0.5 }, { seed: 1 });
    const seen: number[] = [];
    for await (const t of model.generate([1, 2, 3], { maxNewTokens: 6, temperature: 1, seed: 42 })) seen.push(t);
    expect(seen.length).toBe(6);
    expect(await generateAll(model, [1, 2, 3], { maxNewTokens: 6, temperature: 1, seed: 42 })).toEqual(seen);
    const other = await generateAll(model, [1, 2, 3], { maxNewTokens: 6, temperature: 1, seed: 43 });
    expect(other).not.toEqual(seen);
    const greedy = await generateAll(model, [1, 2, 3], { maxNewTokens: 6 });
    const stopped = await generateAll(model, [1, 2, 3], { maxNewTokens: 6, stop: [greedy[2]!] });
    expect(stopped).toEqual(greedy.slice(0, greedy.indexOf(greedy[2]!)));
    // early exit from the stream frees the cache
    const before = (await synchronize(), memory()[defaultDevice()]?.tensors ?? 0);
    for await (const _ of generate(model, [1, 2], { maxNewTokens: 5 })) break;
    expect((await synchronize(), memory()[defaultDevice()]?.tensors ?? 0)).toBe(before);
    await expect(generateAll(model, [], { maxNewTokens: 2 })).rejects.toThrow(/prompt/);
    await expect(generateAll(model, [1], { maxNewTokens: 2, topP: 0 })).rejects.toThrow(/topP/);
    model.dispose();
  });

  it("sampling: top-k keeps the k best, top-p the smallest nucleus, temperature 0 is argmax", () => {
    const logits = [0, 3, 1, 2.5, -1];
    const rng = new Rng(1);
    const count = (o: object) => {
      const c = new Map<number, number>();
      for (let i = 0; i < 2000; i++) {
        const t = sampleToken(logits, o, rng);
        c.set(t, (c.get(t) ?? 0) + 1);
      }
      return c;
    };
    expect(sampleToken(logits, { temperature: 0 }, rng)).toBe(1);
    expect([...count({ temperature: 1, topK: 2 }).keys()].sort()).toEqual([1, 3]);
    // probs at T=1: 3 → .50, 2.5 → .30, 1 → .07 ...: top-p 0.7 keeps {1, 3}; 0.4 keeps {1}
    expect([...count({ temperature: 1, topP: 0.7 }).keys()].sort()).toEqual([1, 3]);
    expect([...count({ temperature: 1, topP: 0.4 }).keys()]).toEqual([1]);
    const all = count({ temperature: 1 });
    expect(all.size).toBe(5);
    // frequencies follow softmax
    const z = logits.reduce((s, l) => s + Math.exp(l), 0);
    expect(Math.abs(all.get(1)! / 2000 - Math.exp(3) / z)).toBeLessThan(0.05);
  });
});

/** HF's sliding-window perplexity, naively in float64. */
function naivePpl(cfg: RefConfig, w: ReturnType<typeof randomWeights>, tokens: number[], C: number, stride: number, positional?: RefConfig["positional"], prefix?: RefPrefix) {
  let prevEnd = 0;
  let nll = 0;
  let count = 0;
  for (let begin = 0; begin < tokens.length; begin += stride) {
    const end = Math.min(begin + C, tokens.length);
    const trg = end - prevEnd;
    const win = tokens.slice(begin, end);
    const logits = naiveForward(cfg, w, [win], { positional, prefix });
    for (let t = Math.max(1, win.length - trg); t < win.length; t++) {
      nll += nllOf(logits.subarray((t - 1) * cfg.vocab, t * cfg.vocab), win[t]!);
      count++;
    }
    prevEnd = end;
    if (end === tokens.length) break;
  }
  return { ppl: Math.exp(nll / count), nll: nll / count, tokens: count };
}

describe("perplexity", () => {
  it("equals exp(mean NLL) of the HF sliding-window recipe (disjoint and strided windows, positional override)", async () => {
    const cfg = llamaCfg({ positional: { type: "rope", theta: 200 } });
    const w = randomWeights(cfg, 31);
    const dir = writeCheckpoint(`${root}/ppl`, cfg, w);
    const model = await loadModel(dir);
    const r = new XorShift32(9);
    const tokens = Array.from({ length: 29 }, () => r.int(cfg.vocab));
    for (const [C, stride] of [
      [8, 8],
      [10, 4],
      [29, 29],
      [40, 40],
    ] as const) {
      const got = await perplexity(model, tokens, { contextLength: C, stride, headChunk: 3 });
      const want = naivePpl(cfg, w, tokens, C, stride);
      expect(got.tokens).toBe(want.tokens);
      // disjoint windows cannot score their first token; overlapping ones score every token but the first
      expect(want.tokens).toBe(C >= 29 || stride < C ? 28 : 28 - Math.ceil(29 / C) + 1);
      expect(Math.abs(got.nll - want.nll) / want.nll).toBeLessThan(1e-5);
      expect(Math.abs(got.ppl - want.ppl) / want.ppl).toBeLessThan(1e-5);
    }
    const pos = { type: "rope" as const, theta: 200, scaling: { type: "linear" as const, factor: 2 } };
    const got = await perplexity(model, tokens, { contextLength: 12, stride: 6, positional: { type: "rope", scaling: { type: "linear", factor: 2 } } });
    const want = naivePpl(cfg, w, tokens, 12, 6, pos);
    expect(Math.abs(got.ppl - want.ppl) / want.ppl).toBeLessThan(1e-5);
    await expect(perplexity(model, tokens, { contextLength: 8, stride: 9 })).rejects.toThrow(/stride/);
    await expect(perplexity(model, [1], { contextLength: 8 })).rejects.toThrow(/tokens/);
    model.dispose();
  });
  it("bloom + prefix adapter", async () => {
    const cfg = bloomCfg();
    const w = randomWeights(cfg, 32);
    const dir = writeCheckpoint(`${root}/ppl-b`, cfg, w);
    const prefix = writePrefixAdapter(`${dir}-ad`, cfg, 2, 4);
    const model = await loadModel(dir, { adapter: `${dir}-ad` });
    const tokens = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7];
    const got = await perplexity(model, tokens, { contextLength: 6, stride: 3 });
    expect(got.tokens).toBe(13);
    const want = naivePpl(cfg, w, tokens, 6, 3, undefined, { P: 2, ...prefix });
    expect(Math.abs(got.ppl - want.ppl) / want.ppl).toBeLessThan(1e-5);
    model.dispose();
  });
});
