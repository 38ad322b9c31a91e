/**
 * BERT and RoBERTa encoders (post-LayerNorm, bidirectional attention through the fused kernel
 * with `causal: false`, right padding as per-sequence key lengths), with optional HF
 * classification heads. Parameter names are the HF ones; the backbone sits at the root for the
 * bare model (BertModel / RobertaModel) and under "bert." / "roberta." with a head:
 *   embeddings.word_embeddings.weight                        [V, d]
 *   embeddings.position_embeddings.weight                    [maxPositions, d]
 *   embeddings.token_type_embeddings.weight                  [typeVocab, d]
 *   embeddings.LayerNorm.{weight,bias}                       [d]
 *   encoder.layer.{i}.attention.self.{query,key,value}.{weight,bias}  [d, d], [d]
 *   encoder.layer.{i}.attention.output.dense.{weight,bias}   [d, d], [d]
 *   encoder.layer.{i}.attention.output.LayerNorm.{weight,bias}
 *   encoder.layer.{i}.intermediate.dense.{weight,bias}       [f, d], [f]
 *   encoder.layer.{i}.output.dense.{weight,bias}             [d, f], [d]
 *   encoder.layer.{i}.output.LayerNorm.{weight,bias}
 *   pooler.dense.{weight,bias}                               [d, d]   (bare models, BERT sequence head)
 * Heads (at the root):
 *   BERT sequence:    classifier.{weight,bias} [L, d] on the pooler output (dense + tanh on [CLS])
 *   RoBERTa sequence: classifier.dense.{weight,bias} [d, d], classifier.out_proj.{weight,bias} [L, d]
 *                     on <s> (dense, tanh, out_proj)
 *   token (both):     classifier.{weight,bias} [L, d] on every position's last hidden state
 *
 *   layer:  a = attn(x);  x' = LN1(x + a);  y = LN2(x' + out(gelu(intermediate(x'))))
 * Positions: BERT 0..T-1; RoBERTa padding_idx + 1 + t for non-pad tokens (padding_idx for pad
 * tokens), as transformers' create_position_ids_from_input_ids. With a prefix (prefix tuning) the
 * real tokens' positions start after it, as transformers does for past_key_values of length P
 * (its past_key_values_length, which is layer 0's length: per-layer prefix lengths shift by the
 * first layer's): BERT P..P+T-1, RoBERTa padding_idx + P + 1 + t.
 */
import { CtxwinError } from "../../errors.js";
import { IGNORE_INDEX } from "../../defaults.js";
import { Tensor, type Device, type DType } from "../../tensor.js";
import { noGrad, replaceWith, tidy, tidySteps, Variable } from "../../nn/autograd.js";
import { runAll, type Steps } from "../../util/slices.js";
import * as F from "../../nn/functional.js";
import { Attention } from "../../nn/attention.js";
import { Builder } from "../../nn/init.js";
import { Embedding, LayerNorm, Linear } from "../../nn/layers.js";
import { Container, Module, ModuleList } from "../../nn/module.js";
import { TokenPacking } from "../../nn/packing.js";
import type { PrefixProvider } from "../../nn/prefix_provider.js";
import type { EncoderConfig, EncoderHeadKind } from "./config.js";
import { MlmHead, mlmHeadName } from "./mlm_head.js";

export interface EncoderForwardOptions {
  /**
   * Right padding: sequence b's tokens are its first keyLengths[b] positions (HF's attention_mask
   * as lengths); later positions are invisible as keys and their outputs are not meaningful.
   * Default: every position is a token.
   */
  keyLengths?: readonly number[];
  /** Token type (segment) ids, the shape of ids; default all 0. */
  tokenTypeIds?: readonly (readonly number[])[];
  /**
   * With keyLengths: run the layers' projections, MLP and norms on the real tokens only
   * (lib/nn/packing.ts; attention alone sees the padded layout). Same results up to float
   * rounding, less work the more padding there is. Default true; the hidden states of padding
   * positions are then 0 (without packing they are computed but meaningless).
   */
  pack?: boolean;
}

export interface ClassificationLossOptions extends EncoderForwardOptions {
  /** Labels equal to this are not scored (token classification: sub-word continuations, padding). Default -100. */
  ignoreIndex?: number;
}

class EncoderLayer extends Module {
  readonly attn: Attention;
  readonly norm1: LayerNorm;
  readonly inter: Linear;
  readonly out: Linear;
  readonly norm2: LayerNorm;
  constructor(
    b: Builder,
    c: EncoderConfig,
    readonly act: EncoderConfig["hiddenAct"],
  ) {
    super();
    this.attn = this.module(
      "attention",
      new Attention(b.sub("attention"), {
        dim: c.hiddenSize,
        heads: c.numHeads,
        kvHeads: c.numHeads,
        headDim: c.headDim,
        qkvBias: true,
        outBias: true,
        names: { q: "self.query", k: "self.key", v: "self.value", o: "output.dense" },
      }),
    );
    this.norm1 = this.module("attention.output.LayerNorm", new LayerNorm(b.sub("attention.output.LayerNorm"), c.hiddenSize, c.eps));
    this.inter = this.module("intermediate.dense", new Linear(b.sub("intermediate.dense"), c.hiddenSize, c.intermediateSize, { bias: true }));
    this.out = this.module("output.dense", new Linear(b.sub("output.dense"), c.intermediateSize, c.hiddenSize, { bias: true }));
    this.norm2 = this.module("output.LayerNorm", new LayerNorm(b.sub("output.LayerNorm"), c.hiddenSize, c.eps));
  }

  /** x [B, T, d], or [N, d] with a packing (the real tokens of the padded batch). */
  forward(x: Variable, keyLengths: readonly number[] | undefined, layer: number, packing: TokenPacking | null): Variable {
    return tidy(() => {
      const a = this.attn.forward(x, { positional: { type: "none" }, causal: false, keyLengths, layer, packing: packing ?? undefined });
      const x2 = this.norm1.forward(F.add(x, a));
      const hi = this.inter.forward(x2);
      const h = this.act === "gelu" ? F.geluErf(hi) : F.gelu(hi);
      return this.norm2.forward(F.add(x2, this.out.forward(h)));
    });
  }
}

/** A BERT / RoBERTa encoder (see the file comment for names and math). */
export class Encoder extends Module {
  readonly config: EncoderConfig;
  readonly wordEmbeddings: Embedding;
  readonly positionEmbeddings: Embedding;
  readonly tokenTypeEmbeddings: Embedding;
  readonly embedNorm: LayerNorm;
  readonly layers: ModuleList<EncoderLayer>;
  readonly pooler: Linear | null;
  /** BERT / token heads: classifier; RoBERTa sequence head: out_proj. Null without a head. */
  readonly classifier: Linear | null;
  /** RoBERTa's sequence head dense layer (before tanh), else null. */
  readonly classifierDense: Linear | null;
  /** Computes every layer's prefix keys/values at the start of each forward (see setPrefixProvider), or null. */
  prefixProvider: PrefixProvider | null = null;
  /** The masked-LM head (head "mlm", mlm_head.ts), else null. */
  readonly mlmHead: MlmHead | null;

  constructor(config: EncoderConfig, b: Builder) {
    super();
    this.config = config;
    const c = config;
    const headed = c.head !== "none";
    const root: Container | Encoder = headed ? this.module(c.modelType, new Container()) : this;
    const rb = headed ? b.sub(c.modelType) : b;
    const add = <M extends Module>(name: string, m: M): M => (root instanceof Container ? root.add(name, m) : this.module(name, m));
    const eb = rb.sub("embeddings");
    this.wordEmbeddings = add("embeddings.word_embeddings", new Embedding(eb.sub("word_embeddings"), c.vocabSize, c.hiddenSize));
    this.positionEmbeddings = add("embeddings.position_embeddings", new Embedding(eb.sub("position_embeddings"), c.maxPositions, c.hiddenSize));
    this.tokenTypeEmbeddings = add("embeddings.token_type_embeddings", new Embedding(eb.sub("token_type_embeddings"), c.typeVocabSize, c.hiddenSize));
    this.embedNorm = add("embeddings.LayerNorm", new LayerNorm(eb.sub("LayerNorm"), c.hiddenSize, c.eps));
    this.layers = add("encoder.layer", new ModuleList<EncoderLayer>());
    for (let i = 0; i < c.numLayers; i++) this.layers.push(new EncoderLayer(rb.sub(`encoder.layer.${i}`), c, c.hiddenAct));
    this.pooler = c.pooler ? add("pooler.dense", new Linear(rb.sub("pooler.dense"), c.hiddenSize, c.hiddenSize, { bias: true })) : null;
    this.classifierDense = null;
    this.classifier = null;
    this.mlmHead = c.head === "mlm" ? this.module(mlmHeadName(c), new MlmHead(b.sub(mlmHeadName(c)), c, this.wordEmbeddings)) : null;
    if (c.head === "sequence" && c.modelType === "roberta") {
      this.classifierDense = this.module("classifier.dense", new Linear(b.sub("classifier.dense"), c.hiddenSize, c.hiddenSize, { bias: true }));
      this.classifier = this.module("classifier.out_proj", new Linear(b.sub("classifier.out_proj"), c.hiddenSize, c.numLabels, { bias: true }));
    } else if (headed && c.head !== "mlm") {
      this.classifier = this.module("classifier", new Linear(b.sub("classifier"), c.hiddenSize, c.numLabels, { bias: true }));
    }
  }

  get numLayers(): number {
    return this.layers.length;
  }

  /**
   * Registers a prefix provider as the child module "prefix_encoder" (its parameters become the
   * model's), or removes (and disposes) the current one with null.
   */
  setPrefixProvider(p: PrefixProvider | null): void {
    if (this.prefixProvider) {
      this.unregister("prefix_encoder");
      this.prefixProvider.dispose();
    }
    this.prefixProvider = p ? this.module("prefix_encoder", p) : null;
  }
  get device(): Device {
    return this.wordEmbeddings.weight.value.device;
  }
  get dtype(): DType {
    return this.wordEmbeddings.weight.value.dtype;
  }

  /** Last hidden states [B, T, d] (after the last layer's LayerNorm). Records on an active tape. */
  hidden(ids: readonly (readonly number[])[], opts: EncoderForwardOptions = {}): Variable {
    return runAll(this.hiddenSteps(ids, opts));
  }

  /** hidden() as Steps, pausing after every layer (for runSliced / Tape.runSliced / noGradSliced). */
  hiddenSteps(ids: readonly (readonly number[])[], opts: EncoderForwardOptions = {}): Steps<Variable> {
    return tidySteps(this.#hiddenSteps(ids, opts));
  }

  *#hiddenSteps(ids: readonly (readonly number[])[], opts: EncoderForwardOptions): Steps<Variable> {
    const fn = "Encoder.hidden";
    const c = this.config;
    const { B, T } = checkIds(fn, ids, c.vocabSize);
    if (opts === null || typeof opts !== "object") throw new CtxwinError("ERR_ARG", `${fn}: opts: expected an object, got ${String(opts)}`);
    const lengths = opts.keyLengths;
    if (lengths !== undefined) checkLengths(fn, lengths, B, T);
    const types = opts.tokenTypeIds;
    if (types !== undefined) checkTypes(fn, types, B, T, c.typeVocabSize);
    // the provider's prefix is this forward's (a tidy intermediate); its loan ends with the forward
    const endPrefix = this.prefixProvider?.provide();
    try {
      return yield* this.#layerSteps(ids, B, T, lengths, types, opts.pack ?? true);
    } finally {
      endPrefix?.();
    }
  }

  *#layerSteps(ids: readonly (readonly number[])[], B: number, T: number, lengths: readonly number[] | undefined, types: readonly (readonly number[])[] | undefined, pack: boolean): Steps<Variable> {
    const fn = "Encoder.hidden";
    const c = this.config;
    const P = this.layers.at(0).attn.prefixLength;
    const offset = (c.modelType === "roberta" ? c.padTokenId + 1 : 0) + P;
    if (offset + T > c.maxPositions) {
      const why = [c.modelType === "roberta" ? `RoBERTa's offset ${c.padTokenId + 1}` : "", P ? `the prefix's ${P}` : ""].filter(Boolean).join(" and ");
      throw new CtxwinError("ERR_ARG", `${fn}: ids: expected at most ${c.maxPositions - offset} positions (max_position_embeddings ${c.maxPositions}${why ? ` less ${why}` : ""}), got ${T}`);
    }
    const device = this.device;
    const idData = new Float32Array(B * T);
    const posData = new Float32Array(B * T);
    const typeData = new Float32Array(B * T);
    for (let b = 0; b < B; b++) {
      let count = 0;
      for (let t = 0; t < T; t++) {
        const id = ids[b]![t]!;
        idData[b * T + t] = id;
        if (c.modelType === "roberta") {
          // transformers: cumsum(ids != pad) · (ids != pad) + padding_idx
          if (id !== c.padTokenId) count++;
          posData[b * T + t] = id !== c.padTokenId ? count + P + c.padTokenId : c.padTokenId;
        } else posData[b * T + t] = t + P;
        typeData[b * T + t] = types ? types[b]![t]! : 0;
      }
    }
    let x: Variable;
    {
      using idT = Tensor.from(idData, [B, T], { device });
      using posT = Tensor.from(posData, [B, T], { device });
      using typeT = Tensor.from(typeData, [B, T], { device });
      const e = F.add(F.add(this.wordEmbeddings.forward(idT), this.positionEmbeddings.forward(posT)), this.tokenTypeEmbeddings.forward(typeT));
      x = this.embedNorm.forward(e);
    }
    let packing = pack && lengths ? new TokenPacking(B, T, lengths, device) : null;
    if (packing && !packing.hasPadding) {
      packing.dispose();
      packing = null;
    }
    try {
      if (packing) x = replaceWith(x, packing.pack(x));
      for (let l = 0; l < this.numLayers; l++) {
        x = replaceWith(x, this.layers.at(l).forward(x, lengths, l, packing)); // one layer's hidden state alive at a time
        yield;
      }
      return packing ? replaceWith(x, packing.unpack(x)) : x;
    } finally {
      packing?.dispose(); // the gathers keep their own handles of the index tensors
    }
  }

  /** The hidden state of the first token ([CLS] / <s>) of each sequence, [B, d]. */
  firstToken(h: Variable): Variable {
    const [B, , d] = h.shape as [number, number, number];
    return tidy(() => F.reshape(F.slice(h, 1, 0, 1), [B, d]));
  }

  /** Pooler output tanh(dense(h[:, 0])) [B, d]. Needs a model with a pooler. */
  pooled(ids: readonly (readonly number[])[], opts: EncoderForwardOptions = {}): Variable {
    const pooler = this.pooler;
    if (!pooler) {
      throw new CtxwinError("ERR_ARG", `Encoder.pooled: model: expected a model with a pooler (BertModel, RobertaModel, BertForSequenceClassification), got ${this.config.modelType} with a ${this.config.head} head and none`);
    }
    return tidy(() => F.tanh(pooler.forward(this.firstToken(this.hidden(ids, opts)))));
  }

  /**
   * Head logits: sequence heads [B, numLabels], token heads [B, T, numLabels], MLM head
   * [B, T, vocab]. Records on an active tape.
   */
  logits(ids: readonly (readonly number[])[], opts: EncoderForwardOptions = {}): Variable {
    return runAll(this.logitsSteps(ids, opts));
  }

  /** logits() as Steps (see hiddenSteps). */
  logitsSteps(ids: readonly (readonly number[])[], opts: EncoderForwardOptions = {}): Steps<Variable> {
    const c = this.config;
    const cls = this.classifier;
    const mlm = this.mlmHead;
    if (!cls && !mlm) throw new CtxwinError("ERR_ARG", `Encoder.logits: model: expected a model with a classification head (loadEncoder(dir, { head })), got a bare ${c.modelType} encoder`);
    const self = this;
    return tidySteps(
      (function* (): Steps<Variable> {
        const h = yield* self.hiddenSteps(ids, opts);
        if (mlm) return mlm.forward(h);
        if (!cls) throw new CtxwinError("ERR_INTERNAL", "Encoder.logits: no head");
        if (c.head === "token") return cls.forward(h);
        if (self.classifierDense) return cls.forward(F.tanh(self.classifierDense.forward(self.firstToken(h))));
        return cls.forward(F.tanh(self.pooler!.forward(self.firstToken(h))));
      })(),
    );
  }

  /**
   * Mean cross-entropy of the head: sequence heads take one label per sequence (number[]), token
   * heads one per position (number[][], the shape of ids; ignoreIndex for sub-word continuations
   * and padding — padding positions past keyLengths are never scored). Returns a scalar [1].
   */
  loss(ids: readonly (readonly number[])[], labels: readonly number[] | readonly (readonly number[])[], opts: ClassificationLossOptions = {}): Variable {
    return runAll(this.lossSteps(ids, labels, opts));
  }

  /** loss() as Steps (see hiddenSteps): Tape.runSliced keeps the event loop turning. */
  lossSteps(ids: readonly (readonly number[])[], labels: readonly number[] | readonly (readonly number[])[], opts: ClassificationLossOptions = {}): Steps<Variable> {
    const c = this.config;
    const ignore = opts.ignoreIndex ?? IGNORE_INDEX;
    const flat = classificationTargets("Encoder.loss", c.head, labels, Array.isArray(ids) ? ids.length : 0, Array.isArray(ids) ? (ids[0]?.length ?? 0) : 0, c.numLabels, ignore, opts.keyLengths);
    const self = this;
    return tidySteps(
      (function* (): Steps<Variable> {
        const lg = yield* self.logitsSteps(ids, opts);
        return F.crossEntropy(F.reshape(lg, [flat.length, c.numLabels]), flat, { ignoreIndex: ignore });
      })(),
    );
  }

  /** Head logits (or, for a bare encoder, the last hidden states) as an f32 Tensor; no gradient. */
  async forward(ids: readonly (readonly number[])[], opts: EncoderForwardOptions = {}): Promise<Tensor> {
    const out = noGrad(() => (this.classifier || this.mlmHead ? this.logits(ids, opts) : this.hidden(ids, opts)).detachValue());
    if (out.dtype === "f32") return out;
    using low = out;
    return low.to("f32");
  }
}

/** Flat targets for a head: sequence → labels (B); token → labels row-major (B·T), padding ignored. */
export function classificationTargets(
  fn: string,
  head: EncoderHeadKind,
  labels: readonly number[] | readonly (readonly number[])[],
  B: number,
  T: number,
  numLabels: number,
  ignore: number,
  keyLengths?: readonly number[],
): number[] {
  const ok = (v: unknown): boolean => v === ignore || (Number.isInteger(v) && (v as number) >= 0 && (v as number) < numLabels);
  if (!Array.isArray(labels) || labels.length !== B) {
    throw new CtxwinError("ERR_SHAPE", `${fn}: labels: expected ${B} entries (one per sequence), got ${Array.isArray(labels) ? labels.length : typeof labels}`);
  }
  if (head === "sequence") {
    labels.forEach((v, b) => {
      if (!ok(v)) throw new CtxwinError("ERR_ARG", `${fn}: labels[${b}]: expected an integer in [0, ${numLabels}) (the head's labels) or ${ignore}, got ${JSON.stringify(v)}`);
    });
    return [...(labels as number[])];
  }
  if (head !== "token") throw new CtxwinError("ERR_ARG", `${fn}: model: expected a model with a classification head, got none`);
  const out: number[] = [];
  (labels as readonly (readonly number[])[]).forEach((row, b) => {
    if (!Array.isArray(row) || row.length !== T) throw new CtxwinError("ERR_SHAPE", `${fn}: labels[${b}]: expected ${T} labels (one per position of ids), got ${Array.isArray(row) ? row.length : typeof row}`);
    const len = keyLengths?.[b] ?? T;
    row.forEach((v, t) => {
      if (!ok(v)) throw new CtxwinError("ERR_ARG", `${fn}: labels[${b}][${t}]: expected an integer in [0, ${numLabels}) (the head's labels) or ${ignore}, got ${JSON.stringify(v)}`);
      out.push(t < len ? v : ignore);
    });
  });
  return out;
}

function checkIds(fn: string, ids: unknown, vocab: number): { B: number; T: number } {
  if (!Array.isArray(ids) || ids.length === 0 || !ids.every((r) => Array.isArray(r))) {
    throw new CtxwinError("ERR_ARG", `${fn}: ids: expected a non-empty array of rows (number[][]), got ${Array.isArray(ids) ? "an empty array or one with non-array rows" : typeof ids}`);
  }
  const rows = ids as number[][];
  const T = rows[0]!.length;
  if (T === 0) throw new CtxwinError("ERR_ARG", `${fn}: ids: expected rows of at least one id, got empty rows`);
  rows.forEach((r, b) => {
    if (r.length !== T) throw new CtxwinError("ERR_SHAPE", `${fn}: ids: expected every row to have ${T} ids (as row 0; pad to one length), got ${r.length} in row ${b}`);
    r.forEach((id, t) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new CtxwinError("ERR_ARG", `${fn}: ids: expected integers in [0, ${vocab}) (the vocabulary), got ${id} at [${b}][${t}]`);
    });
  });
  return { B: rows.length, T };
}

function checkLengths(fn: string, lengths: unknown, B: number, T: number): void {
  if (!Array.isArray(lengths) || lengths.length !== B) {
    throw new CtxwinError("ERR_ARG", `${fn}: keyLengths: expected ${B} lengths (one per sequence), got ${Array.isArray(lengths) ? lengths.length : typeof lengths}`);
  }
  lengths.forEach((n, b) => {
    if (!Number.isInteger(n) || n < 1 || n > T) throw new CtxwinError("ERR_ARG", `${fn}: keyLengths[${b}]: expected an integer in [1, ${T}] (the sequence length), got ${String(n)}`);
  });
}

function checkTypes(fn: string, types: unknown, B: number, T: number, typeVocab: number): void {
  if (!Array.isArray(types) || types.length !== B) {
    throw new CtxwinError("ERR_SHAPE", `${fn}: tokenTypeIds: expected ${B} rows (the shape of ids), got ${Array.isArray(types) ? types.length : typeof types}`);
  }
  types.forEach((r, b) => {
    if (!Array.isArray(r) || r.length !== T) throw new CtxwinError("ERR_SHAPE", `${fn}: tokenTypeIds[${b}]: expected ${T} ids (the shape of ids), got ${Array.isArray(r) ? r.length : typeof r}`);
    r.forEach((v, t) => {
      if (!Number.isInteger(v) || v < 0 || v >= typeVocab) {
        throw new CtxwinError("ERR_ARG", `${fn}: tokenTypeIds[${b}][${t}]: expected an integer in [0, ${typeVocab}) (type_vocab_size), got ${JSON.stringify(v)}`);
      }
    });
  });
}
