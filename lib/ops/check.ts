/**
 * Argument checks shared by the op wrappers (lib/ops/<family>.ts). Every check throws a
 * CtxwinError `<fn>: <arg>: expected <what>, got <actual>` before anything reaches native code.
 */
import { argError, CtxwinError, type ErrorCode } from "../errors.js";
import { Tensor } from "../tensor.js";

/** Like argError, with `got` written as is (a description such as "shape [2, 3]", not a value). */
export function fail(code: ErrorCode, fn: string, arg: string, expected: string, got: string): never {
  throw new CtxwinError(code, `${fn}: ${arg}: expected ${expected}, got ${got}`);
}

export function tensorArg(fn: string, name: string, t: unknown): Tensor {
  if (!(t instanceof Tensor)) argError("ERR_ARG", fn, name, "a Tensor", t);
  if (t.disposed) fail("ERR_DISPOSED", fn, name, "a live tensor", `a disposed one (shape ${shapeStr(t.shape)})`);
  return t;
}

export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

/** Throws ERR_SHAPE unless `t` has `ref`'s shape. */
export function checkSameShape(fn: string, name: string, t: Tensor, refName: string, ref: Tensor): void {
  if (!sameShape(t.shape, ref.shape)) argError("ERR_SHAPE", fn, name, `the shape of ${refName} ${shapeStr(ref.shape)}`, [...t.shape]);
}

export function checkRank(fn: string, name: string, t: Tensor, min: number, what?: string): void {
  if (t.shape.length < min) fail("ERR_SHAPE", fn, name, what ?? `at least ${min} dims`, `shape ${shapeStr(t.shape)}`);
}

export function checkF32(fn: string, name: string, t: Tensor): void {
  if (t.dtype !== "f32") argError("ERR_DTYPE", fn, name, `dtype "f32"`, t.dtype);
}

/** The options object (undefined -> {}), rejecting unknown keys. */
export function options<T extends object>(fn: string, opts: T | undefined, fields: readonly string[]): Partial<Record<string, unknown>> {
  if (opts === undefined) return {};
  if (opts === null || typeof opts !== "object") argError("ERR_ARG", fn, "opts", "an object", opts);
  const o = opts as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!fields.includes(key) && o[key] !== undefined) {
      fail("ERR_ARG", fn, `opts.${key}`, `one of ${fields.join(", ")}`, `an unknown option "${key}"`);
    }
  }
  return o;
}

export function finiteNumber(fn: string, name: string, v: unknown, dflt?: number): number {
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== "number" || !Number.isFinite(v)) argError("ERR_ARG", fn, name, "a finite number", v);
  return v;
}

export function positiveNumber(fn: string, name: string, v: unknown, dflt?: number): number {
  const x = finiteNumber(fn, name, v, dflt);
  if (!(x > 0)) argError("ERR_ARG", fn, name, "a finite number > 0", v);
  return x;
}

export function nonNegativeNumber(fn: string, name: string, v: unknown, dflt?: number): number {
  const x = finiteNumber(fn, name, v, dflt);
  if (!(x >= 0)) argError("ERR_ARG", fn, name, "a finite number >= 0", v);
  return x;
}

export function boolean(fn: string, name: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== "boolean") argError("ERR_ARG", fn, name, "a boolean", v);
  return v;
}

export function integer(fn: string, name: string, v: unknown, lo: number, hi: number, dflt?: number): number {
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
    argError("ERR_ARG", fn, name, `an integer in [${lo}, ${hi}]`, v);
  }
  return v;
}

/** A dim of a rank-`rank` tensor, negative counting from the end; returns it in [0, rank). */
export function dimArg(fn: string, name: string, v: unknown, rank: number): number {
  if (rank === 0) fail("ERR_SHAPE", fn, name, "a dim of a tensor with at least 1 dim", "a 0-dim tensor");
  const d = integer(fn, name, v, -rank, rank - 1);
  return d < 0 ? d + rank : d;
}
