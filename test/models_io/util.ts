/**
 * Test helpers for the checkpoint-format suites: temp dirs, a seeded PRNG, an independent
 * reference for rounding to bf16 / f16 (arithmetic on doubles, no bit tricks), and a hand-rolled
 * safetensors builder that shares no code with lib/.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";

export async function tempDir(tag: string): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), `ctxwin-io-${tag}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** mulberry32 */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function f32FromBitsRef(bits: number): number {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setUint32(0, bits >>> 0);
  return dv.getFloat32(0);
}

interface Fmt {
  /** significand bits incl. the implicit one */
  p: number;
  emin: number;
  emax: number;
  expBits: number;
}
export const BF16: Fmt = { p: 8, emin: -126, emax: 127, expBits: 8 };
export const F16: Fmt = { p: 11, emin: -14, emax: 15, expBits: 5 };

function roundHalfEven(n: number): number {
  const f = Math.floor(n);
  const d = n - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** The value `x` (an f32 value) rounds to in `fmt`, round to nearest even, overflow → ±inf. */
export function roundToFormat(x: number, fmt: Fmt): number {
  if (Number.isNaN(x)) return NaN;
  if (x === 0 || !Number.isFinite(x)) return x;
  const sign = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  while (2 ** e > a) e--;
  while (2 ** (e + 1) <= a) e++;
  e = Math.max(e, fmt.emin);
  const q = 2 ** (e - (fmt.p - 1));
  const r = roundHalfEven(a / q) * q;
  const maxFinite = (2 - 2 ** (1 - fmt.p)) * 2 ** fmt.emax;
  if (r > maxFinite) return sign * Infinity;
  return sign * r;
}

/** Decodes a 16-bit pattern of `fmt` arithmetically. */
export function decodeRef(h: number, fmt: Fmt): number {
  const mBits = 15 - fmt.expBits;
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> mBits) & ((1 << fmt.expBits) - 1);
  const mant = h & ((1 << mBits) - 1);
  const bias = (1 << (fmt.expBits - 1)) - 1;
  if (exp === (1 << fmt.expBits) - 1) return mant ? NaN : sign * Infinity;
  if (exp === 0) return sign * mant * 2 ** (1 - bias - mBits);
  return sign * (1 + mant / 2 ** mBits) * 2 ** (exp - bias);
}

/** Same value, with -0 ≠ +0 and NaN = NaN. */
export function sameValue(a: number, b: number): boolean {
  return Object.is(a, b);
}

/**
 * A safetensors file assembled by hand: `header` (object or raw string) and data bytes; the
 * length prefix may be overridden and the result truncated.
 */
export function buildSafetensors(header: unknown, data: Uint8Array = new Uint8Array(0), opts: { lengthOverride?: bigint; truncateTo?: number; rawHeader?: Uint8Array } = {}): Buffer {
  const hb = opts.rawHeader ? Buffer.from(opts.rawHeader) : Buffer.from(typeof header === "string" ? header : JSON.stringify(header), "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(opts.lengthOverride ?? BigInt(hb.length));
  const all = Buffer.concat([len, hb, Buffer.from(data)]);
  return opts.truncateTo !== undefined ? all.subarray(0, opts.truncateTo) : all;
}

export async function writeBytes(file: string, bytes: Uint8Array): Promise<void> {
  await writeFile(file, bytes);
}

export function f32Bytes(values: number[]): Uint8Array {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeFloatLE(v, i * 4));
  return b;
}
