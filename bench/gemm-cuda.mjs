#!/usr/bin/env node
// bench/gemm-cuda: the matmul op on CUDA tensors, the library-free fallback kernels
// (native/src/cuda/ops/gemm_fallback.cu) against cuBLAS (loaded at run time), in f32 and bf16,
// for square sizes and the shapes of a transformer layer at 4096 tokens: x·Wᵀ (forward, transB),
// dy·W (input gradient) and dyᵀ·x (weight gradient, transA).
//
//   node bench/gemm-cuda.mjs [--quick] [--reps 5] [--json out.json]
//
// The backend is chosen once per process, so each runs in a child process of this script: one
// with CTXWIN_CUBLAS=0 (fallback), one without (cuBLAS when it loads; otherwise that column is
// the fallback too, and the header says so when the addon reports its GEMM backend).
// TFLOP/s = 2·M·N·K / time. Each figure is the best of `reps` batches after a warm-up; a batch
// enqueues `iters` matmuls back to back (output allocation included, as in every op call) and
// waits for the device once. Before timing, each row is checked against exact float64 dot
// products at 64 sampled outputs (inputs are multiples of 1/8, so f32 sums are exact and the
// error is the output's rounding alone: 0 in f32, at most 2^-8 relative in bf16): "err" is the
// largest relative error among them.
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { flag, opt } from "./args.mjs";

const quick = flag("quick");
const reps = Number(opt("reps", quick ? "3" : "5"));
const jsonOut = opt("json", null);
const childLabel = opt("child", null);

const T = 4096; // tokens of the transformer shapes
const rows = [
  ...(quick ? [1024, 2048] : [1024, 2048, 4096]).map((n) => ({ name: `square ${n}`, M: n, N: n, K: n })),
  ...(quick ? [1024] : [1024, 4096]).flatMap((d) => [
    { name: `x·Wᵀ  d=${d}`, M: T, N: d, K: d, transB: true },
    { name: `dy·W  d=${d}`, M: T, N: d, K: d },
    { name: `dyᵀ·x d=${d}`, M: d, N: d, K: T, transA: true },
  ]),
];
const dtypes = ["f32", "bf16"];

const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : "-");
const fmtErr = (x) => (Number.isFinite(x) ? x.toExponential(0) : "-");

// ---- child: measure every row with this process's backend, print JSON -------------------------
async function child() {
  const { Tensor, synchronize, backendInfo } = await import("../dist/index.js");
  const { matmul } = await import("../dist/ops/index.js");

  // Multiples of 1/8 in [-1, 1]: exact in bf16, and every product sum exact in f32.
  const values = (n, seed) => {
    const a = new Float32Array(n);
    let s = seed >>> 0 || 1;
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      a[i] = ((s >>> 16) % 17 - 8) / 8;
    }
    return a;
  };

  const out = [];
  for (const dtype of dtypes) {
    for (const row of rows) {
      const { M, N, K, transA = false, transB = false } = row;
      const ha = values(M * K, 1 + M + K), hb = values(K * N, 2 + N + K);
      const a = Tensor.from(ha, transA ? [K, M] : [M, K], { device: "cuda", dtype });
      const b = Tensor.from(hb, transB ? [N, K] : [K, N], { device: "cuda", dtype });
      const opts = { transA, transB };

      // correctness at sampled outputs
      const y = matmul(a, b, opts);
      const got = await y.data();
      y.dispose();
      const samples = [];
      for (let s = 0; s < 64; s++) {
        const i = (s * 7919 + 13) % M, j = (s * 104729 + 7) % N;
        let ref = 0;
        for (let k = 0; k < K; k++) ref += (transA ? ha[k * M + i] : ha[i * K + k]) * (transB ? hb[j * K + k] : hb[k * N + j]);
        samples.push([got[i * N + j], ref]);
      }
      const rms = Math.sqrt(samples.reduce((t, [, r]) => t + r * r, 0) / samples.length);
      const err = Math.max(...samples.map(([g, r]) => Math.abs(g - r) / Math.max(Math.abs(r), rms / 1024, 1e-30)));

      const flop = 2 * M * N * K;
      const iters = Math.max(1, Math.min(50, Math.round(2e11 / flop)));
      matmul(a, b, opts).dispose(); // warm-up
      await synchronize("cuda");
      let best = Infinity;
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now();
        for (let i = 0; i < iters; i++) matmul(a, b, opts).dispose();
        await synchronize("cuda");
        best = Math.min(best, (performance.now() - t0) / iters);
      }
      a.dispose();
      b.dispose();
      out.push({ name: row.name, dtype, M, N, K, transA, transB, ms: best, tflops: flop / (best * 1e9), err });
      process.stderr.write(`  [${childLabel}] ${dtype} ${row.name}: ${fmt(best, 3)} ms\n`);
    }
  }
  // Read after the matmuls: the backend is chosen by the first one (before it the addon reports
  // "not chosen yet"), and a cuBLAS call that failed and fell back is only noted then.
  let gemm = null;
  try {
    const info = backendInfo().cuda;
    if (info.available) gemm = info.info?.gemm ?? null;
  } catch {}
  process.stdout.write(JSON.stringify({ label: childLabel, gemm, rows: out }) + "\n");
}

// ---- parent: one child per backend, then the table --------------------------------------------
async function parent() {
  const { cudaUnavailableReason } = await import("../dist/backend.js");
  const reason = cudaUnavailableReason();
  if (reason !== null) {
    console.log(`bench/gemm-cuda: no CUDA device (${reason}); nothing to measure`);
    return;
  }
  const self = fileURLToPath(import.meta.url);
  const pass = [...(quick ? ["--quick"] : []), "--reps", String(reps)];
  const run = (label, env) => {
    const r = spawnSync(process.execPath, [self, "--child", label, ...pass], {
      env,
      stdio: ["ignore", "pipe", "inherit"],
      maxBuffer: 1 << 26,
      encoding: "utf8",
    });
    const line = (r.stdout ?? "").trim().split("\n").pop();
    if (r.status !== 0 || !line) {
      console.log(`bench/gemm-cuda: the ${label} run failed (${r.error?.message ?? `exit ${r.status}${r.signal ? `, ${r.signal}` : ""}`})`);
      process.exitCode = 1; // a crashed child must not pass as a table of "-"
      return { label, gemm: null, rows: [] };
    }
    return JSON.parse(line);
  };
  console.log(`ctxwin bench/gemm-cuda — matmul on CUDA, fallback kernels vs cuBLAS; best of ${reps}\n`);
  const fb = run("fallback", { ...process.env, CTXWIN_CUBLAS: "0" });
  const cublasEnv = { ...process.env };
  delete cublasEnv.CTXWIN_CUBLAS;
  const cb = run("cublas", cublasEnv);
  const who = (r) => r.gemm ?? "backend not reported by this addon";
  console.log(`\nfallback column: ${who(fb)}\ncuBLAS column:   ${who(cb)}\n`);

  const w = [14, 5, 6, 6, 6, 10, 9, 7, 10, 9, 7, 9];
  const pad = (cells) => cells.map((c, i) => (i < 2 ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join(" ");
  console.log(pad(["shape", "dtype", "M", "N", "K", "fb ms", "fb TF/s", "fb err", "cublas ms", "cb TF/s", "cb err", "fb/cublas"]));
  const merged = [];
  for (const dtype of dtypes) {
    for (const row of rows) {
      const f = fb.rows.find((r) => r.dtype === dtype && r.name === row.name);
      const c = cb.rows.find((r) => r.dtype === dtype && r.name === row.name);
      const ratio = f && c ? f.tflops / c.tflops : NaN;
      merged.push({ name: row.name, dtype, M: row.M, N: row.N, K: row.K, fallback: f ?? null, cublas: c ?? null, ratio });
      console.log(pad([row.name, dtype, row.M, row.N, row.K, fmt(f?.ms, 3), fmt(f?.tflops, 1), fmtErr(f?.err), fmt(c?.ms, 3), fmt(c?.tflops, 1), fmtErr(c?.err), fmt(ratio, 2)]));
    }
    const rs = merged.filter((m) => m.dtype === dtype && Number.isFinite(m.ratio)).map((m) => m.ratio);
    if (rs.length) console.log(`${"".padEnd(w[0])} ${dtype}: geometric mean fallback/cuBLAS ${fmt(Math.exp(rs.reduce((s, r) => s + Math.log(r), 0) / rs.length), 2)}\n`);
  }
  const bad = merged.filter((m) => [m.fallback, m.cublas].some((r) => r && !(r.err <= (m.dtype === "f32" ? 1e-6 : 5e-3))));
  if (bad.length) console.log(`WRONG RESULTS (err above 1e-6 for f32, 5e-3 for bf16): ${bad.map((m) => `${m.dtype} ${m.name}`).join(", ")}`);
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ date: new Date().toISOString(), fallbackBackend: fb.gemm, cublasBackend: cb.gemm, rows: merged }, null, 2));
  if (bad.length) process.exitCode = 1;
}

if (childLabel !== null) await child();
else await parent();
