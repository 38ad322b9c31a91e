/**
 * Float conversions for checkpoint I/O: bf16 / f16 bit patterns ↔ f32, with round-to-nearest-even
 * on the way down (NaN stays NaN, sign and the top of the payload kept; overflow goes to ±inf;
 * f16 subnormals handled both ways). Pure TypeScript, independent from the native casts.
 */

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** The IEEE-754 binary32 bit pattern of `x` (after rounding it to f32). */
export function f32Bits(x: number): number {
  scratchF32[0] = x;
  return scratchU32[0]!;
}

/** The f32 value of a binary32 bit pattern. */
export function f32FromBits(bits: number): number {
  scratchU32[0] = bits >>> 0;
  return scratchF32[0]!;
}

/** f32 bits → bf16 bits, round to nearest even; NaN → quiet NaN with the same sign. */
export function bf16BitsFromF32Bits(bits: number): number {
  bits >>>= 0;
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x007fffff) !== 0) {
    return ((bits >>> 16) | 0x0040) & 0xffff;
  }
  const lsb = (bits >>> 16) & 1;
  return ((bits + 0x7fff + lsb) >>> 16) & 0xffff;
}

/** f32 bits → f16 bits, round to nearest even (subnormals, overflow to ±inf, NaN kept quiet). */
export function f16BitsFromF32Bits(bits: number): number {
  bits >>>= 0;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x007fffff;
  if (exp === 0xff) {
    if (mant === 0) return sign | 0x7c00;
    return sign | 0x7e00 | (mant >>> 13);
  }
  const e = exp - 127 + 15; // f16 biased exponent
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // f16 subnormal (or zero): value = m · 2^(e−38) with m the 24-bit significand; in units of 2^−24
    // that is m >> (14 − e). Below 2^−25 everything rounds to zero.
    if (e < -10) return sign;
    const m = mant | 0x00800000;
    const shift = 14 - e; // 14..24
    const r = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    const up = rem > half || (rem === half && (r & 1) === 1) ? 1 : 0;
    return sign | (r + up); // r + up may reach 0x400, the smallest normal: correct encoding
  }
  const r = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  const up = rem > 0x1000 || (rem === 0x1000 && (r & 1) === 1) ? 1 : 0;
  return sign | (r + up); // a carry into the exponent is right, up to 0x7c00 = inf
}

/** bf16 bits → f32 value (exact). */
export function bf16ToF32(h: number): number {
  return f32FromBits((h & 0xffff) << 16);
}

/** f16 bits → f32 bit pattern (exact). */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x03ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp - 15 + 127) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // subnormal: normalise
  let m = mant;
  let e = -14;
  while ((m & 0x0400) === 0) {
    m <<= 1;
    e--;
  }
  return (sign | ((e + 127) << 23) | ((m & 0x03ff) << 13)) >>> 0;
}

/** f16 bits → f32 value (exact). */
export function f16ToF32(h: number): number {
  return f32FromBits(f16BitsToF32Bits(h));
}

/** f32 value → bf16 bits. */
export function f32ToBf16(x: number): number {
  return bf16BitsFromF32Bits(f32Bits(x));
}

/** f32 value → f16 bits. */
export function f32ToF16(x: number): number {
  return f16BitsFromF32Bits(f32Bits(x));
}

let f16Table: Uint32Array | null = null;
/** All 65536 f16 → f32 bit patterns (256 KiB, built on first use). */
function f16ToF32Table(): Uint32Array {
  if (!f16Table) {
    f16Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32Bits(h);
  }
  return f16Table;
}

/** True when this machine stores multi-byte numbers little-endian (safetensors is little-endian). */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Decodes `count` little-endian half-precision values (bf16 or f16) from `src` (byte offset
 * `byteOffset`) into `out` starting at `outOffset`.
 */
export function decodeHalf(dtype: "BF16" | "F16", src: Uint8Array, byteOffset: number, count: number, out: Float32Array, outOffset = 0): void {
  const o = new Uint32Array(out.buffer, out.byteOffset + outOffset * 4, count);
  if (dtype === "BF16") {
    for (let i = 0, p = byteOffset; i < count; i++, p += 2) o[i] = (src[p]! | (src[p + 1]! << 8)) << 16;
  } else {
    const t = f16ToF32Table();
    for (let i = 0, p = byteOffset; i < count; i++, p += 2) o[i] = t[src[p]! | (src[p + 1]! << 8)]!;
  }
}

/**
 * Encodes `src[start, end)` as little-endian F32 / BF16 / F16 into `out` (from byte 0); returns
 * the number of bytes written.
 */
export function encodeFloat32(dtype: "F32" | "BF16" | "F16", src: Float32Array, start: number, end: number, out: Uint8Array): number {
  const n = end - start;
  const bits = new Uint32Array(src.buffer, src.byteOffset + start * 4, n);
  if (dtype === "F32") {
    if (HOST_LITTLE_ENDIAN) {
      out.set(new Uint8Array(src.buffer, src.byteOffset + start * 4, n * 4), 0);
    } else {
      const dv = new DataView(out.buffer, out.byteOffset, n * 4);
      for (let i = 0; i < n; i++) dv.setUint32(i * 4, bits[i]!, true);
    }
    return n * 4;
  }
  const conv = dtype === "BF16" ? bf16BitsFromF32Bits : f16BitsFromF32Bits;
  for (let i = 0, p = 0; i < n; i++, p += 2) {
    const h = conv(bits[i]!);
    out[p] = h & 0xff;
    out[p + 1] = h >>> 8;
  }
  return n * 2;
}
