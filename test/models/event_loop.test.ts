/**
 * train(), generate() and perplexity() record a deep model's forward (and train() its backward)
 * in slices that give the event loop a turn (eventLoopSlice()). With a 0 ms slice, a setImmediate
 * callback runs between every two layers of one forward; with Infinity, none does (the check can
 * fail). No timing is asserted: the order of events is.
 */
import { afterEach, describe, expect, it } from "vitest";
import { eventLoopSlice } from "ctxwin";
import { createModel } from "../../dist/models/index.js";
import { generateAll, perplexity } from "../../dist/infer/index.js";
import { packSequences, train } from "../../dist/train/index.js";

const LAYERS = 6;
const model = createModel({ vocabSize: 40, hiddenSize: 16, numLayers: LAYERS, numHeads: 2 }, { seed: 3 });
const tokens = Array.from({ length: 60 }, (_, i) => (i * 17 + 3) % 40);
const defaultSlice = eventLoopSlice();
afterEach(() => void eventLoopSlice(defaultSlice));

/** Runs `work` while a setImmediate loop logs ticks; the layer hook logs each layer. */
async function interleaving(work: (hooks: { hidden: (l: number) => void }) => Promise<unknown>): Promise<string[]> {
  const events: string[] = [];
  let on = true;
  const tick = () => {
    events.push("tick");
    if (on) setImmediate(tick);
  };
  setImmediate(tick);
  await work({ hidden: (l: number) => void events.push(`L${l}`) });
  on = false;
  return events;
}

/** Pairs of consecutive layers (l → l+1 of one forward) with no tick between them. */
function untickedPairs(events: string[]): number {
  let n = 0;
  let last = -1;
  let ticked = false;
  for (const e of events) {
    if (e === "tick") ticked = true;
    else {
      const l = Number(e.slice(1));
      if (l === last + 1 && l > 0 && !ticked) n++;
      last = l;
      ticked = false;
    }
  }
  return n;
}

const works: [string, (hooks: { hidden: (l: number) => void }) => Promise<unknown>][] = [
  ["train", (hooks) => train(model, { data: packSequences(tokens, { seqLen: 12 }), steps: 2, batchSize: 2, lr: 1e-3, forward: { hooks }, log: () => {} } as never)],
  ["generate", (hooks) => generateAll(model, tokens.slice(0, 20), { maxNewTokens: 3, hooks })],
  ["perplexity", (hooks) => perplexity(model, tokens, { contextLength: 24, hooks })],
];

describe("the event loop turns during a deep model's forward", () => {
  for (const [name, work] of works) {
    it(`${name}: a tick between every two layers with eventLoopSlice(0), none with Infinity`, async () => {
      eventLoopSlice(0);
      const sliced = await interleaving(work);
      const layers = sliced.filter((e) => e !== "tick").length;
      expect(layers).toBeGreaterThanOrEqual(2 * (LAYERS + 1));
      expect(untickedPairs(sliced)).toBe(0);
      eventLoopSlice(Infinity);
      const burst = await interleaving(work);
      // one forward is one burst: every consecutive layer pair runs without a tick between
      expect(untickedPairs(burst)).toBeGreaterThan(0);
      expect(untickedPairs(burst)).toBe(burst.filter((e) => e !== "tick" && e !== "L0").length);
    });
  }
  it("eventLoopSlice validates its argument", () => {
    expect(() => eventLoopSlice(-1)).toThrow(/eventLoopSlice: ms: expected a number >= 0/);
    expect(() => eventLoopSlice(Number.NaN)).toThrow(/eventLoopSlice/);
    expect(eventLoopSlice(5)).toBe(5);
  });
});
