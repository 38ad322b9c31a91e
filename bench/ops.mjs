#!/usr/bin/env node
// bench/ops: the CPU GEMM (matmul op) against the machine's BLAS sgemm measured in the same run,
// for square sizes and the shapes of a training step (a small Llama-like layer: tokens x d_model
// activations, [out, in] weights used with transB, weight gradients with transA), then the
// bandwidth of the row ops (norms, fused softmax-cross-entropy, AdamW).
//
//   node bench/ops.mjs [--quick] [--reps 3] [--json out.json]
//   CTXWIN_CPU_ISA=generic node bench/ops.mjs      # the portable kernels
//
// GFLOP/s = 2·M·N·K / time. Each figure is the best of `reps` timed runs after a warm-up, on
// random inputs; the op's time includes allocating its output (as every op call does). BLAS
// (benchSgemm) is always A·B (no transposes) of the row's M, N, K.
import { writeFileSync } from "node:fs";
import { Tensor, synchronize } from "../dist/index.js";
import { cpuBackend } from "../dist/backend.js";
import { matmul, rmsnorm, rmsnormBackward, softmaxCrossEntropy, adamw, layernorm } from "../dist/ops/index.js";
import { flag, opt } from "./args.mjs";

const quick = flag("quick");
const reps = Number(opt("reps", quick ? "2" : "3"));
const jsonOut = opt("json", null);
const addon = cpuBackend();
const info = JSON.parse(addon.info());

function randn(n, seed) {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    a[i] = s / 4294967296 - 0.5;
  }
  return a;
}

async function best(fn, iters = 1) {
  await fn();
  await synchronize("cpu");
  let b = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) await fn();
    await synchronize("cpu");
    b = Math.min(b, (performance.now() - t0) / iters);
  }
  return b;
}

const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "-");
const pad = (cells, widths) => cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join(" ");

console.log(`ctxwin bench/ops — CPU, f32; threads ${info.threads}, ISA ${info.isa}; BLAS: ${addon.blasInfo()}\n`);

// ---- GEMM ------------------------------------------------------------------------------------
const d = 768, ffn = 2048, tokens = quick ? 1024 : 2048, vocab = 8192;
const gemmRows = [
  ...(quick ? [256, 512, 1024] : [256, 512, 1024, 2048]).map((n) => ({ name: `square ${n}`, M: n, N: n, K: n })),
  { name: "qkv   x·Wᵀ", M: tokens, N: 3 * d, K: d, transB: true },
  { name: "mlp   x·Wᵀ", M: tokens, N: ffn, K: d, transB: true },
  { name: "down  h·Wᵀ", M: tokens, N: d, K: ffn, transB: true },
  { name: "head  x·Wᵀ", M: tokens, N: vocab, K: d, transB: true },
  { name: "dX    dy·W", M: tokens, N: d, K: ffn },
  { name: "dW    dyᵀ·x", M: ffn, N: d, K: tokens, transA: true },
  { name: "decode x·Wᵀ (M=1)", M: 1, N: ffn, K: d, transB: true },
];
const widths = [22, 6, 6, 6, 11, 11, 7];
console.log(pad(["GEMM (M x N x K)", "M", "N", "K", "ours GF/s", "BLAS GF/s", "ratio"], widths));
const results = [];
for (const row of gemmRows) {
  const { M, N, K } = row;
  const a = Tensor.from(randn(M * K, 1), row.transA ? [K, M] : [M, K]);
  const b = Tensor.from(randn(K * N, 2), row.transB ? [N, K] : [K, N]);
  const flop = 2 * M * N * K;
  const iters = Math.max(1, Math.min(50, Math.round(2e9 / flop)));
  const ms = await best(async () => matmul(a, b, { transA: row.transA, transB: row.transB }).dispose(), iters);
  let blasMs = NaN;
  try {
    blasMs = await addon.benchSgemm(M, N, K, Math.max(iters, 2));
  } catch {
    /* no BLAS on this machine */
  }
  const ours = flop / (ms * 1e6), blas = flop / (blasMs * 1e6);
  results.push({ ...row, ms, gflops: ours, blasGflops: blas, ratio: ours / blas });
  console.log(pad([row.name, M, N, K, fmt(ours), fmt(blas), fmt(ours / blas, 2)], widths));
  a.dispose();
  b.dispose();
}
const big = results.filter((r) => r.M * r.N * r.K >= 512 ** 3);
const geo = Math.exp(big.reduce((s, r) => s + Math.log(r.ratio), 0) / big.length);
console.log(`\ngeometric mean ratio over the large shapes (>= 512^3): ${fmt(geo, 2)}\n`);

// ---- row ops ---------------------------------------------------------------------------------
// Bytes: every f32 tensor read or written once (the napkin figure the kernels should approach).
const rows = tokens, V = vocab;
const x = Tensor.from(randn(rows * d, 3), [rows, d]);
const w = Tensor.from(randn(d, 4).map((v) => v + 1), [d]);
const dy = Tensor.from(randn(rows * d, 5), [rows, d]);
const logits = Tensor.from(randn(rows * V, 6).map((v) => v * 8), [rows, V]);
const targets = Tensor.from(Float32Array.from({ length: rows }, (_, i) => (i * 7919) % V), [rows]);
const nParam = 8 * 1024 * 1024;
const p = Tensor.from(randn(nParam, 7), [nParam]), g = Tensor.from(randn(nParam, 8), [nParam]);
const m = Tensor.from(new Float32Array(nParam), [nParam]), v = Tensor.from(new Float32Array(nParam), [nParam]);
const { rstd } = rmsnorm(x, w);
const opRows = [
  { name: `rmsnorm [${rows}, ${d}]`, bytes: 2 * rows * d * 4, fn: () => { const o = rmsnorm(x, w); o.y.dispose(); o.rstd.dispose(); } },
  { name: `rmsnorm bwd [${rows}, ${d}]`, bytes: 3 * rows * d * 4, fn: () => { const o = rmsnormBackward(dy, x, w, rstd); o.dx.dispose(); o.dw.dispose(); } },
  { name: `layernorm [${rows}, ${d}]`, bytes: 2 * rows * d * 4, fn: () => { const o = layernorm(x, w, null); o.y.dispose(); o.mean.dispose(); o.rstd.dispose(); } },
  { name: `xent+grad [${rows}, ${V}]`, bytes: 2 * rows * V * 4, fn: () => { const o = softmaxCrossEntropy(logits, targets, { grad: true }); o.losses.dispose(); o.dlogits.dispose(); } },
  { name: `adamw ${nParam / 2 ** 20}M params`, bytes: 7 * nParam * 4, fn: () => adamw(p, g, m, v, { lr: 1e-3, step: 1 }) },
];
const w2 = [28, 10, 10];
console.log(pad(["row op", "ms", "GB/s"], w2));
const opResults = [];
for (const r of opRows) {
  const ms = await best(async () => r.fn(), 5);
  opResults.push({ name: r.name, ms, gbs: r.bytes / (ms * 1e6) });
  console.log(pad([r.name, fmt(ms, 3), fmt(r.bytes / (ms * 1e6))], w2));
}

if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ date: new Date().toISOString(), threads: info.threads, isa: info.isa, blas: addon.blasInfo(), gemm: results, rowOps: opResults }, null, 2));
