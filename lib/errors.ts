/**
 * Errors thrown by ctxwin. Every error has a `code`:
 * - `ERR_ARG` an option or argument out of range, `ERR_SHAPE` wrong shape, `ERR_DTYPE` wrong dtype,
 * - `ERR_DEVICE` unknown/mixed/unavailable device, `ERR_DISPOSED` use after dispose(),
 * - `ERR_CUDA` a CUDA failure, `ERR_MEMORY` out of memory, `ERR_FORMAT` malformed file,
 * - `ERR_INTERNAL` a bug (please report).
 * Messages follow `<function>: <argument>: expected <what>, got <actual>`.
 */
export type ErrorCode =
  | "ERR_ARG"
  | "ERR_SHAPE"
  | "ERR_DTYPE"
  | "ERR_DEVICE"
  | "ERR_DISPOSED"
  | "ERR_CUDA"
  | "ERR_MEMORY"
  | "ERR_FORMAT"
  | "ERR_BUSY"
  | "ERR_ABORTED"
  | "ERR_CLOSED"
  | "ERR_INTERNAL";

export class CtxwinError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = "CtxwinError";
    this.code = code;
  }
}

/** Renders a value for an error message ("got ..."). */
export function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return value.length > 16 ? `an array of length ${value.length}` : `[${value.map(show).join(", ")}]`;
  if (value === null) return "null";
  if (typeof value === "object") return value.constructor?.name && value.constructor.name !== "Object" ? `a ${value.constructor.name}` : "an object";
  return String(value);
}

/** Throws `<fn>: <arg>: expected <expected>, got <show(got)>`. */
export function argError(code: ErrorCode, fn: string, arg: string, expected: string, got: unknown): never {
  throw new CtxwinError(code, `${fn}: ${arg}: expected ${expected}, got ${show(got)}`);
}

/** Native errors carry `code`; make them CtxwinErrors (same message). */
export function fromNative(e: unknown): CtxwinError {
  if (e instanceof CtxwinError) return e;
  const err = e as { code?: string; message?: string };
  const code = (typeof err?.code === "string" && err.code.startsWith("ERR_") ? err.code : "ERR_INTERNAL") as ErrorCode;
  return new CtxwinError(code, err?.message ?? String(e));
}

export function isPositiveInt(x: unknown): x is number {
  return typeof x === "number" && Number.isInteger(x) && x > 0;
}
export function isNonNegativeInt(x: unknown): x is number {
  return typeof x === "number" && Number.isInteger(x) && x >= 0;
}
export function isFinitePositive(x: unknown): x is number {
  return typeof x === "number" && Number.isFinite(x) && x > 0;
}
