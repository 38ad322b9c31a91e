/**
 * Ops are asynchronous: a call validates, enqueues and returns at once; `await t.data()` resolves
 * when the value is ready; JS never blocks on compute (except dataSync()). No absolute timings
 * are asserted: the call's duration is compared with the wait for its value, and the event
 * loop's liveness is shown by a timer that keeps ticking during a long computation.
 */
import { describe, expect, it } from "vitest";
import { attention, synchronize, Tensor } from "ctxwin";
import { Rng, suiteSeed } from "./reference/rng.js";

const SEED = suiteSeed();
const rng = new Rng(SEED);

function qkv(B: number, T: number, H: number, D: number): { q: Tensor; k: Tensor; v: Tensor; dispose(): void } {
  const n = B * T * H * D;
  const shape = [B, T, H, D];
  const q = Tensor.from(rng.normalF32(n), shape);
  const k = Tensor.from(rng.normalF32(n), shape);
  const v = Tensor.from(rng.normalF32(n), shape);
  return {
    q,
    k,
    v,
    dispose() {
      q.dispose();
      k.dispose();
      v.dispose();
    },
  };
}

describe("asynchronous ops", () => {
  it("an attention on T=2048 returns from the call long before its value is ready", async () => {
    const t = qkv(1, 2048, 8, 64);
    await synchronize(); // the inputs are in place; warm the addon and its threads:
    const warm = attention(t.q, t.k, t.v, { positional: { type: "rope" } });
    await warm.data();
    warm.dispose();

    // a few trials: a busy machine can preempt any single call, so compare the fastest call with
    // the fastest wait (a blocking implementation would have call ≈ compute and wait ≈ 0)
    const calls: number[] = [];
    const waits: number[] = [];
    for (let trial = 0; trial < 4; trial++) {
      const t0 = performance.now();
      const out = attention(t.q, t.k, t.v, { positional: { type: "rope" } });
      const t1 = performance.now();
      const vals = await out.data();
      const t2 = performance.now();
      expect(vals.length).toBe(2048 * 8 * 64);
      calls.push(t1 - t0);
      waits.push(t2 - t1);
      out.dispose();
    }
    const call = Math.min(...calls);
    const wait = Math.min(...waits);
    console.log(`[async] attention T=2048 H=8 D=64: calls returned in ${calls.map((c) => c.toFixed(2)).join(", ")} ms; values ready ${waits.map((w) => w.toFixed(1)).join(", ")} ms later`);
    expect(call * 10, `fastest call ${call.toFixed(2)} ms vs fastest wait ${wait.toFixed(1)} ms`).toBeLessThan(wait);
    t.dispose();
  });

  it("several calls queue without blocking; each value resolves; dataSync gives the same values", async () => {
    const t = qkv(1, 2048, 8, 64);
    await synchronize();
    const opts = [{}, { positional: { type: "alibi" } }, { positional: { type: "rope", scaling: { type: "yarn", factor: 4, originalMaxPositions: 256 } } }] as const;
    let best = Infinity;
    let bestWait = Infinity;
    let outs: ReturnType<typeof attention>[] = [];
    let vals: Float32Array[] = [];
    for (let trial = 0; trial < 2; trial++) {
      for (const o of outs) o.dispose();
      const t0 = performance.now();
      outs = opts.map((o) => attention(t.q, t.k, t.v, o));
      const t1 = performance.now();
      vals = await Promise.all(outs.map((o) => o.data()));
      const t2 = performance.now();
      best = Math.min(best, t1 - t0);
      bestWait = Math.min(bestWait, t2 - t1);
    }
    expect(best * 5, `3 calls took ${best.toFixed(2)} ms, their values ${bestWait.toFixed(1)} ms more (fastest of 2 trials)`).toBeLessThan(bestWait);
    for (let i = 0; i < 3; i++) {
      expect(Array.from(outs[i].dataSync())).toEqual(Array.from(vals[i]));
      outs[i].dispose();
    }
    t.dispose();
  });

  it("dataSync on a pending result waits for it (and agrees with data())", async () => {
    const t = qkv(1, 512, 4, 64);
    const a = attention(t.q, t.k, t.v, { window: 100 });
    const b = attention(t.q, t.k, t.v, { window: 100 });
    const sync = b.dataSync();
    const async_ = await a.data();
    expect(Array.from(sync)).toEqual(Array.from(async_));
    a.dispose();
    b.dispose();
    t.dispose();
  });

  it("synchronize() resolves once queued work is done", async () => {
    const t = qkv(1, 1024, 4, 64);
    const out = attention(t.q, t.k, t.v);
    await synchronize();
    await synchronize("cpu");
    const vals = await out.data();
    expect(vals.every(Number.isFinite)).toBe(true);
    out.dispose();
    t.dispose();
  });

  it("a long attention leaves timers running (the event loop is not blocked)", async () => {
    const t = qkv(1, 3072, 8, 64);
    await synchronize();
    let ticks = 0;
    const timer = setInterval(() => {
      ticks++;
    }, 5);
    try {
      const t0 = performance.now();
      const outs = [
        attention(t.q, t.k, t.v),
        attention(t.q, t.k, t.v, { positional: { type: "alibi" } }),
        attention(t.q, t.k, t.v, { positional: { type: "rope", scaling: { type: "yarn", factor: 4, originalMaxPositions: 1024 } } }),
        attention(t.q, t.k, t.v, { positional: { type: "rope" }, window: 1024 }),
      ];
      const vals = await Promise.all(outs.map((o) => o.data()));
      const elapsed = performance.now() - t0;
      console.log(`[async] 4 attentions T=3072 H=8 D=64: ${elapsed.toFixed(0)} ms, timer ticked ${ticks} times (every 5 ms)`);
      expect(ticks, `timer ticked ${ticks} times during ${elapsed.toFixed(0)} ms of compute`).toBeGreaterThanOrEqual(5);
      for (const v of vals) expect(v.length).toBe(3072 * 8 * 64);
      for (const o of outs) o.dispose();
    } finally {
      clearInterval(timer);
      t.dispose();
    }
  });
});
