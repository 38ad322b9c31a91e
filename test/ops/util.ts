/**
 * Shared helpers of the op suites (test/ops/*.test.ts): seeded inputs, tensors, comparisons and
 * the finite-difference check every backward goes through.
 */
import { expect } from "vitest";
import { Tensor } from "ctxwin";
import { Rng, suiteSeed } from "../reference/rng.js";
import { fmt, maxAbs, relErr, roundArray } from "../reference/util.js";

export type DType = "f32" | "bf16" | "f16";

export const SEED = suiteSeed();

/** An Rng for one test: the suite seed mixed with the test's name. */
export function rngFor(name: string): Rng {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  return new Rng((SEED + h) % 2 ** 52);
}

export function randn(rng: Rng, n: number, std = 1): Float32Array {
  return rng.normalF32(n, std);
}

/** A tensor of `data` (rounded to dtype by the tensor itself). */
export function T(data: Float32Array | number[], shape: number[], dtype: DType = "f32"): Tensor {
  return Tensor.from(data instanceof Float32Array ? data : Float32Array.from(data), shape, { dtype });
}

/** The values a tensor of `dtype` holds for `data` (what the kernel actually reads). */
export function rounded(data: Float32Array, dtype: DType): Float32Array {
  return dtype === "f32" ? data : roundArray(data, dtype);
}

export async function vals(t: Tensor): Promise<Float32Array> {
  return t.data();
}

/** Asserts ‖got − want‖/‖want‖ < tol with a message naming the case and the seed. */
export function close(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  const r = relErr(got, want);
  expect(r, `${what}: rel err ${fmt(r)}, max abs ${fmt(maxAbs(got, want))} (replay with CTXWIN_TEST_SEED=${SEED})`).toBeLessThan(tol);
}

/** Tolerance of a result stored in `dtype` (its rounding plus f32 arithmetic). */
export function tolFor(dtype: DType): number {
  return dtype === "bf16" ? 1e-2 : dtype === "f16" ? 2e-3 : 1e-5;
}

export function dot64(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/**
 * Central finite difference of the native forward projected on a random direction:
 * (f(x + h·u) − f(x − h·u)) / 2h with f(x) = Σ r · forward(x) (r a fixed random cotangent),
 * against the analytic directional derivative u · grad. `forward` gets the perturbed input and
 * returns the output values; `grad` is the backward's gradient for cotangent r.
 */
export async function fdCheck(opts: {
  what: string;
  rng: Rng;
  x: Float32Array;
  r: Float32Array;
  grad: ArrayLike<number>;
  forward: (x: Float32Array) => Promise<Float32Array>;
  h?: number;
  tol?: number;
}): Promise<void> {
  const { what, rng, x, r, grad, forward } = opts;
  const h = opts.h ?? 1e-2;
  const u = rng.normalF32(x.length);
  const plus = new Float32Array(x.length);
  const minus = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    plus[i] = x[i]! + h * u[i]!;
    minus[i] = x[i]! - h * u[i]!;
  }
  const fp = dot64(r, await forward(plus));
  const fm = dot64(r, await forward(minus));
  const fd = (fp - fm) / (2 * h);
  const an = dot64(u, grad);
  // A random projection's typical size is ‖u‖·‖grad‖/√n: a projection that happens to cancel
  // is judged against that, not against its own small value (f32 noise would dominate).
  const typical = Math.sqrt(dot64(u, u) * dot64(grad, grad) / Math.max(1, x.length));
  const scale = Math.max(Math.abs(an), Math.abs(fd), typical, 1e-6);
  const err = Math.abs(fd - an) / scale;
  expect(err, `${what}: finite difference ${fd} vs analytic ${an} (rel ${fmt(err)}; replay with CTXWIN_TEST_SEED=${SEED})`).toBeLessThan(opts.tol ?? 3e-3);
}

/** Expects a synchronous CtxwinError with `code` whose message contains `text`. */
export function throwsWith(fn: () => unknown, code: string, text: string): void {
  let err: unknown = null;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected an error containing "${text}"`).not.toBeNull();
  const e = err as { code?: string; message?: string };
  expect(e.message).toContain(text);
  expect(e.code).toBe(code);
}

/** Expects reading `t` to reject with `code` and a message containing `text`. */
export async function rejectsWith(t: Tensor, code: string, text: string): Promise<void> {
  let err: unknown = null;
  try {
    await t.data();
  } catch (e) {
    err = e;
  }
  expect(err, `expected reading to fail with "${text}"`).not.toBeNull();
  const e = err as { code?: string; message?: string };
  expect(e.message).toContain(text);
  expect(e.code).toBe(code);
}
