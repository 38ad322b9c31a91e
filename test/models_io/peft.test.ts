import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { CtxwinError } from "../../lib/errors.js";
import {
  packPrefixKeyValues,
  prefixKeyValues,
  readAdapter,
  readAdapterConfig,
  readSafetensorsHeader,
  writeLoraAdapter,
  writePrefixAdapter,
  writeSafetensors,
  type LoraAdapter,
  type PrefixAdapter,
} from "../../lib/models/io/index.js";
import { rng, roundToFormat, BF16, tempDir } from "./util.js";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("peft"));
});
afterAll(async () => cleanup());

function rand(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
}

function matrix(rows: number, cols: number, seed: number): { data: Float32Array; shape: number[] } {
  return { data: rand(rows * cols, seed), shape: [rows, cols] };
}

describe("PEFT LoRA", () => {
  const r = 4;
  const modules = {
    "model.layers.0.self_attn.q_proj": { A: matrix(r, 16, 1), B: matrix(16, r, 2) },
    "model.layers.0.self_attn.v_proj": { A: matrix(r, 16, 3), B: matrix(8, r, 4) },
    "model.layers.1.self_attn.q_proj": { A: matrix(r, 16, 5), B: matrix(16, r, 6) },
  };

  it("write → read with PEFT's exact key names and config fields", async () => {
    const d = path.join(dir, "lora");
    await writeLoraAdapter(d, { loraAlpha: 16, modules, baseModelNameOrPath: "TinyLlama/TinyLlama-1.1B", loraDropout: 0.05 });
    const cfg = JSON.parse(await readFile(path.join(d, "adapter_config.json"), "utf8"));
    expect(cfg).toMatchObject({
      peft_type: "LORA",
      task_type: "CAUSAL_LM",
      r: 4,
      lora_alpha: 16,
      lora_dropout: 0.05,
      target_modules: ["q_proj", "v_proj"],
      bias: "none",
      fan_in_fan_out: false,
      inference_mode: true,
      base_model_name_or_path: "TinyLlama/TinyLlama-1.1B",
      modules_to_save: null,
    });
    const h = await readSafetensorsHeader(path.join(d, "adapter_model.safetensors"));
    expect(Object.keys(h.tensors).sort()).toEqual([
      "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
      "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight",
      "base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight",
      "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight",
      "base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight",
      "base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight",
    ]);
    expect(h.metadata).toEqual({ format: "pt" });
    expect(h.tensors["base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight"]).toMatchObject({ dtype: "F32", shape: [8, 4] });

    const a = (await readAdapter(d)) as LoraAdapter;
    expect(a.type).toBe("lora");
    expect(a.config).toMatchObject({ peftType: "LORA", r: 4, loraAlpha: 16, bias: "none", useRslora: false, targetModules: ["q_proj", "v_proj"] });
    expect([...a.modules.keys()]).toEqual(Object.keys(modules).sort());
    for (const [name, m] of Object.entries(modules)) {
      const got = a.modules.get(name)!;
      expect(got.scale).toBe(16 / 4);
      expect(got.r).toBe(4);
      expect(got.A.shape).toEqual(m.A.shape);
      expect(got.B.shape).toEqual(m.B.shape);
      expect(Array.from(got.A.data)).toEqual(Array.from(m.A.data));
      expect(Array.from(got.B.data)).toEqual(Array.from(m.B.data));
    }
    expect(a.modulesToSave.size).toBe(0);
  });

  it("modules_to_save, bf16 storage, rsLoRA, explicit target_modules", async () => {
    const d = path.join(dir, "lora-mts");
    const head = matrix(10, 16, 9);
    await writeLoraAdapter(d, {
      loraAlpha: 8,
      modules: new Map(Object.entries(modules)),
      modulesToSave: { "lm_head.weight": head },
      useRslora: true,
      targetModules: ["q_proj", "v_proj", "k_proj"],
      dtype: "BF16",
    });
    const cfg = JSON.parse(await readFile(path.join(d, "adapter_config.json"), "utf8"));
    expect(cfg).toMatchObject({ modules_to_save: ["lm_head"], use_rslora: true, target_modules: ["q_proj", "v_proj", "k_proj"] });
    const h = await readSafetensorsHeader(path.join(d, "adapter_model.safetensors"));
    expect(h.tensors["base_model.model.lm_head.weight"]).toMatchObject({ dtype: "BF16", shape: [10, 16] });
    const a = (await readAdapter(d)) as LoraAdapter;
    expect(a.modules.get("model.layers.0.self_attn.q_proj")!.scale).toBe(8 / 2);
    expect([...a.modulesToSave.keys()]).toEqual(["lm_head.weight"]);
    const got = a.modulesToSave.get("lm_head.weight")!;
    expect(got.dtype).toBe("BF16");
    expect(Array.from(got.data)).toEqual(Array.from(head.data, (x) => roundToFormat(x, BF16)));
  });

  it("reads an adapter_config.json as PEFT writes it, with rank_pattern / alpha_pattern", async () => {
    const d = path.join(dir, "lora-peft-style");
    await mkdir(d, { recursive: true });
    const peftConfig = {
      alpha_pattern: { "layers.1.self_attn.q_proj": 32 },
      auto_mapping: null,
      base_model_name_or_path: "meta-llama/Llama-2-7b-hf",
      bias: "none",
      fan_in_fan_out: false,
      inference_mode: true,
      init_lora_weights: true,
      layer_replication: null,
      layers_pattern: null,
      layers_to_transform: null,
      loftq_config: {},
      lora_alpha: 16,
      lora_dropout: 0.1,
      megatron_config: null,
      megatron_core: "megatron.core",
      modules_to_save: null,
      peft_type: "LORA",
      r: 8,
      rank_pattern: { "v_proj": 2 },
      revision: null,
      target_modules: ["v_proj", "q_proj"],
      task_type: "CAUSAL_LM",
      use_dora: false,
      use_rslora: false,
    };
    await writeFile(path.join(d, "adapter_config.json"), JSON.stringify(peftConfig, null, 2));
    const P = "base_model.model.model.layers.";
    await writeSafetensors(path.join(d, "adapter_model.safetensors"), {
      [`${P}0.self_attn.q_proj.lora_A.weight`]: matrix(8, 16, 1),
      [`${P}0.self_attn.q_proj.lora_B.weight`]: matrix(16, 8, 2),
      [`${P}0.self_attn.v_proj.lora_A.weight`]: matrix(2, 16, 3),
      [`${P}0.self_attn.v_proj.lora_B.weight`]: matrix(8, 2, 4),
      [`${P}1.self_attn.q_proj.lora_A.weight`]: matrix(8, 16, 5),
      [`${P}1.self_attn.q_proj.lora_B.weight`]: matrix(16, 8, 6),
      [`${P}11.self_attn.q_proj.lora_A.weight`]: matrix(8, 16, 7),
      [`${P}11.self_attn.q_proj.lora_B.weight`]: matrix(16, 8, 8),
    });
    const a = (await readAdapter(d)) as LoraAdapter;
    expect(a.config.targetModules).toEqual(["v_proj", "q_proj"]);
    expect(a.modules.get("model.layers.0.self_attn.q_proj")).toMatchObject({ r: 8, alpha: 16, scale: 2 });
    expect(a.modules.get("model.layers.0.self_attn.v_proj")).toMatchObject({ r: 2, alpha: 16, scale: 8 });
    expect(a.modules.get("model.layers.1.self_attn.q_proj")).toMatchObject({ r: 8, alpha: 32, scale: 4 });
    expect(a.modules.get("model.layers.11.self_attn.q_proj")).toMatchObject({ r: 8, alpha: 16, scale: 2 });
    const c = await readAdapterConfig(d);
    expect(c).toMatchObject({ peftType: "LORA", loraDropout: 0.1, baseModelNameOrPath: "meta-llama/Llama-2-7b-hf" });
  });

  describe("errors", () => {
    async function setup(name: string, config: Record<string, unknown>, tensors?: Record<string, { data: Float32Array; shape: number[] }>): Promise<string> {
      const d = path.join(dir, "err", name);
      await rm(d, { recursive: true, force: true });
      await mkdir(d, { recursive: true });
      await writeFile(path.join(d, "adapter_config.json"), JSON.stringify(config));
      if (tensors) await writeSafetensors(path.join(d, "adapter_model.safetensors"), tensors);
      return d;
    }
    const base = { peft_type: "LORA", r: 2, lora_alpha: 4, target_modules: ["q_proj"], bias: "none", task_type: "CAUSAL_LM" };
    const K = "base_model.model.model.layers.0.self_attn.q_proj";
    const good = { [`${K}.lora_A.weight`]: matrix(2, 4, 1), [`${K}.lora_B.weight`]: matrix(4, 2, 2) };

    const cases: [string, Record<string, unknown>, Record<string, { data: Float32Array; shape: number[] }> | undefined, RegExp][] = [
      ["bias all", { ...base, bias: "all" }, good, /adapter_config\.json: bias: expected "none" .*got "all"/],
      ["DoRA", { ...base, use_dora: true }, good, /use_dora: expected false \(DoRA adapters are not supported\)/],
      ["other peft types", { ...base, peft_type: "IA3" }, good, /peft_type: expected "LORA" or "PREFIX_TUNING", got "IA3"/],
      ["r missing", { ...base, r: undefined }, good, /adapter_config\.json: r: expected a positive integer, got nothing/],
      ["lora_alpha bad", { ...base, lora_alpha: "x" }, good, /lora_alpha: expected a positive number, got "x"/],
      ["weights missing", base, undefined, /adapter_model\.safetensors: file: expected the adapter weights \(safetensors\), got no such file/],
      ["lora_B missing", base, { [`${K}.lora_A.weight`]: matrix(2, 4, 1) }, /module "model\.layers\.0\.self_attn\.q_proj": expected both lora_A\.weight and lora_B\.weight, got only lora_A\.weight/],
      ["rank mismatch", base, { [`${K}.lora_A.weight`]: matrix(3, 4, 1), [`${K}.lora_B.weight`]: matrix(4, 3, 2) }, /expected rank 2 \(r\): lora_A \[2, in\], lora_B \[out, 2\], got lora_A \[3, 4\], lora_B \[4, 3\]/],
      ["unknown key", base, { ...good, "base_model.model.model.norm.weight": matrix(1, 4, 3) }, /tensor "base_model\.model\.model\.norm\.weight": expected a lora_A \/ lora_B weight, got an unknown key/],
      ["no prefix", base, { "model.layers.0.self_attn.q_proj.lora_A.weight": matrix(2, 4, 1) }, /expected a key starting with "base_model\.model\."/],
      ["embedding LoRA", base, { ...good, "base_model.model.model.embed_tokens.lora_embedding_A": matrix(2, 4, 1) }, /LoRA on an embedding layer \(not supported\)/],
      ["DoRA magnitude", base, { ...good, [`${K}.lora_magnitude_vector`]: matrix(1, 4, 1) }, /DoRA magnitude vector/],
      ["3-D lora_A", base, { [`${K}.lora_A.weight`]: { data: new Float32Array(8), shape: [2, 4, 1] }, [`${K}.lora_B.weight`]: matrix(4, 2, 2) }, /expected a 2-D \[r, in\] matrix, got shape \[2, 4, 1\]/],
    ];
    for (const [name, cfg, tensors, re] of cases) {
      it(name, async () => {
        const d = await setup(name.replace(/\W+/g, "_"), cfg, tensors);
        const err = await readAdapter(d).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(CtxwinError);
        expect((err as CtxwinError).code).toBe("ERR_FORMAT");
        expect((err as Error).message.startsWith(`loadModel: ${d}`)).toBe(true);
        expect((err as Error).message).toMatch(re);
      });
    }

    it("pickle weights get a hint; a missing config is named", async () => {
      const d = await setup("bin", base);
      await writeFile(path.join(d, "adapter_model.bin"), "x");
      await expect(readAdapter(d)).rejects.toThrow(/adapter_model\.bin found: pickle files are not supported/);
      const e = path.join(dir, "err", "noconfig");
      await mkdir(e, { recursive: true });
      await expect(readAdapter(e)).rejects.toThrow(`loadModel: ${path.join(e, "adapter_config.json")}: file: expected a PEFT adapter_config.json, got no such file`);
    });

    it("writer argument errors", async () => {
      const d = path.join(dir, "err", "writer");
      await expect(writeLoraAdapter(d, { loraAlpha: 8, modules: {} })).rejects.toMatchObject({ code: "ERR_ARG" });
      await expect(writeLoraAdapter(d, { loraAlpha: 8, modules: { [K.slice(17)]: { A: matrix(2, 4, 1), B: matrix(4, 3, 2) } } })).rejects.toMatchObject({ code: "ERR_SHAPE" });
      await expect(writeLoraAdapter(d, { loraAlpha: 8, modules: { [K]: { A: matrix(2, 4, 1), B: matrix(4, 2, 2) } } })).rejects.toThrow(/without "base_model\.model\."/);
    });
  });
});

describe("PEFT prefix tuning", () => {
  const P = 3;
  const L = 4;
  const H = 2;
  const D = 5;
  /** prompt_embeddings whose value encodes its [p, j, h, d] index in the [P, L·2, Hkv, D] view */
  function coded(): Float32Array {
    const out = new Float32Array(P * L * 2 * H * D);
    let i = 0;
    for (let p = 0; p < P; p++) for (let j = 0; j < 2 * L; j++) for (let h = 0; h < H; h++) for (let d = 0; d < D; d++) out[i++] = p * 1000 + j * 100 + h * 10 + d;
    return out;
  }

  it("write → read: PEFT's config fields, the `prompt_embeddings` key, layer i keys at 2i and values at 2i+1", async () => {
    const d = path.join(dir, "prefix");
    const pe = coded();
    await writePrefixAdapter(d, { numVirtualTokens: P, numLayers: L, numKvHeads: H, headDim: D, promptEmbeddings: pe, baseModelNameOrPath: "tiny" });
    const cfg = JSON.parse(await readFile(path.join(d, "adapter_config.json"), "utf8"));
    expect(cfg).toEqual({
      auto_mapping: null,
      base_model_name_or_path: "tiny",
      encoder_hidden_size: H * D,
      inference_mode: true,
      modules_to_save: null,
      num_attention_heads: H,
      num_layers: L,
      num_transformer_submodules: 1,
      num_virtual_tokens: P,
      peft_type: "PREFIX_TUNING",
      prefix_projection: false,
      revision: null,
      task_type: "CAUSAL_LM",
      token_dim: H * D,
    });
    const h = await readSafetensorsHeader(path.join(d, "adapter_model.safetensors"));
    expect(Object.keys(h.tensors)).toEqual(["prompt_embeddings"]);
    expect(h.tensors.prompt_embeddings).toMatchObject({ dtype: "F32", shape: [P, L * 2 * H * D] });

    const a = (await readAdapter(d)) as PrefixAdapter;
    expect(a.type).toBe("prefix");
    expect(a.config).toMatchObject({ peftType: "PREFIX_TUNING", numVirtualTokens: P, numLayers: L, numKvHeads: H, headDim: D, tokenDim: H * D, prefixProjection: false });
    expect(Array.from(a.promptEmbeddings.data)).toEqual(Array.from(pe));
    for (let layer = 0; layer < L; layer++) {
      const kv = a.prefixKeyValues(layer);
      expect(kv.keys.shape).toEqual([P, H, D]);
      expect(kv.values.shape).toEqual([P, H, D]);
      for (let p = 0; p < P; p++)
        for (let hh = 0; hh < H; hh++)
          for (let dd = 0; dd < D; dd++) {
            const i = (p * H + hh) * D + dd;
            expect(kv.keys.data[i]).toBe(p * 1000 + 2 * layer * 100 + hh * 10 + dd);
            expect(kv.values.data[i]).toBe(p * 1000 + (2 * layer + 1) * 100 + hh * 10 + dd);
          }
    }
    expect(() => a.prefixKeyValues(L)).toThrow(/layer: expected an integer in \[0, 3\]/);
  });

  it("packPrefixKeyValues inverts prefixKeyValues", () => {
    const pe = coded();
    const dims = { numVirtualTokens: P, numLayers: L, numKvHeads: H, headDim: D };
    const layers = Array.from({ length: L }, (_, i) => {
      const kv = prefixKeyValues(pe, dims, i);
      return { keys: kv.keys.data, values: kv.values.data };
    });
    expect(Array.from(packPrefixKeyValues(layers, dims))).toEqual(Array.from(pe));
  });

  it("reads a PEFT-written config with GQA (num_attention_heads = key/value heads) and bf16 weights", async () => {
    const d = path.join(dir, "prefix-peft");
    await mkdir(d, { recursive: true });
    await writeFile(
      path.join(d, "adapter_config.json"),
      JSON.stringify({
        auto_mapping: null,
        base_model_name_or_path: "TinyLlama/TinyLlama-1.1B",
        encoder_hidden_size: 256,
        inference_mode: true,
        num_attention_heads: 4,
        num_layers: 2,
        num_transformer_submodules: 1,
        num_virtual_tokens: 6,
        peft_type: "PREFIX_TUNING",
        prefix_projection: false,
        revision: null,
        task_type: "CAUSAL_LM",
        token_dim: 256,
      }),
    );
    const pe = rand(6 * 2 * 2 * 256, 3);
    await writeSafetensors(path.join(d, "adapter_model.safetensors"), { prompt_embeddings: { data: pe, shape: [6, 1024], dtype: "BF16" } });
    const a = (await readAdapter(d)) as PrefixAdapter;
    expect(a.config).toMatchObject({ numKvHeads: 4, headDim: 64, encoderHiddenSize: 256 });
    const kv = a.prefixKeyValues(1);
    expect(kv.keys.shape).toEqual([6, 4, 64]);
    expect(kv.values.data[0]).toBe(roundToFormat(pe[3 * 256]!, BF16));
  });

  describe("errors", () => {
    const base = { peft_type: "PREFIX_TUNING", task_type: "CAUSAL_LM", num_virtual_tokens: 2, num_layers: 1, token_dim: 4, num_attention_heads: 2, num_transformer_submodules: 1, prefix_projection: false };
    const cases: [string, Record<string, unknown>, Record<string, { data: Float32Array; shape: number[] }>, RegExp][] = [
      ["prefix_projection", { ...base, prefix_projection: "yes" }, { prompt_embeddings: matrix(2, 8, 1) }, /prefix_projection: expected true or false, got "yes"/],
      ["seq2seq", { ...base, num_transformer_submodules: 2 }, { prompt_embeddings: matrix(2, 8, 1) }, /num_transformer_submodules: expected 1 \(a decoder-only model\), got 2/],
      ["token_dim", { ...base, token_dim: 5 }, { prompt_embeddings: matrix(2, 10, 1) }, /token_dim: expected a multiple of num_attention_heads = 2, got 5/],
      ["missing num_layers", { ...base, num_layers: undefined }, { prompt_embeddings: matrix(2, 8, 1) }, /num_layers: expected a positive integer, got nothing/],
      ["wrong shape", base, { prompt_embeddings: matrix(2, 9, 1) }, /tensor "prompt_embeddings": expected shape \[2, 8\] .*got \[2, 9\]/],
      ["wrong key", base, { "prompt_encoder.embedding.weight": matrix(2, 8, 1) }, /tensor "prompt_embeddings": expected present \(PEFT's prefix-tuning key\), got only "prompt_encoder\.embedding\.weight"/],
      ["extra key", base, { prompt_embeddings: matrix(2, 8, 1), other: matrix(1, 1, 1) }, /tensor "other": expected "prompt_embeddings", got an unknown key/],
      ["head without modules_to_save", base, { prompt_embeddings: matrix(2, 8, 1), "base_model.classifier.weight": matrix(1, 1, 1) }, /tensor "base_model\.classifier\.weight": expected "prompt_embeddings", got an unknown key/],
    ];
    for (const [name, cfg, tensors, re] of cases) {
      it(name, async () => {
        const d = path.join(dir, "perr", name.replace(/\W+/g, "_"));
        await mkdir(d, { recursive: true });
        await writeFile(path.join(d, "adapter_config.json"), JSON.stringify(cfg));
        await writeSafetensors(path.join(d, "adapter_model.safetensors"), tensors);
        await expect(readAdapter(d)).rejects.toMatchObject({ code: "ERR_FORMAT", message: expect.stringMatching(re) });
      });
    }

    it("writer: prompt embeddings of the wrong size", async () => {
      await expect(
        writePrefixAdapter(path.join(dir, "perr", "w"), { numVirtualTokens: 2, numLayers: 1, numKvHeads: 2, headDim: 2, promptEmbeddings: new Float32Array(7) }),
      ).rejects.toMatchObject({ code: "ERR_SHAPE", message: expect.stringMatching(/expected a Float32Array of 2·1·2·2·2 = 16 values, got a Float32Array of length 7/) });
    });
  });
});
