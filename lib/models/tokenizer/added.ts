/**
 * Added tokens (HF `added_tokens`): strings matched literally in the input before any
 * normalization or pre-tokenization, each becoming one id. Semantics follow HF tokenizers'
 * AddedVocabulary: leftmost-longest matching; tokens with `normalized: false` are matched on the
 * raw text, those with `normalized: true` on the normalized text of the remaining pieces;
 * `single_word` rejects matches inside a word, `lstrip` / `rstrip` absorb the whitespace on that
 * side into the token.
 */
import { CtxwinError } from "../../errors.js";
import { WORD_CLASS, WS_CLASS, escapeRegExp } from "./regex.js";

export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
  singleWord: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
}

/** Options shared by the built-in tokenizers (byte-level and trained BPE) for their special tokens. */
export interface SpecialTokenOptions {
  /** Special tokens, given ids in this order right after the 256 byte ids. Default none. */
  specialTokens?: string[];
  /** Which special token is BOS. Default "<bos>", else "<s>", if among `specialTokens`; added to them if missing. */
  bosToken?: string;
  /** Which special token is EOS. Default "<eos>", else "</s>", if among `specialTokens`; added to them if missing. */
  eosToken?: string;
  /** encode() prepends BOS (unless `addSpecialTokens: false`). Default false. */
  addBos?: boolean;
  /** encode() appends EOS (unless `addSpecialTokens: false`). Default false. */
  addEos?: boolean;
}

export interface ResolvedSpecials {
  tokens: string[];
  bos?: string;
  eos?: string;
  addBos: boolean;
  addEos: boolean;
}

/** Validates SpecialTokenOptions (ERR_ARG on bad input) and resolves the BOS/EOS defaults. */
export function resolveSpecials(fn: string, opts: SpecialTokenOptions): ResolvedSpecials {
  const tokens = opts.specialTokens ?? [];
  if (!Array.isArray(tokens)) throw new CtxwinError("ERR_ARG", `${fn}: specialTokens: expected an array of strings, got ${typeof tokens}`);
  const seen = new Set<string>();
  const list: string[] = [];
  const add = (t: unknown, what: string): void => {
    if (typeof t !== "string" || t.length === 0) throw new CtxwinError("ERR_ARG", `${fn}: ${what}: expected a non-empty string, got ${JSON.stringify(t)}`);
    if (!seen.has(t)) {
      seen.add(t);
      list.push(t);
    }
  };
  tokens.forEach((t, i) => {
    if (seen.has(t)) throw new CtxwinError("ERR_ARG", `${fn}: specialTokens[${i}]: expected unique tokens, got ${JSON.stringify(t)} twice`);
    add(t, `specialTokens[${i}]`);
  });
  let bos = opts.bosToken;
  let eos = opts.eosToken;
  if (bos !== undefined) add(bos, "bosToken");
  else bos = ["<bos>", "<s>"].find((t) => seen.has(t));
  if (eos !== undefined) add(eos, "eosToken");
  else eos = ["<eos>", "</s>"].find((t) => seen.has(t));
  const addBos = opts.addBos ?? false;
  const addEos = opts.addEos ?? false;
  if (addBos && bos === undefined) throw new CtxwinError("ERR_ARG", `${fn}: addBos: expected a BOS token (bosToken, or "<bos>" in specialTokens), got none`);
  if (addEos && eos === undefined) throw new CtxwinError("ERR_ARG", `${fn}: addEos: expected an EOS token (eosToken, or "<eos>" in specialTokens), got none`);
  return { tokens: list, bos, eos, addBos, addEos };
}

const WORD_CHAR = new RegExp(`^[${WORD_CLASS}]$`, "u");
const WS_CHAR = new RegExp(`^[${WS_CLASS}]$`, "u");

/** The code point ending just before index i (as a string), or "" at the start. */
function charBefore(s: string, i: number): string {
  if (i <= 0) return "";
  const lo = s.charCodeAt(i - 1);
  if (lo >= 0xdc00 && lo <= 0xdfff && i >= 2) {
    const hi = s.charCodeAt(i - 2);
    if (hi >= 0xd800 && hi <= 0xdbff) return s.slice(i - 2, i);
  }
  return s[i - 1]!;
}
function charAt(s: string, i: number): string {
  const cp = s.codePointAt(i);
  return cp === undefined ? "" : String.fromCodePoint(cp);
}
/** Index where the run of whitespace ending at `end` starts (all whitespace is BMP). */
function wsRunStart(s: string, end: number): number {
  let i = end;
  while (i > 0 && WS_CHAR.test(s[i - 1]!)) i--;
  return i;
}
function wsRunEnd(s: string, start: number): number {
  let i = start;
  while (i < s.length && WS_CHAR.test(s[i]!)) i++;
  return i;
}

/** A literal matcher over a set of added tokens (leftmost-longest). */
class Matcher {
  private readonly re: RegExp;
  private readonly byContent = new Map<string, AddedToken>();
  constructor(tokens: { pattern: string; token: AddedToken }[]) {
    for (const t of tokens) if (!this.byContent.has(t.pattern)) this.byContent.set(t.pattern, t.token);
    const pats = [...this.byContent.keys()].sort((a, b) => b.length - a.length || (a < b ? -1 : a > b ? 1 : 0));
    this.re = new RegExp(pats.map(escapeRegExp).join("|"), "g");
  }

  /** Calls onText / onToken for the pieces of `s` in order (HF AddedVocabulary::find_matches). */
  split(s: string, onText: (text: string, start: number) => void, onToken: (id: number) => void): void {
    if (s.length === 0) return;
    const re = this.re;
    re.lastIndex = 0;
    let startOffset = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(s)) !== null) {
      let start = m.index;
      let stop = start + m[0].length;
      const tok = this.byContent.get(m[0])!;
      if (tok.singleWord) {
        const startSpace = start === 0 || !WORD_CHAR.test(charBefore(s, start));
        const stopSpace = stop === s.length || !WORD_CHAR.test(charAt(s, stop));
        if (!startSpace || !stopSpace) continue;
      }
      if (tok.lstrip) start = Math.max(wsRunStart(s, start), startOffset);
      if (tok.rstrip) {
        stop = wsRunEnd(s, stop);
        re.lastIndex = stop;
      }
      if (startOffset < start) onText(s.slice(startOffset, start), startOffset);
      onToken(tok.id);
      startOffset = stop;
    }
    if (startOffset < s.length) onText(s.slice(startOffset), startOffset);
  }
}

/** Splits text on added tokens; the text pieces are normalized (by `normalize`) in between, as HF does. */
export class AddedVocabulary {
  readonly tokens: readonly AddedToken[];
  readonly byId = new Map<number, AddedToken>();
  readonly byContent = new Map<string, AddedToken>();
  private readonly normalize: ((s: string) => string) | null;
  private readonly matchers: [Matcher | null, Matcher | null][] = []; // [all, non-special] × [raw, normalized]

  constructor(tokens: AddedToken[], normalize: ((s: string) => string) | null) {
    this.tokens = tokens;
    this.normalize = normalize;
    for (const t of tokens) {
      this.byId.set(t.id, t);
      this.byContent.set(t.content, t);
    }
    for (const skipSpecial of [false, true]) {
      const raw: { pattern: string; token: AddedToken }[] = [];
      const norm: { pattern: string; token: AddedToken }[] = [];
      for (const t of tokens) {
        if (t.content.length === 0 || (skipSpecial && t.special)) continue;
        if (t.normalized) {
          const p = normalize ? normalize(t.content) : t.content;
          if (p.length > 0) norm.push({ pattern: p, token: t });
        } else raw.push({ pattern: t.content, token: t });
      }
      this.matchers.push([raw.length ? new Matcher(raw) : null, norm.length ? new Matcher(norm) : null]);
    }
  }

  /**
   * Walks `text`: `onText(normalizedPiece, atOrigin)` for each non-empty text piece (atOrigin: it
   * starts at offset 0 of the input), `onToken(id)` for each added token, in order.
   */
  extract(text: string, splitSpecial: boolean, onText: (piece: string, atOrigin: boolean) => void, onToken: (id: number) => void): void {
    const [raw, norm] = this.matchers[splitSpecial ? 1 : 0]!;
    const normalize = this.normalize;
    const second = (piece: string, start: number): void => {
      const n = normalize ? normalize(piece) : piece;
      if (n.length === 0) return;
      if (norm) norm.split(n, (t, s2) => onText(t, start === 0 && s2 === 0), onToken);
      else onText(n, start === 0);
    };
    if (raw) raw.split(text, second, onToken);
    else if (text.length > 0) second(text, 0);
  }
}
