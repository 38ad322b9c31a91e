/**
 * Prefix tuning (P-tuning v2 / PEFT PREFIX_TUNING) on a CausalLM or an Encoder: P key and value
 * vectors per layer, [P, Hkv, D] each, prepended to the layer's keys/values as they are (never
 * rotated; the real tokens' positions start at P). PEFT stores them as prompt_embeddings
 * [P, L·2·Hkv·D], viewed as [P, L·2, Hkv, D] with layer l's keys at 2l and values at 2l + 1.
 *
 * Options beyond PEFT's plain prefix:
 *   - numVirtualTokens as an array: layer i gets its own prefix length (the variable-prefix probe;
 *     PEFT cannot store it: saveAdapter writes the ctxwin format, lib/peft/ctxwin_prefix.ts).
 *   - projection: { hiddenSize }: P-tuning v2's MLP reparameterisation (lib/peft/prefix_projection.ts,
 *     PEFT's prefix_projection=True), encoders only.
 * A classification head stays trainable (PEFT's modules_to_save); BERT's pooler does not.
 */
import { CtxwinError, show } from "../errors.js";
import { Tensor } from "../tensor.js";
import { Parameter } from "../nn/autograd.js";
import { Rng, checkSeed } from "../util/rng.js";
import { Encoder } from "../models/encoder/model.js";
import { peftTarget, type PeftModel } from "./target.js";
import { PrefixProjection } from "./prefix_projection.js";

export interface PrefixOptions {
  /** P, the same in every layer, or one length per layer. */
  numVirtualTokens: number | readonly number[];
  /** MLP reparameterisation (PEFT prefix_projection=True): embedding [P, Hkv·D] → Linear(·, hiddenSize) → tanh → Linear(hiddenSize, L·2·Hkv·D). */
  projection?: { hiddenSize: number };
  /** Init std (PEFT's nn.Embedding: normal(0, 1)). Default 1. */
  std?: number;
  seed?: number;
  /** Freeze every parameter but the prefix's and the head's (default true). */
  freezeBase?: boolean;
}

/** The per-layer prefix lengths asked for (checked). */
function checkLengths(fn: string, n: unknown, L: number): number[] {
  const ok = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1;
  if (Array.isArray(n)) {
    if (n.length !== L) throw new CtxwinError("ERR_ARG", `${fn}: numVirtualTokens: expected one length per layer (${L}), got an array of ${n.length}`);
    n.forEach((v, i) => {
      if (!ok(v)) throw new CtxwinError("ERR_ARG", `${fn}: numVirtualTokens[${i}]: expected a positive integer, got ${show(v)}`);
    });
    return [...(n as number[])];
  }
  if (!ok(n)) throw new CtxwinError("ERR_ARG", `${fn}: numVirtualTokens: expected a positive integer or one per layer, got ${show(n)}`);
  return Array.from({ length: L }, () => n);
}

/** Attaches trainable prefix keys/values to every layer; returns the new trainable parameters. */
export function addPrefix(model: PeftModel, opts: PrefixOptions): Parameter[] {
  const fn = "addPrefix";
  if (opts === null || typeof opts !== "object") throw new CtxwinError("ERR_ARG", `${fn}: opts: expected { numVirtualTokens, projection?, ... }, got ${show(opts)}`);
  const target = peftTarget(model);
  const L = target.attentions.length;
  const lengths = checkLengths(fn, opts.numVirtualTokens, L);
  const seed = checkSeed(fn, opts.seed ?? 0);
  const std = opts.std ?? 1;
  if (typeof std !== "number" || !(std >= 0)) throw new CtxwinError("ERR_ARG", `${fn}: std: expected a non-negative number, got ${show(std)}`);
  if (prefixLength(model) > 0) throw new CtxwinError("ERR_ARG", `${fn}: model: already has a prefix (removePrefix first)`);
  const { numKvHeads: Hkv, headDim: D } = target;
  const proj = opts.projection;
  if (proj !== undefined) {
    if (proj === null || typeof proj !== "object" || !Number.isInteger(proj.hiddenSize) || proj.hiddenSize < 1) {
      throw new CtxwinError("ERR_ARG", `${fn}: projection.hiddenSize: expected a positive integer (the MLP's width, PEFT's encoder_hidden_size), got ${show(proj === null || typeof proj !== "object" ? proj : proj.hiddenSize)}`);
    }
    if (Array.isArray(opts.numVirtualTokens)) throw new CtxwinError("ERR_ARG", `${fn}: numVirtualTokens: expected one length for every layer with projection (PEFT's MLP makes the same P in each), got an array`);
    if (!(model instanceof Encoder)) throw new CtxwinError("ERR_ARG", `${fn}: projection: expected an Encoder (the MLP-reparameterised prefix is implemented for BERT / RoBERTa), got a CausalLM`);
  }
  if (opts.freezeBase ?? true) model.freeze();
  if (proj) {
    const enc = model as Encoder;
    enc.setPrefixProvider(
      new PrefixProjection({ numVirtualTokens: lengths[0]!, numLayers: L, numKvHeads: Hkv, headDim: D, hiddenSize: proj.hiddenSize }, target.attentions, {
        seed,
        std,
        device: target.device,
        dtype: target.dtype,
      }),
    );
  } else {
    const rng = new Rng(seed);
    const topts = { device: target.device, dtype: target.dtype } as const;
    target.attentions.forEach((a, l) => {
      const P = lengths[l]!;
      a.setPrefix(Tensor.from(rng.normals(P * Hkv * D, std), [P, Hkv, D], topts), Tensor.from(rng.normals(P * Hkv * D, std), [P, Hkv, D], topts));
    });
  }
  const params = prefixParameters(model);
  for (const p of params) p.unfreeze();
  for (const [, p] of target.headParameters) p.unfreeze();
  return params;
}

/** Removes the prefix (parameters or projection) from every layer. */
export function removePrefix(model: PeftModel): void {
  if (model instanceof Encoder && model.prefixProvider) model.setPrefixProvider(null);
  for (const a of peftTarget(model).attentions) a.setPrefix(null);
}

/** The projection of a prefix added with `projection` (PEFT prefix_projection=True), or null. */
export function prefixProjection(model: PeftModel): PrefixProjection | null {
  return model instanceof Encoder && model.prefixProvider instanceof PrefixProjection ? model.prefixProvider : null;
}

/** Each layer's prefix length (0s without a prefix). */
export function layerPrefixLengths(model: PeftModel): number[] {
  const proj = prefixProjection(model);
  return peftTarget(model).attentions.map((a) => proj?.shape.numVirtualTokens ?? a.prefixLength);
}

/** The prefix length when every layer has the same one, else (per-layer lengths) -1; 0 without a prefix. */
export function prefixLength(model: PeftModel): number {
  const ls = layerPrefixLengths(model);
  return ls.every((n) => n === ls[0]) ? (ls[0] ?? 0) : -1;
}

/** The prefix's parameters (keys, values per layer; or the projection's), [] without a prefix. */
export function prefixParameters(model: PeftModel): Parameter[] {
  const proj = prefixProjection(model);
  if (proj) return proj.parameters();
  const out: Parameter[] = [];
  for (const a of peftTarget(model).attentions) {
    if (a.prefixKeys instanceof Parameter && a.prefixValues instanceof Parameter) out.push(a.prefixKeys, a.prefixValues);
  }
  return out;
}

/** Each layer's prefix keys and values as f32 values [P_l·Hkv·D] (the projection's output with one). */
export async function prefixKeyValuesOf(model: PeftModel): Promise<{ keys: Float32Array; values: Float32Array; length: number }[]> {
  const target = peftTarget(model);
  const proj = prefixProjection(model);
  const L = target.attentions.length;
  const kvd = target.numKvHeads * target.headDim;
  if (proj) {
    const pe = await proj.promptEmbeddings();
    const P = proj.shape.numVirtualTokens;
    return Array.from({ length: L }, (_, l) => {
      const keys = new Float32Array(P * kvd);
      const values = new Float32Array(P * kvd);
      for (let p = 0; p < P; p++) {
        keys.set(pe.subarray((p * 2 * L + 2 * l) * kvd, (p * 2 * L + 2 * l + 1) * kvd), p * kvd);
        values.set(pe.subarray((p * 2 * L + 2 * l + 1) * kvd, (p * 2 * L + 2 * l + 2) * kvd), p * kvd);
      }
      return { keys, values, length: P };
    });
  }
  return Promise.all(
    target.attentions.map(async (a, l) => {
      if (!a.prefixKeys) throw new CtxwinError("ERR_ARG", `prefixKeyValuesOf: model: expected a prefix in every layer, got none in layer ${l}`);
      const f32 = async (v: Tensor): Promise<Float32Array> => {
        if (v.dtype === "f32") return v.data();
        using t = v.to("f32");
        return await t.data();
      };
      return { keys: await f32(a.prefixKeys.value), values: await f32(a.prefixValues!.value), length: a.prefixLength };
    }),
  );
}

/** PEFT's prompt_embeddings [P, L·2·Hkv·D] (f32 values) from the model's prefix (one length in every layer). */
export async function promptEmbeddings(model: PeftModel): Promise<{ data: Float32Array; shape: [number, number] }> {
  const P = prefixLength(model);
  if (P === 0) throw new CtxwinError("ERR_ARG", "promptEmbeddings: model: expected a model with a prefix (addPrefix or a PREFIX_TUNING adapter), got none");
  if (P < 0) throw new CtxwinError("ERR_ARG", `promptEmbeddings: model: expected one prefix length in every layer (PEFT's layout), got per-layer lengths ${JSON.stringify(layerPrefixLengths(model))}`);
  const target = peftTarget(model);
  const L = target.attentions.length;
  const kvd = target.numKvHeads * target.headDim;
  const proj = prefixProjection(model);
  if (proj) return { data: await proj.promptEmbeddings(), shape: [P, L * 2 * kvd] };
  const layers = await prefixKeyValuesOf(model);
  const data = new Float32Array(P * L * 2 * kvd);
  layers.forEach(({ keys: k, values: v }, l) => {
    for (let p = 0; p < P; p++) {
      data.set(k.subarray(p * kvd, (p + 1) * kvd), p * L * 2 * kvd + 2 * l * kvd);
      data.set(v.subarray(p * kvd, (p + 1) * kvd), p * L * 2 * kvd + (2 * l + 1) * kvd);
    }
  });
  return { data, shape: [P, L * 2 * kvd] };
}
