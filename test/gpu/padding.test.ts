/**
 * Padded batches (per-sequence key ranges: keyLengths / keyStarts) on CUDA against the CPU backend
 * (whose kernels are checked against float64 references in test/attention.padding.test.ts): the
 * fused attention forward (out, lse) and backward (dq, dk, dv, with an lse gradient) through the
 * public API, on the SIMT (f32, odd head dim) and tensor-core (bf16, D = 64 / 128) kernels,
 * split-KV decode included; right and left padding, sequences of one token, causal, bidirectional
 * and windowed; and a BERT encoder (test/fixtures/encoders) on a right-padded batch, against the
 * CPU and against transformers' hidden states. Needs a CUDA device: skips itself otherwise.
 * Written 2026-12-03 without a GPU: never run yet.
 */
import path from "node:path";
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { attentionBackward, attentionWithLse, noGrad, Tensor, type AttentionOptions } from "ctxwin";
import { loadEncoder } from "../../dist/models/index.js";
import { Rng, suiteSeed } from "../reference/rng.js";
import { cudaUnavailable } from "./cuda_available.js";

type DType = "f32" | "bf16";
const SEED = suiteSeed();
const reason = cudaUnavailable();
if (reason !== null) console.warn(`test/gpu/padding.test.ts skipped: ${reason}`);
const rng = new Rng(SEED + 11);
const randn = (n: number, std = 1) => Float32Array.from({ length: n }, () => std * rng.normal());

/** max |cpu − gpu| / max(1, max |cpu|); equal infinities (lse of padding rows) count as equal. */
async function relDiff(cpu: Tensor, gpu: Tensor): Promise<number> {
  const [x, y] = await Promise.all([cpu.data(), gpu.data()]);
  let m = 0;
  let scale = 1;
  for (let i = 0; i < x.length; i++) {
    if (Number.isFinite(x[i]!)) scale = Math.max(scale, Math.abs(x[i]!));
    if (x[i] === y[i]) continue;
    if (!Number.isFinite(x[i]!) || !Number.isFinite(y[i]!)) return Infinity;
    m = Math.max(m, Math.abs(x[i]! - y[i]!));
  }
  return m / scale;
}

interface Case {
  name: string;
  dtype: DType;
  B: number;
  Tq: number;
  Tk: number;
  Hq: number;
  Hkv: number;
  D: number;
  opts: AttentionOptions;
}

const CASES: Case[] = [
  // f32: the SIMT kernels (D = 40 takes no tensor cores)
  { name: "right padding, one-token sequence, GQA, causal", dtype: "f32", B: 3, Tq: 37, Tk: 37, Hq: 4, Hkv: 2, D: 40, opts: { keyLengths: [37, 20, 1], positional: { type: "rope" } } },
  { name: "left padding, window, ALiBi", dtype: "f32", B: 2, Tq: 45, Tk: 45, Hq: 2, Hkv: 2, D: 40, opts: { keyStarts: [0, 17], window: 9, positional: { type: "alibi" } } },
  { name: "both sides, bidirectional", dtype: "f32", B: 2, Tq: 33, Tk: 33, Hq: 2, Hkv: 1, D: 24, opts: { causal: false, keyStarts: [3, 0], keyLengths: [30, 5], positional: { type: "none" } } },
  // bf16: the tensor-core kernels (several row blocks and key tiles per sequence)
  { name: "bf16 encoder batch (bidirectional, right padding)", dtype: "bf16", B: 3, Tq: 150, Tk: 150, Hq: 4, Hkv: 4, D: 64, opts: { causal: false, keyLengths: [150, 70, 1], positional: { type: "none" } } },
  { name: "bf16 causal, left + right padding, D = 128", dtype: "bf16", B: 2, Tq: 140, Tk: 140, Hq: 2, Hkv: 1, D: 128, opts: { keyStarts: [0, 60], keyLengths: [131, 140], positional: { type: "rope" } } },
  { name: "bf16 decode, left padding (split-KV)", dtype: "bf16", B: 3, Tq: 1, Tk: 300, Hq: 8, Hkv: 2, D: 64, opts: { keyStarts: [0, 120, 299], positional: { type: "rope" } } },
];

describe.skipIf(reason !== null)("padded attention on CUDA vs the CPU backend", () => {
  for (const c of CASES) {
    it(`${c.name} (${c.dtype}, D = ${c.D}): out, lse, dq, dk, dv`, async () => {
      const { B, Tq, Tk, Hq, Hkv, D } = c;
      const data = {
        q: randn(B * Tq * Hq * D),
        k: randn(B * Tk * Hkv * D),
        v: randn(B * Tk * Hkv * D),
        dOut: randn(B * Tq * Hq * D),
        dLse: randn(B * Hq * Tq, 0.5),
      };
      const shapes = { q: [B, Tq, Hq, D], k: [B, Tk, Hkv, D], v: [B, Tk, Hkv, D], dOut: [B, Tq, Hq, D], dLse: [B, Hq, Tq] };
      const run = (device: "cpu" | "cuda") => {
        const t = (name: keyof typeof data) => Tensor.from(data[name], shapes[name], { device, dtype: name === "dLse" ? "f32" : c.dtype });
        const [q, k, v, dOut, dLse] = [t("q"), t("k"), t("v"), t("dOut"), t("dLse")];
        const fwd = attentionWithLse(q, k, v, c.opts);
        const g = attentionBackward(q, k, v, dOut, c.opts, { ...fwd, dLse });
        const recomputed = attentionBackward(q, k, v, dOut, c.opts); // the backward that reruns the forward
        return { out: fwd.out, lse: fwd.lse, dq: g.dq, dk: g.dk, dv: g.dv, dqRe: recomputed.dq, dkRe: recomputed.dk, dvRe: recomputed.dv };
      };
      const cpu = run("cpu");
      const gpu = run("cuda");
      // f32: both backends are f32-accurate; bf16: each is within cuda_attention_test's bf16
      // tolerances of float64 (P is rounded to bf16 for the tensor-core products)
      const tol = c.dtype === "f32" ? 1e-4 : 6e-2;
      for (const key of Object.keys(cpu) as (keyof typeof cpu)[]) {
        expect(await relDiff(cpu[key], gpu[key]), key).toBeLessThan(tol);
      }
      // padding rows: output 0, lse −inf, no gradient (checked on the GPU's own values)
      const [out, lse, dq] = await Promise.all([gpu.out.data(), gpu.lse.data(), gpu.dq.data()]);
      const begin = c.opts.keyStarts ?? new Array<number>(B).fill(0);
      const end = c.opts.keyLengths ?? new Array<number>(B).fill(Tk);
      const qo = c.opts.queryOffset ?? Math.max(0, Tk - Tq);
      let padRows = 0;
      let finiteLse = 0;
      let largest = 0; // of |out| and |dq| on padding rows
      for (let b = 0; b < B; b++)
        for (let i = 0; i < Tq; i++) {
          const p = qo + i;
          if (p >= begin[b]! && p < end[b]!) continue;
          padRows++;
          for (let h = 0; h < Hq; h++) {
            if (lse[(b * Hq + h) * Tq + i] !== -Infinity) finiteLse++;
            for (let d = 0; d < D; d++) {
              const at = ((b * Tq + i) * Hq + h) * D + d;
              largest = Math.max(largest, Math.abs(out[at]!), Math.abs(dq[at]!));
            }
          }
        }
      expect(finiteLse, "padding rows with lse != -inf").toBe(0);
      expect(largest, "max |out|, |dq| on padding rows").toBe(0);
      if (c.Tq > 1) expect(padRows).toBeGreaterThan(0);
      for (const r of [cpu, gpu]) for (const x of Object.values(r)) x.dispose();
    });
  }

  it("BERT encoder on a right-padded batch: CUDA = CPU = transformers on the tokens", async () => {
    const dir = path.join(import.meta.dirname, "..", "fixtures", "encoders", "bert");
    const e = JSON.parse(await readFile(path.join(dir, "expected.json"), "utf8")) as {
      input_ids: number[][];
      token_type_ids: number[][] | null;
      lengths: number[];
      last_hidden_state: number[][][];
    };
    expect(Math.min(...e.lengths)).toBeLessThan(e.input_ids[0]!.length); // the batch is padded
    const opts = { keyLengths: e.lengths, tokenTypeIds: e.token_type_ids ?? undefined };
    const hidden = async (device: "cpu" | "cuda") => {
      const model = await loadEncoder(dir, { device });
      try {
        return await noGrad(async () => {
          const h = model.hidden(e.input_ids, opts);
          const x = await h.value.data();
          h.release();
          return x;
        });
      } finally {
        model.dispose();
      }
    };
    const [cpu, gpu] = [await hidden("cpu"), await hidden("cuda")];
    const T = e.input_ids[0]!.length;
    const d = e.last_hidden_state[0]![0]!.length;
    let vsCpu = 0;
    let vsHf = 0;
    e.lengths.forEach((n, b) => {
      for (let t = 0; t < n; t++)
        for (let j = 0; j < d; j++) {
          const at = (b * T + t) * d + j;
          vsCpu = Math.max(vsCpu, Math.abs(gpu[at]! - cpu[at]!));
          vsHf = Math.max(vsHf, Math.abs(gpu[at]! - e.last_hidden_state[b]![t]![j]!));
        }
    });
    expect(vsCpu).toBeLessThan(1e-4);
    expect(vsHf).toBeLessThan(1e-4);
  });
});
