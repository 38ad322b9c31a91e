/**
 * Tiny HF checkpoints written by the tests themselves (independent of lib/models/io): random
 * weights by HF name, config.json in transformers 4 or 5 form, safetensors (single or sharded)
 * and PEFT adapters (LoRA, PREFIX_TUNING).
 */
import type { Tensor } from "ctxwin";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RefConfig, RefPositional, Weights, W } from "./naive.js";
import { XorShift32 } from "../reference/rng.js";

export function tmpDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `ctxwin-${tag}-`));
}
export function rmDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** f32 → bf16 bits, round to nearest even. */
function bf16Bits(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0]!;
  const lsb = (u >>> 16) & 1;
  return ((u + 0x7fff + lsb) >>> 16) & 0xffff;
}

/** Writes one safetensors file (names sorted, 8-byte aligned header as the Rust writer does). */
export function writeSafetensorsFile(path: string, tensors: Map<string, W>, dtype: "F32" | "BF16" = "F32", metadata: Record<string, string> = { format: "pt" }): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  const names = [...tensors.keys()].sort();
  let off = 0;
  const bytesPer = dtype === "F32" ? 4 : 2;
  for (const n of names) {
    const t = tensors.get(n)!;
    const len = t.data.length * bytesPer;
    header[n] = { dtype, shape: t.shape, data_offsets: [off, off + len] };
    off += len;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== 0) json += " ";
  const hb = Buffer.from(json, "utf8");
  const buf = Buffer.alloc(8 + hb.length + off);
  buf.writeBigUInt64LE(BigInt(hb.length), 0);
  hb.copy(buf, 8);
  let p = 8 + hb.length;
  for (const n of names) {
    const t = tensors.get(n)!;
    for (let i = 0; i < t.data.length; i++) {
      if (dtype === "F32") buf.writeFloatLE(t.data[i]!, p);
      else buf.writeUInt16LE(bf16Bits(t.data[i]!), p);
      p += bytesPer;
    }
  }
  writeFileSync(path, buf);
}

/** Writes weights as model.safetensors, or as `shards` files plus model.safetensors.index.json. */
export function writeWeights(dir: string, w: Weights, opts: { shards?: number; dtype?: "F32" | "BF16" } = {}): void {
  const shards = opts.shards ?? 1;
  if (shards <= 1) {
    writeSafetensorsFile(join(dir, "model.safetensors"), w, opts.dtype);
    return;
  }
  const names = [...w.keys()].sort();
  const per = Math.ceil(names.length / shards);
  const weightMap: Record<string, string> = {};
  let total = 0;
  for (let s = 0; s < shards; s++) {
    const file = `model-${String(s + 1).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.safetensors`;
    const part = new Map<string, W>();
    for (const n of names.slice(s * per, (s + 1) * per)) {
      part.set(n, w.get(n)!);
      weightMap[n] = file;
      total += w.get(n)!.data.length * 4;
    }
    writeSafetensorsFile(join(dir, file), part, opts.dtype);
  }
  writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2));
}

/** Random HF-named weights for a RefConfig. Norm weights near 1, biases small. */
export function randomWeights(cfg: RefConfig, seed: number): Weights {
  const rng = new XorShift32(seed);
  const w: Weights = new Map();
  const put = (name: string, shape: number[], std: number, mean = 0): void => {
    w.set(name, { data: rng.array(shape.reduce((a, b) => a * b, 1), std, mean), shape });
  };
  const d = cfg.hidden;
  const std = 0.3;
  if (cfg.family === "llama") {
    const qd = cfg.heads * cfg.headDim;
    const kd = cfg.kvHeads * cfg.headDim;
    put("model.embed_tokens.weight", [cfg.vocab, d], 1);
    for (let l = 0; l < cfg.layers; l++) {
      const p = `model.layers.${l}.`;
      put(p + "input_layernorm.weight", [d], 0.1, 1);
      put(p + "self_attn.q_proj.weight", [qd, d], std);
      put(p + "self_attn.k_proj.weight", [kd, d], std);
      put(p + "self_attn.v_proj.weight", [kd, d], std);
      if (cfg.qkvBias) {
        put(p + "self_attn.q_proj.bias", [qd], 0.2);
        put(p + "self_attn.k_proj.bias", [kd], 0.2);
        put(p + "self_attn.v_proj.bias", [kd], 0.2);
      }
      put(p + "self_attn.o_proj.weight", [d, qd], std);
      put(p + "post_attention_layernorm.weight", [d], 0.1, 1);
      put(p + "mlp.gate_proj.weight", [cfg.inter, d], std);
      put(p + "mlp.up_proj.weight", [cfg.inter, d], std);
      put(p + "mlp.down_proj.weight", [d, cfg.inter], std);
    }
    put("model.norm.weight", [d], 0.1, 1);
    if (!cfg.tie) put("lm_head.weight", [cfg.vocab, d], std);
  } else {
    const pre = cfg.prefixNames === false ? "" : "transformer.";
    const H = cfg.heads;
    const D = cfg.headDim;
    put(`${pre}word_embeddings.weight`, [cfg.vocab, d], 1);
    put(`${pre}word_embeddings_layernorm.weight`, [d], 0.1, 1);
    put(`${pre}word_embeddings_layernorm.bias`, [d], 0.1);
    for (let l = 0; l < cfg.layers; l++) {
      const p = `${pre}h.${l}.`;
      put(p + "input_layernorm.weight", [d], 0.1, 1);
      put(p + "input_layernorm.bias", [d], 0.1);
      put(p + "self_attention.query_key_value.weight", [3 * H * D, d], std);
      put(p + "self_attention.query_key_value.bias", [3 * H * D], 0.2);
      put(p + "self_attention.dense.weight", [d, H * D], std);
      put(p + "self_attention.dense.bias", [d], 0.1);
      put(p + "post_attention_layernorm.weight", [d], 0.1, 1);
      put(p + "post_attention_layernorm.bias", [d], 0.1);
      put(p + "mlp.dense_h_to_4h.weight", [4 * d, d], std);
      put(p + "mlp.dense_h_to_4h.bias", [4 * d], 0.1);
      put(p + "mlp.dense_4h_to_h.weight", [d, 4 * d], std);
      put(p + "mlp.dense_4h_to_h.bias", [d], 0.1);
    }
    put(`${pre}ln_f.weight`, [d], 0.1, 1);
    put(`${pre}ln_f.bias`, [d], 0.1);
    if (!cfg.tie) put("lm_head.weight", [cfg.vocab, d], std);
  }
  return w;
}

/** HF rope settings of a RefRope in transformers 4 (`rope_theta` + `rope_scaling`) or 5 (`rope_parameters`) form. */
function ropeJson(p: RefPositional, form: 4 | 5): Record<string, unknown> {
  if (p.type !== "rope") return {};
  const sc = p.scaling;
  const params: Record<string, unknown> = {};
  if (sc) {
    params.rope_type = sc.type === "ntk" ? "dynamic" : sc.type;
    params.factor = sc.factor;
    if (sc.type === "dynamic" || sc.type === "yarn") params.original_max_position_embeddings = sc.originalMaxPositions;
    if (sc.type === "yarn") {
      if (sc.betaFast !== undefined) params.beta_fast = sc.betaFast;
      if (sc.betaSlow !== undefined) params.beta_slow = sc.betaSlow;
      if (sc.attentionFactor !== undefined) params.attention_factor = sc.attentionFactor;
      if (sc.mscale !== undefined) params.mscale = sc.mscale;
      if (sc.mscaleAllDim !== undefined) params.mscale_all_dim = sc.mscaleAllDim;
      if (sc.truncate !== undefined) params.truncate = sc.truncate;
    }
  }
  if (form === 4) return { rope_theta: p.theta, ...(sc ? { rope_scaling: params } : {}) };
  return { rope_parameters: { rope_type: sc ? params.rope_type : "default", rope_theta: p.theta, ...params } };
}

export interface ConfigExtras {
  modelType?: string;
  form?: 4 | 5;
  maxPositions?: number;
  extra?: Record<string, unknown>;
}

/** config.json for a RefConfig. */
export function configJson(cfg: RefConfig, x: ConfigExtras = {}): Record<string, unknown> {
  if (cfg.family === "bloom") {
    return {
      architectures: ["BloomForCausalLM"],
      model_type: "bloom",
      vocab_size: cfg.vocab,
      hidden_size: cfg.hidden,
      n_layer: cfg.layers,
      n_head: cfg.heads,
      layer_norm_epsilon: cfg.eps,
      apply_residual_connection_post_layernorm: cfg.residualFromNorm ?? false,
      tie_word_embeddings: cfg.tie,
      torch_dtype: "float32",
      ...x.extra,
    };
  }
  const modelType = x.modelType ?? "llama";
  const sliding = cfg.windows.find((w) => w > 0) ?? null;
  const base: Record<string, unknown> = {
    architectures: [modelType === "qwen2" ? "Qwen2ForCausalLM" : modelType === "mistral" ? "MistralForCausalLM" : "LlamaForCausalLM"],
    model_type: modelType,
    vocab_size: cfg.vocab,
    hidden_size: cfg.hidden,
    intermediate_size: cfg.inter,
    num_hidden_layers: cfg.layers,
    num_attention_heads: cfg.heads,
    num_key_value_heads: cfg.kvHeads,
    head_dim: cfg.headDim,
    rms_norm_eps: cfg.eps,
    max_position_embeddings: x.maxPositions ?? 64,
    tie_word_embeddings: cfg.tie,
    hidden_act: "silu",
    torch_dtype: "float32",
    ...ropeJson(cfg.positional, x.form ?? 4),
  };
  if (modelType === "mistral") base.sliding_window = sliding;
  if (modelType === "qwen2") {
    base.use_sliding_window = sliding !== null;
    base.sliding_window = sliding ?? 4096;
    base.max_window_layers = sliding !== null ? cfg.windows.findIndex((w) => w > 0) : cfg.layers;
  }
  if (modelType === "llama") base.attention_bias = false;
  return { ...base, ...x.extra };
}

/** Writes config.json + weights into a new directory. */
export function writeCheckpoint(dir: string, cfg: RefConfig, w: Weights, x: ConfigExtras & { shards?: number; dtype?: "F32" | "BF16" } = {}): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), JSON.stringify(configJson(cfg, x), null, 2));
  writeWeights(dir, w, { shards: x.shards, dtype: x.dtype });
  return dir;
}

/** A PEFT LoRA adapter dir: lora_A [r, in], lora_B [out, r] for each target module (full HF module names). */
export function writeLoraAdapter(
  dir: string,
  base: Weights,
  modules: string[],
  opts: { r: number; alpha: number; seed: number; targetModules?: string[]; rslora?: boolean },
): Map<string, { A: W; B: W }> {
  mkdirSync(dir, { recursive: true });
  const rng = new XorShift32(opts.seed);
  const out = new Map<string, { A: W; B: W }>();
  const tensors: Weights = new Map();
  for (const m of modules) {
    const W0 = base.get(`${m}.weight`);
    if (!W0) throw new Error(`fixture: no base weight ${m}.weight`);
    const [o, i] = W0.shape as [number, number];
    const A = { data: rng.array(opts.r * i, 0.3), shape: [opts.r, i] };
    const B = { data: rng.array(o * opts.r, 0.3), shape: [o, opts.r] };
    tensors.set(`base_model.model.${m}.lora_A.weight`, A);
    tensors.set(`base_model.model.${m}.lora_B.weight`, B);
    out.set(m, { A, B });
  }
  writeSafetensorsFile(join(dir, "adapter_model.safetensors"), tensors);
  const targets = opts.targetModules ?? [...new Set(modules.map((m) => m.split(".").pop()!))];
  writeFileSync(
    join(dir, "adapter_config.json"),
    JSON.stringify({
      peft_type: "LORA",
      task_type: "CAUSAL_LM",
      r: opts.r,
      lora_alpha: opts.alpha,
      lora_dropout: 0,
      target_modules: targets,
      fan_in_fan_out: false,
      bias: "none",
      use_rslora: opts.rslora ?? false,
      inference_mode: true,
    }),
  );
  return out;
}

/** Base weights with (alpha/r)·B·A merged into each LoRA target (float64 math). */
export function mergedWeights(base: Weights, lora: Map<string, { A: W; B: W }>, scale: number): Weights {
  const out: Weights = new Map(base);
  for (const [m, { A, B }] of lora) {
    const W0 = base.get(`${m}.weight`)!;
    const [o, i] = W0.shape as [number, number];
    const r = A.shape[0]!;
    const merged = new Float64Array(o * i);
    for (let a = 0; a < o; a++)
      for (let b = 0; b < i; b++) {
        let s = 0;
        for (let k = 0; k < r; k++) s += B.data[a * r + k]! * A.data[k * i + b]!;
        merged[a * i + b] = W0.data[a * i + b]! + scale * s;
      }
    out.set(`${m}.weight`, { data: merged, shape: W0.shape });
  }
  return out;
}

/** A PEFT PREFIX_TUNING adapter dir; returns the per-layer keys/values [P, Hkv, D] it encodes. */
export function writePrefixAdapter(dir: string, cfg: RefConfig, P: number, seed: number): { keys: Float64Array[]; values: Float64Array[] } {
  mkdirSync(dir, { recursive: true });
  const rng = new XorShift32(seed);
  const L = cfg.layers;
  const kvd = cfg.kvHeads * cfg.headDim;
  const emb = rng.array(P * L * 2 * kvd, 1);
  writeSafetensorsFile(join(dir, "adapter_model.safetensors"), new Map([["prompt_embeddings", { data: emb, shape: [P, L * 2 * kvd] }]]));
  writeFileSync(
    join(dir, "adapter_config.json"),
    JSON.stringify({
      peft_type: "PREFIX_TUNING",
      task_type: "CAUSAL_LM",
      num_virtual_tokens: P,
      num_layers: L,
      token_dim: cfg.kvHeads * cfg.headDim,
      num_attention_heads: cfg.kvHeads,
      encoder_hidden_size: cfg.hidden,
      prefix_projection: false,
      inference_mode: true,
    }),
  );
  // [P, L·2, Hkv, D]: layer l keys at 2l, values at 2l+1
  const keys: Float64Array[] = [];
  const values: Float64Array[] = [];
  for (let l = 0; l < L; l++) {
    const k = new Float64Array(P * kvd);
    const v = new Float64Array(P * kvd);
    for (let p = 0; p < P; p++) {
      for (let e = 0; e < kvd; e++) {
        k[p * kvd + e] = emb[p * L * 2 * kvd + 2 * l * kvd + e]!;
        v[p * kvd + e] = emb[p * L * 2 * kvd + (2 * l + 1) * kvd + e]!;
      }
    }
    keys.push(k);
    values.push(v);
  }
  return { keys, values };
}

/** A tiny Llama-like reference config (GQA, explicit head_dim). */
export function llamaCfg(over: Partial<RefConfig> = {}): RefConfig {
  return {
    family: "llama",
    vocab: 23,
    hidden: 16,
    layers: 2,
    heads: 4,
    kvHeads: 2,
    headDim: 8,
    inter: 24,
    eps: 1e-5,
    tie: false,
    qkvBias: false,
    windows: [0, 0],
    positional: { type: "rope", theta: 10000 },
    ...over,
  };
}

/** A tiny BLOOM reference config. */
export function bloomCfg(over: Partial<RefConfig> = {}): RefConfig {
  return {
    family: "bloom",
    vocab: 19,
    hidden: 16,
    layers: 2,
    heads: 4,
    kvHeads: 4,
    headDim: 4,
    inter: 64,
    eps: 1e-5,
    tie: true,
    qkvBias: true,
    windows: [0, 0],
    positional: { type: "alibi" },
    prefixNames: true,
    ...over,
  };
}


/** The values of a forward's logits, disposing the tensor (a leaked tensor would skew later memory() checks). */
export async function readLogits(pending: Promise<Tensor>): Promise<Float32Array> {
  const t = await pending;
  try {
    return await t.data();
  } finally {
    t.dispose();
  }
}
