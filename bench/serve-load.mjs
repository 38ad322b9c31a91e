#!/usr/bin/env node
// bench/serve-load: `ctxwin serve` under load. A small random model is saved to a temporary
// folder and served by `node dist/cli.js serve` in a child process (a fresh server per level, so
// its latency figures are that level's); autocannon, in this process, sends a bounded number of
// POST /v1/completions at concurrency 1, 4, 16, 64 over loopback. Printed per level: requests/s,
// generated tokens/s and its ratio to concurrency 1 (the same requests served one at a time —
// the point of batching), client latency percentiles, and the server's time to first token and
// per-token latency (its /metrics, engine-side). Each level runs for a fixed time (autocannon's
// duration mode: bounded in time, and in count by the requests that fit).
//
//   node bench/serve-load.mjs [--quick] [--levels 1,4,16,64] [--seconds 10] [--tokens 32]
//                             [--d 256] [--layers 4] [--prompt 64]
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir, cpus } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { byteTokenizer, createModel, saveModel, saveTokenizer } from "../dist/index.js";
import { flag, opt } from "./args.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const quick = flag("quick");
const levels = opt("levels", quick ? "1,4,16" : "1,4,16,64").split(",").map(Number);
const seconds = Number(opt("seconds", quick ? "5" : "10"));
const maxTokens = Number(opt("tokens", quick ? "16" : "32"));
const d = Number(opt("d", "256"));
const layers = Number(opt("layers", "4"));
const promptLen = Number(opt("prompt", "64"));

const tmp = mkdtempSync(join(tmpdir(), "ctxwin-serve-load-"));
const dir = join(tmp, "model");
const model = createModel({ family: "llama", vocabSize: 256, hiddenSize: d, numLayers: layers, numHeads: Math.max(1, d / 64), intermediateSize: Math.round((d * 8) / 3) }, { seed: 1 });
await saveModel(model, dir);
await saveTokenizer(byteTokenizer(), dir);
model.dispose();

async function startServer(maxBatch) {
  const child = spawn(process.execPath, [join(here, "../dist/cli.js"), "serve", "--model", dir, "--port", "0", "--max-batch", String(maxBatch), "--max-queue", "1024"], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  const url = await new Promise((resolve, reject) => {
    child.stderr.on("data", (b) => {
      err += b;
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m) resolve(m[1]);
    });
    child.on("exit", (code) => reject(new Error(`server exited ${code}: ${err}`)));
  });
  return {
    url,
    async stop() {
      const exited = new Promise((r) => child.on("exit", r));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Quantiles of a Prometheus summary from /metrics (seconds → ms). */
async function serverLatency(url, name) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const q = (p) => Number(new RegExp(`^${name}\\{quantile="${p}"\\} (\\S+)$`, "m").exec(text)?.[1] ?? NaN) * 1000;
  return { p50: q("0.5"), p99: q("0.99") };
}

const prompt = Array.from({ length: promptLen }, (_, i) => (i * 7 + 3) % 256);
const body = JSON.stringify({ prompt, max_tokens: maxTokens });
const rows = [];
console.log(`ctxwin bench/serve-load — ${cpus().length} cores; model d=${d}, ${layers} layers; ${seconds} s per level; requests of ${promptLen} prompt + ${maxTokens} generated tokens`);
for (const c of levels) {
  const server = await startServer(Math.max(1, Math.min(c, 64)));
  try {
    await (await fetch(`${server.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body })).json(); // warm-up
    const r = await autocannon({ url: `${server.url}/v1/completions`, method: "POST", headers: { "content-type": "application/json" }, body, connections: c, duration: seconds, timeout: 600 });
    if (r.non2xx || r.errors) throw new Error(`level ${c}: ${r.non2xx} non-2xx, ${r.errors} errors`);
    const done = r.requests.total; // responses completed within the duration
    const ttft = await serverLatency(server.url, "ctxwin_time_to_first_token_seconds");
    const tpot = await serverLatency(server.url, "ctxwin_inter_token_seconds");
    rows.push({ c, done, rps: done / seconds, tps: (done * maxTokens) / seconds, p50: r.latency.p50, p99: r.latency.p99, ttft, tpot });
  } finally {
    await server.stop();
  }
}
rmSync(tmp, { recursive: true, force: true });

const base = rows.find((r) => r.c === 1)?.tps ?? NaN;
const pad = (s, n) => String(s).padStart(n);
const f = (x, k = 1) => (Number.isFinite(x) ? x.toFixed(k) : "-");
const header = ["concurrency", "requests", "req/s", "gen tok/s", "vs 1", "latency p50 ms", "p99 ms", "TTFT p50 ms", "TTFT p99 ms", "per-token p50 ms", "p99 ms"];
console.log("\n" + header.map((h) => pad(h, 12)).join(" "));
for (const r of rows) {
  console.log([r.c, r.done, f(r.rps, 2), f(r.tps), `${f(r.tps / base, 2)}×`, f(r.p50, 0), f(r.p99, 0), f(r.ttft.p50), f(r.ttft.p99), f(r.tpot.p50), f(r.tpot.p99)].map((x) => pad(x, 12)).join(" "));
}
console.log("\nvs 1: generated tokens/s over the same requests sent one at a time (concurrency 1), same run.");
console.log("TTFT and per-token: the engine's own figures (GET /metrics), over the level's requests.");
