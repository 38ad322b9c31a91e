/**
 * Helpers for the suites: error measures and independent float-format rounding (bf16, f16),
 * written from IEEE 754 (round to nearest, ties to even), not from the implementation.
 */

/** ‖a − b‖₂ / ‖b‖₂ (b is the reference); 0 when both are zero. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relErr: length ${a.length} vs ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    num += d * d;
    den += b[i] * b[i];
  }
  if (den === 0) return num === 0 ? 0 : Infinity;
  const r = Math.sqrt(num / den);
  return Number.isNaN(r) ? Infinity : r;
}

/**
 * ‖a − b‖ / max(‖b‖, floorRms·√n): relative error, except that a reference that is (nearly)
 * zero — e.g. dq with window 1, where every row attends only to itself — is judged by the RMS
 * of the error against floorRms (a typical element size of the quantity).
 */
export function relErrFloor(a: ArrayLike<number>, b: ArrayLike<number>, floorRms: number): number {
  if (a.length !== b.length) throw new Error(`relErrFloor: length ${a.length} vs ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    num += d * d;
    den += b[i] * b[i];
  }
  const r = Math.sqrt(num) / Math.max(Math.sqrt(den), floorRms * Math.sqrt(a.length));
  return Number.isNaN(r) ? Infinity : r;
}

/** max |a − b| (Infinity if any NaN). */
export function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxAbs: length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) return Infinity;
    if (d > m) m = d;
  }
  return m;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

/** Rounds y to the nearest integer, ties to even. */
export function roundHalfEven(y: number): number {
  const f = Math.floor(y);
  const d = y - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Rounds a finite or non-finite number to a binary floating-point format with `mant` stored
 * mantissa bits and exponent range [emin, emax] (normal numbers), ties to even, with subnormals
 * and overflow to ±Infinity. Arithmetic only: no bit tricks.
 */
export function roundToFormat(x: number, mant: number, emin: number, emax: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x === 0 || !Number.isFinite(x)) return x;
  const sign = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  // exponent e with 2^e <= a < 2^(e+1), found exactly
  let e = Math.floor(Math.log2(a));
  if (Math.pow(2, e) > a) e -= 1;
  if (Math.pow(2, e + 1) <= a) e += 1;
  const qe = Math.max(e, emin) - mant; // quantum exponent (subnormals share emin's quantum)
  const quantum = Math.pow(2, qe);
  const r = roundHalfEven(a / quantum) * quantum;
  const maxFinite = (2 - Math.pow(2, -mant)) * Math.pow(2, emax);
  if (r > maxFinite) return sign * Infinity;
  return sign * r;
}

/** bf16: 7 stored mantissa bits, exponent range of f32. */
export function roundBf16(x: number): number {
  return roundToFormat(x, 7, -126, 127);
}

/** f16: 10 stored mantissa bits, exponents [−14, 15]. */
export function roundF16(x: number): number {
  return roundToFormat(x, 10, -14, 15);
}

export function roundArray(a: ArrayLike<number>, dtype: "f32" | "bf16" | "f16"): Float32Array {
  const out = new Float32Array(a.length);
  const f = dtype === "bf16" ? roundBf16 : dtype === "f16" ? roundF16 : Math.fround;
  for (let i = 0; i < a.length; i++) out[i] = f(Math.fround(a[i]));
  return out;
}

/** Bitwise f32 → bf16 round-to-nearest-even (the usual trick), a second independent route. */
export function bf16ViaBits(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  if (Number.isNaN(f[0])) return NaN;
  const bits = u[0];
  const rounded = (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 0;
  u[0] = (rounded & 0xffff0000) >>> 0;
  return f[0];
}

/** Formats a few numbers compactly for failure messages. */
export function fmt(x: number): string {
  return Number.isFinite(x) ? x.toExponential(3) : String(x);
}
