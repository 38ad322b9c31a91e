#!/usr/bin/env node
// bench/attention: CPU fused attention throughput by positional scheme and length, beside (in
// the same run) the unfused matmul-softmax-matmul baseline and the machine's BLAS sgemm ceiling.
//
//   node bench/attention.mjs [--quick] [--T 512,1024] [--D 64,128] [--heads 4] [--json out.json]
//
// FLOPs (as FlashAttention counts them): forward 4·B·H·Tq·Tk·D, halved when causal; backward
// 2.5x the forward. Tokens/s = B·T / time. Each figure is the best of `reps` timed runs after a
// warm-up, on fresh random inputs (never zeros).
import { writeFileSync } from "node:fs";
import { Tensor } from "../dist/index.js";
import { timeAttention } from "./attention-timing.mjs";
import { cpuBackend } from "../dist/backend.js";
import { flag, opt } from "./args.mjs";

const quick = flag("quick");
const Ts = opt("T", quick ? "512,1024,2048" : "512,1024,2048,4096,8192").split(",").map(Number);
const Ds = opt("D", "64,128").split(",").map(Number);
const H = Number(opt("heads", "4"));
const B = 1;
const reps = Number(opt("reps", quick ? "2" : "3"));
const jsonOut = opt("json", null);

const addon = cpuBackend();
const schemes = [
  { name: "none", positional: { type: "none" } },
  { name: "alibi", positional: { type: "alibi" } },
  { name: "alibi-pi", positional: { type: "alibi", trainLength: 256 } },
  { name: "rope", positional: { type: "rope" } },
  { name: "yarn", positional: { type: "rope", scaling: { type: "yarn", factor: 4, originalMaxPositions: 256 } } },
  { name: "window", positional: { type: "none" }, window: (T) => Math.max(64, T / 4) },
];

function randn(n, seed) {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i += 2) {
    s = (s * 1664525 + 1013904223) >>> 0;
    const u = (s + 1) / 4294967297;
    s = (s * 1664525 + 1013904223) >>> 0;
    const v = s / 4294967296;
    const r = Math.sqrt(-2 * Math.log(u));
    a[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) a[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return a;
}

/** Effective FLOPs of one causal forward, counting only visible (query, key) pairs for windows. */
function fwdFlops(T, D, window) {
  const pairs = window ? Array.from({ length: T }, (_, i) => Math.min(i + 1, window)).reduce((a, b) => a + b, 0) : (T * T) / 2;
  return 4 * B * H * pairs * D;
}

const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "-");
const rows = [];
console.log(`ctxwin bench/attention — CPU, f32, causal, B=${B}, H=${H}; BLAS: ${addon.blasInfo()}`);
console.log(`threads: ${JSON.parse(addon.info()).threads}, kernels: ${JSON.parse(addon.info()).isa}`);
let peak = NaN;
try {
  peak = (2 * 2048 ** 3) / ((await addon.benchSgemm(2048, 2048, 2048, reps)) * 1e6);
} catch {}
console.log(`square sgemm 2048^3 (machine peak): ${Number.isFinite(peak) ? peak.toFixed(1) : "-"} GFLOP/s; ratios below are against the sgemm of each row's own shape [T x D] x [D x T]\n`);
const header = ["D", "T", "scheme", "fwd ms", "fwd GFLOP/s", "fwd/sgemm", "fwd tok/s", "bwd ms", "bwd GFLOP/s", "bwd/sgemm", "vs none", "unfused GFLOP/s", "fused/unfused"];
console.log(header.map((h, i) => (i < 3 ? h.padEnd(i === 2 ? 9 : 5) : h.padStart(11))).join(" "));

for (const D of Ds) {
  for (const T of Ts) {
    const n = B * T * H * D;
    const q = Tensor.from(randn(n, T * 7 + D), [B, T, H, D]);
    const k = Tensor.from(randn(n, T * 11 + D), [B, T, H, D]);
    const v = Tensor.from(randn(n, T * 13 + D), [B, T, H, D]);
    const dOut = Tensor.from(randn(n, T * 17 + D), [B, T, H, D]);
    // The ceiling: sgemm of the attention's own matmul shape, [T, D] x [D, T].
    let sgemmGflops = NaN;
    try {
      const ms = await addon.benchSgemm(T, T, D, reps);
      sgemmGflops = (2 * T * T * D) / (ms * 1e6);
    } catch {}
    let unfusedGflops = NaN;
    try {
      const ms = await addon.benchUnfusedAttention(q.handle("bench"), k.handle("bench"), v.handle("bench"), true, 1);
      unfusedGflops = fwdFlops(T, D, 0) / (ms * 1e6);
    } catch {}
    let noneFwd = NaN;
    for (const s of schemes) {
      const window = s.window ? s.window(T) : undefined;
      const opts = { causal: true, positional: s.positional, window };
      const flops = fwdFlops(T, D, window);
      const { fwdMs, bwdMs } = await timeAttention(q, k, v, dOut, opts, reps);
      const fwdG = flops / (fwdMs * 1e6);
      const bwdG = (2.5 * flops) / (bwdMs * 1e6);
      if (s.name === "none") noneFwd = fwdG;
      const row = {
        D, T, scheme: s.name, fwdMs, fwdGflops: fwdG, fwdVsSgemm: fwdG / sgemmGflops, tokensPerS: (B * T) / (fwdMs / 1e3),
        bwdMs, bwdGflops: bwdG, bwdVsSgemm: bwdG / sgemmGflops, vsNone: fwdG / noneFwd, sgemmGflops,
        unfusedGflops: s.name === "none" ? unfusedGflops : NaN,
      };
      rows.push(row);
      console.log(
        [String(D).padEnd(5), String(T).padEnd(5), s.name.padEnd(9), fmt(fwdMs), fmt(fwdG), fmt(row.fwdVsSgemm, 2), fmt(row.tokensPerS, 0), fmt(bwdMs), fmt(bwdG), fmt(row.bwdVsSgemm, 2), fmt(row.vsNone, 2),
          fmt(row.unfusedGflops), fmt(s.name === "none" ? fwdG / unfusedGflops : NaN, 2)]
          .map((c, i) => (i < 3 ? c : c.padStart(11))).join(" "),
      );
    }
    console.log(`${"".padEnd(21)}sgemm [${T}x${D}]x[${D}x${T}]: ${fmt(sgemmGflops)} GFLOP/s`);
    for (const t of [q, k, v, dOut]) t.dispose();
  }
}
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ date: new Date().toISOString(), blas: addon.blasInfo(), peakSgemmGflops: peak, rows }, null, 2));
