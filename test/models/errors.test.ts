/**
 * Bad checkpoints give clear errors: missing tensor, wrong shape (name + expected/actual shape),
 * bad or unsupported config, bad ids; and saveModel → loadModel round trips (HF names, BLOOM's
 * fused query_key_value, config.json readable by the loader).
 */
import { afterAll, describe, expect, it } from "vitest";
import { writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadModel, createModel, saveModel } from "../../dist/models/index.js";
import { openCheckpoint } from "../../dist/models/io/safetensors.js";
import { naiveForward, type Weights } from "./naive.js";
import { bloomCfg, configJson, llamaCfg, randomWeights, rmDir, tmpDir, writeCheckpoint, readLogits } from "./fixtures.js";

const root = tmpDir("err");
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

describe("bad checkpoints", () => {
  it("a missing tensor names it and its expected shape", async () => {
    const cfg = llamaCfg();
    const w = randomWeights(cfg, 1);
    w.delete("model.layers.1.mlp.up_proj.weight");
    const dir = writeCheckpoint(`${root}/missing`, cfg, w);
    const err = await loadModel(dir).catch((e) => e);
    expect(err.code).toBe("ERR_FORMAT");
    expect(err.message).toMatch(/model\.layers\.1\.mlp\.up_proj\.weight: expected shape \[24, 16\], got no such tensor/);
  });
  it("an untied model without lm_head.weight", async () => {
    const cfg = llamaCfg({ tie: true });
    const dir = writeCheckpoint(`${root}/nohead`, cfg, randomWeights(cfg, 1));
    const json = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
    json.tie_word_embeddings = false;
    writeFileSync(join(dir, "config.json"), JSON.stringify(json));
    await expect(loadModel(dir)).rejects.toThrow(/lm_head\.weight: expected shape \[23, 16\], got no such tensor/);
  });
  it("a mis-shaped tensor names it with expected and actual shapes", async () => {
    const cfg = llamaCfg();
    const w = randomWeights(cfg, 2);
    w.set("model.layers.0.self_attn.k_proj.weight", { data: new Float32Array(32 * 16), shape: [32, 16] });
    const dir = writeCheckpoint(`${root}/shape`, cfg, w);
    const err = await loadModel(dir).catch((e) => e);
    expect(err.code).toBe("ERR_FORMAT");
    expect(err.message).toMatch(/model\.layers\.0\.self_attn\.k_proj\.weight: expected shape \[16, 16\], got \[32, 16\]/);
  });
  it("a bloom fused query_key_value of the wrong size", async () => {
    const cfg = bloomCfg({ prefixNames: false });
    const w = randomWeights(cfg, 3);
    w.set("h.1.self_attention.query_key_value.weight", { data: new Float32Array(40 * 16), shape: [40, 16] });
    const dir = writeCheckpoint(`${root}/qkv`, cfg, w);
    await expect(loadModel(dir)).rejects.toThrow(/h\.1\.self_attention\.query_key_value\.weight: expected shape \[48, 16\], got \[40, 16\]/);
  });
  it("a bloom checkpoint without embeddings", async () => {
    const cfg = bloomCfg();
    const w = randomWeights(cfg, 3);
    w.delete("transformer.word_embeddings.weight");
    const dir = writeCheckpoint(`${root}/noemb`, cfg, w);
    await expect(loadModel(dir)).rejects.toThrow(/word_embeddings\.weight/);
  });
  it("unsupported model types and malformed configs", async () => {
    const cfg = llamaCfg();
    const w = randomWeights(cfg, 4);
    const dir = writeCheckpoint(`${root}/cfg`, cfg, w);
    writeFileSync(join(dir, "config.json"), JSON.stringify({ ...configJson(cfg), model_type: "gpt2" }));
    await expect(loadModel(dir)).rejects.toThrow(/model_type: expected one of "llama", "mistral", "qwen2", "bloom", got "gpt2"/);
    const bad = configJson(cfg);
    delete bad.hidden_size;
    writeFileSync(join(dir, "config.json"), JSON.stringify(bad));
    await expect(loadModel(dir)).rejects.toThrow(/hidden_size/);
    writeFileSync(join(dir, "config.json"), "{ not json");
    await expect(loadModel(dir)).rejects.toThrow(/valid JSON/);
    writeFileSync(join(dir, "config.json"), JSON.stringify({ ...configJson(cfg), rope_scaling: { rope_type: "llama3", factor: 8 } }));
    await expect(loadModel(dir)).rejects.toThrow(/rope_type/);
    await expect(loadModel(`${root}/nope`)).rejects.toThrow(/config\.json/);
  });
  it("bad ids are rejected before any work", async () => {
    const model = createModel({ family: "llama", vocabSize: 10, hiddenSize: 8, numLayers: 1, numHeads: 2 });
    await expect(model.forward([[1, 2], [3]])).rejects.toThrow(/every row to have 2 ids/);
    await expect(model.forward([[1, 10]])).rejects.toThrow(/integers in \[0, 10\)/);
    await expect(model.forward([])).rejects.toThrow(/non-empty/);
    model.dispose();
  });
});

async function readAll(dir: string): Promise<Weights> {
  const ck = await openCheckpoint(dir);
  const out: Weights = new Map();
  for (const n of ck.names()) {
    const t = await ck.read(n);
    out.set(n, { data: t.data, shape: t.shape });
  }
  return out;
}

describe("saveModel", () => {
  it("a loaded checkpoint saves back to the same tensors (llama, bloom without prefix → with prefix, fused qkv)", async () => {
    for (const [cfg, mt] of [
      [llamaCfg({ qkvBias: true, windows: [0, 3] }), "qwen2"],
      [llamaCfg({ positional: { type: "rope", theta: 1000, scaling: { type: "yarn", factor: 4, originalMaxPositions: 16 } } }), "llama"],
      [bloomCfg({ prefixNames: false }), undefined],
    ] as const) {
      const w = randomWeights(cfg, 5);
      const dir = writeCheckpoint(`${root}/sv-${cfg.family}-${mt}`, cfg, w, { modelType: mt, maxPositions: 64 });
      const model = await loadModel(dir);
      const out = `${dir}-saved`;
      await saveModel(model, out);
      const saved = await readAll(out);
      for (const [name, t] of w) {
        const key = cfg.family === "bloom" ? `transformer.${name}` : name;
        const s = saved.get(key);
        expect(s, key).toBeDefined();
        expect(s!.shape).toEqual(t.shape);
        expect(Array.from(s!.data)).toEqual(Array.from(t.data));
      }
      expect(saved.size).toBe(w.size);
      const again = await loadModel(out);
      expect(again.config.windows).toEqual(model.config.windows);
      expect(again.positional).toEqual(model.positional);
      const ids = [[1, 2, 3, 4, 5]];
      const a = await readLogits(model.forward(ids));
      const b = await (await again.forward(ids)).data();
      expect(Array.from(b)).toEqual(Array.from(a));
      const ref = naiveForward(cfg.family === "bloom" ? { ...cfg, prefixNames: true } : cfg, saved, ids);
      expect(relErr(b, ref)).toBeLessThan(1e-5);
      model.dispose();
      again.dispose();
    }
  });
  it("createModel (seeded) → saveModel (bf16) → loadModel; the positional in use is recorded", async () => {
    const m1 = createModel({ family: "llama", vocabSize: 40, hiddenSize: 16, numLayers: 2, numHeads: 4, numKvHeads: 2, positional: { type: "none" } }, { seed: 7 });
    const m2 = createModel({ family: "llama", vocabSize: 40, hiddenSize: 16, numLayers: 2, numHeads: 4, numKvHeads: 2, positional: { type: "none" } }, { seed: 7 });
    expect(Array.from(await m1.embed.weight.value.data())).toEqual(Array.from(await m2.embed.weight.value.data()));
    m1.positional = { type: "alibi" };
    await saveModel(m1, `${root}/created`, { dtype: "bf16" });
    const cfg = JSON.parse(readFileSync(join(root, "created", "config.json"), "utf8"));
    expect(cfg.torch_dtype).toBe("bfloat16");
    const back = await loadModel(`${root}/created`);
    expect(back.positional).toEqual({ type: "alibi" });
    const ids = [[1, 2, 3]];
    const a = await (await m1.forward(ids)).data();
    const b = await (await back.forward(ids)).data();
    expect(relErr(b, a)).toBeLessThan(2e-2); // bf16 storage
    for (const m of [m1, m2, back]) m.dispose();
  });
});

describe("bad options", () => {
  it("loadModel / createModel reject bad devices, dtypes and positional overrides up front", async () => {
    const cfg = llamaCfg();
    const dir = writeCheckpoint(`${root}/opts`, cfg, randomWeights(cfg, 9));
    await expect(loadModel(dir, { device: "tpu" as never })).rejects.toThrow(/opts\.device: expected "cpu" or "cuda"/);
    await expect(loadModel(dir, { dtype: "f64" as never })).rejects.toThrow(/opts\.dtype/);
    await expect(loadModel(dir, { positional: { type: "rope", rotaryDim: 5 } })).rejects.toThrow(/rotaryDim/);
    await expect(loadModel(dir, { positional: { type: "alibi", slopes: [1] } })).rejects.toThrow(/slopes/);
    expect(() => createModel({ family: "llama", vocabSize: 8, hiddenSize: 8, numLayers: 1, numHeads: 3 })).toThrow(/headDim/);
    expect(() => createModel({ family: "llama", vocabSize: 8, hiddenSize: 8, numLayers: 1, numHeads: 2, numKvHeads: 3 })).toThrow(/numKvHeads/);
  });
});
