/**
 * Classification heads on decoders (CausalLM): HF's LlamaForSequenceClassification /
 * ForTokenClassification layout, a `score` Linear [numLabels, d] on the final hidden states
 * (after the final norm):
 *   sequence: the last real token of each right-padded sequence (position keyLengths[b] − 1),
 *             picked with a gather (F.gatherRows) → [B, numLabels]; no bias (as HF)
 *   token:    every position → [B, T, numLabels]; with bias (as HF's token head)
 * Encoders carry their heads themselves (Encoder.logits / loss: BERT's classifier on the pooler
 * output, RoBERTa's dense + tanh + out_proj on <s>, per-token classifier).
 *
 * The head is a Module of its own (parameter "score.weight" [+ "score.bias"]); train it with the
 * model's parameters: new AdamW([...model.namedParameters(), ...head.namedParameters()]).
 */
import { CtxwinError, show } from "../errors.js";
import { IGNORE_INDEX } from "../defaults.js";
import { noGrad, Parameter, tidy, Variable } from "../nn/autograd.js";
import * as F from "../nn/functional.js";
import { Builder, randomInit } from "../nn/init.js";
import { Linear } from "../nn/layers.js";
import { Module } from "../nn/module.js";
import { checkSeed } from "../util/rng.js";
import { Tensor } from "../tensor.js";
import type { CausalLM } from "./causal_lm.js";
import { classificationTargets } from "./encoder/model.js";
import { openCheckpoint } from "./io/safetensors.js";
import { loadModel, type LoadModelOptions } from "./load.js";
import { saveCausalLM, type SaveModelOptions } from "./save.js";
import { readFile } from "node:fs/promises";
import path from "node:path";

export interface DecoderHeadOptions {
  kind: "sequence" | "token";
  numLabels: number;
  /** Seed of the head's init (normal(0, the model's initializer_range)). Default 0. */
  seed?: number;
  /** A bias on score (default: false for sequence heads, true for token heads, as HF). */
  bias?: boolean;
}

export interface HeadForwardOptions {
  /** Right padding: sequence b's tokens are its first keyLengths[b] positions. */
  keyLengths?: readonly number[];
}

export class DecoderClassifier extends Module {
  readonly kind: "sequence" | "token";
  readonly numLabels: number;
  readonly score: Linear;
  readonly #model: CausalLM;

  constructor(model: CausalLM, opts: DecoderHeadOptions) {
    super();
    const fn = "DecoderClassifier";
    if (opts === null || typeof opts !== "object") throw new CtxwinError("ERR_ARG", `${fn}: opts: expected { kind, numLabels }, got ${show(opts)}`);
    if (opts.kind !== "sequence" && opts.kind !== "token") throw new CtxwinError("ERR_ARG", `${fn}: opts.kind: expected "sequence" or "token", got ${show(opts.kind)}`);
    if (!Number.isInteger(opts.numLabels) || opts.numLabels < 1) throw new CtxwinError("ERR_ARG", `${fn}: opts.numLabels: expected a positive integer, got ${show(opts.numLabels)}`);
    const seed = checkSeed(fn, opts.seed ?? 0, "opts.seed");
    this.#model = model;
    this.kind = opts.kind;
    this.numLabels = opts.numLabels;
    const d = model.config.hiddenSize;
    const init = randomInit({ seed, std: model.config.initializerRange, device: model.device, dtype: model.dtype });
    this.score = this.module("score", new Linear(new Builder(init, "score"), d, opts.numLabels, { bias: opts.bias ?? opts.kind === "token" }));
  }

  get model(): CausalLM {
    return this.#model;
  }

  /** Sequence heads: [B, numLabels] at each sequence's last real token; token heads: [B, T, numLabels]. */
  logits(ids: readonly (readonly number[])[], opts: HeadForwardOptions = {}): Variable {
    return tidy(() => {
      const h = this.#model.hidden(ids, { keyLengths: opts.keyLengths });
      if (this.kind === "token") return this.score.forward(h);
      const [B, T, d] = h.shape as [number, number, number];
      const rows = Array.from({ length: B }, (_, b) => b * T + (opts.keyLengths?.[b] ?? T) - 1);
      return this.score.forward(F.gatherRows(F.reshape(h, [B * T, d]), rows));
    });
  }

  /**
   * Mean cross-entropy: sequence heads one label per sequence, token heads one per position
   * (ignoreIndex for sub-word continuations; positions past keyLengths are never scored).
   */
  loss(ids: readonly (readonly number[])[], labels: readonly number[] | readonly (readonly number[])[], opts: HeadForwardOptions & { ignoreIndex?: number } = {}): Variable {
    const ignore = opts.ignoreIndex ?? IGNORE_INDEX;
    const flat = classificationTargets("DecoderClassifier.loss", this.kind, labels, ids.length, ids[0]?.length ?? 0, this.numLabels, ignore, opts.keyLengths);
    return tidy(() => F.crossEntropy(F.reshape(this.logits(ids, opts), [flat.length, this.numLabels]), flat, { ignoreIndex: ignore }));
  }

  /** Reads score.weight (and score.bias) from an HF *ForSequenceClassification / *ForTokenClassification checkpoint. */
  async loadScore(dir: string): Promise<void> {
    const fn = "DecoderClassifier.loadScore";
    const ckpt = await openCheckpoint(dir, { fn });
    const load = async (name: string, p: Parameter): Promise<void> => {
      if (!ckpt.has(name)) throw new CtxwinError("ERR_FORMAT", `${fn}: tensor ${name}: expected shape [${p.shape.join(", ")}], got no such tensor in ${ckpt.dir}`);
      const td = await ckpt.read(name);
      if (td.shape.length !== p.shape.length || td.shape.some((s, i) => s !== p.shape[i])) {
        throw new CtxwinError("ERR_FORMAT", `${fn}: tensor ${name}: expected shape [${p.shape.join(", ")}], got [${td.shape.join(", ")}] (in ${ckpt.dir})`);
      }
      p.set(Tensor.from(td.data, td.shape, { device: p.value.device, dtype: p.value.dtype }));
    };
    await load("score.weight", this.score.weight);
    if (this.score.bias) await load("score.bias", this.score.bias);
  }
}

/** Argmax over the last dim of logits [..., L] → flat predicted labels. */
export async function predictLabels(logits: Variable | Tensor): Promise<number[]> {
  const t = logits instanceof Variable ? logits.value : logits;
  const L = t.shape[t.shape.length - 1]!;
  const data = await t.data();
  const out: number[] = [];
  for (let i = 0; i < data.length; i += L) {
    let best = 0;
    for (let j = 1; j < L; j++) if (data[i + j]! > data[i + best]!) best = j;
    out.push(best);
  }
  return out;
}

/** Predictions of an encoder or decoder head without recording: argmax labels (flat, row-major). */
export async function predict(head: { logits(ids: readonly (readonly number[])[], opts?: HeadForwardOptions): Variable }, ids: readonly (readonly number[])[], opts: HeadForwardOptions = {}): Promise<number[]> {
  const lg = noGrad(() => head.logits(ids, opts));
  try {
    return await predictLabels(lg);
  } finally {
    lg.release();
  }
}

export interface LoadDecoderClassifierOptions extends LoadModelOptions {
  /** The head (default: the one config.json's `architectures` names, with its num_labels). */
  head?: { kind: "sequence" | "token"; numLabels?: number };
  /** Seed of a head the checkpoint lacks. Default 0. */
  seed?: number;
}

/**
 * A decoder with its classification head from an HF checkpoint directory: an
 * *ForSequenceClassification / *ForTokenClassification checkpoint (score read from it), or a
 * causal LM with `head` given (score seeded). The model is `head.model`.
 */
export async function loadDecoderClassifier(dir: string, opts: LoadDecoderClassifierOptions = {}): Promise<DecoderClassifier> {
  const fn = "loadDecoderClassifier";
  const { head: want, seed, ...modelOpts } = opts;
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(await readFile(path.join(dir, "config.json"), "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new CtxwinError("ERR_FORMAT", `${fn}: ${path.join(dir, "config.json")}: file: expected an HF config.json, got ${(e as Error).message}`);
  }
  const a = Array.isArray(json.architectures) ? String(json.architectures[0]) : "";
  const fileKind = /ForSequenceClassification$/.test(a) ? "sequence" : /ForTokenClassification$/.test(a) ? "token" : null;
  const kind = want?.kind ?? fileKind;
  if (!kind) throw new CtxwinError("ERR_ARG", `${fn}: opts.head: expected { kind: "sequence" | "token" } (config.json's architectures ${show(json.architectures)} names no classification head), got none`);
  const fileLabels = typeof json.num_labels === "number" ? json.num_labels : json.id2label && typeof json.id2label === "object" ? Object.keys(json.id2label).length : undefined;
  const numLabels = want?.numLabels ?? fileLabels ?? 2;
  const model = await loadModel(dir, modelOpts);
  try {
    const head = new DecoderClassifier(model, { kind, numLabels, seed });
    if (fileKind === kind && (want?.numLabels === undefined || want.numLabels === fileLabels)) await head.loadScore(dir);
    return head;
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/**
 * Writes the model and its head as an HF *ForSequenceClassification / *ForTokenClassification
 * checkpoint (model weights, `score.weight` [+ `score.bias`], config.json with architectures and
 * num_labels / id2label), which transformers' AutoModelFor… classes and loadDecoderClassifier
 * load. The LM head is written as the model has it (tied or not; HF's classification classes
 * ignore an lm_head tensor).
 */
export async function saveDecoderClassifier(head: DecoderClassifier, dir: string, opts: SaveModelOptions = {}): Promise<void> {
  const model = head.model;
  const fam = model.config.modelType;
  const base = ({ llama: "Llama", mistral: "Mistral", qwen2: "Qwen2", bloom: "Bloom" } as Record<string, string>)[fam];
  if (!base) throw new CtxwinError("ERR_ARG", `saveDecoderClassifier: head.model: expected a llama, mistral, qwen2 or bloom model, got model type ${show(fam)}`);
  const id2label: Record<string, string> = {};
  const label2id: Record<string, number> = {};
  for (let i = 0; i < head.numLabels; i++) {
    id2label[String(i)] = `LABEL_${i}`;
    label2id[`LABEL_${i}`] = i;
  }
  await saveCausalLM(model, dir, opts, {
    params: head.namedParameters(),
    configPatch: {
      architectures: [`${base}For${head.kind === "sequence" ? "Sequence" : "Token"}Classification`],
      num_labels: head.numLabels,
      id2label,
      label2id,
    },
  });
}
