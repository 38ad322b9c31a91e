/**
 * Tiny HF checkpoints written by the test (config.json + safetensors), loaded by loadModel and
 * compared with the naive float64 forward (test/models/naive.ts) to 1e-5 relative: Llama (GQA,
 * head_dim, tied / untied, rope linear / dynamic / yarn in transformers 4 and 5 config forms),
 * Mistral (sliding window), Qwen2 (qkv bias, windowed upper layers), BLOOM (with and without the
 * "transformer." prefix, non-power-of-two heads, residual from the norm), sharded + bf16 files,
 * and the positional override.
 */
import { afterAll, describe, expect, it } from "vitest";
import { defaultDevice, memory, synchronize } from "ctxwin";
import { loadModel } from "../../dist/models/index.js";
import { naiveForward, type RefConfig, type RefPositional, type Weights } from "./naive.js";
import { bloomCfg, llamaCfg, randomWeights, rmDir, tmpDir, writeCheckpoint, type ConfigExtras } from "./fixtures.js";
import { XorShift32 } from "../reference/rng.js";

const root = tmpDir("hf");
afterAll(() => rmDir(root));
let n = 0;

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

function randomIds(B: number, T: number, V: number, seed: number): number[][] {
  const r = new XorShift32(seed);
  return Array.from({ length: B }, () => Array.from({ length: T }, () => r.int(V)));
}

async function check(cfg: RefConfig, x: ConfigExtras & { shards?: number; dtype?: "F32" | "BF16"; override?: RefPositional; weights?: Weights } = {}): Promise<number> {
  const w = x.weights ?? randomWeights(cfg, 100 + n);
  const dir = writeCheckpoint(`${root}/m${n++}`, cfg, w, x);
  const before = (await synchronize(), memory()[defaultDevice()]?.tensors ?? 0);
  const model = await loadModel(dir, x.override ? { positional: x.override as never } : {});
  const ids = randomIds(2, 7, cfg.vocab, n);
  const logits = await model.forward(ids);
  expect([...logits.shape]).toEqual([2, 7, cfg.vocab]);
  const got = await logits.data();
  logits.dispose();
  model.dispose();
  expect((await synchronize(), memory()[defaultDevice()]?.tensors ?? 0)).toBe(before);
  const ref = naiveForward(cfg, x.dtype === "BF16" ? roundBf16(w) : w, ids, { positional: x.override });
  const e = relErr(got, ref);
  if (process.env.CTXWIN_SHOW_ERR) console.log(`rel err ${e.toExponential(2)}`);
  expect(e).toBeLessThan(1e-5);
  return e;
}

/** Weights rounded to bf16 (what a BF16 checkpoint holds). */
function roundBf16(w: Weights): Weights {
  const out: Weights = new Map();
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (const [k, t] of w) {
    const d = new Float32Array(t.data.length);
    for (let i = 0; i < d.length; i++) {
      f[0] = t.data[i]!;
      const lsb = (u[0]! >>> 16) & 1;
      u[0] = ((u[0]! + 0x7fff + lsb) >>> 16) << 16;
      d[i] = f[0]!;
    }
    out.set(k, { data: d, shape: t.shape });
  }
  return out;
}

describe("loadModel vs naive float64 forward (1e-5 relative)", () => {
  it("llama: GQA, explicit head_dim, untied, plain rope (transformers 4 form)", async () => {
    await check(llamaCfg({ positional: { type: "rope", theta: 500 } }));
  });
  it("llama: tied embeddings, rope linear x2 (both config forms)", async () => {
    const cfg = llamaCfg({ tie: true, positional: { type: "rope", theta: 10000, scaling: { type: "linear", factor: 2 } } });
    await check(cfg, { form: 5 });
    await check(cfg, { form: 4 });
  });
  it("llama: rope dynamic (both config forms; active beyond max_position_embeddings)", async () => {
    const cfg = llamaCfg({ positional: { type: "rope", theta: 100, scaling: { type: "dynamic", factor: 3, originalMaxPositions: 4 } } });
    await check(cfg, { maxPositions: 4 });
    await check(cfg, { maxPositions: 4, form: 5 });
  });
  it("llama: rope yarn (both forms, default and mscale attention factors)", async () => {
    const yarn: RefPositional = { type: "rope", theta: 1000, scaling: { type: "yarn", factor: 4, originalMaxPositions: 16 } };
    await check(llamaCfg({ positional: yarn }), { maxPositions: 64 });
    await check(llamaCfg({ positional: yarn }), { maxPositions: 64, form: 5 });
    const yarn2: RefPositional = {
      type: "rope",
      theta: 1000,
      scaling: { type: "yarn", factor: 8, originalMaxPositions: 8, betaFast: 16, betaSlow: 2, mscale: 1, mscaleAllDim: 0.5 },
    };
    await check(llamaCfg({ positional: yarn2 }), { maxPositions: 64, form: 5 });
  });
  it("mistral: sliding window", async () => {
    await check(llamaCfg({ windows: [3, 3] }), { modelType: "mistral" });
  });
  it("qwen2: qkv bias (and a windowed upper layer)", async () => {
    await check(llamaCfg({ qkvBias: true, tie: true }), { modelType: "qwen2" });
    await check(llamaCfg({ qkvBias: true, windows: [0, 2] }), { modelType: "qwen2" });
  });
  it("bloom: with the transformer. prefix, tied; without the prefix; 3 heads (non-power-of-two slopes)", async () => {
    await check(bloomCfg());
    await check(bloomCfg({ prefixNames: false }));
    await check(bloomCfg({ heads: 3, kvHeads: 3, hidden: 12, inter: 48 }));
  });
  it("bloom: apply_residual_connection_post_layernorm; untied lm_head", async () => {
    await check(bloomCfg({ residualFromNorm: true }));
    await check(bloomCfg({ tie: false }));
  });
  it("sharded safetensors, BF16 on disk", async () => {
    await check(llamaCfg(), { shards: 3 });
    await check(bloomCfg(), { shards: 2, dtype: "BF16" });
  });
  it("positional override: rope fields left out come from the checkpoint", async () => {
    const cfg = llamaCfg({ positional: { type: "rope", theta: 300 } });
    await check(cfg, { override: { type: "rope", theta: 300, scaling: { type: "yarn", factor: 2, originalMaxPositions: 4 } } });
    // what loadModel gets is only { type: "rope", scaling } — theta 300 must come from the checkpoint
    const w = randomWeights(cfg, 7);
    const dir = writeCheckpoint(`${root}/ov`, cfg, w);
    const model = await loadModel(dir, { positional: { type: "rope", scaling: { type: "linear", factor: 3 } } });
    expect(model.positional).toEqual({ type: "rope", theta: 300, rotaryDim: 8, scaling: { type: "linear", factor: 3 } });
    const ids = randomIds(1, 6, cfg.vocab, 3);
    const logits = await model.forward(ids);
    const got = await logits.data();
    logits.dispose(); // a leaked tensor here would be collected during a later test and skew its memory() check
    const ref = naiveForward(cfg, w, ids, { positional: { type: "rope", theta: 300, scaling: { type: "linear", factor: 3 } } });
    expect(relErr(got, ref)).toBeLessThan(1e-5);
    model.dispose();
  });
  it("positional override: NoPE on a llama, ALiBi-PI on a bloom", async () => {
    await check(llamaCfg(), { override: { type: "none" } });
    await check(bloomCfg(), { override: { type: "alibi", trainLength: 4 } });
  });
});
