/**
 * Byte-level BPE on the hand-made gpt2-mini fixture (both merges formats): encodings worked out by
 * hand, the fast implementation against the naive reference BPE on 200 random strings plus long
 * words (heap path), round trips, JSON identity, save → load.
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BYTE_TO_UNICODE,
  DecodeStream,
  loadTokenizer,
  saveTokenizer,
  tokenizerFromJSON,
  type BpeTokenizer,
} from "../../dist/models/tokenizer/index.js";
import { FIXTURES, PIECES, randomText, readFixture, refByteLevelBpe, rng, wellFormed } from "./util.js";

const b = (byte: number): string => BYTE_TO_UNICODE[byte]!;

/** Hand-derived from the merges in test/fixtures/tokenizer/make_fixtures.mjs (ranks in comments). */
const HAND: [string, string[]][] = [
  // "Hello": H e→He (16), l l→ll (17), He ll→Hell (18), Hell o→Hello (19); " world": Ġ w (10), Ġw o (12), r l (13), Ġwo rl (14), Ġworl d (15)
  ["Hello world", ["Hello", "Ġworld"]],
  // " theory": Ġ t (0), h e (1), Ġt he (2), then nothing; " there": … Ġthe r e: r e (7) beats Ġthe r (34)
  [" the theory there", ["Ġthe", "Ġthe", "o", "r", "y", "Ġthe", "re"]],
  // 1 2 (27) beats 2 3 (28) and Ġ 1 (29); afterwards no merge applies
  [" 123", ["Ġ", "12", "3"]],
  ["123", ["12", "3"]],
  ["23", ["23"]],
  [" 1", ["Ġ1"]],
  // a a (30) leftmost first: aa a a a → aa aa a → aa aa (31) → aaaa a
  ["aaaaa", ["aaaa", "a"]],
  // pre-tokens "a" "  " " b" "\n\n\t" " c" "  "; Ġ Ġ (21), Ċ Ċ (20)
  ["a   b\n\n\t c  ", ["a", "ĠĠ", "Ġ", "b", "ĊĊ", b(9), "Ġ", "c", "ĠĠ"]],
  // 7 spaces then " x": ĠĠ ĠĠ ĠĠ Ġ (21 leftmost each time) → ĠĠĠĠ ĠĠ Ġ (22)
  ["        x", ["ĠĠĠĠ", "ĠĠ", "Ġ", "Ġ", "x"]],
  // é = C3 A9 → Ã © (23)
  ["café", ["c", "a", "f", "Ã©"]],
  [" é", ["Ġ", "Ã©"]],
  // 日 = E6 97 A5 (24, 25); 本 = E6 9C AC has no merges
  ["日本", ["æĹ¥", b(0xe6), b(0x9c), b(0xac)]],
  // 👋 = F0 9F 91 8B, 🏽 = F0 9F 8F BD; ð Ł (26) at both places
  ["👋🏽", ["ðŁ", b(0x91), b(0x8b), "ðŁ", b(0x8f), b(0xbd)]],
  ["it's", ["i", "t", "'s"]],
  [" \n", ["ĠĊ"]],
  ["<|endoftext|>Hello<|endoftext|>", ["<|endoftext|>", "Hello", "<|endoftext|>"]],
  ["x<|endoftext|>", ["x", "<|endoftext|>"]],
  ["", []],
];

for (const variant of ["gpt2-mini", "gpt2-mini-pairs"]) {
  describe(`${variant} fixture`, () => {
    let tok: BpeTokenizer;
    const json = readFixture(variant);
    const ref = refByteLevelBpe(json);
    beforeAll(async () => {
      tok = await loadTokenizer(join(FIXTURES, variant));
    });

    it("has the fixture's vocabulary", () => {
      const n = Object.keys(json.model.vocab).length;
      expect(tok.vocabSize).toBe(n);
      expect(tok.tokenToId("<|endoftext|>")).toBe(n - 1);
      expect(tok.idToToken(0)).toBe("!");
      expect(tok.tokenToId("Ġworld")).toBe(json.model.vocab["Ġworld"]);
      expect(tok.isSpecialId(n - 1)).toBe(true);
      // no BOS template: GPT-2's <|endoftext|> is found by name
      expect(tok.bosId).toBe(n - 1);
      expect(tok.eosId).toBe(n - 1);
    });

    it.each(HAND.map(([s, t]) => [JSON.stringify(s), s, t]))("encodes %s as worked out by hand", (_, s, expected) => {
      const ids = tok.encode(s as string);
      expect(ids.map((i) => tok.idToToken(i))).toEqual(expected);
      expect(ref.encode(s as string)).toEqual(ids);
      expect(tok.decode(ids)).toBe(s);
    });

    it("agrees with the naive reference BPE on 200 random strings, and round trips them", () => {
      const rand = rng(variant.length * 7919);
      for (let i = 0; i < 200; i++) {
        const s = randomText(rand, 30);
        const ids = tok.encode(s);
        expect(ids, JSON.stringify(s)).toEqual(ref.encode(s));
        expect(tok.decode(ids)).toBe(wellFormed(s));
      }
    });

    it("agrees with the reference on long words and runs (> 64 symbols: the heap path)", () => {
      const rand = rng(77);
      const letters = ["a", "h", "e", "t", "H", "l", "o", "i", "n", "g", "r", "w", "d", "é", "日", "1", "2", "3"];
      for (let i = 0; i < 60; i++) {
        const n = 65 + Math.floor(rand() * 400);
        let s = "";
        const digits = i % 3 === 0;
        for (let k = 0; k < n; k++) s += digits ? String(Math.floor(rand() * 4)) : letters[Math.floor(rand() * (letters.length - 3))]!;
        if (i % 5 === 0) s = " ".repeat(n) + "x";
        if (i % 7 === 0) s = "\n".repeat(n);
        if (i % 11 === 0) s = "👋🏽".repeat(n / 8);
        expect(tok.encode(s), s.slice(0, 40)).toEqual(ref.encode(s));
        expect(tok.decode(tok.encode(s))).toBe(s);
      }
      const aaa = "a".repeat(1000);
      expect(tok.encode(aaa).map((i) => tok.idToToken(i))).toEqual(Array(250).fill("aaaa"));
    });

    it("encodes the same twice (cache) and after clearing the cache", () => {
      const s = "Hello world, the theory there " + PIECES.join(" ");
      const a = tok.encode(s);
      expect(tok.encode(s)).toEqual(a);
      tok.model.clearCache();
      expect(tok.encode(s)).toEqual(a);
    });

    it("decodes special tokens unless skipped, and streams", () => {
      const ids = tok.encode("Hello<|endoftext|> world");
      expect(tok.decode(ids)).toBe("Hello<|endoftext|> world");
      expect(tok.decode(ids, { skipSpecialTokens: true })).toBe("Hello world");
      const s = "日本 👋🏽 Hello";
      const ds = new DecodeStream(tok);
      const out = tok.encode(s).map((id) => ds.push(id));
      expect(out.join("") + ds.flush()).toBe(s);
      expect(out.some((p) => p.includes("\ufffd"))).toBe(false);
      // an id that is only part of a character decodes as U+FFFD
      expect(tok.decode([tok.tokenToId("æĹ")!])).toBe("\ufffd");
      expect(tok.decode(tok.encode("x", { splitSpecialTokens: true }))).toBe("x");
      expect(tok.encode("<|endoftext|>", { splitSpecialTokens: true }).length).toBeGreaterThan(1);
    });

    it("toJSON → tokenizerFromJSON is the identity", () => {
      const j1 = tok.toJSON();
      const again = tokenizerFromJSON(JSON.parse(JSON.stringify(j1)));
      expect(again.toJSON()).toEqual(j1);
      const rand = rng(5);
      for (let i = 0; i < 50; i++) {
        const s = randomText(rand);
        expect(again.encode(s)).toEqual(tok.encode(s));
      }
    });
  });
}

describe("save → load", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ctxwin-tok-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("writes tokenizer.json + tokenizer_config.json atomically and reads back the same tokenizer", async () => {
    const tok = await loadTokenizer(join(FIXTURES, "gpt2-mini"));
    const out = join(dir, "nested", "tok");
    await saveTokenizer(tok, out);
    expect((await readdir(out)).sort()).toEqual(["tokenizer.json", "tokenizer_config.json"]);
    const back = await loadTokenizer(out);
    expect(back.toJSON()).toEqual(tok.toJSON());
    expect(back.bosId).toBe(tok.bosId);
    expect(back.eosId).toBe(tok.eosId);
    const rand = rng(3);
    for (let i = 0; i < 50; i++) {
      const s = randomText(rand);
      expect(back.encode(s)).toEqual(tok.encode(s));
    }
    // overwrite in place: still no temp files left behind
    await saveTokenizer(back, out, { config: false });
    expect((await readdir(out)).sort()).toEqual(["tokenizer.json", "tokenizer_config.json"]);
    // loadTokenizer also takes the file path itself
    expect((await loadTokenizer(join(out, "tokenizer.json"))).encode("Hello world")).toEqual(tok.encode("Hello world"));
  });
});
