/**
 * ctxwin's adapter format for prefixes PEFT cannot store: a prefix length per layer (the
 * variable-prefix probe). A directory like PEFT's, so the same tools find it:
 *
 *   adapter_config.json
 *     "peft_type": "CTXWIN_PREFIX", "format_version": 1,
 *     "task_type": "SEQ_CLS" | "TOKEN_CLS" | "FEATURE_EXTRACTION" | "CAUSAL_LM",
 *     "num_virtual_tokens": [P_0, ..., P_{L-1}]    one length per layer
 *     "num_layers": L, "num_attention_heads": Hkv (the key/value heads), "head_dim": D,
 *     "token_dim": Hkv·D, "modules_to_save": ["classifier", "score"] | null,
 *     "base_model_name_or_path": string | null
 *   adapter_model.safetensors
 *     "prefix.<l>.keys", "prefix.<l>.values"   [P_l, Hkv, D]   layer l's prefix, as prepended
 *     "base_model.<param>"                      head weights (modules_to_save), as PEFT's prompt-learning adapters
 *
 * The real tokens' positions start after layer 0's prefix (what transformers does with a cache
 * of these lengths: lib/models/encoder/model.ts).
 */
import path from "node:path";
import { readFile } from "node:fs/promises";
import { CtxwinError, show } from "../../errors.js";
import { openCheckpoint, type FloatDtype, type TensorData } from "./safetensors.js";
import { ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME, PROMPT_PREFIX, readPromptLearningHead, writeAdapterFiles } from "./peft.js";

export const CTXWIN_PREFIX_TYPE = "CTXWIN_PREFIX";

export interface CtxwinPrefixConfig {
  taskType: string | null;
  numVirtualTokens: number[];
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  modulesToSave: string[] | null;
  baseModelNameOrPath: string | null;
}

export interface CtxwinPrefixAdapter {
  type: "ctxwin-prefix";
  dir: string;
  config: CtxwinPrefixConfig;
  /** Per layer: keys and values [P_l, Hkv, D]. */
  layers: { keys: TensorData; values: TensorData }[];
  /** Parameter path → head weight (modules_to_save). */
  modulesToSave: Map<string, TensorData>;
}

export interface CtxwinPrefixInput {
  numKvHeads: number;
  headDim: number;
  /** Per layer: keys and values, P_l·Hkv·D values each. */
  layers: { keys: Float32Array; values: Float32Array; length: number }[];
  taskType: string;
  modulesToSave?: Map<string, { data: Float32Array; shape: readonly number[] }>;
  modulesToSaveNames?: string[] | null;
  baseModelNameOrPath?: string | null;
}

/** Writes a CTXWIN_PREFIX adapter (both files staged, then renamed: nothing half-written). */
export async function writeCtxwinPrefixAdapter(dir: string, input: CtxwinPrefixInput): Promise<void> {
  const fn = "writeCtxwinPrefixAdapter";
  const { numKvHeads: H, headDim: D } = input;
  const dtype: FloatDtype = "F32";
  const tensors = new Map<string, { data: Float32Array; shape: readonly number[]; dtype: FloatDtype }>();
  input.layers.forEach((l, i) => {
    if (!Number.isInteger(l.length) || l.length < 1 || l.keys.length !== l.length * H * D || l.values.length !== l.length * H * D) {
      throw new CtxwinError("ERR_SHAPE", `${fn}: layers[${i}]: expected keys and values of ${l.length}·${H}·${D} values, got ${l.keys.length} and ${l.values.length}`);
    }
    tensors.set(`prefix.${i}.keys`, { data: l.keys, shape: [l.length, H, D], dtype });
    tensors.set(`prefix.${i}.values`, { data: l.values, shape: [l.length, H, D], dtype });
  });
  for (const [param, t] of input.modulesToSave ?? []) tensors.set(`${PROMPT_PREFIX}${param}`, { data: t.data, shape: t.shape, dtype });
  const config = {
    peft_type: CTXWIN_PREFIX_TYPE,
    format_version: 1,
    task_type: input.taskType,
    num_virtual_tokens: input.layers.map((l) => l.length),
    num_layers: input.layers.length,
    num_attention_heads: H,
    head_dim: D,
    token_dim: H * D,
    modules_to_save: input.modulesToSaveNames ?? null,
    base_model_name_or_path: input.baseModelNameOrPath ?? null,
    inference_mode: true,
  };
  await writeAdapterFiles(fn, dir, config, tensors);
}

/** The peft_type of `<dir>/adapter_config.json` (null when absent or unreadable: the full reader reports it). */
export async function peekAdapterType(dir: string): Promise<unknown> {
  try {
    return (JSON.parse(await readFile(path.join(dir, ADAPTER_CONFIG_NAME), "utf8")) as { peft_type?: unknown })?.peft_type ?? null;
  } catch {
    return null;
  }
}

/** Reads a CTXWIN_PREFIX adapter, every field and tensor checked (ERR_FORMAT naming file and field). */
export async function readCtxwinPrefixAdapter(dir: string, fn = "loadEncoder"): Promise<CtxwinPrefixAdapter> {
  const file = path.join(dir, ADAPTER_CONFIG_NAME);
  const fail = (where: string, field: string, expected: string, got: unknown, gotIsText = false): never => {
    throw new CtxwinError("ERR_FORMAT", `${fn}: ${where}: ${field}: expected ${expected}, got ${gotIsText ? String(got) : got === undefined ? "nothing (missing)" : show(got)}`);
  };
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
  } catch (e) {
    return fail(file, "file", "a readable JSON adapter_config.json", (e as Error).message, true);
  }
  if (json.peft_type !== CTXWIN_PREFIX_TYPE) fail(file, "peft_type", JSON.stringify(CTXWIN_PREFIX_TYPE), json.peft_type);
  if (json.format_version !== 1) fail(file, "format_version", "1", json.format_version);
  const posInt = (k: string): number => {
    const v = json[k];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) fail(file, k, "a positive integer", v);
    return v as number;
  };
  const L = posInt("num_layers");
  const H = posInt("num_attention_heads");
  const D = posInt("head_dim");
  const lengths = json.num_virtual_tokens;
  if (!Array.isArray(lengths) || lengths.length !== L || !lengths.every((n) => Number.isSafeInteger(n) && n > 0)) {
    fail(file, "num_virtual_tokens", `an array of ${L} positive integers (one per layer)`, lengths);
  }
  const mts = json.modules_to_save ?? null;
  if (mts !== null && (!Array.isArray(mts) || !mts.every((x) => typeof x === "string"))) fail(file, "modules_to_save", "a list of strings or null", mts);
  const str = (k: string): string | null => {
    const v = json[k] ?? null;
    if (v !== null && typeof v !== "string") fail(file, k, "a string or null", v);
    return v as string | null;
  };
  const config: CtxwinPrefixConfig = {
    taskType: str("task_type"),
    numVirtualTokens: lengths as number[],
    numLayers: L,
    numKvHeads: H,
    headDim: D,
    modulesToSave: mts as string[] | null,
    baseModelNameOrPath: str("base_model_name_or_path"),
  };
  const weights = path.join(dir, ADAPTER_WEIGHTS_NAME);
  const ckpt = await openCheckpoint(weights, { fn });
  const layers: { keys: TensorData; values: TensorData }[] = [];
  const own: string[] = [];
  for (let l = 0; l < L; l++) {
    const kv: Partial<Record<"keys" | "values", TensorData>> = {};
    for (const which of ["keys", "values"] as const) {
      const name = `prefix.${l}.${which}`;
      own.push(name);
      const want = [config.numVirtualTokens[l]!, H, D];
      if (!ckpt.has(name)) fail(weights, `tensor ${JSON.stringify(name)}`, `shape [${want.join(", ")}]`, "no such tensor", true);
      const shape = ckpt.info(name).shape;
      if (shape.length !== 3 || shape.some((d, i) => d !== want[i])) fail(weights, `tensor ${JSON.stringify(name)}`, `shape [${want.join(", ")}] (num_virtual_tokens[${l}], heads, head_dim)`, `[${shape.join(", ")}]`, true);
      kv[which] = await ckpt.read(name);
    }
    layers.push(kv as { keys: TensorData; values: TensorData });
  }
  const ctx = { fail: (field: string, expected: string, got: unknown, gotIsText = false): never => fail(weights, field, expected, got, gotIsText) };
  const modulesToSave = await readPromptLearningHead(ctx, ckpt, config.modulesToSave, own);
  return { type: "ctxwin-prefix", dir, config, layers, modulesToSave };
}
