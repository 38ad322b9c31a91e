#!/usr/bin/env node
// bench/train: training throughput (tokens/s) and model-FLOP utilisation of a small Llama-like
// model through the real trainer (lib/train train(): tape forward/backward, fused AdamW with
// global-norm clipping), beside baselines measured in the same run:
//
//   - unfused: the same model and step with attention computed the plain way — RoPE as
//     elementwise ops (x·cos + rotate_half(x)·sin through mul/add/slice/concat), then per
//     (batch, head) S = QKᵀ (matmul) + causal mask (add) → softmax → P·V (matmul), the T×T
//     probabilities kept for a hand-written backward made of the same separate ops. Everything
//     else (embedding, RMSNorm, SwiGLU MLP, LM head, cross-entropy, AdamW) is shared, so the
//     ratio isolates the fused attention kernel. Its loss is checked against the fused model's
//     on the same batch before anything is timed.
//   - the GEMM ceiling MFU is measured against: the best rate of the BLAS sgemm (addon.benchSgemm,
//     OpenBLAS/MKL when present) and of ctxwin's own matmul op, over a square 1024³ product and
//     the step's largest GEMM shape (see sgemmCeiling).
//
//   node bench/train.mjs [--quick] [--steps 5] [--rounds 2] [--batch 8] [--seq 256] [--d 256] [--layers 4]
//                        [--heads 4] [--vocab 4096] [--device cpu|cuda] [--json out.json]
//
// Model FLOPs per trained token (PaLM appendix B / nanoGPT estimate_mfu, with causal attention
// counted at half, as docs/design.md, Tests and benchmarks, counts attention FLOPs):
//   6·N  +  6·L·T·d
//   N = weights that take part in matmuls (every Linear in the blocks + the LM head; the
//       embedding lookup is not a matmul); 6 = 2 (multiply-add) × 3 (forward + 2× backward).
//   6·L·T·d = L layers × 3 (fwd+bwd) × [QKᵀ + P·V = 2·2·T·d per token] / 2 (causal).
// Nothing recomputed (no activation checkpointing here) is counted: these are model FLOPs, not
// hardware FLOPs. MFU = model FLOP/s ÷ sgemm FLOP/s.
import { writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { Tensor, Rng, createModel, F, Tape, leaf, synchronize, backendInfo, ops } from "../dist/index.js";
import { emit } from "../dist/nn/index.js";
import { cpuBackend } from "../dist/backend.js";
import { packSequences, train } from "../dist/train/index.js";
import { flag, opt } from "./args.mjs";

// ---- the unfused attention (shared with bench/forward.mjs) ------------------------------------

/** cos/sin tables [B, T, H, D] for HF rotate-half RoPE at positions 0..T-1. */
export function ropeTables(B, T, H, D, theta = 10000, device = "cpu") {
  const cos = new Float32Array(B * T * H * D);
  const sin = new Float32Array(B * T * H * D);
  const half = D / 2;
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < D; i++) {
      const inv = 1 / Math.pow(theta, (2 * (i % half)) / D);
      const c = Math.cos(t * inv), s = Math.sin(t * inv);
      for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
        const o = ((b * T + t) * H + h) * D + i;
        cos[o] = c;
        sin[o] = s;
      }
    }
  }
  return { cos: Tensor.from(cos, [B, T, H, D], { device }), sin: Tensor.from(sin, [B, T, H, D], { device }), dispose() { this.cos.dispose(); this.sin.dispose(); } };
}

/** concat(−x2, x1) along the last dim (sign −1), or its transpose concat(x2, −x1) (sign +1). */
function rotateHalf(x, sign) {
  const D = x.shape[x.shape.length - 1];
  const x1 = ops.slice(x, -1, 0, D / 2), x2 = ops.slice(x, -1, D / 2, D);
  let out;
  if (sign < 0) {
    const n2 = ops.scale(x2, -1);
    out = ops.concat(n2, x1, -1);
    n2.dispose();
  } else {
    const n1 = ops.scale(x1, -1);
    out = ops.concat(x2, n1, -1);
    n1.dispose();
  }
  x1.dispose();
  x2.dispose();
  return out;
}

/** y = x·cos + rotate_half(x)·sin as separate ops; backward dx = dy·cos + rotate_halfᵀ(dy·sin). */
function ropeUnfused(x, tab) {
  const a = ops.mul(x.value, tab.cos);
  const r = rotateHalf(x.value, -1);
  const b = ops.mul(r, tab.sin);
  const y = ops.add(a, b);
  a.dispose(); r.dispose(); b.dispose();
  return emit("ropeUnfused", [x], y, (g) => {
    const gc = ops.mul(g, tab.cos);
    const gs = ops.mul(g, tab.sin);
    const rt = rotateHalf(gs, +1);
    const dx = ops.add(gc, rt);
    gc.dispose(); gs.dispose(); rt.dispose();
    return [dx];
  });
}

/**
 * Causal attention of q, k, v [B, T, H, D] (already rotated) the plain way: per (b, h),
 * S = scale·QKᵀ + mask, P = softmax(S), O = P·V — every step its own op, P materialised.
 */
function attentionUnfused(q, k, v, mask, scale) {
  const [B, T, H, D] = q.shape;
  const out = ops.fill(q.value, 0);
  const saved = []; // P per (b, h)
  const slices = (t, b) => {
    const tb = ops.slice(t, 0, b, b + 1);
    const hs = [];
    for (let h = 0; h < H; h++) {
      const s = ops.slice(tb, 2, h, h + 1);
      hs.push(s.reshape([T, D]));
      s.dispose();
    }
    tb.dispose();
    return hs;
  };
  for (let b = 0; b < B; b++) {
    const qs = slices(q.value, b), ks = slices(k.value, b), vs = slices(v.value, b);
    const ob = ops.slice(out, 0, b, b + 1);
    for (let h = 0; h < H; h++) {
      const s = ops.matmul(qs[h], ks[h], { transB: true, alpha: scale });
      const sm = ops.add(s, mask);
      const p = ops.softmax(sm);
      const o = ops.matmul(p, vs[h]);
      const o4 = o.reshape([1, T, 1, D]);
      ops.copyInto(ob, o4, 2, h);
      s.dispose(); sm.dispose(); o.dispose(); o4.dispose();
      saved.push(p);
    }
    ops.copyInto(out, ob, 0, b);
    ob.dispose();
    for (const t of [...qs, ...ks, ...vs]) t.dispose();
  }
  const onesCol = Tensor.from(new Float32Array(T).fill(1), [T, 1], { device: q.value.device });
  const onesRow = onesCol.reshape([1, T]);
  return emit("attentionUnfused", [q, k, v], out, (g) => {
    const dq = ops.fill(q.value, 0), dk = ops.fill(k.value, 0), dv = ops.fill(v.value, 0);
    for (let b = 0; b < B; b++) {
      const qs = slices(q.value, b), ks = slices(k.value, b), vs = slices(v.value, b), gs = slices(g, b);
      const dqb = ops.slice(dq, 0, b, b + 1), dkb = ops.slice(dk, 0, b, b + 1), dvb = ops.slice(dv, 0, b, b + 1);
      for (let h = 0; h < H; h++) {
        const p = saved[b * H + h];
        const dvh = ops.matmul(p, gs[h], { transA: true }); // Pᵀ·dO
        const dp = ops.matmul(gs[h], vs[h], { transB: true }); // dO·Vᵀ
        const pdp = ops.mul(p, dp);
        const rs = ops.matmul(pdp, onesCol); // Σ_j P∘dP  [T, 1]
        const rsb = ops.matmul(rs, onesRow); // broadcast [T, T]
        const nrs = ops.scale(rsb, -1);
        const diff = ops.add(dp, nrs);
        nrs.dispose();
        const ds = ops.mul(p, diff); // dS = P∘(dP − rowsum)
        const dqh = ops.matmul(ds, ks[h], { alpha: scale });
        const dkh = ops.matmul(ds, qs[h], { transA: true, alpha: scale });
        for (const [dst, src] of [[dqb, dqh], [dkb, dkh], [dvb, dvh]]) {
          const s4 = src.reshape([1, T, 1, D]);
          ops.copyInto(dst, s4, 2, h);
          s4.dispose();
          src.dispose();
        }
        for (const t of [dp, pdp, rs, rsb, diff, ds]) t.dispose();
      }
      ops.copyInto(dq, dqb, 0, b); ops.copyInto(dk, dkb, 0, b); ops.copyInto(dv, dvb, 0, b);
      for (const t of [dqb, dkb, dvb, ...qs, ...ks, ...vs, ...gs]) t.dispose();
    }
    return [dq, dk, dv];
  }, { save: [q, k, v], aux: [...saved, onesCol, onesRow] });
}

/** A [T, T] additive causal mask (0 on and below the diagonal, −∞ above). */
export function causalMask(T, device = "cpu") {
  const m = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = -Infinity;
  return Tensor.from(m, [T, T], { device });
}

/** The model's attention module with the unfused RoPE + attention in place of the fused kernel. */
function attnModuleUnfused(attn, x, ctx) {
  const [B, T] = x.shape;
  const H = attn.heads, D = attn.headDim;
  const proj = (lin, heads) => {
    const y = lin.forward(x);
    const r = F.reshape(y, [B, T, heads, D]);
    y.release();
    return r;
  };
  const q0 = proj(attn.q, H), k0 = proj(attn.k, attn.kvHeads), v = proj(attn.v, attn.kvHeads);
  if (attn.kvHeads !== H) throw new Error("bench: the unfused baseline is written for MHA (kvHeads = heads)");
  const q = ropeUnfused(q0, ctx.rope), k = ropeUnfused(k0, ctx.rope);
  q0.release(); k0.release();
  const o = attentionUnfused(q, k, v, ctx.mask, 1 / Math.sqrt(D));
  q.release(); k.release(); v.release();
  const o2 = F.reshape(o, [B, T, H * D]);
  o.release();
  const y = attn.o.forward(o2);
  o2.release();
  return y;
}

/** Tables for unfusedLoss / unfusedLogits at batch B, length T. */
export function unfusedContext(model, B, T) {
  const c = model.config;
  const theta = c.positional.type === "rope" ? (c.positional.theta ?? 10000) : 10000;
  return { rope: ropeTables(B, T, c.numHeads, c.headDim, theta, model.device), mask: causalMask(T, model.device), B, T, dispose() { this.rope.dispose(); this.mask.dispose(); } };
}

/** Final hidden → logits Variable [B, T, V] of a Llama-like model with unfused attention. */
export function unfusedLogits(model, ids, ctx) {
  const B = ids.length, T = ids[0].length;
  const idsT = Tensor.from(Float32Array.from(ids.flat()), [B, T], { device: model.device });
  let x = model.embed.forward(idsT);
  idsT.dispose();
  for (const blk of model.blocks) {
    const h = blk.norm1.forward(x);
    const a = attnModuleUnfused(blk.attn, h, ctx);
    const x2 = F.add(x, a);
    a.release(); h.release(); x.release();
    const h2 = blk.norm2.forward(x2);
    const m = blk.mlp.forward(h2);
    x = F.add(x2, m);
    m.release(); h2.release(); x2.release();
  }
  const hn = model.finalNorm.forward(x);
  x.release();
  const logits = model.head(hn);
  hn.release();
  return logits;
}

/** Mean next-token cross-entropy, as model.loss, through the unfused attention. */
export function unfusedLoss(model, inputs, targets, ctx) {
  const logits = unfusedLogits(model, inputs, ctx);
  const [B, T, V] = logits.shape;
  const flat = F.reshape(logits, [B * T, V]);
  logits.release();
  const l = F.crossEntropy(flat, targets.flat());
  flat.release();
  return l;
}

// ---- FLOPs --------------------------------------------------------------------------------------

/** Weights that take part in matmuls: every Linear weight in the blocks and the LM head. */
export function matmulParams(model) {
  let n = 0;
  for (const [name, p] of model.namedParameters()) {
    // the embedding lookup is not a matmul; a tied embedding is counted once, as the LM head
    if (name.includes("embed_tokens") && !model.config.tieWordEmbeddings) continue;
    if (p.value.shape.length === 2) n += p.value.shape[0] * p.value.shape[1];
  }
  return n;
}

/** Training model FLOPs per token: 6·N + 6·L·T·d (causal attention at half). */
export function trainFlopsPerToken(model, T) {
  const c = model.config;
  const attnWidth = c.numHeads * c.headDim;
  return 6 * matmulParams(model) + 6 * c.numLayers * T * attnWidth;
}

/** Forward model FLOPs per token at context T: 2·N + 2·L·T·d (causal). */
export function forwardFlopsPerToken(model, T) {
  const c = model.config;
  return 2 * matmulParams(model) + 2 * c.numLayers * T * c.numHeads * c.headDim;
}

// ---- helpers ------------------------------------------------------------------------------------

export const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "-");
export const pad = (cells, widths) => cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join("  ");

export function parseArgs(defaults) {
  const quick = flag("quick");
  const o = { quick };
  for (const [k, v] of Object.entries(defaults)) o[k] = typeof v === "number" ? Number(opt(k, String(quick && defaults[`${k}Quick`] !== undefined ? defaults[`${k}Quick`] : v))) : opt(k, v);
  return o;
}

/**
 * The GEMM ceiling MFU is measured against: the best GFLOP/s of any GEMM this machine has on the
 * given [M, N, K] products — on CPU the BLAS sgemm (addon.benchSgemm; absent without BLAS) and
 * ctxwin's own matmul op (a BLAS that misdetects its CPU can be far slower than ours, and a
 * ceiling below the model's own GEMMs would report an MFU above 100%); on CUDA the device's
 * matmul op (cuBLAS when it loads) on the same shapes and a 4096³ square.
 */
export async function sgemmCeiling(shapes, iters = 3, device = "cpu") {
  const rows = [];
  const opShapes = device === "cuda" ? [...shapes, [4096, 4096, 4096]] : shapes;
  for (const [M, N, K] of opShapes) {
    const a = Tensor.from(new Float32Array(M * K).fill(0.01), [M, K], { device });
    const b = Tensor.from(new Float32Array(K * N).fill(0.01), [K, N], { device });
    ops.matmul(a, b).dispose();
    await synchronize(device);
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) ops.matmul(a, b).dispose();
    await synchronize(device);
    const ms = (performance.now() - t0) / iters;
    rows.push({ M, N, K, gflops: (2 * M * N * K) / (ms * 1e6), source: `${device} matmul op` });
    a.dispose();
    b.dispose();
  }
  if (device === "cpu") {
    const addon = cpuBackend();
    for (const [M, N, K] of shapes) {
      try {
        const ms = await addon.benchSgemm(M, N, K, iters);
        rows.push({ M, N, K, gflops: (2 * M * N * K) / (ms * 1e6), source: "BLAS sgemm" });
      } catch {
        /* no BLAS on this machine */
      }
    }
  }
  return { rows, best: Math.max(...rows.map((r) => r.gflops).filter(Number.isFinite)) };
}

export function describeMachine(device) {
  const info = backendInfo();
  const addon = cpuBackend();
  return `device ${device}; CPU threads ${info.cpu.threads}, ISA ${info.cpu.isa}; BLAS: ${addon.blasInfo()}` + (device === "cuda" ? `; CUDA: ${JSON.stringify(info.cuda.available ? info.cuda.info : info.cuda.reason)}` : "");
}

// ---- main ---------------------------------------------------------------------------------------

async function main() {
  const o = parseArgs({ steps: 5, stepsQuick: 2, rounds: 2, roundsQuick: 1, batch: 8, batchQuick: 4, seq: 256, seqQuick: 128, d: 256, layers: 4, heads: 4, vocab: 4096, device: "cpu", json: "" });
  const { steps, batch: B, seq: T, d, layers: L, heads: H, vocab: V, device } = o;
  console.log(`ctxwin bench/train — ${describeMachine(device)}`);
  const model = createModel({ vocabSize: V, hiddenSize: d, numLayers: L, numHeads: H, maxPositions: Math.max(2048, T) }, { seed: 1, device });
  const cfg = model.config;
  const N = matmulParams(model);
  const fpt = trainFlopsPerToken(model, T);
  console.log(
    `model: Llama-like d=${d} L=${L} heads=${H} (D=${cfg.headDim}) ffn=${cfg.intermediateSize} vocab=${V} · ${(model.numParameters() / 1e6).toFixed(2)}M params, ` +
      `N(matmul)=${(N / 1e6).toFixed(2)}M · batch ${B} × seq ${T} = ${B * T} tokens/step · ${(fpt / 1e6).toFixed(1)} MFLOP/token (6N + 6·L·T·d)\n`,
  );

  // random tokens: the content does not change the work
  const rng = new Rng(3);
  const stream = Int32Array.from({ length: (B * (steps + 4) + 1) * T + 1 }, () => rng.int(V));
  const rows = packSequences(stream, { seqLen: T });

  // validate the baseline: the same loss and the same gradients on the same batch (at init the
  // attention barely moves the loss; the q/k projections' gradients flow only through it)
  const ctx = unfusedContext(model, B, T);
  const vb = { inputs: [...Array(B).keys()].map((i) => rows.inputs(i)), targets: [...Array(B).keys()].map((i) => rows.targets(i)) };
  {
    const lossAndGrads = async (fn) => {
      const tape = new Tape();
      const l = tape.run(fn);
      tape.backward(l);
      const v = (await l.value.data())[0];
      l.release();
      const g = new Map();
      for (const [n, p] of model.namedParameters()) g.set(n, await p.grad.data());
      model.zeroGrad();
      return { v, g };
    };
    const a = await lossAndGrads(() => model.loss(vb.inputs, vb.targets));
    const b = await lossAndGrads(() => unfusedLoss(model, vb.inputs, vb.targets, ctx));
    const rel = Math.abs(a.v - b.v) / Math.abs(a.v);
    let worst = 0, worstName = "";
    for (const [n, ga] of a.g) {
      const gb = b.g.get(n);
      let num = 0, den = 0;
      for (let i = 0; i < ga.length; i++) { num += (ga[i] - gb[i]) ** 2; den += ga[i] ** 2; }
      const e = Math.sqrt(num / Math.max(den, 1e-30));
      if (e > worst) { worst = e; worstName = n; }
    }
    console.log(`check: loss fused ${a.v.toFixed(6)} vs unfused ${b.v.toFixed(6)} (rel diff ${rel.toExponential(2)}); gradients: worst rel err ${worst.toExponential(2)} (${worstName})`);
    if (!(rel < 1e-4 && worst < 1e-3)) throw new Error("bench: the unfused baseline does not compute the fused model's loss/gradients; fix it before timing");
  }

  // Interleaved rounds, best of each (this machine may be shared: interference only slows a
  // measurement down, so the best round is the least disturbed one). Each round: the GEMM ceiling
  // (a square product and the step's largest GEMMs), then the fused and the unfused step.
  const shapes = [[1024, 1024, 1024], [B * T, cfg.intermediateSize, d], [B * T, V, d]];
  const common = { batchSize: B, lr: 1e-4, warmup: 0, weightDecay: 0.01, maxNorm: 1, seed: 0 };
  const runTrain = async (lossFn) => {
    await train(model, { ...common, data: rows, steps: 1, lossFn }); // warm-up (thread pool, allocator)
    await synchronize(device);
    return (await train(model, { ...common, data: rows, steps, lossFn })).tokensPerSecond;
  };
  let ceil = null;
  let bestFused = 0, bestUnf = 0;
  for (let round = 0; round < o.rounds; round++) {
    const c = await sgemmCeiling(shapes, 3, device);
    if (!ceil) ceil = c;
    else c.rows.forEach((r, i) => (ceil.rows[i].gflops = Math.max(ceil.rows[i].gflops, r.gflops)));
    bestFused = Math.max(bestFused, await runTrain(undefined));
    bestUnf = Math.max(bestUnf, await runTrain((m, b) => unfusedLoss(m, b.inputs, b.targets, ctx)));
  }
  ceil.best = Math.max(...ceil.rows.map((r) => r.gflops).filter(Number.isFinite));
  const peak = ceil.best * 1e9;
  const row = (label, tps) => ({ label, tokensPerSecond: tps, stepMs: ((B * T) / tps) * 1000, modelFlops: tps * fpt, mfu: (tps * fpt) / peak });
  const fused = row("ctxwin train() (fused attention)", bestFused);
  const unf = row("same step, unfused attention", bestUnf);

  // attention alone (fwd + bwd of one layer's q, k, v), to see where the difference comes from
  const attnRows = [];
  {
    const D = cfg.headDim;
    const mk = (s) => Tensor.from(Float32Array.from({ length: B * T * H * D }, (_, i) => Math.sin(i * 0.37 + s)), [B, T, H, D], { device });
    const [qT, kT, vT] = [mk(1), mk(2), mk(3)];
    const time = async (fn, reps) => {
      fn(); await synchronize(device);
      let best = Infinity;
      for (let i = 0; i < reps; i++) {
        const t0 = performance.now();
        fn();
        await synchronize(device);
        best = Math.min(best, performance.now() - t0);
      }
      return best;
    };
    const once = (useFused) => () => {
      const q = leaf(qT, { borrowed: true }), k = leaf(kT, { borrowed: true }), v = leaf(vT, { borrowed: true });
      const tape = new Tape();
      const out = tape.run(() => {
        if (useFused) return F.attention(q, k, v, { causal: true, positional: cfg.positional });
        const qr = ropeUnfused(q, ctx.rope), kr = ropeUnfused(k, ctx.rope);
        const o = attentionUnfused(qr, kr, v, ctx.mask, 1 / Math.sqrt(D));
        qr.release(); kr.release();
        return o;
      });
      const s = tape.run(() => F.sum(out));
      tape.backward(s);
      s.release(); out.release();
      for (const x of [q, k, v]) { x.grad?.dispose(); x.grad = null; }
    };
    const flop = 3 * 2 * B * H * T * T * D; // fwd 4·B·H·T²·D halved (causal), ×3 fwd+bwd
    for (const [label, f] of [["fused attention kernel (RoPE in kernel)", true], ["unfused: RoPE ops + matmul/softmax/matmul", false]]) {
      const ms = await time(once(f), o.quick ? 2 : 5);
      attnRows.push({ label, ms, gflops: flop / (ms * 1e6) });
    }
    for (const t of [qT, kT, vT]) t.dispose();
  }

  const w = [44, 10, 10, 12, 9, 8];
  console.log("\n" + pad(["training step (fwd + bwd + AdamW)", "ms/step", "tok/s", "model GF/s", "MFU", "vs fused"], w));
  for (const r of [fused, unf]) {
    console.log(pad([r.label, fmt(r.stepMs, 0), fmt(r.tokensPerSecond, 0), fmt(r.modelFlops / 1e9), `${fmt(100 * r.mfu)}%`, fmt(r.tokensPerSecond / fused.tokensPerSecond, 2)], w));
  }
  for (const c of ceil.rows) console.log(pad([`${c.source} ${c.M}x${c.N}x${c.K}`, "", "", fmt(c.gflops), `${fmt((100 * c.gflops * 1e9) / peak)}%`, ""], w));
  console.log(`\nfused / unfused training throughput: ${fmt(fused.tokensPerSecond / unf.tokensPerSecond, 2)}x; MFU ${fmt(100 * fused.mfu)}% of the GEMM ceiling (${fmt(ceil.best)} GFLOP/s) — target >= 50%: ${fused.mfu >= 0.5 ? "met" : "not met"}`);
  const w2 = [44, 10, 12, 8];
  console.log("\n" + pad([`attention fwd+bwd [${B}, ${T}, ${H}, ${cfg.headDim}] causal`, "ms", "GFLOP/s", "ratio"], w2));
  for (const r of attnRows) console.log(pad([r.label, fmt(r.ms, 2), fmt(r.gflops), fmt(attnRows[1].ms / r.ms, 2)], w2));
  if (o.json) {
    writeFileSync(o.json, JSON.stringify({ config: { B, T, d, L, H, V, device, N, flopsPerToken: fpt }, sgemm: ceil, fused, unfused: unf, attention: attnRows }, null, 2));
    console.log(`\nwrote ${o.json}`);
  }
  ctx.dispose();
  model.dispose();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
