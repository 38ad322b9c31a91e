/**
 * The batching engine (lib/engine): concurrent requests, batched and chunked, give the same tokens
 * as each request generated alone (greedy, and seeded sampling); per-request positional overrides;
 * stop tokens; backpressure (queue full, too long, closed) refused at once; abort and cancel free
 * every cache (memory() back to its baseline); stats.
 */
import { describe, expect, it } from "vitest";
import { memory, synchronize } from "ctxwin";
import { createModel, loadModel, saveAdapter, saveModel } from "../../dist/models/index.js";
import { addLora, removeLora } from "../../dist/peft/index.js";
import { Tensor } from "ctxwin";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateAll } from "../../dist/infer/index.js";
import { createEngine } from "../../dist/engine/index.js";
import { addPrefix } from "../../dist/peft/index.js";

const V = 97;
const rope = createModel({ vocabSize: V, hiddenSize: 48, numLayers: 3, numHeads: 4, numKvHeads: 2 }, { seed: 11 });
const alibi = createModel({ vocabSize: V, hiddenSize: 32, numLayers: 2, numHeads: 4, positional: { type: "alibi" } } as never, { seed: 12 });
const prompt = (n: number, salt: number) => Array.from({ length: n }, (_, i) => (i * 31 + salt * 17 + 5) % V);
const snapshot = async () => {
  await synchronize();
  const m = memory().cpu!;
  return { tensors: m.tensors, bytes: m.bytes };
};

describe("engine", () => {
  for (const [name, model] of [
    ["rope", rope],
    ["alibi", alibi],
  ] as const) {
    it(`batched greedy generation equals one-at-a-time, token for token (${name}; queueing and chunked prefill)`, async () => {
      const reqs = [
        { p: prompt(5, 1), n: 12 },
        { p: prompt(33, 2), n: 7 },
        { p: prompt(1, 3), n: 15 },
        { p: prompt(20, 4), n: 1 },
        { p: prompt(47, 5), n: 9 },
        { p: prompt(12, 6), n: 11 },
      ];
      const alone = [];
      for (const r of reqs) alone.push(await generateAll(model, r.p, { maxNewTokens: r.n }));
      const before = await snapshot();
      const engine = await createEngine({ model, maxBatch: 4, prefillChunk: 8 });
      const got = await Promise.all(reqs.map((r) => engine.complete(r.p, { maxNewTokens: r.n })));
      expect(got).toEqual(alone);
      const s = engine.stats();
      expect(s.completed).toBe(reqs.length);
      expect(s.generatedTokens).toBe(reqs.reduce((a, r) => a + r.n, 0));
      expect(s.decodeSteps).toBeLessThan(reqs.reduce((a, r) => a + r.n, 0)); // steps were shared
      await engine.close();
      expect(await snapshot()).toEqual(before);
    });
  }

  it("a prefix-tuned model: equal prompts prefill together (one batch) and match one-at-a-time", async () => {
    const m = createModel({ vocabSize: V, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2 }, { seed: 21 });
    addPrefix(m, { numVirtualTokens: 5, seed: 3 });
    const reqs = [prompt(16, 1), prompt(16, 2), prompt(16, 3), prompt(9, 4)];
    const alone = [];
    for (const p of reqs) alone.push(await generateAll(m, p, { maxNewTokens: 6 }));
    const engine = await createEngine({ model: m, prefillChunk: 16 });
    expect(await Promise.all(reqs.map((p) => engine.complete(p, { maxNewTokens: 6 })))).toEqual(alone);
    await engine.close();
    m.dispose();
  });

  it("per-request LoRA adapters: each request gets its adapter (as loadModel merges it), batched with the others", async () => {
    const tmp = mkdtempSync(join(tmpdir(), "ctxwin-engine-lora-"));
    try {
      const base = createModel({ vocabSize: V, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, initializerRange: 0.1 } as never, { seed: 31 });
      await saveModel(base, join(tmp, "base"));
      for (const [name, seed] of [["a", 1], ["b", 2]] as const) {
        const params = addLora(base, { r: 2, alpha: 4, targetModules: ["q_proj", "v_proj", "down_proj"], seed });
        let k = seed * 7;
        for (const p of params) {
          if (!p.name!.endsWith("lora_B.weight")) continue;
          const n = p.value.shape.reduce((x: number, y: number) => x * y, 1);
          p.set(Tensor.from(Float32Array.from({ length: n }, () => (((k = (k * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5) * 0.8), [...p.value.shape]));
        }
        await saveAdapter(base, join(tmp, name));
        removeLora(base);
      }
      base.dispose();
      const want: Record<string, number[][]> = {};
      const prompts = [prompt(7, 1), prompt(12, 2)];
      for (const name of ["base", "a", "b"]) {
        const m = await loadModel(join(tmp, "base"), name === "base" ? {} : { adapter: join(tmp, name) });
        want[name] = [];
        for (const p of prompts) want[name]!.push(await generateAll(m, p, { maxNewTokens: 8 }));
        m.dispose();
      }
      expect(want.a).not.toEqual(want.base); // the adapters change the output
      const engine = await createEngine({ dir: join(tmp, "base"), adapters: { a: join(tmp, "a"), b: join(tmp, "b") } });
      expect(engine.adapters).toEqual(["a", "b"]);
      const runs = await Promise.all(
        (["base", "a", "b"] as const).flatMap((name) => prompts.map((p) => engine.complete(p, { maxNewTokens: 8, ...(name === "base" ? {} : { adapter: name }) }))),
      );
      expect(runs).toEqual([...want.base!, ...want.a!, ...want.b!]);
      expect(() => engine.generate(prompts[0]!, { maxNewTokens: 2, adapter: "c" })).toThrow(/adapter: expected one of the engine's adapters \(a, b\), got "c"/);
      await engine.close();
      await expect(createEngine({ dir: join(tmp, "base"), adapters: { x: join(tmp, "nope") } })).rejects.toThrow(/adapter_config\.json/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it("seeded sampling, stop tokens and a per-request YaRN override match generate() alone", async () => {
    const yarn = { type: "rope", scaling: { type: "yarn", factor: 4, originalMaxPositions: 16 } } as const;
    const cases = [
      { p: prompt(9, 7), o: { maxNewTokens: 10, temperature: 0.8, topK: 20, seed: 3 } },
      { p: prompt(14, 8), o: { maxNewTokens: 10, positional: yarn } },
      { p: prompt(6, 9), o: { maxNewTokens: 10, temperature: 1.1, topP: 0.9, seed: 99, positional: yarn } },
      { p: prompt(11, 10), o: { maxNewTokens: 10, window: 4 } },
    ];
    const alone = [];
    for (const c of cases) alone.push(await generateAll(rope, c.p, c.o as never));
    // a stop token: the third token of the first request's greedy run
    const greedy = await generateAll(rope, prompt(8, 11), { maxNewTokens: 10 });
    const engine = await createEngine({ model: rope, maxBatch: 8 });
    const [a, b, c, d, stopped] = await Promise.all([...cases.map((x) => engine.complete(x.p, x.o as never)), engine.complete(prompt(8, 11), { maxNewTokens: 10, stop: [greedy[2]!] })]);
    expect([a, b, c, d]).toEqual(alone);
    expect(stopped).toEqual(greedy.slice(0, greedy.indexOf(greedy[2]!)));
    await engine.close();
  });

  it("backpressure: a full queue, a too-long request and a closed engine are refused at once", async () => {
    const before = await snapshot();
    const engine = await createEngine({ model: rope, maxBatch: 1, maxQueue: 2, maxContext: 64 });
    const running = [engine.complete(prompt(4, 1), { maxNewTokens: 20 }), engine.complete(prompt(4, 2), { maxNewTokens: 3 }), engine.complete(prompt(4, 3), { maxNewTokens: 3 })];
    // the first is admitted at once only when the loop turns: two may wait, the next is refused
    expect(() => engine.generate(prompt(4, 4), { maxNewTokens: 3 })).toThrow(/ERR_BUSY|queue is full/);
    try {
      engine.generate(prompt(4, 4), { maxNewTokens: 3 });
    } catch (e) {
      expect((e as { code: string }).code).toBe("ERR_BUSY");
    }
    expect(() => engine.generate(prompt(60, 5), { maxNewTokens: 5 })).toThrow(/prompt \+ maxNewTokens: expected at most maxContext = 64 tokens, got 60 \+ 5 = 65/);
    expect(() => engine.generate([], { maxNewTokens: 5 })).toThrow(/prompt: expected a non-empty array/);
    expect(() => engine.generate([V], { maxNewTokens: 5 })).toThrow(/prompt\[0\]: expected a token id in \[0, 97\)/);
    expect(() => engine.generate([1], { maxNewTokens: 0 })).toThrow(/maxNewTokens: expected an integer >= 1/);
    await Promise.all(running);
    await engine.close();
    expect(() => engine.generate([1], { maxNewTokens: 1 })).toThrow(/engine is closed/);
    expect(await snapshot()).toEqual(before);
  });

  it("abort (signal, or leaving the loop) and close({ cancel }) free every cache", async () => {
    const before = await snapshot();
    const engine = await createEngine({ model: rope, maxBatch: 4 });
    const ctl = new AbortController();
    const long = engine.complete(prompt(30, 1), { maxNewTokens: 200, signal: ctl.signal });
    const other = engine.complete(prompt(7, 2), { maxNewTokens: 6 });
    // leave a stream after 2 tokens
    const seen: number[] = [];
    for await (const t of engine.generate(prompt(10, 3), { maxNewTokens: 50 })) {
      seen.push(t);
      if (seen.length === 2) break;
    }
    ctl.abort();
    await expect(long).rejects.toMatchObject({ code: "ERR_ABORTED" });
    expect(await other).toHaveLength(6);
    const cancelled = engine.complete(prompt(12, 4), { maxNewTokens: 500 });
    const cancelledCheck = expect(cancelled).rejects.toMatchObject({ code: "ERR_CLOSED" });
    await new Promise((r) => setTimeout(r, 20));
    await engine.close({ cancel: true });
    await cancelledCheck;
    const s = engine.stats();
    expect(s.aborted).toBe(3);
    expect(s.completed).toBe(1);
    expect(s.active + s.queued).toBe(0);
    expect(await snapshot()).toEqual(before);
  });

  it("stats: throughput and latency percentiles", async () => {
    const engine = await createEngine({ model: rope });
    await Promise.all([1, 2, 3].map((i) => engine.complete(prompt(5, i), { maxNewTokens: 8 })));
    const s = engine.stats();
    expect(s.generatedTokens).toBe(24);
    expect(s.promptTokens).toBe(15);
    expect(s.timeToFirstTokenMs.count).toBe(3);
    expect(s.perTokenMs.count).toBe(21);
    expect(s.perTokenMs.p50).toBeGreaterThan(0);
    expect(s.perTokenMs.p99).toBeGreaterThanOrEqual(s.perTokenMs.p50);
    expect(s.tokensPerSecond).toBeGreaterThan(0);
    await engine.close();
  });

  it("bad engine options are clear errors", async () => {
    await expect(createEngine({} as never)).rejects.toThrow(/expected exactly one of model and dir, got neither/);
    await expect(createEngine({ model: rope, maxBatch: 0 })).rejects.toThrow(/maxBatch: expected an integer >= 1, got 0/);
    await expect(createEngine({ dir: "/nonexistent/model" })).rejects.toThrow(/nonexistent/);
  });
});
