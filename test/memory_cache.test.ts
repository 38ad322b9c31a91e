/**
 * The CPU backend's cache of freed tensor memory (native/src/runtime/host_block_cache.h): freed
 * blocks are kept and handed back for the same size class, the limit is honoured, and results do
 * not depend on what a reused block held — a forward, a backward and an optimizer step give
 * bit-identical numbers with cached blocks poisoned with NaN bytes (CTXWIN_CPU_CACHE_POISON=1)
 * and with no cache at all (CTXWIN_CPU_CACHE_MB=0).
 */
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { backendInfo, memory, synchronize, Tensor } from "ctxwin";

const DIST = resolve(__dirname, "../dist/index.js");
const TRAIN = resolve(__dirname, "../dist/train/index.js");

describe("CPU tensor memory cache", () => {
  it("keeps a freed block and hands it back for the same size class", async () => {
    await synchronize();
    const limit = backendInfo().cpu.memoryCacheLimitBytes;
    expect(limit).toBeGreaterThan(0);
    const n = 300_000; // 1.2 MB: above the 64 KiB floor
    const a = Tensor.from(new Float32Array(n).fill(1), [n]);
    await synchronize();
    const before = backendInfo().cpu.memoryCachedBytes;
    const live = memory().cpu!.bytes;
    a.dispose();
    await synchronize();
    const held = backendInfo().cpu.memoryCachedBytes;
    expect(held - before).toBeGreaterThanOrEqual(n * 4);
    expect(held - before).toBeLessThanOrEqual(n * 4 * 1.25 + 64);
    expect(memory().cpu!.bytes).toBe(live - n * 4); // memory() counts live tensors only
    const b = Tensor.from(new Float32Array(n).fill(2), [n]);
    await synchronize();
    expect(backendInfo().cpu.memoryCachedBytes).toBe(before); // reused
    expect(Array.from((await b.data()).subarray(0, 3))).toEqual([2, 2, 2]);
    b.dispose();
  });

  it("results do not depend on reused memory: poisoned cache and no cache give identical numbers", () => {
    const script = `
      const { createModel, Tape } = await import(${JSON.stringify(DIST)});
      const { AdamW } = await import(${JSON.stringify(TRAIN)});
      const model = createModel({ vocabSize: 97, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2 }, { seed: 5 });
      const ids = Array.from({ length: 3 }, (_, b) => Array.from({ length: 70 }, (_, i) => (b * 31 + i * 7) % 97));
      const opt = new AdamW(model, { lr: 1e-2 });
      const out = [];
      for (let step = 0; step < 3; step++) {
        const tape = new Tape();
        const loss = tape.run(() => model.loss(ids, ids));
        tape.backward(loss);
        out.push(...(await loss.value.data()));
        opt.step({ lr: 1e-2 });
        model.zeroGrad(); tape.dispose(); loss.release();
      }
      const logits = await model.forward(ids);
      const d = await logits.data();
      let h = 0; for (let i = 0; i < d.length; i++) h = (h * 31 + Math.round(d[i] * 1e6)) % 1000000007;
      out.push(h);
      console.log(JSON.stringify(out));
    `;
    const run = (env: Record<string, string>) => {
      const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", env: { ...process.env, ...env }, timeout: 120_000 });
      expect(r.stderr).toBe("");
      return JSON.parse(r.stdout.trim()) as number[];
    };
    const poisoned = run({ CTXWIN_CPU_CACHE_POISON: "1" });
    const uncached = run({ CTXWIN_CPU_CACHE_MB: "0" });
    expect(poisoned.every(Number.isFinite)).toBe(true);
    expect(poisoned).toEqual(uncached);
  });
});
