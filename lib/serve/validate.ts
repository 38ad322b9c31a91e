/**
 * Request bodies of `ctxwin serve`, checked field by field: a wrong field is a BadRequest naming
 * it (HTTP 400), never a crash or a silent default.
 */
import type { Tokenizer } from "../models/tokenizer/types.js";

export class BadRequest extends Error {
  constructor(
    readonly field: string,
    expected: string,
    got: unknown,
  ) {
    super(`${field}: expected ${expected}, got ${describe(got)}`);
    this.name = "BadRequest";
  }
}

/** A description of what was sent, printed as it is (not as a JSON value). */
class Said {
  constructor(readonly text: string) {}
}
const said = (text: string) => new Said(text);

function describe(v: unknown): string {
  if (v instanceof Said) return v.text;
  if (v === undefined) return "nothing";
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v === null) return "null";
  if (typeof v === "object") return "an object";
  return String(v);
}

export interface CompletionRequest {
  promptIds: number[];
  maxTokens: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  stopIds?: number[];
  stream: boolean;
  positional?: unknown;
  window?: number | null;
  adapter?: string;
}

const KNOWN = new Set(["model", "adapter", "prompt", "max_tokens", "temperature", "top_p", "top_k", "seed", "stop", "stream", "positional", "window", "user", "n", "echo", "logprobs"]);

function body(b: unknown): Record<string, unknown> {
  if (b === null || typeof b !== "object" || Array.isArray(b)) throw new BadRequest("body", "a JSON object", b);
  return b as Record<string, unknown>;
}

function tokenIds(field: string, v: unknown, vocab: number, tok: Tokenizer | null, allowEmpty = false): number[] {
  if (typeof v === "string") {
    if (!tok) throw new BadRequest(field, "token ids (this model has no tokenizer.json to encode text)", v);
    const ids = tok.encode(v);
    if (ids.length === 0 && !allowEmpty) throw new BadRequest(field, "text that encodes to at least one token", v);
    return ids;
  }
  if (!Array.isArray(v) || (!allowEmpty && v.length === 0)) throw new BadRequest(field, "a string or a non-empty array of token ids", v);
  v.forEach((t, i) => {
    if (!Number.isInteger(t) || (t as number) < 0 || (t as number) >= vocab) throw new BadRequest(`${field}[${i}]`, `a token id in [0, ${vocab})`, t);
  });
  return v as number[];
}

function num(b: Record<string, unknown>, field: string, ok: (x: number) => boolean, expected: string): number | undefined {
  const v = b[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || !ok(v)) throw new BadRequest(field, expected, v);
  return v;
}

/**
 * A completion request. `adapter` (or an OpenAI-style `model` naming one of the server's adapters)
 * selects a LoRA adapter for the request.
 */
export function readCompletion(raw: unknown, tok: Tokenizer | null, vocab: number, adapters: readonly string[] = []): CompletionRequest {
  const b = body(raw);
  for (const k of Object.keys(b)) if (!KNOWN.has(k)) throw new BadRequest(k, `one of ${[...KNOWN].join(", ")}`, said("an unknown field"));
  if (b.prompt === undefined) throw new BadRequest("prompt", "a string or an array of token ids", undefined);
  if (Array.isArray(b.prompt) && b.prompt.length > 0 && typeof b.prompt[0] === "string") throw new BadRequest("prompt", "one prompt (batches of prompts: send one request each)", b.prompt);
  const promptIds = tokenIds("prompt", b.prompt, vocab, tok);
  if (b.n !== undefined && b.n !== 1) throw new BadRequest("n", "1 (one completion per request)", b.n);
  if (b.echo !== undefined && b.echo !== false) throw new BadRequest("echo", "false", b.echo);
  if (b.logprobs !== undefined && b.logprobs !== null) throw new BadRequest("logprobs", "null (not supported)", b.logprobs);
  const maxTokens = num(b, "max_tokens", (x) => Number.isInteger(x) && x >= 1, "an integer >= 1") ?? 16;
  const temperature = num(b, "temperature", (x) => x >= 0 && x <= 100, "a number in [0, 100]");
  const topP = num(b, "top_p", (x) => x > 0 && x <= 1, "a number in (0, 1]");
  const topK = num(b, "top_k", (x) => Number.isInteger(x) && x >= 0, "an integer >= 0");
  const seed = num(b, "seed", (x) => Number.isInteger(x) && x >= 0 && x <= Number.MAX_SAFE_INTEGER, "an integer >= 0");
  let stopIds: number[] | undefined;
  if (b.stop !== undefined && b.stop !== null) {
    const list = typeof b.stop === "string" ? [b.stop] : b.stop;
    if (!Array.isArray(list)) throw new BadRequest("stop", "a string, an array of strings or an array of token ids", b.stop);
    stopIds = [];
    list.forEach((s, i) => {
      if (typeof s === "number") {
        if (!Number.isInteger(s) || s < 0 || s >= vocab) throw new BadRequest(`stop[${i}]`, `a token id in [0, ${vocab})`, s);
        stopIds!.push(s);
      } else if (typeof s === "string") {
        const ids = tokenIds(`stop[${i}]`, s, vocab, tok);
        if (ids.length !== 1) throw new BadRequest(`stop[${i}]`, "a string of exactly one token (stop sequences are single tokens)", s);
        stopIds!.push(ids[0]!);
      } else throw new BadRequest(`stop[${i}]`, "a string or a token id", s);
    });
  }
  if (b.stream !== undefined && typeof b.stream !== "boolean") throw new BadRequest("stream", "a boolean", b.stream);
  let window: number | null | undefined;
  if (b.window !== undefined) {
    if (b.window !== null && !(Number.isInteger(b.window) && (b.window as number) >= 1)) throw new BadRequest("window", "an integer >= 1 or null", b.window);
    window = b.window as number | null;
  }
  let positional: unknown;
  if (b.positional !== undefined) {
    const p = b.positional as Record<string, unknown> | null;
    if (p === null || typeof p !== "object" || Array.isArray(p) || !["none", "alibi", "rope"].includes(p.type as string)) {
      throw new BadRequest("positional", 'an object with type "none", "alibi" or "rope" (and that scheme\'s fields)', b.positional);
    }
    positional = p;
  }
  let adapter: string | undefined;
  if (b.adapter !== undefined) {
    if (typeof b.adapter !== "string" || !adapters.includes(b.adapter)) throw new BadRequest("adapter", `one of the server's adapters (${adapters.join(", ") || "none loaded"})`, b.adapter);
    adapter = b.adapter;
  } else if (typeof b.model === "string" && adapters.includes(b.model)) adapter = b.model;
  return { promptIds, maxTokens, temperature, topP, topK, seed, stopIds, stream: b.stream === true, positional, window, adapter };
}

export function readPerplexity(raw: unknown, tok: Tokenizer | null, vocab: number): { tokens: number[]; contextLength: number; stride?: number } {
  const b = body(raw);
  for (const k of Object.keys(b)) if (!["model", "text", "tokens", "context_length", "stride"].includes(k)) throw new BadRequest(k, "one of model, text, tokens, context_length, stride", said("an unknown field"));
  if ((b.text === undefined) === (b.tokens === undefined)) throw new BadRequest("text", "exactly one of text and tokens", said(b.text === undefined ? "neither" : "both"));
  const tokens = b.text !== undefined ? (typeof b.text === "string" ? tokenIds("text", b.text, vocab, tok) : (() => { throw new BadRequest("text", "a string", b.text); })()) : tokenIds("tokens", b.tokens, vocab, tok);
  if (tokens.length < 2) throw new BadRequest(b.text !== undefined ? "text" : "tokens", "at least 2 tokens", said(`${tokens.length}`));
  const contextLength = num(b, "context_length", (x) => Number.isInteger(x) && x >= 2, "an integer >= 2");
  if (contextLength === undefined) throw new BadRequest("context_length", "an integer >= 2", undefined);
  const stride = num(b, "stride", (x) => Number.isInteger(x) && x >= 1 && x <= contextLength, `an integer in [1, ${contextLength}] (context_length)`);
  return { tokens, contextLength, stride };
}
