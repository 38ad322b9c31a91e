/**
 * `ctxwin serve`: the engine over HTTP (Fastify). Endpoints:
 *   POST /v1/completions   OpenAI-style fields (prompt as text or token ids, max_tokens,
 *                          temperature, top_p, top_k, seed, stop, stream); ctxwin fields
 *                          `positional` and `window` override the model's per request.
 *                          stream: true answers with server-sent events, one chunk per token,
 *                          then `data: [DONE]`.
 *   POST /v1/perplexity    { text | tokens, context_length, stride? }
 *   GET  /health           { status, model, ... }
 *   GET  /metrics          Prometheus text (queue, active, tokens/s, latency summaries)
 * A malformed body or an out-of-range field is a 400 naming the field; a full queue a 429; a
 * closed engine a 503. A client that disconnects cancels its request (the engine frees its cache).
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { CtxwinError } from "../errors.js";
import type { Engine, EngineGenerateOptions } from "../engine/engine.js";
import type { Tokenizer } from "../models/tokenizer/types.js";
import type { Positional } from "../positional.js";
import { prometheusText } from "./metrics.js";
import { BadRequest, readCompletion, readPerplexity, type CompletionRequest } from "./validate.js";

export interface ServerOptions {
  engine: Engine;
  /** Decodes generated tokens and encodes text prompts (without one, prompts must be token ids). */
  tokenizer?: Tokenizer | null;
  /** The model's name in responses (default "ctxwin"). */
  modelName?: string;
  /** Fastify's logger (default off). */
  logger?: boolean;
}

/** HTTP status of an error from the engine or the validation. */
function statusOf(e: unknown): number {
  if (e instanceof BadRequest) return 400;
  if (e instanceof CtxwinError) {
    if (e.code === "ERR_ARG") return 400;
    if (e.code === "ERR_BUSY") return 429;
    if (e.code === "ERR_CLOSED") return 503;
    if (e.code === "ERR_ABORTED") return 499;
  }
  return 500;
}
function errorBody(e: unknown): { error: { message: string; type: string; field?: string } } {
  const message = e instanceof Error ? e.message : String(e);
  const type = e instanceof BadRequest ? "invalid_request_error" : e instanceof CtxwinError ? e.code : "internal_error";
  return { error: { message, type, ...(e instanceof BadRequest ? { field: e.field } : {}) } };
}

/** Text of generated tokens as it grows: held back while it ends inside a multi-byte character. */
class TextStream {
  #ids: number[] = [];
  #sent = "";
  constructor(private readonly tok: Tokenizer | null | undefined) {}
  push(id: number): string {
    this.#ids.push(id);
    if (!this.tok) return "";
    const text = this.tok.decode(this.#ids);
    if (text.endsWith("\uFFFD") || !text.startsWith(this.#sent)) return "";
    const delta = text.slice(this.#sent.length);
    this.#sent = text;
    return delta;
  }
  /** What was held back (an incomplete character at the end stays as U+FFFD, as HF decodes it). */
  flush(): string {
    if (!this.tok) return "";
    const text = this.tok.decode(this.#ids);
    const delta = text.startsWith(this.#sent) ? text.slice(this.#sent.length) : "";
    this.#sent = text;
    return delta;
  }
}

export function createServer(opts: ServerOptions): FastifyInstance {
  const { engine } = opts;
  const tok = opts.tokenizer ?? null;
  const modelName = opts.modelName ?? "ctxwin";
  const app = Fastify({ logger: opts.logger ?? false, bodyLimit: 8 << 20 });
  let counter = 0;
  const httpCounts = new Map<string, number>();
  app.addHook("onResponse", async (req, reply) => {
    const key = `${req.routeOptions.url ?? req.url} ${reply.statusCode}`;
    httpCounts.set(key, (httpCounts.get(key) ?? 0) + 1);
  });
  app.setErrorHandler((err, _req, reply) => {
    // Fastify's own: a body that is not JSON, or too large
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    const message = err instanceof Error ? err.message : String(err);
    void reply.code(status).send({ error: { message, type: status < 500 ? "invalid_request_error" : "internal_error" } });
  });

  app.get("/health", async () => ({ status: engine.stats().closed ? "closing" : "ok", model: modelName, adapters: engine.adapters, maxBatch: engine.maxBatch, maxContext: engine.maxContext, maxQueue: engine.maxQueue }));

  app.get("/metrics", async (_req, reply) => {
    void reply.type("text/plain; version=0.0.4");
    return prometheusText(engine.stats(), httpCounts);
  });

  app.post("/v1/perplexity", async (req, reply) => {
    try {
      const p = readPerplexity(req.body, tok, engine.model.config.vocabSize);
      const r = await engine.perplexity(p.tokens, { contextLength: p.contextLength, stride: p.stride });
      return { model: modelName, ppl: r.ppl, nll: r.nll, tokens: r.tokens, windows: r.windows };
    } catch (e) {
      return reply.code(statusOf(e)).send(errorBody(e));
    }
  });

  app.post("/v1/completions", async (req: FastifyRequest, reply: FastifyReply) => {
    let c: CompletionRequest;
    try {
      c = readCompletion(req.body, tok, engine.model.config.vocabSize, engine.adapters);
    } catch (e) {
      return reply.code(statusOf(e)).send(errorBody(e));
    }
    const id = `cmpl-${Date.now().toString(36)}-${++counter}`;
    const created = Math.floor(Date.now() / 1000);
    const ctl = new AbortController();
    // the client went away before the answer was complete: cancel the request
    const onClose = () => {
      if (!reply.raw.writableFinished) ctl.abort();
    };
    reply.raw.on("close", onClose);
    const genOpts: EngineGenerateOptions = {
      maxNewTokens: c.maxTokens,
      temperature: c.temperature,
      topP: c.topP,
      topK: c.topK,
      seed: c.seed,
      stop: c.stopIds,
      signal: ctl.signal,
      positional: c.positional as Positional | undefined,
      window: c.window,
      adapter: c.adapter,
    };
    let stream: AsyncGenerator<number, void, undefined>;
    try {
      stream = engine.generate(c.promptIds, genOpts);
    } catch (e) {
      return reply.code(statusOf(e)).send(errorBody(e));
    }
    const text = new TextStream(tok);
    const tokens: number[] = [];
    const finish = (): "stop" | "length" => (tokens.length >= c.maxTokens ? "length" : "stop");
    const usage = () => ({ prompt_tokens: c.promptIds.length, completion_tokens: tokens.length, total_tokens: c.promptIds.length + tokens.length });
    if (!c.stream) {
      try {
        for await (const t of stream) tokens.push(t);
      } catch (e) {
        return reply.code(statusOf(e)).send(errorBody(e));
      }
      return {
        id,
        object: "text_completion",
        created,
        model: modelName,
        choices: [{ index: 0, text: tok ? tok.decode(tokens) : "", tokens, finish_reason: finish(), logprobs: null }],
        usage: usage(),
      };
    }
    // server-sent events
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    const send = (obj: unknown) => res.write(`data: ${JSON.stringify(obj)}\n\n`);
    const chunk = (delta: string, token: number | null, finishReason: string | null) =>
      send({ id, object: "text_completion", created, model: modelName, choices: [{ index: 0, text: delta, token, finish_reason: finishReason, logprobs: null }] });
    try {
      for await (const t of stream) {
        tokens.push(t);
        chunk(text.push(t), t, null);
      }
      chunk(text.flush(), null, finish());
      send({ id, object: "text_completion", created, model: modelName, choices: [], usage: usage() });
      res.write("data: [DONE]\n\n");
    } catch (e) {
      if (!res.destroyed) send(errorBody(e));
    } finally {
      res.end();
    }
  });

  return app;
}
