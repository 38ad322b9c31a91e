/**
 * The case matrix shared by the forward, backward and low-precision suites: every positional
 * scheme of docs/design.md ("Positional conventions") and the combinations issue 3 asks for.
 * Shapes: q [B, Tq, Hq, D], k/v [B, Tk, Hkv, D].
 */
import type { RefOptions } from "./attention_ref.js";
import { Rng } from "./rng.js";

export interface AttnCase {
  name: string;
  B: number;
  Tq: number;
  Tk: number;
  Hq: number;
  Hkv: number;
  D: number;
  opts: RefOptions;
  /** larger cases (multi-block tiling); the backward suite runs a subset of them */
  large?: boolean;
}

function c(name: string, B: number, Tq: number, Tk: number, Hq: number, Hkv: number, D: number, opts: RefOptions, large = false): AttnCase {
  return { name, B, Tq, Tk, Hq, Hkv, D, opts, large };
}

const yarn = (factor: number, L0: number, extra: Record<string, unknown> = {}) =>
  ({ type: "rope", scaling: { type: "yarn", factor, originalMaxPositions: L0, ...extra } }) as RefOptions["positional"];

export const CASES: AttnCase[] = [
  // --- no positional
  c("none causal", 1, 16, 16, 2, 2, 16, {}),
  c("none explicit type", 1, 19, 19, 3, 3, 8, { positional: { type: "none" } }),
  c("none odd T=37 D=24", 1, 37, 37, 3, 3, 24, {}),
  c("none softmaxScale=0.37", 1, 20, 20, 2, 2, 16, { softmaxScale: 0.37 }),
  // --- ALiBi
  c("alibi default slopes H=4", 1, 33, 33, 4, 4, 32, { positional: { type: "alibi" } }),
  c("alibi default slopes H=8", 1, 21, 21, 8, 8, 8, { positional: { type: "alibi" } }),
  c("alibi default slopes H=6 (not a power of two)", 1, 29, 29, 6, 6, 16, { positional: { type: "alibi" } }),
  c("alibi default slopes H=12 (not a power of two)", 1, 20, 20, 12, 12, 8, { positional: { type: "alibi" } }),
  c("alibi default slopes H=3", 1, 18, 18, 3, 3, 8, { positional: { type: "alibi" } }),
  c("alibi custom slopes", 1, 25, 25, 3, 3, 16, { positional: { type: "alibi", slopes: [0.9, 0.3, 0.05] } }),
  c("alibi + softmaxScale (scale not on bias)", 1, 24, 24, 4, 4, 16, { softmaxScale: 0.2, positional: { type: "alibi" } }),
  c("alibi-PI Tk below trainLength", 1, 40, 40, 4, 4, 16, { positional: { type: "alibi", trainLength: 64 } }),
  c("alibi-PI Tk equal to trainLength", 1, 32, 32, 4, 4, 16, { positional: { type: "alibi", trainLength: 32 } }),
  c("alibi-PI Tk above trainLength", 1, 100, 100, 4, 4, 16, { positional: { type: "alibi", trainLength: 40 } }),
  c("alibi-PI above trainLength, custom slopes, H=6", 1, 50, 50, 6, 6, 8, {
    positional: { type: "alibi", trainLength: 20, slopes: [1, 0.5, 0.25, 0.125, 0.0625, 0.03125] },
  }),
  // --- RoPE
  c("rope default theta", 1, 32, 32, 2, 2, 32, { positional: { type: "rope" } }),
  c("rope theta=500000", 1, 30, 30, 2, 2, 16, { positional: { type: "rope", theta: 500000 } }),
  c("rope theta=10 (fast rotation)", 1, 30, 30, 2, 2, 16, { positional: { type: "rope", theta: 10 } }),
  c("rope linear factor 4", 1, 33, 33, 2, 2, 32, { positional: { type: "rope", scaling: { type: "linear", factor: 4 } } }),
  c("rope linear factor 0.5", 1, 20, 20, 2, 2, 16, { positional: { type: "rope", scaling: { type: "linear", factor: 0.5 } } }),
  c("rope ntk factor 8", 1, 33, 33, 2, 2, 32, { positional: { type: "rope", scaling: { type: "ntk", factor: 8 } } }),
  c("rope dynamic Tk below L0", 1, 50, 50, 2, 2, 16, {
    positional: { type: "rope", scaling: { type: "dynamic", factor: 4, originalMaxPositions: 128 } },
  }),
  c("rope dynamic Tk above L0", 1, 90, 90, 2, 2, 16, {
    positional: { type: "rope", scaling: { type: "dynamic", factor: 2, originalMaxPositions: 32 } },
  }),
  c("rope dynamic decode Tq=1 above L0", 1, 1, 70, 2, 2, 16, {
    positional: { type: "rope", scaling: { type: "dynamic", factor: 3, originalMaxPositions: 24 } },
  }),
  c("yarn defaults (L0=2048, factor 4)", 1, 40, 40, 2, 2, 64, { positional: yarn(4, 2048) }),
  c("yarn defaults (L0=64, factor 8)", 1, 40, 40, 2, 2, 32, { positional: yarn(8, 64) }),
  c("yarn custom betas", 1, 36, 36, 2, 2, 64, { positional: yarn(4, 2048, { betaFast: 16, betaSlow: 2 }) }),
  c("yarn truncate=false", 1, 36, 36, 2, 2, 64, { positional: yarn(4, 2048, { truncate: false }) }),
  c("yarn truncate=false custom betas, theta=500000", 1, 36, 36, 2, 2, 32, {
    positional: { type: "rope", theta: 500000, scaling: { type: "yarn", factor: 16, originalMaxPositions: 8192, betaFast: 24, betaSlow: 1.5, truncate: false } },
  }),
  c("yarn explicit attentionFactor", 1, 30, 30, 2, 2, 32, { positional: yarn(4, 256, { attentionFactor: 1.3 }) }),
  c("yarn mscale + mscaleAllDim", 1, 30, 30, 2, 2, 32, { positional: yarn(40, 4096, { mscale: 1, mscaleAllDim: 0.5 }) }),
  c("yarn factor 1 (attention factor 1)", 1, 24, 24, 2, 2, 16, { positional: yarn(1, 128) }),
  c("yarn equal bounds (+0.001): L0=4", 1, 24, 24, 2, 2, 16, { positional: yarn(4, 4) }),
  // --- partial rotary
  c("rope partial rotaryDim=16 of D=32", 1, 28, 28, 2, 2, 32, { positional: { type: "rope", rotaryDim: 16 } }),
  c("rope partial rotaryDim=6 of D=24, linear", 1, 27, 27, 3, 3, 24, {
    positional: { type: "rope", rotaryDim: 6, scaling: { type: "linear", factor: 2 } },
  }),
  c("yarn partial rotaryDim=32 of D=40", 1, 31, 31, 2, 2, 40, { positional: { type: "rope", rotaryDim: 32, scaling: { type: "yarn", factor: 4, originalMaxPositions: 512 } } }),
  // --- windows
  c("window 8 (causal)", 1, 40, 40, 2, 2, 16, { window: 8 }),
  c("window 1 (causal, self only)", 1, 12, 12, 2, 2, 8, { window: 1 }),
  c("window 6 + alibi", 1, 40, 40, 4, 4, 16, { window: 6, positional: { type: "alibi" } }),
  c("window 10 + rope", 1, 35, 35, 2, 2, 16, { window: 10, positional: { type: "rope" } }),
  // --- decode / chunking
  c("decode Tq=1, none", 1, 1, 50, 2, 2, 16, {}),
  c("decode Tq=1, rope", 1, 1, 50, 4, 4, 32, { positional: { type: "rope" } }),
  c("decode Tq=1, alibi + window", 1, 1, 45, 4, 4, 16, { window: 12, positional: { type: "alibi" } }),
  c("decode Tq=1, yarn GQA", 2, 1, 61, 4, 2, 32, { positional: yarn(4, 256) }),
  c("chunk Tq=16 < Tk=48 (default offset), rope", 1, 16, 48, 2, 2, 16, { positional: { type: "rope" } }),
  c("chunk Tq=8 Tk=40 queryOffset=20, alibi", 1, 8, 40, 4, 4, 16, { queryOffset: 20, positional: { type: "alibi" } }),
  c("chunk Tq=8 Tk=40 queryOffset=12, rope + window 5", 1, 8, 40, 2, 2, 16, { queryOffset: 12, window: 5, positional: { type: "rope" } }),
  c("chunk queryOffset beyond keys (Tq=4, Tk=20, offset 30)", 1, 4, 20, 2, 2, 16, { queryOffset: 30, positional: { type: "alibi" } }),
  // --- bidirectional
  c("bidirectional none", 1, 23, 23, 2, 2, 16, { causal: false }),
  c("bidirectional alibi", 1, 23, 23, 4, 4, 16, { causal: false, positional: { type: "alibi" } }),
  c("bidirectional alibi + window 5", 1, 30, 30, 4, 4, 16, { causal: false, window: 5, positional: { type: "alibi" } }),
  c("bidirectional rope, Tq<Tk with offset", 1, 10, 26, 2, 2, 16, { causal: false, queryOffset: 5, positional: { type: "rope" } }),
  c("bidirectional window 4 + rope", 1, 25, 25, 2, 2, 16, { causal: false, window: 4, positional: { type: "rope" } }),
  // --- GQA
  c("GQA Hq=6 Hkv=2, rope", 1, 29, 29, 6, 2, 16, { positional: { type: "rope" } }),
  c("GQA Hq=4 Hkv=1, alibi", 1, 29, 29, 4, 1, 16, { positional: { type: "alibi" } }),
  c("GQA Hq=6 Hkv=3, alibi default slopes H=6", 1, 22, 22, 6, 3, 8, { positional: { type: "alibi" } }),
  // --- odd sizes
  c("odd T=37 D=40, yarn", 1, 37, 37, 2, 2, 40, { positional: yarn(4, 512) }),
  c("odd T=37 D=24, alibi H=6", 1, 37, 37, 6, 6, 24, { positional: { type: "alibi" } }),
  c("odd D=8 T=5", 1, 5, 5, 1, 1, 8, { positional: { type: "rope" } }),
  c("odd D=7 none", 1, 13, 13, 2, 2, 7, {}),
  c("odd D=9 alibi", 1, 17, 17, 4, 4, 9, { positional: { type: "alibi" } }),
  c("odd D=15 rope rotaryDim=8", 1, 19, 19, 2, 2, 15, { positional: { type: "rope", rotaryDim: 8 } }),
  // --- prefix keys (prefix tuning: first P keys not rotated, real tokens from position P)
  c("prefixKeys=5 + rope", 1, 20, 25, 2, 2, 16, { prefixKeys: 5, positional: { type: "rope" } }),
  c("prefixKeys=4 + yarn + GQA", 1, 18, 22, 4, 2, 32, { prefixKeys: 4, positional: yarn(4, 128) }),
  c("prefixKeys=3 + partial rope, decode", 1, 1, 30, 2, 2, 16, { prefixKeys: 3, positional: { type: "rope", rotaryDim: 8 } }),
  c("prefixKeys with no positional", 1, 12, 16, 2, 2, 8, { prefixKeys: 4 }),
  // --- batch
  c("B=2 rope + window", 2, 24, 24, 2, 2, 16, { window: 7, positional: { type: "rope" } }),
  c("B=3 GQA alibi-PI above", 3, 30, 30, 4, 2, 8, { positional: { type: "alibi", trainLength: 16 } }),
  // --- per-sequence key ranges (padding): keyLengths (right), keyStarts (left), padding rows
  c("pad: bidirectional keyLengths B=3 (one of length 1), alibi", 3, 23, 23, 4, 4, 16, { causal: false, keyLengths: [23, 9, 1], positional: { type: "alibi" } }),
  c("pad: causal keyLengths B=3, rope", 3, 29, 29, 2, 2, 16, { keyLengths: [29, 17, 5], positional: { type: "rope" } }),
  c("pad: decode Tq=1 keyStarts (left padding), yarn GQA", 3, 1, 40, 4, 2, 32, { keyStarts: [0, 13, 39], positional: yarn(4, 256) }),
  c("pad: prefill keyStarts with padding rows, rope", 2, 20, 20, 2, 2, 16, { keyStarts: [0, 7], positional: { type: "rope" } }),
  c("pad: keyStarts + keyLengths + window 6, alibi GQA", 2, 26, 26, 4, 2, 8, { keyStarts: [3, 0], keyLengths: [26, 15], window: 6, positional: { type: "alibi" } }),
  c("pad: prefixKeys=4 + keyLengths, rope", 2, 21, 25, 2, 2, 16, { prefixKeys: 4, keyLengths: [25, 12], positional: { type: "rope" } }),
  c("pad: bidirectional keyLengths + window 5, odd D=9", 2, 17, 17, 2, 1, 9, { causal: false, window: 5, keyLengths: [11, 17] }),
  c("large pad: T=300 keyLengths [300, 131], rope GQA", 2, 300, 300, 4, 2, 64, { keyLengths: [300, 131], positional: { type: "rope" } }, true),
  c("large pad: T=200 bidirectional keyLengths [77, 200], alibi", 2, 200, 200, 2, 2, 64, { causal: false, keyLengths: [77, 200], positional: { type: "alibi" } }, true),
  c("large pad: T=260 keyStarts [0, 190] (left), rope", 2, 260, 260, 2, 2, 64, { keyStarts: [0, 190], positional: { type: "rope" } }, true),
  // --- larger: several query/key blocks
  c("large T=300 D=64 none", 1, 300, 300, 2, 2, 64, {}, true),
  c("large T=300 D=64 yarn GQA", 1, 300, 300, 4, 2, 64, { positional: yarn(4, 128) }, true),
  c("large T=300 D=64 alibi + window 64", 1, 300, 300, 4, 4, 64, { window: 64, positional: { type: "alibi" } }, true),
  c("large T=257 D=128 rope chunk Tq=130", 1, 130, 257, 2, 2, 128, { positional: { type: "rope" } }, true),
  c("large T=200 D=64 bidirectional alibi", 1, 200, 200, 2, 2, 64, { causal: false, positional: { type: "alibi" } }, true),
];

/** Random inputs of a case (q, k, v normal; the scores then have O(1) spread). */
export function caseInputs(cs: AttnCase, rng: Rng): { q: Float32Array; k: Float32Array; v: Float32Array; dOut: Float32Array } {
  const qn = cs.B * cs.Tq * cs.Hq * cs.D;
  const kn = cs.B * cs.Tk * cs.Hkv * cs.D;
  return { q: rng.normalF32(qn), k: rng.normalF32(kn), v: rng.normalF32(kn), dOut: rng.normalF32(qn) };
}

export function qShape(cs: AttnCase): [number, number, number, number] {
  return [cs.B, cs.Tq, cs.Hq, cs.D];
}
export function kShape(cs: AttnCase): [number, number, number, number] {
  return [cs.B, cs.Tk, cs.Hkv, cs.D];
}

/** Stable per-case seed offset (so one suite seed reproduces every case). */
export function caseSeed(suite: number, name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  return suite + h;
}
