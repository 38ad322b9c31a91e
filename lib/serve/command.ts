/**
 * `ctxwin serve --model DIR`: loads the model once into a batching engine and serves it over HTTP
 * (lib/serve/server.ts) on loopback by default. SIGTERM / SIGINT shut down gracefully: no new
 * connections or requests, the running ones finish (cancelled after --shutdown-timeout seconds),
 * then the process exits 0.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { CtxwinError } from "../errors.js";
import { createEngine } from "../engine/engine.js";
import { loadTokenizer } from "../models/tokenizer/hf.js";
import { parseCommand } from "../util/args.js";
import { createServer } from "./server.js";

export const SERVE_HELP = `usage: ctxwin serve --model DIR [options]

Serves a model (HF or ctxwin directory; text prompts need its tokenizer.json) over HTTP with
continuous batching:
  POST /v1/completions   OpenAI-style (prompt, max_tokens, temperature, top_p, top_k, seed, stop,
                         stream: true for server-sent events); ctxwin: positional, window
  POST /v1/perplexity    { text | tokens, context_length, stride? }
  GET  /health, GET /metrics (Prometheus)

options:
  --model DIR             the model directory (required)
  --host HOST             default 127.0.0.1 (loopback only; 0.0.0.0 to listen on every interface)
  --port N                default 8080 (0: any free port)
  --device DEVICE         cpu | cuda (default cpu)
  --max-batch N           requests generating at once (default 8)
  --max-queue N           waiting requests before new ones get 429 (default 64)
  --max-context N         longest prompt + max_tokens (default 4096)
  --prefill-chunk N       prompt tokens prefilled per scheduler turn (default 256)
  --adapter NAME=DIR      a LoRA adapter requests may select ("adapter": NAME, or "model": NAME);
                          repeat for several (kept unmerged, switched per batch)
  --shutdown-timeout S    on SIGTERM, seconds to let running requests finish (default 30)
  -h, --help              this help`;

function intOpt(name: string, v: string | undefined, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new CtxwinError("ERR_ARG", `serve: --${name}: expected an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

export async function serveCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommand("serve", args, {
    model: { type: "string" },
    host: { type: "string" },
    port: { type: "string" },
    device: { type: "string" },
    "max-batch": { type: "string" },
    "max-queue": { type: "string" },
    "max-context": { type: "string" },
    "prefill-chunk": { type: "string" },
    "shutdown-timeout": { type: "string" },
    adapter: { type: "string", multiple: true },
  } as const);
  if (values.help) {
    console.log(SERVE_HELP);
    return 0;
  }
  if (positionals.length) throw new CtxwinError("ERR_ARG", `serve: unexpected argument ${JSON.stringify(positionals[0])} (the model goes after --model)`);
  const dir = values.model;
  if (!dir) throw new CtxwinError("ERR_ARG", "serve: --model: expected a model directory, got nothing");
  const device = values.device ?? "cpu";
  if (device !== "cpu" && device !== "cuda") throw new CtxwinError("ERR_ARG", `serve: --device: expected cpu or cuda, got ${JSON.stringify(device)}`);
  const port = intOpt("port", values.port, 8080, 0);
  if (port > 65535) throw new CtxwinError("ERR_ARG", `serve: --port: expected an integer in [0, 65535], got ${port}`);
  const host = values.host ?? "127.0.0.1";
  const shutdownMs = intOpt("shutdown-timeout", values["shutdown-timeout"], 30, 0) * 1000;
  const adapters: Record<string, string> = {};
  for (const a of values.adapter ?? []) {
    const eq = a.indexOf("=");
    if (eq <= 0 || eq === a.length - 1) throw new CtxwinError("ERR_ARG", `serve: --adapter: expected NAME=DIR, got ${JSON.stringify(a)}`);
    adapters[a.slice(0, eq)] = a.slice(eq + 1);
  }
  const engine = await createEngine({
    dir,
    adapters,
    device,
    maxBatch: intOpt("max-batch", values["max-batch"], 8, 1),
    maxQueue: intOpt("max-queue", values["max-queue"], 64, 1),
    maxContext: intOpt("max-context", values["max-context"], 4096, 2),
    prefillChunk: intOpt("prefill-chunk", values["prefill-chunk"], 256, 1),
  });
  const tokenizer = existsSync(join(dir, "tokenizer.json")) ? await loadTokenizer(dir) : null;
  const app = createServer({ engine, tokenizer, modelName: dir });
  let address: string;
  try {
    address = await app.listen({ host, port });
  } catch (e) {
    await engine.close({ cancel: true });
    throw new CtxwinError("ERR_ARG", `serve: cannot listen on ${host}:${port}: ${(e as Error).message}`);
  }
  console.error(`ctxwin serve: listening on ${address} (model ${dir}${tokenizer ? "" : ", no tokenizer: prompts are token ids"}; max batch ${engine.maxBatch}, queue ${engine.maxQueue}, context ${engine.maxContext})`);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      console.error(`ctxwin serve: ${signal}: no new requests; finishing ${engine.stats().active + engine.stats().queued} running`);
      const force = setTimeout(() => {
        console.error(`ctxwin serve: still running after ${shutdownMs / 1000} s: cancelling`);
        void engine.close({ cancel: true });
      }, shutdownMs);
      force.unref();
      void (async () => {
        await app.close(); // stops listening; resolves when the in-flight requests answered
        await engine.close();
        clearTimeout(force);
        console.error("ctxwin serve: stopped");
        resolve(0);
      })();
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
}
