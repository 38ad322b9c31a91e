/**
 * matmul (the blocked GEMM) against a float64 reference: every transA/transB/alpha/beta/c
 * combination at odd sizes, sizes that cross the cache blocks (MC, KC, NC) and the small-M
 * path, leading dims, half-type operands; its gradient identities (dA = dY·Bᵀ, dB = Aᵀ·dY via
 * matmul itself) against finite differences; argument errors.
 */
import { describe, expect, it } from "vitest";
import { matmul } from "../../dist/ops/index.js";
import { announceSeed } from "../helpers.js";
import { close, fdCheck, randn, rngFor, rounded, SEED, T, throwsWith, tolFor, vals, type DType } from "./util.js";

announceSeed("ops.matmul", SEED);

interface Case {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
  withC?: boolean;
  /** Uniform inputs from a plain LCG (for the multi-million-element cases: normals are slow in JS). */
  fast?: boolean;
}

function lcgUniform(seed: number, n: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 4294967296 - 0.5;
  }
  return out;
}

/** op(a) [M,K] · op(b) [K,N] in float64; a stored [M,K] or (transA) [K,M]; b [K,N] or (transB) [N,K]. */
function ref(a: ArrayLike<number>, b: ArrayLike<number>, c: ArrayLike<number> | null, cs: Case): Float64Array {
  const { M, N, K } = cs;
  const alpha = cs.alpha ?? 1;
  const beta = cs.beta ?? (c ? 1 : 0);
  const out = new Float64Array(M * N);
  const acc = new Float64Array(N);
  for (let i = 0; i < M; i++) {
    acc.fill(0);
    for (let k = 0; k < K; k++) {
      const av = cs.transA ? a[k * M + i]! : a[i * K + k]!;
      if (av === 0) continue;
      if (cs.transB) for (let j = 0; j < N; j++) acc[j]! += av * b[j * K + k]!;
      else {
        const row = k * N;
        for (let j = 0; j < N; j++) acc[j]! += av * b[row + j]!;
      }
    }
    for (let j = 0; j < N; j++) out[i * N + j] = alpha * acc[j]! + (c ? beta * c[i * N + j]! : 0);
  }
  return out;
}

async function runCase(cs: Case, dtypes: { a?: DType; b?: DType; c?: DType } = {}): Promise<void> {
  const name = `M=${cs.M} N=${cs.N} K=${cs.K} tA=${!!cs.transA} tB=${!!cs.transB} alpha=${cs.alpha ?? 1} beta=${cs.beta ?? "-"} c=${!!cs.withC} ${JSON.stringify(dtypes)}`;
  const rng = rngFor(name);
  const da = dtypes.a ?? "f32", db = dtypes.b ?? "f32", dc = dtypes.c ?? "f32";
  const gen = (n: number) => (cs.fast ? lcgUniform(rng.nextU32(), n) : randn(rng, n));
  const a = rounded(gen(cs.M * cs.K), da);
  const b = rounded(gen(cs.K * cs.N), db);
  const c = cs.withC ? rounded(randn(rng, cs.M * cs.N), dc) : null;
  const ta = T(a, cs.transA ? [cs.K, cs.M] : [cs.M, cs.K], da);
  const tb = T(b, cs.transB ? [cs.N, cs.K] : [cs.K, cs.N], db);
  const tc = c ? T(c, [cs.M, cs.N], dc) : null;
  const out = matmul(ta, tb, { transA: cs.transA, transB: cs.transB, alpha: cs.alpha, beta: cs.beta, c: tc });
  expect(out.shape).toEqual([cs.M, cs.N]);
  expect(out.dtype).toBe(da);
  const want = ref(a, b, c, cs);
  const tol = Math.max(tolFor(da), 1e-5 * Math.max(1, Math.sqrt(cs.K / 256)));
  close(await vals(out), want, tol, name);
  for (const t of [ta, tb, tc, out]) t?.dispose();
}

describe("matmul vs float64 reference", () => {
  const combos = [
    { transA: false, transB: false },
    { transA: false, transB: true },
    { transA: true, transB: false },
    { transA: true, transB: true },
  ];
  for (const tr of combos) {
    it(`37x53x61 ${JSON.stringify(tr)}, alpha/beta/c`, async () => {
      await runCase({ M: 37, N: 53, K: 61, ...tr });
      await runCase({ M: 37, N: 53, K: 61, ...tr, alpha: -0.75 });
      await runCase({ M: 37, N: 53, K: 61, ...tr, withC: true });
      await runCase({ M: 37, N: 53, K: 61, ...tr, withC: true, alpha: 1.5, beta: -0.5 });
      await runCase({ M: 37, N: 53, K: 61, ...tr, withC: true, beta: 0 });
    });
    it(`across cache blocks (M > MC, K > KC) ${JSON.stringify(tr)}`, async () => {
      await runCase({ M: 151, N: 171, K: 517, ...tr, withC: true, alpha: 0.5, beta: 2 });
    });
    it(`small M (no packing path) ${JSON.stringify(tr)}`, async () => {
      for (const M of [1, 2, 3, 4]) await runCase({ M, N: 67, K: 45, ...tr, withC: M === 3 });
      await runCase({ M: 1, N: 300, K: 1000, ...tr });
    });
  }

  it("N wider than a column block (NC) and tiny dims", async () => {
    await runCase({ M: 7, N: 3100, K: 5 });
    await runCase({ M: 1, N: 1, K: 1 });
    await runCase({ M: 5, N: 1, K: 3, transB: true });
    await runCase({ M: 6, N: 16, K: 1 });
  });

  it("large K stays accurate (f32 accumulation, blocked); packing passes over rows and columns", async () => {
    await runCase({ M: 9, N: 11, K: 4099, transA: true });
    // with K = 5000 the packed B block holds fewer than N columns, the packed A fewer than M rows
    await runCase({ M: 7, N: 1100, K: 5000, transB: true, withC: true });
    await runCase({ M: 1700, N: 3, K: 5000, alpha: 2, fast: true });
  });

  it("half-type operands, output and c", async () => {
    await runCase({ M: 29, N: 31, K: 43 }, { a: "bf16", b: "bf16" });
    await runCase({ M: 29, N: 31, K: 43, transB: true }, { a: "f16", b: "f16" });
    await runCase({ M: 29, N: 31, K: 43, transA: true }, { a: "f32", b: "bf16" });
    await runCase({ M: 29, N: 31, K: 43, withC: true }, { a: "f32", b: "f16", c: "bf16" });
    await runCase({ M: 3, N: 40, K: 43, transB: true }, { a: "bf16", b: "bf16" });
    // a half-type output goes through f32 in blocks of rows: several blocks here
    await runCase({ M: 150, N: 9000, K: 3, transA: true, withC: true, beta: 0.5 }, { a: "bf16", b: "f32", c: "f16" });
  });

  it("a with leading dims: [*, K] → [*, N]; transA flattens them into K", async () => {
    const rng = rngFor("leading");
    const a = randn(rng, 2 * 5 * 7), b = randn(rng, 7 * 9);
    const ta = T(a, [2, 5, 7]), tb = T(b, [7, 9]);
    const out = matmul(ta, tb);
    expect(out.shape).toEqual([2, 5, 9]);
    close(await vals(out), ref(a, b, null, { M: 10, N: 9, K: 7 }), 1e-5, "leading dims");
    // transA: a [2, 5, 7] viewed as [10, 7]; aᵀ [7, 10] · b2 [10, 4]
    const b2 = randn(rng, 10 * 4);
    const tb2 = T(b2, [10, 4]);
    const out2 = matmul(ta, tb2, { transA: true });
    expect(out2.shape).toEqual([7, 4]);
    close(await vals(out2), ref(a, b2, null, { M: 7, N: 4, K: 10, transA: true }), 1e-5, "transA leading dims");
    // 1-d a: [K] → [N]
    const a1 = randn(rng, 7);
    const out3 = matmul(T(a1, [7]), tb);
    expect(out3.shape).toEqual([9]);
    close(await vals(out3), ref(a1, b, null, { M: 1, N: 9, K: 7 }), 1e-5, "1-d a");
  });

  it("empty dims: K = 0 gives beta·c (or zeros), M = 0 gives an empty output", async () => {
    const out = matmul(T([], [3, 0]), T([], [0, 4]));
    expect(Array.from(await vals(out))).toEqual(new Array(12).fill(0));
    const c = randn(rngFor("k0"), 12);
    const out2 = matmul(T([], [3, 0]), T([], [0, 4]), { c: T(c, [3, 4]), beta: 0.5 });
    close(await vals(out2), Array.from(c, (v) => v * 0.5), 1e-7, "K=0 with c");
    const out3 = matmul(T([], [0, 5]), T(randn(rngFor("m0"), 20), [5, 4]));
    expect(out3.shape).toEqual([0, 4]);
    expect((await vals(out3)).length).toBe(0);
  });
});

describe("matmul gradients (as matmuls) vs finite differences", () => {
  for (const tr of [{ transA: false, transB: false }, { transA: false, transB: true }]) {
    it(`dA = dY·op(B)ᵀ, dB = op(A)ᵀ·dY ${JSON.stringify(tr)}`, async () => {
      const rng = rngFor(`fd ${JSON.stringify(tr)}`);
      const M = 13, N = 17, K = 11;
      const a = randn(rng, M * K), b = randn(rng, K * N), r = randn(rng, M * N);
      const bShape = tr.transB ? [N, K] : [K, N];
      const tb = T(b, bShape), ta = T(a, [M, K]), tr_ = T(r, [M, N]);
      // dA [M, K] = r · op(b)ᵀ; dB = op(a)ᵀ·r [K, N] (transposed back to b's layout when transB)
      const dA = await vals(matmul(tr_, tb, { transB: !tr.transB }));
      const dB = await vals(tr.transB ? matmul(tr_, ta, { transA: true }) : matmul(ta, tr_, { transA: true }));
      await fdCheck({ what: "dA", rng, x: a, r, grad: dA, forward: (x) => matmul(T(x, [M, K]), tb, tr).data() });
      await fdCheck({ what: "dB", rng, x: b, r, grad: dB, forward: (x) => matmul(ta, T(x, bShape), tr).data() });
    });
  }
});

describe("matmul argument errors", () => {
  const a = T(new Float32Array(6), [2, 3]);
  it("names the argument and the expected shape", () => {
    throwsWith(() => matmul(a, T(new Float32Array(8), [4, 2])), "ERR_SHAPE", "matmul: b: expected shape [3, N] (K = 3, the last dim of a), got [4, 2]");
    throwsWith(() => matmul(a, T(new Float32Array(8), [2, 4]), { transB: true }), "ERR_SHAPE", "matmul: b: expected shape [N, 3] (transB");
    throwsWith(() => matmul(a, T(new Float32Array(3), [3])), "ERR_SHAPE", "matmul: b: expected a 2-d tensor [K, N]");
    throwsWith(() => matmul(a, T(new Float32Array(6), [3, 2]), { c: T(new Float32Array(4), [4]) }), "ERR_SHAPE", "matmul: c: expected shape [2, 2] (the output's), got [4]");
    throwsWith(() => matmul(a, T(new Float32Array(6), [3, 2]), { beta: 0.5 }), "ERR_ARG", "matmul: beta: expected 0 when no c is given");
    throwsWith(() => matmul(a, T(new Float32Array(6), [3, 2]), { transA: 1 as unknown as boolean }), "ERR_ARG", "matmul: transA: expected a boolean");
    throwsWith(() => matmul(a, T(new Float32Array(6), [3, 2]), { foo: 1 } as never), "ERR_ARG", "matmul: opts.foo");
  });
});
