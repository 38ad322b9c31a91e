/**
 * Tokenizers: the built-in byte-level tokenizer, byte-level BPE and WordPiece loaded from / saved
 * to HF tokenizer.json (single texts and pairs), and a BPE trainer for models trained from scratch.
 */
export type { Tokenizer, EncodeOptions, DecodeOptions } from "./types.js";
export type { AddedToken, SpecialTokenOptions } from "./added.js";
export {
  BYTE_TO_UNICODE,
  UNICODE_TO_BYTE,
  bytesToUnicode,
  unicodeToBytes,
  ByteTokenizer,
  byteTokenizer,
  type ByteTokenizerOptions,
} from "./byte_level.js";
export { BpeTokenizer, BpeModel } from "./bpe.js";
export { loadTokenizer, saveTokenizer, tokenizerFromJSON, type SaveTokenizerOptions, type TokenizerFromJSONOptions } from "./hf.js";
export { trainBpe, type TrainBpeOptions } from "./train_bpe.js";
export { WordPieceModel, type SubwordModel } from "./wordpiece.js";
export { encodePair, specialTokenIds, type SpecialTokenIds } from "./pair.js";
export type { Segment } from "./pipeline.js";
export { DecodeStream } from "./decode_stream.js";
export { GPT2_PATTERN, LLAMA3_PATTERN } from "./regex.js";
