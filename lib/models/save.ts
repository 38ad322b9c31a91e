/**
 * saveModel / saveAdapter: a CausalLM → HF checkpoint directory (config.json + model.safetensors,
 * or shards + index past maxShardBytes) and PEFT adapter directories, every file written
 * atomically (lib/models/io). Names are the HF ones (BLOOM: "transformer."-prefixed, q/k/v fused back
 * into query_key_value in the per-head [H, 3, D] layout), so transformers / peft load them.
 */
import { CtxwinError } from "../errors.js";
import type { DType } from "../tensor.js";
import { Parameter } from "../nn/autograd.js";
import { configFromArch } from "./arch.js";
import type { CausalLM } from "./causal_lm.js";
import { configToJson, writeConfig } from "./io/config.js";
import { writeJsonAtomic } from "../util/atomic.js";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { writeCheckpoint, type FloatDtype, type TensorInput } from "./io/safetensors.js";
import { writeLoraAdapter, writePrefixAdapter } from "./io/peft.js";
import { getLoraInfo } from "../peft/lora.js";
import { promptEmbeddings } from "../peft/prefix.js";
import { Encoder } from "./encoder/model.js";
import { saveEncoder } from "./encoder/load.js";
import { saveEncoderAdapter, type SaveEncoderAdapterOptions } from "./encoder/adapter.js";

export interface SaveModelOptions {
  /** Stored dtype; default: the model's dtype. */
  dtype?: DType;
  /** Shard past this many bytes (default 5e9, as transformers). */
  maxShardBytes?: number;
}

const FILE_DTYPE: Record<DType, FloatDtype> = { f32: "F32", bf16: "BF16", f16: "F16" };
const TORCH_DTYPE: Record<DType, string> = { f32: "float32", bf16: "bfloat16", f16: "float16" };

/** True for adapter parameters (LoRA A/B, prefix keys/values), which saveModel leaves out. */
function isAdapterParam(name: string): boolean {
  return /\.lora_[AB]\.weight$/.test(name) || /\.prefix_(keys|values)$/.test(name);
}

/** Interleaves q/k/v rows [H·D, rest] each into the fused per-head layout [H, 3, D, rest]. */
export function fuseQkv(q: Float32Array, k: Float32Array, v: Float32Array, H: number, D: number): Float32Array {
  const rest = q.length / (H * D);
  const out = new Float32Array(3 * q.length);
  const blk = D * rest;
  for (let h = 0; h < H; h++) {
    out.set(q.subarray(h * blk, (h + 1) * blk), (h * 3 + 0) * blk);
    out.set(k.subarray(h * blk, (h + 1) * blk), (h * 3 + 1) * blk);
    out.set(v.subarray(h * blk, (h + 1) * blk), (h * 3 + 2) * blk);
  }
  return out;
}

/**
 * Writes config.json (recording `model.positional`, the scheme in use) and the base weights.
 * Encoders (BERT / RoBERTa) are written by saveEncoder (their own config.json fields).
 * Attached adapters are not included (mergeLora first, or saveAdapter them).
 */
export async function saveModel(model: CausalLM | Encoder, dir: string, opts: SaveModelOptions = {}): Promise<void> {
  if (model instanceof Encoder) return saveEncoder(model, dir, opts);
  return saveCausalLM(model, dir, opts);
}

/**
 * saveModel of a CausalLM, with `extra` tensors (e.g. a classification head's score) written in
 * the same checkpoint and `configPatch` merged into config.json (e.g. architectures, num_labels).
 */
export async function saveCausalLM(
  model: CausalLM,
  dir: string,
  opts: SaveModelOptions = {},
  extra: { params?: [string, Parameter][]; configPatch?: Record<string, unknown> } = {},
): Promise<void> {
  const fn = "saveModel";
  if (typeof dir !== "string" || dir.length === 0) throw new CtxwinError("ERR_ARG", `${fn}: dir: expected a directory path, got ${JSON.stringify(dir)}`);
  const dtype = opts.dtype ?? model.dtype;
  const fileDtype = FILE_DTYPE[dtype];
  if (!fileDtype) throw new CtxwinError("ERR_DTYPE", `${fn}: dtype: expected "f32", "bf16" or "f16", got ${JSON.stringify(dtype)}`);
  const arch = model.config;
  const tensors = new Map<string, TensorInput>();
  const params = new Map(model.namedParameters());
  const bloom = arch.family === "bloom";
  for (const [name, p] of params) {
    if (isAdapterParam(name)) continue;
    const m = bloom ? /^(transformer\.h\.\d+\.self_attention\.)(q|k|v)_proj\.(weight|bias)$/.exec(name) : null;
    if (m) {
      if (m[2] !== "q") continue;
      const get = (w: string): Parameter => params.get(`${m[1]}${w}_proj.${m[3]}`)!;
      const [q, k, v] = [get("q"), get("k"), get("v")];
      const shape = q.value.shape.length === 1 ? [3 * q.value.shape[0]!] : [3 * q.value.shape[0]!, q.value.shape[1]!];
      tensors.set(`${m[1]}query_key_value.${m[3]}`, {
        shape,
        dtype: fileDtype,
        data: async () => fuseQkv(await q.value.data(), await k.value.data(), await v.value.data(), arch.numHeads, arch.headDim),
      });
      continue;
    }
    tensors.set(name, { shape: [...p.value.shape], dtype: fileDtype, data: () => p.value.data() });
  }
  for (const [name, p] of extra.params ?? []) tensors.set(name, { shape: [...p.value.shape], dtype: fileDtype, data: () => p.value.data() });
  await writeCheckpoint(dir, tensors, { maxShardBytes: opts.maxShardBytes });
  const cfg = configFromArch({ ...arch, extra: { ...arch.extra, torchDtype: TORCH_DTYPE[dtype] } }, model.positional);
  if (extra.configPatch) {
    await mkdir(dir, { recursive: true });
    const json: Record<string, unknown> = { ...configToJson(cfg), ...extra.configPatch };
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(json).sort()) sorted[k] = json[k];
    await writeJsonAtomic(path.join(dir, "config.json"), sorted);
  } else await writeConfig(dir, cfg);
}

/**
 * Saves the model's trainable adapter in PEFT layout: LoRA (attached with addLora) or prefix tuning
 * (addPrefix / a loaded PREFIX_TUNING adapter). LoRA adapters loaded by loadModel are merged and
 * cannot be saved separately. Encoders: lib/models/encoder/adapter.ts (PEFT's layout with the
 * head as modules_to_save; per-layer prefix lengths need { format: "ctxwin" }).
 */
export async function saveAdapter(model: CausalLM | Encoder, dir: string, opts: SaveEncoderAdapterOptions = {}): Promise<void> {
  const fn = "saveAdapter";
  if (model instanceof Encoder) return saveEncoderAdapter(model, dir, opts);
  if (opts.format !== undefined && opts.format !== "peft") throw new CtxwinError("ERR_ARG", `${fn}: opts.format: expected "peft" for a CausalLM, got ${JSON.stringify(opts.format)}`);
  const lora = getLoraInfo(model);
  const arch = model.config;
  if (lora) {
    const modules = new Map<string, { A: { data: Float32Array; shape: number[] }; B: { data: Float32Array; shape: number[] } }>();
    for (const [hf, linears] of lora.modules) {
      const l0 = linears[0]!.lora;
      if (!l0) continue;
      const A = { data: await l0.A.value.data(), shape: [...l0.A.value.shape] };
      let B: { data: Float32Array; shape: number[] };
      if (linears.length === 3) {
        const [bq, bk, bv] = await Promise.all(linears.map((l) => l.lora!.B.value.data()));
        B = { data: fuseQkv(bq!, bk!, bv!, arch.numHeads, arch.headDim), shape: [3 * linears[0]!.outFeatures, lora.r] };
      } else {
        B = { data: await l0.B.value.data(), shape: [...l0.B.value.shape] };
      }
      modules.set(hf, { A, B });
    }
    await writeLoraAdapter(dir, {
      loraAlpha: lora.alpha,
      r: lora.r,
      modules,
      targetModules: lora.targetModules,
      useRslora: lora.useRslora,
      baseModelNameOrPath: opts.baseModelNameOrPath ?? null,
    });
    return;
  }
  if (model.prefixLength > 0) {
    if (new Set(model.blocks.items.map((b) => b.attn.prefixLength)).size > 1) {
      throw new CtxwinError("ERR_ARG", `${fn}: model: expected one prefix length in every layer (PEFT's PREFIX_TUNING layout), got per-layer lengths ${JSON.stringify(model.blocks.items.map((b) => b.attn.prefixLength))}`);
    }
    const pe = await promptEmbeddings(model);
    await writePrefixAdapter(dir, {
      numVirtualTokens: model.prefixLength,
      numLayers: model.numLayers,
      numKvHeads: arch.numKvHeads,
      headDim: arch.headDim,
      promptEmbeddings: pe.data,
      baseModelNameOrPath: opts.baseModelNameOrPath ?? null,
    });
    return;
  }
  throw new CtxwinError("ERR_ARG", `${fn}: model: expected a model with a LoRA (addLora) or prefix (addPrefix) adapter, got none`);
}
