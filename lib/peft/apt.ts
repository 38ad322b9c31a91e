/**
 * Adaptive prefix tuning (APT, seed 004; docs/design.md reads the paper): P-tuning-v2 prefixes
 * (P_i key and value vectors in every layer i, no reparameterisation) with two learned gates.
 *   token level: α_i = sigmoid(h_{i−1} W_iᵀ), h_{i−1} the layer's input hidden states (n × d) and
 *     W_i [P_i, d]: every (input token, prefix token) pair gets a weight in (0, 1) on that prefix
 *     token's key and value;
 *   layer level: a learned scalar λ_i scales the layer's whole prefix against the input tokens.
 * Query t of layer i attends to the keys λ_i·α_i[t, p]·K_p and values λ_i·α_i[t, p]·V_p beside
 * the real tokens — per query, so they cannot be folded into one shared prefix K/V: the attention
 * module runs an exact attention over the P_i gated keys per query and merges it with the fused
 * attention over the real tokens through their log-sum-exp (F.gatedPrefixAttention).
 * `gate: "pooled"` gives one gate row per sequence instead, from the mean of its real tokens'
 * inputs (a cheaper variant; results say which one they used).
 *
 * Init: prefixes normal(0, std) (default 1, as addPrefix / PEFT's embedding), W_i normal(0,
 * gateStd = 0.02) so every gate starts near 0.5, λ_i = 1. Positional "none" only (encoders, NoPE
 * decoders): the gated part sees the queries unrotated.
 *
 * Saved as a documented ctxwin format (PEFT has no APT), adapter_config.json +
 * adapter_model.safetensors:
 *   config: { peft_type: "CTXWIN_APT", format_version: 1, gate: "token" | "pooled",
 *             num_virtual_tokens: [P_0, …, P_{L−1}], num_layers, hidden_size, num_key_value_heads,
 *             head_dim, trained: [names of the other trained parameters saved with it] }
 *   tensors: layers.{i}.prefix_keys / prefix_values [P_i, Hkv, D], layers.{i}.gate [P_i, d],
 *            layers.{i}.lambda [1], and trained.<model parameter name> for every other trainable
 *            parameter at save time (a classification head).
 */
import path from "node:path";
import { CtxwinError, show } from "../errors.js";
import { Tensor } from "../tensor.js";
import { noGrad, type Parameter } from "../nn/autograd.js";
import type { Attention } from "../nn/attention.js";
import { CausalLM } from "../models/causal_lm.js";
import { Encoder } from "../models/encoder/model.js";
import { ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME, writeAdapterFiles } from "../models/io/peft.js";
import { readSafetensorsHeader, readTensor } from "../models/io/safetensors.js";
import { Rng, checkSeed } from "../util/rng.js";
import { peftTarget, type PeftModel } from "./target.js";
import { finiteNumber, positiveNumber } from "../ops/check.js";
import { readFile } from "node:fs/promises";

/** The models APT attaches to (those LoRA and prefix tuning attach to). */
export type AptModel = PeftModel;

export interface AptOptions {
  /** Prefix length, the same in every layer or one per layer (the variable-prefix probe). */
  numVirtualTokens: number | readonly number[];
  /** "token" (default: one gate per input token, as the paper) or "pooled" (one per sequence). */
  gate?: "token" | "pooled";
  /** Init std of the prefix keys/values. Default 1. */
  std?: number;
  /** Init std of the gate weights W_i. Default 0.02. */
  gateStd?: number;
  /** Initial λ_i. Default 1. */
  lambdaInit?: number;
  seed?: number;
  /** Freeze every parameter except the prefixes, gates and a classification head. Default true. */
  freezeBase?: boolean;
}

/** The attention module of every layer, in order. */
function attentionModules(model: AptModel): readonly Attention[] {
  if (!(model instanceof Encoder) && !(model instanceof CausalLM)) {
    throw new CtxwinError("ERR_ARG", `addApt: model: expected an Encoder (loadEncoder / createEncoder) or a CausalLM, got ${show(model)}`);
  }
  return peftTarget(model).attentions;
}

function checkPositional(fn: string, model: AptModel): void {
  if (model instanceof CausalLM && model.positional.type !== "none") {
    throw new CtxwinError("ERR_ARG", `${fn}: model: expected positional "none" (encoders, NoPE decoders: the gated prefix part sees the queries unrotated), got "${model.positional.type}"`);
  }
}

function perLayer(fn: string, n: unknown, L: number): number[] {
  const list = typeof n === "number" ? new Array<number>(L).fill(n) : Array.isArray(n) ? [...(n as number[])] : null;
  if (!list) throw new CtxwinError("ERR_ARG", `${fn}: numVirtualTokens: expected a positive integer or ${L} of them (one per layer), got ${show(n)}`);
  if (list.length !== L) throw new CtxwinError("ERR_ARG", `${fn}: numVirtualTokens: expected ${L} lengths (one per layer), got ${list.length}`);
  list.forEach((p, i) => {
    if (!Number.isInteger(p) || p < 1) throw new CtxwinError("ERR_ARG", `${fn}: numVirtualTokens${typeof n === "number" ? "" : `[${i}]`}: expected a positive integer, got ${show(p)}`);
  });
  return list;
}


/**
 * Attaches APT prefixes and gates to every layer and returns the new parameters (per layer:
 * prefix keys, prefix values, gate W, λ). With freezeBase (default) every other parameter is
 * frozen except a classification head's.
 */
export function addApt(model: AptModel, opts: AptOptions): Parameter[] {
  const fn = "addApt";
  const attns = attentionModules(model);
  if (opts === null || typeof opts !== "object") throw new CtxwinError("ERR_ARG", `${fn}: opts: expected { numVirtualTokens, ... }, got ${show(opts)}`);
  checkPositional(fn, model);
  const Ps = perLayer(fn, opts.numVirtualTokens, attns.length);
  const gate = opts.gate ?? "token";
  if (gate !== "token" && gate !== "pooled") throw new CtxwinError("ERR_ARG", `${fn}: gate: expected "token" or "pooled", got ${show(gate)}`);
  const std = positiveNumber(fn, "std", opts.std, 1);
  const gateStd = positiveNumber(fn, "gateStd", opts.gateStd, 0.02);
  const lambdaInit = finiteNumber(fn, "lambdaInit", opts.lambdaInit, 1);
  if (attns.some((a) => a.prefixLength > 0 || a.gates)) throw new CtxwinError("ERR_ARG", `${fn}: model: expected a model without a prefix or APT adapter, got one with a prefix`);
  const rng = new Rng(checkSeed(fn, opts.seed ?? 0));
  if (opts.freezeBase ?? true) model.freeze();
  const topts = { device: model.device, dtype: model.dtype } as const;
  attns.forEach((a, i) => {
    const P = Ps[i]!;
    const kv = P * a.kvHeads * a.headDim;
    a.setPrefix(Tensor.from(rng.normals(kv, std), [P, a.kvHeads, a.headDim], topts), Tensor.from(rng.normals(kv, std), [P, a.kvHeads, a.headDim], topts));
    const d = a.q.inFeatures;
    a.setGates(Tensor.from(rng.normals(P * d, gateStd), [P, d], topts), Tensor.from(Float32Array.of(lambdaInit), [1], topts), { pooled: gate === "pooled" });
  });
  for (const [, p] of peftTarget(model).headParameters) p.unfreeze();
  const params = aptParameters(model);
  for (const p of params) p.unfreeze();
  return params;
}

/** The APT parameters (per layer: prefix keys, prefix values, gate W, λ); [] without APT. */
export function aptParameters(model: AptModel): Parameter[] {
  const out: Parameter[] = [];
  for (const a of attentionModules(model)) if (a.gates) out.push(a.prefixKeys as Parameter, a.prefixValues as Parameter, a.gates.weight, a.gates.lambda);
  return out;
}

/** The APT configuration of a model, or null without APT. */
export function aptInfo(model: AptModel): { gate: "token" | "pooled"; numVirtualTokens: number[] } | null {
  const attns = attentionModules(model);
  if (!attns.every((a) => a.gates)) return null;
  return { gate: attns[0]!.gates!.pooled ? "pooled" : "token", numVirtualTokens: attns.map((a) => a.prefixLength) };
}

/** A batch for meanAptGates: what Encoder.hidden / CausalLM.hidden take. */
export interface GateBatch {
  ids: number[][];
  keyLengths?: number[];
  tokenTypeIds?: number[][];
}

/**
 * The learned gates on data: α averaged over the real tokens of `batches` (a pooled gate: over
 * the sequences), per layer and prefix token ([layer][p]), and λ per layer.
 */
export async function meanAptGates(model: AptModel, batches: Iterable<GateBatch>): Promise<{ alpha: number[][]; lambda: number[] }> {
  const fn = "meanAptGates";
  const attns = attentionModules(model);
  if (!attns.every((a) => a.gates)) throw new CtxwinError("ERR_ARG", `${fn}: model: expected a model with APT gates (addApt / loadAptAdapter), got none`);
  const pending: { layer: number; logits: Tensor; lengths: readonly number[] | undefined }[] = [];
  attns.forEach((a, layer) => {
    a.onGateLogits = (logits, lengths) => pending.push({ layer, logits: logits.reshape(logits.shape), lengths: lengths ? [...lengths] : undefined });
  });
  const sums = attns.map((a) => new Float64Array(a.prefixLength));
  const counts = attns.map(() => 0);
  try {
    for (const b of batches) {
      noGrad(() => {
        const h = model instanceof Encoder ? model.hidden(b.ids, { keyLengths: b.keyLengths, tokenTypeIds: b.tokenTypeIds }) : model.hidden(b.ids, { keyLengths: b.keyLengths });
        h.release();
      });
      for (const { layer, logits, lengths } of pending.splice(0)) {
        const [B, Tg, P] = logits.shape as [number, number, number];
        const z = await logits.data();
        logits.dispose();
        for (let s = 0; s < B; s++) {
          const n = Tg === 1 ? 1 : (lengths?.[s] ?? Tg);
          for (let t = 0; t < n; t++) for (let p = 0; p < P; p++) sums[layer]![p]! += 1 / (1 + Math.exp(-z[(s * Tg + t) * P + p]!));
          counts[layer]! += n;
        }
      }
    }
  } finally {
    for (const a of attns) a.onGateLogits = null;
    for (const p of pending) p.logits.dispose();
  }
  const lambda = await Promise.all(attns.map(async (a) => (await a.gates!.lambda.value.data())[0]!));
  return { alpha: sums.map((s, l) => Array.from(s, (v) => (counts[l]! ? v / counts[l]! : NaN))), lambda };
}

export const APT_PEFT_TYPE = "CTXWIN_APT";
const APT_FORMAT_VERSION = 1;

/** Saves the APT adapter (and every other trained parameter, e.g. a head) in the ctxwin format above. */
export async function saveAptAdapter(model: AptModel, dir: string, opts: { baseModelNameOrPath?: string } = {}): Promise<void> {
  const fn = "saveAptAdapter";
  const attns = attentionModules(model);
  const info = aptInfo(model);
  if (!info) throw new CtxwinError("ERR_ARG", `${fn}: model: expected a model with APT gates (addApt), got none`);
  if (typeof dir !== "string" || dir === "") throw new CtxwinError("ERR_ARG", `${fn}: dir: expected a directory path, got ${show(dir)}`);
  const tensors = new Map<string, { data: Float32Array; shape: readonly number[]; dtype: "F32" }>();
  const put = async (name: string, p: Parameter, shape?: number[]) => tensors.set(name, { data: await p.value.data(), shape: shape ?? [...p.shape], dtype: "F32" });
  for (let i = 0; i < attns.length; i++) {
    const a = attns[i]!;
    const P = a.prefixLength;
    await put(`layers.${i}.prefix_keys`, a.prefixKeys as Parameter, [P, a.kvHeads, a.headDim]);
    await put(`layers.${i}.prefix_values`, a.prefixValues as Parameter, [P, a.kvHeads, a.headDim]);
    await put(`layers.${i}.gate`, a.gates!.weight);
    await put(`layers.${i}.lambda`, a.gates!.lambda);
  }
  const apt = new Set<Parameter>(aptParameters(model));
  const trained: string[] = [];
  for (const [name, p] of model.namedParameters()) {
    if (apt.has(p) || p.frozen) continue;
    trained.push(name);
    await put(`trained.${name}`, p);
  }
  const a0 = attns[0]!;
  const config = {
    peft_type: APT_PEFT_TYPE,
    format_version: APT_FORMAT_VERSION,
    gate: info.gate,
    num_virtual_tokens: info.numVirtualTokens,
    num_layers: attns.length,
    hidden_size: a0.q.inFeatures,
    num_key_value_heads: a0.kvHeads,
    head_dim: a0.headDim,
    trained,
    base_model_name_or_path: opts.baseModelNameOrPath ?? null,
  };
  await writeAdapterFiles(fn, dir, config, tensors);
}

/** Reads an adapter saved by saveAptAdapter onto `model` (which must have no prefix yet); returns its parameters. */
export async function loadAptAdapter(model: AptModel, dir: string): Promise<Parameter[]> {
  const fn = "loadAptAdapter";
  const attns = attentionModules(model);
  checkPositional(fn, model);
  const cfgFile = path.join(dir, ADAPTER_CONFIG_NAME);
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(await readFile(cfgFile, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new CtxwinError("ERR_FORMAT", `${fn}: ${cfgFile}: expected an adapter_config.json (JSON), got ${(e as Error).message}`);
  }
  const field = (k: string, ok: boolean, want: string): void => {
    if (!ok) throw new CtxwinError("ERR_FORMAT", `${fn}: ${cfgFile}: ${k}: expected ${want}, got ${show(cfg[k])}`);
  };
  field("peft_type", cfg.peft_type === APT_PEFT_TYPE, `"${APT_PEFT_TYPE}" (an adapter saved by saveAptAdapter)`);
  field("format_version", cfg.format_version === APT_FORMAT_VERSION, String(APT_FORMAT_VERSION));
  field("gate", cfg.gate === "token" || cfg.gate === "pooled", `"token" or "pooled"`);
  const a0 = attns[0]!;
  field("num_layers", cfg.num_layers === attns.length, `${attns.length} (the model's layers)`);
  field("hidden_size", cfg.hidden_size === a0.q.inFeatures, `${a0.q.inFeatures} (the model's)`);
  field("num_key_value_heads", cfg.num_key_value_heads === a0.kvHeads, `${a0.kvHeads} (the model's)`);
  field("head_dim", cfg.head_dim === a0.headDim, `${a0.headDim} (the model's)`);
  const Ps = cfg.num_virtual_tokens;
  field("num_virtual_tokens", Array.isArray(Ps) && Ps.length === attns.length && Ps.every((p) => Number.isInteger(p) && p >= 1), `${attns.length} positive integers`);
  const trained = cfg.trained;
  field("trained", Array.isArray(trained) && trained.every((t) => typeof t === "string"), "a list of parameter names");
  const params = new Map(model.namedParameters());
  for (const name of trained as string[]) {
    if (!params.has(name)) throw new CtxwinError("ERR_FORMAT", `${fn}: ${cfgFile}: trained: expected parameters of this model, got "${name}" which it does not have`);
  }
  if (attns.some((a) => a.prefixLength > 0)) throw new CtxwinError("ERR_ARG", `${fn}: model: expected a model without a prefix or APT adapter, got one with a prefix`);
  const file = path.join(dir, ADAPTER_WEIGHTS_NAME);
  const header = await readSafetensorsHeader(file, fn);
  const read = async (name: string, shape: number[]): Promise<Tensor> => {
    const t = await readTensor(file, header, name, fn);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new CtxwinError("ERR_FORMAT", `${fn}: ${file}: ${name}: expected shape [${shape.join(", ")}], got [${t.shape.join(", ")}]`);
    }
    return Tensor.from(t.data, shape, { device: model.device, dtype: model.dtype });
  };
  // read everything before changing the model: a bad file leaves it as it was
  const layers: Tensor[][] = [];
  const restored: [Parameter, Tensor][] = [];
  try {
    for (let i = 0; i < attns.length; i++) {
      const a = attns[i]!;
      const P = (Ps as number[])[i]!;
      layers.push([
        await read(`layers.${i}.prefix_keys`, [P, a.kvHeads, a.headDim]),
        await read(`layers.${i}.prefix_values`, [P, a.kvHeads, a.headDim]),
        await read(`layers.${i}.gate`, [P, a.q.inFeatures]),
        await read(`layers.${i}.lambda`, [1]),
      ]);
    }
    for (const name of trained as string[]) {
      const p = params.get(name)!;
      restored.push([p, await read(`trained.${name}`, [...p.shape])]);
    }
  } catch (e) {
    for (const ts of layers) for (const t of ts) t.dispose();
    for (const [, t] of restored) t.dispose();
    throw e;
  }
  model.freeze();
  attns.forEach((a, i) => {
    const [k, v, w, lam] = layers[i]!;
    a.setPrefix(k!, v!);
    a.setGates(w!, lam!, { pooled: cfg.gate === "pooled" });
  });
  for (const [p, t] of restored) {
    p.set(t);
    p.unfreeze();
  }
  const out = aptParameters(model);
  for (const p of out) p.unfreeze();
  return out;
}
