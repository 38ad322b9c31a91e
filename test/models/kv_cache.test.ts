/**
 * The in-place KV cache: `leading` (a view of the filled part for batch 1, a copy otherwise),
 * LayerCache growth (×2, contents kept), and decoding through the cache giving the logits of the
 * full forward (not just the same argmax) for every positional scheme, batch 1 and 2, with a
 * prefix, starting from a cache too small for the generation (so it regrows on the way), and
 * with the rope tables shared between calls of different lengths.
 */
import { describe, expect, it } from "vitest";
import { defaultDevice, memory, synchronize, Tensor } from "ctxwin";
import { createModel } from "../../dist/models/index.js";
import { copyInto, leading, slice } from "../../dist/ops/index.js";
import { LayerCache, KVCache } from "../../dist/nn/index.js";
import { XorShift32 } from "../reference/rng.js";

const liveTensors = async () => (await synchronize(), memory()[defaultDevice()]?.tensors ?? 0);

function randomTensor(shape: number[], seed: number): Tensor {
  const r = new XorShift32(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return Tensor.from(Float32Array.from({ length: n }, () => r.next() * 2 - 1), shape);
}

describe("leading", () => {
  it("is a view for batch 1 (later in-place writes show through) and equals slice", async () => {
    const x = randomTensor([1, 7, 2, 3], 1);
    const v = leading(x, 1, 4);
    expect(v.shape).toEqual([1, 4, 2, 3]);
    const s = slice(x, 1, 0, 4);
    expect(Array.from(await v.data())).toEqual(Array.from(await s.data()));
    const y = randomTensor([1, 2, 2, 3], 2);
    copyInto(x, y, 1, 2); // overwrite positions 2, 3: inside the view
    const vd = await v.data();
    const yd = await y.data();
    expect(Array.from(vd.subarray(2 * 6, 4 * 6))).toEqual(Array.from(yd));
    // the view keeps the memory alive after its base is disposed
    x.dispose();
    expect(Array.from((await v.data()).subarray(2 * 6, 4 * 6))).toEqual(Array.from(yd));
    for (const t of [v, s, y]) t.dispose();
  });

  it("copies for batch > 1 (the rows are not contiguous) and checks its arguments", async () => {
    const x = randomTensor([2, 5, 3], 3);
    const v = leading(x, 1, 2);
    const s = slice(x, 1, 0, 2);
    expect(v.shape).toEqual([2, 2, 3]);
    expect(Array.from(await v.data())).toEqual(Array.from(await s.data()));
    const y = randomTensor([2, 2, 3], 4);
    copyInto(x, y, 1, 0);
    expect(Array.from(await v.data())).toEqual(Array.from(await s.data())); // a copy: unchanged
    expect(() => leading(x, 1, 6)).toThrow(/leading: end/);
    expect(() => leading(x, 3, 1)).toThrow(/leading: dim/);
    // dims before `dim` all 1 but not at the front of the list: still contiguous
    const z = randomTensor([1, 1, 4, 2], 5);
    const zv = leading(z, 2, 3);
    expect(Array.from(await zv.data())).toEqual(Array.from((await z.data()).subarray(0, 6)));
    for (const t of [x, v, s, y, z, zv]) t.dispose();
  });
});

describe("LayerCache", () => {
  for (const B of [1, 2]) {
    it(`grows ×2 in place and keeps every appended position (batch ${B})`, async () => {
      const before = await liveTensors();
      const c = new LayerCache(0);
      const parts: Tensor[] = [];
      const caps: number[] = [];
      let seed = 10;
      for (const T of [3, 1, 1, 1, 1, 2, 5, 1]) {
        const k = randomTensor([B, T, 2, 4], seed++);
        const v = randomTensor([B, T, 2, 4], seed++);
        parts.push(k, v);
        const all = c.append(k, v);
        caps.push(c.capacity);
        expect(all.k.shape).toEqual([B, c.length, 2, 4]);
        // the cached keys equal the concatenation of everything appended so far, per batch row
        const got = await all.k.data();
        const gotV = await all.v.data();
        const want: number[] = [];
        const wantV: number[] = [];
        for (let b = 0; b < B; b++) {
          for (let i = 0; i < parts.length; i += 2) {
            const Ti = parts[i]!.shape[1]!;
            const kd = await parts[i]!.data();
            const vd = await parts[i + 1]!.data();
            want.push(...kd.subarray(b * Ti * 8, (b + 1) * Ti * 8));
            wantV.push(...vd.subarray(b * Ti * 8, (b + 1) * Ti * 8));
          }
        }
        expect(Array.from(got)).toEqual(want);
        expect(Array.from(gotV)).toEqual(wantV);
        all.k.dispose();
        all.v.dispose();
      }
      // 3 → 4 > 3: ×2 = 6; → 7 > 6: 12; → 15 > 12: 24
      expect(caps).toEqual([3, 6, 6, 6, 12, 12, 24, 24]);
      expect(c.length).toBe(15);
      const wrong = randomTensor([B + 1, 1, 2, 4], 99);
      expect(() => c.append(wrong, wrong)).toThrow(/cache's batch/);
      wrong.dispose();
      c.dispose();
      for (const p of parts) p.dispose();
      expect(await liveTensors()).toBe(before);
    });
  }

  it("a capacity given up front is allocated once", () => {
    const c = new LayerCache(32);
    const k = randomTensor([1, 5, 1, 2], 1);
    const all = c.append(k, k);
    expect(c.capacity).toBe(32);
    all.k.dispose();
    all.v.dispose();
    k.dispose();
    c.dispose();
    expect(() => new LayerCache(-1)).toThrow(/capacity/);
    expect(() => new KVCache(2, 1.5)).toThrow(/capacity/);
  });
});

describe("decoding through the cache gives the full forward's logits", () => {
  const rope = { type: "rope", theta: 500 } as const;
  const schemes: [string, Record<string, unknown>][] = [
    ["llama GQA, rope", { family: "llama", numKvHeads: 1, positional: rope }],
    ["llama, rope linear ×2", { family: "llama", positional: { ...rope, scaling: { type: "linear", factor: 2 } } }],
    ["llama, rope ntk", { family: "llama", positional: { ...rope, scaling: { type: "ntk", factor: 3 } } }],
    ["llama, yarn", { family: "llama", positional: { ...rope, scaling: { type: "yarn", factor: 4, originalMaxPositions: 8 } } }],
    ["llama, partial rotary", { family: "llama", positional: { ...rope, rotaryDim: 4 } }],
    ["llama, no positions", { family: "llama", positional: { type: "none" } }],
    ["llama, sliding window 5", { family: "llama", slidingWindow: 5, positional: rope }],
    ["bloom, alibi", { family: "bloom" }],
  ];
  for (const [name, extra] of schemes) {
    for (const B of [1, 2]) {
      it(`${name}, batch ${B}`, async () => {
        const p = extra["positional"] as { type: string; theta?: number } | undefined;
        const unique = p?.type === "rope" ? { positional: { ...p, theta: 300 + 17 * B + name.length } } : {};
        const model = createModel({ vocabSize: 23, hiddenSize: 16, numLayers: 2, numHeads: 2, initializerRange: 0.4, ...extra, ...unique } as never, { seed: 7 });
        const r = new XorShift32(B * 100 + name.length);
        const seqs = Array.from({ length: B }, () => Array.from({ length: 21 }, () => Math.floor(r.next() * 23)));
        const before = await liveTensors();
        const cache = model.createCache(2); // too small: the cache grows while decoding
        const V = 23;
        const T = 21;
        const steps = [6, 1, 1, 3, 1, 1, 1, 2, 1, 1, 1, 1, 1];
        const outs: Float32Array[] = [];
        for (let i = 0, pos = 0; i < steps.length; pos += steps[i]!, i++) {
          const out = await model.forward(seqs.map((s) => s.slice(pos, pos + steps[i]!)), { cache });
          outs.push(await out.data());
          out.dispose();
        }
        // the full forward comes after the decoding: the rope tables (shared between calls of one
        // configuration, a unique theta here) grew step by step on the way, 6 → 12 → 24 rows
        const full = await model.forward(seqs);
        const want = await full.data();
        full.dispose();
        let pos = 0;
        for (const [i, step] of steps.entries()) {
          const got = outs[i]!;
          for (let b = 0; b < B; b++) {
            for (let t = 0; t < step; t++) {
              for (let v = 0; v < V; v++) {
                const g = got[(b * step + t) * V + v]!;
                const w = want[(b * T + pos + t) * V + v]!;
                expect(Math.abs(g - w)).toBeLessThan(2e-4 * (1 + Math.abs(w)));
              }
            }
          }
          pos += step;
        }
        expect(pos).toBe(T);
        expect(cache.length).toBe(T);
        expect(cache.layers[0]!.capacity).toBeGreaterThanOrEqual(T);
        cache.dispose();
        expect(await liveTensors()).toBe(before);
        model.dispose();
      });
    }
  }

  it("with a prefix (prefix keys seed the cache, never rotated)", async () => {
    const model = createModel({ family: "llama", vocabSize: 19, hiddenSize: 16, numLayers: 2, numHeads: 2, numKvHeads: 1, initializerRange: 0.4, positional: rope } as never, { seed: 3 });
    const P = 3;
    model.setPrefix(Array.from({ length: 2 }, (_, l) => ({ keys: randomTensor([P, 1, 8], 40 + l), values: randomTensor([P, 1, 8], 50 + l) })));
    const seq = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5];
    const full = await model.forward([seq]);
    const want = await full.data();
    full.dispose();
    const cache = model.createCache();
    for (let t = 0; t < seq.length; t++) {
      const out = await model.forward([[seq[t]!]], { cache });
      const got = await out.data();
      out.dispose();
      for (let v = 0; v < 19; v++) expect(Math.abs(got[v]! - want[t * 19 + v]!)).toBeLessThan(2e-4 * (1 + Math.abs(want[t * 19 + v]!)));
    }
    expect(cache.length).toBe(P + seq.length);
    cache.dispose();
    model.dispose();
  });
});
