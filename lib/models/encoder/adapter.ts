/**
 * Adapters of encoders (BERT / RoBERTa, any head) on disk, in PEFT 0.21's layout so that peft
 * loads them with the same logits (and ctxwin loads peft's):
 *   LoRA            base_model.model.<module>.lora_{A,B}.weight, head under base_model.model.<param>
 *   PREFIX_TUNING   prompt_embeddings [P, L·2·H·D] (with prefix_projection the MLP's output, as
 *                   PEFT saves it), head under base_model.<param>
 *   task_type SEQ_CLS / TOKEN_CLS with modules_to_save ["classifier", "score"] (PEFT's default)
 * Per-layer prefix lengths go to the CTXWIN_PREFIX format (lib/models/io/ctxwin_prefix.ts):
 * PEFT has no way to store them.
 */
import { CtxwinError, show } from "../../errors.js";
import { Tensor } from "../../tensor.js";
import type { Parameter } from "../../nn/autograd.js";
import { readAdapter, writeLoraAdapter, writePrefixAdapter } from "../io/peft.js";
import type { TensorData } from "../io/safetensors.js";
import { CTXWIN_PREFIX_TYPE, peekAdapterType, readCtxwinPrefixAdapter, writeCtxwinPrefixAdapter } from "../io/ctxwin_prefix.js";
import { attachLoraWeights, getLoraInfo } from "../../peft/lora.js";
import { layerPrefixLengths, prefixKeyValuesOf, prefixLength, prefixProjection, promptEmbeddings } from "../../peft/prefix.js";
import { CLASSIFIER_MODULES_TO_SAVE, peftTarget } from "../../peft/target.js";
import type { Encoder } from "./model.js";

export interface SaveEncoderAdapterOptions {
  baseModelNameOrPath?: string;
  /** "peft" (default): PEFT's layout; "ctxwin": the CTXWIN_PREFIX format (needed for per-layer prefix lengths). */
  format?: "peft" | "ctxwin";
}

async function headWeights(model: Encoder): Promise<Map<string, { data: Float32Array; shape: number[] }>> {
  const out = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const [name, p] of peftTarget(model).headParameters) out.set(name, { data: await f32(p), shape: [...p.value.shape] });
  return out;
}

async function f32(p: Parameter): Promise<Float32Array> {
  if (p.value.dtype === "f32") return p.value.data();
  using t = p.value.to("f32");
  return await t.data();
}

/** saveAdapter for an Encoder (see the file comment). */
export async function saveEncoderAdapter(model: Encoder, dir: string, opts: SaveEncoderAdapterOptions = {}): Promise<void> {
  const fn = "saveAdapter";
  const format = opts.format ?? "peft";
  if (format !== "peft" && format !== "ctxwin") throw new CtxwinError("ERR_ARG", `${fn}: opts.format: expected "peft" or "ctxwin", got ${show(format)}`);
  const target = peftTarget(model);
  const head = await headWeights(model);
  const names = head.size ? CLASSIFIER_MODULES_TO_SAVE : undefined;
  const common = { taskType: target.taskType, baseModelNameOrPath: opts.baseModelNameOrPath ?? null, modulesToSaveNames: names };
  const lora = getLoraInfo(model);
  if (lora) {
    if (format === "ctxwin") throw new CtxwinError("ERR_ARG", `${fn}: opts.format: expected "peft" for a LoRA adapter (the ctxwin format holds prefixes), got "ctxwin"`);
    const modules = new Map<string, { A: { data: Float32Array; shape: number[] }; B: { data: Float32Array; shape: number[] } }>();
    for (const [hf, [lin]] of lora.modules) {
      const l = lin!.lora;
      if (l) modules.set(hf, { A: { data: await f32(l.A), shape: [...l.A.value.shape] }, B: { data: await f32(l.B), shape: [...l.B.value.shape] } });
    }
    await writeLoraAdapter(dir, { ...common, loraAlpha: lora.alpha, r: lora.r, modules, targetModules: lora.targetModules, useRslora: lora.useRslora, modulesToSave: head });
    return;
  }
  const P = prefixLength(model);
  if (P === 0) throw new CtxwinError("ERR_ARG", `${fn}: model: expected a model with a LoRA (addLora) or prefix (addPrefix) adapter, got none`);
  if (format === "ctxwin") {
    await writeCtxwinPrefixAdapter(dir, { ...common, numKvHeads: target.numKvHeads, headDim: target.headDim, layers: await prefixKeyValuesOf(model), modulesToSave: head });
    return;
  }
  if (P < 0) {
    throw new CtxwinError(
      "ERR_ARG",
      `${fn}: model: expected one prefix length in every layer for PEFT's PREFIX_TUNING format, got per-layer lengths ${JSON.stringify(layerPrefixLengths(model))}: save with { format: "ctxwin" } (CTXWIN_PREFIX, loadEncoder reads it)`,
    );
  }
  const proj = prefixProjection(model);
  const pe = await promptEmbeddings(model);
  await writePrefixAdapter(dir, {
    ...common,
    numVirtualTokens: P,
    numLayers: target.attentions.length,
    numKvHeads: target.numKvHeads,
    headDim: target.headDim,
    promptEmbeddings: pe.data,
    // PEFT's token_dim for encoders is hidden_size; encoder_hidden_size is the MLP width with projection
    encoderHiddenSize: proj ? proj.shape.hiddenSize : undefined,
    prefixProjection: proj !== null,
    modulesToSave: head,
  });
}

/** A Tensor on the model's device and dtype. */
function tensorFor(model: Encoder, t: { data: Float32Array; shape: readonly number[] }): Tensor {
  const x = Tensor.from(t.data, [...t.shape], { device: model.device });
  if (model.dtype === "f32") return x;
  const y = x.to(model.dtype);
  x.dispose();
  return y;
}

/** Replaces head weights with an adapter's modules_to_save (shapes checked first: nothing half-applied). */
function checkHead(model: Encoder, dir: string, saved: Map<string, TensorData>): [Parameter, TensorData][] {
  const params = new Map(peftTarget(model).headParameters);
  return [...saved].map(([name, t]) => {
    const p = params.get(name);
    if (!p) {
      throw new CtxwinError("ERR_FORMAT", `loadEncoder: ${dir}: modules_to_save ${name}: expected a weight of the model's head (${[...params.keys()].join(", ") || "the model has no head: pass opts.head"}), got one it does not have`);
    }
    if (p.value.shape.join() !== t.shape.join()) {
      throw new CtxwinError("ERR_FORMAT", `loadEncoder: ${dir}: modules_to_save ${name}: expected shape [${p.value.shape.join(", ")}], got [${t.shape.join(", ")}]`);
    }
    return [p, t];
  });
}

/**
 * Applies an adapter directory to a freshly loaded encoder: PEFT LoRA (attached unmerged, so it
 * trains on and saves back), PEFT PREFIX_TUNING (with or without projection: the stored
 * prompt_embeddings, i.e. the MLP's output; the MLP itself is not in PEFT's files, so the loaded
 * prefix is a plain one and saves back with prefix_projection false), or CTXWIN_PREFIX (per-layer
 * lengths); head weights from modules_to_save.
 */
export async function applyEncoderAdapter(model: Encoder, dir: string, fn = "loadEncoder"): Promise<void> {
  const target = peftTarget(model);
  const L = target.attentions.length;
  const { numKvHeads: H, headDim: D } = target;
  const cfgFile = `${dir}/adapter_config.json`;
  const expectDims = (layers: number, heads: number, headDim: number): void => {
    if (layers !== L) throw new CtxwinError("ERR_FORMAT", `${fn}: ${cfgFile}: num_layers: expected ${L} (the model's layers), got ${layers}`);
    if (heads * headDim !== H * D || headDim !== D) throw new CtxwinError("ERR_FORMAT", `${fn}: ${cfgFile}: token_dim: expected ${H}·${D} (heads · head_dim), got ${heads}·${headDim}`);
  };
  if ((await peekAdapterType(dir)) === CTXWIN_PREFIX_TYPE) {
    const a = await readCtxwinPrefixAdapter(dir, fn);
    expectDims(a.config.numLayers, a.config.numKvHeads, a.config.headDim);
    const head = checkHead(model, dir, a.modulesToSave);
    a.layers.forEach((kv, l) => target.attentions[l]!.setPrefix(tensorFor(model, kv.keys), tensorFor(model, kv.values)));
    for (const [p, t] of head) p.set(tensorFor(model, t));
    return;
  }
  const a = await readAdapter(dir, fn);
  // every check before the first change: a refused adapter leaves the model as it was
  if (a.type === "prefix") expectDims(a.config.numLayers, a.config.numKvHeads, a.config.headDim);
  else {
    const missing = [...a.modules.keys()].filter((m) => !target.linears.has(m));
    if (missing.length) {
      throw new CtxwinError("ERR_FORMAT", `${fn}: ${dir}: modules: expected Linear modules of the model (e.g. ${[...target.linears.keys()][0]}), got ${missing.length} it does not have (${missing.slice(0, 4).join(", ")})`);
    }
  }
  const head = checkHead(model, dir, a.modulesToSave);
  if (a.type === "prefix") {
    for (let l = 0; l < L; l++) {
      const kv = a.prefixKeyValues(l);
      target.attentions[l]!.setPrefix(tensorFor(model, kv.keys), tensorFor(model, kv.values));
    }
  } else {
    attachLoraWeights(
      model,
      new Map([...a.modules].map(([m, w]) => [m, { A: tensorFor(model, w.A), B: tensorFor(model, w.B), scale: w.scale }])),
      { r: a.config.r, alpha: a.config.loraAlpha, useRslora: a.config.useRslora, targetModules: Array.isArray(a.config.targetModules) ? a.config.targetModules : [...new Set([...a.modules.keys()].map((m) => m.split(".").pop()!))] },
    );
  }
  for (const [p, t] of head) p.set(tensorFor(model, t));
}
