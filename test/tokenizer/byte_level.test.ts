/**
 * The GPT-2 byte map and the built-in byte-level tokenizer: exact round trips for any string,
 * special tokens, BOS/EOS, invalid UTF-8 on decode, and its tokenizer.json read back by the BPE loader.
 */
import { describe, expect, it } from "vitest";
import {
  BYTE_TO_UNICODE,
  ByteTokenizer,
  DecodeStream,
  UNICODE_TO_BYTE,
  byteTokenizer,
  bytesToUnicode,
  tokenizerFromJSON,
  unicodeToBytes,
} from "../../dist/models/tokenizer/index.js";
import { randomText, refBytesToUnicode, rng, wellFormed } from "./util.js";

const ROUND_TRIP = [
  "",
  "hello world",
  "Hello, World! 123",
  "é",
  "café crème brûlée",
  "日本語のテキスト",
  "👋🏽 hi 👨‍👩‍👧 🇫🇷",
  "e\u0301 a\u0308 n\u0303 (combining marks)",
  "a   b\n\n\t c  ",
  "   ",
  "\n",
  "\r\n\r\n",
  "\ufeffleading BOM",
  "\u0000nul\u0000",
  "\u{10ffff}\u{1d518}",
  "<bos>literal special<eos>",
];

describe("byte map", () => {
  it("equals GPT-2's bytes_to_unicode and is a bijection onto 256 printable characters", () => {
    const ref = refBytesToUnicode();
    for (let b = 0; b < 256; b++) expect(BYTE_TO_UNICODE[b]).toBe(ref.get(b));
    expect(new Set(BYTE_TO_UNICODE).size).toBe(256);
    for (let b = 0; b < 256; b++) expect(UNICODE_TO_BYTE.get(BYTE_TO_UNICODE[b]!)).toBe(b);
    expect(BYTE_TO_UNICODE[0x20]).toBe("Ġ");
    expect(BYTE_TO_UNICODE[0x0a]).toBe("Ċ");
    expect(BYTE_TO_UNICODE[0x41]).toBe("A");
    for (const c of BYTE_TO_UNICODE) expect(/\s/u.test(c)).toBe(false);
  });

  it("bytesToUnicode / unicodeToBytes invert each other", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect([...unicodeToBytes(bytesToUnicode(all))!]).toEqual([...all]);
    expect(bytesToUnicode(new TextEncoder().encode(" hi"))).toBe("Ġhi");
    expect(unicodeToBytes("日")).toBeUndefined();
  });
});

describe("ByteTokenizer", () => {
  const tok = byteTokenizer({ specialTokens: ["<bos>", "<eos>", "<pad>"] });

  it("has ids 0-255 for bytes and the special tokens after", () => {
    expect(tok.vocabSize).toBe(259);
    expect(tok.bosId).toBe(256);
    expect(tok.eosId).toBe(257);
    expect(tok.tokenToId("<pad>")).toBe(258);
    expect(tok.tokenToId("Ġ")).toBe(32);
    expect(tok.idToToken(32)).toBe("Ġ");
    expect(tok.idToToken(258)).toBe("<pad>");
    expect(tok.idToToken(259)).toBeUndefined();
    expect(tok.isSpecialId(256)).toBe(true);
    expect(tok.isSpecialId(65)).toBe(false);
    expect(tok.encode("Aé")).toEqual([0x41, 0xc3, 0xa9]);
  });

  it.each(ROUND_TRIP.map((s) => [JSON.stringify(s), s]))("round trips %s", (_, s) => {
    const ids = tok.encode(s);
    expect(tok.decode(ids)).toBe(s);
    expect(ids.filter((i) => i < 256).length).toBe(new TextEncoder().encode(s.replace(/<bos>|<eos>/g, "")).length);
  });

  it("round trips 500 random strings (lone surrogates become U+FFFD)", () => {
    const rand = rng(1234);
    for (let i = 0; i < 500; i++) {
      const s = randomText(rand, 40);
      expect(tok.decode(tok.encode(s))).toBe(wellFormed(s));
    }
    expect(tok.encode("\ud800")).toEqual([0xef, 0xbf, 0xbd]);
    expect(tok.decode(tok.encode("a\udc00b"))).toBe("a\ufffdb");
  });

  it("matches special tokens literally, or not with splitSpecialTokens", () => {
    expect(tok.encode("a<eos>b")).toEqual([0x61, 257, 0x62]);
    expect(tok.encode("<eos><eos>")).toEqual([257, 257]);
    expect(tok.encode("a<eos>b", { splitSpecialTokens: true })).toEqual([...new TextEncoder().encode("a<eos>b")]);
    expect(tok.decode([0x61, 257, 0x62])).toBe("a<eos>b");
    expect(tok.decode([256, 0x61, 257], { skipSpecialTokens: true })).toBe("a");
  });

  it("adds BOS / EOS when asked", () => {
    const t = new ByteTokenizer({ specialTokens: ["<pad>"], bosToken: "<s>", eosToken: "</s>", addBos: true, addEos: true });
    expect(t.bosId).toBe(257);
    expect(t.eosId).toBe(258);
    expect(t.encode("hi")).toEqual([257, 0x68, 0x69, 258]);
    expect(t.encode("hi", { addSpecialTokens: false })).toEqual([0x68, 0x69]);
    expect(t.decode(t.encode("hi"), { skipSpecialTokens: true })).toBe("hi");
    expect(t.decode(t.encode("hi"))).toBe("<s>hi</s>");
    expect(() => new ByteTokenizer({ addBos: true })).toThrow(/addBos/);
    expect(() => new ByteTokenizer({ specialTokens: ["x", "x"] })).toThrow(/unique/);
    expect(() => new ByteTokenizer({ specialTokens: [""] })).toThrow(/non-empty/);
  });

  it("decodes invalid UTF-8 to U+FFFD per maximal subpart (like Python errors='replace')", () => {
    expect(tok.decode([0xe6, 0x97])).toBe("\ufffd"); // truncated 3-byte sequence
    expect(tok.decode([0xe6, 0x97, 0x41])).toBe("\ufffdA");
    expect(tok.decode([0xc3])).toBe("\ufffd");
    expect(tok.decode([0xff, 0xfe])).toBe("\ufffd\ufffd");
    expect(tok.decode([0xed, 0xa0, 0x80])).toBe("\ufffd\ufffd\ufffd"); // an encoded surrogate
    expect(tok.decode([0xf0, 0x9f, 0x91])).toBe("\ufffd");
    expect(tok.decode([0x80, 0x41])).toBe("\ufffdA");
    expect(tok.decode([0xef, 0xbb, 0xbf, 0x41])).toBe("\ufeffA"); // a BOM is kept
    expect(tok.decode([1000, -1, 0.5, 0x41])).toBe("A"); // unknown ids are skipped
  });

  it("streams: DecodeStream holds back partial characters", () => {
    const s = "a日👋🏽b é";
    const ids = tok.encode(s);
    const ds = new DecodeStream(tok);
    const parts = ids.map((id) => ds.push(id));
    expect(parts.join("") + ds.flush()).toBe(s);
    expect(parts.every((p) => !p.includes("\ufffd"))).toBe(true);
    expect(parts.slice(0, 2)).toEqual(["a", ""]); // 日's first byte alone yields nothing
  });

  it("toJSON is a tokenizer.json that the BPE loader reads back with the same ids", () => {
    const json = tok.toJSON() as any;
    expect(json.model.type).toBe("BPE");
    expect(json.model.merges).toEqual([]);
    expect(Object.keys(json.model.vocab).length).toBe(259);
    const back = tokenizerFromJSON(JSON.parse(JSON.stringify(json)));
    const rand = rng(99);
    for (let i = 0; i < 100; i++) {
      const s = randomText(rand, 30) + "<eos>" + randomText(rand, 5);
      expect(back.encode(s)).toEqual(tok.encode(s));
      expect(back.decode(tok.encode(s))).toBe(tok.decode(tok.encode(s)));
    }
    expect(back.vocabSize).toBe(259);
    expect(back.bosId).toBe(256);
    expect(back.eosId).toBe(257);
    const withBos = new ByteTokenizer({ specialTokens: ["<bos>", "<eos>"], addBos: true });
    expect(tokenizerFromJSON(withBos.toJSON()).encode("x")).toEqual([256, 0x78]);
  });
});
