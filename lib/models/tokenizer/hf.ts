/**
 * HF `tokenizer.json` I/O: `loadTokenizer(dir)`, `tokenizerFromJSON(obj)`, `saveTokenizer(tok, dir)`.
 *
 * Supported: model.type "WordPiece" (BERT: vocab, unk_token, continuing_subword_prefix,
 * max_input_chars_per_word) and "BPE" (vocab + merges, merges as "a b" strings or ["a", "b"] pairs;
 * byte-level like GPT-2 / Llama-3 / Qwen2 / BLOOM, or byte-fallback like Llama-2 / Mistral /
 * TinyLlama; `ignore_merges`, `unk_token`, `fuse_unk`, `continuing_subword_prefix`,
 * `end_of_word_suffix`; `dropout` is ignored), `added_tokens` (with single_word / lstrip / rstrip /
 * normalized), and the normalizers, pre-tokenizers, post-processors and decoders of pipeline.ts.
 * `truncation` and `padding` are ignored (as transformers does unless asked per call).
 *
 * BOS / EOS insertion: the post_processor's template (TemplateProcessing, Roberta/Bert
 * processing, or a Sequence of them). When `tokenizer_config.json` sits beside tokenizer.json and
 * sets `add_bos_token` and/or `add_eos_token` (booleans), those decide instead, with its
 * `bos_token` / `eos_token` — what transformers' Llama-style fast tokenizers do. `bosId` / `eosId`
 * come from tokenizer_config.json's `bos_token` / `eos_token` when it has those keys (null: none),
 * else from the template (the special token before / after the sequence), else from a
 * well-known special token name.
 */
import { mkdir, readFile, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { CtxwinError } from "../../errors.js";
import { writeFileAtomic } from "../../util/atomic.js";
import type { AddedToken } from "./added.js";
import { templateJSON } from "./byte_level.js";
import { BpeModel, BpeTokenizer } from "./bpe.js";
import { FormatCtx, parseDecoder, parseNormalizer, parsePostProcessor, parsePreTokenizer } from "./pipeline.js";
import type { Tokenizer } from "./types.js";
import { parseWordPiece, type SubwordModel } from "./wordpiece.js";

export interface TokenizerFromJSONOptions {
  /** Names the source in error messages (default "tokenizer.json"). */
  source?: string;
  /** Function name in error messages (default "loadTokenizer"). */
  fn?: string;
  /** The parsed tokenizer_config.json, if any (see the module doc for what is used). */
  config?: unknown;
  /** Names the config in error messages (default "tokenizer_config.json"). */
  configSource?: string;
}

const BOS_NAMES = ["<|begin_of_text|>", "<s>", "<bos>", "<|startoftext|>", "<|endoftext|>"];
const EOS_NAMES = ["<|end_of_text|>", "</s>", "<eos>", "<|endoftext|>"];

/** Builds a tokenizer from a parsed tokenizer.json object. Throws ERR_FORMAT on anything malformed. */
export function tokenizerFromJSON(json: unknown, opts: TokenizerFromJSONOptions = {}): BpeTokenizer {
  const ctx = new FormatCtx(opts.fn ?? "loadTokenizer", opts.source ?? "tokenizer.json");
  try {
    return build(ctx, json, opts);
  } catch (e) {
    if (e instanceof CtxwinError) throw e;
    throw new CtxwinError("ERR_FORMAT", `${ctx.fn}: ${ctx.file}: expected a valid tokenizer.json, got an error while reading it: ${(e as Error)?.message ?? String(e)}`);
  }
}

function build(ctx: FormatCtx, json: unknown, opts: TokenizerFromJSONOptions): BpeTokenizer {
  const root = ctx.obj(json, "(root)");
  const model = ctx.obj(root["model"], "model");
  let type = model["type"];
  if (type === undefined) type = model["merges"] !== undefined ? "BPE" : Array.isArray(model["vocab"]) ? "Unigram" : undefined;
  let subword: SubwordModel;
  if (type === "WordPiece") subword = parseWordPiece(ctx, model);
  else if (type === "BPE") subword = parseBpe(ctx, model);
  else {
    ctx.fail("model.type", `"BPE" or "WordPiece" (the model types ctxwin reads: byte-level BPE as in GPT-2 / Llama-3 / Qwen2 / RoBERTa, byte-fallback BPE as in Llama-2 / Mistral, WordPiece as in BERT; not Unigram or WordLevel)`, type);
  }
  // added tokens
  const addedRaw = root["added_tokens"] === undefined || root["added_tokens"] === null ? [] : ctx.arr(root["added_tokens"], "added_tokens");
  const added: AddedToken[] = addedRaw.map((a, i) => {
    const p = `added_tokens[${i}]`;
    const o = ctx.obj(a, p);
    const special = ctx.bool(o["special"], `${p}.special`, false);
    return {
      id: ctx.uint(o["id"], `${p}.id`),
      content: ctx.str(o["content"], `${p}.content`),
      special,
      singleWord: ctx.bool(o["single_word"], `${p}.single_word`, false),
      lstrip: ctx.bool(o["lstrip"], `${p}.lstrip`, false),
      rstrip: ctx.bool(o["rstrip"], `${p}.rstrip`, false),
      normalized: ctx.bool(o["normalized"], `${p}.normalized`, !special),
    };
  });
  const normalizer = parseNormalizer(ctx, root["normalizer"], "normalizer");
  const preTokenizer = parsePreTokenizer(ctx, root["pre_tokenizer"], "pre_tokenizer");
  let postProcessor = parsePostProcessor(ctx, root["post_processor"], "post_processor");
  const decoder = parseDecoder(ctx, root["decoder"], "decoder");
  let postJSON: unknown = root["post_processor"] ?? null;

  const idOf = (tok: string): number | undefined => added.find((t) => t.content === tok)?.id ?? subword.vocab.get(tok);

  // tokenizer_config.json
  let bosId: number | undefined;
  let eosId: number | undefined;
  let bosKnown = false;
  let eosKnown = false;
  let config: Record<string, unknown> | undefined;
  if (opts.config !== undefined && opts.config !== null) {
    const cctx = new FormatCtx(ctx.fn, opts.configSource ?? "tokenizer_config.json");
    const cfg = cctx.obj(opts.config, "(root)");
    config = cfg;
    const tokOf = (key: string): string | null | undefined => {
      const v = cfg[key];
      if (v === undefined || v === null) return v;
      if (typeof v === "string") return v;
      const o = cctx.obj(v, key);
      return cctx.str(o["content"], `${key}.content`);
    };
    const idFor = (key: string, tok: string | null | undefined): number | undefined => {
      if (tok === undefined || tok === null) return undefined;
      const id = idOf(tok);
      if (id === undefined) cctx.fail(key, "a token of the tokenizer's vocabulary", tok);
      return id;
    };
    const bosTok = tokOf("bos_token");
    const eosTok = tokOf("eos_token");
    if (bosTok !== undefined) {
      bosKnown = true;
      bosId = idFor("bos_token", bosTok);
    }
    if (eosTok !== undefined) {
      eosKnown = true;
      eosId = idFor("eos_token", eosTok);
    }
    const addBos = cfg["add_bos_token"];
    const addEos = cfg["add_eos_token"];
    if (addBos !== undefined && addBos !== null && typeof addBos !== "boolean") cctx.fail("add_bos_token", "a boolean", addBos);
    if (addEos !== undefined && addEos !== null && typeof addEos !== "boolean") cctx.fail("add_eos_token", "a boolean", addEos);
    if (typeof addBos === "boolean" || typeof addEos === "boolean") {
      if (addBos === true && bosId === undefined) cctx.fail("bos_token", "a BOS token since add_bos_token is true", bosTok ?? null);
      if (addEos === true && eosId === undefined) cctx.fail("eos_token", "an EOS token since add_eos_token is true", eosTok ?? null);
      const before = typeof addBos === "boolean" ? (addBos ? [bosId!] : []) : (postProcessor?.before ?? []);
      const after = typeof addEos === "boolean" ? (addEos ? [eosId!] : []) : (postProcessor?.after ?? []);
      const name = (id: number | undefined): string | undefined => (id === undefined ? undefined : (added.find((t) => t.id === id)?.content ?? subword.vocabR[id]));
      if (before.length <= 1 && after.length <= 1) {
        postJSON = templateJSON(name(before[0]), before[0], name(after[0]), after[0]);
        postProcessor = parsePostProcessor(ctx, postJSON, "post_processor");
      }
    }
  }
  if (!bosKnown) bosId = postProcessor?.before[0] ?? firstKnown(BOS_NAMES, added);
  if (!eosKnown) eosId = postProcessor?.after[postProcessor.after.length - 1] ?? firstKnown(EOS_NAMES, added);

  return new BpeTokenizer({
    model: subword,
    addedTokens: added,
    normalizer,
    preTokenizer,
    postProcessor,
    decoder,
    ...(bosId !== undefined ? { bosId } : {}),
    ...(eosId !== undefined ? { eosId } : {}),
    json: { normalizer: root["normalizer"] ?? null, pre_tokenizer: root["pre_tokenizer"] ?? null, post_processor: postJSON, decoder: root["decoder"] ?? null },
    ...(config !== undefined ? { config } : {}),
  });
}

function parseBpe(ctx: FormatCtx, model: Record<string, unknown>): BpeModel {
  // vocab
  const vocabObj = ctx.obj(model["vocab"], "model.vocab");
  const vocab = new Map<string, number>();
  for (const [tok, id] of Object.entries(vocabObj)) vocab.set(tok, ctx.uint(id, `model.vocab[${JSON.stringify(tok)}]`));
  // merges
  const mergesRaw = ctx.arr(model["merges"], "model.merges");
  const merges: [string, string][] = new Array(mergesRaw.length);
  for (let i = 0; i < mergesRaw.length; i++) {
    const m = mergesRaw[i];
    if (typeof m === "string") {
      const parts = m.split(" ");
      if (parts.length !== 2) ctx.fail(`model.merges[${i}]`, `"left right" (two tokens separated by one space)`, m);
      merges[i] = [parts[0]!, parts[1]!];
    } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string") {
      merges[i] = [m[0], m[1]];
    } else ctx.fail(`model.merges[${i}]`, `a merge: "left right" or ["left", "right"]`, m);
  }
  const dropout = model["dropout"];
  if (dropout !== undefined && dropout !== null && (typeof dropout !== "number" || !(dropout >= 0 && dropout <= 1))) ctx.fail("model.dropout", "null or a number in [0, 1]", dropout);
  return new BpeModel(
    {
      vocab,
      merges,
      unkToken: ctx.optStr(model["unk_token"], "model.unk_token"),
      continuingSubwordPrefix: ctx.optStr(model["continuing_subword_prefix"], "model.continuing_subword_prefix"),
      endOfWordSuffix: ctx.optStr(model["end_of_word_suffix"], "model.end_of_word_suffix"),
      fuseUnk: ctx.bool(model["fuse_unk"], "model.fuse_unk", false),
      byteFallback: ctx.bool(model["byte_fallback"], "model.byte_fallback", false),
      ignoreMerges: ctx.bool(model["ignore_merges"], "model.ignore_merges", false),
      dropout: (dropout as number | null | undefined) ?? null,
    },
    ctx,
  );
}

function firstKnown(names: string[], added: AddedToken[]): number | undefined {
  for (const n of names) {
    const t = added.find((a) => a.content === n && a.special);
    if (t) return t.id;
  }
  return undefined;
}

async function readJSON(fn: string, file: string, optional: boolean): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (optional && code === "ENOENT") return undefined;
    throw new CtxwinError("ERR_FORMAT", `${fn}: ${file}: expected a readable file, got ${code === "ENOENT" ? "no such file" : (code ?? String(e))}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CtxwinError("ERR_FORMAT", `${fn}: ${file}: expected valid JSON, got a parse error (${(e as Error).message}; the file has ${text.length} characters — truncated?)`);
  }
}

/**
 * Loads an HF tokenizer: `dir` is a directory holding `tokenizer.json` (and optionally
 * `tokenizer_config.json`), or the path of a tokenizer.json file itself.
 * Throws CtxwinError ERR_FORMAT naming the file for a missing directory or file, invalid JSON,
 * an unsupported model type or component, or missing / mistyped fields.
 */
export async function loadTokenizer(dir: string): Promise<BpeTokenizer> {
  const fn = "loadTokenizer";
  if (typeof dir !== "string" || dir.length === 0) throw new CtxwinError("ERR_ARG", `${fn}: dir: expected a directory path, got ${JSON.stringify(dir)}`);
  let isDir: boolean;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch {
    throw new CtxwinError("ERR_FORMAT", `${fn}: ${dir}: expected a directory containing tokenizer.json, got no such file or directory`);
  }
  const file = isDir ? join(dir, "tokenizer.json") : dir;
  const json = await readJSON(fn, file, false).catch((e: CtxwinError) => {
    if (isDir && e.message.includes("no such file")) {
      throw new CtxwinError("ERR_FORMAT", `${fn}: ${file}: expected an HF tokenizer.json, got no such file (ctxwin reads tokenizer.json; directories with only vocab.json/merges.txt or a sentencepiece tokenizer.model are not supported)`);
    }
    throw e;
  });
  const configFile = join(dirname(file), "tokenizer_config.json");
  const config = await readJSON(fn, configFile, true);
  return tokenizerFromJSON(json, { fn, source: file, config, configSource: configFile });
}

export interface SaveTokenizerOptions {
  /** Also write tokenizer_config.json (class, bos/eos/pad tokens; the loaded one's other keys are kept). Default true. */
  config?: boolean;
}

/**
 * Writes `tok.toJSON()` to `<dir>/tokenizer.json` (creating dir), atomically: a temp file in the
 * same directory, fsync, rename. With `config` (default), also `<dir>/tokenizer_config.json`
 * naming the BOS / EOS / pad tokens so transformers' AutoTokenizer loads it the same way.
 */
export async function saveTokenizer(tok: Tokenizer, dir: string, opts: SaveTokenizerOptions = {}): Promise<void> {
  const fn = "saveTokenizer";
  if (tok === null || typeof tok !== "object" || typeof (tok as Tokenizer).toJSON !== "function") {
    throw new CtxwinError("ERR_ARG", `${fn}: tok: expected a Tokenizer, got ${tok === null ? "null" : typeof tok}`);
  }
  if (typeof dir !== "string" || dir.length === 0) throw new CtxwinError("ERR_ARG", `${fn}: dir: expected a directory path, got ${JSON.stringify(dir)}`);
  const json = JSON.stringify(tok.toJSON(), null, 2);
  try {
    await mkdir(dir, { recursive: true });
    await writeFileAtomic(join(dir, "tokenizer.json"), json);
    if (opts.config ?? true) {
      const base = tok instanceof BpeTokenizer && tok.config ? { ...tok.config } : {};
      const cfg: Record<string, unknown> = { tokenizer_class: "PreTrainedTokenizerFast", clean_up_tokenization_spaces: false, ...base };
      const name = (id: number | undefined): string | null => (id === undefined ? null : (tok.idToToken(id) ?? null));
      cfg["bos_token"] = name(tok.bosId);
      cfg["eos_token"] = name(tok.eosId);
      const pad = tok.tokenToId("<pad>");
      if (cfg["pad_token"] === undefined && pad !== undefined && tok.isSpecialId(pad)) cfg["pad_token"] = "<pad>";
      await writeFileAtomic(join(dir, "tokenizer_config.json"), JSON.stringify(cfg, null, 2));
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new CtxwinError("ERR_ARG", `${fn}: ${dir}: expected a writable directory, got ${err.code ?? ""} ${err.message}`.trim());
  }
}
