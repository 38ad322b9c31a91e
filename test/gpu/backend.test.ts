/**
 * The CUDA backend's minimal path against independent references: uploads/downloads in f32,
 * bf16 and f16 (round-to-nearest-even, the same values as the CPU backend), transfers between
 * devices, casts, the elementwise ops (axpby, add/mul/scale through the op registry), memory()
 * counts and synchronize(); plus a smoke test of the attention plumbing when the CUDA attention
 * kernels are built in. Needs a CUDA device: skips itself (with the reason) otherwise.
 * Run with `npm run test:gpu` (or CTXWIN_GPU_TESTS=1 npm test).
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { attention, attentionBackward, backendInfo, memory, synchronize, Tensor } from "ctxwin";
import { attentionRef } from "../reference/attention_ref.js";
import { Rng, suiteSeed } from "../reference/rng.js";
import { relErr, roundArray } from "../reference/util.js";
import { cudaUnavailable } from "./cuda_available.js";

type DType = "f32" | "bf16" | "f16";
const DTYPES: DType[] = ["f32", "bf16", "f16"];
const SEED = suiteSeed();

const reason = cudaUnavailable();
if (reason !== null) console.warn(`test/gpu/backend.test.ts skipped: ${reason}`);

/** The loaded CUDA addon itself (the module lib/backend.ts loaded; require caches it by path). */
function cudaAddon() {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
  const path = process.env.CTXWIN_CUDA_ADDON ?? join(root, "build-cuda", "Release", "ctxwin_cuda.node");
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return createRequire(import.meta.url)(path) as any;
}

/** Values that exercise rounding: ties, subnormals, overflow, signed zero, inf, NaN, randoms. */
function testValues(n: number, rng: Rng): Float32Array {
  const special = [
    0, -0, 1, -1, 0.1, -2.5, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 65504, 65519, 65520, -65520,
    2 ** -14, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -126, 2 ** -149, 3.3e38, -3.4e38, Infinity, -Infinity, NaN,
  ];
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (i < special.length) out[i] = special[i];
    else out[i] = rng.normal() * Math.pow(2, rng.int(-30, 30));
  }
  return out;
}

/** Equal as floats, NaN equal to NaN (payloads may differ), -0 distinct from +0. */
function expectSameFloats(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const ok = Number.isNaN(want[i]) ? Number.isNaN(got[i]) : Object.is(got[i], want[i]);
    if (!ok) throw new Error(`${what}: element ${i}: got ${got[i]}, want ${want[i]} (seed ${SEED})`);
  }
}

function relClose(got: Float32Array, want: ArrayLike<number>, tol: number, what: string): void {
  expect(relErr(got, want), `${what} (seed ${SEED})`).toBeLessThan(tol);
}

describe.skipIf(reason !== null)("CUDA backend (minimal path)", () => {
  it("reports the device", () => {
    const info = backendInfo().cuda;
    expect(info.available).toBe(true);
    if (info.available) {
      const d = info.info as Record<string, unknown>;
      expect(d.available).toBe(true);
      expect(typeof d.name).toBe("string");
      expect(d.computeCapability).toMatch(/^\d+\.\d+$/);
      expect(d.multiprocessors as number).toBeGreaterThan(0);
      expect(d.memoryBytes as number).toBeGreaterThan(0);
    }
  });

  for (const dtype of DTYPES) {
    it(`upload/download round trip in ${dtype} (rounding as on the CPU)`, async () => {
      const rng = new Rng(SEED + 1);
      const x = testValues(4099, rng);
      const t = Tensor.from(x, [4099], { device: "cuda", dtype });
      expect(t.device).toBe("cuda");
      expect(t.dtype).toBe(dtype);
      const want = roundArray(x, dtype);
      expectSameFloats(t.dataSync(), want, `${dtype} dataSync`);
      expectSameFloats(await t.data(), want, `${dtype} data()`);
      t.dispose();
    });

    it(`large ${dtype} round trip (several staging chunks, odd size)`, async () => {
      const n = (1 << 20) * 2 + 12345;
      const rng = new Rng(SEED + 2);
      const x = new Float32Array(n);
      for (let i = 0; i < n; i++) x[i] = rng.normal();
      const t = Tensor.from(x, [n], { device: "cuda", dtype });
      expectSameFloats(await t.data(), roundArray(x, dtype), `${dtype} large`);
      t.dispose();
    });

    it(`cpu -> cuda -> cpu in ${dtype} keeps the values`, async () => {
      const rng = new Rng(SEED + 3);
      const x = testValues(1000, rng);
      let cpu: Tensor;
      try {
        cpu = Tensor.from(x, [10, 100], { dtype });
      } catch (e) {
        return; // no CPU addon in this checkout: covered by the pure CUDA tests above
      }
      const gpu = cpu.to("cuda");
      expect(gpu.device).toBe("cuda");
      expect(gpu.shape).toEqual([10, 100]);
      const back = gpu.to("cpu");
      expectSameFloats(await back.data(), await cpu.data(), `${dtype} via cuda`);
      expectSameFloats(await gpu.data(), await cpu.data(), `${dtype} on cuda`);
      for (const t of [cpu, gpu, back]) t.dispose();
    });
  }

  it("casts between every pair of dtypes on the device", async () => {
    const rng = new Rng(SEED + 4);
    const x = testValues(3001, rng);
    for (const from of DTYPES) {
      const src = Tensor.from(x, [3001], { device: "cuda", dtype: from });
      for (const to of DTYPES) {
        const dst = src.to(to);
        expect(dst.dtype).toBe(to);
        expect(dst.device).toBe("cuda");
        // the value of src (rounded to `from`), rounded again to `to`
        expectSameFloats(await dst.data(), roundArray(roundArray(x, from), to), `${from} -> ${to}`);
        dst.dispose();
      }
      const copy = src.to("cuda"); // same device: a copy
      expectSameFloats(await copy.data(), roundArray(x, from), `${from} copy`);
      copy.dispose();
      src.dispose();
    }
  });

  it("axpby and the registry's add/mul/scale compute in f32", async () => {
    const addon = cudaAddon();
    const rng = new Rng(SEED + 5);
    const n = 5003;
    const a = new Float32Array(n);
    const b = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      a[i] = rng.normal();
      b[i] = rng.normal();
    }
    for (const dtype of DTYPES) {
      const ta = addon.fromF32(a, [n], dtype);
      const tb = addon.fromF32(b, [n], dtype);
      const ra = roundArray(a, dtype);
      const rb = roundArray(b, dtype);
      const tol = dtype === "f32" ? 1e-6 : 1e-2;
      const expectOp = (h: unknown, f: (x: number, y: number) => number, what: string) => {
        const want = new Float64Array(n);
        for (let i = 0; i < n; i++) want[i] = f(ra[i], rb[i]);
        relClose(addon.readSync(h), want, tol, `${what} ${dtype}`);
      };
      expectOp(addon.axpby(2, ta, -3, tb), (x, y) => 2 * x - 3 * y, "axpby");
      expectOp(addon.axpby(0.5, ta, 0, null), (x) => 0.5 * x, "axpby without b");
      const [[add]] = addon.runOp("add", [ta, tb], {});
      expectOp(add, (x, y) => x + y, "add");
      const [[mul]] = addon.runOp("mul", [ta, tb], {});
      expectOp(mul, (x, y) => x * y, "mul");
      const [[scale]] = addon.runOp("scale", [ta], { alpha: -1.5 });
      expectOp(scale, (x) => -1.5 * x, "scale");
      for (const h of [ta, tb, add, mul, scale]) h.dispose();
    }
  });

  it("memory() counts live CUDA tensors and bytes; dispose() releases them", async () => {
    await synchronize("cuda");
    const before = memory().cuda ?? { tensors: 0, bytes: 0 };
    const ts = [
      Tensor.from(new Float32Array(1000), [1000], { device: "cuda" }),
      Tensor.from(new Float32Array(1000), [10, 100], { device: "cuda", dtype: "bf16" }),
      Tensor.from(new Float32Array(6), [2, 3], { device: "cuda", dtype: "f16" }),
    ];
    const during = memory().cuda;
    expect(during.tensors - before.tensors).toBe(3);
    expect(during.bytes - before.bytes).toBe(4000 + 2000 + 12);
    for (const t of ts) t.dispose();
    await synchronize("cuda");
    expect(memory().cuda).toEqual(before);
  });

  it("empty tensors and synchronize()", async () => {
    const t = Tensor.from(new Float32Array(0), [0, 4], { device: "cuda", dtype: "bf16" });
    expect((await t.data()).length).toBe(0);
    t.dispose();
    await expect(synchronize("cuda")).resolves.toBeUndefined();
  });

  it("many queued uploads and reads stay in order", async () => {
    const reads: Promise<Float32Array>[] = [];
    const ts: Tensor[] = [];
    for (let i = 0; i < 64; i++) {
      const t = Tensor.from(new Float32Array(257).fill(i), [257], { device: "cuda", dtype: i % 2 ? "f16" : "f32" });
      ts.push(t);
      reads.push(t.data());
    }
    const got = await Promise.all(reads);
    got.forEach((v, i) => expect(v.every((x) => x === i)).toBe(true));
    for (const t of ts) t.dispose();
  });

  // The attention plumbing of the CUDA Device (positional arrays uploaded per launch, workspace
  // for the backward). The kernels' own suite covers the math in depth.
  const info = reason === null ? backendInfo().cuda : null;
  const haveAttention = !!(info && info.available && (info.info as { attentionKernels?: boolean }).attentionKernels);
  const smoke: { name: string; positional: object }[] = [
    { name: "alibi", positional: { type: "alibi" } },
    { name: "rope yarn", positional: { type: "rope", scaling: { type: "yarn", factor: 4, originalMaxPositions: 16 } } },
  ];
  for (const c of smoke) {
    it.skipIf(!haveAttention)(`attention forward/backward on CUDA runs (${c.name})`, async () => {
      const [B, T, H, D] = [1, 48, 4, 32];
      const rng = new Rng(SEED + 6);
      const mk = () => {
        const a = new Float32Array(B * T * H * D);
        for (let i = 0; i < a.length; i++) a[i] = rng.normal();
        return a;
      };
      const q = mk(), k = mk(), v = mk(), g = mk();
      const shape = [B, T, H, D];
      const [tq, tk, tv, tg] = [q, k, v, g].map((x) => Tensor.from(x, shape, { device: "cuda" }));
      const opts = { positional: c.positional } as Parameters<typeof attention>[3];
      const out = attention(tq, tk, tv, opts);
      expect(out.device).toBe("cuda");
      const want = attentionRef({ q, k, v, qShape: [B, T, H, D], kShape: [B, T, H, D] }, opts as never);
      relClose(await out.data(), want, 1e-3, `attention ${c.name}`);
      const grads = attentionBackward(tq, tk, tv, tg, opts);
      for (const t of [grads.dq, grads.dk, grads.dv]) {
        const x = await t.data();
        expect(x.every(Number.isFinite)).toBe(true);
        t.dispose();
      }
      for (const t of [tq, tk, tv, tg, out]) t.dispose();
    });
  }
});
