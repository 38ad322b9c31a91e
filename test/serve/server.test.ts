/**
 * `ctxwin serve` (lib/serve): the HTTP API over the engine — completions (token ids and text, as
 * generate() gives them), SSE framing, perplexity, health and metrics, field validation (400 naming
 * the field), a full queue (429), a client that disconnects (its request cancelled), and SIGTERM
 * with a request in flight (it finishes, the process exits 0).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "node:http";
import { spawn } from "node:child_process";
import { byteTokenizer, createModel, saveModel, saveTokenizer, loadModel, loadTokenizer } from "ctxwin";
import { generateAll, perplexity } from "../../dist/infer/index.js";
import { createEngine } from "../../dist/engine/index.js";
import { createServer } from "../../dist/serve/server.js";

const CLI = join(__dirname, "../../dist/cli.js");
const tmp = mkdtempSync(join(tmpdir(), "ctxwin-serve-"));
const dir = join(tmp, "model");
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let ref: Awaited<ReturnType<typeof loadModel>>;
beforeAll(async () => {
  const m = createModel({ family: "llama", vocabSize: 256, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 48, initializerRange: 0.2 }, { seed: 5 });
  await saveModel(m, dir);
  await saveTokenizer(byteTokenizer(), dir);
  m.dispose();
  ref = await loadModel(dir);
});

async function server(engineOpts: Record<string, number> = {}) {
  const engine = await createEngine({ dir, ...engineOpts });
  const app = createServer({ engine, tokenizer: await loadTokenizer(dir), modelName: "tiny" });
  return { engine, app, close: async () => (await app.close(), await engine.close({ cancel: true })) };
}
const post = (app: Awaited<ReturnType<typeof server>>["app"], url: string, payload: unknown) => app.inject({ method: "POST", url, payload: payload as object });

describe("ctxwin serve: HTTP API", () => {
  it("completions with token ids and with text equal generate(); SSE frames the same tokens", async () => {
    const s = await server();
    try {
      const ids = [10, 20, 30, 40, 50];
      const want = await generateAll(ref, ids, { maxNewTokens: 8 });
      const r = await post(s.app, "/v1/completions", { prompt: ids, max_tokens: 8 });
      expect(r.statusCode).toBe(200);
      const body = r.json();
      expect(body.object).toBe("text_completion");
      expect(body.choices[0].tokens).toEqual(want);
      expect(body.choices[0].finish_reason).toBe("length");
      expect(body.usage).toEqual({ prompt_tokens: 5, completion_tokens: 8, total_tokens: 13 });

      const tok = byteTokenizer();
      const text = "The quick brown fox";
      const wantText = await generateAll(ref, tok.encode(text), { maxNewTokens: 6, temperature: 0.9, seed: 4 });
      const t = (await post(s.app, "/v1/completions", { prompt: text, max_tokens: 6, temperature: 0.9, seed: 4 })).json();
      expect(t.choices[0].tokens).toEqual(wantText);
      expect(t.choices[0].text).toBe(tok.decode(wantText));

      const sse = await post(s.app, "/v1/completions", { prompt: text, max_tokens: 6, temperature: 0.9, seed: 4, stream: true });
      expect(sse.statusCode).toBe(200);
      expect(sse.headers["content-type"]).toMatch(/text\/event-stream/);
      const frames = sse.payload.split("\n\n").filter((f) => f.length);
      expect(frames.every((f) => f.startsWith("data: "))).toBe(true);
      expect(frames.at(-1)).toBe("data: [DONE]");
      const chunks = frames.slice(0, -1).map((f) => JSON.parse(f.slice(6)));
      const tokenChunks = chunks.filter((c) => c.choices.length && c.choices[0].token !== null);
      expect(tokenChunks.map((c) => c.choices[0].token)).toEqual(wantText);
      const streamed = chunks.filter((c) => c.choices.length).map((c) => c.choices[0].text).join("");
      expect(streamed).toBe(tok.decode(wantText));
      expect(chunks.filter((c) => c.choices.length).at(-1).choices[0].finish_reason).toBe("length");
      expect(chunks.at(-1).usage.completion_tokens).toBe(6);
    } finally {
      await s.close();
    }
  });

  it("perplexity, health and metrics", async () => {
    const s = await server();
    try {
      const tokens = Array.from({ length: 80 }, (_, i) => (i * 37 + 11) % 256);
      const want = await perplexity(ref, tokens, { contextLength: 32, stride: 16 });
      const r = (await post(s.app, "/v1/perplexity", { tokens, context_length: 32, stride: 16 })).json();
      expect(r.ppl).toBeCloseTo(want.ppl, 4);
      expect(r.tokens).toBe(want.tokens);
      const h = (await s.app.inject({ method: "GET", url: "/health" })).json();
      expect(h).toMatchObject({ status: "ok", model: "tiny", maxBatch: 8 });
      await post(s.app, "/v1/completions", { prompt: [1, 2, 3], max_tokens: 3 });
      const m = await s.app.inject({ method: "GET", url: "/metrics" });
      expect(m.headers["content-type"]).toMatch(/text\/plain/);
      for (const line of ["# TYPE ctxwin_queue_length gauge", "ctxwin_generated_tokens_total 3", 'ctxwin_requests_total{outcome="completed"} 1', 'ctxwin_time_to_first_token_seconds{quantile="0.99"}', "ctxwin_inter_token_seconds_count 2", 'ctxwin_http_responses_total{route="/v1/completions",status="200"} 1']) {
        expect(m.payload).toContain(line);
      }
    } finally {
      await s.close();
    }
  });

  it("malformed bodies and out-of-range fields are 400s naming the field", async () => {
    const s = await server({ maxContext: 64 });
    try {
      const cases: [unknown, RegExp][] = [
        [{ max_tokens: 3 }, /^prompt: expected a string or an array of token ids, got nothing/],
        [{ prompt: 5 }, /^prompt: expected a string or a non-empty array of token ids, got 5/],
        [{ prompt: [] }, /^prompt: expected a string or a non-empty array/],
        [{ prompt: [1, 256] }, /^prompt\[1\]: expected a token id in \[0, 256\), got 256/],
        [{ prompt: ["a", "b"] }, /^prompt: expected one prompt/],
        [{ prompt: [1], max_tokens: 0 }, /^max_tokens: expected an integer >= 1, got 0/],
        [{ prompt: [1], max_tokens: 2.5 }, /^max_tokens: expected an integer >= 1, got 2.5/],
        [{ prompt: [1], max_tokens: "3" }, /^max_tokens: expected an integer >= 1, got "3"/],
        [{ prompt: [1], temperature: -1 }, /^temperature: expected a number in \[0, 100\], got -1/],
        [{ prompt: [1], top_p: 0 }, /^top_p: expected a number in \(0, 1\], got 0/],
        [{ prompt: [1], top_k: -2 }, /^top_k: expected an integer >= 0/],
        [{ prompt: [1], seed: -1 }, /^seed: expected an integer >= 0/],
        [{ prompt: [1], stop: [{}] }, /^stop\[0\]: expected a string or a token id/],
        [{ prompt: [1], stop: "ab" }, /^stop\[0\]: expected a string of exactly one token/],
        [{ prompt: [1], stream: "yes" }, /^stream: expected a boolean, got "yes"/],
        [{ prompt: [1], n: 2 }, /^n: expected 1/],
        [{ prompt: [1], positional: { type: "fourier" } }, /^positional: expected an object with type "none", "alibi" or "rope"/],
        [{ prompt: [1], window: 0 }, /^window: expected an integer >= 1 or null, got 0/],
        [{ prompt: [1], frobnicate: true }, /^frobnicate: expected one of model, adapter, prompt/],
        [{ prompt: [1], adapter: "x" }, /^adapter: expected one of the server's adapters \(none loaded\), got "x"/],
        [{ prompt: Array.from({ length: 60 }, () => 1), max_tokens: 5 }, /prompt \+ maxNewTokens: expected at most maxContext = 64 tokens, got 60 \+ 5 = 65/],
        [{ prompt: [1], positional: { type: "rope", scaling: { type: "yarn", factor: -3 } } }, /factor/],
      ];
      for (const [payload, re] of cases) {
        const r = await post(s.app, "/v1/completions", payload);
        expect(r.statusCode, JSON.stringify(payload)).toBe(400);
        expect(r.json().error.message, JSON.stringify(payload)).toMatch(re);
      }
      const notJson = await s.app.inject({ method: "POST", url: "/v1/completions", headers: { "content-type": "application/json" }, payload: "{bad" });
      expect(notJson.statusCode).toBe(400);
      expect(notJson.json().error.message).toMatch(/JSON/i);
      const p = await post(s.app, "/v1/perplexity", { tokens: [1, 2, 3] });
      expect(p.statusCode).toBe(400);
      expect(p.json().error.message).toMatch(/^context_length: expected an integer >= 2, got nothing/);
      const both = await post(s.app, "/v1/perplexity", { tokens: [1, 2, 3], text: "abc", context_length: 4 });
      expect(both.json().error.message).toMatch(/^text: expected exactly one of text and tokens, got both/);
    } finally {
      await s.close();
    }
  });

  it("a full queue is a 429", async () => {
    const s = await server({ maxBatch: 1, maxQueue: 1 });
    try {
      const rs = await Promise.all([0, 1, 2, 3].map((i) => post(s.app, "/v1/completions", { prompt: [i + 1, 2, 3], max_tokens: 12 })));
      const codes = rs.map((r) => r.statusCode).sort();
      expect(codes).toContain(200);
      expect(codes).toContain(429);
      const busy = rs.find((r) => r.statusCode === 429)!;
      expect(busy.json().error.message).toMatch(/queue is full/);
    } finally {
      await s.close();
    }
  });

  it("a client that disconnects mid-stream cancels its request", async () => {
    const s = await server();
    try {
      const address = await s.app.listen({ host: "127.0.0.1", port: 0 });
      const { port } = new URL(address);
      await new Promise<void>((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port, method: "POST", path: "/v1/completions", headers: { "content-type": "application/json" } }, (res) => {
          res.once("data", () => {
            req.destroy(); // gone after the first token
            resolve();
          });
        });
        req.on("error", () => {});
        req.end(JSON.stringify({ prompt: [1, 2, 3], max_tokens: 2000, stream: true }));
        setTimeout(() => reject(new Error("no data")), 20_000);
      });
      for (let i = 0; i < 200 && s.engine.stats().aborted === 0; i++) await new Promise((r) => setTimeout(r, 25));
      const st = s.engine.stats();
      expect(st.aborted).toBe(1);
      expect(st.active).toBe(0);
      expect(st.generatedTokens).toBeLessThan(2000);
    } finally {
      await s.close();
    }
  });

  it("SIGTERM: the request in flight finishes, then the process exits 0", async () => {
    const child = spawn(process.execPath, [CLI, "serve", "--model", dir, "--port", "0"], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    const address = await new Promise<string>((resolve, reject) => {
      child.stderr.on("data", (d) => {
        stderr += d;
        const m = /listening on (http:\/\/[^\s]+)/.exec(stderr);
        if (m) resolve(m[1]!);
      });
      setTimeout(() => reject(new Error(`no listening line: ${stderr}`)), 30_000);
    });
    const { port } = new URL(address);
    const body = await new Promise<string>((resolve, reject) => {
      let out = "";
      const req = request({ host: "127.0.0.1", port, method: "POST", path: "/v1/completions", headers: { "content-type": "application/json" } }, (res) => {
        res.once("data", () => child.kill("SIGTERM"));
        res.on("data", (d) => (out += d));
        res.on("end", () => resolve(out));
      });
      req.on("error", reject);
      req.end(JSON.stringify({ prompt: [5, 6, 7], max_tokens: 40, stream: true }));
    });
    expect(body.trim().endsWith("data: [DONE]")).toBe(true);
    expect(body.split("\n\n").filter((f) => f.includes('"token":') && !f.includes('"token":null')).length).toBe(40);
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/SIGTERM: no new requests/);
    expect(stderr).toMatch(/stopped/);
  }, 60_000);
});
