/**
 * Expected values ported from HF tokenizers' own Rust unit tests (tokenizers/src/pre_tokenizers/
 * byte_level.rs, split.rs, metaspace.rs; tokenizer/added_vocabulary.rs; models/bpe/model.rs), run
 * through tokenizer.json objects built here: evidence that the pipeline splits and merges as HF does.
 */
import { describe, expect, it } from "vitest";
import { tokenizerFromJSON, type BpeTokenizer } from "../../dist/models/tokenizer/index.js";

/** A tokenizer.json with the given parts and a tiny BPE model. */
function tj(parts: { pre?: unknown; normalizer?: unknown; decoder?: unknown; vocab?: Record<string, number>; merges?: [string, string][]; added?: object[]; model?: object }): BpeTokenizer {
  return tokenizerFromJSON({
    added_tokens: parts.added ?? [],
    normalizer: parts.normalizer ?? null,
    pre_tokenizer: parts.pre ?? null,
    post_processor: null,
    decoder: parts.decoder ?? null,
    model: { type: "BPE", vocab: parts.vocab ?? { a: 0 }, merges: parts.merges ?? [], ...(parts.model ?? {}) },
  });
}
const added = (id: number, content: string, special: boolean, o: { lstrip?: boolean; rstrip?: boolean; single_word?: boolean; normalized?: boolean } = {}): object => ({
  id,
  content,
  special,
  lstrip: o.lstrip ?? false,
  rstrip: o.rstrip ?? false,
  single_word: o.single_word ?? false,
  normalized: o.normalized ?? !special,
});

describe("HF byte_level.rs", () => {
  const bl = (aps: boolean, useRegex = true): BpeTokenizer => tj({ pre: { type: "ByteLevel", add_prefix_space: aps, trim_offsets: true, use_regex: useRegex } });
  it("pre_tokenization", () => {
    expect(bl(false).preTokenize("Hello my friend, how is your day going?")).toEqual(["Hello", "Ġmy", "Ġfriend", ",", "Ġhow", "Ġis", "Ġyour", "Ġday", "Ġgoing", "?"]);
  });
  it("pre_tokenization_no_regex", () => {
    expect(bl(true, false).preTokenize("Hello my friend, how is your day going?")).toEqual(["ĠHelloĠmyĠfriend,ĠhowĠisĠyourĠdayĠgoing?"]);
  });
  it("add_prefix_space", () => {
    for (const s of [" Hello my friend, how is your day going?", "Hello my friend, how is your day going?"]) {
      expect(bl(true).preTokenize(s)).toEqual(["ĠHello", "Ġmy", "Ġfriend", ",", "Ġhow", "Ġis", "Ġyour", "Ġday", "Ġgoing", "?"]);
    }
  });
  it("handling_of_newlines / multiple_whitespaces / offsets_when_char_split_up", () => {
    expect(bl(false).preTokenize("Hello there\nHello there")).toEqual(["Hello", "Ġthere", "Ċ", "Hello", "Ġthere"]);
    expect(bl(false).preTokenize("Hello there       dear")).toEqual(["Hello", "Ġthere", "ĠĠĠĠĠĠ", "Ġdear"]);
    expect(bl(false).preTokenize("i⭢j")).toEqual(["i", "âŃ¢", "j"]);
  });
  it("decoding and decode_works_on_separated_tokens", () => {
    const vocab: Record<string, number> = {};
    const toks = ["Hello", "Ġmy", "Ġfriend", ",", "Ġhow", "Ġis", "Ġyour", "Ġday", "Ġgoing", "?"];
    toks.forEach((t, i) => (vocab[t] = i));
    const t = tj({ vocab, decoder: { type: "ByteLevel" } });
    expect(t.decode(toks.map((_, i) => i))).toBe("Hello my friend, how is your day going?");
    const samples = [
      'A Nuskhuri abbreviation of იესუ ქრისტე ( iesu kriste ) " Jesus Christ "',
      "An equal number have descenders , like p or q in English : გ , დ , ე , ვ , კ , ლ , ჟ , ტ , უ , ფ , ღ , ყ , ც",
    ];
    for (const s of samples) {
      const chars = bl(false).preTokenize(s).flatMap((p) => [...p]);
      const v: Record<string, number> = {};
      chars.forEach((c) => (v[c] ??= Object.keys(v).length));
      const d = tj({ vocab: v, decoder: { type: "ByteLevel" } });
      expect(d.decode(chars.map((c) => v[c]!))).toBe(s);
    }
  });
});

describe("HF split.rs (regex \\w+|[^\\w\\s]+, invert: true)", () => {
  const cases: [string, string[]][] = [
    ["Removed", ["How", "are", "you", "doing", "?"]],
    ["Isolated", ["How", " ", "are", " ", "you", " ", "doing", "?"]],
    ["MergedWithPrevious", ["How ", "are ", "you ", "doing", "?"]],
    ["MergedWithNext", ["How", " are", " you", " doing", "?"]],
    ["Contiguous", ["How", " ", "are", " ", "you", " ", "doing?"]],
  ];
  it.each(cases)("%s", (behavior, expected) => {
    const t = tj({ pre: { type: "Split", pattern: { Regex: "\\w+|[^\\w\\s]+" }, behavior, invert: true } });
    expect(t.preTokenize("How are you doing?")).toEqual(expected);
  });
  it("regex_string and invert", () => {
    const re = tj({ pre: { type: "Split", pattern: { Regex: "\\s+" }, behavior: "Removed", invert: false } });
    const st = tj({ pre: { type: "Split", pattern: { String: " " }, behavior: "Removed", invert: false } });
    expect(re.preTokenize("Hey, man!")).toEqual(st.preTokenize("Hey, man!"));
    const inv = tj({ pre: { type: "Split", pattern: { String: "Hello" }, behavior: "Removed", invert: true } });
    expect(inv.preTokenize("Hello Hello Hello")).toEqual(st.preTokenize("Hello Hello Hello"));
  });
});

describe("HF metaspace.rs", () => {
  const ms = (scheme: string, split: boolean): object => ({ type: "Metaspace", replacement: "▁", prepend_scheme: scheme, split });
  it("basic and multiple_spaces", () => {
    expect(tj({ pre: ms("always", true) }).preTokenize("Hey friend!")).toEqual(["▁Hey", "▁friend!"]);
    expect(tj({ pre: ms("always", true) }).preTokenize("Hey   friend!")).toEqual(["▁Hey", "▁", "▁", "▁friend!"]);
  });
  it("non_legacy_meta_space", () => {
    const splitS = { type: "Split", pattern: { Regex: "(<s>)" }, behavior: "Isolated", invert: false };
    const first = tj({ pre: { type: "Sequence", pretokenizers: [splitS, ms("first", false)] } });
    expect(first.preTokenize("Hey my friend <s>how▁are you")).toEqual(["▁Hey▁my▁friend▁", "<s>", "how▁are▁you"]);
    const then = tj({ pre: { type: "Sequence", pretokenizers: [splitS, ms("first", false), ms("always", true)] } });
    expect(then.preTokenize("Hey my friend <s>how▁are you")).toEqual(["▁Hey", "▁my", "▁friend", "▁", "▁<s>", "▁how", "▁are", "▁you"]);
    expect(first.preTokenize(" Hey <s>how")).toEqual(["▁Hey▁", "<s>", "how"]);
    expect(first.preTokenize(" Hey <s>how <s>are <s> you")).toEqual(["▁Hey▁", "<s>", "how▁", "<s>", "are▁", "<s>", "▁you"]);
  });
  it("decode", () => {
    const vocab = { "▁Hey": 0, "▁friend!": 1 };
    expect(tj({ vocab, decoder: ms("always", true) }).decode([0, 1])).toBe("Hey friend!");
    expect(tj({ vocab, decoder: ms("never", true) }).decode([0, 1])).toBe(" Hey friend!");
  });
});

describe("HF added_vocabulary.rs (Lowercase normalizer)", () => {
  const vocab = { a: 0 };
  it("options_use_cases", () => {
    const t = tj({
      vocab,
      normalizer: { type: "Lowercase" },
      added: [added(10, "my", false, { lstrip: true, rstrip: true }), added(11, "name", false), added(12, "ony", false, { single_word: true }), added(13, "[CLS]", true), added(14, "[SEP]", true)],
    });
    expect(t.preTokenize("[CLS] My name is Anthony [SEP]")).toEqual(["[CLS]", "my", "name", " is anthony ", "[SEP]"]);
  });
  it("test_single_word_is_correct / unicode_correct", () => {
    const t = tj({ vocab, normalizer: { type: "Lowercase" }, added: [added(10, "<mask>", false, { single_word: true })] });
    expect(t.preTokenize("<mask> My name <mask> A<mask> <mask>ony <mask>")).toEqual(["<mask>", " my name ", "<mask>", " a<mask> <mask>ony ", "<mask>"]);
    expect(t.preTokenize("<mask>, <mask>- ◌̰<mask>")).toEqual(["<mask>", ", ", "<mask>", "- ◌̰<mask>"]);
  });
});

describe("HF models/bpe/model.rs", () => {
  it("test_bpe_byte_fallback (+ newline)", () => {
    const t = tj({ vocab: { "<unk>": 0, "<0x61>": 1, "<0x0A>": 2 }, model: { unk_token: "<unk>", byte_fallback: true } });
    expect(t.encode("c")).toEqual([0]);
    expect(t.encode("a")).toEqual([1]);
    expect(t.encode("\n")).toEqual([2]);
  });
  it("test_ignore_merges", () => {
    const words = [".:.:", "Ġbelirtilen", ".", ":", "bel", "irtilen", "Ġ", ".:", "belirtilen", ".:.", "be", "l", "ir", "ti", "en", "irtil", "irti", "i", "r", "t", "b", "e", "n"];
    const vocab: Record<string, number> = {};
    words.forEach((w, i) => (vocab[w] = i));
    const merges: [string, string][] = [[".", ":"], ["b", "e"], ["be", "l"], ["i", "r"], ["t", "i"], ["ir", "ti"], ["e", "n"], ["irti", "l"]];
    const ign = tj({ vocab, merges, model: { ignore_merges: true } });
    expect(ign.encode(".:.:")).toEqual([0]);
    expect(ign.encode("Ġbelirtilen")).toEqual([1]);
    const no = tj({ vocab, merges, model: { ignore_merges: false } });
    expect(no.encode(".:.:")).toEqual([7, 7]);
    expect(no.encode("Ġbelirtilen")).toEqual([6, 4, 15, 14]);
  });
});
