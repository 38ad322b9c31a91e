/**
 * A small seeded PRNG whose whole state can be saved and restored (checkpoints): sfc32 (Chris
 * Doty-Humphrey's Small Fast Counting generator, 128-bit state, passes PractRand), seeded through
 * splitmix32 so nearby seeds give unrelated streams. Same seed ⇒ same numbers on every machine
 * (32-bit integer arithmetic only).
 */
import { CtxwinError } from "../errors.js";

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

export type RngState = [number, number, number, number];

export class SeededRng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed = 0) {
    if (!Number.isInteger(seed) || seed < 0 || seed > Number.MAX_SAFE_INTEGER) {
      throw new CtxwinError("ERR_ARG", `SeededRng: seed: expected a non-negative integer, got ${seed}`);
    }
    const s = mixSeed(seed);
    this.#a = splitmix32(s);
    this.#b = splitmix32(this.#a ^ 0x6a09e667);
    this.#c = splitmix32(this.#b ^ 0xbb67ae85);
    this.#d = 1;
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  /** A generator continuing from a saved state. */
  static fromState(state: readonly number[]): SeededRng {
    const r = new SeededRng(0);
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

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform integer in [0, n) (n ≤ 2^32), without modulo bias (rejection sampling). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 4294967296) throw new CtxwinError("ERR_ARG", `SeededRng.int: n: expected an integer in [1, 2^32], got ${n}`);
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
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
    const p = new Uint32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }

  /** The full state (4 unsigned 32-bit words): JSON-serialisable. */
  state(): RngState {
    return [this.#a, this.#b, this.#c, this.#d];
  }

  setState(state: readonly number[]): void {
    if (!Array.isArray(state) || state.length !== 4 || !state.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff)) {
      throw new CtxwinError("ERR_ARG", `SeededRng.setState: state: expected 4 unsigned 32-bit integers, got ${JSON.stringify(state)}`);
    }
    [this.#a, this.#b, this.#c, this.#d] = state as RngState;
  }
}
