/**
 * Byte-level pieces: the GPT-2 byte↔unicode map (each byte is shown as a printable character so
 * that byte strings can live in a JSON vocabulary: space → "Ġ", newline → "Ċ"), UTF-8 helpers, and
 * the built-in byte tokenizer (ids 0–255 are the bytes of the UTF-8 encoding, special tokens follow).
 *
 * Text is encoded as the UTF-8 of the JS string; a lone surrogate (not valid Unicode, so it has no
 * UTF-8) becomes U+FFFD, exactly as `TextEncoder` does. Decoding turns invalid or truncated UTF-8
 * into U+FFFD, one per maximal invalid subsequence — the same as Rust's `from_utf8_lossy` (HF) and
 * Python's `errors="replace"`. So decode(encode(s)) === s for every well-formed string (any
 * script, emoji, combining marks, whitespace, a leading U+FEFF), and for any string with lone
 * surrogates replaced by U+FFFD.
 */
import { CtxwinError } from "../../errors.js";
import { AddedVocabulary, resolveSpecials, type AddedToken, type SpecialTokenOptions } from "./added.js";
import type { DecodeOptions, EncodeOptions, Tokenizer } from "./types.js";

function buildByteMap(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const map = new Array<string>(256);
  for (const b of bs) map[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (map[b] === undefined) map[b] = String.fromCharCode(256 + n++);
  }
  return map;
}

/** BYTE_TO_UNICODE[b] is the character GPT-2 / HF ByteLevel use for byte b. */
export const BYTE_TO_UNICODE: readonly string[] = Object.freeze(buildByteMap());
/** The inverse map: character → byte. */
export const UNICODE_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_UNICODE.map((c, b) => [c, b]));
/** Char code → byte, or -1 (all mapped chars are below 0x144). */
const CODE_TO_BYTE = (() => {
  const t = new Int16Array(512).fill(-1);
  BYTE_TO_UNICODE.forEach((c, b) => (t[c.charCodeAt(0)] = b));
  return t;
})();

/** Bytes → their byte-level string (e.g. [0x20, 0x68, 0x69] → "Ġhi"). */
export function bytesToUnicode(bytes: ArrayLike<number>): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += BYTE_TO_UNICODE[bytes[i]! & 0xff];
  return s;
}

/** A byte-level string back to bytes, or undefined if it has a character outside the map. */
export function unicodeToBytes(s: string): Uint8Array | undefined {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const b = c < 512 ? CODE_TO_BYTE[c]! : -1;
    if (b < 0) return undefined;
    out[i] = b;
  }
  return out;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

/** UTF-8 of a JS string; lone surrogates become U+FFFD (EF BF BD). */
export function utf8Encode(s: string): Uint8Array {
  return encoder.encode(s);
}

/** UTF-8 → string; invalid sequences become U+FFFD (maximal subparts), a leading BOM is kept. */
export function utf8Decode(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/**
 * How HF's ByteLevel decoder turns one token string into bytes: through the byte map when every
 * character is in it, else the token's own UTF-8 (added tokens such as "<|endoftext|>" are ASCII
 * and map to themselves either way).
 */
export function byteLevelTokenBytes(token: string): Uint8Array {
  return unicodeToBytes(token) ?? utf8Encode(token);
}

/** A growable byte buffer. */
export class ByteSink {
  buf = new Uint8Array(256);
  length = 0;
  push(b: number): void {
    if (this.length === this.buf.length) this.grow(1);
    this.buf[this.length++] = b;
  }
  pushAll(bytes: Uint8Array): void {
    if (this.length + bytes.length > this.buf.length) this.grow(bytes.length);
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }
  private grow(extra: number): void {
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + extra));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }
  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

export interface ByteTokenizerOptions extends SpecialTokenOptions {}

/**
 * The built-in byte-level tokenizer: id b (0–255) is byte b of the UTF-8 encoding; special tokens
 * get ids 256, 257, … in the order given and are matched literally in the text (pass
 * `splitSpecialTokens: true` to encode() to treat them as plain text). No merges, so every string
 * is its bytes. `toJSON()` is an HF tokenizer.json (a byte-level BPE without merges) that
 * `loadTokenizer` and HF tokenizers read back with the same ids.
 */
export class ByteTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId?: number;
  readonly eosId?: number;
  readonly specialTokens: readonly string[];
  private readonly added: AddedVocabulary;
  private readonly addBos: boolean;
  private readonly addEos: boolean;

  constructor(opts: ByteTokenizerOptions = {}) {
    const sp = resolveSpecials("ByteTokenizer", opts);
    this.specialTokens = sp.tokens;
    const tokens: AddedToken[] = sp.tokens.map((content, i) => ({
      id: 256 + i,
      content,
      special: true,
      singleWord: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
    }));
    this.added = new AddedVocabulary(tokens, null);
    this.vocabSize = 256 + tokens.length;
    if (sp.bos !== undefined) this.bosId = this.added.byContent.get(sp.bos)!.id;
    if (sp.eos !== undefined) this.eosId = this.added.byContent.get(sp.eos)!.id;
    this.addBos = sp.addBos;
    this.addEos = sp.addEos;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (typeof text !== "string") throw new CtxwinError("ERR_ARG", `ByteTokenizer.encode: text: expected a string, got ${typeof text}`);
    const out: number[] = [];
    const post = opts.addSpecialTokens ?? true;
    if (post && this.addBos) out.push(this.bosId!);
    this.added.extract(
      text,
      opts.splitSpecialTokens ?? false,
      (piece) => {
        const bytes = utf8Encode(piece);
        for (let i = 0; i < bytes.length; i++) out.push(bytes[i]!);
      },
      (id) => out.push(id),
    );
    if (post && this.addEos) out.push(this.eosId!);
    return out;
  }

  decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    const skip = opts.skipSpecialTokens ?? false;
    const sink = new ByteSink();
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (Number.isInteger(id) && id >= 0 && id < 256) sink.push(id);
      else {
        const t = this.added.byId.get(id);
        if (t && !(skip && t.special)) sink.pushAll(byteLevelTokenBytes(t.content));
      }
    }
    return utf8Decode(sink.view());
  }

  tokenToId(tok: string): number | undefined {
    const t = this.added.byContent.get(tok);
    if (t) return t.id;
    if (tok.length === 1) {
      const b = UNICODE_TO_BYTE.get(tok);
      if (b !== undefined) return b;
    }
    return undefined;
  }

  idToToken(id: number): string | undefined {
    if (Number.isInteger(id) && id >= 0 && id < 256) return BYTE_TO_UNICODE[id];
    return this.added.byId.get(id)?.content;
  }

  isSpecialId(id: number): boolean {
    return this.added.byId.get(id)?.special ?? false;
  }

  toJSON(): object {
    const vocab: Record<string, number> = Object.create(null);
    for (let b = 0; b < 256; b++) vocab[BYTE_TO_UNICODE[b]!] = b;
    for (const t of this.added.tokens) vocab[t.content] = t.id;
    return {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: this.added.tokens.map(addedTokenJSON),
      normalizer: null,
      pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      post_processor: templateJSON(
        this.addBos ? this.idToToken(this.bosId!)! : undefined,
        this.bosId,
        this.addEos ? this.idToToken(this.eosId!)! : undefined,
        this.eosId,
      ),
      decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: bpeModelJSON(vocab, []),
    };
  }
}

/** Shorthand for `new ByteTokenizer(opts)`. */
export function byteTokenizer(opts: ByteTokenizerOptions = {}): ByteTokenizer {
  return new ByteTokenizer(opts);
}

/** An HF added_tokens entry. */
export function addedTokenJSON(t: AddedToken): object {
  return { id: t.id, content: t.content, single_word: t.singleWord, lstrip: t.lstrip, rstrip: t.rstrip, normalized: t.normalized, special: t.special };
}

/** An HF BPE model object. */
export function bpeModelJSON(vocab: Record<string, number>, merges: [string, string][], extra: Record<string, unknown> = {}): object {
  return {
    type: "BPE",
    dropout: null,
    unk_token: null,
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: false,
    byte_fallback: false,
    ignore_merges: false,
    ...extra,
    vocab,
    merges,
  };
}

/**
 * The post_processor for optional BOS / EOS: a TemplateProcessing when either is added, else a
 * ByteLevel processor (which only trims offsets; ids unchanged).
 */
export function templateJSON(bos: string | undefined, bosId: number | undefined, eos: string | undefined, eosId: number | undefined): object {
  if (bos === undefined && eos === undefined) return { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true };
  const single: object[] = [];
  const pair: object[] = [];
  const special: Record<string, object> = {};
  if (bos !== undefined) {
    single.push({ SpecialToken: { id: bos, type_id: 0 } });
    pair.push({ SpecialToken: { id: bos, type_id: 0 } });
    special[bos] = { id: bos, ids: [bosId], tokens: [bos] };
  }
  single.push({ Sequence: { id: "A", type_id: 0 } });
  pair.push({ Sequence: { id: "A", type_id: 0 } });
  if (eos !== undefined) {
    single.push({ SpecialToken: { id: eos, type_id: 0 } });
    pair.push({ SpecialToken: { id: eos, type_id: 0 } });
    special[eos] = { id: eos, ids: [eosId], tokens: [eos] };
  }
  if (bos !== undefined) pair.push({ SpecialToken: { id: bos, type_id: 1 } });
  pair.push({ Sequence: { id: "B", type_id: 1 } });
  if (eos !== undefined) pair.push({ SpecialToken: { id: eos, type_id: 1 } });
  return { type: "TemplateProcessing", single, pair, special_tokens: special };
}
