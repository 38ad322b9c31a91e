/**
 * lib/tasks/encode.ts: sub-word label alignment (first sub-token carries the word's label),
 * truncation (whole words for tagging; longest-first for pairs, against a closed-form reference),
 * the BERT and RoBERTa pair templates, and label-map errors.
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { byteTokenizer, encodePair, tokenizerFromJSON } from "../../dist/models/tokenizer/index.js";
import { assemble, encodeClassification, encodeTagging, inputCodec, labelMap, truncatePair, wordPredictions } from "../../dist/tasks/encode.js";
import { XorShift32 } from "../reference/rng.js";

const bertTok = byteTokenizer({ specialTokens: ["[CLS]", "[SEP]", "[PAD]"] });
const bert = inputCodec(bertTok, "bert");
const roberta = inputCodec(byteTokenizer({ specialTokens: ["<s>", "</s>", "<pad>"] }), "roberta");
const [CLS, SEP] = [256, 257];
const bytes = (s: string) => [...Buffer.from(s, "utf8")];

describe("tagging: sub-word label alignment", () => {
  it("the first sub-token of each word carries its label; continuations and specials IGNORE_INDEX", () => {
    const labels = labelMap(["O", "B-X", "I-X"]);
    expect(labels.names).toEqual(["B-X", "I-X", "O"]);
    const enc = encodeTagging([{ tokens: ["ab", "c", "dé"], tags: ["B-X", "O", "B-X"] }], bert, labels, { maxLength: 32 });
    const e = enc.examples[0]!;
    // " ab" = 3 bytes, " c" = 2, " dé" = 4 (é is 2 bytes)
    expect(e.ids).toEqual([CLS, 32, 97, 98, 32, 99, 32, 100, 0xc3, 0xa9, SEP]);
    expect(e.labels).toEqual([-100, 0, -100, -100, 2, -100, 0, -100, -100, -100, -100]);
    expect(e.wordStarts).toEqual([1, 4, 6]);
    expect(e.typeIds.every((t) => t === 0)).toBe(true);
    expect(enc.truncated).toBe(0);
  });

  it("random words: each word's pieces decode to ' word' and predictions map back to the words", () => {
    const rng = new XorShift32(7);
    const alphabet = "abcxyzéü";
    const labels = labelMap(["O", "B-A", "I-A"]);
    const examples = Array.from({ length: 20 }, () => {
      const n = 1 + rng.int(7);
      const tokens = Array.from({ length: n }, () => Array.from({ length: 1 + rng.int(4) }, () => alphabet[rng.int(alphabet.length)]).join(""));
      const tags = tokens.map(() => labels.names[rng.int(3)]!);
      return { tokens, tags };
    });
    const enc = encodeTagging(examples, bert, labels, { maxLength: 200 });
    enc.examples.forEach((e, i) => {
      const ex = examples[i]!;
      expect(e.ids[0]).toBe(CLS);
      expect(e.ids[e.ids.length - 1]).toBe(SEP);
      const ends = [...e.wordStarts.slice(1), e.ids.length - 1];
      e.wordStarts.forEach((st, w) => {
        expect(Buffer.from(e.ids.slice(st, ends[w])).toString("utf8")).toBe(` ${ex.tokens[w]}`);
        expect(e.labels[st]).toBe(labels.ids.get(ex.tags[w]!));
      });
      expect(e.labels.filter((l) => l !== -100).length).toBe(ex.tokens.length);
      // a per-position prediction equal to the gold labels maps back to the gold tags
      expect(wordPredictions(e, e.labels.map((l) => (l < 0 ? 0 : l)), labels)).toEqual(ex.tags);
    });
  });

  it("truncation cuts whole words from the end; cut words are predicted O", () => {
    const labels = labelMap(["O", "B-X"]);
    // " aa" (3) + " bb" (3) + " cc" (3) + 2 specials: maxLength 9 keeps two words
    const enc = encodeTagging([{ tokens: ["aa", "bb", "cc"], tags: ["O", "B-X", "B-X"] }], bert, labels, { maxLength: 9 });
    const e = enc.examples[0]!;
    expect(e.ids).toEqual([CLS, ...bytes(" aa bb"), SEP]);
    expect(e.wordStarts).toEqual([1, 4, -1]);
    expect(enc.truncated).toBe(1);
    expect(wordPredictions(e, [0, 0, 0, 0, 0, 0, 0, 0], labels)).toEqual(["B-X", "B-X", "O"]);
    expect(e.tags).toEqual(["O", "B-X", "B-X"]);
  });

  it("an unknown test label is an error naming the example and the label", () => {
    const labels = labelMap(["O", "B-X"]);
    expect(() => encodeTagging([{ tokens: ["a"], tags: ["O"] }, { tokens: ["b"], tags: ["B-Y"] }], bert, labels, { maxLength: 9, where: "names test" })).toThrow(/names test: example 2: label "B-Y": expected one of the training labels \(B-X, O\)/);
    expect(() => encodeTagging([{ tokens: ["a"], tags: ["O"] }], bert, labels, { maxLength: 2 })).toThrow(/maxLength: expected an integer >= 3/);
  });
});

describe("classification: pairs and truncation", () => {
  it("BERT pair: [CLS] a [SEP] b [SEP] with type ids 0 then 1; RoBERTa: <s> a </s></s> b </s>, type ids 0", () => {
    const labels = labelMap(["yes", "no"]);
    const enc = encodeClassification([{ text: "ab", textB: "c", label: "yes" }, { text: "xyz", label: "no" }], bert, labels, { maxLength: 64 });
    expect(enc.examples[0]).toEqual({ ids: [CLS, 97, 98, SEP, 99, SEP], typeIds: [0, 0, 0, 0, 1, 1], label: 1 });
    expect(enc.examples[1]).toEqual({ ids: [CLS, 120, 121, 122, SEP], typeIds: [0, 0, 0, 0, 0], label: 0 });
    const r = encodeClassification([{ text: "ab", textB: "c", label: "yes" }], roberta, labels, { maxLength: 64 });
    expect(r.examples[0]).toEqual({ ids: [256, 97, 98, 257, 257, 99, 257], typeIds: [0, 0, 0, 0, 0, 0, 0], label: 1 });
    expect(assemble(roberta, [5], [6]).starts).toEqual([1, 4]);
  });

  it("longest-first truncation matches the closed form (shorter kept when it fits in half, else an even split, the first segment the larger)", () => {
    const rng = new XorShift32(3);
    for (let trial = 0; trial < 300; trial++) {
      const la = rng.int(30);
      const lb = rng.int(30);
      const budget = 1 + rng.int(40);
      const a = Array.from({ length: la }, (_, i) => i);
      const b = Array.from({ length: lb }, (_, i) => 100 + i);
      const [ta, tb] = truncatePair(a, b, budget);
      let ea = la;
      let eb = lb;
      if (la + lb > budget) {
        const s = Math.min(la, lb);
        if (2 * s <= budget) {
          if (la <= lb) eb = budget - la;
          else ea = budget - lb;
        } else {
          ea = Math.ceil(budget / 2);
          eb = Math.floor(budget / 2);
        }
      }
      expect([ta.length, tb!.length], `la ${la} lb ${lb} budget ${budget}`).toEqual([ea, eb]);
      expect(ta).toEqual(a.slice(0, ea));
      expect(tb).toEqual(b.slice(0, eb));
    }
  });

  it("classification examples are truncated to maxLength including the specials", () => {
    const labels = labelMap(["x"]);
    const enc = encodeClassification([{ text: "abcdefgh", textB: "ijk", label: "x" }, { text: "abcdefgh", label: "x" }, { text: "ab", label: "x" }], bert, labels, { maxLength: 7 });
    expect(enc.examples[0]!.ids).toEqual([CLS, 97, 98, SEP, 105, 106, SEP]);
    expect(enc.examples[1]!.ids).toEqual([CLS, ...bytes("abcde"), SEP]);
    expect(enc.examples[2]!.ids).toEqual([CLS, 97, 98, SEP]);
    expect(enc.truncated).toBe(2);
    expect(() => encodeClassification([{ text: "a", label: "z" }], bert, labels, { maxLength: 7, where: "rte.jsonl" })).toThrow(/rte\.jsonl: example 1: label "z": expected one of the training labels \(x\)/);
  });

  it("a tokenizer without the style's specials is an error naming them", () => {
    expect(() => inputCodec(byteTokenizer(), "bert")).toThrow(/expected the bert special token \[CLS\]/);
  });

  // encodePair is checked against HF tokenizers on these fixtures (test/tokenizer): the framing here must agree
  for (const [fixture, style] of [["bert-uncased", "bert"], ["bert-cased", "bert"], ["roberta-bpe", "roberta"]] as const) {
    it(`untruncated pairs and single texts equal encodePair (HF's tokenizer(a, b)) on ${fixture}`, () => {
      const tok = tokenizerFromJSON(JSON.parse(readFileSync(join(__dirname, "../fixtures/tokenizer_pairs", fixture, "tokenizer.json"), "utf8")));
      const codec = inputCodec(tok, style);
      for (const [a, b] of [["The quick brown fox.", "It jumped over the lazy dog!"], ["Héllo, wörld", undefined], ["a premise", "a hypothesis"]] as const) {
        const want = encodePair(tok, a, b);
        const got = assemble(codec, codec.tokenize(a), b === undefined ? undefined : codec.tokenize(b));
        expect({ ids: got.ids, typeIds: got.typeIds }, `${a} | ${b}`).toEqual(want);
      }
    });
  }
});
