/**
 * The other tokenizer.json features, on hand-worked examples: byte-fallback BPE with the Llama-2
 * normalizer (llama-mini fixture, checked against a naive reference too), Metaspace, a Llama-3
 * style Split before ByteLevel, ByteLevel add_prefix_space, add_bos_token / add_eos_token from
 * tokenizer_config.json, added-token flags (lstrip / rstrip / single_word / normalized),
 * ignore_merges, unk / fuse_unk.
 */
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BYTE_TO_UNICODE, LLAMA3_PATTERN, loadTokenizer, tokenizerFromJSON, type BpeTokenizer } from "../../dist/models/tokenizer/index.js";
import { FIXTURES, naiveMerge, randomText, readFixture, refByteLevelBpe, rng, wellFormed } from "./util.js";

const names = (tok: { idToToken(i: number): string | undefined }, ids: number[]): (string | undefined)[] => ids.map((i) => tok.idToToken(i));

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "ctxwin-tokpipe-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** Reference for llama-mini: "▁" + text with spaces → "▁", chars (or their <0xXX> bytes), naive merges. */
function refLlama(json: any, text: string): number[] {
  const vocab = new Map<string, number>(Object.entries(json.model.vocab as Record<string, number>));
  const ranks = new Map<string, number>((json.model.merges as string[]).map((m, i) => [JSON.stringify(m.split(" ")), i]));
  const out: number[] = [1];
  if (text.length === 0) return out;
  const norm = "▁" + text.replaceAll(" ", "▁");
  const syms: string[] = [];
  for (const c of norm) {
    if (vocab.has(c)) syms.push(c);
    else for (const b of new TextEncoder().encode(c)) syms.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
  }
  for (const t of naiveMerge(syms, ranks)) out.push(vocab.get(t)!);
  return out;
}

describe("llama-mini (byte-fallback BPE, Llama-2 normalizer and decoder)", () => {
  let tok: BpeTokenizer;
  const json = readFixture("llama-mini");
  beforeAll(async () => {
    tok = await loadTokenizer(join(FIXTURES, "llama-mini"));
  });

  it("encodes by hand-worked merges, with BOS from the template / add_bos_token", () => {
    // "▁Hello▁world": l l (3), ▁ w (4), o r (5), ▁w or (6), ▁wor l (7), ▁worl d (8), ▁ H (9), e ll (10), ▁H ell (11), ▁Hell o (12)
    expect(names(tok, tok.encode("Hello world"))).toEqual(["<s>", "▁Hello", "▁world"]);
    expect(tok.bosId).toBe(1);
    expect(tok.eosId).toBe(2);
    // "i" and "é" are not in the vocab: their UTF-8 bytes
    expect(names(tok, tok.encode("Hi é"))).toEqual(["<s>", "▁H", "<0x69>", "▁", "<0xC3>", "<0xA9>"]);
    expect(names(tok, tok.encode("the", { addSpecialTokens: false }))).toEqual(["▁the"]);
    expect(tok.encode("")).toEqual([1]);
  });

  it("decodes through Replace, ByteFallback, Fuse, Strip", () => {
    const ids = tok.encode("Hi é world");
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe("Hi é world");
    expect(tok.decode(ids)).toBe("<s> Hi é world");
    // HF ByteFallback decodes a run of byte tokens as a whole; if the run is not valid UTF-8,
    // every byte of it becomes U+FFFD (so "é" + a stray E6 → three U+FFFD)
    const byteId = (b: string): number => tok.tokenToId(b)!;
    expect(tok.decode([byteId("<0xC3>"), byteId("<0xA9>"), byteId("<0xE6>")])).toBe("\ufffd\ufffd\ufffd");
    expect(tok.decode([byteId("<0xC3>"), byteId("<0xA9>"), tok.tokenToId("▁the")!, byteId("<0xE6>")])).toBe("é the\ufffd");
  });

  it("agrees with the naive reference on 200 random strings and round trips them", () => {
    const rand = rng(4242);
    for (let i = 0; i < 200; i++) {
      const s = randomText(rand, 30).replace(/<\/?s>/g, "");
      const ids = tok.encode(s);
      expect(ids, JSON.stringify(s)).toEqual(refLlama(json, s));
      expect(tok.decode(ids, { skipSpecialTokens: true })).toBe(wellFormed(s));
    }
  });

  it("add_eos_token / add_bos_token in tokenizer_config.json override the template", async () => {
    const dir = join(tmp, "llama-eos");
    await cp(join(FIXTURES, "llama-mini"), dir, { recursive: true });
    await writeFile(join(dir, "tokenizer_config.json"), JSON.stringify({ add_bos_token: false, add_eos_token: true, bos_token: "<s>", eos_token: { content: "</s>" } }));
    const t = await loadTokenizer(dir);
    expect(names(t, t.encode("the"))).toEqual(["▁the", "</s>"]);
    await writeFile(join(dir, "tokenizer_config.json"), JSON.stringify({ add_eos_token: true, eos_token: "</s>" }));
    const t2 = await loadTokenizer(dir);
    expect(names(t2, t2.encode("the"))).toEqual(["<s>", "▁the", "</s>"]); // BOS from the template kept
    await rm(join(dir, "tokenizer_config.json"));
    const t3 = await loadTokenizer(dir);
    expect(names(t3, t3.encode("the"))).toEqual(["<s>", "▁the"]);
    expect(t3.bosId).toBe(1);
    expect(t3.eosId).toBe(2); // by name: </s>
  });

  it("unk and fuse_unk without byte fallback", () => {
    const j = readFixture("llama-mini");
    j.model.byte_fallback = false;
    const fused = tokenizerFromJSON(j);
    // "▁Hi▁日本": i → <unk>; 日本 → one fused <unk>
    expect(names(fused, fused.encode("Hi 日本"))).toEqual(["<s>", "▁H", "<unk>", "▁", "<unk>"]);
    j.model.fuse_unk = false;
    const unfused = tokenizerFromJSON(j);
    expect(names(unfused, unfused.encode("Hi 日本"))).toEqual(["<s>", "▁H", "<unk>", "▁", "<unk>", "<unk>"]);
  });

  it("Metaspace pre-tokenizer and decoder (prepend_scheme first / always, split)", () => {
    const j = readFixture("llama-mini");
    j.normalizer = null;
    j.pre_tokenizer = { type: "Metaspace", replacement: "▁", prepend_scheme: "first", split: false };
    j.decoder = { type: "Metaspace", replacement: "▁", prepend_scheme: "first", split: false };
    const first = tokenizerFromJSON(j);
    expect(names(first, first.encode("Hello world"))).toEqual(["<s>", "▁Hello", "▁world"]);
    // after a special token the piece does not start the input: no "▁" prepended (l l, e ll)
    expect(names(first, first.encode("<s>Hello", { addSpecialTokens: false }))).toEqual(["<s>", "H", "ell", "o"]);
    expect(first.decode(first.encode("Hello world"), { skipSpecialTokens: true })).toBe("Hello world");
    j.pre_tokenizer = { type: "Metaspace", replacement: "▁", prepend_scheme: "always", split: true };
    const always = tokenizerFromJSON(j);
    expect(names(always, always.encode("<s>Hello world", { addSpecialTokens: false }))).toEqual(["<s>", "▁Hello", "▁world"]);
    j.pre_tokenizer = { type: "Metaspace", replacement: "▁", add_prefix_space: false };
    const never = tokenizerFromJSON(j);
    expect(names(never, never.encode("Hello", { addSpecialTokens: false }))).toEqual(["H", "ell", "o"]);
  });
});

describe("byte-level variants on gpt2-mini", () => {
  it("ByteLevel add_prefix_space adds a space to each piece that lacks one", () => {
    const j = readFixture("gpt2-mini");
    j.pre_tokenizer.add_prefix_space = true;
    const t = tokenizerFromJSON(j);
    expect(names(t, t.encode("Hello"))).toEqual(["Ġ", "Hello"]);
    expect(names(t, t.encode(" the"))).toEqual(["Ġthe"]);
    expect(names(t, t.encode("a<|endoftext|>b"))).toEqual(["Ġa", "<|endoftext|>", "Ġ", "b"]);
    expect(t.encode("")).toEqual([]);
  });

  it("a Llama-3 style Split pattern before ByteLevel(use_regex: false)", () => {
    const j = readFixture("gpt2-mini");
    j.pre_tokenizer = {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: LLAMA3_PATTERN }, behavior: "Isolated", invert: false },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    };
    const t = tokenizerFromJSON(j);
    // digits in groups of 3: "12345" → "123" "45"; "IT'S" → "IT" "'S" (case-insensitive contraction)
    expect(names(t, t.encode("12345"))).toEqual(["12", "3", "4", "5"]);
    expect(names(t, t.encode("IT'S"))).toEqual(["I", "T", "'", "S"]);
    expect(names(t, t.encode("it's"))).toEqual(["i", "t", "'s"]);
    // reference: the same pattern hand-translated (case folding spelled out), naive BPE per piece
    const WS = "\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
    const re = new RegExp(
      `'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^${WS}\\p{L}\\p{N}]+[\\r\\n]*|[${WS}]*[\\r\\n]+|[${WS}]+(?![^${WS}])|[${WS}]+`,
      "gu",
    );
    const vocab = new Map<string, number>(Object.entries(j.model.vocab as Record<string, number>));
    const ranks = new Map<string, number>((j.model.merges as string[]).map((m, i) => [JSON.stringify(m.split(" ")), i]));
    const enc = new TextEncoder();
    const ref = (s: string): number[] => {
      const out: number[] = [];
      for (const piece of s.split(/(<\|endoftext\|>)/)) {
        if (piece === "<|endoftext|>") out.push(vocab.get(piece)!);
        else for (const m of piece.matchAll(re)) for (const tk of naiveMerge([...enc.encode(m[0])].map((x) => BYTE_TO_UNICODE[x]!), ranks)) out.push(vocab.get(tk)!);
      }
      return out;
    };
    const rand = rng(8);
    for (let i = 0; i < 200; i++) {
      const s = randomText(rand, 30);
      expect(t.encode(s), JSON.stringify(s)).toEqual(ref(s));
      expect(t.decode(t.encode(s))).toBe(wellFormed(s));
    }
  });

  it("added-token flags: lstrip, rstrip, single_word, normalized", () => {
    const j = readFixture("gpt2-mini");
    const next = Object.keys(j.model.vocab).length;
    j.added_tokens.push(
      { id: next, content: "<mask>", single_word: false, lstrip: true, rstrip: false, normalized: false, special: true },
      { id: next + 1, content: "[X]", single_word: false, lstrip: false, rstrip: true, normalized: false, special: false },
      { id: next + 2, content: "ab", single_word: true, lstrip: false, rstrip: false, normalized: false, special: false },
    );
    const t = tokenizerFromJSON(j);
    expect(t.vocabSize).toBe(next + 3);
    expect(names(t, t.encode("a <mask> b"))).toEqual(["a", "<mask>", "Ġ", "b"]);
    expect(names(t, t.encode("a[X]  b"))).toEqual(["a", "[X]", "b"]);
    // "ab" only as a whole word: not inside "cab"
    expect(names(t, t.encode("ab cab ab."))).toEqual(["ab", "Ġ", "c", "a", "b", "Ġ", "ab", "."]);
    expect(t.isSpecialId(next)).toBe(true);
    expect(t.isSpecialId(next + 1)).toBe(false);
    expect(t.decode(t.encode("a <mask> b"), { skipSpecialTokens: true })).toBe("a b");

    // normalized: true tokens match the normalized text; normalized: false ones the raw text
    const k = readFixture("gpt2-mini");
    k.normalizer = { type: "Lowercase" };
    k.added_tokens.push(
      { id: next, content: "hello", single_word: false, lstrip: false, rstrip: false, normalized: true, special: false },
      { id: next + 1, content: "ABC", single_word: false, lstrip: false, rstrip: false, normalized: false, special: false },
    );
    const u = tokenizerFromJSON(k);
    expect(names(u, u.encode("HELLO ABC abc"))).toEqual(["hello", "Ġ", "ABC", "Ġa", "b", "c"]);
  });

  it("ignore_merges: a word that is a vocab entry is taken whole", () => {
    const j = readFixture("gpt2-mini-pairs");
    const id = Object.keys(j.model.vocab).length;
    j.model.vocab["Ġtheory"] = id; // reachable by no merge
    j.added_tokens[0].id = id + 1;
    j.model.vocab["<|endoftext|>"] = id + 1;
    const plain = tokenizerFromJSON(j);
    expect(names(plain, plain.encode(" theory"))).toEqual(["Ġthe", "o", "r", "y"]);
    j.model.ignore_merges = true;
    const ign = tokenizerFromJSON(j);
    expect(names(ign, ign.encode(" theory theoryx"))).toEqual(["Ġtheory", "Ġthe", "o", "r", "y", "x"]);
  });

  it("other pre-tokenizers: Digits, Whitespace, WhitespaceSplit, Punctuation, Split behaviours", () => {
    const j = readFixture("gpt2-mini");
    const mk = (pre: object): BpeTokenizer => tokenizerFromJSON({ ...j, pre_tokenizer: { type: "Sequence", pretokenizers: [pre, { type: "ByteLevel", add_prefix_space: false, use_regex: false }] } });
    const pieces = (pre: object, s: string): string[] => {
      const t = mk(pre);
      // each word's ids decode to the piece; the pieces are recovered by decoding per word boundary
      return splitPieces(t, s);
    };
    expect(pieces({ type: "Digits", individual_digits: true }, "a12b3")).toEqual(["a", "1", "2", "b", "3"]);
    expect(pieces({ type: "Digits", individual_digits: false }, "a12b3")).toEqual(["a", "12", "b", "3"]);
    expect(pieces({ type: "Whitespace" }, "hi, you  there")).toEqual(["hi", ",", "you", "there"]);
    expect(pieces({ type: "WhitespaceSplit" }, "hi, you  there")).toEqual(["hi,", "you", "there"]);
    expect(pieces({ type: "Punctuation", behavior: "Isolated" }, "a,b!")).toEqual(["a", ",", "b", "!"]);
    const sp = (behavior: string, invert = false): string[] => pieces({ type: "Split", pattern: { String: "-" }, behavior, invert }, "a-b--c-");
    expect(sp("Removed")).toEqual(["a", "b", "c"]);
    expect(sp("Isolated")).toEqual(["a", "-", "b", "-", "-", "c", "-"]);
    expect(sp("MergedWithPrevious")).toEqual(["a-", "b-", "-", "c-"]);
    expect(sp("MergedWithNext")).toEqual(["a", "-b", "-", "-c", "-"]);
    expect(sp("Contiguous")).toEqual(["a", "-", "b", "--", "c", "-"]);
    expect(sp("Removed", true)).toEqual(["-", "-", "-", "-"]); // each match of "-" is its own piece, as in HF
  });
});

/** Recovers pre-tokenizer pieces by encoding with a vocabulary-free trick: no merges, so decode word by word. */
function splitPieces(t: BpeTokenizer, s: string): string[] {
  const json = t.toJSON() as any;
  json.model.merges = [];
  json.model.ignore_merges = true;
  // give every possible piece its own id so ignore_merges returns one id per piece
  const vocab = json.model.vocab as Record<string, number>;
  let next = Object.keys(vocab).length + 10;
  const bl = (x: string): string => [...new TextEncoder().encode(x)].map((b) => BYTE_TO_UNICODE[b]).join("");
  for (let a = 0; a < s.length; a++) for (let b = a + 1; b <= s.length; b++) if (vocab[bl(s.slice(a, b))] === undefined) vocab[bl(s.slice(a, b))] = next++;
  const u = tokenizerFromJSON(json);
  return u.encode(s).map((id) => u.decode([id]));
}

describe("the reference helpers agree with themselves", () => {
  it("refByteLevelBpe handles both merges formats identically", () => {
    const a = refByteLevelBpe(readFixture("gpt2-mini"));
    const b = refByteLevelBpe(readFixture("gpt2-mini-pairs"));
    const rand = rng(1);
    for (let i = 0; i < 20; i++) {
      const s = randomText(rand);
      expect(a.encode(s)).toEqual(b.encode(s));
    }
  });
});

describe("odd vocabulary keys", () => {
  it("tokens named __proto__ / constructor survive load, lookup and toJSON", () => {
    const text = `{"model":{"type":"BPE","vocab":{"_":0,"p":1,"__proto__":2,"constructor":3,"__":4},"merges":["_ _"]},"added_tokens":[]}`;
    const t = tokenizerFromJSON(JSON.parse(text));
    expect(t.tokenToId("__proto__")).toBe(2);
    expect(t.tokenToId("constructor")).toBe(3);
    expect(t.tokenToId("toString")).toBeUndefined();
    expect(t.idToToken(2)).toBe("__proto__");
    const again = tokenizerFromJSON(JSON.parse(JSON.stringify(t.toJSON())));
    expect(again.tokenToId("__proto__")).toBe(2);
    expect(again.encode("__p")).toEqual([4, 1]);
  });
});
