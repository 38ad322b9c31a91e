/**
 * PEFT adapters written by the test in PEFT layout and applied by loadModel({ adapter }):
 * LoRA merged as (alpha/r)·B·A (rsLoRA alpha/√r; BLOOM's fused query_key_value merged before the
 * per-head split; adapter names with "transformer." on a checkpoint without it), PREFIX_TUNING
 * keys/values prepended unrotated with the real tokens' positions starting at P — each against the
 * naive forward with merged weights / the prefix. Plus saveAdapter round trips.
 */
import { afterAll, describe, expect, it } from "vitest";
import { loadModel, saveAdapter, createModel } from "../../dist/models/index.js";
import { addLora, addPrefix, prefixParameters } from "../../dist/peft/index.js";
import { Tensor } from "ctxwin";
import { naiveForward, type RefPositional } from "./naive.js";
import { bloomCfg, llamaCfg, mergedWeights, randomWeights, rmDir, tmpDir, writeCheckpoint, writeLoraAdapter, writePrefixAdapter, readLogits } from "./fixtures.js";
import { XorShift32 } from "../reference/rng.js";

const root = tmpDir("peft");
afterAll(() => rmDir(root));

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}
const ids = (B: number, T: number, V: number, seed: number) => {
  const r = new XorShift32(seed);
  return Array.from({ length: B }, () => Array.from({ length: T }, () => r.int(V)));
};

describe("LoRA adapters (PEFT layout) merged on load", () => {
  it("llama: q_proj / v_proj, alpha / r", async () => {
    const cfg = llamaCfg();
    const w = randomWeights(cfg, 1);
    const dir = writeCheckpoint(`${root}/l1`, cfg, w);
    const mods = [0, 1].flatMap((l) => [`model.layers.${l}.self_attn.q_proj`, `model.layers.${l}.self_attn.v_proj`]);
    const lora = writeLoraAdapter(`${root}/l1-lora`, w, mods, { r: 2, alpha: 6, seed: 5 });
    const model = await loadModel(dir, { adapter: `${root}/l1-lora` });
    const x = ids(2, 6, cfg.vocab, 1);
    const got = await readLogits(model.forward(x));
    const ref = naiveForward(cfg, mergedWeights(w, lora, 3), x);
    expect(relErr(got, ref)).toBeLessThan(1e-5);
    // the adapter changed something
    expect(relErr(naiveForward(cfg, w, x), ref)).toBeGreaterThan(1e-3);
    model.dispose();
  });
  it("llama: rsLoRA (alpha / sqrt(r)) on the MLP and lm_head", async () => {
    const cfg = llamaCfg();
    const w = randomWeights(cfg, 2);
    const dir = writeCheckpoint(`${root}/l2`, cfg, w);
    const mods = ["model.layers.1.mlp.down_proj", "model.layers.0.mlp.gate_proj", "lm_head"];
    const lora = writeLoraAdapter(`${root}/l2-lora`, w, mods, { r: 4, alpha: 2, seed: 6, rslora: true });
    const model = await loadModel(dir, { adapter: `${root}/l2-lora` });
    const x = ids(1, 5, cfg.vocab, 2);
    const got = await readLogits(model.forward(x));
    expect(relErr(got, naiveForward(cfg, mergedWeights(w, lora, 2 / Math.sqrt(4)), x))).toBeLessThan(1e-5);
    model.dispose();
  });
  it("bloom: fused query_key_value + dense, adapter with transformer. on a checkpoint without it", async () => {
    const cfgP = bloomCfg({ prefixNames: true });
    const wP = randomWeights(cfgP, 3);
    // the same weights without the prefix in the checkpoint
    const cfg = bloomCfg({ prefixNames: false });
    const w = new Map([...wP].map(([k, v]) => [k.replace(/^transformer\./, ""), v]));
    const dir = writeCheckpoint(`${root}/b1`, cfg, w);
    const mods = [0, 1].flatMap((l) => [`transformer.h.${l}.self_attention.query_key_value`, `transformer.h.${l}.self_attention.dense`]);
    const lora = writeLoraAdapter(`${root}/b1-lora`, wP, mods, { r: 2, alpha: 4, seed: 7 });
    const model = await loadModel(dir, { adapter: `${root}/b1-lora` });
    const x = ids(2, 5, cfg.vocab, 3);
    const got = await readLogits(model.forward(x));
    expect(relErr(got, naiveForward(cfgP, mergedWeights(wP, lora, 2), x))).toBeLessThan(1e-5);
    model.dispose();
  });
  it("an adapter for modules the model lacks is a clear error", async () => {
    const cfg = llamaCfg({ tie: true });
    const w = randomWeights(cfg, 4);
    const dir = writeCheckpoint(`${root}/l3`, cfg, w);
    const wl = new Map(w);
    wl.set("lm_head.weight", { data: new Float32Array(cfg.vocab * cfg.hidden), shape: [cfg.vocab, cfg.hidden] });
    writeLoraAdapter(`${root}/l3-lora`, wl, ["lm_head"], { r: 2, alpha: 2, seed: 1 });
    await expect(loadModel(dir, { adapter: `${root}/l3-lora` })).rejects.toThrow(/lm_head/);
  });
});

describe("PREFIX_TUNING adapters (PEFT layout) on load", () => {
  const cases: [string, ReturnType<typeof llamaCfg>][] = [
    ["llama GQA + rope (prefix keys unrotated, tokens from position P)", llamaCfg({ positional: { type: "rope", theta: 100 } })],
    ["llama + yarn", llamaCfg({ positional: { type: "rope", theta: 100, scaling: { type: "yarn", factor: 2, originalMaxPositions: 4 } } })],
    ["mistral window", llamaCfg({ windows: [4, 4] })],
    ["bloom + alibi", bloomCfg()],
  ];
  for (const [name, cfg] of cases) {
    it(name, async () => {
      const w = randomWeights(cfg, 11);
      const dir = writeCheckpoint(`${root}/p-${name.length}`, cfg, w, { modelType: cfg.windows[0] ? "mistral" : undefined, maxPositions: 64 });
      const P = 3;
      const prefix = writePrefixAdapter(`${root}/p-${name.length}-ad`, cfg, P, 12);
      const model = await loadModel(dir, { adapter: `${root}/p-${name.length}-ad` });
      expect(model.prefixLength).toBe(P);
      const x = ids(2, 5, cfg.vocab, 4);
      const got = await readLogits(model.forward(x));
      const ref = naiveForward(cfg, w, x, { prefix: { P, ...prefix } });
      expect(relErr(got, ref)).toBeLessThan(1e-5);
      expect(relErr(naiveForward(cfg, w, x), ref)).toBeGreaterThan(1e-3);
      model.dispose();
    });
  }
  it("a prefix adapter for another model shape is a clear error", async () => {
    const cfg = llamaCfg();
    const dir = writeCheckpoint(`${root}/p-bad`, cfg, randomWeights(cfg, 1));
    writePrefixAdapter(`${root}/p-bad-ad`, { ...cfg, layers: 3, windows: [0, 0, 0] }, 2, 1);
    await expect(loadModel(dir, { adapter: `${root}/p-bad-ad` })).rejects.toThrow(/num_layers: expected 2/);
  });
});

describe("saveAdapter round trips", () => {
  it("LoRA (llama and bloom fused qkv): saved adapter + base reproduce the adapted forward", async () => {
    for (const family of ["llama", "bloom"] as const) {
      const model = createModel(
        family === "llama"
          ? { family, vocabSize: 17, hiddenSize: 16, numLayers: 2, numHeads: 4, numKvHeads: 2 }
          : { family, vocabSize: 17, hiddenSize: 16, numLayers: 2, numHeads: 4 },
        { seed: 3 },
      );
      const dir = `${root}/rt-${family}`;
      const { saveModel } = await import("../../dist/models/index.js");
      await saveModel(model, dir);
      const params = addLora(model, { r: 2, alpha: 4, targetModules: family === "llama" ? ["q_proj", "v_proj", "down_proj"] : ["query_key_value", "dense_4h_to_h"], seed: 9 });
      // B starts at zero: give it values so the adapter matters
      const r = new XorShift32(4);
      for (const p of params) if (p.name!.endsWith("lora_B.weight")) p.set(Tensor.from(r.array(p.value.shape.reduce((a: number, b: number) => a * b, 1), 0.5), [...p.value.shape]));
      expect(model.trainable().length).toBe(params.length);
      const x = ids(1, 6, 17, 5);
      const want = await readLogits(model.forward(x));
      await saveAdapter(model, `${dir}-lora`);
      const loaded = await loadModel(dir, { adapter: `${dir}-lora` });
      const got = await (await loaded.forward(x)).data();
      expect(relErr(got, want)).toBeLessThan(1e-5);
      loaded.dispose();
      model.dispose();
    }
  });
  it("prefix: saved prompt_embeddings reload to the same forward", async () => {
    const model = createModel({ family: "llama", vocabSize: 17, hiddenSize: 16, numLayers: 2, numHeads: 4, numKvHeads: 1 }, { seed: 4 });
    const dir = `${root}/rt-prefix`;
    const { saveModel } = await import("../../dist/models/index.js");
    await saveModel(model, dir);
    const params = addPrefix(model, { numVirtualTokens: 4, seed: 2 });
    expect(params.length).toBe(4);
    expect(prefixParameters(model).length).toBe(4);
    expect(model.trainable()).toEqual(params);
    const x = ids(2, 5, 17, 6);
    const want = await readLogits(model.forward(x));
    await saveAdapter(model, `${dir}-ad`);
    const loaded = await loadModel(dir, { adapter: `${dir}-ad` });
    const got = await (await loaded.forward(x)).data();
    expect(relErr(got, want)).toBeLessThan(1e-6);
    loaded.dispose();
    model.dispose();
  });
});
