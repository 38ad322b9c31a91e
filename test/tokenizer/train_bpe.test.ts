/**
 * The BPE trainer: merges in the order worked out by hand, determinism, special tokens, the
 * trained tokenizer against the naive reference BPE, save → load identity, and (logged, not
 * asserted) its speed.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LLAMA3_PATTERN, loadTokenizer, saveTokenizer, trainBpe } from "../../dist/models/tokenizer/index.js";
import { randomText, refByteLevelBpe, rng, wellFormed } from "./util.js";

const mergesOf = (tok: { toJSON(): object }): string[] => (tok.toJSON() as any).model.merges.map(([a, b]: [string, string]) => `${a} ${b}`);

/** A synthetic corpus: Zipf-distributed pseudo-words, punctuation, numbers, newlines, some non-ASCII. */
function corpus(seed: number, chars: number): string[] {
  const rand = rng(seed);
  const syll = ["th", "e", "an", "in", "er", "on", "re", "at", "st", "en", "ou", "ing", "al", "or", "ti", "is", "ed", "es", "ar", "le", "ve", "co", "me", "de", "hi", "ri", "ro", "ic", "ne", "ea"];
  const words: string[] = [];
  for (let i = 0; i < 3000; i++) {
    let w = "";
    const n = 1 + Math.floor(rand() * 3);
    for (let k = 0; k < n; k++) w += syll[Math.floor(rand() * syll.length)];
    words.push(w);
  }
  words.push("café", "naïve", "日本語", "Привет", "👋");
  const docs: string[] = [];
  let total = 0;
  while (total < chars) {
    let doc = "";
    const len = 20 + Math.floor(rand() * 200);
    for (let i = 0; i < len; i++) {
      const r = rand();
      const w = words[Math.min(words.length - 1, Math.floor(1 / (r * 0.999 + 0.001)) - 1 + Math.floor(rand() * 3))]!;
      doc += (i === 0 ? "" : " ") + (rand() < 0.05 ? w[0]!.toUpperCase() + w.slice(1) : w);
      if (rand() < 0.08) doc += rand() < 0.5 ? "," : ".";
      if (rand() < 0.02) doc += " " + Math.floor(rand() * 3000);
      if (rand() < 0.02) doc += "\n\n";
    }
    docs.push(doc);
    total += doc.length;
  }
  return docs;
}

describe("trainBpe: hand-checked merge order", () => {
  it('"aaabdaaabac": a a, then a b (tie with aa a broken by the smaller ids), then aa ab, then a c', () => {
    // one word; pair counts: aa 4 (overlaps count), ab 2, bd 1, da 1, ba 1, ac 1 → "a a"
    // → aa a b d aa a b a c: (aa,a) 2, (a,b) 2 → tie, ids (97,98) < (256,97) → "a b"
    // → aa ab d aa ab a c: (aa,ab) 2 → "aa ab"; then all pairs count 1, smallest ids (a,c) = (97,99)
    const tok = trainBpe(["aaabdaaabac"], { vocabSize: 260 });
    expect(mergesOf(tok)).toEqual(["a a", "a b", "aa ab", "a c"]);
    expect(tok.vocabSize).toBe(260);
    expect(tok.tokenToId("aa")).toBe(256);
    expect(tok.tokenToId("ab")).toBe(257);
    expect(tok.tokenToId("aaab")).toBe(258);
    expect(tok.tokenToId("ac")).toBe(259);
    expect(tok.encode("aaabdaaabac").map((i) => tok.idToToken(i))).toEqual(["aaab", "d", "aaab", "ac"]);
    // special tokens take ids 256.. and push learnt ids up
    const tok2 = trainBpe(["aaabdaaabac"], { vocabSize: 262, specialTokens: ["<bos>", "<eos>"] });
    expect(mergesOf(tok2)).toEqual(["a a", "a b", "aa ab", "a c"]);
    expect(tok2.tokenToId("<bos>")).toBe(256);
    expect(tok2.tokenToId("aa")).toBe(258);
    expect(tok2.bosId).toBe(256);
    expect(tok2.eosId).toBe(257);
  });

  it("counts words across texts with their leading spaces (low / lower / newest / widest)", () => {
    // words: "low"×1, " low"×4, " lower"×2, " newest"×6, " widest"×3 (Ġ = space)
    // counts: es 9, st 9 → "e s" (smaller ids); then "es t" 9; lo 7 / ow 7 → "l o"; "lo w" 7;
    // then 6 each: Ġn (32,110) < Ġlow (32,259) < e w < Ġn e …: "Ġ n", "Ġ low", "e w", "Ġn ew", "Ġnew est";
    // then 3 each: "Ġ w" (32,119) first
    const text = "low low low low low lower lower newest newest newest newest newest newest widest widest widest";
    const tok = trainBpe([text], { vocabSize: 266 });
    expect(mergesOf(tok)).toEqual(["e s", "es t", "l o", "lo w", "Ġ n", "Ġ low", "e w", "Ġn ew", "Ġnew est", "Ġ w"]);
    // the same counts split over several texts give the same merges
    expect(mergesOf(trainBpe(text.split(/(?= newest)/), { vocabSize: 266 }))).toEqual(mergesOf(tok));
    // minFrequency 4 stops after the count-6 merges
    const tok4 = trainBpe([text], { vocabSize: 1000, minFrequency: 4 });
    expect(mergesOf(tok4)).toEqual(["e s", "es t", "l o", "lo w", "Ġ n", "Ġ low", "e w", "Ġn ew", "Ġnew est"]);
    expect(tok4.vocabSize).toBe(265);
    expect(tok.encode(" newest lowest").map((i) => tok.idToToken(i))).toEqual(["Ġnewest", "Ġlow", "est"]);
  });

  it("never learns across special tokens", () => {
    const tok = trainBpe(["<eos>".repeat(500), "ab<eos>ab<eos>"], { vocabSize: 300, specialTokens: ["<eos>"] });
    expect(mergesOf(tok)).toEqual(["a b"]);
    expect(tok.encode("ab<eos>").map((i) => tok.idToToken(i))).toEqual(["ab", "<eos>"]);
  });

  it("rejects bad options with ERR_ARG", () => {
    expect(() => trainBpe(["x"], { vocabSize: 100 })).toThrow(expect.objectContaining({ code: "ERR_ARG" }));
    expect(() => trainBpe(["x"], { vocabSize: 257, specialTokens: ["<a>", "<b>"] })).toThrow(/vocabSize/);
    expect(() => trainBpe([1 as unknown as string], { vocabSize: 300 })).toThrow(/texts\[0\]/);
    expect(() => trainBpe(["x"], { vocabSize: 300, pattern: "\\p{N}++" })).toThrow(/pattern/);
    expect(() => trainBpe(["x"], { vocabSize: 300, minFrequency: -1 })).toThrow(/minFrequency/);
  });
});

describe("trainBpe on a synthetic corpus", () => {
  const docs = corpus(42, 400_000);
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ctxwin-train-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const opts = { vocabSize: 1024, specialTokens: ["<bos>", "<eos>", "<pad>"], addBos: true };
  const tok = trainBpe(docs, opts);

  it("fills the vocabulary and compresses", () => {
    expect(tok.vocabSize).toBe(1024);
    const text = docs.slice(0, 20).join("\n");
    const ids = tok.encode(text, { addSpecialTokens: false });
    expect(ids.length).toBeLessThan(new TextEncoder().encode(text).length / 2.5);
    expect(tok.decode(ids)).toBe(text);
    expect(tok.encode("hi")[0]).toBe(tok.bosId);
    expect(tok.decode(tok.encode("hi"), { skipSpecialTokens: true })).toBe("hi");
  });

  it("is deterministic: same corpus → same ids; shuffled documents → same merges", () => {
    const again = trainBpe(docs, opts);
    expect(again.toJSON()).toEqual(tok.toJSON());
    const shuffled = docs.slice();
    const rand = rng(9);
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
    }
    expect(trainBpe(shuffled, opts).toJSON()).toEqual(tok.toJSON());
  });

  it("encodes like the naive reference BPE built from its tokenizer.json, and round trips", () => {
    const ref = refByteLevelBpe(tok.toJSON());
    const rand = rng(2024);
    const samples = [...docs.slice(0, 5), ...Array.from({ length: 200 }, () => randomText(rand, 30))];
    for (const s of samples) {
      const ids = tok.encode(s, { addSpecialTokens: false });
      expect(ids, JSON.stringify(s.slice(0, 60))).toEqual(ref.encode(s));
      expect(tok.decode(ids)).toBe(wellFormed(s));
    }
  });

  it("save → load gives the identical tokenizer", async () => {
    await saveTokenizer(tok, join(dir, "t"));
    const back = await loadTokenizer(join(dir, "t"));
    expect(back.toJSON()).toEqual(tok.toJSON());
    expect(back.vocabSize).toBe(tok.vocabSize);
    expect(back.bosId).toBe(tok.bosId);
    expect(back.eosId).toBe(tok.eosId);
    for (const d of docs.slice(0, 30)) expect(back.encode(d)).toEqual(tok.encode(d));
  });

  it("trains with the Llama-3 pattern (saved as Split + ByteLevel), digits in groups of at most 3", async () => {
    const t3 = trainBpe(docs.slice(0, 300), { vocabSize: 512, pattern: LLAMA3_PATTERN });
    const pre = (t3.toJSON() as any).pre_tokenizer;
    expect(pre.type).toBe("Sequence");
    expect(pre.pretokenizers.map((p: any) => p.type)).toEqual(["Split", "ByteLevel"]);
    const s = "In 2024, 1234567 IT'S ok";
    const toks = t3.encode(s).map((i) => t3.idToToken(i)!);
    expect(t3.decode(t3.encode(s))).toBe(s);
    for (const t of toks) expect(/\d{4}/.test(t)).toBe(false);
    await saveTokenizer(t3, join(dir, "l3"));
    expect((await loadTokenizer(join(dir, "l3"))).encode(s)).toEqual(t3.encode(s));
  });

  it("speed (logged): train and encode", () => {
    const big = corpus(7, 2_000_000);
    let t0 = performance.now();
    const t = trainBpe(big, { vocabSize: 4096 });
    const trainMs = performance.now() - t0;
    const text = big.join("\n").slice(0, 1_000_000);
    t0 = performance.now();
    const ids = t.encode(text);
    const encMs = performance.now() - t0;
    t0 = performance.now();
    const back = t.decode(ids);
    const decMs = performance.now() - t0;
    expect(back).toBe(text);
    console.log(`trainBpe 2 MB → vocab 4096: ${trainMs.toFixed(0)} ms; encode 1 MB: ${encMs.toFixed(0)} ms (${ids.length} tokens); decode: ${decMs.toFixed(0)} ms`);
  }, 120_000);
});
