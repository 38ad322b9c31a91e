/**
 * Byte-level BPE training (the algorithm of HF tokenizers' BpeTrainer / GPT-2):
 *
 * 1. Special tokens are cut out of the texts (never learnt), the rest is pre-tokenized with the
 *    GPT-2 pattern (or `pattern`) and the distinct words are counted.
 * 2. Each word starts as its UTF-8 bytes. Ids: byte b → b, then the special tokens, then one id
 *    per learnt token in the order learnt.
 * 3. Repeatedly merge the most frequent adjacent pair (counted over all words, weighted by word
 *    count; overlapping occurrences such as "a a a" count twice, as in HF). Ties go to the pair
 *    with the smaller (left id, right id) — deterministic, independent of input order beyond the
 *    counts. Every occurrence in every word is merged left to right; pair counts are updated
 *    incrementally from the words that contain the pair (a pair → words index and a max-heap with
 *    lazy invalidation), so each merge costs only the words it touches.
 * 4. Stop at `vocabSize` tokens (bytes + specials + learnt) or when the best pair occurs fewer
 *    than max(1, minFrequency) times.
 *
 * The result is a BpeTokenizer built from the HF tokenizer.json it serializes to, so
 * `saveTokenizer` → `loadTokenizer` (or HF tokenizers) gives identical ids.
 */
import { CtxwinError, show } from "../../errors.js";
import { resolveSpecials, type SpecialTokenOptions } from "./added.js";
import { BYTE_TO_UNICODE, bpeModelJSON, templateJSON, utf8Encode } from "./byte_level.js";
import type { BpeTokenizer } from "./bpe.js";
import { tokenizerFromJSON } from "./hf.js";
import { GPT2_PATTERN, compilePattern, escapeRegExp } from "./regex.js";

export interface TrainBpeOptions extends SpecialTokenOptions {
  /** Total vocabulary: 256 bytes + special tokens + learnt tokens. */
  vocabSize: number;
  /** Stop when the most frequent pair occurs fewer times than this. Default 0 (merge while any pair repeats at least once). */
  minFrequency?: number;
  /**
   * Pre-tokenization pattern (HF / Oniguruma syntax, e.g. LLAMA3_PATTERN). Default: GPT-2's, the
   * one HF's ByteLevel pre-tokenizer uses. A custom one is saved as a Split before ByteLevel.
   */
  pattern?: string;
}

const KEY = 2097152; // 2^21: pair key = left · 2^21 + right (ids < 2^21)

/** Max-heap of (count, key): larger count first, then smaller key. */
class PairHeap {
  private c: Float64Array = new Float64Array(1024);
  private k: Float64Array = new Float64Array(1024);
  size = 0;
  private before(c1: number, k1: number, c2: number, k2: number): boolean {
    return c1 > c2 || (c1 === c2 && k1 < k2);
  }
  push(count: number, key: number): void {
    if (this.size === this.c.length) {
      const c = new Float64Array(this.size * 2);
      const k = new Float64Array(this.size * 2);
      c.set(this.c);
      k.set(this.k);
      this.c = c;
      this.k = k;
    }
    let i = this.size++;
    const C = this.c;
    const K = this.k;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(count, key, C[p]!, K[p]!)) break;
      C[i] = C[p]!;
      K[i] = K[p]!;
      i = p;
    }
    C[i] = count;
    K[i] = key;
  }
  topCount(): number {
    return this.c[0]!;
  }
  topKey(): number {
    return this.k[0]!;
  }
  pop(): void {
    const C = this.c;
    const K = this.k;
    const n = --this.size;
    const lc = C[n]!;
    const lk = K[n]!;
    let i = 0;
    for (;;) {
      let ch = 2 * i + 1;
      if (ch >= n) break;
      if (ch + 1 < n && this.before(C[ch + 1]!, K[ch + 1]!, C[ch]!, K[ch]!)) ch++;
      if (!this.before(C[ch]!, K[ch]!, lc, lk)) break;
      C[i] = C[ch]!;
      K[i] = K[ch]!;
      i = ch;
    }
    if (n > 0) {
      C[i] = lc;
      K[i] = lk;
    }
  }
}

/** Trains a byte-level BPE tokenizer on `texts`. See the module doc for the algorithm and ids. */
export function trainBpe(texts: Iterable<string>, opts: TrainBpeOptions): BpeTokenizer {
  const fn = "trainBpe";
  if (opts === null || typeof opts !== "object") throw new CtxwinError("ERR_ARG", `${fn}: opts: expected an object with vocabSize, got ${show(opts)}`);
  const sp = resolveSpecials(fn, opts);
  const base = 256 + sp.tokens.length;
  const { vocabSize } = opts;
  if (typeof vocabSize !== "number" || !Number.isInteger(vocabSize) || vocabSize < base || vocabSize >= KEY) {
    throw new CtxwinError("ERR_ARG", `${fn}: vocabSize: expected an integer in [${base}, ${KEY}) (256 bytes + ${sp.tokens.length} special tokens at least), got ${show(vocabSize)}`);
  }
  const minFrequency = opts.minFrequency ?? 0;
  if (typeof minFrequency !== "number" || !(minFrequency >= 0)) throw new CtxwinError("ERR_ARG", `${fn}: minFrequency: expected a number >= 0, got ${show(minFrequency)}`);
  const pattern = opts.pattern ?? GPT2_PATTERN;
  let re: RegExp;
  try {
    re = compilePattern(pattern);
  } catch (e) {
    throw new CtxwinError("ERR_ARG", `${fn}: pattern: expected a regex JS can run, got ${JSON.stringify(pattern)} (${(e as Error).message})`);
  }
  if (texts === null || typeof (texts as Iterable<string>)[Symbol.iterator] !== "function") {
    throw new CtxwinError("ERR_ARG", `${fn}: texts: expected an iterable of strings, got ${texts === null ? "null" : typeof texts}`);
  }

  // 1. count words
  const wordCounts = new Map<string, number>();
  const countPiece = (s: string): void => {
    re.lastIndex = 0;
    let prev = 0;
    let m: RegExpExecArray | null;
    const add = (w: string): void => {
      wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);
    };
    while ((m = re.exec(s)) !== null) {
      if (m[0].length === 0) {
        re.lastIndex++;
        continue;
      }
      if (m.index > prev) add(s.slice(prev, m.index));
      add(m[0]);
      prev = m.index + m[0].length;
    }
    if (prev < s.length) add(s.slice(prev));
  };
  const specialRe = sp.tokens.length
    ? new RegExp([...sp.tokens].sort((a, b) => b.length - a.length).map(escapeRegExp).join("|"), "g")
    : null;
  let index = 0;
  for (const text of texts) {
    if (typeof text !== "string") throw new CtxwinError("ERR_ARG", `${fn}: texts[${index}]: expected a string, got ${typeof text}`);
    index++;
    if (specialRe) {
      for (const piece of text.split(specialRe)) if (piece.length) countPiece(piece);
    } else if (text.length) countPiece(text);
  }

  // 2. words as byte sequences in one buffer (single-byte words can never merge: skipped)
  const words: Uint8Array[] = [];
  const counts: number[] = [];
  let total = 0;
  for (const [w, c] of wordCounts) {
    const b = utf8Encode(w);
    if (b.length < 2) continue;
    words.push(b);
    counts.push(c);
    total += b.length;
  }
  wordCounts.clear();
  const W = words.length;
  const buf = new Int32Array(total);
  const off = new Int32Array(W);
  const len = new Int32Array(W);
  const cnt = Float64Array.from(counts);
  {
    let o = 0;
    for (let w = 0; w < W; w++) {
      off[w] = o;
      len[w] = words[w]!.length;
      buf.set(words[w]!, o);
      o += words[w]!.length;
    }
  }
  words.length = 0;

  // token strings (byte-level), specials, learnt
  const tokStr: string[] = BYTE_TO_UNICODE.slice();
  const strToId = new Map<string, number>();
  tokStr.forEach((s, i) => strToId.set(s, i));
  const specialIds = new Set<number>();
  for (const t of sp.tokens) {
    specialIds.add(tokStr.length);
    strToId.set(t, tokStr.length);
    tokStr.push(t);
  }

  // 3. pair counts, where-index, heap
  const pairCount = new Map<number, number>();
  const where = new Map<number, number[]>();
  for (let w = 0; w < W; w++) {
    const s = off[w]!;
    const e = s + len[w]!;
    const c = cnt[w]!;
    for (let i = s; i < e - 1; i++) {
      const key = buf[i]! * KEY + buf[i + 1]!;
      pairCount.set(key, (pairCount.get(key) ?? 0) + c);
      let list = where.get(key);
      if (list === undefined) where.set(key, (list = []));
      if (list[list.length - 1] !== w) list.push(w);
    }
  }
  const heap = new PairHeap();
  for (const [key, c] of pairCount) heap.push(c, key);

  const merges: [number, number][] = [];
  const touched = new Set<number>();
  const visited = new Int32Array(W).fill(-1);
  const threshold = Math.max(1, minFrequency);
  let vocab = base;

  const change = (a: number, b: number, delta: number, w: number): void => {
    const key = a * KEY + b;
    pairCount.set(key, (pairCount.get(key) ?? 0) + delta);
    if (delta > 0) {
      let list = where.get(key);
      if (list === undefined) where.set(key, (list = []));
      if (list[list.length - 1] !== w) list.push(w);
      touched.add(key);
    }
  };

  while (vocab < vocabSize && heap.size > 0) {
    const count = heap.topCount();
    const key = heap.topKey();
    heap.pop();
    const actual = pairCount.get(key) ?? 0;
    if (actual !== count) {
      if (actual > 0) heap.push(actual, key);
      continue;
    }
    if (actual < threshold) break;
    const a = Math.floor(key / KEY);
    const b = key - a * KEY;
    const merged = tokStr[a]! + tokStr[b]!;
    let x = strToId.get(merged);
    if (x !== undefined && specialIds.has(x)) {
      pairCount.delete(key); // would collide with a special token's string: never merge this pair
      where.delete(key);
      continue;
    }
    if (x === undefined) {
      x = tokStr.length;
      tokStr.push(merged);
      strToId.set(merged, x);
      vocab++;
    }
    merges.push([a, b]);
    const iter = merges.length;
    touched.clear();
    for (const w of where.get(key) ?? []) {
      if (visited[w] === iter) continue;
      visited[w] = iter;
      const s = off[w]!;
      const e = s + len[w]!;
      const c = cnt[w]!;
      let j = s;
      let i = s;
      while (i < e) {
        if (buf[i] === a && i + 1 < e && buf[i + 1] === b) {
          if (j > s) {
            const p = buf[j - 1]!;
            change(p, a, -c, w);
            change(p, x, c, w);
          }
          if (i + 2 < e) {
            const nx = buf[i + 2]!;
            change(b, nx, -c, w);
            change(x, nx, c, w);
          }
          buf[j++] = x;
          i += 2;
        } else buf[j++] = buf[i++]!;
      }
      len[w] = j - s;
    }
    pairCount.delete(key);
    where.delete(key);
    for (const k of touched) {
      const c = pairCount.get(k) ?? 0;
      if (c > 0) heap.push(c, k);
    }
  }

  // 4. the tokenizer.json
  const vocabJSON: Record<string, number> = Object.create(null);
  tokStr.forEach((s, i) => {
    if (vocabJSON[s] === undefined) vocabJSON[s] = i;
  });
  const added = sp.tokens.map((content, i) => ({ id: 256 + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  const pre =
    opts.pattern === undefined
      ? { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true }
      : {
          type: "Sequence",
          pretokenizers: [
            { type: "Split", pattern: { Regex: pattern }, behavior: "Isolated", invert: false },
            { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
          ],
        };
  const idOf = (t: string | undefined): number | undefined => (t === undefined ? undefined : strToId.get(t));
  const json = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: pre,
    post_processor: templateJSON(sp.addBos ? sp.bos : undefined, idOf(sp.bos), sp.addEos ? sp.eos : undefined, idOf(sp.eos)),
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: bpeModelJSON(
      vocabJSON,
      merges.map(([a, b]) => [tokStr[a]!, tokStr[b]!]),
    ),
  };
  // bos/eos go through a config object so that bosId/eosId are set even without addBos/addEos
  return tokenizerFromJSON(json, { fn, source: "(trained tokenizer)", config: undefined, ...bosEos(sp.bos, sp.eos) });
}

function bosEos(bos: string | undefined, eos: string | undefined): { config?: unknown } {
  if (bos === undefined && eos === undefined) return {};
  return { config: { bos_token: bos ?? null, eos_token: eos ?? null } };
}
