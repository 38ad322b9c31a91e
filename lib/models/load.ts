/**
 * loadModel / createModel: HF checkpoint directories (and seeded random init) → LlamaLike / Bloom
 * (saving: lib/models/save.ts).
 *
 * Loading: config.json → ArchConfig; the model is first built "dry" to list every weight it
 * needs (full internal name, shape, kind); each weight is then read from the safetensors files
 * (by its HF name — BLOOM's q/k/v come from the fused query_key_value, split per head from the
 * [H, 3, D] layout), LoRA deltas are merged in f32 ((alpha/r)·B·A, before the BLOOM split), the
 * result is cast to the requested dtype on the requested device, and the real model is built from
 * those tensors. Missing or mis-shaped tensors throw ERR_FORMAT naming the tensor, the expected
 * and the actual shape.
 */
import { CtxwinError, show } from "../errors.js";
import { Tensor, checkDevice, checkDType, defaultDevice, numel, type Device, type DType } from "../tensor.js";
import { resolvePositional, type Positional } from "../positional.js";
import * as ops from "../ops/index.js";
import { Builder, randomInit, type WeightFactory, type WeightKind } from "../nn/init.js";
import { checkSeed } from "../util/rng.js";
import { archFromConfig, completeArch, mergePositional, type ArchConfig, type ArchConfigInput } from "./arch.js";
import { CausalLM } from "./causal_lm.js";
import { LlamaLike } from "./llama/model.js";
import { Bloom } from "./bloom/model.js";
import { bloomSourceOf, bloomHfName, bloomCanonical } from "./bloom/names.js";
import { readConfig } from "./io/config.js";
import { isEncoderConfig } from "./encoder/config.js";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { openCheckpoint, type Checkpoint, type TensorData } from "./io/safetensors.js";
import { readAdapter, type LoraAdapter, type PeftAdapter } from "./io/peft.js";

export interface LoadModelOptions {
  device?: Device;
  dtype?: DType;
  /** Replaces the checkpoint's positional scheme (rope fields left out come from the checkpoint). */
  positional?: Positional;
  /** A PEFT adapter directory (LoRA or PREFIX_TUNING) applied on load. */
  adapter?: string;
}

export interface CreateModelOptions {
  seed?: number;
  device?: Device;
  dtype?: DType;
}

/** Builds the family's model class from weights handed out by `factory`. */
export function buildModel(arch: ArchConfig, factory: WeightFactory): CausalLM {
  const b = new Builder(factory);
  if (arch.family === "llama") return new LlamaLike(arch, b);
  if (arch.family === "bloom") return new Bloom(arch, b);
  throw new CtxwinError("ERR_ARG", `buildModel: config.family: expected "llama" or "bloom", got ${JSON.stringify((arch as ArchConfig).family)}`);
}

export interface WeightSpec {
  name: string;
  shape: number[];
  kind: WeightKind;
}

/** Every weight a model of `arch` has (internal names, in construction order), without allocating them. */
export function weightSpecs(arch: ArchConfig): WeightSpec[] {
  const specs: WeightSpec[] = [];
  using dummy = Tensor.from([0], [1]);
  buildModel(arch, (name, shape, kind) => {
    specs.push({ name, shape: [...shape], kind });
    return dummy;
  });
  return specs;
}

/** A model with seeded HF-style random weights (normal(0, initializerRange), norms 1, biases 0). */
export function createModel(config: ArchConfigInput | ArchConfig, opts: CreateModelOptions = {}): CausalLM {
  const arch = completeArch(config);
  const device = checkDevice("createModel", "opts.device", opts.device ?? defaultDevice());
  const dtype = checkDType("createModel", "opts.dtype", opts.dtype ?? "f32");
  resolvePositional("createModel: config", arch.positional, arch.numHeads, arch.headDim);
  return buildModel(arch, randomInit({ seed: checkSeed("createModel", opts.seed ?? 0, "opts.seed"), std: arch.initializerRange, device, dtype }));
}

function shapeStr(s: readonly number[]): string {
  return `[${s.join(", ")}]`;
}

/** Loads an HF checkpoint directory (config.json + safetensors) as a LlamaLike or Bloom. */
export async function loadModel(dir: string, opts: LoadModelOptions = {}): Promise<CausalLM> {
  const fn = "loadModel";
  if (typeof dir !== "string" || dir.length === 0) throw new CtxwinError("ERR_ARG", `${fn}: dir: expected a checkpoint directory path, got ${JSON.stringify(dir)}`);
  if (opts === null || typeof opts !== "object") throw new CtxwinError("ERR_ARG", `${fn}: opts: expected an object, got ${show(opts)}`);
  const device = checkDevice(fn, "opts.device", opts.device ?? defaultDevice());
  const dtype = checkDType(fn, "opts.dtype", opts.dtype ?? "f32");
  if (opts.adapter !== undefined && (typeof opts.adapter !== "string" || opts.adapter.length === 0)) {
    throw new CtxwinError("ERR_ARG", `${fn}: opts.adapter: expected a PEFT adapter directory path, got ${JSON.stringify(opts.adapter)}`);
  }
  const raw = await peekConfig(dir, fn);
  const arch = archFromConfig(await readConfig(dir, fn));
  const positional = mergePositional(arch.positional, opts.positional);
  resolvePositional(`${fn}: opts`, positional, arch.numHeads, arch.headDim); // clear errors now, not at the first forward
  const ckpt = await openCheckpoint(dir, { fn });
  // HF *ForSequenceClassification / *ForTokenClassification checkpoints have a `score` head and no
  // LM head: tie the LM head to the embeddings (DecoderClassifier.loadScore reads the score)
  const archName = Array.isArray(raw?.architectures) ? raw.architectures[0] : null;
  if (typeof archName === "string" && /For(Sequence|Token)Classification$/.test(archName) && !arch.tieWordEmbeddings && !ckpt.has("lm_head.weight")) {
    arch.tieWordEmbeddings = true;
  }
  const adapter = opts.adapter !== undefined ? await readAdapter(opts.adapter, fn) : null;
  if (adapter?.type === "prefix") checkPrefixAdapter(adapter.config, arch, adapter.dir);
  if (adapter?.type === "prefix" && adapter.modulesToSave.size > 0) {
    throw new CtxwinError("ERR_FORMAT", `${fn}: ${adapter.dir}: modules_to_save: expected no head weights for a decoder language model, got ${[...adapter.modulesToSave.keys()].join(", ")} (a classification adapter: load its encoder with loadEncoder(dir, { adapter }))`);
  }
  const specs = weightSpecs(arch);
  const tensors = await readWeights(ckpt, arch, specs, adapter?.type === "lora" ? adapter : null, device, dtype);
  let model: CausalLM;
  try {
    model = buildModel(arch, (name, shape) => {
      const t = tensors.get(name);
      if (!t) throw new CtxwinError("ERR_INTERNAL", `${fn}: weight ${name} was not prepared`);
      tensors.delete(name);
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        throw new CtxwinError("ERR_INTERNAL", `${fn}: weight ${name}: prepared shape ${shapeStr(t.shape)}, model expects ${shapeStr(shape)}`);
      }
      return t;
    });
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
  model.positional = positional;
  if (adapter?.type === "prefix") {
    const per = [];
    for (let l = 0; l < arch.numLayers; l++) {
      const kv = adapter.prefixKeyValues(l);
      per.push({
        keys: cast(Tensor.from(kv.keys.data, kv.keys.shape, { device }), dtype),
        values: cast(Tensor.from(kv.values.data, kv.values.shape, { device }), dtype),
      });
    }
    model.setPrefix(per);
  }
  return model;
}

/**
 * The raw config.json (null when unreadable: readConfig reports it). An encoder checkpoint given
 * to loadModel: says which function loads it (loadModel returns a CausalLM).
 */
async function peekConfig(dir: string, fn: string): Promise<{ architectures?: unknown } | null> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path.join(dir, "config.json"), "utf8"));
  } catch {
    return null;
  }
  if (isEncoderConfig(json)) {
    const mt = (json as { model_type: string }).model_type;
    throw new CtxwinError("ERR_ARG", `${fn}: ${path.join(dir, "config.json")}: model_type: expected a decoder (llama, mistral, qwen2, bloom), got ${JSON.stringify(mt)}: load encoders with loadEncoder(dir)`);
  }
  return json !== null && typeof json === "object" ? (json as { architectures?: unknown }) : null;
}

function checkPrefixAdapter(c: Extract<PeftAdapter, { type: "prefix" }>["config"], arch: ArchConfig, dir: string): void {
  const where = `loadModel: ${dir}/adapter_config.json`;
  if (c.numLayers !== arch.numLayers) throw new CtxwinError("ERR_FORMAT", `${where}: num_layers: expected ${arch.numLayers} (the model's layers), got ${c.numLayers}`);
  if (c.tokenDim !== arch.numKvHeads * arch.headDim) {
    throw new CtxwinError("ERR_FORMAT", `${where}: token_dim: expected ${arch.numKvHeads * arch.headDim} (key/value heads ${arch.numKvHeads} · head_dim ${arch.headDim}), got ${c.tokenDim}`);
  }
  if (c.numKvHeads !== arch.numKvHeads) {
    throw new CtxwinError("ERR_FORMAT", `${where}: num_attention_heads: expected ${arch.numKvHeads} (the model's key/value heads), got ${c.numKvHeads}`);
  }
}

/** Module/parameter name normalisation for matching adapters to checkpoint names. */
function canon(name: string, arch: ArchConfig): string {
  return arch.family === "bloom" ? bloomCanonical(name) : name;
}

/** LoRA deltas by canonical weight name ("<module>.weight"), and modules_to_save replacements. */
function indexLora(adapter: LoraAdapter, arch: ArchConfig, ckpt: Checkpoint) {
  const deltas = new Map<string, { module: string; A: TensorData; B: TensorData; scale: number }>();
  for (const [mod, w] of adapter.modules) {
    let key = canon(`${mod}.weight`, arch);
    // an adapter trained on the bare decoder ("layers.0...") against a "model."-prefixed checkpoint
    if (arch.family === "llama" && !ckpt.has(key) && ckpt.has(`model.${key}`)) key = `model.${key}`;
    deltas.set(key, { module: mod, A: w.A, B: w.B, scale: w.scale });
  }
  const replace = new Map<string, { param: string; t: TensorData }>();
  for (const [param, t] of adapter.modulesToSave) replace.set(canon(param, arch), { param, t });
  return { deltas, replace };
}

/**
 * Reads every weight in `specs` from the checkpoint (HF names), merges LoRA deltas (f32, on the
 * device, before BLOOM's split), splits BLOOM's fused q/k/v, casts to dtype. Throws ERR_FORMAT on
 * missing / mis-shaped tensors and on adapter modules the model does not have.
 */
async function readWeights(ckpt: Checkpoint, arch: ArchConfig, specs: WeightSpec[], adapter: LoraAdapter | null, device: Device, dtype: DType): Promise<Map<string, Tensor>> {
  const out = new Map<string, Tensor>();
  const bloomPrefix = arch.family === "bloom" ? detectBloomPrefix(ckpt) : "";
  const lora = adapter ? indexLora(adapter, arch, ckpt) : null;
  const used = new Set<string>();
  const fused = new Map<string, { t: Tensor; left: number }>();
  const loadRaw = async (hfName: string, expected: readonly number[]): Promise<Tensor> => {
    const key = canon(hfName, arch);
    const rep = lora?.replace.get(key);
    let t: Tensor;
    if (rep) {
      used.add(`save:${rep.param}`);
      checkShape(`${adapter!.dir}: modules_to_save ${rep.param}`, rep.t.shape, expected);
      t = Tensor.from(rep.t.data, rep.t.shape, { device });
    } else {
      if (!ckpt.has(hfName)) {
        throw new CtxwinError("ERR_FORMAT", `loadModel: tensor ${hfName}: expected shape ${shapeStr(expected)}, got no such tensor in ${ckpt.dir}`);
      }
      checkShape(`tensor ${hfName}`, ckpt.info(hfName).shape, expected, ckpt.dir);
      const td = await ckpt.read(hfName);
      t = Tensor.from(td.data, td.shape, { device });
    }
    const d = lora?.deltas.get(key);
    if (d) {
      used.add(`lora:${d.module}`);
      const [out, inF] = expected as [number, number];
      if (expected.length !== 2 || d.A.shape[1] !== inF || d.B.shape[0] !== out) {
        throw new CtxwinError(
          "ERR_FORMAT",
          `loadModel: ${adapter!.dir}: module ${d.module}: expected lora_A [r, ${inF}] and lora_B [${out}, r] (the weight is ${shapeStr(expected)}), got lora_A ${shapeStr(d.A.shape)}, lora_B ${shapeStr(d.B.shape)}`,
        );
      }
      using A = Tensor.from(d.A.data, d.A.shape, { device });
      using B = Tensor.from(d.B.data, d.B.shape, { device });
      using base = t;
      t = ops.matmul(B, A, { alpha: d.scale, beta: 1, c: base });
    }
    return t;
  };
  try {
    for (const spec of specs) {
      if (arch.family === "bloom") {
        const s = bloomSourceOf(spec.name, arch);
        if (s.split !== null) {
          const hf = bloomHfName(s.hfName, bloomPrefix);
          let entry = fused.get(hf);
          if (!entry) {
            entry = { t: await loadRaw(hf, s.hfShape), left: 3 };
            fused.set(hf, entry);
          }
          const part = splitQkv(entry.t, arch.numHeads, arch.headDim, s.split);
          if (--entry.left === 0) {
            entry.t.dispose();
            fused.delete(hf);
          }
          out.set(spec.name, cast(part, dtype));
          continue;
        }
        out.set(spec.name, cast(await loadRaw(bloomHfName(spec.name, bloomPrefix), spec.shape), dtype));
        continue;
      }
      out.set(spec.name, cast(await loadRaw(spec.name, spec.shape), dtype));
    }
    if (adapter) {
      const unused = [...adapter.modules.keys()].filter((m) => !used.has(`lora:${m}`));
      unused.push(...[...adapter.modulesToSave.keys()].filter((p) => !used.has(`save:${p}`)));
      if (unused.length) {
        throw new CtxwinError(
          "ERR_FORMAT",
          `loadModel: ${adapter.dir}: modules: expected modules of the model, got ${unused.length} the model does not have (${unused.slice(0, 4).join(", ")}${unused.length > 4 ? ", ..." : ""})`,
        );
      }
    }
    return out;
  } catch (e) {
    for (const t of out.values()) t.dispose();
    for (const f of fused.values()) f.t.dispose();
    throw e;
  }
}

function checkShape(what: string, got: readonly number[], expected: readonly number[], where?: string): void {
  if (got.length !== expected.length || got.some((d, i) => d !== expected[i])) {
    throw new CtxwinError("ERR_FORMAT", `loadModel: ${what}: expected shape ${shapeStr(expected)}, got ${shapeStr(got)}${where ? ` (in ${where})` : ""}`);
  }
}

function detectBloomPrefix(ckpt: Checkpoint): string {
  if (ckpt.has("transformer.word_embeddings.weight")) return "transformer.";
  if (ckpt.has("word_embeddings.weight")) return "";
  throw new CtxwinError("ERR_FORMAT", `loadModel: tensor transformer.word_embeddings.weight: expected a BLOOM embedding matrix (with or without the "transformer." prefix), got no such tensor in ${ckpt.dir}`);
}

/** Rows of q (0), k (1) or v (2) of a fused [H·3·D, d] weight or [H·3·D] bias ([H, 3, D] per head). */
function splitQkv(t: Tensor, H: number, D: number, which: 0 | 1 | 2): Tensor {
  const rest = numel(t.shape) / (H * 3 * D);
  using v = t.reshape([H, 3, D * rest]);
  using s = ops.slice(v, 1, which, which + 1);
  return s.reshape(t.shape.length === 1 ? [H * D] : [H * D, rest]);
}

function cast(t: Tensor, dtype: DType): Tensor {
  if (t.dtype === dtype) return t;
  const c = t.to(dtype);
  t.dispose();
  return c;
}
