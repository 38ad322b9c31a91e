#!/usr/bin/env node
// bench/event-loop: how long the JS thread goes without an event-loop turn while ctxwin works on a
// deep model, as a Node service would feel it (a 10 ms timer, longest gap between its ticks):
// train() steps, generate() with a long prompt, perplexity() over long windows — each with the
// forward/backward recorded in slices (eventLoopSlice() default) beside the same work recorded in
// one burst per forward (eventLoopSlice(Infinity), what ctxwin did before), in the same run.
//
//   node bench/event-loop.mjs [--quick] [--layers 24] [--d 128] [--heads 4] [--seq 128] [--batch 8]
import { createModel, eventLoopSlice } from "../dist/index.js";
import { generateAll, perplexity } from "../dist/infer/index.js";
import { packSequences, train } from "../dist/train/index.js";
import { describeMachine, fmt, pad, parseArgs } from "./train.mjs";

const o = parseArgs({ layers: 24, layersQuick: 12, d: 128, heads: 4, seq: 128, seqQuick: 64, batch: 8, batchQuick: 4, vocab: 512 });
console.log(`ctxwin bench/event-loop — ${describeMachine("cpu")}`);
const model = createModel({ vocabSize: o.vocab, hiddenSize: o.d, numLayers: o.layers, numHeads: o.heads }, { seed: 1 });
console.log(`model: Llama-like ${o.layers} layers, d=${o.d}, ${o.heads} heads; batch ${o.batch} × ${o.seq} tokens\n`);
const tokens = Array.from({ length: (o.batch * 4 + 1) * (o.seq + 1) }, (_, i) => (i * 7919 + 13) % o.vocab);

/** Longest gap (ms) between ticks of a 10 ms interval timer while `work` runs. */
async function longestGap(work) {
  let last = performance.now();
  let max = 0;
  const timer = setInterval(() => {
    const t = performance.now();
    max = Math.max(max, t - last);
    last = t;
  }, 10);
  const t0 = performance.now();
  await work();
  clearInterval(timer);
  max = Math.max(max, performance.now() - last);
  return { gap: max, ms: performance.now() - t0 };
}

const works = [
  [`train(), 4 steps`, () => train(model, { data: packSequences(tokens, { seqLen: o.seq }), steps: 4, batchSize: o.batch, lr: 1e-4, log: () => {} })],
  [`generate(), ${4 * o.seq}-token prompt, 4 tokens`, () => generateAll(model, tokens.slice(0, 4 * o.seq), { maxNewTokens: 4 })],
  [`perplexity(), windows of ${4 * o.seq}`, () => perplexity(model, tokens.slice(0, 8 * o.seq), { contextLength: 4 * o.seq })],
];
const def = eventLoopSlice();
await works[0][1](); // warm-up
const w = [40, 14, 14, 12, 12];
console.log(pad(["work", `sliced (${def} ms)`, "one burst", "ratio", "time ratio"], w));
console.log(pad(["", "longest gap ms", "longest gap ms", "burst/sliced", "sliced/burst"], w));
for (const [label, work] of works) {
  eventLoopSlice(Infinity);
  const b = await longestGap(work);
  eventLoopSlice(def);
  const s = await longestGap(work);
  console.log(pad([label, fmt(s.gap, 1), fmt(b.gap, 1), fmt(b.gap / s.gap, 2), fmt(s.ms / b.ms, 2)], w));
}
console.log("\n(time ratio: wall time of the whole work sliced vs in one burst; slicing should cost ~nothing)");
model.dispose();
