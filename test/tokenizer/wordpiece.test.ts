/**
 * WordPiece (BERT) and pair encoding against HF tokenizers: fixtures made by
 * scripts/tokenizer-fixtures.py (tokenizers' own encode(a) / encode(a, b) and decode) over fixed
 * tricky texts and seeded random strings: ids and token type ids must be equal.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { encodePair, loadTokenizer, saveTokenizer, specialTokenIds, tokenizerFromJSON, byteTokenizer } from "../../dist/index.js";

const ROOT = join(import.meta.dirname, "../fixtures/tokenizer_pairs");
interface Case {
  a: string;
  b: string | null;
  ids: number[];
  type_ids: number[];
  decoded: string;
}
const cases = (name: string): Case[] => JSON.parse(readFileSync(join(ROOT, name, "expected.json"), "utf8")).cases;
const json = (name: string): any => JSON.parse(readFileSync(join(ROOT, name, "tokenizer.json"), "utf8"));

describe.each(["bert-uncased", "bert-cased", "roberta-bpe"])("%s matches HF tokenizers", (name) => {
  it("ids and type ids of single texts and pairs; decode", async () => {
    const tok = await loadTokenizer(join(ROOT, name));
    const all = cases(name);
    expect(all.length).toBeGreaterThan(50);
    expect(all.filter((c) => c.b !== null).length).toBeGreaterThan(10);
    for (const c of all) {
      const got = encodePair(tok, c.a, c.b ?? undefined);
      expect({ text: [c.a, c.b], ids: got.ids, typeIds: got.typeIds }).toEqual({ text: [c.a, c.b], ids: c.ids, typeIds: c.type_ids });
      if (c.b === null) expect(tok.encode(c.a)).toEqual(c.ids);
      expect(tok.decode(c.ids, { skipSpecialTokens: true })).toBe(c.decoded);
    }
  });

  it("saveTokenizer → loadTokenizer gives the same encodings", async () => {
    const tok = await loadTokenizer(join(ROOT, name));
    const dir = mkdtempSync(join(tmpdir(), "ctxwin-wp-"));
    try {
      await saveTokenizer(tok, dir);
      const back = await loadTokenizer(dir);
      expect((back.toJSON() as any).model).toEqual(json(name).model);
      for (const c of cases(name)) expect(encodePair(back, c.a, c.b ?? undefined).ids).toEqual(c.ids);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("specialTokenIds", () => {
  it("BERT and RoBERTa names", async () => {
    const bert = await loadTokenizer(join(ROOT, "bert-uncased"));
    const v = json("bert-uncased").model.vocab;
    expect(specialTokenIds(bert)).toEqual({ cls: v["[CLS]"], sep: v["[SEP]"], pad: v["[PAD]"], mask: v["[MASK]"], unk: v["[UNK]"] });
    const rob = await loadTokenizer(join(ROOT, "roberta-bpe"));
    const mask = json("roberta-bpe").added_tokens.find((t: any) => t.content === "<mask>").id;
    expect(specialTokenIds(rob)).toEqual({ cls: 0, sep: 2, pad: 1, mask, unk: 3 });
    expect(specialTokenIds(byteTokenizer())).toEqual({});
  });
});

describe("pair encoding without a template", () => {
  it("A typed 0 then B typed 1 (HF's default), byte tokenizer likewise", () => {
    const j = json("bert-uncased");
    const tok = tokenizerFromJSON({ ...j, post_processor: null });
    const a = tok.encode("the fox", { addSpecialTokens: false });
    const b = tok.encode("jumps", { addSpecialTokens: false });
    expect(encodePair(tok, "the fox", "jumps")).toEqual({ ids: [...a, ...b], typeIds: [...a.map(() => 0), ...b.map(() => 1)] });
    const bt = byteTokenizer();
    expect(encodePair(bt, "ab", "c")).toEqual({ ids: [97, 98, 99], typeIds: [0, 0, 1] });
  });
  it("TemplateProcessing in string form", () => {
    const j = json("bert-uncased");
    const tok = tokenizerFromJSON({ ...j, post_processor: { type: "TemplateProcessing", single: "[CLS] $A [SEP]", pair: "[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1", special_tokens: j.post_processor.special_tokens } });
    const ref = tokenizerFromJSON(j);
    for (const c of cases("bert-uncased")) expect(encodePair(tok, c.a, c.b ?? undefined)).toEqual(encodePair(ref, c.a, c.b ?? undefined));
  });
});

describe("errors", () => {
  const j = json("bert-uncased");
  it("a WordPiece unk_token missing from the vocab", () => {
    expect(() => tokenizerFromJSON({ ...j, model: { ...j.model, unk_token: "<nope>" } })).toThrow(/tokenizer\.json: model\.unk_token: expected a token in model\.vocab.*"<nope>"/);
  });
  it("bad normalizer, template piece and pair template", () => {
    expect(() => tokenizerFromJSON({ ...j, normalizer: { ...j.normalizer, lowercase: "yes" } })).toThrow(/normalizer\.lowercase: expected a boolean/);
    expect(() => tokenizerFromJSON({ ...j, post_processor: { ...j.post_processor, pair: "[CLS] $A [SEP] $C" } })).toThrow(/post_processor\.pair\[3\]: expected a template piece/);
    expect(() => tokenizerFromJSON({ ...j, post_processor: { ...j.post_processor, pair: "[CLS] $A [SEP]" } })).toThrow(/post_processor\.pair: expected a template containing both sequences/);
    const single = tokenizerFromJSON({ ...j, post_processor: { ...j.post_processor, pair: undefined } });
    expect(encodePair(single, "a").ids.length).toBeGreaterThan(2);
    expect(() => encodePair(single, "a", "b")).toThrow(/post_processor\.pair: expected a pair template/);
    expect(() => encodePair(single, "a", 3 as any)).toThrow(/encodePair: b: expected a string/);
  });
  it("unsupported model types are named", () => {
    expect(() => tokenizerFromJSON({ ...j, model: { type: "Unigram", vocab: [] } })).toThrow(/model\.type: expected "BPE" or "WordPiece"/);
  });
});
