/**
 * The one seeded random generator of ctxwin: weight initialisation, token sampling, data order and
 * splits, and the study's corpus split, passkeys, positional-vector windows and bootstrap.
 *
 * sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, 128-bit state, passes PractRand),
 * seeded through splitmix32 so nearby seeds give unrelated streams. Same seed ⇒ same numbers on
 * every machine (32-bit integer arithmetic only).
 *
 * The whole state is the four 32-bit words of sfc32 (`state()` / `setState()`), so a checkpoint
 * that saves them resumes the exact stream. Nothing else is carried from one call to the next —
 * which is why `normal()` does not keep Box–Muller's second value for the following call (a
 * state that saved the words but not that value would resume one sample off).
 */
import { CtxwinError, show } from "../errors.js";

/** splitmix32 step: a well-mixed 32-bit value from a 32-bit counter. */
function splitmix32(x: number): number {
  let z = (x + 0x9e3779b9) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** Mixes several non-negative integers (seed, epoch, ...) into one 32-bit seed. */
export function mixSeed(...parts: number[]): number {
  let h = 0x243f6a88;
  for (const p of parts) {
    // fold in both 32-bit halves of integers up to 2^53
    const lo = p >>> 0;
    const hi = Math.floor(p / 4294967296) >>> 0;
    h = splitmix32((h ^ lo) >>> 0);
    h = splitmix32((h ^ hi) >>> 0);
  }
  return h;
}

/**
 * `value` as a seed (an integer in [0, 2^53 − 1]), or a CtxwinError naming `fn` and `arg`:
 * the one rule for seeds, so every function taking a seed rejects the same values.
 */
export function checkSeed(fn: string, value: unknown, arg = "seed"): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new CtxwinError("ERR_ARG", `${fn}: ${arg}: expected an integer in [0, 2^53 − 1], got ${show(value)}`);
  }
  return value;
}

/** The generator's whole state: four unsigned 32-bit words (JSON-serialisable). */
export type RngState = [number, number, number, number];

const TWO_32 = 4294967296;

export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed = 0) {
    const s = mixSeed(checkSeed("Rng", seed));
    this.#a = splitmix32(s);
    this.#b = splitmix32(this.#a ^ 0x6a09e667);
    this.#c = splitmix32(this.#b ^ 0xbb67ae85);
    this.#d = 1;
    // sfc32's first outputs after seeding are still correlated with the seed words
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  /** A generator continuing from a saved `state()`. */
  static fromState(state: readonly number[]): Rng {
    const r = new Rng(0);
    r.setState(state);
    return r;
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0;
    this.#d = (this.#d + 1) >>> 0;
    this.#a = (this.#b ^ (this.#b >>> 9)) >>> 0;
    this.#b = (this.#c + (this.#c << 3)) >>> 0;
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0;
    this.#c = (this.#c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1), a multiple of 2^−32 (32 random bits: plenty for f32 weights and sampling). */
  next(): number {
    return this.nextU32() / TWO_32;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo <= hi)) {
      throw new CtxwinError("ERR_ARG", `Rng.uniform: lo, hi: expected finite numbers with lo <= hi, got ${show(lo)}, ${show(hi)}`);
    }
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [0, n) (n ≤ 2^32), without modulo bias (rejection sampling). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > TWO_32) throw new CtxwinError("ERR_ARG", `Rng.int: n: expected an integer in [1, 2^32], got ${show(n)}`);
    const limit = TWO_32 - (TWO_32 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /**
   * Standard normal (Box–Muller from two uniforms; the second value of the pair is dropped, see
   * the file header). `normals(n)` uses both values of each pair, so it is not n calls of this.
   */
  normal(): number {
    return this.#boxMullerRadius() * Math.cos(this.#boxMullerAngle());
  }

  /** A Float32Array of n normals with standard deviation `std` (both values of each Box–Muller pair). */
  normals(n: number, std = 1): Float32Array {
    if (!Number.isInteger(n) || n < 0) throw new CtxwinError("ERR_ARG", `Rng.normals: n: expected a non-negative integer, got ${show(n)}`);
    if (!(Number.isFinite(std) && std >= 0)) throw new CtxwinError("ERR_ARG", `Rng.normals: std: expected a finite number >= 0, got ${show(std)}`);
    const out = new Float32Array(n);
    let i = 0;
    for (; i + 1 < n; i += 2) {
      const r = this.#boxMullerRadius() * std;
      const theta = this.#boxMullerAngle();
      out[i] = r * Math.cos(theta);
      out[i + 1] = r * Math.sin(theta);
    }
    if (i < n) out[i] = this.normal() * std;
    return out;
  }

  /** Box–Muller's radius sqrt(−2 ln u), u uniform in (0, 1] (so the log is finite without a rejection loop). */
  #boxMullerRadius(): number {
    return Math.sqrt(-2 * Math.log((this.nextU32() + 1) / TWO_32));
  }

  /** Box–Muller's angle, uniform in [0, 2π). */
  #boxMullerAngle(): number {
    return (2 * Math.PI * this.nextU32()) / TWO_32;
  }

  /** Shuffles `a` in place (Fisher–Yates) and returns it. */
  shuffle<T extends { length: number; [i: number]: unknown }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): Uint32Array {
    if (!Number.isInteger(n) || n < 0) throw new CtxwinError("ERR_ARG", `Rng.permutation: n: expected a non-negative integer, got ${show(n)}`);
    const p = new Uint32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }

  /** The full state (4 unsigned 32-bit words): JSON-serialisable; `setState` / `fromState` resume from it. */
  state(): RngState {
    return [this.#a, this.#b, this.#c, this.#d];
  }

  setState(state: readonly number[]): void {
    if (!Array.isArray(state) || state.length !== 4 || !state.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff)) {
      throw new CtxwinError("ERR_ARG", `Rng.setState: state: expected 4 unsigned 32-bit integers, got ${JSON.stringify(state)}`);
    }
    [this.#a, this.#b, this.#c, this.#d] = state as RngState;
  }
}
