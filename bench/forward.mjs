#!/usr/bin/env node
// bench/forward: inference throughput of the small Llama-like model of bench/train.mjs, each
// beside a baseline measured in the same run:
//
//   prefill  model.forward(ids) over B × T prompt tokens (fused attention, RoPE in the kernel)
//            vs the same forward with attention unfused (RoPE as elementwise ops, per-head
//            QKᵀ → mask → softmax → ·V as separate ops; bench/train.mjs) — logits compared first.
//   decode   model.generate() (greedy, KV cache: one token per forward, keys/values appended)
//            vs decoding without a cache (every new token recomputes the whole sequence, as a
//            model without a KV cache must) — both must produce the same tokens.
//
//   context  per-token decode time after prompts of growing length (--contexts, default
//            512,4096,8192), batch 1, --ctx-gen tokens each: the in-place KV cache (preallocated
//            buffers written at an offset, attention reading the filled part; what generate()
//            uses) vs the former cache that appended by concatenation (a full copy of every
//            layer's keys and values per token) — both must produce the same tokens. A flat
//            per-token time as the context grows is the goal (apart from attention's own O(t)).
//
//   node bench/forward.mjs [--quick] [--batch 8] [--seq 256] [--prompt 128] [--gen 128]
//                          [--d 256] [--layers 4] [--heads 4] [--vocab 4096] [--device cpu|cuda]
//                          [--contexts 512,4096,8192] [--ctx-gen 32]
//
// Forward model FLOPs per token at context t: 2·N + 2·L·t·d (causal attention at half), N as in
// bench/train.mjs (matmul weights incl. the LM head). Prefill counts t = T/2 on average per token
// (2·N + L·T·d per token); decode with a cache at context t costs 2·N + 4·L·t·d per token (the
// new query against all t keys, no causal halving), averaged over the generated positions.
import { writeFileSync } from "node:fs";
import { createModel, noGrad, synchronize } from "../dist/index.js";
import { Rng } from "../dist/index.js";
import * as ops from "../dist/ops/index.js";
import { describeMachine, fmt, matmulParams, pad, parseArgs, sgemmCeiling, unfusedContext, unfusedLogits } from "./train.mjs";

/** The cache ctxwin had before the in-place one: every token concatenates a new copy per layer. */
class ConcatLayerCache {
  k = null;
  v = null;
  get length() {
    return this.k ? this.k.shape[1] : 0;
  }
  append(k, v) {
    const nk = this.k ? ops.concat(this.k, k, 1) : ops.scale(k, 1);
    const nv = this.v ? ops.concat(this.v, v, 1) : ops.scale(v, 1);
    this.k?.dispose();
    this.v?.dispose();
    this.k = nk;
    this.v = nv;
    return { k: nk.reshape(nk.shape), v: nv.reshape(nv.shape) };
  }
  dispose() {
    this.k?.dispose();
    this.v?.dispose();
    this.k = this.v = null;
  }
}
function concatCache(numLayers) {
  const layers = Array.from({ length: numLayers }, () => new ConcatLayerCache());
  return { layers, get length() { return layers[0].length; }, dispose() { for (const l of layers) l.dispose(); } };
}

function argmax(row, off, n) {
  let b = 0, bv = -Infinity;
  for (let i = 0; i < n; i++) if (row[off + i] > bv) { bv = row[off + i]; b = i; }
  return b;
}

async function main() {
  const o = parseArgs({ batch: 8, batchQuick: 4, seq: 256, seqQuick: 128, prompt: 128, promptQuick: 32, gen: 128, genQuick: 32, d: 256, layers: 4, heads: 4, vocab: 4096, reps: 3, repsQuick: 1, device: "cpu", json: "", contexts: "512,4096,8192", contextsQuick: "256,2048", "ctx-gen": 32, "ctx-genQuick": 16 });
  const { batch: B, seq: T, prompt: P, gen: G, d, layers: L, heads: H, vocab: V, device, reps } = o;
  const contexts = String(o.quick && !process.argv.includes("--contexts") ? o.contextsQuick : o.contexts).split(",").map(Number);
  const CG = o["ctx-gen"];
  if (!contexts.every((c) => Number.isInteger(c) && c > 0) || !(Number.isInteger(CG) && CG >= 2)) {
    throw new Error(`bench/forward: --contexts: expected comma-separated positive integers, --ctx-gen an integer >= 2; got ${o.contexts} / ${CG}`);
  }
  console.log(`ctxwin bench/forward — ${describeMachine(device)}`);
  const model = createModel({ vocabSize: V, hiddenSize: d, numLayers: L, numHeads: H, maxPositions: Math.max(2048, T, P + G, ...contexts.map((c) => c + CG)) }, { seed: 1, device });
  const N = matmulParams(model);
  console.log(`model: Llama-like d=${d} L=${L} heads=${H} ffn=${model.config.intermediateSize} vocab=${V} · N(matmul)=${(N / 1e6).toFixed(2)}M\n`);
  const rng = new Rng(5);
  const ids = Array.from({ length: B }, () => Array.from({ length: T }, () => rng.int(V)));
  const ceil = await sgemmCeiling([[1024, 1024, 1024], [B * T, model.config.intermediateSize, d]], 3, device);

  // ---- prefill ------------------------------------------------------------------------------------
  const ctx = unfusedContext(model, B, T);
  const fusedFwd = () => model.forward(ids);
  const unfusedFwd = async () => noGrad(() => unfusedLogits(model, ids, ctx)).detachValue();
  {
    const [a, b] = [await fusedFwd(), await unfusedFwd()];
    const [x, y] = [await a.data(), await b.data()];
    let num = 0, den = 0;
    for (let i = 0; i < x.length; i++) { num += (x[i] - y[i]) ** 2; den += x[i] ** 2; }
    console.log(`check: prefill logits fused vs unfused rel err ${Math.sqrt(num / den).toExponential(2)}`);
    a.dispose(); b.dispose();
    if (!(Math.sqrt(num / den) < 1e-4)) throw new Error("bench: the unfused forward does not match the fused one");
  }
  const timeIt = async (fn) => {
    (await fn()).dispose(); // warm-up
    await synchronize(device);
    let best = Infinity;
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      const out = await fn();
      await out.data(); // the logits are what a caller reads
      best = Math.min(best, performance.now() - t0);
      out.dispose();
    }
    return best;
  };
  const prefillFlopsPerToken = 2 * N + L * T * model.config.numHeads * model.config.headDim;
  const prefill = [];
  for (const [label, fn] of [["model.forward (fused attention)", fusedFwd], ["forward, unfused attention", unfusedFwd]]) {
    const ms = await timeIt(fn);
    const tps = (B * T) / (ms / 1000);
    prefill.push({ label, ms, tokensPerSecond: tps, gflops: (tps * prefillFlopsPerToken) / 1e9 });
  }
  ctx.dispose();

  // ---- decode ---------------------------------------------------------------------------------------
  const prompt = ids[0].slice(0, P);
  // with the KV cache: generate() (greedy); time from the first generated token to the last
  const cached = async () => {
    const out = [];
    let tFirst = 0;
    const t0 = performance.now();
    for await (const tok of model.generate(prompt, { maxNewTokens: G, temperature: 0 })) {
      if (out.length === 0) tFirst = performance.now();
      out.push(tok);
    }
    const end = performance.now();
    return { tokens: out, prefillMs: tFirst - t0, decodeMs: end - tFirst, perToken: (end - tFirst) / (G - 1) };
  };
  // without a cache: every token recomputes the whole sequence (last position's logits only)
  const recompute = async () => {
    const seq = [...prompt];
    const out = [];
    let tFirst = 0;
    const t0 = performance.now();
    for (let i = 0; i < G; i++) {
      const logits = await model.forward([seq], { lastOnly: true });
      const row = await logits.data();
      logits.dispose();
      const tok = argmax(row, 0, V);
      if (i === 0) tFirst = performance.now();
      out.push(tok);
      seq.push(tok);
    }
    const end = performance.now();
    return { tokens: out, prefillMs: tFirst - t0, decodeMs: end - tFirst, perToken: (end - tFirst) / (G - 1) };
  };
  await cached(); // warm-up
  const c = await cached();
  const r = await recompute();
  const same = c.tokens.every((t, i) => t === r.tokens[i]);
  console.log(`check: greedy tokens with the KV cache ${same ? "equal" : "DIFFER FROM"} the full-recompute tokens (${G} tokens)`);
  // FLOPs of the generated positions (tokens 2..G at contexts P+1 .. P+G-1)
  let decFlops = 0;
  for (let t = P + 1; t < P + G; t++) decFlops += 2 * N + 4 * L * t * model.config.numHeads * model.config.headDim;
  const decode = [
    { label: "generate() with KV cache", ...c },
    { label: "no cache: full recompute per token", ...r },
  ].map((x) => ({ ...x, tokensPerSecond: 1000 / x.perToken, gflops: decFlops / (x.decodeMs * 1e6) }));

  // ---- decode vs context --------------------------------------------------------------------------
  // batch 1: prefill the prompt through the cache, then time tokens 2..CG (one forward each)
  const decodeAt = async (prompt, makeCache) => {
    const cache = makeCache(prompt.length);
    try {
      let logits = await model.forward([prompt], { cache, lastOnly: true });
      let row = await logits.data();
      logits.dispose();
      const tokens = [argmax(row, 0, V)];
      const t0 = performance.now();
      for (let i = 1; i < CG; i++) {
        logits = await model.forward([[tokens.at(-1)]], { cache, lastOnly: true });
        row = await logits.data();
        logits.dispose();
        tokens.push(argmax(row, 0, V));
      }
      return { tokens, perToken: (performance.now() - t0) / (CG - 1) };
    } finally {
      cache.dispose();
    }
  };
  const inPlace = (n) => model.createCache(n + CG);
  const concatenating = () => concatCache(L);
  const long = Array.from({ length: Math.max(...contexts) }, () => rng.int(V));
  await decodeAt(long.slice(0, contexts[0]), inPlace); // warm-up
  const ctxRows = [];
  let sameCtx = true;
  for (const n of contexts) {
    const prompt = long.slice(0, n);
    const a = await decodeAt(prompt, inPlace);
    const b = await decodeAt(prompt, concatenating);
    sameCtx &&= a.tokens.every((t, i) => t === b.tokens[i]);
    ctxRows.push({ context: n, inPlaceMs: a.perToken, concatMs: b.perToken });
    process.stderr.write(`  context ${n}: ${fmt(a.perToken, 2)} ms/token in place, ${fmt(b.perToken, 2)} concatenating\n`);
  }
  console.log(`check: greedy tokens with the in-place cache ${sameCtx ? "equal" : "DIFFER FROM"} those of the concatenating cache (${contexts.length} contexts × ${CG} tokens)`);

  // ---- tables ---------------------------------------------------------------------------------------
  const w = [40, 10, 11, 11, 9];
  console.log("\n" + pad([`prefill ${B} x ${T} tokens`, "ms", "tok/s", "model GF/s", "ratio"], w));
  for (const p of prefill) console.log(pad([p.label, fmt(p.ms, 1), fmt(p.tokensPerSecond, 0), fmt(p.gflops), fmt(prefill[1].ms / p.ms, 2)], w));
  console.log(pad([`GEMM ceiling (best of ${ceil.rows.length}: ${[...new Set(ceil.rows.map((r) => r.source))].join(", ")})`, "", "", fmt(ceil.best), ""], w));
  console.log("\n" + pad([`decode ${G} tokens after a ${P}-token prompt`, "ms/token", "tok/s", "model GF/s", "ratio"], w));
  for (const x of decode) console.log(pad([x.label, fmt(x.perToken, 2), fmt(x.tokensPerSecond, 1), fmt(x.gflops, 2), fmt(decode[1].perToken / x.perToken, 2)], w));
  console.log(`\n(prompt prefill inside generate(): ${fmt(c.prefillMs, 1)} ms for ${P} tokens)`);
  const cw = [26, 12, 12, 13, 13, 13];
  const base = ctxRows[0];
  console.log("\n" + pad([`decode after a t-token prompt`, "in place", "concat", "ratio", "in place", "concat"], cw));
  console.log(pad(["(batch 1, " + CG + " tokens)", "ms/token", "ms/token", "concat/in pl.", `÷ t=${base.context}`, `÷ t=${base.context}`], cw));
  for (const x of ctxRows) {
    console.log(pad([`t = ${x.context}`, fmt(x.inPlaceMs, 2), fmt(x.concatMs, 2), fmt(x.concatMs / x.inPlaceMs, 2), fmt(x.inPlaceMs / base.inPlaceMs, 2), fmt(x.concatMs / base.concatMs, 2)], cw));
  }
  if (o.json) {
    writeFileSync(o.json, JSON.stringify({ config: { B, T, P, G, d, L, H, V, device, N }, sgemm: ceil, prefill, decode: decode.map(({ tokens, ...x }) => x), sameTokens: same, decodeByContext: ctxRows, sameTokensByContext: sameCtx }, null, 2));
    console.log(`wrote ${o.json}`);
  }
  model.dispose();
  if (!same || !sameCtx) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
