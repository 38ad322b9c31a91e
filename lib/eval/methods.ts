/**
 * The methods `ctxwin eval` runs (--methods): the study's training-free extension methods
 * (lib/study/methods.ts, whose definitions give the forward options: nothing is re-implemented
 * here) and two plain settings, each as `id` or `id:key=value,...`:
 *
 *   trained                 every model as trained (its checkpoint's scheme)          any model
 *   nope, rope, alibi, window  as trained, for a model of that kind                  that kind
 *   window:size=W           a sliding window of W tokens in every layer (an override)  any model
 *   nope-scale:lambda=X     attention logits × λ beyond L (λ required)                 NoPE
 *   alibi-pi                ALiBi slopes × L/T beyond L                               ALiBi
 *   rope-pi | pi [:factor=s]    linear position interpolation                         RoPE
 *   rope-ntk | ntk [:factor=s]  NTK-aware scaling                                     RoPE
 *   yarn [:factor=s]            YaRN (original length L)                              RoPE
 *   rope-dynamic | dynamic      dynamic NTK (factor 1, original length L)             RoPE
 *   rope-dynamic-pi | dynamic-pi  linear interpolation by max(1, T/L)                 RoPE
 *   yarn-dynamic                YaRN with the factor max(1, T/L)                      RoPE
 *   window-ext [:lambda=X]  window W → (T/L)·W beyond L, logits × λ (default 1)      window model
 *
 * The default factor s is the model's longest evaluated length / L (at least 1). A method for
 * another kind of model is an "n/a" cell in the grid (with the reason), not an error, so that
 * one run can compare models of different schemes; an unknown id, key or value is an error
 * naming --methods. Positional-vector replacement (nope-pv-r{r}) is not offered: it needs the
 * positional vectors of the model's training text (`ctxwin study` and `ctxwin analyze positional`
 * run it); the study's fine-tunes are checkpoints (evaluate their directories with `trained`).
 */
import { CtxwinError } from "../errors.js";
import type { ForwardOptions } from "../models/causal_lm.js";
import { FINE_TUNES, studyMethods, type MethodDef } from "../study/methods.js";
import { parseMethodSpec, type MethodSpec } from "../analyze/methods.js";
import type { ModelKind } from "../analyze/positional_schema.js";

const WHERE = "eval: --methods";

/** Aliases → the study's ids. */
const ALIASES: Record<string, string> = { pi: "rope-pi", ntk: "rope-ntk", dynamic: "rope-dynamic", "dynamic-pi": "rope-dynamic-pi" };

/** Every id --methods takes (after aliasing) and the parameter keys of each. */
const KEYS: Record<string, readonly string[]> = {
  trained: [],
  nope: [],
  rope: [],
  alibi: [],
  window: ["size"],
  "nope-scale": ["lambda"],
  "alibi-pi": [],
  "rope-pi": ["factor"],
  "rope-ntk": ["factor"],
  yarn: ["factor"],
  "rope-dynamic": [],
  "rope-dynamic-pi": [],
  "yarn-dynamic": [],
  "window-ext": ["lambda"],
};

/** The ids --methods takes (aliases included), for help and errors. */
export const EVAL_METHOD_IDS: readonly string[] = [...Object.keys(KEYS), ...Object.keys(ALIASES)];

/**
 * Parses a --methods item (`id` or `id:key=value,...`), resolving aliases; unknown ids and keys are
 * errors naming --methods.
 */
export function parseEvalMethod(spec: string | MethodSpec): MethodSpec {
  const s = typeof spec === "string" ? parseMethodSpec(spec, WHERE) : spec;
  if (s === null || typeof s !== "object" || typeof s.id !== "string") throw new CtxwinError("ERR_ARG", `${WHERE}: expected a method id (or id:key=value,...), got ${JSON.stringify(spec)}`);
  const id = ALIASES[s.id] ?? s.id;
  const shown = typeof spec === "string" ? spec : s.id;
  if (/^nope-pv-r\d+$/.test(id)) {
    throw new CtxwinError("ERR_ARG", `${WHERE}: expected one of ${EVAL_METHOD_IDS.join(", ")}, got ${JSON.stringify(shown)}: positional-vector replacement needs the positional vectors of the model's training text; ctxwin study and ctxwin analyze positional run it`);
  }
  if ((FINE_TUNES as readonly string[]).includes(id)) {
    throw new CtxwinError("ERR_ARG", `${WHERE}: expected one of ${EVAL_METHOD_IDS.join(", ")}, got ${JSON.stringify(shown)}: a study fine-tune is a checkpoint of its own; pass its directory with --model and evaluate it with "trained"`);
  }
  const keys = KEYS[id];
  if (!keys) throw new CtxwinError("ERR_ARG", `${WHERE}: expected one of ${EVAL_METHOD_IDS.join(", ")}, got ${JSON.stringify(shown)}`);
  for (const [k, v] of Object.entries(s.params ?? {})) {
    if (!keys.includes(k)) throw new CtxwinError("ERR_ARG", `${WHERE}: ${shown}: expected ${keys.length ? `the parameter${keys.length > 1 ? "s" : ""} ${keys.join(", ")}` : "no parameters"}, got ${k}=${v}`);
    if (typeof v !== "number" || !Number.isFinite(v)) throw new CtxwinError("ERR_ARG", `${WHERE}: ${shown}: ${k}: expected a number, got ${JSON.stringify(v)}`);
  }
  if (id === "nope-scale" && s.params?.lambda === undefined) throw new CtxwinError("ERR_ARG", `${WHERE}: ${shown}: expected a temperature (nope-scale:lambda=1.2), got none`);
  const check = (k: string, ok: (v: number) => boolean, what: string) => {
    const v = s.params?.[k];
    if (v !== undefined && !ok(v)) throw new CtxwinError("ERR_ARG", `${WHERE}: ${shown}: ${k}: expected ${what}, got ${v}`);
  };
  check("factor", (v) => v >= 1, "a number ≥ 1");
  check("lambda", (v) => v > 0, "a number > 0");
  check("size", (v) => Number.isInteger(v) && v >= 1, "an integer ≥ 1");
  return { id, params: { ...(s.params ?? {}) } };
}

/** What a model offers a method: its kind, trained length L, window W (0 when none), evaluated lengths. */
export interface MethodTarget {
  kind: ModelKind;
  L: number;
  W: number;
  lengths: readonly number[];
}

/** A method resolved for one model. */
export interface ResolvedMethod {
  /** The id with every parameter resolved, e.g. "rope-pi:factor=4" (part of the cell key). */
  canonical: string;
  id: string;
  label: string;
  description: string;
  /** Why it does not apply to this model (an n/a cell), or null. */
  na: string | null;
  /** The forward options at length T. */
  at: (T: number) => ForwardOptions;
}

function canonical(id: string, params: Record<string, number>): string {
  const keys = Object.keys(params).sort();
  return keys.length ? `${id}:${keys.map((k) => `${k}=${params[k]}`).join(",")}` : id;
}

const KIND_NAME: Record<ModelKind, string> = { nope: "a NoPE", rope: "a RoPE", alibi: "an ALiBi", window: "a sliding-window (NoPE)" };

const KIND_OF_SCHEME_ID: Record<string, ModelKind> = { nope: "nope", rope: "rope", alibi: "alibi", window: "window" };

/** Resolves a parsed method for a model (defaults filled in; n/a with the reason when it does not fit). */
export function resolveEvalMethod(spec: MethodSpec, m: MethodTarget): ResolvedMethod {
  const { id } = spec;
  const params = { ...spec.params };
  const none = (): ForwardOptions => ({});
  if (id === "trained") return { canonical: "trained", id, label: "as trained", description: "The model as trained: its checkpoint's positional scheme and windows.", na: null, at: none };
  if (id === "window" && params.size !== undefined) {
    const W = params.size;
    return {
      canonical: canonical(id, params),
      id,
      label: `window ${W}`,
      description: `A sliding window of ${W} tokens in every layer (replacing the model's windows), positional scheme as trained.`,
      na: null,
      at: () => ({ window: W }),
    };
  }
  const longest = Math.max(...m.lengths);
  if (["rope-pi", "rope-ntk", "yarn"].includes(id) && params.factor === undefined) params.factor = Math.max(1, longest / m.L);
  if (id === "window-ext" && params.lambda === undefined) params.lambda = 1;
  const defs = studyMethods({
    L: m.L,
    W: m.W || 1,
    s: params.factor ?? 1,
    temperatures: [],
    pvRatios: [],
    pvAlphas: [],
    pvLayers: [],
    pvKeep: 0,
    pv: () => {
      throw new CtxwinError("ERR_INTERNAL", "eval: positional vectors are not computed");
    },
  });
  const def: MethodDef | undefined = defs.find((d) => d.id === id);
  if (!def) throw new CtxwinError("ERR_INTERNAL", `eval: the study defines no method ${id}`);
  // per-length temperatures of the study's definitions: one λ at every length
  if (params.lambda !== undefined) for (const T of m.lengths) def.params[`lambda@${T}`] = params.lambda;
  const kind = KIND_OF_SCHEME_ID[id] ?? (def.model as ModelKind);
  const na = kind === m.kind ? null : `${id} is for ${KIND_NAME[kind]} model; this is ${KIND_NAME[m.kind]} model`;
  return { canonical: canonical(id, params), id, label: id in KIND_OF_SCHEME_ID ? `${def.label} (as trained)` : def.label, description: def.description, na, at: (T) => def.at(T).forward };
}
