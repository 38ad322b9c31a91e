/**
 * loadEncoder / createEncoder / saveEncoder: BERT and RoBERTa checkpoints (config.json +
 * safetensors, single or sharded) ↔ Encoder.
 *
 * Names: the model's own (lib/models/encoder/model.ts). A checkpoint of the bare model
 * ("embeddings.…") loads into a model with a head ("bert.embeddings.…") and the other way round;
 * head weights the checkpoint lacks (a bare model given `head`) are initialised like
 * transformers (normal(0, initializer_range), zero bias) from `seed` (so is a pooler the checkpoint
 * lacks: a bare model from a RoBERTa or token-head checkpoint), and so are head weights of
 * another size when `head.numLabels` asks for another label count; checkpoint tensors the model
 * does not use (a pooler under a token head, an MLM head) are ignored, as transformers does.
 */
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { CtxwinError, show } from "../../errors.js";
import { Tensor, checkDevice, checkDType, defaultDevice, type Device, type DType } from "../../tensor.js";
import { Builder, randomInit, type WeightFactory } from "../../nn/init.js";
import { checkSeed } from "../../util/rng.js";
import { writeJsonAtomic } from "../../util/atomic.js";
import { openCheckpoint, readSafetensorsHeader, writeCheckpoint, type FloatDtype, type TensorInput } from "../io/safetensors.js";
import { ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME } from "../io/peft.js";
import { encoderConfigToJson, parseEncoderConfig, type EncoderConfig, type EncoderHeadKind } from "./config.js";
import { Encoder } from "./model.js";
import { applyEncoderAdapter } from "./adapter.js";

export interface EncoderHeadOptions {
  /** "sequence" (pooled [CLS] / <s>), "token" (every position), "mlm" (masked-LM logits) or "none" (drop the checkpoint's head). */
  kind: EncoderHeadKind;
  /** Number of labels (default: the checkpoint's num_labels / id2label, else 2). */
  numLabels?: number;
}

export interface LoadEncoderOptions {
  device?: Device;
  dtype?: DType;
  /** The head to build (default: the one config.json's `architectures` names). */
  head?: EncoderHeadOptions;
  /** Seed of the weights the checkpoint lacks (a new head). Default 0. */
  seed?: number;
  /**
   * An adapter directory applied on load: PEFT LoRA or PREFIX_TUNING (with its head weights,
   * modules_to_save), or ctxwin's CTXWIN_PREFIX (per-layer prefix lengths).
   */
  adapter?: string;
}

export interface CreateEncoderOptions {
  seed?: number;
  device?: Device;
  dtype?: DType;
}

const FILE_DTYPE: Record<DType, FloatDtype> = { f32: "F32", bf16: "BF16", f16: "F16" };
const TORCH_DTYPE: Record<DType, string> = { f32: "float32", bf16: "bfloat16", f16: "float16" };

function checkHead(fn: string, head: unknown): EncoderHeadOptions | undefined {
  if (head === undefined) return undefined;
  if (head === null || typeof head !== "object") throw new CtxwinError("ERR_ARG", `${fn}: opts.head: expected { kind, numLabels? }, got ${show(head)}`);
  const h = head as EncoderHeadOptions;
  if (!["none", "sequence", "token", "mlm"].includes(h.kind)) throw new CtxwinError("ERR_ARG", `${fn}: opts.head.kind: expected "none", "sequence", "token" or "mlm", got ${show(h.kind)}`);
  if (h.numLabels !== undefined && (!Number.isInteger(h.numLabels) || h.numLabels < 1)) {
    throw new CtxwinError("ERR_ARG", `${fn}: opts.head.numLabels: expected a positive integer, got ${show(h.numLabels)}`);
  }
  return h;
}

/**
 * The head a classification adapter was trained with (PEFT task_type SEQ_CLS / TOKEN_CLS and its
 * saved classifier weight [numLabels, d]), for a bare checkpoint loaded with it (a checkpoint
 * with a head keeps it, and the adapter must fit it); undefined when the adapter says nothing
 * about one (its own loading reports bad files).
 */
async function headOfAdapter(dir: string): Promise<EncoderHeadOptions | undefined> {
  let cfg: { task_type?: unknown };
  try {
    cfg = JSON.parse(await readFile(path.join(dir, ADAPTER_CONFIG_NAME), "utf8")) as { task_type?: unknown };
  } catch {
    return undefined;
  }
  const kind = cfg.task_type === "SEQ_CLS" ? "sequence" : cfg.task_type === "TOKEN_CLS" ? "token" : null;
  if (!kind) return undefined;
  try {
    const header = await readSafetensorsHeader(path.join(dir, ADAPTER_WEIGHTS_NAME));
    for (const [name, t] of Object.entries(header.tensors)) {
      if (/(^|\.)classifier(\.modules_to_save\.default)?(\.out_proj)?\.weight$/.test(name) && t.shape.length === 2) return { kind, numLabels: t.shape[0]! };
    }
  } catch {
    return undefined;
  }
  return { kind };
}

/** Reads `<dir>/config.json` as an encoder config (ERR_FORMAT naming the file and field). */
export async function readEncoderConfig(dir: string, fn = "loadEncoder", head?: EncoderHeadOptions): Promise<EncoderConfig> {
  const file = path.join(dir, "config.json");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new CtxwinError("ERR_FORMAT", `${fn}: ${file}: file: expected an HF config.json, got ${code === "ENOENT" ? "no such file" : `an unreadable file (${(e as Error).message})`}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CtxwinError("ERR_FORMAT", `${fn}: ${file}: file: expected valid JSON, got a parse error (${(e as Error).message})`);
  }
  return parseEncoderConfig(json, file, fn, head);
}

/** Loads a BERT / RoBERTa checkpoint directory (config.json + model.safetensors or shards). */
export async function loadEncoder(dir: string, opts: LoadEncoderOptions = {}): Promise<Encoder> {
  const fn = "loadEncoder";
  if (typeof dir !== "string" || dir.length === 0) throw new CtxwinError("ERR_ARG", `${fn}: dir: expected a checkpoint directory path, got ${show(dir)}`);
  if (opts === null || typeof opts !== "object") throw new CtxwinError("ERR_ARG", `${fn}: opts: expected an object, got ${show(opts)}`);
  const device = checkDevice(fn, "opts.device", opts.device ?? defaultDevice());
  const dtype = checkDType(fn, "opts.dtype", opts.dtype ?? "f32");
  const seed = checkSeed(fn, opts.seed ?? 0, "opts.seed");
  const head = checkHead(fn, opts.head);
  if (opts.adapter !== undefined && (typeof opts.adapter !== "string" || opts.adapter.length === 0)) {
    throw new CtxwinError("ERR_ARG", `${fn}: opts.adapter: expected an adapter directory path, got ${show(opts.adapter)}`);
  }
  let config = await readEncoderConfig(dir, fn, head);
  if (opts.adapter !== undefined && head === undefined && config.head === "none") {
    // a bare checkpoint takes the head its classification adapter was trained with
    const adapterHead = await headOfAdapter(opts.adapter);
    if (adapterHead) config = await readEncoderConfig(dir, fn, adapterHead);
  }
  const ckpt = await openCheckpoint(dir, { fn });
  const prefix = `${config.modelType}.`;
  // dry build: the names and shapes the model needs
  const specs: { name: string; shape: number[]; kind: Parameters<WeightFactory>[2] }[] = [];
  new Encoder(config, new Builder((name, shape, kind) => {
    specs.push({ name, shape: [...shape], kind });
    return Tensor.from(new Float32Array(0), [0], { device: "cpu" });
  })).dispose();
  const fresh = randomInit({ seed, std: config.initializerRange, device, dtype });
  const tensors = new Map<string, Tensor>();
  try {
    for (const s of specs) {
      const candidates = [s.name, s.name.startsWith(prefix) ? s.name.slice(prefix.length) : prefix + s.name];
      const src = candidates.find((n) => ckpt.has(n));
      const isHead = /^(classifier|cls|lm_head)\./.test(s.name);
      if (!src) {
        // a new head, or the pooler of a model loaded from a checkpoint without one (HF inits both)
        if (isHead || /(^|\.)pooler\.dense\./.test(s.name)) {
          tensors.set(s.name, fresh(s.name, s.shape, s.kind));
          continue;
        }
        throw new CtxwinError("ERR_FORMAT", `${fn}: tensor ${s.name}: expected shape [${s.shape.join(", ")}], got no such tensor in ${ckpt.dir}`);
      }
      const info = ckpt.info(src);
      const mismatch = info.shape.length !== s.shape.length || info.shape.some((d, i) => d !== s.shape[i]);
      if (mismatch && isHead && head?.numLabels !== undefined) {
        // another label count than the checkpoint's head, asked for: a new head (HF's ignore_mismatched_sizes)
        tensors.set(s.name, fresh(s.name, s.shape, s.kind));
        continue;
      }
      if (mismatch) {
        throw new CtxwinError("ERR_FORMAT", `${fn}: tensor ${src}: expected shape [${s.shape.join(", ")}], got [${info.shape.join(", ")}] (in ${ckpt.dir})`);
      }
      const td = await ckpt.read(src);
      const t = Tensor.from(td.data, td.shape, { device });
      if (t.dtype === dtype) tensors.set(s.name, t);
      else {
        tensors.set(s.name, t.to(dtype));
        t.dispose();
      }
    }
    const model = new Encoder(config, new Builder((name) => {
      const t = tensors.get(name);
      if (!t) throw new CtxwinError("ERR_INTERNAL", `${fn}: weight ${name} was not prepared`);
      tensors.delete(name);
      return t;
    }));
    if (opts.adapter !== undefined) {
      try {
        await applyEncoderAdapter(model, opts.adapter, fn);
      } catch (e) {
        model.dispose();
        throw e;
      }
    }
    return model;
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

/** A randomly initialised encoder (HF-style init, seeded) from an EncoderConfig or a config.json object. */
export function createEncoder(config: EncoderConfig | Record<string, unknown>, opts: CreateEncoderOptions = {}): Encoder {
  const fn = "createEncoder";
  const c: EncoderConfig = "modelType" in config ? (config as EncoderConfig) : parseEncoderConfig(config, "config", fn);
  const seed = checkSeed(fn, opts.seed ?? 0, "opts.seed");
  const device = checkDevice(fn, "opts.device", opts.device ?? defaultDevice());
  const dtype = checkDType(fn, "opts.dtype", opts.dtype ?? "f32");
  return new Encoder(c, new Builder(randomInit({ seed, std: c.initializerRange, device, dtype })));
}

/** Writes config.json and the weights (HF names, so transformers' Auto classes load the directory). */
export async function saveEncoder(model: Encoder, dir: string, opts: { dtype?: DType; maxShardBytes?: number } = {}): Promise<void> {
  const fn = "saveModel";
  if (typeof dir !== "string" || dir.length === 0) throw new CtxwinError("ERR_ARG", `${fn}: dir: expected a directory path, got ${show(dir)}`);
  const dtype = opts.dtype ?? model.dtype;
  const fileDtype = FILE_DTYPE[dtype];
  if (!fileDtype) throw new CtxwinError("ERR_DTYPE", `${fn}: dtype: expected "f32", "bf16" or "f16", got ${show(dtype)}`);
  const tensors = new Map<string, TensorInput>();
  for (const [name, p] of model.namedParameters()) {
    if (/\.lora_[AB]\.weight$/.test(name) || /\.prefix_(keys|values)$/.test(name) || name.startsWith("prefix_encoder.")) continue;
    tensors.set(name, { shape: [...p.value.shape], dtype: fileDtype, data: () => p.value.data() });
  }
  await mkdir(dir, { recursive: true });
  await writeCheckpoint(dir, tensors, { maxShardBytes: opts.maxShardBytes });
  const c = model.config;
  await writeJsonAtomic(path.join(dir, "config.json"), encoderConfigToJson({ ...c, extra: { ...c.extra, ["torch_dtype" in c.extra ? "torch_dtype" : "dtype"]: TORCH_DTYPE[dtype] } }));
}
