/**
 * Prefix tuning (P-tuning v2 / PEFT PREFIX_TUNING without projection): P key and value vectors per
 * layer, [P, Hkv, D] each, prepended to the layer's keys/values as they are (never rotated; the
 * real tokens' positions start at P). PEFT stores them as prompt_embeddings [P, L·2·Hkv·D], viewed
 * as [P, L·2, Hkv, D] with layer l's keys at 2l and values at 2l + 1.
 */
import { CtxwinError } from "../errors.js";
import { Tensor } from "../tensor.js";
import { Parameter } from "../nn/autograd.js";
import { Rng, checkSeed } from "../util/rng.js";
import type { CausalLM } from "../models/causal_lm.js";

export interface PrefixOptions {
  numVirtualTokens: number;
  /** Init std (PEFT's nn.Embedding: normal(0, 1)). Default 1. */
  std?: number;
  seed?: number;
  /** Freeze every non-prefix parameter (default true). */
  freezeBase?: boolean;
}

/** Attaches trainable prefix keys/values to every layer; returns them (2 per layer). */
export function addPrefix(model: CausalLM, opts: PrefixOptions): Parameter[] {
  const P = opts.numVirtualTokens;
  if (!Number.isInteger(P) || P < 1) throw new CtxwinError("ERR_ARG", `addPrefix: numVirtualTokens: expected a positive integer, got ${P}`);
  const rng = new Rng(checkSeed("addPrefix", opts.seed ?? 0));
  const std = opts.std ?? 1;
  const { numKvHeads: Hkv, headDim: D } = model.config;
  if (opts.freezeBase ?? true) model.freeze();
  const topts = { device: model.device, dtype: model.dtype } as const;
  model.setPrefix(
    model.blocks.items.map(() => ({
      keys: Tensor.from(rng.normals(P * Hkv * D, std), [P, Hkv, D], topts),
      values: Tensor.from(rng.normals(P * Hkv * D, std), [P, Hkv, D], topts),
    })),
  );
  const params = prefixParameters(model);
  for (const p of params) p.unfreeze();
  return params;
}

/** The prefix parameters (keys, values per layer), [] without a prefix. */
export function prefixParameters(model: CausalLM): Parameter[] {
  const out: Parameter[] = [];
  for (const b of model.blocks) if (b.attn.prefixKeys) out.push(b.attn.prefixKeys, b.attn.prefixValues!);
  return out;
}

/** PEFT's prompt_embeddings [P, L·2·Hkv·D] (f32 values) from the model's prefix. */
export async function promptEmbeddings(model: CausalLM): Promise<{ data: Float32Array; shape: [number, number] }> {
  const P = model.prefixLength;
  if (P === 0) throw new CtxwinError("ERR_ARG", "promptEmbeddings: model: expected a model with a prefix (addPrefix or a PREFIX_TUNING adapter), got none");
  const L = model.numLayers;
  const kvd = model.config.numKvHeads * model.config.headDim;
  const data = new Float32Array(P * L * 2 * kvd);
  for (let l = 0; l < L; l++) {
    const a = model.blocks.at(l).attn;
    const [k, v] = await Promise.all([a.prefixKeys!.value.data(), a.prefixValues!.value.data()]);
    for (let p = 0; p < P; p++) {
      data.set(k.subarray(p * kvd, (p + 1) * kvd), p * L * 2 * kvd + 2 * l * kvd);
      data.set(v.subarray(p * kvd, (p + 1) * kvd), p * L * 2 * kvd + (2 * l + 1) * kvd);
    }
  }
  return { data, shape: [P, L * 2 * kvd] };
}
