/**
 * PEFT adapter directories: `adapter_config.json` + `adapter_model.safetensors`, for
 * peft_type "LORA" and "PREFIX_TUNING", read and written in the layout PEFT itself uses.
 *
 * LoRA: tensors `base_model.model.<module>.lora_A.weight` [r, in] and `.lora_B.weight` [out, r];
 * the weight update of `<module>` is scale·B·A with scale = lora_alpha / r (lora_alpha / √r with
 * use_rslora; rank_pattern / alpha_pattern honoured as PEFT matches them: the key as a regex
 * suffix of the module path). modules_to_save tensors are stored as
 * `base_model.model.<module>.<param>` (full replacement weights). Only bias "none"; no DoRA, no
 * LoRA on embeddings (clear errors). fan_in_fan_out is reported but irrelevant for nn.Linear
 * targets (PEFT itself resets it to false there).
 *
 * Prefix tuning: tensor `prompt_embeddings` [P, num_layers·2·token_dim], token_dim =
 * num_attention_heads·head_dim where, for GQA models, PEFT stores the key/value head count in
 * num_attention_heads (and token_dim = Hkv·head_dim). Viewed as [P, num_layers·2, Hkv, head_dim]:
 * layer i's keys at index 2i, values at 2i+1 (docs/design.md, Models and HF I/O).
 * num_transformer_submodules must be 1 (no encoder-decoder models). With prefix_projection true
 * (P-tuning v2's MLP) PEFT saves the MLP's OUTPUT as prompt_embeddings (and loads it so, with no
 * MLP, in inference mode): the same layout, read the same way.
 * A classification head (task_type SEQ_CLS / TOKEN_CLS, modules_to_save ["classifier", "score"])
 * is saved in full: under `base_model.model.<param>` next to LoRA weights, and under
 * `base_model.<param>` next to prompt_embeddings (PEFT's prompt-learning layout), e.g.
 * `base_model.classifier.weight`; RoBERTa's head as classifier.dense.* and classifier.out_proj.*.
 *
 * Errors: ERR_FORMAT `<fn>: <file>: <field>: expected ..., got ...` (fn default "loadModel").
 */
import { mkdir, readFile, stat } from "node:fs/promises";
import * as path from "node:path";
import type { FileHandle } from "node:fs/promises";
import { CtxwinError, show } from "../../errors.js";
import { openCheckpoint, safetensorsWriter, type FloatDtype, type TensorData } from "./safetensors.js";
import { writeAllAtomic, writeFully } from "../../util/atomic.js";

export const ADAPTER_CONFIG_NAME = "adapter_config.json";
export const ADAPTER_WEIGHTS_NAME = "adapter_model.safetensors";
const PREFIX = "base_model.model.";
/** Where PEFT's prompt-learning adapters keep modules_to_save weights. */
export const PROMPT_PREFIX = "base_model.";

export interface LoraConfig {
  peftType: "LORA";
  taskType: string | null;
  r: number;
  loraAlpha: number;
  loraDropout: number;
  /** Module names / suffixes, or a regex string (as PEFT accepts); null when absent. */
  targetModules: string[] | string | null;
  modulesToSave: string[] | null;
  fanInFanOut: boolean;
  bias: "none";
  useRslora: boolean;
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
  baseModelNameOrPath: string | null;
  inferenceMode: boolean;
}

export interface PrefixTuningConfig {
  peftType: "PREFIX_TUNING";
  taskType: string | null;
  /** P: prefix length. */
  numVirtualTokens: number;
  numLayers: number;
  /** Per-layer key (or value) width: numKvHeads · headDim. */
  tokenDim: number;
  /** The heads the prefix is split into: the model's key/value heads (PEFT stores Hkv here for GQA models). */
  numKvHeads: number;
  headDim: number;
  encoderHiddenSize: number | null;
  numTransformerSubmodules: 1;
  /** True when trained through PEFT's MLP (prompt_embeddings then holds its output). */
  prefixProjection: boolean;
  modulesToSave: string[] | null;
  baseModelNameOrPath: string | null;
  inferenceMode: boolean;
}

export type AdapterConfig = LoraConfig | PrefixTuningConfig;

export interface LoraModuleWeights {
  /** lora_A.weight [r, in]. */
  A: TensorData;
  /** lora_B.weight [out, r]. */
  B: TensorData;
  r: number;
  alpha: number;
  /** The factor on B·A: alpha / r (alpha / √r with rsLoRA). */
  scale: number;
}

export interface LoraAdapter {
  type: "lora";
  dir: string;
  config: LoraConfig;
  /** Module path (e.g. "model.layers.0.self_attn.q_proj") → its LoRA pair. */
  modules: Map<string, LoraModuleWeights>;
  /** Parameter path (e.g. "lm_head.weight") → replacement weight (modules_to_save). */
  modulesToSave: Map<string, TensorData>;
}

export interface PrefixKeyValues {
  /** [P, Hkv, headDim] */
  keys: { data: Float32Array; shape: [number, number, number] };
  /** [P, Hkv, headDim] */
  values: { data: Float32Array; shape: [number, number, number] };
}

export interface PrefixAdapter {
  type: "prefix";
  dir: string;
  config: PrefixTuningConfig;
  /** prompt_embeddings [P, numLayers·2·numKvHeads·headDim]. */
  promptEmbeddings: TensorData;
  /** Layer `layer`'s prefix keys and values (copies), [P, Hkv, headDim] each. */
  prefixKeyValues(layer: number): PrefixKeyValues;
  /** Parameter path (e.g. "classifier.weight") → trained weight (modules_to_save). */
  modulesToSave: Map<string, TensorData>;
}

export type PeftAdapter = LoraAdapter | PrefixAdapter;

// ---------------------------------------------------------------------------------------------
// config parsing
// ---------------------------------------------------------------------------------------------

type Json = Record<string, unknown>;
function isObj(v: unknown): v is Json {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

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

function posIntField(ctx: Ctx, o: Json, key: string): number {
  const v = o[key];
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) ctx.fail(key, "a positive integer", v);
  return v;
}

function optString(ctx: Ctx, o: Json, key: string): string | null {
  const v = o[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== "string") ctx.fail(key, "a string or null", v);
  return v;
}

function optBool(ctx: Ctx, o: Json, key: string, dflt: boolean): boolean {
  const v = o[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== "boolean") ctx.fail(key, "true or false", v);
  return v;
}

function optStringList(ctx: Ctx, o: Json, key: string): string[] | null {
  const v = o[key];
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) ctx.fail(key, "a list of strings or null", v);
  return [...(v as string[])];
}

function numberMap(ctx: Ctx, o: Json, key: string, positiveInt: boolean): Record<string, number> {
  const v = o[key];
  const out: Record<string, number> = {};
  if (v === undefined || v === null) return out;
  if (!isObj(v)) ctx.fail(key, "an object of numbers", v);
  for (const [k, x] of Object.entries(v)) {
    const ok = typeof x === "number" && Number.isFinite(x) && x > 0 && (!positiveInt || Number.isSafeInteger(x));
    if (!ok) ctx.fail(`${key}[${JSON.stringify(k)}]`, positiveInt ? "a positive integer" : "a positive number", x);
    Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Normalises a parsed adapter_config.json (`where` names the file in errors). */
export function parseAdapterConfig(json: unknown, where = ADAPTER_CONFIG_NAME, fn = "loadModel"): AdapterConfig {
  const ctx: Ctx = new Ctx(fn, where);
  if (!isObj(json)) ctx.fail("file", "a JSON object", json);
  const type = json.peft_type;
  const taskType = optString(ctx, json, "task_type");
  const baseModelNameOrPath = optString(ctx, json, "base_model_name_or_path");
  const inferenceMode = optBool(ctx, json, "inference_mode", true);
  if (type === "LORA") {
    const r = posIntField(ctx, json, "r");
    const a = json.lora_alpha ?? 8; // LoraConfig's default
    if (typeof a !== "number" || !Number.isFinite(a) || a <= 0) ctx.fail("lora_alpha", "a positive number", a);
    const bias = json.bias ?? "none";
    if (bias !== "none") ctx.fail("bias", `"none" (ctxwin does not load LoRA bias training)`, bias);
    if (json.use_dora === true) ctx.fail("use_dora", "false (DoRA adapters are not supported)", true);
    const d = json.lora_dropout ?? 0;
    if (typeof d !== "number" || !(d >= 0 && d < 1)) ctx.fail("lora_dropout", "a number in [0, 1)", d);
    let targetModules: string[] | string | null = null;
    if (typeof json.target_modules === "string") targetModules = json.target_modules;
    else targetModules = optStringList(ctx, json, "target_modules");
    return {
      peftType: "LORA",
      taskType,
      r,
      loraAlpha: a,
      loraDropout: d,
      targetModules,
      modulesToSave: optStringList(ctx, json, "modules_to_save"),
      fanInFanOut: optBool(ctx, json, "fan_in_fan_out", false),
      bias: "none",
      useRslora: optBool(ctx, json, "use_rslora", false),
      rankPattern: numberMap(ctx, json, "rank_pattern", true),
      alphaPattern: numberMap(ctx, json, "alpha_pattern", false),
      baseModelNameOrPath,
      inferenceMode,
    };
  }
  if (type === "PREFIX_TUNING") {
    const numVirtualTokens = posIntField(ctx, json, "num_virtual_tokens");
    const numLayers = posIntField(ctx, json, "num_layers");
    const tokenDim = posIntField(ctx, json, "token_dim");
    const heads = posIntField(ctx, json, "num_attention_heads");
    if (tokenDim % heads !== 0) ctx.fail("token_dim", `a multiple of num_attention_heads = ${heads}`, tokenDim);
    const prefixProjection = optBool(ctx, json, "prefix_projection", false);
    const sub = json.num_transformer_submodules ?? (taskType === "SEQ_2_SEQ_LM" ? 2 : 1);
    if (sub !== 1) ctx.fail("num_transformer_submodules", "1 (a decoder-only model)", sub);
    const ehs = json.encoder_hidden_size;
    if (ehs !== undefined && ehs !== null && (typeof ehs !== "number" || !Number.isSafeInteger(ehs) || ehs <= 0)) {
      ctx.fail("encoder_hidden_size", "a positive integer or null", ehs);
    }
    return {
      peftType: "PREFIX_TUNING",
      taskType,
      numVirtualTokens,
      numLayers,
      tokenDim,
      numKvHeads: heads,
      headDim: tokenDim / heads,
      encoderHiddenSize: (ehs as number | null | undefined) ?? null,
      numTransformerSubmodules: 1,
      prefixProjection,
      modulesToSave: optStringList(ctx, json, "modules_to_save"),
      baseModelNameOrPath,
      inferenceMode,
    };
  }
  return ctx.fail("peft_type", `"LORA" or "PREFIX_TUNING"`, type);
}

/** Reads `<dir>/adapter_config.json`. */
export async function readAdapterConfig(dir: string, fn = "loadModel"): Promise<AdapterConfig> {
  const file = path.join(dir, ADAPTER_CONFIG_NAME);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new CtxwinError("ERR_FORMAT", `${fn}: ${file}: file: expected a PEFT adapter_config.json, got ${code === "ENOENT" ? "no such file" : `an unreadable file (${(e as Error).message})`}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CtxwinError("ERR_FORMAT", `${fn}: ${file}: file: expected valid JSON, got a parse error (${(e as Error).message})`);
  }
  return parseAdapterConfig(json, file, fn);
}

// ---------------------------------------------------------------------------------------------
// adapters
// ---------------------------------------------------------------------------------------------

/** PEFT's LoRA scaling: alpha / r, or alpha / √r with rsLoRA. */
export function loraScale(alpha: number, r: number, useRslora = false): number {
  return useRslora ? alpha / Math.sqrt(r) : alpha / r;
}

/** The first pattern key matching `module` as PEFT matches them: `(.*\.)?(<key>)$`. */
function patternKey(keys: string[], module: string): string | null {
  for (const k of keys) {
    let re: RegExp;
    try {
      re = new RegExp(`^(.*\\.)?(${k})$`);
    } catch {
      if (module === k || module.endsWith(`.${k}`)) return k;
      continue;
    }
    if (re.test(module)) return k;
  }
  return null;
}

/** Whether `module` is, or sits inside, a module of modules_to_save (matched by name suffix, as PEFT). */
function moduleMatches(module: string, entries: readonly string[]): boolean {
  const parts = module.split(".");
  return parts.some((_, i) => {
    const m = parts.slice(0, i + 1).join(".");
    return entries.some((e) => m === e || m.endsWith(`.${e}`));
  });
}

/**
 * Views prompt_embeddings [P, layers·2·Hkv·D] as [P, layers·2, Hkv, D] and copies out layer
 * `layer`'s keys (index 2·layer) and values (2·layer + 1), each [P, Hkv, D].
 */
export function prefixKeyValues(
  promptEmbeddings: Float32Array,
  dims: { numVirtualTokens: number; numLayers: number; numKvHeads: number; headDim: number },
  layer: number,
): PrefixKeyValues {
  const { numVirtualTokens: P, numLayers: L, numKvHeads: H, headDim: D } = dims;
  if (!Number.isInteger(layer) || layer < 0 || layer >= L) {
    throw new CtxwinError("ERR_ARG", `prefixKeyValues: layer: expected an integer in [0, ${L - 1}], got ${show(layer)}`);
  }
  const row = H * D;
  if (promptEmbeddings.length !== P * L * 2 * row) {
    throw new CtxwinError("ERR_SHAPE", `prefixKeyValues: promptEmbeddings: expected ${P}·${L}·2·${H}·${D} = ${P * L * 2 * row} values, got ${promptEmbeddings.length}`);
  }
  const keys = new Float32Array(P * row);
  const values = new Float32Array(P * row);
  for (let p = 0; p < P; p++) {
    const base = (p * 2 * L + 2 * layer) * row;
    keys.set(promptEmbeddings.subarray(base, base + row), p * row);
    values.set(promptEmbeddings.subarray(base + row, base + 2 * row), p * row);
  }
  return { keys: { data: keys, shape: [P, H, D] }, values: { data: values, shape: [P, H, D] } };
}

/** The inverse of prefixKeyValues: per-layer keys / values [P, Hkv, D] → prompt_embeddings [P, layers·2·Hkv·D]. */
export function packPrefixKeyValues(
  layers: readonly { keys: Float32Array; values: Float32Array }[],
  dims: { numVirtualTokens: number; numKvHeads: number; headDim: number },
): Float32Array {
  const { numVirtualTokens: P, numKvHeads: H, headDim: D } = dims;
  const L = layers.length;
  const row = H * D;
  const out = new Float32Array(P * L * 2 * row);
  layers.forEach((kv, i) => {
    for (const [which, src] of [
      ["keys", kv.keys],
      ["values", kv.values],
    ] as const) {
      if (!(src instanceof Float32Array) || src.length !== P * row) {
        throw new CtxwinError("ERR_SHAPE", `packPrefixKeyValues: layers[${i}].${which}: expected a Float32Array of ${P}·${H}·${D} = ${P * row} values, got ${show(src)}${src instanceof Float32Array ? ` of length ${src.length}` : ""}`);
      }
    }
    for (let p = 0; p < P; p++) {
      const base = (p * 2 * L + 2 * i) * row;
      out.set(kv.keys.subarray(p * row, (p + 1) * row), base);
      out.set(kv.values.subarray(p * row, (p + 1) * row), base + row);
    }
  });
  return out;
}

/**
 * The head weights next to a prompt-learning adapter's own tensors (`own`): keys
 * `base_model.<param>` of a module in modules_to_save; anything else is an error.
 */
export async function readPromptLearningHead(
  ctx: { fail(field: string, expected: string, got: unknown, gotIsText?: boolean): never },
  ckpt: { names(): string[]; read(name: string): Promise<TensorData> },
  modulesToSave: readonly string[] | null,
  own: readonly string[],
): Promise<Map<string, TensorData>> {
  const out = new Map<string, TensorData>();
  for (const key of ckpt.names()) {
    if (own.includes(key)) continue;
    const param = key.startsWith(PROMPT_PREFIX) ? key.slice(PROMPT_PREFIX.length) : null;
    const mod = param?.includes(".") ? param.slice(0, param.lastIndexOf(".")) : null;
    if (!param || !mod || !modulesToSave || !moduleMatches(mod, modulesToSave)) {
      ctx.fail(`tensor ${JSON.stringify(key)}`, `${own.map((n) => JSON.stringify(n)).join(" / ")}${modulesToSave ? ` or "${PROMPT_PREFIX}<param>" of modules_to_save (${modulesToSave.join(", ")})` : ""}`, "an unknown key", true);
    }
    out.set(param, await ckpt.read(key));
  }
  return out;
}

async function fileExists(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

/**
 * Reads a PEFT adapter directory (LoRA or prefix tuning) with every tensor checked against the
 * config: LoRA pairs complete and rank-consistent, no unknown keys; prompt_embeddings shaped
 * [P, layers·2·token_dim].
 */
export async function readAdapter(dir: string, fn = "loadModel"): Promise<PeftAdapter> {
  const config = await readAdapterConfig(dir, fn);
  const weights = path.join(dir, ADAPTER_WEIGHTS_NAME);
  if (!(await fileExists(weights))) {
    const bin = await fileExists(path.join(dir, "adapter_model.bin"));
    throw new CtxwinError(
      "ERR_FORMAT",
      `${fn}: ${weights}: file: expected the adapter weights (safetensors), got no such file${bin ? " (adapter_model.bin found: pickle files are not supported, re-save with safe_serialization=True)" : ""}`,
    );
  }
  const ckpt = await openCheckpoint(weights, { fn });
  const ctx: Ctx = new Ctx(fn, weights);
  if (config.peftType === "PREFIX_TUNING") {
    const names = ckpt.names();
    if (!ckpt.has("prompt_embeddings")) ctx.fail("tensor \"prompt_embeddings\"", "present (PEFT's prefix-tuning key)", `only ${names.slice(0, 5).map((n) => JSON.stringify(n)).join(", ")}${names.length > 5 ? ", ..." : ""}`, true);
    const c = config;
    const modulesToSave = await readPromptLearningHead(ctx, ckpt, c.modulesToSave, ["prompt_embeddings"]);
    const want = [c.numVirtualTokens, c.numLayers * 2 * c.tokenDim];
    const info = ckpt.info("prompt_embeddings");
    if (info.shape.length !== 2 || info.shape[0] !== want[0] || info.shape[1] !== want[1]) {
      ctx.fail(
        "tensor \"prompt_embeddings\"",
        `shape [${want.join(", ")}] (num_virtual_tokens, num_layers·2·token_dim = ${c.numLayers}·2·${c.tokenDim})`,
        `[${info.shape.join(", ")}]`,
        true,
      );
    }
    const promptEmbeddings = await ckpt.read("prompt_embeddings");
    return {
      type: "prefix",
      dir,
      config: c,
      promptEmbeddings,
      prefixKeyValues: (layer: number) => prefixKeyValues(promptEmbeddings.data, c, layer),
      modulesToSave,
    };
  }
  const c = config;
  const pairs = new Map<string, { A?: string; B?: string }>();
  const saved: [string, string][] = []; // param path, key
  for (const key of ckpt.names()) {
    if (!key.startsWith(PREFIX)) ctx.fail(`tensor ${JSON.stringify(key)}`, `a key starting with "${PREFIX}" (PEFT's layout)`, "another prefix", true);
    const rest = key.slice(PREFIX.length);
    const m = /^(.+)\.lora_(A|B)\.weight$/.exec(rest);
    if (m) {
      const e = pairs.get(m[1]!) ?? {};
      e[m[2] as "A" | "B"] = key;
      pairs.set(m[1]!, e);
      continue;
    }
    if (/\.lora_embedding_[AB](\.|$)/.test(rest)) ctx.fail(`tensor ${JSON.stringify(key)}`, "LoRA on linear layers", "LoRA on an embedding layer (not supported)", true);
    if (/\.lora_magnitude_vector(\.|$)/.test(rest)) ctx.fail(`tensor ${JSON.stringify(key)}`, "plain LoRA", "a DoRA magnitude vector (not supported)", true);
    if (/\.lora_[AB]\.bias$/.test(rest)) ctx.fail(`tensor ${JSON.stringify(key)}`, "LoRA without bias", "a LoRA bias (not supported)", true);
    const mod = rest.includes(".") ? rest.slice(0, rest.lastIndexOf(".")) : rest;
    if (c.modulesToSave && moduleMatches(mod, c.modulesToSave)) {
      saved.push([rest, key]);
      continue;
    }
    ctx.fail(`tensor ${JSON.stringify(key)}`, `a lora_A / lora_B weight${c.modulesToSave ? ` or a weight of modules_to_save (${c.modulesToSave.join(", ")})` : ""}`, "an unknown key", true);
  }
  const rankKeys = Object.keys(c.rankPattern);
  const alphaKeys = Object.keys(c.alphaPattern);
  const modules = new Map<string, LoraModuleWeights>();
  for (const [mod, e] of [...pairs.entries()].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))) {
    if (!e.A || !e.B) ctx.fail(`module ${JSON.stringify(mod)}`, "both lora_A.weight and lora_B.weight", `only lora_${e.A ? "A" : "B"}.weight`, true);
    const a = ckpt.info(e.A);
    const b = ckpt.info(e.B);
    if (a.shape.length !== 2) ctx.fail(`tensor ${JSON.stringify(e.A)}`, "a 2-D [r, in] matrix", `shape [${a.shape.join(", ")}]`, true);
    if (b.shape.length !== 2) ctx.fail(`tensor ${JSON.stringify(e.B)}`, "a 2-D [out, r] matrix", `shape [${b.shape.join(", ")}]`, true);
    const rk = patternKey(rankKeys, mod);
    const r = rk !== null ? c.rankPattern[rk]! : c.r;
    if (a.shape[0] !== r || b.shape[1] !== r) {
      ctx.fail(
        `module ${JSON.stringify(mod)}`,
        `rank ${r} (${rk !== null ? `rank_pattern[${JSON.stringify(rk)}]` : "r"}): lora_A [${r}, in], lora_B [out, ${r}]`,
        `lora_A [${a.shape.join(", ")}], lora_B [${b.shape.join(", ")}]`,
        true,
      );
    }
    const ak = patternKey(alphaKeys, mod);
    const alpha = ak !== null ? c.alphaPattern[ak]! : c.loraAlpha;
    modules.set(mod, { A: await ckpt.read(e.A), B: await ckpt.read(e.B), r, alpha, scale: loraScale(alpha, r, c.useRslora) });
  }
  const modulesToSave = new Map<string, TensorData>();
  for (const [param, key] of saved.sort()) modulesToSave.set(param, await ckpt.read(key));
  if (modules.size === 0 && modulesToSave.size === 0) ctx.fail("tensors", "LoRA weights", "none", true);
  return { type: "lora", dir, config: c, modules, modulesToSave };
}

// ---------------------------------------------------------------------------------------------
// writing
// ---------------------------------------------------------------------------------------------

/** A float32 matrix to save. */
export interface MatrixInput {
  data: Float32Array;
  shape: readonly number[];
}

export interface LoraAdapterInput {
  loraAlpha: number;
  /** The rank; default: the rows of the first lora_A (all modules must agree). */
  r?: number;
  /** Module path (e.g. "model.layers.0.self_attn.q_proj") → A [r, in], B [out, r]. */
  modules: Record<string, { A: MatrixInput; B: MatrixInput }> | Map<string, { A: MatrixInput; B: MatrixInput }>;
  /** Default: the modules' last name components, sorted (e.g. ["q_proj", "v_proj"]). */
  targetModules?: string[] | string;
  /** Parameter path (e.g. "lm_head.weight") → full trained weight. */
  modulesToSave?: Record<string, MatrixInput> | Map<string, MatrixInput>;
  /** modules_to_save in adapter_config.json; default: the modules of modulesToSave's parameters. */
  modulesToSaveNames?: string[];
  loraDropout?: number;
  useRslora?: boolean;
  baseModelNameOrPath?: string | null;
  taskType?: string;
  /** Stored dtype; default F32. */
  dtype?: FloatDtype;
}

export interface PrefixAdapterInput {
  numVirtualTokens: number;
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  /** [P, numLayers·2·numKvHeads·headDim] (see packPrefixKeyValues). */
  promptEmbeddings: Float32Array;
  /** Default: numKvHeads·headDim (what PEFT sets); with prefixProjection, the MLP's width. */
  encoderHiddenSize?: number;
  /** Trained through PEFT's MLP (promptEmbeddings is its output). Default false. */
  prefixProjection?: boolean;
  /** Parameter path (e.g. "classifier.weight") → trained head weight, saved as `base_model.<path>`. */
  modulesToSave?: Map<string, { data: Float32Array; shape: readonly number[] }>;
  /** modules_to_save in adapter_config.json (PEFT: ["classifier", "score"] for SEQ_CLS / TOKEN_CLS). */
  modulesToSaveNames?: string[];
  baseModelNameOrPath?: string | null;
  taskType?: string;
  dtype?: FloatDtype;
}

function entries<T>(fn: string, field: string, m: Record<string, T> | Map<string, T> | undefined): [string, T][] {
  if (m === undefined) return [];
  if (m instanceof Map) return [...m.entries()];
  if (!isObj(m)) throw new CtxwinError("ERR_ARG", `${fn}: ${field}: expected an object or Map, got ${show(m)}`);
  return Object.entries(m) as [string, T][];
}

function checkMatrix(fn: string, field: string, t: MatrixInput): [number, number] {
  if (!isObj(t) || !(t.data instanceof Float32Array) || !Array.isArray(t.shape) || t.shape.length !== 2) {
    throw new CtxwinError("ERR_ARG", `${fn}: ${field}: expected { data: Float32Array, shape: [rows, cols] }, got ${show(t)}`);
  }
  const [rows, cols] = t.shape as [number, number];
  if (!Number.isSafeInteger(rows) || !Number.isSafeInteger(cols) || rows <= 0 || cols <= 0) {
    throw new CtxwinError("ERR_SHAPE", `${fn}: ${field}.shape: expected two positive integers, got ${show(t.shape)}`);
  }
  if (t.data.length !== rows * cols) throw new CtxwinError("ERR_SHAPE", `${fn}: ${field}.data: expected ${rows * cols} values (shape [${rows}, ${cols}]), got ${t.data.length}`);
  return [rows, cols];
}

function sortedJson(o: Json): string {
  const out: Json = {};
  for (const k of Object.keys(o).sort()) out[k] = o[k];
  return `${JSON.stringify(out, null, 2)}\n`;
}

/** Writes adapter_config.json (sorted keys) and adapter_model.safetensors, both staged then renamed. */
export async function writeAdapterFiles(fn: string, dir: string, config: Json, tensors: Map<string, { data: Float32Array; shape: readonly number[]; dtype: FloatDtype }>): Promise<void> {
  await mkdir(dir, { recursive: true });
  const cfgBytes = Buffer.from(sortedJson(config), "utf8");
  const writeWeights = safetensorsWriter(tensors, { format: "pt" }, fn);
  await writeAllAtomic([
    { target: path.join(dir, ADAPTER_WEIGHTS_NAME), write: writeWeights },
    { target: path.join(dir, ADAPTER_CONFIG_NAME), write: (fh: FileHandle) => writeFully(fh, cfgBytes, 0) },
  ]);
}

/**
 * Saves a LoRA adapter as PEFT does (adapter_config.json + adapter_model.safetensors with keys
 * `base_model.model.<module>.lora_A.weight` / `.lora_B.weight`). Both files are staged and then
 * renamed into place; on failure nothing in `dir` changes.
 */
export async function writeLoraAdapter(dir: string, input: LoraAdapterInput): Promise<void> {
  const fn = "writeLoraAdapter";
  if (!isObj(input)) throw new CtxwinError("ERR_ARG", `${fn}: adapter: expected an object, got ${show(input)}`);
  const alpha = input.loraAlpha;
  if (typeof alpha !== "number" || !Number.isFinite(alpha) || alpha <= 0) throw new CtxwinError("ERR_ARG", `${fn}: loraAlpha: expected a positive number, got ${show(alpha)}`);
  const dtype = input.dtype ?? "F32";
  if (dtype !== "F32" && dtype !== "BF16" && dtype !== "F16") throw new CtxwinError("ERR_DTYPE", `${fn}: dtype: expected "F32", "BF16" or "F16", got ${show(dtype)}`);
  const mods = entries(fn, "modules", input.modules).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let r = input.r;
  if (r !== undefined && (!Number.isSafeInteger(r) || r <= 0)) throw new CtxwinError("ERR_ARG", `${fn}: r: expected a positive integer, got ${show(r)}`);
  const tensors = new Map<string, { data: Float32Array; shape: readonly number[]; dtype: FloatDtype }>();
  for (const [mod, pair] of mods) {
    if (typeof mod !== "string" || mod.length === 0 || mod.startsWith(PREFIX)) {
      throw new CtxwinError("ERR_ARG", `${fn}: modules: expected module paths without "${PREFIX}" (e.g. "model.layers.0.self_attn.q_proj"), got ${show(mod)}`);
    }
    if (!isObj(pair)) throw new CtxwinError("ERR_ARG", `${fn}: modules[${JSON.stringify(mod)}]: expected { A, B }, got ${show(pair)}`);
    const [ar] = checkMatrix(fn, `modules[${JSON.stringify(mod)}].A`, pair.A);
    const [, bc] = checkMatrix(fn, `modules[${JSON.stringify(mod)}].B`, pair.B);
    r ??= ar;
    if (ar !== r || bc !== r) {
      throw new CtxwinError("ERR_SHAPE", `${fn}: modules[${JSON.stringify(mod)}]: expected rank ${r} (A [${r}, in], B [out, ${r}]), got A [${pair.A.shape.join(", ")}], B [${pair.B.shape.join(", ")}]`);
    }
    tensors.set(`${PREFIX}${mod}.lora_A.weight`, { data: pair.A.data, shape: pair.A.shape, dtype });
    tensors.set(`${PREFIX}${mod}.lora_B.weight`, { data: pair.B.data, shape: pair.B.shape, dtype });
  }
  const saved = entries(fn, "modulesToSave", input.modulesToSave);
  const savedModules = new Set<string>();
  for (const [param, t] of saved) {
    if (typeof param !== "string" || !param.includes(".") || param.startsWith(PREFIX)) {
      throw new CtxwinError("ERR_ARG", `${fn}: modulesToSave: expected parameter paths such as "lm_head.weight", got ${show(param)}`);
    }
    if (!isObj(t) || !(t.data instanceof Float32Array) || !Array.isArray(t.shape)) {
      throw new CtxwinError("ERR_ARG", `${fn}: modulesToSave[${JSON.stringify(param)}]: expected { data: Float32Array, shape }, got ${show(t)}`);
    }
    tensors.set(`${PREFIX}${param}`, { data: t.data, shape: t.shape, dtype });
    savedModules.add(param.slice(0, param.lastIndexOf(".")));
  }
  if (mods.length === 0) throw new CtxwinError("ERR_ARG", `${fn}: modules: expected at least one LoRA module, got none`);
  const targets = input.targetModules ?? [...new Set(mods.map(([m]) => m.slice(m.lastIndexOf(".") + 1)))].sort();
  const dropout = input.loraDropout ?? 0;
  if (typeof dropout !== "number" || !(dropout >= 0 && dropout < 1)) throw new CtxwinError("ERR_ARG", `${fn}: loraDropout: expected a number in [0, 1), got ${show(dropout)}`);
  const config: Json = {
    peft_type: "LORA",
    task_type: input.taskType ?? "CAUSAL_LM",
    r: r!,
    lora_alpha: alpha,
    lora_dropout: dropout,
    target_modules: targets,
    bias: "none",
    fan_in_fan_out: false,
    inference_mode: true,
    base_model_name_or_path: input.baseModelNameOrPath ?? null,
    modules_to_save: input.modulesToSaveNames ?? (savedModules.size ? [...savedModules].sort() : null),
    init_lora_weights: true,
    layers_to_transform: null,
    layers_pattern: null,
    revision: null,
    auto_mapping: null,
  };
  if (input.useRslora) config.use_rslora = true;
  await writeAdapterFiles(fn, dir, config, tensors);
}

/**
 * Saves a prefix-tuning adapter as PEFT does (peft_type PREFIX_TUNING, prefix_projection false,
 * `prompt_embeddings` [P, layers·2·Hkv·D]; num_attention_heads = Hkv and token_dim = Hkv·D, as
 * PEFT writes them for GQA models).
 */
export async function writePrefixAdapter(dir: string, input: PrefixAdapterInput): Promise<void> {
  const fn = "writePrefixAdapter";
  if (!isObj(input)) throw new CtxwinError("ERR_ARG", `${fn}: adapter: expected an object, got ${show(input)}`);
  for (const k of ["numVirtualTokens", "numLayers", "numKvHeads", "headDim"] as const) {
    const v = input[k];
    if (!Number.isSafeInteger(v) || v <= 0) throw new CtxwinError("ERR_ARG", `${fn}: ${k}: expected a positive integer, got ${show(v)}`);
  }
  const { numVirtualTokens: P, numLayers: L, numKvHeads: H, headDim: D } = input;
  const tokenDim = H * D;
  const dtype = input.dtype ?? "F32";
  if (dtype !== "F32" && dtype !== "BF16" && dtype !== "F16") throw new CtxwinError("ERR_DTYPE", `${fn}: dtype: expected "F32", "BF16" or "F16", got ${show(dtype)}`);
  const pe = input.promptEmbeddings;
  if (!(pe instanceof Float32Array) || pe.length !== P * L * 2 * tokenDim) {
    throw new CtxwinError(
      "ERR_SHAPE",
      `${fn}: promptEmbeddings: expected a Float32Array of ${P}·${L}·2·${H}·${D} = ${P * L * 2 * tokenDim} values, got ${show(pe)}${pe instanceof Float32Array ? ` of length ${pe.length}` : ""}`,
    );
  }
  const ehs = input.encoderHiddenSize ?? tokenDim;
  if (!Number.isSafeInteger(ehs) || ehs <= 0) throw new CtxwinError("ERR_ARG", `${fn}: encoderHiddenSize: expected a positive integer, got ${show(ehs)}`);
  const config: Json = {
    peft_type: "PREFIX_TUNING",
    task_type: input.taskType ?? "CAUSAL_LM",
    num_virtual_tokens: P,
    token_dim: tokenDim,
    num_transformer_submodules: 1,
    num_attention_heads: H,
    num_layers: L,
    encoder_hidden_size: ehs,
    prefix_projection: input.prefixProjection ?? false,
    modules_to_save: input.modulesToSaveNames ?? null,
    inference_mode: true,
    base_model_name_or_path: input.baseModelNameOrPath ?? null,
    revision: null,
    auto_mapping: null,
  };
  const tensors = new Map<string, { data: Float32Array; shape: readonly number[]; dtype: FloatDtype }>([["prompt_embeddings", { data: pe, shape: [P, L * 2 * tokenDim], dtype }]]);
  for (const [param, t] of input.modulesToSave ?? []) tensors.set(`${PROMPT_PREFIX}${param}`, { data: t.data, shape: t.shape, dtype });
  await writeAdapterFiles(fn, dir, config, tensors);
}
