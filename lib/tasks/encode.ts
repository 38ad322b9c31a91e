/**
 * Task examples → model inputs (issue 11): classification (a text or a text pair → ids and token
 * type ids) and tagging (words → sub-words), with label maps taken from the training split.
 *
 *   classification  [CLS] a [SEP] (b [SEP])      BERT: type ids 0 for [CLS] a [SEP], 1 for b [SEP]
 *                   <s> a </s> (</s> b </s>)      RoBERTa: type ids all 0 (as its tokenizer)
 *   truncation      to `maxLength` ids including the specials, "longest first" as transformers:
 *                   one token at a time from the end of the longer segment (the second on a tie)
 *   tagging         each word is tokenised on its own with a leading space (" word": WordPiece drops
 *                   the space, byte-level BPE gets "Ġword" as with add_prefix_space); the word's
 *                   FIRST sub-token carries its label, continuations and specials IGNORE_INDEX.
 *                   Words that do not fit in maxLength are cut (whole words, from the end); they
 *                   are predicted "O" when predictions are mapped back to words (wordPredictions),
 *                   so a cut entity counts as missed, never silently dropped from the gold.
 *
 * Label ids: the training split's labels, sorted (so a run's ids do not depend on example order).
 * A test label that training never saw is an error naming the example and the label.
 */
import { CtxwinError, show } from "../errors.js";
import { IGNORE_INDEX } from "../defaults.js";
import type { Tokenizer } from "../models/tokenizer/types.js";
import { specialTokenIds } from "../models/tokenizer/pair.js";
import type { ClassificationExample, TaggingExample } from "./data.js";

/** How a model family frames its inputs: special token ids and the pair template. */
export interface InputCodec {
  /** "bert": [CLS] a [SEP] b [SEP], type ids 0/1; "roberta": <s> a </s></s> b </s>, type ids 0. */
  style: "bert" | "roberta";
  cls: number;
  sep: number;
  pad: number;
  /** Token ids of a piece of text, no special tokens. */
  tokenize(text: string): number[];
}

/**
 * An InputCodec from a tokenizer whose special tokens specialTokenIds finds (tokenizer_config.json's
 * cls/sep/pad tokens, else [CLS]/[SEP]/[PAD] or <s>/</s>/<pad>).
 */
export function inputCodec(tok: Tokenizer, style: "bert" | "roberta"): InputCodec {
  const fn = "inputCodec";
  if (style !== "bert" && style !== "roberta") throw new CtxwinError("ERR_ARG", `${fn}: style: expected "bert" or "roberta", got ${show(style)}`);
  const sp = specialTokenIds(tok);
  const names = style === "bert" ? { cls: "[CLS]", sep: "[SEP]", pad: "[PAD]" } : { cls: "<s>", sep: "</s>", pad: "<pad>" };
  const id = (k: "cls" | "sep" | "pad"): number => {
    const v = sp[k];
    if (v === undefined) throw new CtxwinError("ERR_ARG", `${fn}: tokenizer: expected the ${style} special token ${names[k]} (or tokenizer_config.json's ${k}_token) in the vocabulary, got none`);
    return v;
  };
  return { style, cls: id("cls"), sep: id("sep"), pad: id("pad"), tokenize: (text) => tok.encode(text, { addSpecialTokens: false, splitSpecialTokens: true }) };
}

/** Model input of one or two token segments, and where each segment starts in it. */
export function assemble(codec: InputCodec, a: readonly number[], b?: readonly number[]): { ids: number[]; typeIds: number[]; starts: [number, number] } {
  const { cls, sep } = codec;
  if (codec.style === "roberta") {
    const ids = b ? [cls, ...a, sep, sep, ...b, sep] : [cls, ...a, sep];
    return { ids, typeIds: ids.map(() => 0), starts: [1, a.length + 3] };
  }
  const first = [cls, ...a, sep];
  const ids = b ? [...first, ...b, sep] : first;
  return { ids, typeIds: ids.map((_, i) => (i < first.length ? 0 : 1)), starts: [1, first.length] };
}

/** Special tokens the template adds to one segment (pair: false) or two (pair: true). */
export function specialsAdded(codec: InputCodec, pair: boolean): number {
  return assemble(codec, [], pair ? [] : undefined).ids.length;
}

/** Label names ↔ ids. */
export interface LabelMap {
  /** Label names, id order. */
  names: string[];
  /** Name → id. */
  ids: Map<string, number>;
}

/** The label map of a training split's labels (sorted names). */
export function labelMap(labels: Iterable<string>): LabelMap {
  const names = [...new Set(labels)].sort();
  if (names.length === 0) throw new CtxwinError("ERR_ARG", "labelMap: labels: expected at least one label, got none");
  return { names, ids: new Map(names.map((n, i) => [n, i])) };
}

function labelId(map: LabelMap, name: string, where: string): number {
  const v = map.ids.get(name);
  if (v === undefined) {
    const shown = map.names.length > 12 ? `${map.names.slice(0, 12).join(", ")}, …` : map.names.join(", ");
    throw new CtxwinError("ERR_ARG", `${where}: label ${show(name)}: expected one of the training labels (${shown}), got one the training split does not have`);
  }
  return v;
}

/** An encoded sequence-classification example. */
export interface EncodedSequence {
  ids: number[];
  typeIds: number[];
  label: number;
}

/** An encoded tagging example. */
export interface EncodedTagged {
  ids: number[];
  typeIds: number[];
  /** Per position: the word's label id at its first sub-token, IGNORE_INDEX elsewhere. */
  labels: number[];
  /** Per word: the position of its first sub-token, or -1 when truncation cut the word. */
  wordStarts: number[];
  /** Gold tags per word (all words, cut ones included). */
  tags: string[];
}

/** A task encoded for one model: sequence or token classification, its label map, and how much truncation cut. */
export type EncodedTask =
  | { kind: "sequence"; labels: LabelMap; examples: EncodedSequence[]; maxLength: number; truncated: number; pad: number }
  | { kind: "token"; labels: LabelMap; examples: EncodedTagged[]; maxLength: number; truncated: number; pad: number };

function checkMaxLength(fn: string, maxLength: unknown, min: number): number {
  if (typeof maxLength !== "number" || !Number.isInteger(maxLength) || maxLength < min) throw new CtxwinError("ERR_ARG", `${fn}: maxLength: expected an integer >= ${min} (room for the specials and one token), got ${show(maxLength)}`);
  return maxLength;
}

/** Longest-first truncation of two segments to `budget` tokens in total (see the file header). */
export function truncatePair(a: readonly number[], b: readonly number[] | undefined, budget: number): [number[], number[] | undefined] {
  let na = a.length;
  let nb = b?.length ?? 0;
  while (na + nb > budget) {
    if (b && nb >= na && nb > 0) nb--;
    else na--;
  }
  return [a.slice(0, na), b?.slice(0, nb)];
}

/**
 * Sequence classification examples → ids, type ids and label ids (`labels` from the training
 * split: labelMap(train.map(e => e.label))). `where` names the data in errors (a file, "brown-genre test").
 */
export function encodeClassification(examples: readonly ClassificationExample[], codec: InputCodec, labels: LabelMap, opts: { maxLength: number; where?: string }): EncodedTask & { kind: "sequence" } {
  const fn = "encodeClassification";
  const where = opts.where ?? fn;
  const pairSpecials = specialsAdded(codec, true);
  const maxLength = checkMaxLength(fn, opts.maxLength, pairSpecials + 1);
  let truncated = 0;
  const out = examples.map((e, i) => {
    const label = labelId(labels, e.label, `${where}: example ${i + 1}`);
    const a = codec.tokenize(e.text);
    const b = e.textB !== undefined ? codec.tokenize(e.textB) : undefined;
    const budget = maxLength - specialsAdded(codec, b !== undefined);
    const [ta, tb] = truncatePair(a, b, budget);
    if (ta.length + (tb?.length ?? 0) < a.length + (b?.length ?? 0)) truncated++;
    const { ids, typeIds } = assemble(codec, ta, tb);
    return { ids, typeIds, label };
  });
  return { kind: "sequence", labels, examples: out, maxLength, truncated, pad: codec.pad };
}

/** Tagging examples → sub-word ids with labels on each word's first sub-token (see the file header). */
export function encodeTagging(examples: readonly TaggingExample[], codec: InputCodec, labels: LabelMap, opts: { maxLength: number; where?: string }): EncodedTask & { kind: "token" } {
  const fn = "encodeTagging";
  const where = opts.where ?? fn;
  const specials = specialsAdded(codec, false);
  const maxLength = checkMaxLength(fn, opts.maxLength, specials + 1);
  let truncated = 0;
  const out = examples.map((e, i) => {
    if (e.tokens.length !== e.tags.length) throw new CtxwinError("ERR_ARG", `${where}: example ${i + 1}: tags: expected ${e.tokens.length} tags (one per token), got ${e.tags.length}`);
    const tagIds = e.tags.map((t) => labelId(labels, t, `${where}: example ${i + 1}`));
    const pieces: number[] = [];
    const firstLabel: number[] = [];
    const offsets: number[] = [];
    let cut = false;
    for (let w = 0; w < e.tokens.length; w++) {
      let sub = codec.tokenize(` ${e.tokens[w]}`);
      if (sub.length === 0) sub = codec.tokenize(e.tokens[w]!); // a tokenizer that drops the space-only piece
      if (sub.length === 0) {
        offsets.push(-1); // a word with no tokens cannot carry a label: predicted O
        continue;
      }
      if (pieces.length + sub.length > maxLength - specials) {
        cut = true;
        while (offsets.length < e.tokens.length) offsets.push(-1);
        break;
      }
      offsets.push(pieces.length);
      sub.forEach((id, k) => {
        pieces.push(id);
        firstLabel.push(k === 0 ? tagIds[w]! : IGNORE_INDEX);
      });
    }
    if (cut) truncated++;
    const { ids, typeIds, starts } = assemble(codec, pieces);
    const lab = ids.map(() => IGNORE_INDEX);
    firstLabel.forEach((l, k) => (lab[starts[0] + k] = l));
    return { ids, typeIds, labels: lab, wordStarts: offsets.map((o) => (o < 0 ? -1 : starts[0] + o)), tags: [...e.tags] };
  });
  return { kind: "token", labels, examples: out, maxLength, truncated, pad: codec.pad };
}

/** Word-level predicted tags from per-position predicted label ids (cut words: "O"). */
export function wordPredictions(example: EncodedTagged, positionPreds: readonly number[], labels: LabelMap): string[] {
  return example.wordStarts.map((p) => (p < 0 ? "O" : (labels.names[positionPreds[p]!] ?? "O")));
}
