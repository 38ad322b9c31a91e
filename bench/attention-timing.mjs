// Timing of one attention configuration, shared by bench/attention.mjs and
// bench/attention-isa.mjs: the best of `reps` runs after a warm-up, forward (output read back)
// and backward (dq read back, from a saved forward with its lse), each in ms.
import { attention, attentionBackward, attentionWithLse, synchronize } from "../dist/index.js";

/** Best time in ms of `reps` awaited calls of fn, after one warm-up call. */
export async function bestMs(fn, reps) {
  await fn();
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

/** { fwdMs, bwdMs } of attention(q, k, v, opts) and its backward for cotangent dOut. */
export async function timeAttention(q, k, v, dOut, opts, reps) {
  const fwdMs = await bestMs(async () => {
    const o = attention(q, k, v, opts);
    await o.data();
    o.dispose();
  }, reps);
  const fwd = attentionWithLse(q, k, v, opts);
  await synchronize(q.device);
  const bwdMs = await bestMs(async () => {
    const g = attentionBackward(q, k, v, dOut, opts, fwd);
    await g.dq.data();
    g.dq.dispose();
    g.dk.dispose();
    g.dv.dispose();
  }, reps);
  fwd.out.dispose();
  fwd.lse.dispose();
  return { fwdMs, bwdMs };
}
