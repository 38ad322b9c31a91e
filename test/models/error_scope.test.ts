/**
 * A failure in the middle of a forward, a training step, a backward, a generation or a perplexity
 * call frees every intermediate it had made: memory() returns to where it started (live tensors
 * and bytes), and the model still works afterwards.
 */
import { describe, expect, it } from "vitest";
import { memory, synchronize, Tape, type Variable } from "ctxwin";
import { emit } from "../../dist/nn/index.js";
import { createModel } from "../../dist/models/index.js";
import { generateAll, perplexity } from "../../dist/infer/index.js";
import { packSequences, train } from "../../dist/train/index.js";

const model = createModel({ vocabSize: 50, hiddenSize: 32, numLayers: 4, numHeads: 4, numKvHeads: 2 }, { seed: 2 });
const ids = [Array.from({ length: 24 }, (_, i) => (i * 7 + 1) % 50), Array.from({ length: 24 }, (_, i) => (i * 11 + 3) % 50)];
const tokens = Array.from({ length: 200 }, (_, i) => (i * 13 + 5) % 50);

const snapshot = async () => {
  await synchronize();
  const m = memory().cpu!;
  return { tensors: m.tensors, bytes: m.bytes };
};
const boom = (at: number) => ({
  hidden: (l: number) => {
    if (l === at) throw new Error(`boom at layer ${l}`);
  },
});

describe("a failure part-way frees what the work had made", () => {
  it("model.forward / logits / loss (synchronous)", async () => {
    const before = await snapshot();
    await expect(model.forward(ids, { hooks: boom(3) })).rejects.toThrow(/boom at layer 3/);
    expect(() => model.logits(ids, { hooks: boom(2) })).toThrow(/boom at layer 2/);
    const tape = new Tape();
    expect(() => tape.run(() => model.loss(ids, ids, { hooks: boom(4) }))).toThrow(/boom at layer 4/);
    tape.dispose();
    expect(await snapshot()).toEqual(before);
    (await model.forward(ids)).dispose(); // still usable
    expect(await snapshot()).toEqual(before);
  });

  it("a training step (error in the forward, then in the backward)", async () => {
    const rows = packSequences(tokens, { seqLen: 16 });
    const before = await snapshot();
    await expect(train(model, { data: rows, steps: 2, batchSize: 2, lr: 1e-3, forward: { hooks: boom(2) }, log: () => {} } as never)).rejects.toThrow(/boom at layer 2/);
    expect(await snapshot()).toEqual(before);
    // a node whose backward throws, in the middle of the layers
    const failingBackward = {
      hidden: (l: number, h: Variable) => (l === 2 ? emit("identity-that-fails", [h], h.value.reshape(h.shape), () => { throw new Error("backward boom"); }) : undefined),
    };
    await expect(train(model, { data: rows, steps: 2, batchSize: 2, lr: 1e-3, forward: { hooks: failingBackward }, log: () => {} } as never)).rejects.toThrow(/backward boom/);
    expect(await snapshot()).toEqual(before);
  });

  it("generate (prefill and decode) and perplexity", async () => {
    const before = await snapshot();
    await expect(generateAll(model, tokens.slice(0, 30), { maxNewTokens: 4, hooks: boom(1) })).rejects.toThrow(/boom at layer 1/);
    expect(await snapshot()).toEqual(before);
    let calls = 0;
    const laterBoom = { hidden: (l: number) => { if (l === 2 && ++calls === 3) throw new Error("decode boom"); } };
    await expect(generateAll(model, tokens.slice(0, 30), { maxNewTokens: 6, hooks: laterBoom })).rejects.toThrow(/decode boom/);
    expect(await snapshot()).toEqual(before);
    await expect(perplexity(model, tokens, { contextLength: 64, stride: 32, hooks: boom(3) })).rejects.toThrow(/boom at layer 3/);
    expect(await snapshot()).toEqual(before);
    const ok = await perplexity(model, tokens, { contextLength: 64 });
    expect(Number.isFinite(ok.ppl)).toBe(true);
    expect(await snapshot()).toEqual(before);
  });

  it("and the success path leaves memory where it started too (scopes, not release() calls)", async () => {
    const rows = packSequences(tokens, { seqLen: 16 });
    const before = await snapshot();
    (await model.forward(ids)).dispose();
    const tape = new Tape();
    const loss = tape.run(() => model.loss(ids, ids));
    tape.backward(loss);
    loss.release();
    model.zeroGrad();
    await train(model, { data: rows, steps: 2, batchSize: 2, gradAccum: 2, lr: 1e-3, progress: false } as never);
    await generateAll(model, tokens.slice(0, 30), { maxNewTokens: 5 });
    await perplexity(model, tokens, { contextLength: 64, stride: 32, headChunk: 7 });
    expect(await snapshot()).toEqual(before);
  });
});
