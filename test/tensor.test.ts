/**
 * Tensor basics: getters, data()/dataSync(), to(), dispose (idempotent, `using`,
 * Symbol.dispose), memory() accounting going up and back down, and the CUDA-unavailable error.
 */
import { describe, expect, it } from "vitest";
import { attention, attentionBackward, backendInfo, createModel, defaultDevice, memory, setDefaultDevice, synchronize, Tensor } from "ctxwin";
import { Rng, suiteSeed } from "./reference/rng.js";

const SEED = suiteSeed();
const rng = new Rng(SEED);

describe("Tensor", () => {
  it("shape, dtype and device getters; defaults cpu/f32", () => {
    const shape = [2, 3, 4];
    const t = Tensor.from(new Float32Array(24), shape);
    expect(t.shape).toEqual([2, 3, 4]);
    expect(t.dtype).toBe("f32");
    expect(t.device).toBe("cpu");
    shape[0] = 7; // the tensor keeps its own copy
    expect(t.shape).toEqual([2, 3, 4]);
    try {
      (t.shape as number[])[0] = 9; // readonly: either throws or is ignored
    } catch {
      /* frozen */
    }
    expect(t.shape).toEqual([2, 3, 4]);
    for (const dtype of ["bf16", "f16"] as const) {
      const h = Tensor.from([1, 2], [2], { dtype, device: "cpu" });
      expect(h.dtype).toBe(dtype);
      expect(h.device).toBe("cpu");
      h.dispose();
    }
    t.dispose();
  });

  it("data() and dataSync() give the stored values (Float32Array and number[] inputs)", async () => {
    const vals = rng.normalF32(60);
    const t = Tensor.from(vals, [3, 4, 5]);
    const a = await t.data();
    const b = t.dataSync();
    expect(a).toBeInstanceOf(Float32Array);
    expect(b).toBeInstanceOf(Float32Array);
    expect(Array.from(a)).toEqual(Array.from(vals));
    expect(Array.from(b)).toEqual(Array.from(vals));
    const u = Tensor.from(Array.from(vals), [60]);
    expect(Array.from(await u.data())).toEqual(Array.from(vals));
    // the tensor does not alias the caller's array
    vals[0] = 12345;
    expect((await t.data())[0]).not.toBe(12345);
    t.dispose();
    u.dispose();
  });

  it("a zero-size tensor", async () => {
    const t = Tensor.from([], [0, 3]);
    expect(t.shape).toEqual([0, 3]);
    expect((await t.data()).length).toBe(0);
    t.dispose();
  });

  it("to(device) and to(dtype) return new tensors; the source is unchanged", async () => {
    const vals = rng.normalF32(12);
    const t = Tensor.from(vals, [3, 4]);
    const c = t.to("cpu");
    expect(c).not.toBe(t);
    expect(c.device).toBe("cpu");
    expect(c.shape).toEqual([3, 4]);
    expect(Array.from(await c.data())).toEqual(Array.from(vals));
    const f = t.to("f32");
    expect(f.dtype).toBe("f32");
    expect(Array.from(await f.data())).toEqual(Array.from(vals));
    const b = t.to("bf16");
    expect(b.dtype).toBe("bf16");
    expect(t.dtype).toBe("f32");
    expect(Array.from(await t.data())).toEqual(Array.from(vals));
    c.dispose();
    // disposing a copy leaves the source alive
    expect(Array.from(t.dataSync())).toEqual(Array.from(vals));
    for (const z of [t, f, b]) z.dispose();
  });

  it("dispose() is idempotent; Symbol.dispose and `using` dispose", async () => {
    const t = Tensor.from([1, 2, 3], [3]);
    t.dispose();
    expect(() => t.dispose()).not.toThrow();
    expect(() => t[Symbol.dispose]()).not.toThrow();
    expect(() => t.dataSync()).toThrow(/dispose/);

    const u = Tensor.from([1, 2, 3], [3]);
    u[Symbol.dispose]();
    expect(() => u.dataSync()).toThrow(/dispose/);

    let escaped: Tensor;
    {
      using w = Tensor.from([4, 5, 6], [3]);
      expect(Array.from(await w.data())).toEqual([4, 5, 6]);
      escaped = w;
    }
    expect(() => escaped.dataSync()).toThrow(/dispose/);
  });
});

describe("setDefaultDevice", () => {
  it("is where tensors and models without a device go; rejects unknown devices; returns the previous one", () => {
    const start = defaultDevice();
    try {
      expect(setDefaultDevice("cpu")).toBe(start);
      expect(defaultDevice()).toBe("cpu");
      const t = Tensor.from([1, 2], [2]);
      expect(t.device).toBe("cpu");
      t.dispose();
      let err: (Error & { code?: string }) | undefined;
      try {
        setDefaultDevice("tpu" as never);
      } catch (e) {
        err = e as Error & { code?: string };
      }
      expect(err?.code).toBe("ERR_DEVICE");
      expect(err?.message).toBe('setDefaultDevice: device: expected "cpu" or "cuda", got "tpu"');
      expect(defaultDevice(), "a rejected device leaves the default alone").toBe("cpu");
      // an explicit device always wins over the default
      setDefaultDevice("cuda");
      const c = Tensor.from([3], [1], { device: "cpu" });
      expect(c.device).toBe("cpu");
      c.dispose();
      if (!backendInfo().cuda.available) {
        // the default is honoured: without CUDA the first tensor made there says why
        expect(() => Tensor.from([1], [1])).toThrow(/^CUDA backend unavailable: /);
        expect(() => createModel({ vocabSize: 8, hiddenSize: 8, numLayers: 1, numHeads: 2 })).toThrow(/CUDA backend unavailable/);
      }
    } finally {
      setDefaultDevice(start);
    }
  });
});

describe("memory()", () => {
  it("counts live tensors and bytes per device, and goes back down after dispose", async () => {
    await synchronize();
    const before = memory().cpu;
    expect(before).toBeDefined();
    expect(typeof before.tensors).toBe("number");
    expect(typeof before.bytes).toBe("number");

    const a = Tensor.from(new Float32Array(1000), [10, 100]); // 4000 bytes in f32
    const b = Tensor.from(new Float32Array(512), [512], { dtype: "bf16" }); // 1024 bytes
    const c = Tensor.from(new Float32Array(512), [512], { dtype: "f16" }); // 1024 bytes
    await synchronize();
    const during = memory().cpu;
    expect(during.tensors - before.tensors).toBe(3);
    expect(during.bytes - before.bytes).toBeGreaterThanOrEqual(4000 + 1024 + 1024);
    // half types are stored as such (2 bytes a value, not 4)
    for (const dtype of ["bf16", "f16"] as const) {
      await synchronize();
      const m0 = memory().cpu.bytes;
      const h = Tensor.from(new Float32Array(4096), [4096], { dtype });
      await synchronize();
      const grown = memory().cpu.bytes - m0;
      expect(grown, `${dtype} tensor of 4096 values`).toBeGreaterThanOrEqual(8192);
      expect(grown, `${dtype} tensor of 4096 values`).toBeLessThan(12288);
      h.dispose();
    }

    a.dispose();
    b.dispose();
    c.dispose();
    await synchronize();
    const after = memory().cpu;
    expect(after.tensors).toBe(before.tensors);
    expect(after.bytes).toBe(before.bytes);
  });

  for (const which of ["attention", "attentionBackward"] as const) {
    it(`${which} alone: memory() back to where it was once its outputs are disposed`, async () => {
      const shape = [1, 32, 2, 8];
      const q = Tensor.from(rng.normalF32(512), shape);
      const k = Tensor.from(rng.normalF32(512), shape);
      const v = Tensor.from(rng.normalF32(512), shape);
      await synchronize();
      const before = memory().cpu;
      const outs = which === "attention" ? [attention(q, k, v)] : Object.values(attentionBackward(q, k, v, q));
      await Promise.all(outs.map((o) => o.data()));
      for (const o of outs) o.dispose();
      await synchronize();
      const after = memory().cpu;
      expect(after, `live tensors/bytes before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`).toEqual(before);
      for (const t of [q, k, v]) t.dispose();
    });
  }

  it("attention and its backward leak nothing once their outputs are disposed", async () => {
    await synchronize();
    const before = memory().cpu;
    const shape = [1, 64, 2, 16];
    const q = Tensor.from(rng.normalF32(2048), shape);
    const k = Tensor.from(rng.normalF32(2048), shape);
    const v = Tensor.from(rng.normalF32(2048), shape);
    const d = Tensor.from(rng.normalF32(2048), shape);
    const out = attention(q, k, v, { positional: { type: "rope" } });
    const g = attentionBackward(q, k, v, d, { positional: { type: "alibi" }, window: 8 });
    await Promise.all([out.data(), g.dq.data(), g.dk.data(), g.dv.data()]);
    await synchronize();
    const during = memory().cpu;
    expect(during.tensors - before.tensors).toBeGreaterThanOrEqual(8);
    for (const t of [q, k, v, d, out, g.dq, g.dk, g.dv]) t.dispose();
    await synchronize();
    const after = memory().cpu;
    expect(after.tensors).toBe(before.tensors);
    expect(after.bytes).toBe(before.bytes);
  });

  it("disposing inputs while an op is queued keeps the result correct and frees everything after", async () => {
    await synchronize();
    const before = memory().cpu;
    const shape = [1, 512, 4, 64];
    const n = 512 * 4 * 64;
    const qv = rng.normalF32(n);
    const kv = rng.normalF32(n);
    const vv = rng.normalF32(n);
    const mk = () => [Tensor.from(qv, shape), Tensor.from(kv, shape), Tensor.from(vv, shape)] as const;
    const [q1, k1, v1] = mk();
    const o1 = attention(q1, k1, v1, { positional: { type: "alibi" } });
    const want = await o1.data();
    o1.dispose();
    const [q2, k2, v2] = mk();
    const out = attention(q2, k2, v2, { positional: { type: "alibi" } });
    q2.dispose();
    k2.dispose();
    v2.dispose(); // freed only once the queued attention is done with them
    const got = await out.data();
    expect(Array.from(got)).toEqual(Array.from(want));
    out.dispose();
    for (const t of [q1, k1, v1]) t.dispose();
    await synchronize();
    const after = memory().cpu;
    expect(after.tensors).toBe(before.tensors);
    expect(after.bytes).toBe(before.bytes);
  });
});

describe("CUDA", () => {
  it("device 'cuda' either works or throws 'CUDA backend unavailable: <reason>'", async () => {
    const info = backendInfo?.();
    let err: Error | null = null;
    let t: Tensor | null = null;
    try {
      t = Tensor.from([1, 2, 3], [3], { device: "cuda" });
    } catch (e) {
      err = e as Error;
    }
    if (info && info.cuda.available) {
      expect(err).toBeNull();
      expect(t!.device).toBe("cuda");
      expect(Array.from(await t!.data())).toEqual([1, 2, 3]);
      t!.dispose();
    } else {
      expect(err, "no CUDA device here: Tensor.from(..., {device: 'cuda'}) must throw").not.toBeNull();
      expect(err!.message).toMatch(/^CUDA backend unavailable: \S/);
      expect((err as Error & { code?: string }).code).toBe("ERR_DEVICE");
    }
  });

  it("without CUDA, memory() and synchronize() still work and report cpu", async () => {
    await synchronize();
    await synchronize("cpu");
    const m = memory();
    expect(m.cpu).toBeDefined();
  });
});
