/**
 * Incremental decoding for streaming generation: feed ids one at a time, get text as soon as it
 * is complete. A multi-byte character split over several byte tokens is held back until its last
 * byte arrives (HF tokenizers' DecodeStream algorithm: decode a short window of recent ids and
 * emit the new suffix unless it ends in U+FFFD), so the concatenated output equals
 * `tok.decode(allIds)` for byte-level tokenizers.
 */
import type { DecodeOptions, Tokenizer } from "./types.js";

export class DecodeStream {
  private ids: number[] = [];
  private prefix = "";
  private prefixIndex = 0;
  constructor(
    private readonly tok: Tokenizer,
    private readonly opts: DecodeOptions = {},
  ) {}

  /** Adds one id; returns the newly completed text ("" if nothing is complete yet). */
  push(id: number): string {
    this.ids.push(id);
    const s = this.tok.decode(this.ids, this.opts);
    if (s.length > this.prefix.length && !s.endsWith("\uFFFD")) {
      const text = s.startsWith(this.prefix) ? s.slice(this.prefix.length) : s;
      const newPrefixIndex = this.ids.length - this.prefixIndex;
      this.ids = this.ids.slice(this.prefixIndex);
      this.prefix = this.tok.decode(this.ids, this.opts);
      this.prefixIndex = newPrefixIndex;
      return text;
    }
    return "";
  }

  /** Whatever is still held back (an incomplete character decodes as U+FFFD). Resets the stream. */
  flush(): string {
    const s = this.tok.decode(this.ids, this.opts);
    const text = s.length > this.prefix.length && s.startsWith(this.prefix) ? s.slice(this.prefix.length) : "";
    this.ids = [];
    this.prefix = "";
    this.prefixIndex = 0;
    return text;
  }
}
