/**
 * The four methods of the comparison as changes to a freshly loaded encoder with a head:
 *
 *   full    every weight trains
 *   lora    LoRA (r, alpha) on the attention's query and value projections; the base frozen
 *   ptv2    P-tuning v2: P trainable key/value prefix vectors in every layer, no reparameterisation
 *   apt     APT: the same prefixes, gated per (input token, prefix token) by α = sigmoid(h W_i) and
 *           per layer by λ_i
 *
 * With every adapter method the head trains too: the classifier and the pooler (BERT's pooler
 * dense + tanh; the backbone pretrained here by MLM has no trained pooler, so a frozen one would be
 * random). Trainable-parameter counts in the report include the head.
 */
import type { Parameter } from "../nn/autograd.js";
import type { Encoder } from "../models/encoder/model.js";
import { peftTarget } from "../peft/target.js";
import type { PeftParts } from "./parts.js";
import type { PeftPreset } from "./presets.js";
import type { PeftCellMethod } from "./report_schema.js";

export interface AppliedMethod {
  /** Parameters the adapter returned (trained besides the model's unfrozen ones). */
  params: Parameter[];
  /** Prefix length per layer (prefix methods), else null. */
  prefixLengths: number[] | null;
  gate: "token" | "pooled" | null;
}

/** Unfreezes the head (PEFT's classifier, and the pooler) after an adapter froze the base. */
export function unfreezeHead(model: Encoder): void {
  for (const [, p] of peftTarget(model).headParameters) p.unfreeze();
  model.pooler?.unfreeze();
}

/** Applies `method` to `model` in place (see the file header); `lengths` are the probe's per-layer prefix lengths. */
export function applyMethod(model: Encoder, method: PeftCellMethod, preset: PeftPreset, seed: number, parts: PeftParts, lengths?: number[]): AppliedMethod {
  const L = model.numLayers;
  const uniform = Array.from({ length: L }, () => preset.prefixLength);
  let out: AppliedMethod;
  switch (method) {
    case "full":
      model.unfreeze();
      return { params: [], prefixLengths: null, gate: null };
    case "lora":
      out = { params: parts.addLora(model, { r: preset.lora.r, alpha: preset.lora.alpha, targetModules: preset.lora.targetModules, seed }), prefixLengths: null, gate: null };
      break;
    case "ptv2":
      out = { params: parts.addPrefix(model, { numVirtualTokens: preset.prefixLength, seed }), prefixLengths: uniform, gate: null };
      break;
    case "ptv2-variable":
      out = { params: parts.addPrefix(model, { numVirtualTokens: lengths ?? uniform, seed }), prefixLengths: [...(lengths ?? uniform)], gate: null };
      break;
    case "apt":
      out = { params: parts.addApt(model, { numVirtualTokens: preset.prefixLength, gate: preset.aptGate, seed }), prefixLengths: uniform, gate: preset.aptGate };
      break;
  }
  unfreezeHead(model);
  return out;
}

/**
 * The probe's per-layer prefix lengths: proportional to each layer's weight (its mean gate α),
 * with the same total as the uniform prefix (L·P), every layer at least 1; rounding by largest
 * remainder (ties to the lower layer).
 */
export function variableLengths(weights: readonly number[], total: number): number[] {
  const L = weights.length;
  const w = weights.map((x) => (Number.isFinite(x) && x > 0 ? x : 0));
  const sum = w.reduce((a, b) => a + b, 0);
  const spare = total - L; // one token per layer first
  if (spare < 0) throw new RangeError(`variableLengths: total ${total} is below one token per layer (${L})`);
  const raw = w.map((x) => (sum > 0 ? (x / sum) * spare : spare / L));
  const out = raw.map((r) => 1 + Math.floor(r));
  const order = raw.map((r, i) => [r - Math.floor(r), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  let left = total - out.reduce((a, b) => a + b, 0);
  for (let k = 0; left > 0; k = (k + 1) % L, left--) out[order[k]![1]]!++;
  return out;
}
