/**
 * Positional schemes as attention options. Types and validation only: the numbers (slopes,
 * frequencies, YaRN ramps, attention factors) are computed in native code, once per call, from
 * exactly these fields (see native/include/ctxwin/positional.h and docs/design.md, "Positional
 * conventions").
 */
import { argError, isFinitePositive, isNonNegativeInt, isPositiveInt, show } from "./errors.js";
import type { NativeAttentionOptions } from "./backend.js";

/** ALiBi: a linear distance penalty per head. `trainLength` turns on ALiBi-PI (slopes * L/Tk for Tk > L). */
export interface AlibiPositional {
  type: "alibi";
  /** One slope per query head; default: the geometric sequence of Press et al. */
  slopes?: number[];
  /** ALiBi-PI: the length the model was trained at. */
  trainLength?: number;
}

/** RoPE ("rotate half" pairing, as HF transformers). */
export interface RopePositional {
  type: "rope";
  /** Base; default 10000. */
  theta?: number;
  /** Rotated dims R (even, <= head dim); dims >= R pass through. Default: the head dim. */
  rotaryDim?: number;
  scaling?: RopeScaling;
}

export type RopeScaling =
  | { type: "linear"; factor: number }
  | { type: "ntk"; factor: number }
  | { type: "dynamic"; factor: number; originalMaxPositions: number }
  | {
      type: "yarn";
      factor: number;
      originalMaxPositions: number;
      betaFast?: number;
      betaSlow?: number;
      attentionFactor?: number;
      mscale?: number;
      mscaleAllDim?: number;
      truncate?: boolean;
    };

export type Positional = { type: "none" } | AlibiPositional | RopePositional;

const POSITIONAL_FIELDS: Record<string, readonly string[]> = {
  none: ["type"],
  alibi: ["type", "slopes", "trainLength"],
  rope: ["type", "theta", "rotaryDim", "scaling"],
};
const SCALING_FIELDS: Record<string, readonly string[]> = {
  linear: ["type", "factor"],
  ntk: ["type", "factor"],
  dynamic: ["type", "factor", "originalMaxPositions"],
  yarn: ["type", "factor", "originalMaxPositions", "betaFast", "betaSlow", "attentionFactor", "mscale", "mscaleAllDim", "truncate"],
};

function checkFields(fn: string, arg: string, obj: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key) && obj[key] !== undefined) {
      argError("ERR_ARG", fn, `${arg}.${key}`, `one of the fields ${allowed.join(", ")}`, `an unknown field "${key}"`);
    }
  }
}

type PositionalFields = Pick<
  NativeAttentionOptions,
  | "posType"
  | "slopes"
  | "trainLength"
  | "theta"
  | "rotaryDim"
  | "scaling"
  | "factor"
  | "originalMaxPositions"
  | "betaFast"
  | "betaSlow"
  | "attentionFactor"
  | "mscale"
  | "mscaleAllDim"
  | "truncate"
>;

/**
 * Validates `positional` for an attention call with `hq` query heads and head dim `d`, and
 * flattens it into the native options. Errors name the field, what was expected and what was got.
 */
export function resolvePositional(fn: string, positional: unknown, hq: number, d: number): PositionalFields {
  // only the fields the caller set: the addon fills in the rest from its defaults (backend.ts)
  const out: PositionalFields = { posType: "none" };
  if (positional === undefined) return out;
  if (positional === null || typeof positional !== "object") argError("ERR_ARG", fn, "positional", "an object with a type", positional);
  const p = positional as Record<string, unknown>;
  const type = p.type;
  if (type !== "none" && type !== "alibi" && type !== "rope") {
    argError("ERR_ARG", fn, "positional.type", `"none", "alibi" or "rope"`, type);
  }
  checkFields(fn, "positional", p, POSITIONAL_FIELDS[type]!);
  out.posType = type;
  if (type === "alibi") {
    if (p.slopes !== undefined) {
      if (!Array.isArray(p.slopes) || !p.slopes.every((s) => typeof s === "number" && Number.isFinite(s))) {
        argError("ERR_ARG", fn, "positional.slopes", `an array of ${hq} finite numbers`, p.slopes);
      }
      if (p.slopes.length !== hq) {
        argError("ERR_ARG", fn, "positional.slopes", `${hq} slopes (one per query head)`, p.slopes.length);
      }
      out.slopes = [...(p.slopes as number[])];
    }
    if (p.trainLength !== undefined) {
      if (!isPositiveInt(p.trainLength)) argError("ERR_ARG", fn, "positional.trainLength", "a positive integer", p.trainLength);
      out.trainLength = p.trainLength;
    }
  } else if (type === "rope") {
    if (p.theta !== undefined) {
      if (!isFinitePositive(p.theta) || p.theta === 1) argError("ERR_ARG", fn, "positional.theta", "a finite number > 0 and != 1", p.theta);
      out.theta = p.theta;
    }
    if (p.rotaryDim !== undefined) {
      const r = p.rotaryDim;
      if (!isPositiveInt(r) || r % 2 !== 0 || r > d) {
        argError("ERR_ARG", fn, "positional.rotaryDim", `an even integer in [2, ${d}] (the head dim)`, r);
      }
      out.rotaryDim = r;
    }
    const rotary = out.rotaryDim || d;
    if (rotary % 2 !== 0) {
      argError("ERR_ARG", fn, "positional.rotaryDim", `an even rotary dim (the head dim ${d} is odd: set rotaryDim)`, d);
    }
    if (p.scaling !== undefined) resolveScaling(fn, p.scaling, rotary, out);
  }
  return out;
}

function resolveScaling(fn: string, scaling: unknown, rotary: number, out: PositionalFields): void {
  const arg = "positional.scaling";
  if (scaling === null || typeof scaling !== "object") argError("ERR_ARG", fn, arg, "an object with a type", scaling);
  const s = scaling as Record<string, unknown>;
  const type = s.type;
  if (type !== "linear" && type !== "ntk" && type !== "dynamic" && type !== "yarn") {
    argError("ERR_ARG", fn, `${arg}.type`, `"linear", "ntk", "dynamic" or "yarn"`, type);
  }
  checkFields(fn, arg, s, SCALING_FIELDS[type]!);
  out.scaling = type;
  if (!isFinitePositive(s.factor)) argError("ERR_ARG", fn, `${arg}.factor`, "a finite number > 0", s.factor);
  out.factor = s.factor;
  if ((type === "ntk" || type === "dynamic") && rotary <= 2) {
    argError("ERR_ARG", fn, "positional.rotaryDim", `a rotary dim > 2 for ${type} scaling`, rotary);
  }
  if (type === "dynamic" || type === "yarn") {
    if (!isPositiveInt(s.originalMaxPositions)) {
      argError("ERR_ARG", fn, `${arg}.originalMaxPositions`, `a positive integer (${type} scaling needs the original context length)`, s.originalMaxPositions);
    }
    out.originalMaxPositions = s.originalMaxPositions;
  }
  if (type === "yarn") {
    for (const key of ["betaFast", "betaSlow", "attentionFactor", "mscale", "mscaleAllDim"] as const) {
      const v = s[key];
      if (v !== undefined && !isFinitePositive(v)) argError("ERR_ARG", fn, `${arg}.${key}`, "a finite number > 0", v);
    }
    if (s.betaFast !== undefined) out.betaFast = s.betaFast as number;
    if (s.betaSlow !== undefined) out.betaSlow = s.betaSlow as number;
    if (s.attentionFactor !== undefined) out.attentionFactor = s.attentionFactor as number;
    if (s.mscale !== undefined) out.mscale = s.mscale as number;
    if (s.mscaleAllDim !== undefined) out.mscaleAllDim = s.mscaleAllDim as number;
    if (s.truncate !== undefined) {
      if (typeof s.truncate !== "boolean") argError("ERR_ARG", fn, `${arg}.truncate`, "a boolean", s.truncate);
      out.truncate = s.truncate;
    }
  }
}

/** A short label for tables and reports, e.g. "rope/yarn x4". */
export function positionalLabel(p: Positional | undefined): string {
  if (!p || p.type === "none") return "none";
  if (p.type === "alibi") return p.trainLength ? `alibi-pi(L=${p.trainLength})` : "alibi";
  if (!p.scaling) return "rope";
  return `rope/${p.scaling.type} x${show(p.scaling.factor)}`;
}
