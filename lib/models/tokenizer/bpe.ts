/**
 * Byte-level BPE (and byte-fallback BPE): the model (vocab + ranked merges, applied to each
 * pre-tokenized word with a cache) and the tokenizer pipeline around it (added tokens →
 * normalizer → pre-tokenizer → model → post-processor; decoder).
 *
 * Merging follows HF tokenizers exactly: repeatedly merge the adjacent pair with the lowest rank
 * (leftmost first among equal ranks) until no adjacent pair has a merge. Words of up to 64
 * symbols use a linear scan with per-pair rank slots, longer ones a heap with lazy invalidation
 * (O(n log n)), so a 1 MB word without spaces is fine. Results for words shorter than 256 chars are
 * cached. `dropout` is ignored: encoding is deterministic.
 */
import { CtxwinError } from "../../errors.js";
import type { AddedToken } from "./added.js";
import { AddedVocabulary } from "./added.js";
import { BYTE_TO_UNICODE, ByteSink, addedTokenJSON, byteLevelTokenBytes, utf8Decode, utf8Encode } from "./byte_level.js";
import type { Decoder, FormatCtx, NormalizeFn, PostProcessor, PreTokenizer, Segment } from "./pipeline.js";
import { toByteLevel } from "./pipeline.js";
import type { DecodeOptions, EncodeOptions, Tokenizer } from "./types.js";
import type { SubwordModel } from "./wordpiece.js";

/** Open-addressing hash map (a, b) → int, for merge ranks: no allocation on lookup. */
export class PairMap {
  private ka: Int32Array;
  private kb: Int32Array;
  private val: Int32Array;
  private mask: number;
  size = 0;
  constructor(expected: number) {
    let cap = 16;
    while (cap < expected * 2) cap *= 2;
    this.ka = new Int32Array(cap).fill(-1);
    this.kb = new Int32Array(cap);
    this.val = new Int32Array(cap);
    this.mask = cap - 1;
  }
  private slot(a: number, b: number): number {
    let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x632be5ab, 0x85ebca77);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
    let i = h & this.mask;
    const ka = this.ka;
    const kb = this.kb;
    while (ka[i] !== -1 && (ka[i] !== a || kb[i] !== b)) i = (i + 1) & this.mask;
    return i;
  }
  get(a: number, b: number): number {
    const i = this.slot(a, b);
    return this.ka[i] === -1 ? -1 : this.val[i]!;
  }
  set(a: number, b: number, v: number): void {
    if ((this.size + 1) * 2 > this.ka.length) this.rehash();
    const i = this.slot(a, b);
    if (this.ka[i] === -1) {
      this.ka[i] = a;
      this.kb[i] = b;
      this.size++;
    }
    this.val[i] = v;
  }
  private rehash(): void {
    const { ka, kb, val } = this;
    const cap = ka.length * 2;
    this.ka = new Int32Array(cap).fill(-1);
    this.kb = new Int32Array(cap);
    this.val = new Int32Array(cap);
    this.mask = cap - 1;
    this.size = 0;
    for (let i = 0; i < ka.length; i++) if (ka[i] !== -1) this.set(ka[i]!, kb[i]!, val[i]!);
  }
}

export interface BpeModelOptions {
  vocab: Map<string, number>;
  merges: [string, string][];
  unkToken?: string | null;
  continuingSubwordPrefix?: string | null;
  endOfWordSuffix?: string | null;
  fuseUnk?: boolean;
  byteFallback?: boolean;
  ignoreMerges?: boolean;
  dropout?: number | null;
}

const NO_RANK = 0x7fffffff;
const SMALL_WORD = 64;
const CACHE_MAX_WORD = 256;
const CACHE_CAPACITY = 100_000;

/** The BPE model: word → ids. */
export class BpeModel implements SubwordModel {
  readonly vocab: ReadonlyMap<string, number>;
  readonly merges: readonly [string, string][];
  readonly opts: Required<Omit<BpeModelOptions, "vocab" | "merges">>;
  /** id → token (undefined for holes). */
  readonly vocabR: (string | undefined)[];
  private readonly ranks: PairMap;
  private readonly newIds: Int32Array;
  /** byteIds[b]: id of the byte-level character of byte b, or -1. */
  private readonly byteIds = new Int32Array(256).fill(-1);
  /** fallbackIds[b]: id of the byte-fallback token "<0xXX>", or -1. */
  private readonly fallbackIds = new Int32Array(256).fill(-1);
  private readonly fastBytes: boolean;
  private readonly unkId: number;
  private cache = new Map<string, number[]>();
  private scratchRanks = new Int32Array(SMALL_WORD);

  /** Throws ERR_FORMAT (through ctx) for merges whose parts or result are not in the vocab. */
  constructor(o: BpeModelOptions, ctx: FormatCtx) {
    this.vocab = o.vocab;
    this.merges = o.merges;
    this.opts = {
      unkToken: o.unkToken ?? null,
      continuingSubwordPrefix: o.continuingSubwordPrefix ?? null,
      endOfWordSuffix: o.endOfWordSuffix ?? null,
      fuseUnk: o.fuseUnk ?? false,
      byteFallback: o.byteFallback ?? false,
      ignoreMerges: o.ignoreMerges ?? false,
      dropout: o.dropout ?? null,
    };
    let maxId = -1;
    for (const id of o.vocab.values()) if (id > maxId) maxId = id;
    this.vocabR = new Array<string | undefined>(maxId + 1);
    for (const [tok, id] of o.vocab) this.vocabR[id] = tok;
    const prefixLen = this.opts.continuingSubwordPrefix?.length ?? 0;
    this.ranks = new PairMap(o.merges.length);
    this.newIds = new Int32Array(o.merges.length);
    o.merges.forEach(([a, b], i) => {
      const ai = o.vocab.get(a);
      if (ai === undefined) ctx.fail(`model.merges[${i}]`, "merge parts that are in model.vocab", a);
      const bi = o.vocab.get(b);
      if (bi === undefined) ctx.fail(`model.merges[${i}]`, "merge parts that are in model.vocab", b);
      const merged = a + b.slice(prefixLen);
      const ni = o.vocab.get(merged);
      if (ni === undefined) ctx.fail(`model.merges[${i}]`, `a merge whose result is in model.vocab (${JSON.stringify(merged)} is not)`, [a, b]);
      this.ranks.set(ai, bi, i);
      this.newIds[i] = ni;
    });
    for (let b = 0; b < 256; b++) {
      this.byteIds[b] = o.vocab.get(BYTE_TO_UNICODE[b]!) ?? -1;
      this.fallbackIds[b] = o.vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`) ?? -1;
    }
    // "" prefix / suffix (GPT-2's tokenizer.json has them) change nothing
    this.fastBytes = !this.opts.continuingSubwordPrefix && !this.opts.endOfWordSuffix && this.byteIds.every((x) => x >= 0);
    const unk = this.opts.unkToken;
    this.unkId = unk === null ? -1 : (o.vocab.get(unk) ?? -1);
    if (unk !== null && this.unkId < 0) ctx.fail("model.unk_token", "a token in model.vocab", unk);
  }

  get maxId(): number {
    return this.vocabR.length - 1;
  }

  get unkToken(): string | null {
    return this.opts.unkToken;
  }

  /** Rank of merging (a, b), or NO_RANK. */
  private rank(a: number, b: number): number {
    const r = this.ranks.get(a, b);
    return r < 0 ? NO_RANK : r;
  }

  /**
   * Encodes one pre-tokenized word, appending ids to `out`. With `byteInput` the word is raw
   * text whose UTF-8 bytes are the model's alphabet (a ByteLevel pre-tokenizer ran last);
   * otherwise its characters are.
   */
  tokenize(word: string, byteInput: boolean, out: number[]): void {
    if (word.length === 0) return;
    let ids = this.cache.get(word);
    if (ids === undefined) {
      ids = this.tokenizeUncached(word, byteInput);
      if (word.length < CACHE_MAX_WORD) {
        if (this.cache.size >= CACHE_CAPACITY) this.cache = new Map();
        this.cache.set(word, ids);
      }
    }
    for (let i = 0; i < ids.length; i++) out.push(ids[i]!);
  }

  /** Drops cached words (encoding results never change; this only frees memory). */
  clearCache(): void {
    this.cache = new Map();
  }

  /** The tokenizer.json `model` object. */
  toJSON(): object {
    const vocab: Record<string, number> = Object.create(null);
    for (const [tok, id] of [...this.vocab].sort((x, y) => x[1] - y[1])) vocab[tok] = id;
    const o = this.opts;
    return {
      type: "BPE",
      dropout: o.dropout,
      unk_token: o.unkToken,
      continuing_subword_prefix: o.continuingSubwordPrefix,
      end_of_word_suffix: o.endOfWordSuffix,
      fuse_unk: o.fuseUnk,
      byte_fallback: o.byteFallback,
      ignore_merges: o.ignoreMerges,
      vocab,
      merges: this.merges.map(([a, b]) => [a, b]),
    };
  }

  private tokenizeUncached(word: string, byteInput: boolean): number[] {
    if (this.opts.ignoreMerges) {
      const id = this.vocab.get(byteInput ? toByteLevel(word) : word);
      if (id !== undefined) return [id];
    }
    let sym: Int32Array;
    let n: number;
    if (byteInput && this.fastBytes) {
      const bytes = utf8Encode(word);
      n = bytes.length;
      sym = new Int32Array(n);
      for (let i = 0; i < n; i++) sym[i] = this.byteIds[bytes[i]!]!;
    } else {
      const chars: string[] = [];
      if (byteInput) {
        const bytes = utf8Encode(word);
        for (let i = 0; i < bytes.length; i++) chars.push(BYTE_TO_UNICODE[bytes[i]!]!);
      } else for (const c of word) chars.push(c);
      const list = this.initialSymbols(chars);
      sym = Int32Array.from(list);
      n = list.length;
    }
    if (n > 1 && this.merges.length > 0) n = n <= SMALL_WORD ? this.mergeSmall(sym, n) : this.mergeHeap(sym, n);
    return Array.from(sym.subarray(0, n));
  }

  /** HF BPE::merge_word's first half: characters → ids (prefix/suffix, byte fallback, unk). */
  private initialSymbols(chars: string[]): number[] {
    const { continuingSubwordPrefix: prefix, endOfWordSuffix: suffix, byteFallback, fuseUnk } = this.opts;
    const out: number[] = [];
    let pendingUnk = false;
    for (let i = 0; i < chars.length; i++) {
      let s = chars[i]!;
      if (i > 0 && prefix !== null) s = prefix + s;
      if (i === chars.length - 1 && suffix !== null) s = s + suffix;
      const id = this.vocab.get(s);
      if (id !== undefined) {
        if (pendingUnk) {
          out.push(this.unkId);
          pendingUnk = false;
        }
        out.push(id);
        continue;
      }
      if (byteFallback) {
        const bytes = s.length <= 2 && s === chars[i] ? utf8OfChar(s) : utf8Encode(s);
        const fb: number[] = [];
        for (let k = 0; k < bytes.length; k++) {
          const t = this.fallbackIds[bytes[k]!]!;
          if (t < 0) break;
          fb.push(t);
        }
        if (fb.length === bytes.length) {
          // HF pushes the byte tokens without flushing a pending unk first (its order quirk kept)
          for (const t of fb) out.push(t);
          continue;
        }
      }
      if (this.unkId >= 0) {
        if (pendingUnk && !fuseUnk) out.push(this.unkId);
        pendingUnk = true;
      }
    }
    if (pendingUnk) out.push(this.unkId);
    return out;
  }

  /** O(n²) worst case but allocation-free: ranks[i] holds the rank of pair (i, i+1). */
  private mergeSmall(sym: Int32Array, n: number): number {
    const ranks = this.scratchRanks;
    const newIds = this.newIds;
    for (let i = 0; i < n - 1; i++) ranks[i] = this.rank(sym[i]!, sym[i + 1]!);
    for (;;) {
      let best = NO_RANK;
      let bi = -1;
      for (let i = 0; i < n - 1; i++) {
        if (ranks[i]! < best) {
          best = ranks[i]!;
          bi = i;
        }
      }
      if (bi < 0) return n;
      sym[bi] = newIds[best]!;
      for (let k = bi + 1; k < n - 1; k++) sym[k] = sym[k + 1]!;
      for (let k = bi + 1; k < n - 2; k++) ranks[k] = ranks[k + 1]!;
      n--;
      if (bi > 0) ranks[bi - 1] = this.rank(sym[bi - 1]!, sym[bi]!);
      if (bi < n - 1) ranks[bi] = this.rank(sym[bi]!, sym[bi + 1]!);
    }
  }

  /** HF Word::merge_all: a min-heap of (rank, position) with lazy invalidation. */
  private mergeHeap(sym: Int32Array, n: number): number {
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    const alive = new Uint8Array(n).fill(1);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const heap = new MinHeap(n);
    const SHIFT = 4294967296; // key = rank · 2^32 + position: rank first, then leftmost
    for (let i = 0; i < n - 1; i++) {
      const r = this.rank(sym[i]!, sym[i + 1]!);
      if (r !== NO_RANK) heap.push(r * SHIFT + i);
    }
    while (heap.size > 0) {
      const key = heap.pop();
      const r = Math.floor(key / SHIFT);
      const pos = key - r * SHIFT;
      if (!alive[pos]) continue;
      const nx = next[pos]!;
      if (nx < 0) continue;
      if (this.rank(sym[pos]!, sym[nx]!) !== r) continue; // stale entry
      sym[pos] = this.newIds[r]!;
      alive[nx] = 0;
      const nn = next[nx]!;
      next[pos] = nn;
      if (nn >= 0) prev[nn] = pos;
      const pv = prev[pos]!;
      if (pv >= 0) {
        const r2 = this.rank(sym[pv]!, sym[pos]!);
        if (r2 !== NO_RANK) heap.push(r2 * SHIFT + pv);
      }
      if (nn >= 0) {
        const r3 = this.rank(sym[pos]!, sym[nn]!);
        if (r3 !== NO_RANK) heap.push(r3 * SHIFT + pos);
      }
    }
    let m = 0;
    for (let i = 0; i >= 0; i = next[i]!) sym[m++] = sym[i]!;
    return m;
  }
}

const ONE = [0, 0, 0, 0].map((_, n) => new Uint8Array(n + 1));
/** UTF-8 of a single code point (a lone surrogate → EF BF BD); a shared buffer, valid until the next call. */
function utf8OfChar(c: string): Uint8Array {
  let cp = c.codePointAt(0)!;
  if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
  if (cp < 0x80) {
    ONE[0]![0] = cp;
    return ONE[0]!;
  }
  if (cp < 0x800) {
    const o = ONE[1]!;
    o[0] = 0xc0 | (cp >> 6);
    o[1] = 0x80 | (cp & 63);
    return o;
  }
  if (cp < 0x10000) {
    const o = ONE[2]!;
    o[0] = 0xe0 | (cp >> 12);
    o[1] = 0x80 | ((cp >> 6) & 63);
    o[2] = 0x80 | (cp & 63);
    return o;
  }
  const o = ONE[3]!;
  o[0] = 0xf0 | (cp >> 18);
  o[1] = 0x80 | ((cp >> 12) & 63);
  o[2] = 0x80 | ((cp >> 6) & 63);
  o[3] = 0x80 | (cp & 63);
  return o;
}

/** Binary min-heap of float64 keys. */
export class MinHeap {
  private a: Float64Array;
  size = 0;
  constructor(cap = 16) {
    this.a = new Float64Array(Math.max(cap, 16));
  }
  push(k: number): void {
    if (this.size === this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    const a = this.a;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= k) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = k;
  }
  pop(): number {
    const a = this.a;
    const top = a[0]!;
    const last = a[--this.size]!;
    const n = this.size;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && a[c + 1]! < a[c]!) c++;
      if (a[c]! >= last) break;
      a[i] = a[c]!;
      i = c;
    }
    if (n > 0) a[i] = last;
    return top;
  }
}

/** Everything a BpeTokenizer is made of (hf.ts builds it from tokenizer.json). */
export interface BpeTokenizerParts {
  model: SubwordModel;
  addedTokens: AddedToken[];
  normalizer: NormalizeFn | null;
  preTokenizer: PreTokenizer | null;
  postProcessor: PostProcessor | null;
  decoder: Decoder | null;
  bosId?: number;
  eosId?: number;
  /** The JSON of the non-model stages, written back by toJSON(). */
  json: { normalizer: unknown; pre_tokenizer: unknown; post_processor: unknown; decoder: unknown };
  /** The tokenizer_config.json it was loaded with, if any (saveTokenizer keeps its other keys). */
  config?: Record<string, unknown>;
}

/**
 * A tokenizer.json tokenizer: BPE (byte-level or byte-fallback) or WordPiece (BERT). Build it with
 * loadTokenizer / tokenizerFromJSON / trainBpe.
 */
export class BpeTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId?: number;
  readonly eosId?: number;
  readonly model: SubwordModel;
  /** The tokenizer_config.json it was loaded with, if any. */
  readonly config?: Record<string, unknown>;
  private readonly parts: BpeTokenizerParts;
  private readonly added: AddedVocabulary;
  private readonly idBytes: (Uint8Array | undefined)[] = [];

  constructor(parts: BpeTokenizerParts) {
    this.parts = parts;
    this.model = parts.model;
    this.added = new AddedVocabulary(parts.addedTokens, parts.normalizer);
    let max = parts.model.maxId;
    for (const t of parts.addedTokens) max = Math.max(max, t.id);
    this.vocabSize = max + 1;
    if (parts.bosId !== undefined) this.bosId = parts.bosId;
    if (parts.eosId !== undefined) this.eosId = parts.eosId;
    if (parts.config !== undefined) this.config = parts.config;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (typeof text !== "string") throw new CtxwinError("ERR_ARG", `Tokenizer.encode: text: expected a string, got ${typeof text}`);
    const out: number[] = [];
    const model = this.model;
    const pre = this.parts.preTokenizer;
    const byteInput = pre?.byteLevel ?? false;
    const emitWord = (w: string): void => model.tokenize(w, byteInput, out);
    this.added.extract(
      text,
      opts.splitSpecialTokens ?? false,
      pre ? (piece, atOrigin) => pre.run(piece, atOrigin, emitWord) : emitWord,
      (id) => out.push(id),
    );
    const post = this.parts.postProcessor;
    return post && (opts.addSpecialTokens ?? true) ? post.apply(out) : out;
  }

  /**
   * Encodes a text or a pair of texts with the post-processor's special tokens and token type
   * ids (HF `tokenizer(a, b)`): no post-processor → A then B, typed 0 and 1.
   */
  encodePair(a: string, b?: string): Segment {
    if (b !== undefined && typeof b !== "string") throw new CtxwinError("ERR_ARG", `Tokenizer.encodePair: b: expected a string or undefined, got ${typeof b}`);
    const segs: Segment[] = [a, ...(b === undefined ? [] : [b])].map((text, i) => {
      const ids = this.encode(text, { addSpecialTokens: false });
      return { ids, typeIds: new Array<number>(ids.length).fill(i) };
    });
    const post = this.parts.postProcessor;
    const out = post ? post.process(segs) : segs;
    return { ids: out.flatMap((s) => s.ids), typeIds: out.flatMap((s) => s.typeIds) };
  }

  /**
   * The words the model sees, for inspection: added tokens (as their content) and the
   * normalized, pre-tokenized pieces in the model's alphabet (byte-level strings such as "Ġthe"
   * when the pre-tokenizer ends with ByteLevel) — HF's `pre_tokenize_str` with added tokens.
   */
  preTokenize(text: string, opts: Pick<EncodeOptions, "splitSpecialTokens"> = {}): string[] {
    const out: string[] = [];
    const pre = this.parts.preTokenizer;
    const byteInput = pre?.byteLevel ?? false;
    const emitWord = (w: string): void => {
      out.push(byteInput ? toByteLevel(w) : w);
    };
    this.added.extract(
      text,
      opts.splitSpecialTokens ?? false,
      pre ? (piece, atOrigin) => pre.run(piece, atOrigin, emitWord) : emitWord,
      (id) => out.push(this.added.byId.get(id)!.content),
    );
    return out;
  }

  decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    const skip = opts.skipSpecialTokens ?? false;
    const dec = this.parts.decoder;
    if (dec?.byteLevelOnly) {
      const sink = new ByteSink();
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i]!;
        let b = this.idBytes[id];
        if (b === undefined) {
          const t = this.idToToken(id);
          if (t === undefined) continue;
          b = byteLevelTokenBytes(t);
          if (Number.isInteger(id) && id >= 0 && id < this.vocabSize) this.idBytes[id] = b;
        }
        if (skip && this.isSpecialId(id)) continue;
        sink.pushAll(b);
      }
      return utf8Decode(sink.view());
    }
    const tokens: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const t = this.idToToken(ids[i]!);
      if (t === undefined || (skip && this.isSpecialId(ids[i]!))) continue;
      tokens.push(t);
    }
    return dec ? dec.chain(tokens).join("") : tokens.join(" ");
  }

  tokenToId(tok: string): number | undefined {
    return this.added.byContent.get(tok)?.id ?? this.model.vocab.get(tok);
  }

  idToToken(id: number): string | undefined {
    return this.added.byId.get(id)?.content ?? this.model.vocabR[id];
  }

  isSpecialId(id: number): boolean {
    return this.added.byId.get(id)?.special ?? false;
  }

  /** The added tokens (HF added_tokens), in file order. */
  get addedTokens(): readonly AddedToken[] {
    return this.added.tokens;
  }

  toJSON(): object {
    const { json } = this.parts;
    return {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: this.added.tokens.map(addedTokenJSON),
      normalizer: json.normalizer ?? null,
      pre_tokenizer: json.pre_tokenizer ?? null,
      post_processor: json.post_processor ?? null,
      decoder: json.decoder ?? null,
      model: this.model.toJSON(),
    };
  }
}
