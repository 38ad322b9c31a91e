/**
 * The extension methods an analysis can apply: the study's training-free methods
 * (lib/study/methods.ts) that fit the model's positional scheme — the fine-tunes are models of their
 * own (analyse their directories).
 *
 *   NoPE     nope-scale (logits × λ beyond L; needs λ), nope-pv-r{r} (positional vector
 *            replacement with ratio r, at a layer, scaled by α; r·L at most the longest length)
 *   ALiBi    alibi-pi
 *   RoPE     rope-pi, rope-ntk, rope-dynamic, rope-dynamic-pi, yarn, yarn-dynamic
 *   window   window-ext (window W → (T/L)·W, logits × λ)
 *
 * A method is given as `id` or `id:key=value,...` (--method). Parameters: lambda (nope-scale,
 * window-ext), layer and alpha (nope-pv-r{r}), factor (rope-pi, rope-ntk, yarn). Each comes from
 * the spec, else from the study report beside a study model (the value its sweep chose), else a
 * default: window-ext λ = 1; PV layer min(4, layers − 1) (seed 001's layer 4) and α = 1; factor =
 * longest length / L. nope-scale has no default λ: it is skipped unless one is known.
 */
import { CtxwinError } from "../errors.js";
import type { ForwardOptions } from "../models/causal_lm.js";
import { FINE_TUNES, studyMethods, type MethodContext, type MethodDef } from "../study/methods.js";
import type { PositionalVectors } from "../study/positional_vectors.js";
import type { ModelKind } from "./positional_schema.js";
import type { StudyParams } from "./study_params.js";

export interface MethodSpec {
  id: string;
  params: Record<string, number>;
}

export interface AnalysisMethod {
  id: string;
  label: string;
  description: string;
  seed: string | null;
  params: Record<string, number | string | boolean | null>;
  paramSources: Record<string, string>;
  /** Lengths > L (of the analysed ones) where the method is defined. */
  lengths: number[];
  at: (T: number) => ForwardOptions;
}

const KEYS: Record<string, string[]> = {
  "nope-scale": ["lambda"],
  "window-ext": ["lambda"],
  "rope-pi": ["factor"],
  "rope-ntk": ["factor"],
  yarn: ["factor"],
};
const PV = /^nope-pv-r(\d+)$/;

function keysOf(id: string): string[] {
  return PV.test(id) ? ["layer", "alpha"] : (KEYS[id] ?? []);
}

/**
 * Parses `id` or `id:key=value,...` (numbers only); errors name `where`, the command and option
 * (default "analyze positional: --method"; `ctxwin eval` passes its own).
 */
export function parseMethodSpec(spec: string, where = "analyze positional: --method"): MethodSpec {
  const bad = (what: string): never => {
    throw new CtxwinError("ERR_ARG", `${where}: expected ${what}, got ${JSON.stringify(spec)}`);
  };
  if (typeof spec !== "string" || !spec.trim()) bad("a method id (or id:key=value,...)");
  const [id, rest] = spec.split(/:(.*)/s, 2) as [string, string | undefined];
  if (!/^[a-z0-9-]+$/.test(id)) bad("a method id (or id:key=value,...)");
  const params: Record<string, number> = {};
  if (rest !== undefined) {
    for (const kv of rest.split(",")) {
      const m = /^([a-z]+)=(.+)$/.exec(kv.trim());
      if (!m) bad(`key=value pairs after "${id}:"`);
      const v = Number(m![2]);
      if (!Number.isFinite(v)) bad(`a number for ${m![1]}`);
      params[m![1]!] = v;
    }
  }
  return { id, params };
}

/** The ids applicable to a model of `kind` (PV ratios from the lengths: r = T/L for integer T/L > 1). */
export function applicableMethods(kind: ModelKind, L: number, lengths: readonly number[]): string[] {
  const ratios = lengths.filter((T) => T > L && T % L === 0).map((T) => T / L);
  const defs = studyMethods(context({ L, W: 1, s: 2, pvRatios: ratios.length ? ratios : [2], layer: 1, pv: () => null as never }));
  return defs.filter((d) => d.model === kind && d.id !== kind && !(FINE_TUNES as readonly string[]).includes(d.model)).map((d) => d.id);
}

function context(c: { L: number; W: number; s: number; pvRatios: number[]; layer: number; pv: () => PositionalVectors }): MethodContext {
  return { L: c.L, W: c.W, s: c.s, temperatures: [], pvRatios: c.pvRatios, pvAlphas: [], pvLayers: [c.layer], pvKeep: 4, pv: c.pv };
}

export interface ResolveContext {
  kind: ModelKind;
  L: number;
  /** The window model's W (0 otherwise). */
  W: number;
  lengths: number[];
  numLayers: number;
  /** The base model's positional vectors (PV replacement); called only when the method runs. */
  pv: () => PositionalVectors;
  study: StudyParams | null;
}

/**
 * The methods to run: `specs` (default: every applicable method with what it needs). Throws
 * CtxwinError naming --method for an unknown or inapplicable id, an unknown parameter or a bad value.
 */
export function resolveMethods(specs: MethodSpec[] | null, ctx: ResolveContext): { methods: AnalysisMethod[]; skipped: { id: string; reason: string }[] } {
  const { L, lengths } = ctx;
  const maxLen = lengths[lengths.length - 1]!;
  const applicable = applicableMethods(ctx.kind, L, lengths);
  const explicit = specs !== null;
  const list: MethodSpec[] = specs ?? applicable.map((id) => ({ id, params: {} }));
  const methods: AnalysisMethod[] = [];
  const skipped: { id: string; reason: string }[] = [];
  const fail = (id: string, what: string, got: unknown): never => {
    throw new CtxwinError("ERR_ARG", `analyze positional: --method ${id}: expected ${what}, got ${typeof got === "string" ? got : JSON.stringify(got)}`);
  };
  for (const spec of list) {
    const { id } = spec;
    const pv = PV.exec(id);
    if (!applicable.includes(id)) {
      const known = pv || applicableMethods("nope", L, [L, 2 * L]).concat(applicableMethods("rope", L, [L]), applicableMethods("alibi", L, [L]), applicableMethods("window", L, [L])).includes(id);
      if (pv && ctx.kind === "nope") fail(id, `a ratio r with r·L (${L}) among the analysed lengths (${lengths.join(", ")})`, `r = ${pv[1]}`);
      throw new CtxwinError(
        "ERR_ARG",
        `analyze positional: --method: expected one of ${applicable.join(", ") || "(none)"} for a ${ctx.kind} model, got ${JSON.stringify(id)}${known ? " (a method for another kind of model)" : ""}`,
      );
    }
    for (const k of Object.keys(spec.params)) if (!keysOf(id).includes(k)) fail(id, keysOf(id).length ? `parameters ${keysOf(id).join(", ")}` : "no parameters", `${k}=${spec.params[k]}`);
    const fromStudy: Record<string, number> = ctx.study?.methods[id] ?? {};
    const sources: Record<string, string> = {};
    const pick = (key: string, fallback: number | null): number | null => {
      if (key in spec.params) {
        sources[key] = "given";
        return spec.params[key]!;
      }
      const s = fromStudy[key];
      if (typeof s === "number") {
        sources[key] = "study report";
        return s;
      }
      if (fallback !== null) sources[key] = "default";
      return fallback;
    };
    let layer = 1;
    let alpha = 1;
    let s = maxLen / L;
    if (pv) {
      const r = Number(pv[1]);
      if (r * L > maxLen) fail(id, `r·L at most the longest length ${maxLen}`, `r = ${r}`);
      layer = pick("layer", Math.min(4, Math.max(1, ctx.numLayers - 1)))!;
      alpha = pick("alpha", 1)!;
      if (!(Number.isInteger(layer) && layer >= 0 && layer <= ctx.numLayers)) fail(id, `layer an integer in [0, ${ctx.numLayers}]`, layer);
      if (!(alpha > 0)) fail(id, "alpha > 0", alpha);
    }
    if (keysOf(id).includes("factor")) {
      s = pick("factor", ctx.study?.ropeFactor ?? maxLen / L)!;
      if (sources.factor === "default" && ctx.study?.ropeFactor !== undefined) sources.factor = "study report";
      if (!(s >= 1)) fail(id, "factor ≥ 1", s);
    }
    const def: MethodDef = studyMethods(context({ L, W: ctx.W || 1, s, pvRatios: pv ? [Number(pv[1])] : [2], layer, pv: ctx.pv })).find((d) => d.id === id)!;
    if (pv) {
      def.params.layer = layer;
      def.params.alpha = alpha;
    }
    let beyond = lengths.filter((T) => T > L && (def.defined?.(T) ?? true));
    if (keysOf(id).includes("lambda")) {
      // λ per length: given for all, or the study's choice at that length
      const given = spec.params.lambda;
      if (given !== undefined && !(given > 0)) fail(id, "lambda > 0", given);
      const missing: number[] = [];
      for (const T of beyond) {
        const st = fromStudy[`lambda@${T}`];
        const lam = given ?? (typeof st === "number" ? st : id === "window-ext" ? 1 : null);
        if (lam === null) missing.push(T);
        else def.params[`lambda@${T}`] = lam;
      }
      sources.lambda = given !== undefined ? "given" : Object.keys(fromStudy).some((k) => k.startsWith("lambda@")) ? "study report (per length)" : "default";
      if (missing.length) {
        if (explicit && given === undefined) fail(id, `a temperature (${id}:lambda=1.2): no λ is known at ${missing.join(", ")}`, "none");
        beyond = beyond.filter((T) => !missing.includes(T));
        if (!beyond.length) {
          skipped.push({ id, reason: `no temperature λ known (give ${id}:lambda=X, or analyse a study model whose report.json holds the swept λ)` });
          continue;
        }
      }
    }
    if (!beyond.length) {
      skipped.push({ id, reason: `defined at none of the analysed lengths beyond L = ${L}` });
      continue;
    }
    methods.push({
      id,
      label: def.label,
      description: def.description,
      seed: def.seed,
      params: { ...def.params },
      paramSources: sources,
      lengths: beyond,
      at: (T) => def.at(T).forward,
    });
  }
  return { methods, skipped };
}
