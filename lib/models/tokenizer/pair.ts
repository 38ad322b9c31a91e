/**
 * Encoder inputs: a text or a text pair with the tokenizer's special tokens and token type ids
 * (what BERT / RoBERTa classification needs), and the ids of the special tokens an encoder uses.
 */
import { CtxwinError, show } from "../../errors.js";
import { BpeTokenizer } from "./bpe.js";
import type { Tokenizer } from "./types.js";

/**
 * `a` (and `b`) encoded as HF's `tokenizer(a, b)` does: the post-processor's template decides
 * the special tokens and the type ids ([CLS] A [SEP] B [SEP] typed 0…0 1…1 for BERT;
 * <s> A </s></s> B </s> all 0 for RoBERTa). A tokenizer without a pair-aware post-processor (the
 * byte-level tokenizer) gives encode(a) typed 0, then encode(b) without special tokens typed 1.
 */
export function encodePair(tok: Tokenizer, a: string, b?: string): { ids: number[]; typeIds: number[] } {
  const fn = "encodePair";
  if (tok === null || typeof tok !== "object" || typeof (tok as Tokenizer).encode !== "function") throw new CtxwinError("ERR_ARG", `${fn}: tok: expected a Tokenizer, got ${show(tok)}`);
  if (typeof a !== "string") throw new CtxwinError("ERR_ARG", `${fn}: a: expected a string, got ${show(a)}`);
  if (b !== undefined && typeof b !== "string") throw new CtxwinError("ERR_ARG", `${fn}: b: expected a string or undefined, got ${show(b)}`);
  if (tok instanceof BpeTokenizer) return tok.encodePair(a, b);
  const ids = tok.encode(a);
  const typeIds = new Array<number>(ids.length).fill(0);
  if (b !== undefined) {
    const idsB = tok.encode(b, { addSpecialTokens: false });
    ids.push(...idsB);
    typeIds.push(...new Array<number>(idsB.length).fill(1));
  }
  return { ids, typeIds };
}

/** The ids of an encoder's special tokens (undefined where the tokenizer has none). */
export interface SpecialTokenIds {
  cls?: number;
  sep?: number;
  pad?: number;
  mask?: number;
  unk?: number;
}

const NAMES: Record<keyof SpecialTokenIds, string[]> = {
  cls: ["[CLS]", "<s>"],
  sep: ["[SEP]", "</s>"],
  pad: ["[PAD]", "<pad>"],
  mask: ["[MASK]", "<mask>"],
  unk: ["[UNK]", "<unk>"],
};

/**
 * [CLS] / [SEP] / [PAD] / [MASK] / [UNK] ids: tokenizer_config.json's cls_token, sep_token, … when
 * the tokenizer was loaded with one, else the model's unk_token, else BERT's or RoBERTa's names.
 */
export function specialTokenIds(tok: Tokenizer): SpecialTokenIds {
  if (tok === null || typeof tok !== "object" || typeof (tok as Tokenizer).tokenToId !== "function") throw new CtxwinError("ERR_ARG", `specialTokenIds: tok: expected a Tokenizer, got ${show(tok)}`);
  const config = tok instanceof BpeTokenizer ? tok.config : undefined;
  const out: SpecialTokenIds = {};
  for (const key of Object.keys(NAMES) as (keyof SpecialTokenIds)[]) {
    const v = config?.[`${key}_token`];
    const named = typeof v === "string" ? v : v && typeof v === "object" && typeof (v as { content?: unknown }).content === "string" ? (v as { content: string }).content : undefined;
    const candidates = [...(named ? [named] : []), ...(key === "unk" && tok instanceof BpeTokenizer && tok.model.unkToken ? [tok.model.unkToken] : []), ...NAMES[key]];
    for (const c of candidates) {
      const id = tok.tokenToId(c);
      if (id !== undefined) {
        out[key] = id;
        break;
      }
    }
  }
  return out;
}
