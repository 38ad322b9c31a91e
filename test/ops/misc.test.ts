/**
 * Elementwise ops, reductions and copies along a dim: add, mul, scale, addBias, fill, sumRows,
 * sum, sumsq, globalNorm, concat, slice, copyInto — against float64 references in f32 and half
 * types, plus argument errors (also the native checks, reached through runOp directly).
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  add,
  addBias,
  concat,
  copyInto,
  fill,
  globalNorm,
  mul,
  runOp,
  scale,
  slice,
  sum,
  sumRows,
  sumsq,
} from "../../dist/ops/index.js";
import { cpuBackend } from "../../dist/backend.js";
import { announceSeed } from "../helpers.js";
import { close, randn, rngFor, rounded, SEED, T, throwsWith, tolFor, vals, type DType } from "./util.js";

announceSeed("ops.misc", SEED);

const cudaAddonPath = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "build-cuda", "Release", "ctxwin_cuda.node");

describe("registry", () => {
  it("every op of the contract is registered with a CPU kernel", () => {
    const names = cpuBackend().opNames();
    for (const op of [
      "matmul", "embedding", "embedding_backward", "rmsnorm", "rmsnorm_backward", "layernorm", "layernorm_backward",
      "swiglu", "swiglu_backward", "gelu_tanh", "gelu_tanh_backward", "softmax_cross_entropy", "add", "mul", "scale",
      "add_bias", "sum_rows", "sum", "sumsq", "global_norm", "fill", "concat", "slice", "softmax", "copy_into", "adamw",
    ]) {
      expect(names, op).toContain(op);
    }
    expect(cpuBackend().opKernels().sort(), "every registered op has a CPU kernel").toEqual([...names].sort());
  });

  // The CUDA addon registers its kernels at load without touching CUDA, so this runs on any host
  // where the addon was built (CI builds it): a CUDA kernel left unregistered fails here.
  it.skipIf(!existsSync(cudaAddonPath))("every registered op has a CUDA kernel in the CUDA addon", () => {
    const cuda = createRequire(import.meta.url)(cudaAddonPath) as { opNames(): string[]; opKernels(): string[]; device: string };
    expect(cuda.device).toBe("cuda");
    expect(cuda.opNames().sort()).toEqual(cpuBackend().opNames().sort());
    expect(cuda.opKernels().sort()).toEqual(cuda.opNames().sort());
  });
});

describe("elementwise", () => {
  for (const dtype of ["f32", "bf16", "f16"] as DType[]) {
    it(`add, mul, scale, addBias, fill (${dtype}, [3, 37, 53] and 40000 elements)`, async () => {
      const rng = rngFor(`ew ${dtype}`);
      for (const shape of [[3, 37, 53], [40000]]) {
        const n = shape.reduce((p, d) => p * d, 1), d = shape[shape.length - 1]!;
        const a = rounded(randn(rng, n), dtype), b = rounded(randn(rng, n), dtype), bias = rounded(randn(rng, d), dtype);
        const ta = T(a, shape, dtype), tb = T(b, shape, dtype);
        const tol = tolFor(dtype);
        close(await vals(add(ta, tb)), Array.from(a, (v, i) => v + b[i]!), tol, "add");
        close(await vals(mul(ta, tb)), Array.from(a, (v, i) => v * b[i]!), tol, "mul");
        close(await vals(scale(ta, -2.5)), Array.from(a, (v) => -2.5 * v), tol, "scale");
        close(await vals(addBias(ta, T(bias, [d], dtype))), Array.from(a, (v, i) => v + bias[i % d]!), tol, "addBias");
        const f = fill(ta, 0.1);
        expect(f.dtype).toBe(dtype);
        expect(f.shape).toEqual(shape);
        const fv = await vals(f);
        expect(fv.every((v) => v === rounded(Float32Array.from([0.1]), dtype)[0])).toBe(true);
      }
    });
  }

  it("mixed dtypes: the output takes the first input's", async () => {
    const a = T([1, 2, 3], [3]), b = T([0.5, 0.25, 0.125], [3], "bf16");
    const y = add(a, b);
    expect(y.dtype).toBe("f32");
    expect(Array.from(await vals(y))).toEqual([1.5, 2.25, 3.125]);
    expect(Array.from(await vals(fill(T(new Float32Array(3), [3]), -Infinity)))).toEqual([-Infinity, -Infinity, -Infinity]);
  });

  it("errors", () => {
    throwsWith(() => add(T([1, 2], [2]), T([1, 2], [1, 2])), "ERR_SHAPE", "add: b: expected the shape of a [2], got [1, 2]");
    throwsWith(() => addBias(T([1, 2], [1, 2]), T([1], [1])), "ERR_SHAPE", "addBias: b: expected shape [2] (the last dim of x), got [1]");
    throwsWith(() => scale(T([1], [1]), NaN), "ERR_ARG", "scale: alpha: expected a finite number");
  });
});

describe("reductions", () => {
  it("sumRows, sum, sumsq (f32 and bf16; many rows), globalNorm", async () => {
    const rng = rngFor("reduce");
    for (const dtype of ["f32", "bf16"] as DType[]) {
      for (const [rows, d] of [[37, 53], [5000, 33]] as const) {
        const x = rounded(randn(rng, rows * d), dtype);
        const tx = T(x, [rows, d], dtype);
        const want = new Float64Array(d);
        let s = 0, ss = 0;
        x.forEach((v, i) => {
          want[i % d]! += v;
          s += v;
          ss += v * v;
        });
        const sr = sumRows(tx);
        expect(sr.shape).toEqual([d]);
        expect(sr.dtype).toBe("f32");
        close(await vals(sr), want, 1e-5, "sumRows");
        const tot = await vals(sum(tx));
        expect(Math.abs(tot[0]! - s)).toBeLessThan(1e-6 * Math.sqrt(ss) + 1e-7 * Math.abs(s));
        close(await vals(sumsq(tx)), [ss], 1e-6, "sumsq");
      }
    }
    const parts = [randn(rng, 10), randn(rng, 3000), randn(rng, 1)];
    const total = parts.reduce((p, a) => p + a.reduce((q, v) => q + v * v, 0), 0);
    const g = globalNorm(parts.map((a) => T(a, [a.length])));
    expect(g.shape).toEqual([1]);
    close(await vals(g), [Math.sqrt(total)], 1e-6, "globalNorm");
    throwsWith(() => globalNorm([]), "ERR_ARG", "globalNorm: tensors: expected a non-empty array of Tensors");
  });

  it("results are bitwise reproducible", async () => {
    const x = T(randn(rngFor("repro"), 300000), [3000, 100]);
    const a = await vals(sumRows(x)), b = await vals(sumRows(x));
    expect(Array.from(a)).toEqual(Array.from(b));
    expect((await vals(sumsq(x)))[0]).toBe((await vals(sumsq(x)))[0]);
  });
});

describe("concat, slice, copyInto", () => {
  /** x [..] as nested index helper: element offset of idx in shape. */
  const offset = (shape: number[], idx: number[]) => idx.reduce((o, v, i) => o * shape[i]! + v, 0);
  function* indices(shape: number[]): Generator<number[]> {
    const n = shape.reduce((p, d) => p * d, 1);
    for (let f = 0; f < n; f++) {
      const idx: number[] = [];
      let r = f;
      for (let i = shape.length - 1; i >= 0; i--) {
        idx.unshift(r % shape[i]!);
        r = Math.floor(r / shape[i]!);
      }
      yield idx;
    }
  }

  it("concat along each dim (incl. negative dims, mixed dtypes)", async () => {
    const rng = rngFor("concat");
    const sa = [2, 3, 4];
    for (const dim of [0, 1, 2, -1]) {
      const dd = dim < 0 ? dim + 3 : dim;
      const sb = sa.map((v, i) => (i === dd ? 5 : v));
      const a = randn(rng, 24), b = rounded(randn(rng, sb.reduce((p, v) => p * v, 1)), "bf16");
      const out = concat(T(a, sa), T(b, sb, "bf16"), dim);
      const so = sa.map((v, i) => (i === dd ? v + 5 : v));
      expect(out.shape).toEqual(so);
      const want = new Float32Array(so.reduce((p, v) => p * v, 1));
      for (const idx of indices(so)) {
        const k = idx[dd]!;
        want[offset(so, idx)] = k < sa[dd]! ? a[offset(sa, idx)]! : b[offset(sb, idx.map((v, i) => (i === dd ? v - sa[dd]! : v)))]!;
      }
      expect(Array.from(await vals(out))).toEqual(Array.from(want));
    }
  });

  it("slice is a copy of the range along a dim", async () => {
    const rng = rngFor("slice");
    const s = [3, 5, 7], x = randn(rng, 105);
    const tx = T(x, s);
    for (const [dim, start, end] of [[0, 1, 3], [1, 0, 5], [2, 2, 6], [-2, 4, 4], [2, 6, 7]] as const) {
      const dd = dim < 0 ? dim + 3 : dim;
      const out = slice(tx, dim, start, end);
      const so = s.map((v, i) => (i === dd ? end - start : v));
      expect(out.shape).toEqual(so);
      const want: number[] = [];
      for (const idx of indices(so)) want.push(x[offset(s, idx.map((v, i) => (i === dd ? v + start : v)))]!);
      expect(Array.from(await vals(out))).toEqual(want);
    }
    expect(slice(tx, 1, 2).shape).toEqual([3, 3, 7]);
  });

  it("copyInto writes in place (KV-cache style) and later reads see it", async () => {
    const rng = rngFor("copyInto");
    const cache = T(new Float32Array(2 * 8 * 3), [2, 8, 3]);
    const a = randn(rng, 2 * 3 * 3), b = randn(rng, 2 * 2 * 3);
    copyInto(cache, T(a, [2, 3, 3]), 1, 0);
    copyInto(cache, T(b, [2, 2, 3], "f16"), 1, 3);
    const got = await vals(cache);
    const want = new Float32Array(48);
    const bf = rounded(b, "f16");
    for (let i = 0; i < 2; i++)
      for (let t = 0; t < 5; t++)
        for (let j = 0; j < 3; j++) want[(i * 8 + t) * 3 + j] = t < 3 ? a[(i * 3 + t) * 3 + j]! : bf[(i * 2 + t - 3) * 3 + j]!;
    expect(Array.from(got)).toEqual(Array.from(want));
    // a later op on the cache sees the writes (queue order)
    close(await vals(scale(cache, 2)), Array.from(want, (v) => 2 * v), 1e-7, "after copyInto");
  });

  it("errors", () => {
    const x = T(new Float32Array(6), [2, 3]);
    throwsWith(() => concat(x, T(new Float32Array(4), [2, 2]), 0), "ERR_SHAPE", "concat: b: expected the shape of a [2, 3] except along dim 0, got [2, 2]");
    throwsWith(() => concat(x, x, 2), "ERR_ARG", "concat: dim: expected an integer in [-2, 1], got 2");
    throwsWith(() => slice(x, 1, 2, 4), "ERR_ARG", "slice: end: expected an integer in [2, 3], got 4");
    throwsWith(() => copyInto(x, T(new Float32Array(4), [2, 2]), 1, 2), "ERR_SHAPE", "copyInto: src: expected at most 1 entries along dim 1 (dst has 3, start 2), got shape [2, 2]");
  });

  it("the native checks say the same through runOp", () => {
    const x = T(new Float32Array(6), [2, 3]);
    throwsWith(() => runOp("rmsnorm", [x, T(new Float32Array(2), [2])], { eps: 1e-5 }), "ERR_SHAPE", "rmsnorm: w: expected shape [3] (the last dim of x), got [2]");
    throwsWith(() => runOp("matmul", [x, T(new Float32Array(8), [4, 2]), null], {}), "ERR_SHAPE", "matmul: b: expected shape [3, N] (K = 3, the last dim of a), got [4, 2]");
    throwsWith(() => runOp("copy_into", [x, T(new Float32Array(4), [2, 2])], { dim: 1, start: 2 }), "ERR_SHAPE", "copy_into: src: expected at most 1 entries");
    throwsWith(() => runOp("adamw", [x, x, x, x, null], { lr: 1e-3 }), "ERR_ARG", "adamw: step: expected an integer, got nothing");
    throwsWith(() => runOp("softmax_cross_entropy", [x, T([0, 1], [2])], { ignoreIndex: "a" }), "ERR_ARG", "softmax_cross_entropy: ignoreIndex: expected a number, got a string");
    throwsWith(() => runOp("slice", [x], { dim: 0, start: 3 }), "ERR_ARG", "slice: start: expected an integer in [0, 2], got 3");
  });
});
