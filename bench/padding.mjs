#!/usr/bin/env node
// bench/padding: a batch of sequences of different lengths through the fused attention with
// per-sequence key ranges (keyLengths: the kernel skips each sequence's padding key blocks, no
// mask tensor), beside, in the same run, the two things a caller could do without them: every
// sequence alone (B = 1 calls in a loop: correct, but small calls) and the padded batch with no
// mask at all (B calls' worth of work at full length: wrong results, the cost of ignoring padding).
//
//   node bench/padding.mjs [--quick] [--T 512,2048] [--B 8] [--heads 8] [--D 64] [--device cpu|cuda] [--dtype f32|bf16|f16]
import { attention, synchronize, Tensor } from "../dist/index.js";
import { flag, opt } from "./args.mjs";

const quick = flag("quick");
const Ts = opt("T", quick ? "256,1024" : "256,1024,4096").split(",").map(Number);
const B = Number(opt("B", "8"));
const H = Number(opt("heads", "8"));
const D = Number(opt("D", "64"));
const reps = Number(opt("reps", quick ? "3" : "5"));
const device = opt("device", "cpu");
const dtype = opt("dtype", "f32");
const on = { device, dtype };

function randn(n, seed) {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2147483648 - 1;
  }
  return a;
}
async function best(fn) {
  await fn(); // warm-up
  let t = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await fn();
    t = Math.min(t, performance.now() - t0);
  }
  return t;
}
const pad = (s, n) => String(s).padStart(n);

console.log(`ctxwin bench/padding — ${device}, ${dtype}, bidirectional (encoder) and causal, B=${B}, H=${H}, D=${D}`);
console.log("lengths spread evenly over [T/8, T]; tokens/s counts real (non-padding) tokens\n");
const header = ["mode", "T", "real tok", "keyLengths ms", "one-by-one ms", "no mask ms", "vs one-by-one", "vs no mask", "tok/s"];
console.log(header.map((h, i) => pad(h, i === 0 ? 6 : 13)).join(" "));
for (const causal of [false, true]) {
  for (const T of Ts) {
    const lengths = Array.from({ length: B }, (_, b) => Math.max(1, Math.round(T / 8 + ((T - T / 8) * b) / Math.max(1, B - 1))));
    const q = Tensor.from(randn(B * T * H * D, 1), [B, T, H, D], on);
    const k = Tensor.from(randn(B * T * H * D, 2), [B, T, H, D], on);
    const v = Tensor.from(randn(B * T * H * D, 3), [B, T, H, D], on);
    // sequence b alone: its first n rows as [1, n, H, D]
    const alone = lengths.map((n, b) => [1, 2, 3].map((seed) => Tensor.from(randn(B * T * H * D, seed).subarray(b * T * H * D, (b * T + n) * H * D), [1, n, H, D], on)));
    const run = async (f) => {
      const outs = f();
      await synchronize(device);
      for (const o of outs) o.dispose();
    };
    const opts = { causal, positional: { type: "rope" } };
    const tRanges = await best(() => run(() => [attention(q, k, v, { ...opts, keyLengths: lengths })]));
    const tLoop = await best(() => run(() => alone.map(([a, b2, c]) => attention(a, b2, c, opts))));
    const tFull = await best(() => run(() => [attention(q, k, v, opts)]));
    const real = lengths.reduce((a, b) => a + b, 0);
    console.log(
      [causal ? "causal" : "bidir", T, real, tRanges.toFixed(2), tLoop.toFixed(2), tFull.toFixed(2), (tLoop / tRanges).toFixed(2) + "×", (tFull / tRanges).toFixed(2) + "×", Math.round((real / tRanges) * 1000)]
        .map((x, i) => pad(x, i === 0 ? 6 : 13))
        .join(" "),
    );
    for (const t of [q, k, v, ...alone.flat()]) t.dispose();
  }
}
console.log("\nvs one-by-one / vs no mask: how many times faster the keyLengths batch is (same run).");
