/**
 * Bad arguments to train() are named with the function the user called and summarised (a large
 * array is described by its length, not printed).
 */
import { describe, expect, it } from "vitest";
import { createModel } from "../../dist/index.js";
import { train } from "../../dist/train/index.js";

describe("train() argument errors", () => {
  const model = createModel({ vocabSize: 16, hiddenSize: 8, numLayers: 1, numHeads: 2 }, { seed: 1 });
  it("summarises a large array instead of printing it", async () => {
    const data = Array.from({ length: 5000 }, () => [1, 2, 3]);
    const err = await train(model, { data: data as never, steps: 1, batchSize: 1, lr: 1e-3 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe("train: data: expected PackedRows (packSequences) or a DataLoader, got an array of length 5000");
  });
  it("names train (not an internal helper) for schedule options", async () => {
    const data = Array.from({ length: 4 }, () => [1, 2, 3]);
    await expect(train(model, { data: data as never, steps: 1, batchSize: 1 } as never)).rejects.toThrow(/^train: lr: expected a finite number >= 0, got undefined$/);
    await expect(train(model, { data: data as never, steps: 1, batchSize: 1, lr: 1e-3, minLr: 1 } as never)).rejects.toThrow(/^train: minLr: expected a number in \[0, lr = 0\.001\]/);
  });
});
