/**
 * The study's methods: a model plus the forward options used at each evaluation length T
 * (L = training length, s = the fixed factor of the static RoPE scalings and of the fine-tunes).
 * Every option is an attention-kernel parameter or a forward hook of CausalLM.
 *
 *   NoPE model
 *     nope            as trained
 *     nope-scale      attention scaling: logits × λ for T > L, λ chosen per length        [001 baseline]
 *     nope-pv-r{r}    positional vector replacement with a FIXED ratio r (the trained range [0, L)
 *                     interpolated onto [0, r·L)) and scale α (swept once per r), for
 *                     L < T ≤ r·L; r ∈ {2, 4, 8} (seed 001: r = 4, α = 1; r = 5, α = 1.3)    [001]
 *   ALiBi model
 *     alibi           as trained
 *     alibi-pi        slopes × L/T for T > L (training-free)                                [000]
 *   RoPE model, training-free
 *     rope            as trained
 *     rope-pi         linear position interpolation, fixed s (inv_freq / s)
 *     rope-ntk        NTK-aware, fixed s (theta · s^(R/(R−2)))
 *     rope-dynamic    dynamic NTK (factor 1: theta grows with T past L)
 *     rope-dynamic-pi linear interpolation with the factor max(1, T/L) per length
 *     yarn            YaRN, fixed s                                                         [003]
 *     yarn-dynamic    YaRN with the factor max(1, T/L) per length                          [003]
 *   RoPE model fine-tuned at s·L (same steps, tokens, data and length for all four)
 *     rope-ft         plain RoPE, continued training (the control)
 *     rope-pi-ft      linear PI s
 *     rope-ntk-ft     NTK s
 *     yarn-ft         YaRN s                                                               [003]
 *   Window model (NoPE, sliding window W = L/4)
 *     window          as trained
 *     window-ext      window W → (T/L)·W with logits × λ for T > L, λ chosen per length   [001]
 *
 * Static scalings (PI, NTK, YaRN, and the fine-tuned ones) apply their factor at every length,
 * L included, as a deployed model would; the training-free extensions of NoPE, ALiBi and the window
 * model change nothing at T ≤ L (nothing to extend).
 */
import type { ForwardOptions } from "../models/causal_lm.js";
import type { Positional, RopeScaling } from "../positional.js";
import { replacementHook, type PositionalVectors } from "./positional_vectors.js";

/** The models a study trains: four from scratch at L, four fine-tunes of the RoPE model at s·L. */
export type BaseModelName = "nope" | "rope" | "alibi" | "window";
export type FineTuneName = "rope-ft" | "rope-pi-ft" | "rope-ntk-ft" | "yarn-ft";
export type ModelName = BaseModelName | FineTuneName;
export const BASE_MODELS: readonly BaseModelName[] = ["nope", "rope", "alibi", "window"];
export const FINE_TUNES: readonly FineTuneName[] = ["rope-ft", "rope-pi-ft", "rope-ntk-ft", "yarn-ft"];

/** Seed paper of a method ("000" ALiBi-PI, "001" positional vectors, "003" YaRN; null: baseline or control). */
export type SeedPaper = "000" | "001" | "003" | null;

export interface MethodRun {
  forward: ForwardOptions;
}

export interface SweepStage {
  param: string;
  values: number[];
  /** "per-length": one value chosen for each length > L; "shared": one value for all of `lengths`. */
  mode: "per-length" | "shared";
  /** Lengths the sweep is scored at (those > L where the method is defined). */
  lengths: (all: readonly number[]) => number[];
  /** The run at length T with this value (earlier stages' choices fixed). */
  at: (value: number, T: number) => MethodRun;
}

export interface MethodDef {
  id: string;
  label: string;
  model: ModelName;
  seed: SeedPaper;
  description: string;
  /** Settings used (sweeps fill theirs in). */
  params: Record<string, number | string | boolean | null>;
  sweeps?: SweepStage[];
  /** Lengths the method is defined at (default: all). */
  defined?: (T: number) => boolean;
  /** The evaluated run at length T (after the sweeps chose their values). */
  at: (T: number) => MethodRun;
}

/** Dynamic factor at T keys for training length L: max(1, T / L). */
export function dynamicFactor(T: number, L: number): number {
  return Math.max(1, T / L);
}

/** Attention window extension at length T: window W → round(W·T/L), logits × λ; plain for T ≤ L. */
export function windowExtension(T: number, L: number, W: number, lambda: number): ForwardOptions {
  if (T <= L) return {};
  return { window: Math.round((W * T) / L), scaleMultiplier: lambda };
}

/** NoPE attention scaling at length T: logits × λ for T > L. */
export function attentionScaling(T: number, L: number, lambda: number): ForwardOptions {
  return T <= L ? {} : { scaleMultiplier: lambda };
}

/** The positional scheme each fine-tune trains and runs with (factor s, original length L). */
export function fineTunePositional(name: FineTuneName, s: number, L: number): Positional {
  const sc: Record<FineTuneName, RopeScaling | undefined> = {
    "rope-ft": undefined,
    "rope-pi-ft": { type: "linear", factor: s },
    "rope-ntk-ft": { type: "ntk", factor: s },
    "yarn-ft": { type: "yarn", factor: s, originalMaxPositions: L },
  };
  const scaling = sc[name];
  return scaling ? { type: "rope", scaling } : { type: "rope" };
}

export interface MethodContext {
  L: number;
  W: number;
  /** Fixed factor of the static scalings and the fine-tunes. */
  s: number;
  /** Temperatures tried by nope-scale and window-ext (per length). */
  temperatures: number[];
  /** PV replacement: the fixed ratios r, the α values tried, the layers tried, tokens kept. */
  pvRatios: number[];
  pvAlphas: number[];
  pvLayers: number[];
  pvKeep: number;
  /** Set by the pipeline before a nope-pv method is swept or evaluated. */
  pv: () => PositionalVectors;
}

function rope(scaling?: RopeScaling): Positional {
  return scaling ? { type: "rope", scaling } : { type: "rope" };
}

/** One value per length > L: params key "<param>@<T>". */
function perLength(params: MethodDef["params"], param: string, T: number, fallback: number): number {
  const v = params[`${param}@${T}`];
  return typeof v === "number" ? v : fallback;
}

function pvRun(ctx: MethodContext, r: number, layer: number, alpha: number, T: number): MethodRun {
  if (T <= ctx.L) return { forward: {} };
  const hook = replacementHook(ctx.pv(), { layer, alpha, trainLength: ctx.L, targetLength: r * ctx.L, keep: ctx.pvKeep });
  return { forward: { hooks: { hidden: hook } } };
}

/** The ratio at which the PV layer is chosen (seed 001's r = 4 when evaluated, else the first). */
export function pvReferenceRatio(ctx: MethodContext): number {
  return ctx.pvRatios.includes(4) ? 4 : ctx.pvRatios[0]!;
}

/**
 * The sweep that picks the PV replacement layer once for every r: replacement at the reference
 * ratio with α = 1, scored at the lengths in (L, r·L].
 */
export function pvLayerStage(ctx: MethodContext): SweepStage {
  const r = pvReferenceRatio(ctx);
  return {
    param: "layer",
    values: ctx.pvLayers,
    mode: "shared",
    lengths: (all) => all.filter((T) => T > ctx.L && T <= r * ctx.L),
    at: (v, T) => pvRun(ctx, r, v, 1, T),
  };
}

/** Every method of the study, in report order. */
export function studyMethods(ctx: MethodContext): MethodDef[] {
  const { L, W, s } = ctx;
  const beyond = (all: readonly number[]) => all.filter((T) => T > L);
  const plain = (): MethodRun => ({ forward: {} });
  const fixed = (positional: Positional) => (): MethodRun => ({ forward: { positional } });

  const nopeScale: MethodDef = {
    id: "nope-scale",
    label: "NoPE + attention scaling",
    model: "nope",
    seed: "001",
    description: "Seed 001's NoPE baseline: the attention logits multiplied by a temperature λ beyond L, λ chosen for each length on the tuning documents.",
    params: {},
    sweeps: [{ param: "lambda", values: ctx.temperatures, mode: "per-length", lengths: beyond, at: (v, T) => ({ forward: attentionScaling(T, L, v) }) }],
    at: (T) => ({ forward: attentionScaling(T, L, perLength(nopeScale.params, "lambda", T, 1)) }),
  };

  const pvMethods: MethodDef[] = ctx.pvRatios.map((r) => {
    const m: MethodDef = {
      id: `nope-pv-r${r}`,
      label: `NoPE + PV replacement (r=${r})`,
      model: "nope",
      seed: "001",
      description:
        `Positional vector replacement (seed 001) with a fixed ratio r = ${r}: at one layer, the first ${ctx.pvKeep} tokens keep their positional vectors and the rest get the trained range [0, L) interpolated onto [0, ${r}L), scaled by α; defined up to ${r}L. ` +
        `The layer is chosen once (at α = 1, r = ${pvReferenceRatio(ctx)}) and α for each r, on the tuning documents.`,
      params: { r, layer: ctx.pvLayers[0] ?? 1, alpha: 1, keep: ctx.pvKeep },
      defined: (T) => T <= r * L,
      sweeps: [
        {
          param: "alpha",
          values: ctx.pvAlphas,
          mode: "shared",
          lengths: (all) => all.filter((T) => T > L && T <= r * L),
          at: (v, T) => pvRun(ctx, r, m.params.layer as number, v, T),
        },
      ],
      at: (T) => pvRun(ctx, r, m.params.layer as number, m.params.alpha as number, T),
    };
    return m;
  });

  const windowExt: MethodDef = {
    id: "window-ext",
    label: "Window + window extension",
    model: "window",
    seed: "001",
    description: `Attention window extension (seed 001): window W = ${W} → (T/L)·W beyond L with the attention logits multiplied by a temperature λ, chosen for each length on the tuning documents.`,
    params: { window: W },
    sweeps: [{ param: "lambda", values: ctx.temperatures, mode: "per-length", lengths: beyond, at: (v, T) => ({ forward: windowExtension(T, L, W, v) }) }],
    at: (T) => ({ forward: windowExtension(T, L, W, perLength(windowExt.params, "lambda", T, 1)) }),
  };

  const ft = (id: FineTuneName, label: string, seed: SeedPaper, what: string): MethodDef => ({
    id,
    label,
    model: id,
    seed,
    description: `The RoPE model fine-tuned at ${s}L with ${what}, then evaluated with it at every length (same steps, tokens, data and length as the other fine-tunes).`,
    params: { factor: id === "rope-ft" ? 1 : s },
    at: () => ({ forward: {} }), // the fine-tuned checkpoint carries its positional scheme
  });

  return [
    { id: "nope", label: "NoPE", model: "nope", seed: null, description: "No positional encoding, trained at L.", params: {}, at: plain },
    nopeScale,
    ...pvMethods,
    { id: "alibi", label: "ALiBi", model: "alibi", seed: null, description: "ALiBi, trained at L, extrapolating as is.", params: {}, at: plain },
    {
      id: "alibi-pi",
      label: "ALiBi-PI",
      model: "alibi",
      seed: "000",
      description: "ALiBi with position interpolation (seed 000): every slope multiplied by L/T for T > L; training-free.",
      params: { trainLength: L },
      at: fixed({ type: "alibi", trainLength: L }),
    },
    { id: "rope", label: "RoPE", model: "rope", seed: null, description: "RoPE, trained at L, extrapolating as is.", params: {}, at: plain },
    { id: "rope-pi", label: `Linear PI ×${s}`, model: "rope", seed: null, description: `Linear position interpolation: inv_freq / ${s} at every length; training-free.`, params: { factor: s }, at: fixed(rope({ type: "linear", factor: s })) },
    { id: "rope-ntk", label: `NTK ×${s}`, model: "rope", seed: null, description: `NTK-aware scaling: theta · ${s}^(R/(R−2)) at every length; training-free.`, params: { factor: s }, at: fixed(rope({ type: "ntk", factor: s })) },
    {
      id: "rope-dynamic",
      label: "Dynamic NTK",
      model: "rope",
      seed: null,
      description: "Dynamic NTK (HF 'dynamic', factor 1): theta · (T/L)^(R/(R−2)) for T > L, unchanged within L; training-free.",
      params: { factor: 1, originalMaxPositions: L },
      at: fixed(rope({ type: "dynamic", factor: 1, originalMaxPositions: L })),
    },
    {
      id: "rope-dynamic-pi",
      label: "Dynamic PI",
      model: "rope",
      seed: null,
      description: "Linear position interpolation with the factor max(1, T/L) for each length; training-free.",
      params: { factor: "max(1, T/L)" },
      at: (T) => ({ forward: { positional: rope({ type: "linear", factor: dynamicFactor(T, L) }) } }),
    },
    {
      id: "yarn",
      label: `YaRN ×${s}`,
      model: "rope",
      seed: "003",
      description: `YaRN (seed 003) with a fixed factor ${s}: NTK-by-parts ramp (β_fast 32, β_slow 1) and attention factor 0.1·ln s + 1 at every length; training-free.`,
      params: { factor: s, originalMaxPositions: L },
      at: fixed(rope({ type: "yarn", factor: s, originalMaxPositions: L })),
    },
    {
      id: "yarn-dynamic",
      label: "YaRN dynamic",
      model: "rope",
      seed: "003",
      description: "Dynamic YaRN (seed 003): the YaRN factor recomputed for each length as max(1, T/L) (plain RoPE within L); training-free.",
      params: { factor: "max(1, T/L)", originalMaxPositions: L },
      at: (T) => ({ forward: { positional: rope({ type: "yarn", factor: dynamicFactor(T, L), originalMaxPositions: L }) } }),
    },
    ft("rope-ft", `RoPE fine-tuned`, null, "plain RoPE (continued training: the control for the extra training)"),
    ft("rope-pi-ft", `Linear PI ×${s} fine-tuned`, null, `linear position interpolation ×${s}`),
    ft("rope-ntk-ft", `NTK ×${s} fine-tuned`, null, `NTK-aware scaling ×${s}`),
    ft("yarn-ft", `YaRN ×${s} fine-tuned`, "003", `YaRN ×${s} (seed 003's recipe scaled down)`),
    { id: "window", label: `Window (W=${W})`, model: "window", seed: null, description: `NoPE with a sliding window W = ${W} = L/4 in every layer, trained at L.`, params: { window: W }, at: plain },
    windowExt,
  ];
}
