/**
 * Copies along a dim: concat, slice and the in-place copyInto (KV caches), and leading(), which
 * reads the first entries along a dim in place when they are contiguous. `dim` may be negative
 * (counted from the end).
 */
import { argError } from "../errors.js";
import { Tensor } from "../tensor.js";
import { backend, callNative } from "../backend.js";
import { dimArg, fail, integer, shapeStr, tensorArg } from "./check.js";
import { runOp } from "./run.js";

function sameExcept(fn: string, name: string, t: Tensor, refName: string, ref: Tensor, dim: number): void {
  const ok = t.shape.length === ref.shape.length && t.shape.every((d, i) => i === dim || d === ref.shape[i]);
  if (!ok) argError("ERR_SHAPE", fn, name, `the shape of ${refName} ${shapeStr(ref.shape)} except along dim ${dim}`, [...t.shape]);
}

/** a and b joined along `dim` (equal shapes elsewhere); a's dtype. */
export function concat(a: Tensor, b: Tensor, dim: number): Tensor {
  const fn = "concat";
  tensorArg(fn, "a", a);
  tensorArg(fn, "b", b);
  const d = dimArg(fn, "dim", dim, a.shape.length);
  sameExcept(fn, "b", b, "a", a, d);
  return runOp("concat", [a, b], { dim: d })[0]!;
}

/** A copy of x[..., start:end, ...] along `dim` (0 <= start <= end <= size; end defaults to size). */
export function slice(x: Tensor, dim: number, start: number, end?: number): Tensor {
  const fn = "slice";
  tensorArg(fn, "x", x);
  const d = dimArg(fn, "dim", dim, x.shape.length);
  const size = x.shape[d]!;
  const s = integer(fn, "start", start, 0, size);
  const e = integer(fn, "end", end, s, size, size);
  return runOp("slice", [x], { dim: d, start: s, end: e })[0]!;
}

/**
 * In place: dst[..., start : start + len, ...] = src along `dim` (len = src's size there; src
 * equal to dst elsewhere, converted to dst's dtype). Queued like every op: later ops and reads of
 * dst see the new values.
 */
export function copyInto(dst: Tensor, src: Tensor, dim: number, start: number): void {
  const fn = "copyInto";
  tensorArg(fn, "dst", dst);
  tensorArg(fn, "src", src);
  const d = dimArg(fn, "dim", dim, dst.shape.length);
  sameExcept(fn, "src", src, "dst", dst, d);
  const room = dst.shape[d]!;
  const s = integer(fn, "start", start, 0, room);
  if (s + src.shape[d]! > room) {
    fail("ERR_SHAPE", fn, "src", `at most ${room - s} entries along dim ${d} (dst has ${room}, start ${s})`, `shape ${shapeStr(src.shape)}`);
  }
  runOp("copy_into", [dst, src], { dim: d, start: s });
}

/**
 * x[..., 0:end, ...] along `dim`: a view sharing x's memory (free) when every dim before `dim`
 * is 1 (the entries are then x's first elements, e.g. a batch-1 KV cache's filled part), else a
 * copy (as slice). A view sees later in-place writes to x (copyInto); dispose it like any tensor.
 */
export function leading(x: Tensor, dim: number, end: number): Tensor {
  const fn = "leading";
  tensorArg(fn, "x", x);
  const d = dimArg(fn, "dim", dim, x.shape.length);
  const e = integer(fn, "end", end, 0, x.shape[d]!);
  if (!x.shape.slice(0, d).every((n) => n === 1)) return slice(x, d, 0, e);
  const shape = x.shape.map((n, i) => (i === d ? e : n));
  const h = x.handle(fn);
  return Tensor.fromNative(callNative(() => backend(x.device).leadingView(h, shape)), shape, x.dtype, x.device);
}
