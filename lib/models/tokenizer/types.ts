/**
 * The tokenizer interface shared by the built-in byte-level tokenizer, byte-level BPE (trained
 * here or loaded from an HF `tokenizer.json`) and anything else that maps text to ids.
 */

export interface EncodeOptions {
  /**
   * Apply the post-processor (BOS/EOS insertion from the template, `add_bos_token`, …).
   * Default true, like `tokenizer.encode(text)` in transformers.
   */
  addSpecialTokens?: boolean;
  /**
   * Treat special tokens that occur in the text as plain text instead of matching them
   * (HF `split_special_tokens` / `encode_special_tokens`). Use it on untrusted input so that a
   * user cannot inject e.g. "<|endoftext|>". Default false (matched literally, like HF).
   */
  splitSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop tokens marked `special` (BOS, EOS, pad, …). Default false, like transformers. */
  skipSpecialTokens?: boolean;
}

export interface Tokenizer {
  /** Text → ids. Never throws for any JS string (lone surrogates are encoded as U+FFFD). */
  encode(text: string, opts?: EncodeOptions): number[];
  /** Ids → text. Ids that are not in the vocabulary are skipped (as HF does). */
  decode(ids: ArrayLike<number>, opts?: DecodeOptions): string;
  /** One more than the largest id (model vocabulary and added tokens): the embedding rows needed. */
  readonly vocabSize: number;
  readonly bosId?: number;
  readonly eosId?: number;
  /** Vocabulary or added-token id of a token string (the token as stored, e.g. "Ġthe"). */
  tokenToId(tok: string): number | undefined;
  /** The token string of an id (e.g. "Ġthe"; for added tokens their content). */
  idToToken(id: number): string | undefined;
  /** True for ids of added tokens marked `special`. */
  isSpecialId(id: number): boolean;
  /** An HF `tokenizer.json` object (what `saveTokenizer` writes; `loadTokenizer` reads it back). */
  toJSON(): object;
}
