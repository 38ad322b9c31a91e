/**
 * HF `config.json` ↔ a normalised ModelConfig for the families ctxwin runs:
 * llama / mistral / qwen2 (family "llama": RMSNorm, SwiGLU, GQA, RoPE) and bloom (ALiBi).
 *
 * Reading accepts the transformers 4 form (`rope_theta`, `rope_scaling`, `partial_rotary_factor`)
 * and the transformers 5 form (`rope_parameters: { rope_type, rope_theta, factor, ... }`, `dtype`).
 * Fields left out get the defaults transformers' config classes give them (listed per field
 * below), except the core sizes (vocab_size, hidden_size, intermediate_size, num_hidden_layers,
 * num_attention_heads), which are required. The rope semantics follow transformers' current
 * `modeling_rope_utils`:
 *   - "default" / absent → no scaling; "linear" → { type: "linear", factor };
 *   - "dynamic" → { type: "dynamic", factor, originalMaxPositions: max_position_embeddings }
 *     (transformers' dynamic NTK always uses max_position_embeddings as the original length);
 *   - "yarn" → { type: "yarn", factor, originalMaxPositions: original_max_position_embeddings
 *     (top-level first, then the rope dict) ?? max_position_embeddings, betaFast/betaSlow
 *     (0 / null = default), attentionFactor, mscale, mscaleAllDim (when non-zero), truncate };
 *   - anything else ("llama3", "longrope", ...) → ERR_FORMAT naming the field.
 *
 * ctxwin's own extension: a `ctxwin_positional` object (a Positional) overrides what the rope
 * fields say. `configToJson` writes it only when the standard fields cannot express the scheme
 * (NoPE / ALiBi in a llama-family model, NTK scaling, a dynamic original length other than
 * max_position_embeddings, ALiBi-PI in BLOOM): transformers ignores it, ctxwin reads it back.
 *
 * Errors: CtxwinError ERR_FORMAT `loadModel: <dir>/config.json: <field>: expected ..., got ...`.
 */
import { mkdir, readFile } from "node:fs/promises";
import * as path from "node:path";
import { CtxwinError, show } from "../../errors.js";
import { resolvePositional, type Positional, type RopePositional, type RopeScaling } from "../../positional.js";
import { writeJsonAtomic } from "../../util/atomic.js";

export type ModelType = "llama" | "mistral" | "qwen2" | "bloom";
export const SUPPORTED_MODEL_TYPES: readonly ModelType[] = ["llama", "mistral", "qwen2", "bloom"];

interface ModelConfigCommon {
  modelType: ModelType;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  /** Key/value heads (GQA); = numHeads for BLOOM. */
  numKvHeads: number;
  headDim: number;
  /** MLP hidden size (BLOOM: 4·hiddenSize). */
  intermediateSize: number;
  tieWordEmbeddings: boolean;
  /** Bias on the q/k/v projections (qwen2: true; llama: attention_bias; BLOOM: true). */
  attentionBias: boolean;
  /** Bias on the attention output projection (llama: attention_bias; qwen2 / mistral: false; BLOOM: true). */
  attentionOutBias: boolean;
  /** Biases in the MLP (llama: mlp_bias; BLOOM: true). */
  mlpBias: boolean;
  /** The sliding window of windowed layers; null when no layer has one. */
  slidingWindow: number | null;
  /** Window per layer (null = full attention); length numLayers. Qwen2 windows only layers >= max_window_layers. */
  layerWindows: (number | null)[];
  /** max_position_embeddings; null for BLOOM (which has none). */
  maxPositionEmbeddings: number | null;
  /** The checkpoint's positional scheme. */
  positional: Positional;
  /** "silu" (SwiGLU) for the llama family, "gelu_tanh" for BLOOM. */
  hiddenAct: "silu" | "gelu_tanh";
  initializerRange: number;
  bosTokenId: number | null;
  eosTokenId: number | number[] | null;
  padTokenId: number | null;
  /** torch_dtype (transformers 4) / dtype (transformers 5), e.g. "bfloat16"; null when absent. */
  torchDtype: string | null;
}

export interface LlamaFamilyConfig extends ModelConfigCommon {
  family: "llama";
  modelType: "llama" | "mistral" | "qwen2";
  rmsNormEps: number;
}

export interface BloomModelConfig extends ModelConfigCommon {
  family: "bloom";
  modelType: "bloom";
  layerNormEps: number;
  /** apply_residual_connection_post_layernorm. */
  residualPostLayernorm: boolean;
}

export type ModelConfig = LlamaFamilyConfig | BloomModelConfig;

// ---------------------------------------------------------------------------------------------
// field readers
// ---------------------------------------------------------------------------------------------

class Ctx {
  constructor(
    readonly fn: string,
    readonly where: string,
  ) {}
  fail(field: string, expected: string, got: unknown, gotIsText = false): never {
    const g = gotIsText ? String(got) : got === undefined ? "nothing (missing)" : show(got);
    throw new CtxwinError("ERR_FORMAT", `${this.fn}: ${this.where}: ${field}: expected ${expected}, got ${g}`);
  }
}

type Json = Record<string, unknown>;

function isObj(v: unknown): v is Json {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** The first of `keys` present with a non-null value, with the key it came from. */
function pick(o: Json, keys: readonly string[]): { key: string; value: unknown } | null {
  for (const k of keys) if (o[k] !== undefined && o[k] !== null) return { key: k, value: o[k] };
  return null;
}

function posInt(ctx: Ctx, o: Json, keys: readonly string[], dflt?: number, prefix = ""): number {
  const p = pick(o, keys);
  if (!p) {
    if (dflt !== undefined) return dflt;
    ctx.fail(keys.map((k) => prefix + k).join(" / "), "a positive integer", undefined);
  }
  const v = p.value;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) ctx.fail(prefix + p.key, "a positive integer", v);
  return v;
}

function posNum(ctx: Ctx, o: Json, key: string, dflt?: number, label = key): number {
  const v = o[key];
  if (v === undefined || v === null) {
    if (dflt !== undefined) return dflt;
    ctx.fail(label, "a positive number", undefined);
  }
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) ctx.fail(label, "a finite positive number", v);
  return v;
}

function bool(ctx: Ctx, o: Json, key: string, dflt: boolean): boolean {
  const v = o[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== "boolean") ctx.fail(key, "true or false", v);
  return v;
}

function tokenId(ctx: Ctx, o: Json, key: string, dflt: number | null): number | null {
  const v = o[key];
  if (v === undefined) return dflt;
  if (v === null) return null;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) ctx.fail(key, "a non-negative integer or null", v);
  return v;
}

function tokenIds(ctx: Ctx, o: Json, key: string, dflt: number | null): number | number[] | null {
  const v = o[key];
  if (Array.isArray(v)) {
    if (!v.every((x) => typeof x === "number" && Number.isSafeInteger(x) && x >= 0)) ctx.fail(key, "a token id, a list of token ids or null", v);
    return [...(v as number[])];
  }
  return tokenId(ctx, o, key, dflt);
}

function dtypeOf(ctx: Ctx, o: Json): string | null {
  const p = pick(o, ["torch_dtype", "dtype"]);
  if (!p) return null;
  if (typeof p.value !== "string") ctx.fail(p.key, "a dtype name such as \"bfloat16\"", p.value);
  return p.value;
}

// ---------------------------------------------------------------------------------------------
// rope
// ---------------------------------------------------------------------------------------------

const ROPE_TYPES = ["default", "linear", "dynamic", "yarn"];

function parseRope(ctx: Ctx, json: Json, headDim: number, maxPos: number): RopePositional {
  let src = "rope_scaling";
  let rp: Json | null = null;
  if (isObj(json.rope_parameters) && Object.keys(json.rope_parameters).length > 0) {
    src = "rope_parameters";
    rp = json.rope_parameters;
    const keys = Object.keys(rp);
    const known = ["rope_type", "type", "rope_theta", "factor", "partial_rotary_factor"];
    if (!keys.some((k) => known.includes(k)) && keys.some((k) => isObj(rp![k]))) {
      ctx.fail(src, "one rope dict ({ rope_type, rope_theta, ... })", `per-layer-type rope parameters (${keys.join(", ")}), which ctxwin does not support`, true);
    }
  } else if (json.rope_parameters !== undefined && json.rope_parameters !== null && !isObj(json.rope_parameters)) {
    ctx.fail("rope_parameters", "an object or null", json.rope_parameters);
  } else if (json.rope_scaling !== undefined && json.rope_scaling !== null) {
    if (!isObj(json.rope_scaling)) ctx.fail("rope_scaling", "an object or null", json.rope_scaling);
    rp = json.rope_scaling;
  }
  const thetaSrc = rp && rp.rope_theta !== undefined && rp.rope_theta !== null ? { o: rp, label: `${src}.rope_theta` } : { o: json, label: "rope_theta" };
  const theta = posNum(ctx, thetaSrc.o, "rope_theta", 10000, thetaSrc.label);
  if (theta === 1) ctx.fail(thetaSrc.label, "a base != 1", theta);
  const prfSrc = rp && rp.partial_rotary_factor !== undefined && rp.partial_rotary_factor !== null ? { o: rp, label: `${src}.partial_rotary_factor` } : { o: json, label: "partial_rotary_factor" };
  const prf = posNum(ctx, prfSrc.o, "partial_rotary_factor", 1, prfSrc.label);
  if (prf > 1) ctx.fail(prfSrc.label, "a number in (0, 1]", prf);
  const rotaryDim = Math.trunc(headDim * prf);
  if (rotaryDim < 2 || rotaryDim % 2 !== 0) {
    ctx.fail(prfSrc.label, `a factor giving an even rotary dim >= 2 (head_dim ${headDim})`, `${prf} (rotary dim ${rotaryDim})`, true);
  }
  const out: RopePositional = { type: "rope", theta, rotaryDim };
  if (!rp) return out;
  const typeKey = rp.rope_type !== undefined && rp.rope_type !== null ? "rope_type" : "type";
  const type = rp[typeKey] ?? "default";
  if (typeof type !== "string" || !ROPE_TYPES.includes(type)) {
    ctx.fail(`${src}.${typeKey}`, `one of ${ROPE_TYPES.map((t) => JSON.stringify(t)).join(", ")} (the rope types ctxwin supports)`, type);
  }
  if (type === "default") return out;
  const factor = posNum(ctx, rp, "factor", undefined, `${src}.factor`);
  let scaling: RopeScaling;
  if (type === "linear") {
    scaling = { type: "linear", factor };
  } else if (type === "dynamic") {
    scaling = { type: "dynamic", factor, originalMaxPositions: maxPos };
  } else {
    let orig = maxPos;
    if (json.original_max_position_embeddings !== undefined && json.original_max_position_embeddings !== null) {
      orig = posInt(ctx, json, ["original_max_position_embeddings"]);
    } else if (rp.original_max_position_embeddings !== undefined && rp.original_max_position_embeddings !== null) {
      orig = posInt(ctx, rp, ["original_max_position_embeddings"], undefined, `${src}.`);
    }
    const y: Extract<RopeScaling, { type: "yarn" }> = { type: "yarn", factor, originalMaxPositions: orig };
    // transformers reads beta_fast / beta_slow with `or` (0 = default) and uses mscale / mscale_all_dim only when non-zero
    const optNum = (key: string, zeroIsUnset: boolean): number | undefined => {
      const v = rp![key];
      if (v === undefined || v === null) return undefined;
      if (zeroIsUnset && v === 0) return undefined;
      if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) ctx.fail(`${src}.${key}`, "a finite positive number", v);
      return v;
    };
    const bf = optNum("beta_fast", true);
    const bs = optNum("beta_slow", true);
    const af = optNum("attention_factor", false);
    const ms = optNum("mscale", true);
    const md = optNum("mscale_all_dim", true);
    if (bf !== undefined) y.betaFast = bf;
    if (bs !== undefined) y.betaSlow = bs;
    if (af !== undefined) y.attentionFactor = af;
    if (ms !== undefined) y.mscale = ms;
    if (md !== undefined) y.mscaleAllDim = md;
    if (rp.truncate !== undefined && rp.truncate !== null) {
      if (typeof rp.truncate !== "boolean") ctx.fail(`${src}.truncate`, "true or false", rp.truncate);
      y.truncate = rp.truncate;
    }
    scaling = y;
  }
  out.scaling = scaling;
  return out;
}

function parseCtxwinPositional(ctx: Ctx, v: unknown, numHeads: number, headDim: number): Positional {
  if (!isObj(v)) ctx.fail("ctxwin_positional", "a Positional object", v);
  try {
    resolvePositional("ctxwin_positional", v, numHeads, headDim);
  } catch (e) {
    throw new CtxwinError("ERR_FORMAT", `${ctx.fn}: ${ctx.where}: ${(e as Error).message}`);
  }
  return JSON.parse(JSON.stringify(v)) as Positional;
}

// ---------------------------------------------------------------------------------------------
// parsing
// ---------------------------------------------------------------------------------------------

/**
 * Normalises a parsed config.json. `where` names the file in errors (default "config.json"),
 * `fn` the calling function (default "loadModel").
 */
export function parseConfig(json: unknown, where = "config.json", fn = "loadModel"): ModelConfig {
  const ctx: Ctx = new Ctx(fn, where);
  if (!isObj(json)) ctx.fail("file", "a JSON object", json);
  const mt = json.model_type;
  if (typeof mt !== "string" || !(SUPPORTED_MODEL_TYPES as readonly string[]).includes(mt)) {
    ctx.fail("model_type", `one of ${SUPPORTED_MODEL_TYPES.map((t) => JSON.stringify(t)).join(", ")}`, mt);
  }
  return mt === "bloom" ? parseBloom(ctx, json) : parseLlamaFamily(ctx, json, mt as LlamaFamilyConfig["modelType"]);
}

function parseLlamaFamily(ctx: Ctx, json: Json, modelType: LlamaFamilyConfig["modelType"]): LlamaFamilyConfig {
  const vocabSize = posInt(ctx, json, ["vocab_size"]);
  const hiddenSize = posInt(ctx, json, ["hidden_size"]);
  const intermediateSize = posInt(ctx, json, ["intermediate_size"]);
  const numLayers = posInt(ctx, json, ["num_hidden_layers"]);
  const numHeads = posInt(ctx, json, ["num_attention_heads"]);
  // transformers' defaults when absent: llama → num_attention_heads, mistral → 8, qwen2 → 32
  const kvDefault = modelType === "mistral" ? 8 : modelType === "qwen2" ? 32 : numHeads;
  const numKvHeads = posInt(ctx, json, ["num_key_value_heads"], kvDefault);
  if (numHeads % numKvHeads !== 0) {
    ctx.fail("num_key_value_heads", `a divisor of num_attention_heads = ${numHeads}${json.num_key_value_heads == null ? ` (${numKvHeads} is transformers' default for ${modelType})` : ""}`, numKvHeads);
  }
  const derived = Math.floor(hiddenSize / numHeads);
  const headDim = posInt(ctx, json, ["head_dim"], derived > 0 ? derived : undefined);
  const act = json.hidden_act ?? "silu";
  if (act !== "silu" && act !== "swish") ctx.fail("hidden_act", `"silu" (SwiGLU)`, act);
  const maxPosDefault = modelType === "mistral" ? 4096 * 32 : modelType === "qwen2" ? 32768 : 2048;
  const maxPositionEmbeddings = posInt(ctx, json, ["max_position_embeddings"], maxPosDefault);
  const rmsNormEps = posNum(ctx, json, "rms_norm_eps", 1e-6);
  const tieWordEmbeddings = bool(ctx, json, "tie_word_embeddings", false);
  let attentionBias = false;
  let attentionOutBias = false;
  let mlpBias = false;
  if (modelType === "llama") {
    attentionBias = attentionOutBias = bool(ctx, json, "attention_bias", false);
    mlpBias = bool(ctx, json, "mlp_bias", false);
  } else if (modelType === "qwen2") {
    attentionBias = true;
  }
  let slidingWindow: number | null = null;
  let layerWindows: (number | null)[] = new Array(numLayers).fill(null);
  if (modelType === "mistral") {
    // MistralConfig: sliding_window defaults to 4096 when absent; null disables it
    slidingWindow = json.sliding_window === null ? null : posInt(ctx, json, ["sliding_window"], 4096);
    layerWindows = new Array(numLayers).fill(slidingWindow);
  } else if (modelType === "qwen2") {
    const use = bool(ctx, json, "use_sliding_window", false);
    const w = use ? (json.sliding_window === null ? null : posInt(ctx, json, ["sliding_window"], 4096)) : null;
    if (w !== null) {
      const lt = json.layer_types;
      if (lt !== undefined && lt !== null) {
        if (!Array.isArray(lt) || lt.length !== numLayers || !lt.every((t) => t === "full_attention" || t === "sliding_attention")) {
          ctx.fail("layer_types", `${numLayers} entries, each "full_attention" or "sliding_attention"`, lt);
        }
        layerWindows = lt.map((t) => (t === "sliding_attention" ? w : null));
      } else {
        const mwl = json.max_window_layers === undefined || json.max_window_layers === null ? 28 : json.max_window_layers;
        if (typeof mwl !== "number" || !Number.isSafeInteger(mwl) || mwl < 0) ctx.fail("max_window_layers", "a non-negative integer", mwl);
        layerWindows = Array.from({ length: numLayers }, (_, i) => (i >= mwl ? w : null));
      }
      slidingWindow = layerWindows.some((x) => x !== null) ? w : null;
    }
  }
  let positional: Positional = parseRope(ctx, json, headDim, maxPositionEmbeddings);
  if (json.ctxwin_positional !== undefined && json.ctxwin_positional !== null) {
    positional = parseCtxwinPositional(ctx, json.ctxwin_positional, numHeads, headDim);
  }
  const defaultIds = modelType === "qwen2" ? null : undefined;
  return {
    family: "llama",
    modelType,
    vocabSize,
    hiddenSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize,
    rmsNormEps,
    tieWordEmbeddings,
    attentionBias,
    attentionOutBias,
    mlpBias,
    slidingWindow,
    layerWindows,
    maxPositionEmbeddings,
    positional,
    hiddenAct: "silu",
    initializerRange: posNum(ctx, json, "initializer_range", 0.02),
    bosTokenId: tokenId(ctx, json, "bos_token_id", defaultIds === null ? null : 1),
    eosTokenId: tokenIds(ctx, json, "eos_token_id", defaultIds === null ? null : 2),
    padTokenId: tokenId(ctx, json, "pad_token_id", null),
    torchDtype: dtypeOf(ctx, json),
  };
}

function parseBloom(ctx: Ctx, json: Json): BloomModelConfig {
  const vocabSize = posInt(ctx, json, ["vocab_size"]);
  const hiddenSize = posInt(ctx, json, ["n_embed", "hidden_size"]);
  const numLayers = posInt(ctx, json, ["n_layer", "num_hidden_layers"]);
  const numHeads = posInt(ctx, json, ["n_head", "num_attention_heads"]);
  if (hiddenSize % numHeads !== 0) {
    const k = pick(json, ["n_embed", "hidden_size"])!.key;
    ctx.fail(k, `a multiple of the head count ${numHeads}`, hiddenSize);
  }
  const headDim = hiddenSize / numHeads;
  let positional: Positional = { type: "alibi" };
  if (json.ctxwin_positional !== undefined && json.ctxwin_positional !== null) {
    positional = parseCtxwinPositional(ctx, json.ctxwin_positional, numHeads, headDim);
  }
  return {
    family: "bloom",
    modelType: "bloom",
    vocabSize,
    hiddenSize,
    numLayers,
    numHeads,
    numKvHeads: numHeads,
    headDim,
    intermediateSize: 4 * hiddenSize,
    layerNormEps: posNum(ctx, json, "layer_norm_epsilon", 1e-5),
    residualPostLayernorm: bool(ctx, json, "apply_residual_connection_post_layernorm", false),
    tieWordEmbeddings: bool(ctx, json, "tie_word_embeddings", true),
    attentionBias: true,
    attentionOutBias: true,
    mlpBias: true,
    slidingWindow: null,
    layerWindows: new Array(numLayers).fill(null),
    maxPositionEmbeddings: null,
    positional,
    hiddenAct: "gelu_tanh",
    initializerRange: posNum(ctx, json, "initializer_range", 0.02),
    bosTokenId: tokenId(ctx, json, "bos_token_id", 1),
    eosTokenId: tokenIds(ctx, json, "eos_token_id", 2),
    padTokenId: tokenId(ctx, json, "pad_token_id", null),
    torchDtype: dtypeOf(ctx, json),
  };
}

/** Reads and normalises `<dir>/config.json`. */
export async function readConfig(dir: string, fn = "loadModel"): Promise<ModelConfig> {
  const file = path.join(dir, "config.json");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    const code = (e as { code?: string }).code;
    const got = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "a directory" : `an unreadable file (${(e as Error).message})`;
    throw new CtxwinError("ERR_FORMAT", `${fn}: ${file}: file: expected an HF config.json, got ${got}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CtxwinError("ERR_FORMAT", `${fn}: ${file}: file: expected valid JSON, got a parse error (${(e as Error).message})`);
  }
  return parseConfig(json, file, fn);
}

// ---------------------------------------------------------------------------------------------
// writing
// ---------------------------------------------------------------------------------------------

const ARCHITECTURES: Record<ModelType, string> = {
  llama: "LlamaForCausalLM",
  mistral: "MistralForCausalLM",
  qwen2: "Qwen2ForCausalLM",
  bloom: "BloomForCausalLM",
};

function argFail(field: string, expected: string, got: unknown): never {
  throw new CtxwinError("ERR_ARG", `configToJson: ${field}: expected ${expected}, got ${show(got)}`);
}

/** Rope positional with theta / rotaryDim filled in, for comparisons. */
function canonicalPositional(p: Positional, headDim: number): Positional {
  if (p.type !== "rope") return JSON.parse(JSON.stringify(p)) as Positional;
  const out: RopePositional = { type: "rope", theta: p.theta ?? 10000, rotaryDim: p.rotaryDim ?? headDim };
  if (p.scaling) out.scaling = JSON.parse(JSON.stringify(p.scaling)) as RopeScaling;
  return out;
}

function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(",")}]`;
  if (isObj(v)) {
    return `{${Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableStringify(v[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

function ropeFields(p: Positional, headDim: number, maxPos: number): Json {
  if (p.type !== "rope") return { rope_theta: 10000, rope_scaling: null };
  const theta = p.theta ?? 10000;
  const rotaryDim = p.rotaryDim ?? headDim;
  const out: Json = { rope_theta: theta, rope_scaling: null };
  if (rotaryDim !== headDim) out.partial_rotary_factor = rotaryDim / headDim;
  const s = p.scaling;
  if (!s) return out;
  if (s.type === "linear" || s.type === "dynamic") {
    out.rope_scaling = { rope_type: s.type, type: s.type, factor: s.factor };
  } else if (s.type === "ntk") {
    // NTK-aware scaling is plain RoPE with a larger base
    out.rope_theta = theta * Math.pow(s.factor, rotaryDim / (rotaryDim - 2));
  } else {
    const y: Json = { rope_type: "yarn", factor: s.factor };
    if (s.originalMaxPositions !== maxPos) y.original_max_position_embeddings = s.originalMaxPositions;
    if (s.betaFast !== undefined) y.beta_fast = s.betaFast;
    if (s.betaSlow !== undefined) y.beta_slow = s.betaSlow;
    if (s.attentionFactor !== undefined) y.attention_factor = s.attentionFactor;
    if (s.mscale !== undefined) y.mscale = s.mscale;
    if (s.mscaleAllDim !== undefined) y.mscale_all_dim = s.mscaleAllDim;
    if (s.truncate !== undefined) y.truncate = s.truncate;
    out.rope_scaling = y;
  }
  return out;
}

function sortKeys(o: Json): Json {
  const out: Json = {};
  for (const k of Object.keys(o).sort()) out[k] = o[k];
  return out;
}

/**
 * A transformers-4-style config.json object for `cfg` (keys sorted, as transformers writes them):
 * `architectures`, `model_type`, sizes, `torch_dtype`, `rope_theta` / `rope_scaling` (llama family)
 * or BLOOM's `n_layer` / `n_head` / `layer_norm_epsilon`. Throws ERR_ARG for combinations the
 * model type cannot express (e.g. qkv bias in mistral, a window in llama).
 */
export function configToJson(cfg: ModelConfig): Record<string, unknown> {
  if (!isObj(cfg)) argFail("cfg", "a ModelConfig", cfg);
  const mt = cfg.modelType;
  if (!(SUPPORTED_MODEL_TYPES as readonly string[]).includes(mt)) argFail("modelType", SUPPORTED_MODEL_TYPES.join(", "), mt);
  const out: Json = {
    architectures: [ARCHITECTURES[mt]],
    model_type: mt,
    vocab_size: cfg.vocabSize,
    initializer_range: cfg.initializerRange ?? 0.02,
    tie_word_embeddings: cfg.tieWordEmbeddings,
    bos_token_id: cfg.bosTokenId,
    eos_token_id: cfg.eosTokenId,
  };
  if (cfg.padTokenId !== null && cfg.padTokenId !== undefined) out.pad_token_id = cfg.padTokenId;
  if (cfg.torchDtype !== null && cfg.torchDtype !== undefined) out.torch_dtype = cfg.torchDtype;
  const windows = cfg.layerWindows ?? new Array(cfg.numLayers).fill(cfg.slidingWindow ?? null);
  if (windows.length !== cfg.numLayers) argFail("layerWindows", `${cfg.numLayers} entries`, windows);
  let standardPositional: Positional;
  if (cfg.family === "bloom") {
    if (mt !== "bloom") argFail("modelType", `"bloom" for family "bloom"`, mt);
    if (cfg.numKvHeads !== cfg.numHeads) argFail("numKvHeads", `numHeads (${cfg.numHeads}): BLOOM has no GQA`, cfg.numKvHeads);
    if (cfg.headDim * cfg.numHeads !== cfg.hiddenSize) argFail("headDim", `hiddenSize / numHeads = ${cfg.hiddenSize / cfg.numHeads}`, cfg.headDim);
    if (cfg.intermediateSize !== 4 * cfg.hiddenSize) argFail("intermediateSize", `4 · hiddenSize = ${4 * cfg.hiddenSize} (BLOOM's MLP)`, cfg.intermediateSize);
    if (!cfg.attentionBias || !cfg.attentionOutBias || !cfg.mlpBias) argFail("attentionBias / attentionOutBias / mlpBias", "true (BLOOM always has biases)", false);
    if (windows.some((w) => w !== null)) argFail("layerWindows", "no windows (BLOOM has none)", windows);
    Object.assign(out, {
      hidden_size: cfg.hiddenSize,
      n_layer: cfg.numLayers,
      n_head: cfg.numHeads,
      layer_norm_epsilon: cfg.layerNormEps,
      apply_residual_connection_post_layernorm: cfg.residualPostLayernorm ?? false,
    });
    standardPositional = { type: "alibi" };
  } else {
    if (mt === "bloom") argFail("family", `"bloom" for model type bloom`, cfg.family);
    Object.assign(out, {
      hidden_size: cfg.hiddenSize,
      intermediate_size: cfg.intermediateSize,
      num_hidden_layers: cfg.numLayers,
      num_attention_heads: cfg.numHeads,
      num_key_value_heads: cfg.numKvHeads,
      head_dim: cfg.headDim,
      hidden_act: "silu",
      max_position_embeddings: cfg.maxPositionEmbeddings,
      rms_norm_eps: cfg.rmsNormEps,
    });
    const maxPos = cfg.maxPositionEmbeddings;
    if (typeof maxPos !== "number") argFail("maxPositionEmbeddings", "a positive integer", maxPos);
    if (mt === "llama") {
      if (cfg.attentionBias !== cfg.attentionOutBias) {
        argFail("attentionOutBias", `the same as attentionBias (llama's attention_bias covers q, k, v and o)`, cfg.attentionOutBias);
      }
      if (windows.some((w) => w !== null)) argFail("layerWindows", `no windows for llama (use modelType "mistral" for a sliding window)`, windows);
      out.attention_bias = cfg.attentionBias;
      out.mlp_bias = cfg.mlpBias;
    } else {
      const wantQkv = mt === "qwen2";
      if (cfg.attentionBias !== wantQkv || cfg.attentionOutBias || cfg.mlpBias) {
        argFail("attentionBias / attentionOutBias / mlpBias", `${wantQkv} / false / false for ${mt}`, `${cfg.attentionBias} / ${cfg.attentionOutBias} / ${cfg.mlpBias}`);
      }
      const w = cfg.slidingWindow;
      if (mt === "mistral") {
        if (windows.some((x) => x !== w)) argFail("layerWindows", `slidingWindow (${w}) in every layer for mistral`, windows);
        out.sliding_window = w;
      } else {
        const first = windows.findIndex((x) => x !== null);
        const m = first < 0 ? cfg.numLayers : first;
        if (first >= 0 && windows.some((x, i) => (i >= m ? x !== w : x !== null))) {
          argFail("layerWindows", `null below max_window_layers and slidingWindow (${w}) from there on, for qwen2`, windows);
        }
        out.use_sliding_window = first >= 0;
        out.sliding_window = first >= 0 ? w : null;
        out.max_window_layers = m;
      }
    }
    Object.assign(out, ropeFields(cfg.positional, cfg.headDim, maxPos));
    standardPositional = parseRope(new Ctx("configToJson", "config"), out, cfg.headDim, maxPos);
  }
  if (!cfg.positional) argFail("positional", "a Positional", cfg.positional);
  if (stableStringify(canonicalPositional(cfg.positional, cfg.headDim)) !== stableStringify(standardPositional)) {
    out.ctxwin_positional = canonicalPositional(cfg.positional, cfg.headDim);
  }
  return sortKeys(out);
}

/** Writes `<dir>/config.json` (atomic; dir created if needed). */
export async function writeConfig(dir: string, cfg: ModelConfig): Promise<void> {
  const json = configToJson(cfg);
  await mkdir(dir, { recursive: true });
  await writeJsonAtomic(path.join(dir, "config.json"), json);
}
