/**
 * Independent references for the tokenizer tests: GPT-2's bytes_to_unicode (as in its Python
 * source), the GPT-2 pre-tokenization regex with Oniguruma's `\s` (Unicode White_Space) written
 * out, and a naive BPE: on each pre-token, repeatedly merge the adjacent pair with the lowest rank
 * (leftmost among equals) until none applies — O(n²) per word, no cache, no heap.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "tokenizer");

/** mulberry32: small seeded PRNG. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** GPT-2 encoder.py bytes_to_unicode(). */
export function refBytesToUnicode(): Map<number, string> {
  const bs: number[] = [];
  for (let b = "!".charCodeAt(0); b <= "~".charCodeAt(0); b++) bs.push(b);
  for (let b = "¡".charCodeAt(0); b <= "¬".charCodeAt(0); b++) bs.push(b);
  for (let b = "®".charCodeAt(0); b <= "ÿ".charCodeAt(0); b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  return new Map(bs.map((b, i) => [b, String.fromCharCode(cs[i]!)]));
}

const WS = "\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
/** GPT-2's pattern with Oniguruma semantics for \s / \S. */
export const REF_GPT2_RE = new RegExp(
  `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${WS}\\p{L}\\p{N}]+|[${WS}]+(?![^${WS}])|[${WS}]+`,
  "gu",
);

/** Naive BPE on one word given as symbols. */
export function naiveMerge(symbols: string[], ranks: Map<string, number>): string[] {
  const w = symbols.slice();
  for (;;) {
    let best = Infinity;
    let at = -1;
    for (let i = 0; i + 1 < w.length; i++) {
      const r = ranks.get(JSON.stringify([w[i], w[i + 1]]));
      if (r !== undefined && r < best) {
        best = r;
        at = i;
      }
    }
    if (at < 0) return w;
    w.splice(at, 2, w[at]! + w[at + 1]!);
  }
}

export interface RefTokenizer {
  encode(text: string): number[];
  vocab: Map<string, number>;
}

/**
 * A reference byte-level BPE built straight from a tokenizer.json object (vocab, merges in
 * either format, special added tokens split out literally, no prefix space).
 */
export function refByteLevelBpe(json: any): RefTokenizer {
  const vocab = new Map<string, number>(Object.entries(json.model.vocab as Record<string, number>));
  const ranks = new Map<string, number>();
  (json.model.merges as (string | [string, string])[]).forEach((m, i) => {
    const pair = typeof m === "string" ? m.split(" ") : m;
    ranks.set(JSON.stringify(pair), i);
  });
  const specials: { content: string; id: number }[] = (json.added_tokens ?? []).map((t: any) => ({ content: t.content, id: t.id }));
  const b2u = refBytesToUnicode();
  const enc = new TextEncoder();
  const encodeText = (text: string, out: number[]): void => {
    for (const m of text.matchAll(REF_GPT2_RE)) {
      const chars = [...enc.encode(m[0])].map((b) => b2u.get(b)!);
      for (const tok of naiveMerge(chars, ranks)) {
        const id = vocab.get(tok);
        if (id === undefined) throw new Error(`reference: ${tok} not in vocab`);
        out.push(id);
      }
    }
  };
  return {
    vocab,
    encode(text: string): number[] {
      const out: number[] = [];
      let rest = text;
      while (rest.length > 0) {
        // leftmost, then longest special token
        let best: { at: number; t: { content: string; id: number } } | null = null;
        for (const t of specials) {
          const at = rest.indexOf(t.content);
          if (at >= 0 && (!best || at < best.at || (at === best.at && t.content.length > best.t.content.length))) best = { at, t };
        }
        if (!best) {
          encodeText(rest, out);
          break;
        }
        encodeText(rest.slice(0, best.at), out);
        out.push(best.t.id);
        rest = rest.slice(best.at + best.t.content.length);
      }
      return out;
    },
  };
}

export function readFixture(name: string): any {
  return JSON.parse(readFileSync(join(FIXTURES, name, "tokenizer.json"), "utf8"));
}

/** Pieces the random strings are made of: scripts, emoji, combining marks, whitespace oddities. */
export const PIECES = [
  "a", "b", "e", "h", "t", "s", "H", "Hello", "hello", "the", "The", " the", " there", "world", " world", "ing", "in", "er", "on", "re",
  "aa", "aaaa", "aaaaa", "'s", "'t", "'re", "'ll", "'S", "1", "12", "123", "2023", " 12", "٣", "½",
  " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\u00a0", "\u0085", "\u2028", "\u3000", "\ufeff",
  "é", "e\u0301", "ß", "Ç", "日本語", "日", "本", "中文字", "한국어", "Привет", "мир", "مرحبا", "שלום", "हिन्दी", "ไทย", "Ελληνικά",
  "👋", "👋🏽", "👨‍👩‍👧", "🇫🇷", "🙂", "𝔘", "\u{10ffff}", "\u0000", "\u007f", "\u0080",
  ".", ",", "!", "?", "...", "--", "(", ")", "{}", "<", ">", "|", "_", "$", "€", "@#", "->", "\\", "\"", "'",
  "<|endoftext|>", "<|endoftext", "endoftext|>",
  "\ud800", "\udc00x", "\udbff",
];

/** The string with lone surrogates replaced by U+FFFD (what UTF-8 encoding does to them). */
export function wellFormed(s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");
}

export function randomText(rand: () => number, maxPieces = 24): string {
  const n = Math.floor(rand() * maxPieces);
  let s = "";
  for (let i = 0; i < n; i++) s += PIECES[Math.floor(rand() * PIECES.length)]!;
  return s;
}
