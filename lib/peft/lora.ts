/**
 * LoRA on the Linear layers of a CausalLM or an Encoder (PEFT semantics): y = x·Wᵀ + scale·(x·Aᵀ)·Bᵀ with
 * A [r, in] (Kaiming-uniform init), B [out, r] (zeros), scale = alpha / r (alpha / sqrt(r) with
 * rsLoRA). Target modules are matched by the last component of their HF module name
 * ("q_proj", "v_proj", BLOOM's "query_key_value" — which attaches to the split q/k/v projections
 * with one shared A and the fused B split per head, so it saves back in the fused layout;
 * BERT / RoBERTa: "query", "key", "value", "dense"). A classification head is never targeted and
 * stays trainable, as PEFT's modules_to_save (lib/peft/target.ts).
 */
import { CtxwinError } from "../errors.js";
import * as ops from "../ops/index.js";
import { Parameter } from "../nn/autograd.js";
import { randomInit } from "../nn/init.js";
import { checkSeed } from "../util/rng.js";
import { Linear } from "../nn/layers.js";
import type { Tensor } from "../tensor.js";
import { loraScale } from "../models/io/peft.js";
import { peftTarget, type PeftModel } from "./target.js";

export interface LoraOptions {
  r: number;
  alpha?: number;
  /** Last components of module names, e.g. ["q_proj", "v_proj"] (BLOOM: "query_key_value", "dense", ...; BERT: "query", "value", ...). */
  targetModules: string[];
  useRslora?: boolean;
  seed?: number;
  /** Freeze every parameter but the LoRA pairs and the head's (default true). */
  freezeBase?: boolean;
}

export interface LoraInfo {
  r: number;
  alpha: number;
  scale: number;
  targetModules: string[];
  useRslora: boolean;
  /** HF module name → the Linear(s) carrying it (3 for BLOOM's fused query_key_value). */
  modules: Map<string, Linear[]>;
}

const loraInfo = new WeakMap<PeftModel, LoraInfo>();

/** The LoRA configuration attached with addLora (or by loading unmerged), if any. */
export function getLoraInfo(model: PeftModel): LoraInfo | undefined {
  return loraInfo.get(model);
}

/** HF module name of each Linear of the model (BLOOM q/k/v map to the fused query_key_value; head modules left out). */
export function hfLinearModules(model: PeftModel): Map<string, Linear[]> {
  return peftTarget(model).linears;
}

/** Attaches trainable LoRA adapters; returns the new (trainable) parameters. */
export function addLora(model: PeftModel, opts: LoraOptions): Parameter[] {
  const fn = "addLora";
  if (!Number.isInteger(opts.r) || opts.r < 1) throw new CtxwinError("ERR_ARG", `${fn}: r: expected a positive integer, got ${opts.r}`);
  if (!Array.isArray(opts.targetModules) || opts.targetModules.length === 0) throw new CtxwinError("ERR_ARG", `${fn}: targetModules: expected a non-empty array of module names, got ${JSON.stringify(opts.targetModules)}`);
  if (loraInfo.has(model)) throw new CtxwinError("ERR_ARG", `${fn}: model: already has LoRA adapters (mergeLora or removeLora first)`);
  const alpha = opts.alpha ?? opts.r;
  const scale = opts.useRslora ? alpha / Math.sqrt(opts.r) : alpha / opts.r;
  const target = peftTarget(model);
  const init = randomInit({ seed: checkSeed(fn, opts.seed ?? 0), device: target.device, dtype: target.dtype });
  const all = target.linears;
  const chosen = [...all].filter(([hf]) => opts.targetModules.includes(hf.split(".").pop()!) || opts.targetModules.includes(hf));
  if (chosen.length === 0) {
    const names = [...new Set([...all.keys()].map((n) => n.split(".").pop()))].join(", ");
    throw new CtxwinError("ERR_ARG", `${fn}: targetModules: expected names of Linear modules (e.g. ${names}), got ${JSON.stringify(opts.targetModules)} matching none`);
  }
  if (opts.freezeBase ?? true) model.freeze();
  const modules = new Map<string, Linear[]>();
  const params: Parameter[] = [];
  for (const [hf, linears] of chosen) {
    const inF = linears[0]!.inFeatures;
    let A: Parameter | null = null;
    for (const lin of linears) {
      const B = init(`${hf}.lora_B.weight`, [lin.outFeatures, opts.r], "lora-b");
      const st = lin.attachLora(A ?? init(`${hf}.lora_A.weight`, [opts.r, inF], "lora-a"), B, scale);
      if (!A) {
        A = st.A;
        params.push(A);
      }
      params.push(st.B);
    }
    modules.set(hf, linears);
  }
  for (const p of params) p.unfreeze();
  for (const [, p] of target.headParameters) p.unfreeze();
  loraInfo.set(model, { r: opts.r, alpha, scale, targetModules: [...opts.targetModules], useRslora: opts.useRslora ?? false, modules });
  return params;
}

/**
 * Attaches given LoRA weights (e.g. a loaded PEFT adapter) unmerged: module HF name → A [r, in],
 * B [out, r] (the model takes them over) and scale; records the configuration as addLora does.
 * Freezes nothing.
 */
export function attachLoraWeights(
  model: PeftModel,
  weights: Map<string, { A: Tensor; B: Tensor; scale: number }>,
  meta: { r: number; alpha: number; useRslora: boolean; targetModules: string[] },
): void {
  const fn = "attachLoraWeights";
  if (loraInfo.has(model)) throw new CtxwinError("ERR_ARG", `${fn}: model: already has LoRA adapters (mergeLora or removeLora first)`);
  const all = peftTarget(model).linears;
  const modules = new Map<string, Linear[]>();
  for (const [hf, w] of weights) {
    const linears = all.get(hf);
    if (!linears || linears.length !== 1) throw new CtxwinError("ERR_ARG", `${fn}: weights: expected names of single Linear modules, got ${JSON.stringify(hf)}`);
    linears[0]!.attachLora(w.A, w.B, w.scale);
    modules.set(hf, linears);
  }
  loraInfo.set(model, { r: meta.r, alpha: meta.alpha, scale: loraScale(meta.alpha, meta.r, meta.useRslora), targetModules: [...meta.targetModules], useRslora: meta.useRslora, modules });
}

/** Merges every attached adapter into its weight (W += scale·B·A) and removes the adapters. */
export function mergeLora(model: PeftModel): void {
  const info = loraInfo.get(model);
  if (!info) return;
  const disposedA = new Set<Parameter>();
  for (const linears of info.modules.values()) {
    for (const lin of linears) {
      const l = lin.lora;
      if (!l) continue;
      const W = lin.weight.value;
      const merged = ops.matmul(l.B.value, l.A.value, { alpha: l.scale, beta: 1, c: W });
      lin.weight.set(merged);
      lin.detachLora(true);
      l.B.dispose();
      if (!disposedA.has(l.A)) {
        disposedA.add(l.A);
        l.A.dispose();
      }
    }
  }
  loraInfo.delete(model);
}

/** Removes every adapter without merging. */
export function removeLora(model: PeftModel): void {
  const info = loraInfo.get(model);
  if (!info) return;
  const disposedA = new Set<Parameter>();
  for (const linears of info.modules.values()) {
    for (const lin of linears) {
      const l = lin.detachLora(true);
      if (!l) continue;
      l.B.dispose();
      if (!disposedA.has(l.A)) {
        disposedA.add(l.A);
        l.A.dispose();
      }
    }
  }
  loraInfo.delete(model);
}
