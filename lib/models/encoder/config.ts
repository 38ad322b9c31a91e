/**
 * BERT / RoBERTa config.json ↔ EncoderConfig. Fields read (transformers' names and defaults):
 *   model_type "bert" | "roberta", vocab_size, hidden_size, num_hidden_layers,
 *   num_attention_heads, intermediate_size, max_position_embeddings (512), type_vocab_size (2),
 *   layer_norm_eps (1e-12), pad_token_id (0 BERT, 1 RoBERTa), hidden_act ("gelu" exact erf,
 *   "gelu_new" / "gelu_pytorch_tanh" tanh approximation), position_embedding_type ("absolute"
 *   only), initializer_range (0.02), architectures (which head), num_labels / id2label.
 * Every other field is kept and written back on save.
 */
import { CtxwinError, show } from "../../errors.js";

export type EncoderType = "bert" | "roberta";
export type EncoderAct = "gelu" | "gelu_tanh";
/** Head: none (the bare encoder), sequence ([CLS] / <s>), per-token, or masked-LM ("mlm": logits over the vocabulary, decoder tied to the word embeddings). */
export type EncoderHeadKind = "none" | "sequence" | "token" | "mlm";

export interface EncoderConfig {
  modelType: EncoderType;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  headDim: number;
  intermediateSize: number;
  maxPositions: number;
  typeVocabSize: number;
  eps: number;
  padTokenId: number;
  /** "gelu": exact erf GELU (HF "gelu"); "gelu_tanh": tanh approximation (HF "gelu_new", "gelu_pytorch_tanh"). */
  hiddenAct: EncoderAct;
  initializerRange: number;
  /** The head (from `architectures`, or the caller's choice). */
  head: EncoderHeadKind;
  /** Number of labels of the head (0 without one). */
  numLabels: number;
  /** Whether the model has a pooler (BertModel / RobertaModel / BertForSequenceClassification). */
  pooler: boolean;
  /** The config.json fields not listed above, written back unchanged. */
  extra: Record<string, unknown>;
}

const READ = [
  "model_type",
  "vocab_size",
  "hidden_size",
  "num_hidden_layers",
  "num_attention_heads",
  "intermediate_size",
  "max_position_embeddings",
  "type_vocab_size",
  "layer_norm_eps",
  "pad_token_id",
  "hidden_act",
  "position_embedding_type",
  "initializer_range",
  "architectures",
  "num_labels",
  "id2label",
  "label2id",
];

function fail(fn: string, where: string, field: string, expected: string, got: unknown): never {
  throw new CtxwinError("ERR_FORMAT", `${fn}: ${where}: ${field}: expected ${expected}, got ${got === undefined ? "nothing (missing)" : show(got)}`);
}

/** The HF class name of a model type + head. */
export function encoderArchitecture(modelType: EncoderType, head: EncoderHeadKind): string {
  const base = modelType === "bert" ? "Bert" : "Roberta";
  return head === "none" ? `${base}Model` : head === "sequence" ? `${base}ForSequenceClassification` : head === "mlm" ? `${base}ForMaskedLM` : `${base}ForTokenClassification`;
}

/** True when a parsed config.json is an encoder this module reads. */
export function isEncoderConfig(json: unknown): boolean {
  return json !== null && typeof json === "object" && ["bert", "roberta"].includes((json as Record<string, unknown>).model_type as string);
}

/**
 * Normalises an encoder config.json (ERR_FORMAT naming the file and field). `head` overrides
 * the one `architectures` names (numLabels then from `numLabels`).
 */
export function parseEncoderConfig(json: unknown, where = "config.json", fn = "loadEncoder", head?: { kind: EncoderHeadKind; numLabels?: number }): EncoderConfig {
  if (json === null || typeof json !== "object" || Array.isArray(json)) fail(fn, where, "file", "a JSON object", json);
  const o = json as Record<string, unknown>;
  const mt = o.model_type;
  if (mt !== "bert" && mt !== "roberta") fail(fn, where, "model_type", `"bert" or "roberta"`, mt);
  const int = (k: string, dflt?: number, min = 1): number => {
    const v = o[k] ?? dflt;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min) fail(fn, where, k, min === 0 ? "a non-negative integer" : "a positive integer", o[k]);
    return v;
  };
  const vocabSize = int("vocab_size");
  const hiddenSize = int("hidden_size");
  const numLayers = int("num_hidden_layers");
  const numHeads = int("num_attention_heads");
  if (hiddenSize % numHeads !== 0) fail(fn, where, "num_attention_heads", `a divisor of hidden_size = ${hiddenSize}`, numHeads);
  const intermediateSize = int("intermediate_size");
  const maxPositions = int("max_position_embeddings", 512);
  const typeVocabSize = int("type_vocab_size", 2);
  const padTokenId = int("pad_token_id", mt === "bert" ? 0 : 1, 0);
  if (padTokenId >= vocabSize) fail(fn, where, "pad_token_id", `an id in [0, ${vocabSize}) (vocab_size)`, padTokenId);
  if (mt === "roberta" && maxPositions <= padTokenId + 1) fail(fn, where, "max_position_embeddings", `more than pad_token_id + 1 = ${padTokenId + 1} (RoBERTa's positions start there)`, maxPositions);
  const eps = o.layer_norm_eps ?? 1e-12;
  if (typeof eps !== "number" || !(eps > 0)) fail(fn, where, "layer_norm_eps", "a positive number", o.layer_norm_eps);
  const ir = o.initializer_range ?? 0.02;
  if (typeof ir !== "number" || !(ir > 0)) fail(fn, where, "initializer_range", "a positive number", o.initializer_range);
  const act = o.hidden_act ?? "gelu";
  let hiddenAct: EncoderAct;
  if (act === "gelu") hiddenAct = "gelu";
  else if (act === "gelu_new" || act === "gelu_pytorch_tanh") hiddenAct = "gelu_tanh";
  else fail(fn, where, "hidden_act", `"gelu", "gelu_new" or "gelu_pytorch_tanh"`, act);
  if (o.is_decoder === true) fail(fn, where, "is_decoder", "false (ctxwin's encoders are bidirectional)", true);
  if (o.add_cross_attention === true) fail(fn, where, "add_cross_attention", "false (no cross-attention)", true);
  const pet = o.position_embedding_type ?? "absolute";
  if (pet !== "absolute") fail(fn, where, "position_embedding_type", `"absolute" (relative position embeddings are not supported)`, pet);

  let kind: EncoderHeadKind = "none";
  let numLabels = 0;
  if (head) {
    kind = head.kind;
    numLabels = head.numLabels ?? labelsOf(o) ?? 2;
  } else {
    const archs = o.architectures;
    const a = Array.isArray(archs) && typeof archs[0] === "string" ? (archs[0] as string) : null;
    if (a && /ForSequenceClassification$/.test(a)) kind = "sequence";
    else if (a && /ForTokenClassification$/.test(a)) kind = "token";
    else if (a && /ForMaskedLM$/.test(a)) kind = "mlm";
    else if (a && !/Model$/.test(a) && !/PreTraining$/.test(a)) {
      fail(fn, where, "architectures", `${encoderArchitecture(mt, "none")}, ${encoderArchitecture(mt, "sequence")} or ${encoderArchitecture(mt, "token")}`, archs);
    }
    if (kind !== "none") numLabels = labelsOf(o) ?? 2;
  }
  if (kind === "mlm") {
    numLabels = 0; // the vocabulary is the output
    if (o.tie_word_embeddings === false) fail(fn, where, "tie_word_embeddings", "true (ctxwin's MLM head ties its decoder to the word embeddings)", false);
  }
  if (kind !== "none" && kind !== "mlm" && (!Number.isInteger(numLabels) || numLabels < 1)) fail(fn, where, "num_labels", "a positive integer", numLabels);
  // HF: BertModel and BertForSequenceClassification have the pooler; token heads and RoBERTa heads do not
  const pooler = kind === "none" || (mt === "bert" && kind === "sequence");
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (!READ.includes(k)) extra[k] = v;
  if (o.id2label !== undefined && labelsOf(o) === numLabels) {
    extra.id2label = o.id2label;
    if (o.label2id !== undefined) extra.label2id = o.label2id;
  }
  return {
    modelType: mt,
    vocabSize,
    hiddenSize,
    numLayers,
    numHeads,
    headDim: hiddenSize / numHeads,
    intermediateSize,
    maxPositions,
    typeVocabSize,
    eps,
    padTokenId,
    hiddenAct,
    initializerRange: ir,
    head: kind,
    numLabels,
    pooler,
    extra,
  };
}

function labelsOf(o: Record<string, unknown>): number | null {
  if (typeof o.num_labels === "number") return o.num_labels;
  if (o.id2label && typeof o.id2label === "object") return Object.keys(o.id2label).length;
  return null;
}

/** config.json for an EncoderConfig (the fields read, plus `extra`). */
export function encoderConfigToJson(c: EncoderConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ...c.extra,
    architectures: [encoderArchitecture(c.modelType, c.head)],
    model_type: c.modelType,
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    intermediate_size: c.intermediateSize,
    max_position_embeddings: c.maxPositions,
    type_vocab_size: c.typeVocabSize,
    layer_norm_eps: c.eps,
    pad_token_id: c.padTokenId,
    hidden_act: c.hiddenAct === "gelu" ? "gelu" : "gelu_new",
    position_embedding_type: "absolute",
    initializer_range: c.initializerRange,
  };
  if (c.head !== "none" && c.head !== "mlm") {
    if (!out.id2label) {
      const id2label: Record<string, string> = {};
      const label2id: Record<string, number> = {};
      for (let i = 0; i < c.numLabels; i++) {
        id2label[String(i)] = `LABEL_${i}`;
        label2id[`LABEL_${i}`] = i;
      }
      out.id2label = id2label;
      out.label2id = label2id;
    }
  } else {
    delete out.id2label;
    delete out.label2id;
  }
  const sorted: Record<string, unknown> = {};
  for (const k of Object.keys(out).sort()) sorted[k] = out[k];
  return sorted;
}
