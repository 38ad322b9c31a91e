/**
 * BERT's tokenizer pipeline, as HF tokenizers' Rust code runs it: the WordPiece model (greedy
 * longest-match-first over a word's characters, "##" before non-initial pieces, the whole word
 * [UNK] when any part has no match or the word is longer than max_input_chars_per_word), the
 * BertNormalizer, the BertPreTokenizer and the WordPiece decoder. hf.ts / pipeline.ts read them
 * from tokenizer.json; BpeTokenizer runs them (the model is pluggable).
 */
import { WS_CLASS } from "./regex.js";
import type { Emit, FormatCtx } from "./pipeline.js";
import { splitWithBehavior } from "./pipeline.js";

/** What the tokenizer needs of a subword model (BpeModel, WordPieceModel). */
export interface SubwordModel {
  readonly vocab: ReadonlyMap<string, number>;
  /** id → token (undefined for holes). */
  readonly vocabR: readonly (string | undefined)[];
  readonly maxId: number;
  /** The unknown token, if the model has one. */
  readonly unkToken: string | null;
  /** Encodes one pre-tokenized word, appending its ids to `out` (see BpeModel.tokenize for byteInput). */
  tokenize(word: string, byteInput: boolean, out: number[]): void;
  /** The tokenizer.json `model` object. */
  toJSON(): object;
}

export interface WordPieceOptions {
  vocab: Map<string, number>;
  unkToken: string;
  continuingSubwordPrefix?: string;
  maxInputCharsPerWord?: number;
}

/** HF WordPiece: word → ids. */
export class WordPieceModel implements SubwordModel {
  readonly vocab: ReadonlyMap<string, number>;
  readonly vocabR: (string | undefined)[];
  readonly unkToken: string;
  readonly prefix: string;
  readonly maxInputCharsPerWord: number;
  private readonly unkId: number;
  private cache = new Map<string, number[]>();

  /** Throws ERR_FORMAT (through ctx) when unk_token is not in the vocab. */
  constructor(o: WordPieceOptions, ctx: FormatCtx) {
    this.vocab = o.vocab;
    this.unkToken = o.unkToken;
    this.prefix = o.continuingSubwordPrefix ?? "##";
    this.maxInputCharsPerWord = o.maxInputCharsPerWord ?? 100;
    let maxId = -1;
    for (const id of o.vocab.values()) if (id > maxId) maxId = id;
    this.vocabR = new Array<string | undefined>(maxId + 1);
    for (const [tok, id] of o.vocab) this.vocabR[id] = tok;
    const unk = o.vocab.get(o.unkToken);
    if (unk === undefined) ctx.fail("model.unk_token", "a token in model.vocab (WordPiece needs its unknown token)", o.unkToken);
    this.unkId = unk;
  }

  get maxId(): number {
    return this.vocabR.length - 1;
  }

  tokenize(word: string, _byteInput: boolean, out: number[]): void {
    if (word.length === 0) return;
    let ids = this.cache.get(word);
    if (ids === undefined) {
      ids = this.tokenizeUncached(word);
      if (word.length < 256) {
        if (this.cache.size >= 100_000) this.cache = new Map();
        this.cache.set(word, ids);
      }
    }
    for (const id of ids) out.push(id);
  }

  private tokenizeUncached(word: string): number[] {
    const chars = [...word];
    if (chars.length > this.maxInputCharsPerWord) return [this.unkId];
    const out: number[] = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let found = -1;
      while (start < end) {
        const piece = (start > 0 ? this.prefix : "") + chars.slice(start, end).join("");
        const id = this.vocab.get(piece);
        if (id !== undefined) {
          found = id;
          break;
        }
        end--;
      }
      if (found < 0) return [this.unkId]; // any unmatched part makes the whole word unknown
      out.push(found);
      start = end;
    }
    return out;
  }

  toJSON(): object {
    const vocab: Record<string, number> = Object.create(null);
    for (const [tok, id] of [...this.vocab].sort((x, y) => x[1] - y[1])) vocab[tok] = id;
    return { type: "WordPiece", unk_token: this.unkToken, continuing_subword_prefix: this.prefix, max_input_chars_per_word: this.maxInputCharsPerWord, vocab };
  }
}

/** Reads a tokenizer.json `model` of type "WordPiece". */
export function parseWordPiece(ctx: FormatCtx, model: Record<string, unknown>): WordPieceModel {
  const vocabObj = ctx.obj(model["vocab"], "model.vocab");
  const vocab = new Map<string, number>();
  for (const [tok, id] of Object.entries(vocabObj)) vocab.set(tok, ctx.uint(id, `model.vocab[${JSON.stringify(tok)}]`));
  const maxChars = model["max_input_chars_per_word"] ?? 100;
  return new WordPieceModel(
    {
      vocab,
      unkToken: ctx.optStr(model["unk_token"], "model.unk_token") ?? "[UNK]",
      continuingSubwordPrefix: ctx.optStr(model["continuing_subword_prefix"], "model.continuing_subword_prefix") ?? "##",
      maxInputCharsPerWord: ctx.uint(maxChars, "model.max_input_chars_per_word", 2 ** 31),
    },
    ctx,
  );
}

// ---------------------------------------------------------------------------------------------
// BertNormalizer

// Rust char::is_whitespace is the White_Space property; is_other is general category C.
const CLEAN_DROP = /[\0\uFFFD]|(?![\t\n\r])\p{C}/gu;
const WHITE = /\p{White_Space}/gu;
const CJK = /[\u{4E00}-\u{9FFF}\u{3400}-\u{4DBF}\u{20000}-\u{2A6DF}\u{2A700}-\u{2B73F}\u{2B740}-\u{2B81F}\u{2B920}-\u{2CEAF}\u{F900}-\u{FAFF}\u{2F800}-\u{2FA1F}]/gu;
const NONSPACING_MARK = /\p{Mn}/gu;
const CODE_POINT = /[\s\S]/gu;

/** HF BertNormalizer (clean_text, handle_chinese_chars, strip_accents — null: as lowercase — and lowercase). */
export function parseBertNormalizer(ctx: FormatCtx, o: Record<string, unknown>, path: string): (s: string) => string {
  const clean = ctx.bool(o["clean_text"], `${path}.clean_text`, true);
  const chinese = ctx.bool(o["handle_chinese_chars"], `${path}.handle_chinese_chars`, true);
  const lowercase = ctx.bool(o["lowercase"], `${path}.lowercase`, true);
  const strip = ctx.bool(o["strip_accents"], `${path}.strip_accents`, lowercase);
  return (s) => {
    if (clean) s = s.replace(CLEAN_DROP, "").replace(WHITE, " ");
    if (chinese) s = s.replace(CJK, (c) => ` ${c} `);
    if (strip) s = s.normalize("NFD").replace(NONSPACING_MARK, "");
    // per code point, as Rust's char::to_lowercase (no final-sigma context rule)
    if (lowercase) s = s.replace(CODE_POINT, (c) => c.toLowerCase());
    return s;
  };
}

// ---------------------------------------------------------------------------------------------
// BertPreTokenizer: split on whitespace (removed), then every punctuation char on its own

const WS_RE = new RegExp(`[${WS_CLASS}]`, "gu");
// Rust: c.is_ascii_punctuation() || c.is_punctuation() (general category P)
const BERT_PUNCT = /[\p{P}!-/:-@[-`{-~]/gu;

export function bertPreTokenize(s: string, atOrigin: boolean, emit: Emit): void {
  splitWithBehavior(WS_RE, "Removed", false, s, atOrigin, (w, o) => splitWithBehavior(BERT_PUNCT, "Isolated", false, w, o, emit));
}

// ---------------------------------------------------------------------------------------------
// WordPiece decoder

const CLEANUPS: [string, string][] = [
  [" .", "."],
  [" ?", "?"],
  [" !", "!"],
  [" ,", ","],
  [" ' ", "'"],
  [" n't", "n't"],
  [" 'm", "'m"],
  [" do not", " don't"],
  [" 's", "'s"],
  [" 've", "'ve"],
  [" 're", "'re"],
];

/** HF decoders::WordPiece: "##" pieces glued to the previous token, others after a space; optional cleanup of spaces before punctuation. */
export function wordPieceDecoder(prefix: string, cleanup: boolean): (tokens: string[]) => string[] {
  return (tokens) =>
    tokens.map((tok, i) => {
      if (i > 0) tok = tok.startsWith(prefix) ? tok.slice(prefix.length) : " " + tok;
      if (cleanup) for (const [a, b] of CLEANUPS) tok = tok.replaceAll(a, b);
      return tok;
    });
}
