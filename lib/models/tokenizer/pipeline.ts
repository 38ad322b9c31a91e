/**
 * The non-model stages of an HF tokenizer, parsed from tokenizer.json: normalizers,
 * pre-tokenizers, post-processors and decoders. Each follows HF tokenizers' Rust implementation
 * (the same splits, the same order); the subset supported is the one byte-level BPE (GPT-2,
 * Llama-3, Qwen2, BLOOM, RoBERTa, …), byte-fallback BPE (Llama-2, Mistral, TinyLlama) and
 * WordPiece (BERT) tokenizers use.
 * Anything else is reported as an ERR_FORMAT error naming the file, the JSON path and the
 * supported types.
 */
import { CtxwinError, show } from "../../errors.js";
import { BYTE_TO_UNICODE, utf8Decode, utf8Encode } from "./byte_level.js";
import { bertPreTokenize, parseBertNormalizer, wordPieceDecoder } from "./wordpiece.js";
import { GPT2_PATTERN, WORD_CLASS, WS_CLASS, compilePattern, escapeRegExp } from "./regex.js";

// ---------------------------------------------------------------------------------------------
// JSON checking

export class FormatCtx {
  constructor(
    readonly fn: string,
    readonly file: string,
  ) {}
  fail(path: string, expected: string, got: unknown): never {
    const what = typeof got === "string" && got.length > 80 ? JSON.stringify(got.slice(0, 80) + "…") : show(got);
    throw new CtxwinError("ERR_FORMAT", `${this.fn}: ${this.file}: ${path}: expected ${expected}, got ${what}`);
  }
  obj(v: unknown, path: string): Record<string, unknown> {
    if (typeof v !== "object" || v === null || Array.isArray(v)) this.fail(path, "an object", v);
    return v as Record<string, unknown>;
  }
  arr(v: unknown, path: string): unknown[] {
    if (!Array.isArray(v)) this.fail(path, "an array", v);
    return v;
  }
  str(v: unknown, path: string): string {
    if (typeof v !== "string") this.fail(path, "a string", v);
    return v;
  }
  optStr(v: unknown, path: string): string | null {
    if (v === undefined || v === null) return null;
    return this.str(v, path);
  }
  bool(v: unknown, path: string, dflt: boolean): boolean {
    if (v === undefined || v === null) return dflt;
    if (typeof v !== "boolean") this.fail(path, "a boolean", v);
    return v;
  }
  uint(v: unknown, path: string, max = 2 ** 26): number {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v >= max) this.fail(path, `an integer in [0, ${max})`, v);
    return v;
  }
  type(o: Record<string, unknown>, path: string): string {
    return this.str(o["type"], `${path}.type`);
  }
  unsupported(path: string, kind: string, supported: string[], got: unknown): never {
    this.fail(path, `one of the supported ${kind} types (${supported.join(", ")})`, got);
  }
}

function regexFor(ctx: FormatCtx, v: unknown, path: string): RegExp {
  const o = ctx.obj(v, path);
  if (typeof o["String"] === "string") return new RegExp(escapeRegExp(o["String"]), "gu");
  if (typeof o["Regex"] === "string") {
    try {
      return compilePattern(o["Regex"]);
    } catch (e) {
      ctx.fail(`${path}.Regex`, `a regex JS can run (${(e as Error).message})`, o["Regex"]);
    }
  }
  return ctx.fail(path, `{"String": ...} or {"Regex": ...}`, v);
}

// ---------------------------------------------------------------------------------------------
// Normalizers

export type NormalizeFn = (s: string) => string;

const NORMALIZERS = ["BertNormalizer", "Sequence", "NFC", "NFD", "NFKC", "NFKD", "Lowercase", "Strip", "StripAccents", "Prepend", "Replace"];
const LEADING_WS_RE = new RegExp(`^[${WS_CLASS}]+`, "u");
const TRAILING_WS_RE = new RegExp(`[${WS_CLASS}]+$`, "u");

export function parseNormalizer(ctx: FormatCtx, v: unknown, path: string): NormalizeFn | null {
  if (v === null || v === undefined) return null;
  const o = ctx.obj(v, path);
  const t = ctx.type(o, path);
  switch (t) {
    case "Sequence": {
      const fns = ctx.arr(o["normalizers"], `${path}.normalizers`).map((n, i) => parseNormalizer(ctx, n, `${path}.normalizers[${i}]`)).filter((f): f is NormalizeFn => f !== null);
      return (s) => fns.reduce((acc, f) => f(acc), s);
    }
    case "BertNormalizer":
      return parseBertNormalizer(ctx, o, path);
    case "NFC":
    case "NFD":
    case "NFKC":
    case "NFKD":
      return (s) => s.normalize(t);
    case "Lowercase":
      return (s) => s.toLowerCase();
    case "Strip": {
      const left = ctx.bool(o["strip_left"], `${path}.strip_left`, true);
      const right = ctx.bool(o["strip_right"], `${path}.strip_right`, true);
      return (s) => {
        if (left) s = s.replace(LEADING_WS_RE, "");
        if (right) s = s.replace(TRAILING_WS_RE, "");
        return s;
      };
    }
    case "StripAccents":
      return (s) => s.replace(/\p{Mn}/gu, "");
    case "Prepend": {
      const p = ctx.str(o["prepend"], `${path}.prepend`);
      return (s) => (s.length > 0 ? p + s : s);
    }
    case "Replace": {
      const re = regexFor(ctx, o["pattern"], `${path}.pattern`);
      const content = ctx.str(o["content"], `${path}.content`);
      return (s) => s.replace(re, () => content);
    }
    default:
      return ctx.unsupported(`${path}.type`, "normalizer", NORMALIZERS, t);
  }
}

// ---------------------------------------------------------------------------------------------
// Pattern splitting (HF NormalizedString::split)

export type Behavior = "Removed" | "Isolated" | "MergedWithPrevious" | "MergedWithNext" | "Contiguous";
const BEHAVIORS: Behavior[] = ["Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"];

/** Emit callback of the pre-tokenizers: a non-empty piece and whether it starts the input. */
export type Emit = (piece: string, atOrigin: boolean) => void;

/** Fast path of `Isolated` (no invert): every match and every gap between matches is a piece. */
function splitIsolated(re: RegExp, s: string, atOrigin: boolean, emit: Emit): void {
  re.lastIndex = 0;
  let prev = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    const start = m.index;
    const len = m[0].length;
    if (len === 0) {
      re.lastIndex = advance(s, re.lastIndex);
      continue;
    }
    if (prev !== start) emit(s.slice(prev, start), atOrigin && prev === 0);
    emit(m[0], atOrigin && start === 0);
    prev = start + len;
  }
  if (prev < s.length) emit(s.slice(prev), atOrigin && prev === 0);
}

function advance(s: string, i: number): number {
  const c = s.charCodeAt(i);
  return c >= 0xd800 && c <= 0xdbff && i + 1 < s.length ? i + 2 : i + 1;
}

/** HF Pattern::find_matches: (start, end, isMatch) covering s. */
function findMatches(re: RegExp, s: string): [number, number, boolean][] {
  const out: [number, number, boolean][] = [];
  re.lastIndex = 0;
  let prev = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    const start = m.index;
    const end = start + m[0].length;
    if (prev !== start) out.push([prev, start, false]);
    out.push([start, end, true]);
    prev = end;
    if (end === start) re.lastIndex = advance(s, re.lastIndex);
  }
  if (prev !== s.length) out.push([prev, s.length, false]);
  return out;
}

export function splitWithBehavior(re: RegExp, behavior: Behavior, invert: boolean, s: string, atOrigin: boolean, emit: Emit): void {
  if (behavior === "Isolated" && !invert) return splitIsolated(re, s, atOrigin, emit);
  let matches = findMatches(re, s);
  if (invert) matches = matches.map(([a, b, m]) => [a, b, !m]);
  let splits: [number, number, boolean][]; // [start, end, remove]
  switch (behavior) {
    case "Isolated":
      splits = matches.map(([a, b]) => [a, b, false]);
      break;
    case "Removed":
      splits = matches;
      break;
    case "Contiguous": {
      splits = [];
      let prevMatch = false;
      for (const [a, b, m] of matches) {
        const last = splits[splits.length - 1];
        if (m === prevMatch && last) last[1] = b;
        else splits.push([a, b, false]);
        prevMatch = m;
      }
      break;
    }
    case "MergedWithPrevious": {
      splits = [];
      let prevMatch = false;
      for (const [a, b, m] of matches) {
        const last = splits[splits.length - 1];
        if (m && !prevMatch && last) last[1] = b;
        else splits.push([a, b, false]);
        prevMatch = m;
      }
      break;
    }
    case "MergedWithNext": {
      splits = [];
      let prevMatch = false;
      for (let i = matches.length - 1; i >= 0; i--) {
        const [a, b, m] = matches[i]!;
        const last = splits[splits.length - 1];
        if (m && !prevMatch && last) last[0] = a;
        else splits.push([a, b, false]);
        prevMatch = m;
      }
      splits.reverse();
      break;
    }
  }
  for (const [a, b, remove] of splits) if (!remove && b > a) emit(s.slice(a, b), atOrigin && a === 0);
}

// ---------------------------------------------------------------------------------------------
// Pre-tokenizers

type Step = (s: string, atOrigin: boolean, emit: Emit) => void;

export interface PreTokenizer {
  /** Splits a (normalized) text piece into the words the model encodes. */
  run(s: string, atOrigin: boolean, emit: Emit): void;
  /**
   * True when the last step is ByteLevel: the emitted words are then the raw text (not yet mapped
   * to byte characters) and the model maps their UTF-8 bytes itself (faster, same result).
   */
  readonly byteLevel: boolean;
}

const PRE_TOKENIZERS = ["BertPreTokenizer", "ByteLevel", "Split", "Sequence", "Metaspace", "Digits", "Whitespace", "WhitespaceSplit", "Punctuation"];

const GPT2_RE = compilePattern(GPT2_PATTERN);
const WHITESPACE_RE = new RegExp(`[${WORD_CLASS}]+|[^${WORD_CLASS}${WS_CLASS}]+`, "gu");
const WS_CHAR_RE = new RegExp(`[${WS_CLASS}]`, "gu");
const NUMERIC_CHAR_RE = /\p{N}/gu;
const PUNCT_CHAR_RE = /[\p{P}!-\/:-@[-`{-~]/gu;

/** Maps text to the byte-level alphabet (UTF-8 bytes, each shown as its GPT-2 character). */
export function toByteLevel(s: string): string {
  const bytes = utf8Encode(s);
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += BYTE_TO_UNICODE[bytes[i]!];
  return out;
}

function byteLevelStep(addPrefixSpace: boolean, useRegex: boolean, map: boolean): Step {
  return (s, atOrigin, emit) => {
    if (addPrefixSpace && s[0] !== " ") s = " " + s;
    const out: Emit = map ? (p, o) => emit(toByteLevel(p), o) : emit;
    if (useRegex) splitIsolated(GPT2_RE, s, atOrigin, out);
    else out(s, atOrigin);
  };
}

function parseSteps(ctx: FormatCtx, v: unknown, path: string, steps: { step: Step; byteLevel?: [boolean, boolean] }[]): void {
  const o = ctx.obj(v, path);
  const t = ctx.type(o, path);
  switch (t) {
    case "Sequence":
      ctx.arr(o["pretokenizers"], `${path}.pretokenizers`).forEach((p, i) => parseSteps(ctx, p, `${path}.pretokenizers[${i}]`, steps));
      return;
    case "ByteLevel": {
      const aps = ctx.bool(o["add_prefix_space"], `${path}.add_prefix_space`, true);
      const useRegex = ctx.bool(o["use_regex"], `${path}.use_regex`, true);
      steps.push({ step: byteLevelStep(aps, useRegex, true), byteLevel: [aps, useRegex] });
      return;
    }
    case "Split": {
      const re = regexFor(ctx, o["pattern"], `${path}.pattern`);
      const behavior = ctx.str(o["behavior"], `${path}.behavior`) as Behavior;
      if (!BEHAVIORS.includes(behavior)) ctx.fail(`${path}.behavior`, `one of ${BEHAVIORS.join(", ")}`, behavior);
      const invert = ctx.bool(o["invert"], `${path}.invert`, false);
      steps.push({ step: (s, a, emit) => splitWithBehavior(re, behavior, invert, s, a, emit) });
      return;
    }
    case "Metaspace": {
      const rep = ctx.str(o["replacement"], `${path}.replacement`);
      if ([...rep].length !== 1) ctx.fail(`${path}.replacement`, "a single character", rep);
      let scheme = ctx.optStr(o["prepend_scheme"], `${path}.prepend_scheme`) ?? "always";
      if (!["always", "first", "never"].includes(scheme)) ctx.fail(`${path}.prepend_scheme`, `"always", "first" or "never"`, scheme);
      if (o["add_prefix_space"] === false) scheme = "never";
      const split = ctx.bool(o["split"], `${path}.split`, true);
      const repRe = new RegExp(escapeRegExp(rep), "gu");
      steps.push({
        step: (s, atOrigin, emit) => {
          s = s.replaceAll(" ", rep);
          if ((scheme === "always" || (scheme === "first" && atOrigin)) && !s.startsWith(rep)) s = rep + s;
          if (split) splitWithBehavior(repRe, "MergedWithNext", false, s, atOrigin, emit);
          else emit(s, atOrigin);
        },
      });
      return;
    }
    case "Digits": {
      const individual = ctx.bool(o["individual_digits"], `${path}.individual_digits`, false);
      const behavior: Behavior = individual ? "Isolated" : "Contiguous";
      steps.push({ step: (s, a, emit) => splitWithBehavior(NUMERIC_CHAR_RE, behavior, false, s, a, emit) });
      return;
    }
    case "BertPreTokenizer":
      steps.push({ step: bertPreTokenize });
      return;
    case "Whitespace":
      steps.push({ step: (s, a, emit) => splitWithBehavior(WHITESPACE_RE, "Removed", true, s, a, emit) });
      return;
    case "WhitespaceSplit":
      steps.push({ step: (s, a, emit) => splitWithBehavior(WS_CHAR_RE, "Removed", false, s, a, emit) });
      return;
    case "Punctuation": {
      const behavior = (ctx.optStr(o["behavior"], `${path}.behavior`) ?? "Isolated") as Behavior;
      if (!BEHAVIORS.includes(behavior)) ctx.fail(`${path}.behavior`, `one of ${BEHAVIORS.join(", ")}`, behavior);
      steps.push({ step: (s, a, emit) => splitWithBehavior(PUNCT_CHAR_RE, behavior, false, s, a, emit) });
      return;
    }
    default:
      ctx.unsupported(`${path}.type`, "pre_tokenizer", PRE_TOKENIZERS, t);
  }
}

export function parsePreTokenizer(ctx: FormatCtx, v: unknown, path: string): PreTokenizer | null {
  if (v === null || v === undefined) return null;
  const steps: { step: Step; byteLevel?: [boolean, boolean] }[] = [];
  parseSteps(ctx, v, path, steps);
  const last = steps[steps.length - 1];
  let byteLevel = false;
  if (last?.byteLevel) {
    last.step = byteLevelStep(last.byteLevel[0], last.byteLevel[1], false);
    byteLevel = true;
  }
  const fns = steps.map((s) => s.step);
  if (fns.length === 1) return { run: fns[0]!, byteLevel };
  const run = (s: string, atOrigin: boolean, emit: Emit): void => {
    const go = (i: number, p: string, o: boolean): void => {
      if (i === fns.length) emit(p, o);
      else fns[i]!(p, o, (q, o2) => go(i + 1, q, o2));
    };
    go(0, s, atOrigin);
  };
  return { run, byteLevel };
}

// ---------------------------------------------------------------------------------------------
// Post-processors (single texts and pairs, as HF's encode(a) / encode(a, b))

export type PostProcessFn = (ids: number[]) => number[];

/** One encoded sequence and its token type (segment) ids. */
export interface Segment {
  ids: number[];
  typeIds: number[];
}

export interface PostProcessor {
  /** A single sequence's ids with the special tokens added. */
  apply: PostProcessFn;
  /**
   * HF process_encodings: the encoded sequences (A, or A and B; B's type ids start as 1, as HF's
   * encode_pair makes them) → the sequences with special tokens and type ids set; concatenated
   * they are the encoding.
   */
  process(segments: Segment[]): Segment[];
  /** Special-token ids inserted before / after the single sequence (to infer BOS / EOS). */
  before: number[];
  after: number[];
}

const POST_PROCESSORS = ["TemplateProcessing", "ByteLevel", "Sequence", "RobertaProcessing", "BertProcessing"];

const fill = (n: number, v: number): number[] => new Array<number>(n).fill(v);

function fromProcess(process: (segments: Segment[]) => Segment[], before: number[], after: number[]): PostProcessor {
  return {
    before,
    after,
    process,
    apply: before.length === 0 && after.length === 0 ? (ids) => ids : (ids) => before.concat(ids, after),
  };
}

type Piece = { seq: 0 | 1; typeId: number } | { special: string; typeId: number };

export function parsePostProcessor(ctx: FormatCtx, v: unknown, path: string): PostProcessor | null {
  if (v === null || v === undefined) return null;
  const o = ctx.obj(v, path);
  const t = ctx.type(o, path);
  switch (t) {
    case "ByteLevel":
      return fromProcess((segs) => segs, [], []);
    case "Sequence": {
      const ps = ctx.arr(o["processors"], `${path}.processors`).map((p, i) => parsePostProcessor(ctx, p, `${path}.processors[${i}]`)).filter((p): p is PostProcessor => p !== null);
      const before: number[] = [];
      const after: number[] = [];
      for (const p of ps) {
        before.unshift(...p.before);
        after.push(...p.after);
      }
      return fromProcess((segs) => ps.reduce((acc, p) => p.process(acc), segs), before, after);
    }
    case "RobertaProcessing":
    case "BertProcessing": {
      const tokId = (k: string): number => {
        const pair = ctx.arr(o[k], `${path}.${k}`);
        return ctx.uint(pair[1], `${path}.${k}[1]`);
      };
      const cls = tokId("cls");
      const sep = tokId("sep");
      const roberta = t === "RobertaProcessing";
      return fromProcess(
        (segs) =>
          segs.map((s, i) => {
            // BERT: [CLS] A [SEP] B [SEP] with B's part typed 1; RoBERTa: <s> A </s></s> B </s>, all 0
            const ids = i === 0 ? [cls, ...s.ids, sep] : roberta ? [sep, ...s.ids, sep] : [...s.ids, sep];
            return { ids, typeIds: fill(ids.length, i === 0 || roberta ? 0 : 1) };
          }),
        [cls],
        [sep],
      );
    }
    case "TemplateProcessing": {
      const specials = ctx.obj(o["special_tokens"] ?? {}, `${path}.special_tokens`);
      const idsOf = (name: string, p: string): number[] => {
        const st = specials[name];
        if (st === undefined) ctx.fail(p, `a token listed in ${path}.special_tokens`, name);
        const so = ctx.obj(st, `${path}.special_tokens[${JSON.stringify(name)}]`);
        return ctx.arr(so["ids"], `${path}.special_tokens[${JSON.stringify(name)}].ids`).map((x, i) => ctx.uint(x, `${path}.special_tokens[${JSON.stringify(name)}].ids[${i}]`));
      };
      const template = (key: "single" | "pair"): Piece[] | null => {
        const raw = o[key];
        if (raw === undefined || raw === null) return null;
        const pieces = typeof raw === "string" ? raw.split(" ").filter((x) => x.length > 0) : ctx.arr(raw, `${path}.${key}`);
        const out = pieces.map((p, i): Piece => {
          const pp = `${path}.${key}[${i}]`;
          if (typeof p === "string") return pieceOf(ctx, p, pp);
          const po = ctx.obj(p, pp);
          if (po["Sequence"] !== undefined) {
            const so = ctx.obj(po["Sequence"], `${pp}.Sequence`);
            const id = so["id"];
            if (id !== "A" && id !== "B") ctx.fail(`${pp}.Sequence.id`, `"A" or "B"`, id);
            return { seq: id === "A" ? 0 : 1, typeId: ctx.uint(so["type_id"] ?? 0, `${pp}.Sequence.type_id`) };
          }
          if (po["SpecialToken"] === undefined) ctx.fail(pp, `{"SpecialToken": ...} or {"Sequence": ...}`, p);
          const so = ctx.obj(po["SpecialToken"], `${pp}.SpecialToken`);
          return { special: ctx.str(so["id"], `${pp}.SpecialToken.id`), typeId: ctx.uint(so["type_id"] ?? 0, `${pp}.SpecialToken.type_id`) };
        });
        out.forEach((p, i) => {
          if ("special" in p) idsOf(p.special, `${path}.${key}[${i}]`);
        });
        return out;
      };
      const single = template("single");
      if (!single || !single.some((p) => "seq" in p && p.seq === 0)) ctx.fail(`${path}.single`, "a template containing the sequence ($A)", o["single"]);
      const pair = template("pair");
      if (pair && !(pair.some((p) => "seq" in p && p.seq === 0) && pair.some((p) => "seq" in p && p.seq === 1))) ctx.fail(`${path}.pair`, "a template containing both sequences ($A and $B)", o["pair"]);
      const before: number[] = [];
      const after: number[] = [];
      let seenSeq = false;
      for (const p of single) {
        if ("seq" in p) seenSeq = true;
        else (seenSeq ? after : before).push(...idsOf(p.special, path));
      }
      return fromProcess(
        (segs) => {
          const tpl = segs.length === 1 ? single : pair;
          if (!tpl) throw new CtxwinError("ERR_ARG", `${ctx.fn}: ${ctx.file}: ${path}.pair: expected a pair template to encode a pair of texts, got none`);
          const out: Segment = { ids: [], typeIds: [] };
          for (const p of tpl) {
            const ids = "seq" in p ? (segs[p.seq]?.ids ?? []) : idsOf(p.special, path);
            out.ids.push(...ids);
            out.typeIds.push(...fill(ids.length, p.typeId));
          }
          return [out];
        },
        before,
        after,
      );
    }
    default:
      return ctx.unsupported(`${path}.type`, "post_processor", POST_PROCESSORS, t);
  }
}

/** A template piece in HF's string form: "$A", "$B", "$", "$1" (A typed 1), "[CLS]", any with ":type_id". */
function pieceOf(ctx: FormatCtx, s: string, path: string): Piece {
  const parts = s.split(":");
  if (parts.length > 2 || (parts.length === 2 && !/^\d+$/.test(parts[1]!))) ctx.fail(path, `a template piece ("$A", "$B:1", "[SEP]:1", ...)`, s);
  const id = parts[0]!;
  let typeId = parts.length === 2 ? Number(parts[1]) : 0;
  if (!id.startsWith("$")) return { special: id, typeId };
  const rest = id.slice(1);
  if (rest === "" || rest === "A" || rest === "a") return { seq: 0, typeId };
  if (rest === "B" || rest === "b") return { seq: 1, typeId };
  if (/^\d+$/.test(rest)) {
    if (parts.length === 1) typeId = Number(rest);
    return { seq: 0, typeId };
  }
  return ctx.fail(path, `a template piece ("$A", "$B:1", "[SEP]:1", ...)`, s);
}

// ---------------------------------------------------------------------------------------------
// Decoders

export type DecodeChain = (tokens: string[]) => string[];

export interface Decoder {
  chain: DecodeChain;
  /** True when the decoder is exactly ByteLevel (the tokenizer then decodes from bytes directly). */
  byteLevelOnly: boolean;
}

const DECODERS = ["WordPiece", "ByteLevel", "Metaspace", "Sequence", "Replace", "ByteFallback", "Fuse", "Strip", "BPEDecoder"];

function byteLevelChain(tokens: string[]): string[] {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const t of tokens) {
    const b = byteLevelBytes(t);
    parts.push(b);
    total += b.length;
  }
  const all = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  return [utf8Decode(all)];
}

const CHAR_TO_BYTE = new Map(BYTE_TO_UNICODE.map((c, b) => [c, b]));
function byteLevelBytes(t: string): Uint8Array {
  const out = new Uint8Array(t.length);
  for (let i = 0; i < t.length; i++) {
    const b = CHAR_TO_BYTE.get(t[i]!);
    if (b === undefined) return utf8Encode(t);
    out[i] = b;
  }
  return out;
}

function parseDecoderChain(ctx: FormatCtx, v: unknown, path: string): DecodeChain {
  const o = ctx.obj(v, path);
  const t = ctx.type(o, path);
  switch (t) {
    case "ByteLevel":
      return byteLevelChain;
    case "Sequence": {
      const ds = ctx.arr(o["decoders"], `${path}.decoders`).map((d, i) => parseDecoderChain(ctx, d, `${path}.decoders[${i}]`));
      return (tokens) => ds.reduce((acc, d) => d(acc), tokens);
    }
    case "Fuse":
      return (tokens) => [tokens.join("")];
    case "WordPiece":
      return wordPieceDecoder(ctx.optStr(o["prefix"], `${path}.prefix`) ?? "##", ctx.bool(o["cleanup"], `${path}.cleanup`, true));
    case "Replace": {
      const re = regexFor(ctx, o["pattern"], `${path}.pattern`);
      const content = ctx.str(o["content"], `${path}.content`);
      return (tokens) => tokens.map((tok) => tok.replace(re, () => content));
    }
    case "Strip": {
      const content = ctx.str(o["content"], `${path}.content`);
      if ([...content].length !== 1) ctx.fail(`${path}.content`, "a single character", content);
      const start = ctx.uint(o["start"] ?? 0, `${path}.start`);
      const stop = ctx.uint(o["stop"] ?? 0, `${path}.stop`);
      return (tokens) =>
        tokens.map((tok) => {
          const chars = [...tok];
          let a = 0;
          while (a < Math.min(start, chars.length) && chars[a] === content) a++;
          let b = chars.length;
          for (let i = 0; i < stop && b > a && chars[b - 1] === content; i++) b--;
          return chars.slice(a, b).join("");
        });
    }
    case "ByteFallback":
      return (tokens) => {
        const out: string[] = [];
        let pending: number[] = [];
        const flush = (): void => {
          if (pending.length === 0) return;
          const bytes = Uint8Array.from(pending);
          let s: string | null;
          try {
            s = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
          } catch {
            s = null;
          }
          if (s !== null) out.push(s);
          else for (let i = 0; i < pending.length; i++) out.push("\uFFFD");
          pending = [];
        };
        for (const tok of tokens) {
          const m = tok.length === 6 && /^<0x([0-9A-Fa-f]{2})>$/.exec(tok);
          if (m) pending.push(parseInt(m[1]!, 16));
          else {
            flush();
            out.push(tok);
          }
        }
        flush();
        return out;
      };
    case "Metaspace": {
      const rep = ctx.str(o["replacement"], `${path}.replacement`);
      let scheme = ctx.optStr(o["prepend_scheme"], `${path}.prepend_scheme`) ?? "always";
      if (o["add_prefix_space"] === false) scheme = "never";
      return (tokens) => tokens.map((tok, i) => tok.split(rep).join(i === 0 && scheme !== "never" ? "" : " "));
    }
    case "BPEDecoder": {
      const suffix = ctx.optStr(o["suffix"], `${path}.suffix`) ?? "</w>";
      return (tokens) => tokens.map((tok, i) => tok.split(suffix).join(i === tokens.length - 1 ? "" : " "));
    }
    default:
      return ctx.unsupported(`${path}.type`, "decoder", DECODERS, t);
  }
}

export function parseDecoder(ctx: FormatCtx, v: unknown, path: string): Decoder | null {
  if (v === null || v === undefined) return null;
  const chain = parseDecoderChain(ctx, v, path);
  return { chain, byteLevelOnly: chain === byteLevelChain };
}
