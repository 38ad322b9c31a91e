/**
 * The study's methods: a trained model plus the forward options used at each evaluation length T
 * (L = training length, r = T / L). Every option below is an attention-kernel parameter or a
 * forward hook of CausalLM; nothing is re-trained except "yarn-finetuned".
 *
 *   nope            NoPE, as trained
 *   nope-scale      NoPE + attention scaling: logits × λ for T > L (λ swept)            [001 baseline]
 *   nope-pv         NoPE + positional vector replacement for T > L (layer, α swept)      [001]
 *   alibi           ALiBi, as trained
 *   alibi-pi        ALiBi-PI: slopes × L/T for T > L                                     [000]
 *   rope            RoPE, as trained
 *   rope-pi         linear position interpolation, fixed factor s (inv_freq / s)
 *   rope-ntk        NTK-aware scaling, fixed factor s (theta · s^(R/(R−2)))
 *   rope-dynamic    dynamic NTK (HF "dynamic", factor 1: theta grows with T past L)
 *   yarn            YaRN, fixed factor s (ramp + attention factor 0.1 ln s + 1)           [003]
 *   yarn-dynamic    YaRN with the factor recomputed per length: max(1, T/L)              [003]
 *   yarn-finetuned  YaRN s after a short fine-tune at s·L (the RoPE model, fine-tuned)   [003]
 *   window          NoPE + sliding window W = L/4, as trained
 *   window-ext      window W → r·W with logits × λ for T > L (λ swept)                   [001]
 *
 * At T ≤ L the training-free extensions are the plain model (r = 1: nothing to extend), except the
 * static RoPE scalings, which apply their fixed factor at every length (as a deployed model would).
 */
import type { ForwardOptions } from "../models/causal_lm.js";
import type { Positional } from "../positional.js";
import type { StudyMethod, StudyModel } from "./report_schema.js";
import { replacementHook, type PositionalVectors } from "./positional_vectors.js";

export type ModelName = StudyModel["name"];

export interface MethodRun {
  forward: ForwardOptions;
  /** For hooks needing absolute positions (KV-cache decoding): the first token's position of the next call. */
  setOffset?: (offset: number) => void;
}

export interface SweepStage {
  param: string;
  values: number[];
  /** The method's run at length T with this stage's value (earlier stages' chosen values fixed). */
  at: (value: number, T: number) => MethodRun;
}

export interface MethodDef {
  id: string;
  label: string;
  model: ModelName;
  seed: StudyMethod["seed"];
  description: string;
  params: StudyMethod["params"];
  /** Sweeps run before the evaluation, in order (each fixes its param in `params`). */
  sweeps?: SweepStage[];
  /** The evaluated run at length T (after the sweeps chose their values). */
  at: (T: number) => MethodRun;
}

/** Dynamic YaRN's factor at Tk keys for original length L0: max(1, Tk / L0). */
export function dynamicYarnFactor(Tk: number, L0: number): number {
  return Math.max(1, Tk / L0);
}

/** Attention window extension (seed 001) at length T: window W → (T/L)·W and logits × λ; plain for T ≤ L. */
export function windowExtension(T: number, L: number, W: number, lambda: number): ForwardOptions {
  if (T <= L) return {};
  return { window: Math.round((W * T) / L), scaleMultiplier: lambda };
}

/** NoPE attention scaling at length T: logits × λ for T > L. */
export function attentionScaling(T: number, L: number, lambda: number): ForwardOptions {
  return T <= L ? {} : { scaleMultiplier: lambda };
}

export interface MethodContext {
  L: number;
  W: number;
  /** Fixed factor of the static RoPE scalings. */
  s: number;
  windowTemperatures: number[];
  nopeTemperatures: number[];
  pvLayers: number[];
  pvAlphas: number[];
  pvKeep: number;
  /** Set (by the pipeline) before nope-pv is swept or evaluated. */
  pv: () => PositionalVectors;
}

function rope(scaling?: Extract<Positional, { type: "rope" }>["scaling"]): Positional {
  return scaling ? { type: "rope", scaling } : { type: "rope" };
}

function pvRun(ctx: MethodContext, layer: number, alpha: number, T: number): MethodRun {
  if (T <= ctx.L) return { forward: {} };
  let offset = 0;
  const hook = replacementHook(ctx.pv(), { layer, alpha, trainLength: ctx.L, targetLength: T, keep: ctx.pvKeep, offset: () => offset });
  return { forward: { hooks: { hidden: hook } }, setOffset: (o) => (offset = o) };
}

/** Every method of the study, in report order. */
export function studyMethods(ctx: MethodContext): MethodDef[] {
  const { L, W, s } = ctx;
  const plain = (): MethodRun => ({ forward: {} });
  const fixed = (positional: Positional) => (): MethodRun => ({ forward: { positional } });
  const nopeScale: MethodDef = {
    id: "nope-scale",
    label: "NoPE + attention scaling",
    model: "nope",
    seed: "001",
    description: "NoPE baseline of seed 001: attention logits multiplied by a temperature λ beyond L (λ chosen on held-out tuning tokens).",
    params: { lambda: 1 },
    sweeps: [{ param: "lambda", values: ctx.nopeTemperatures, at: (v, T) => ({ forward: attentionScaling(T, L, v) }) }],
    at: (T) => ({ forward: attentionScaling(T, L, nopeScale.params.lambda as number) }),
  };
  const nopePv: MethodDef = {
    id: "nope-pv",
    label: "NoPE + PV replacement",
    model: "nope",
    seed: "001",
    description: `Positional vector replacement (seed 001): at one layer, the first ${ctx.pvKeep} tokens keep their positional vectors, the rest get the trained vectors interpolated to the new length, scaled by α (layer, then α, chosen on held-out tuning tokens).`,
    params: { layer: ctx.pvLayers[0] ?? 1, alpha: 1, keep: ctx.pvKeep },
    sweeps: [
      { param: "layer", values: ctx.pvLayers, at: (v, T) => pvRun(ctx, v, 1, T) },
      { param: "alpha", values: ctx.pvAlphas, at: (v, T) => pvRun(ctx, nopePv.params.layer as number, v, T) },
    ],
    at: (T) => pvRun(ctx, nopePv.params.layer as number, nopePv.params.alpha as number, T),
  };
  const windowExt: MethodDef = {
    id: "window-ext",
    label: "Window + window extension",
    model: "window",
    seed: "001",
    description: `Attention window extension (seed 001): window W = ${W} → (T/L)·W with the attention logits multiplied by a temperature λ (chosen on held-out tuning tokens).`,
    params: { window: W, lambda: 1 },
    sweeps: [{ param: "lambda", values: ctx.windowTemperatures, at: (v, T) => ({ forward: windowExtension(T, L, W, v) }) }],
    at: (T) => ({ forward: windowExtension(T, L, W, windowExt.params.lambda as number) }),
  };
  return [
    { id: "nope", label: "NoPE", model: "nope", seed: null, description: "No positional encoding, trained at L.", params: {}, at: plain },
    nopeScale,
    nopePv,
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
    {
      id: "rope-pi",
      label: `RoPE + linear PI (×${s})`,
      model: "rope",
      seed: null,
      description: `Linear position interpolation: inv_freq / s with a fixed s = ${s}, at every length; training-free.`,
      params: { factor: s },
      at: fixed(rope({ type: "linear", factor: s })),
    },
    {
      id: "rope-ntk",
      label: `RoPE + NTK (×${s})`,
      model: "rope",
      seed: null,
      description: `NTK-aware scaling: theta · s^(R/(R−2)) with a fixed s = ${s}, at every length; training-free.`,
      params: { factor: s },
      at: fixed(rope({ type: "ntk", factor: s })),
    },
    {
      id: "rope-dynamic",
      label: "RoPE + dynamic NTK",
      model: "rope",
      seed: null,
      description: "Dynamic NTK (HF 'dynamic', factor 1): theta · (T/L)^(R/(R−2)) for T > L, unchanged within L; training-free.",
      params: { factor: 1, originalMaxPositions: L },
      at: fixed(rope({ type: "dynamic", factor: 1, originalMaxPositions: L })),
    },
    {
      id: "yarn",
      label: `YaRN static (×${s})`,
      model: "rope",
      seed: "003",
      description: `YaRN (seed 003) with a fixed factor s = ${s}: NTK-by-parts ramp (β_fast 32, β_slow 1) and attention factor 0.1·ln s + 1; training-free.`,
      params: { factor: s, originalMaxPositions: L },
      at: fixed(rope({ type: "yarn", factor: s, originalMaxPositions: L })),
    },
    {
      id: "yarn-dynamic",
      label: "YaRN dynamic",
      model: "rope",
      seed: "003",
      description: "Dynamic YaRN (seed 003): the YaRN factor recomputed for each length as max(1, T/L); training-free.",
      params: { factor: "max(1, T/L)", originalMaxPositions: L },
      at: (T) => ({ forward: { positional: rope({ type: "yarn", factor: dynamicYarnFactor(T, L), originalMaxPositions: L }) } }),
    },
    {
      id: "yarn-finetuned",
      label: `YaRN fine-tuned (×${s})`,
      model: "rope",
      seed: "003",
      description: `YaRN s = ${s} after a short fine-tune of the RoPE model at ${s}·L tokens (seed 003's recipe scaled down: few steps, low constant learning rate after warmup, no weight decay).`,
      params: { factor: s, originalMaxPositions: L },
      at: fixed(rope({ type: "yarn", factor: s, originalMaxPositions: L })),
    },
    { id: "window", label: `Window (W=${W})`, model: "window", seed: null, description: `NoPE with a sliding window W = ${W} = L/4 in every layer, trained at L.`, params: { window: W }, at: plain },
    windowExt,
  ];
}
