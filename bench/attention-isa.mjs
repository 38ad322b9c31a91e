#!/usr/bin/env node
// bench/attention-isa: the CPU attention kernel builds this machine can run (portable "generic",
// "avx2", "avx512"), timed in one process on the same inputs by switching the kernel variant at
// run time (selectVariant), so every ratio is against the generic build measured in the same run.
//
//   node bench/attention-isa.mjs [--T 1024,2048,4096] [--D 64,128] [--heads 4] [--reps 3] [--json out.json]
//
// f32, causal, B=1; FLOPs as bench/attention.mjs (forward 2·H·T²·D causal, backward 2.5x). Each
// figure is the best of `reps` timed runs after a warm-up, for rows in a rotating order of variants
// (so a slow moment of a shared machine does not always land on the same one).
import { writeFileSync } from "node:fs";
import { Tensor, backendInfo } from "../dist/index.js";
import { timeAttention } from "./attention-timing.mjs";
import { cpuBackend } from "../dist/backend.js";
import { flag, opt } from "./args.mjs";

const Ts = opt("T", "1024,2048,4096").split(",").map(Number);
const Ds = opt("D", "64,128").split(",").map(Number);
const H = Number(opt("heads", "4"));
const reps = Number(opt("reps", "3"));
const jsonOut = opt("json", null);

const addon = cpuBackend();
const features = backendInfo().cpu.features;
const variants = ["generic", ...(features.avx2 && features.fma ? ["avx2"] : []), ...(features.avx512f ? ["avx512"] : [])];
const schemes = [
  { name: "none", positional: { type: "none" } },
  { name: "alibi", positional: { type: "alibi" } },
  { name: "yarn", positional: { type: "rope", scaling: { type: "yarn", factor: 4, originalMaxPositions: 256 } } },
];

function randn(n, seed) {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    a[i] = s / 2147483648 - 1;
  }
  return a;
}

const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "-");
const cpuName = JSON.parse(addon.info());
console.log(`ctxwin bench/attention-isa — CPU f32 causal, B=1, H=${H}, threads ${cpuName.threads}; variants: ${variants.join(", ")}`);
console.log("GFLOP/s per kernel build; ratio = build / generic (same run, same inputs)\n");
const cols = variants.flatMap((v) => [`fwd ${v}`, `bwd ${v}`]);
const ratioCols = variants.slice(1).flatMap((v) => [`fwd ${v}/gen`, `bwd ${v}/gen`]);
console.log(["D".padEnd(4), "T".padEnd(5), "scheme".padEnd(7), ...cols.map((c) => c.padStart(12)), ...ratioCols.map((c) => c.padStart(15))].join(" "));

const rows = [];
let rotation = 0;
try {
  for (const D of Ds) {
    for (const T of Ts) {
      const n = T * H * D;
      const q = Tensor.from(randn(n, T + D), [1, T, H, D]);
      const k = Tensor.from(randn(n, 2 * T + D), [1, T, H, D]);
      const v = Tensor.from(randn(n, 3 * T + D), [1, T, H, D]);
      const dOut = Tensor.from(randn(n, 4 * T + D), [1, T, H, D]);
      const flops = 2 * H * T * T * D;
      for (const s of schemes) {
        const opts = { causal: true, positional: s.positional };
        const res = {};
        const order = variants.map((_, i) => variants[(i + rotation) % variants.length]);
        rotation++;
        for (const variant of order) {
          addon.selectVariant(variant);
          const { fwdMs, bwdMs } = await timeAttention(q, k, v, dOut, opts, reps);
          res[variant] = { fwd: flops / (fwdMs * 1e6), bwd: (2.5 * flops) / (bwdMs * 1e6) };
        }
        rows.push({ D, T, scheme: s.name, ...Object.fromEntries(variants.map((x) => [x, res[x]])) });
        const g = res.generic;
        console.log(
          [String(D).padEnd(4), String(T).padEnd(5), s.name.padEnd(7),
            ...variants.flatMap((x) => [fmt(res[x].fwd), fmt(res[x].bwd)]).map((c) => c.padStart(12)),
            ...variants.slice(1).flatMap((x) => [fmt(res[x].fwd / g.fwd, 2), fmt(res[x].bwd / g.bwd, 2)]).map((c) => c.padStart(15))].join(" "),
        );
      }
      for (const t of [q, k, v, dOut]) t.dispose();
    }
  }
} finally {
  addon.selectVariant("auto");
}
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ date: new Date().toISOString(), variants, rows }, null, 2));
