import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { CtxwinError } from "../../lib/errors.js";
import { configToJson, parseConfig, readConfig, writeConfig, type ModelConfig } from "../../lib/models/io/index.js";
import { tempDir } from "./util.js";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("cfg"));
});
afterAll(async () => cleanup());

/** A TinyLlama-like transformers-4 config.json. */
const llamaTf4 = {
  architectures: ["LlamaForCausalLM"],
  model_type: "llama",
  vocab_size: 32000,
  hidden_size: 2048,
  intermediate_size: 5632,
  num_hidden_layers: 22,
  num_attention_heads: 32,
  num_key_value_heads: 4,
  hidden_act: "silu",
  max_position_embeddings: 2048,
  rms_norm_eps: 1e-5,
  rope_theta: 10000.0,
  rope_scaling: null,
  tie_word_embeddings: false,
  torch_dtype: "bfloat16",
  bos_token_id: 1,
  eos_token_id: 2,
  transformers_version: "4.35.0",
  use_cache: true,
};

function parse(json: unknown): ModelConfig {
  return parseConfig(json, "/ck/config.json");
}

function roundTrip(cfg: ModelConfig): void {
  const json = configToJson(cfg);
  expect(parseConfig(JSON.parse(JSON.stringify(json)))).toEqual(cfg);
}

describe("config.json: llama family", () => {
  it("llama, transformers 4 form", () => {
    const c = parse(llamaTf4);
    expect(c).toEqual({
      family: "llama",
      modelType: "llama",
      vocabSize: 32000,
      hiddenSize: 2048,
      numLayers: 22,
      numHeads: 32,
      numKvHeads: 4,
      headDim: 64,
      intermediateSize: 5632,
      rmsNormEps: 1e-5,
      tieWordEmbeddings: false,
      attentionBias: false,
      attentionOutBias: false,
      mlpBias: false,
      slidingWindow: null,
      layerWindows: new Array(22).fill(null),
      maxPositionEmbeddings: 2048,
      positional: { type: "rope", theta: 10000, rotaryDim: 64 },
      hiddenAct: "silu",
      initializerRange: 0.02,
      bosTokenId: 1,
      eosTokenId: 2,
      padTokenId: null,
      torchDtype: "bfloat16",
    });
    roundTrip(c);
  });

  it("explicit head_dim, tied embeddings, attention/mlp bias, eos list, defaults when absent", () => {
    const c = parse({
      model_type: "llama",
      vocab_size: 100,
      hidden_size: 64,
      intermediate_size: 128,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      head_dim: 32,
      tie_word_embeddings: true,
      attention_bias: true,
      mlp_bias: true,
      eos_token_id: [2, 7],
    });
    expect(c).toMatchObject({ headDim: 32, numKvHeads: 4, tieWordEmbeddings: true, attentionBias: true, attentionOutBias: true, mlpBias: true, eosTokenId: [2, 7] });
    expect(c).toMatchObject({ maxPositionEmbeddings: 2048, rmsNormEps: 1e-6, torchDtype: null, bosTokenId: 1 });
    expect(c.positional).toEqual({ type: "rope", theta: 10000, rotaryDim: 32 });
    roundTrip(c);
  });

  it("rope_scaling linear (legacy `type` key) and dynamic (original length = max_position_embeddings, as transformers)", () => {
    const lin = parse({ ...llamaTf4, rope_scaling: { type: "linear", factor: 4.0 } });
    expect(lin.positional).toEqual({ type: "rope", theta: 10000, rotaryDim: 64, scaling: { type: "linear", factor: 4 } });
    roundTrip(lin);
    expect(configToJson(lin).rope_scaling).toEqual({ rope_type: "linear", type: "linear", factor: 4 });
    const dyn = parse({ ...llamaTf4, rope_scaling: { rope_type: "dynamic", factor: 2.0, original_max_position_embeddings: 1024 } });
    expect(dyn.positional).toEqual({ type: "rope", theta: 10000, rotaryDim: 64, scaling: { type: "dynamic", factor: 2, originalMaxPositions: 2048 } });
    roundTrip(dyn);
  });

  it("rope_scaling yarn with every field", () => {
    const c = parse({
      ...llamaTf4,
      max_position_embeddings: 8192,
      rope_theta: 500000,
      rope_scaling: {
        rope_type: "yarn",
        factor: 4.0,
        original_max_position_embeddings: 2048,
        beta_fast: 16,
        beta_slow: 2,
        attention_factor: 1.2,
        mscale: 0.707,
        mscale_all_dim: 0.707,
        truncate: false,
      },
    });
    expect(c.positional).toEqual({
      type: "rope",
      theta: 500000,
      rotaryDim: 64,
      scaling: { type: "yarn", factor: 4, originalMaxPositions: 2048, betaFast: 16, betaSlow: 2, attentionFactor: 1.2, mscale: 0.707, mscaleAllDim: 0.707, truncate: false },
    });
    roundTrip(c);
    const j = configToJson(c);
    expect(j.rope_theta).toBe(500000);
    expect(j.rope_scaling).toMatchObject({ rope_type: "yarn", factor: 4, original_max_position_embeddings: 2048, beta_fast: 16, truncate: false });
    expect(j.ctxwin_positional).toBeUndefined();
  });

  it("yarn defaults: original length falls back to max_position_embeddings; zero betas / mscales mean unset", () => {
    const c = parse({ ...llamaTf4, rope_scaling: { type: "yarn", factor: 2, beta_fast: 0, mscale: 0, attention_factor: null } });
    expect(c.positional).toEqual({ type: "rope", theta: 10000, rotaryDim: 64, scaling: { type: "yarn", factor: 2, originalMaxPositions: 2048 } });
    roundTrip(c);
    // a top-level original_max_position_embeddings wins (transformers' Phi-3 rule)
    const t = parse({ ...llamaTf4, original_max_position_embeddings: 512, rope_scaling: { rope_type: "yarn", factor: 2, original_max_position_embeddings: 1024 } });
    expect(t.positional).toMatchObject({ scaling: { originalMaxPositions: 512 } });
  });

  it("transformers 5 form: rope_parameters and dtype", () => {
    const tf5 = { ...llamaTf4, torch_dtype: undefined, dtype: "float32", rope_theta: undefined, rope_scaling: undefined };
    const plain = parse({ ...tf5, rope_parameters: { rope_type: "default", rope_theta: 250000 } });
    expect(plain.positional).toEqual({ type: "rope", theta: 250000, rotaryDim: 64 });
    expect(plain.torchDtype).toBe("float32");
    roundTrip(plain);
    const yarn = parse({ ...tf5, max_position_embeddings: 16384, rope_parameters: { rope_type: "yarn", rope_theta: 1e6, factor: 8, original_max_position_embeddings: 2048, beta_fast: 32, beta_slow: 1 } });
    expect(yarn.positional).toEqual({ type: "rope", theta: 1e6, rotaryDim: 64, scaling: { type: "yarn", factor: 8, originalMaxPositions: 2048, betaFast: 32, betaSlow: 1 } });
    roundTrip(yarn);
    const lin = parse({ ...tf5, rope_parameters: { rope_type: "linear", rope_theta: 10000, factor: 2 } });
    expect(lin.positional).toMatchObject({ scaling: { type: "linear", factor: 2 } });
    // rope_parameters wins over a stale rope_scaling; theta falls back to the top-level field
    const both = parse({ ...llamaTf4, rope_theta: 20000, rope_scaling: { type: "linear", factor: 9 }, rope_parameters: { rope_type: "dynamic", factor: 3 } });
    expect(both.positional).toEqual({ type: "rope", theta: 20000, rotaryDim: 64, scaling: { type: "dynamic", factor: 3, originalMaxPositions: 2048 } });
  });

  it("partial_rotary_factor (top level or in rope_parameters)", () => {
    const c = parse({ ...llamaTf4, partial_rotary_factor: 0.5 });
    expect(c.positional).toEqual({ type: "rope", theta: 10000, rotaryDim: 32 });
    expect(configToJson(c).partial_rotary_factor).toBe(0.5);
    roundTrip(c);
    const d = parse({ ...llamaTf4, rope_parameters: { rope_type: "default", rope_theta: 10000, partial_rotary_factor: 0.25 } });
    expect(d.positional).toMatchObject({ rotaryDim: 16 });
  });

  it("mistral: sliding_window (explicit, null, and transformers' 4096 default when absent)", () => {
    const base = { model_type: "mistral", vocab_size: 32000, hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 3, num_attention_heads: 32, num_key_value_heads: 8, max_position_embeddings: 32768, rope_theta: 10000 };
    const c = parse({ ...base, sliding_window: 4096 });
    expect(c).toMatchObject({ modelType: "mistral", family: "llama", slidingWindow: 4096, layerWindows: [4096, 4096, 4096], numKvHeads: 8, headDim: 128, attentionBias: false });
    roundTrip(c);
    expect(configToJson(c)).toMatchObject({ architectures: ["MistralForCausalLM"], sliding_window: 4096 });
    const none = parse({ ...base, sliding_window: null });
    expect(none).toMatchObject({ slidingWindow: null, layerWindows: [null, null, null] });
    roundTrip(none);
    expect(parse(base)).toMatchObject({ slidingWindow: 4096 });
    const { num_key_value_heads: _kv, ...noKv } = base;
    expect(parse(noKv).numKvHeads).toBe(8);
  });

  it("qwen2: q/k/v bias, sliding window only with use_sliding_window, from max_window_layers or layer_types", () => {
    const base = { model_type: "qwen2", vocab_size: 151936, hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 4, num_attention_heads: 14, num_key_value_heads: 2, max_position_embeddings: 32768, rope_theta: 1000000.0, tie_word_embeddings: true, sliding_window: 32768, max_window_layers: 2, use_sliding_window: false, bos_token_id: 151643, eos_token_id: 151643 };
    const c = parse(base);
    expect(c).toMatchObject({ modelType: "qwen2", attentionBias: true, attentionOutBias: false, mlpBias: false, slidingWindow: null, layerWindows: [null, null, null, null], headDim: 64, tieWordEmbeddings: true });
    expect(c.positional).toEqual({ type: "rope", theta: 1e6, rotaryDim: 64 });
    roundTrip(c);
    expect(configToJson(c)).toMatchObject({ architectures: ["Qwen2ForCausalLM"], use_sliding_window: false });
    const w = parse({ ...base, use_sliding_window: true, sliding_window: 16 });
    expect(w).toMatchObject({ slidingWindow: 16, layerWindows: [null, null, 16, 16] });
    roundTrip(w);
    const lt = parse({ ...base, use_sliding_window: true, sliding_window: 8, layer_types: ["sliding_attention", "full_attention", "sliding_attention", "full_attention"] });
    expect(lt.layerWindows).toEqual([8, null, 8, null]);
    expect(() => configToJson(lt)).toThrow(/layerWindows: expected null below max_window_layers/);
    const { bos_token_id: _b, eos_token_id: _e, ...noIds } = base;
    expect(parse(noIds)).toMatchObject({ bosTokenId: null, eosTokenId: null });
  });
});

describe("config.json: bloom", () => {
  const bloom560m = {
    apply_residual_connection_post_layernorm: false,
    architectures: ["BloomForCausalLM"],
    attention_dropout: 0.0,
    attention_softmax_in_fp32: true,
    bos_token_id: 1,
    eos_token_id: 2,
    hidden_dropout: 0.0,
    initializer_range: 0.02,
    layer_norm_epsilon: 1e-5,
    masked_softmax_fusion: true,
    model_type: "bloom",
    n_embed: 1024,
    n_inner: null,
    n_layer: 24,
    num_attention_heads: 16,
    offset_alibi: 100,
    pad_token_id: 3,
    pretraining_tp: 1,
    skip_bias_add: true,
    skip_bias_add_qkv: false,
    slow_but_exact: false,
    unk_token_id: 0,
    use_cache: true,
    vocab_size: 250880,
  };

  it("bloom-560m's config (n_embed, num_attention_heads, n_layer)", () => {
    const c = parse(bloom560m);
    expect(c).toEqual({
      family: "bloom",
      modelType: "bloom",
      vocabSize: 250880,
      hiddenSize: 1024,
      numLayers: 24,
      numHeads: 16,
      numKvHeads: 16,
      headDim: 64,
      intermediateSize: 4096,
      layerNormEps: 1e-5,
      residualPostLayernorm: false,
      tieWordEmbeddings: true,
      attentionBias: true,
      attentionOutBias: true,
      mlpBias: true,
      slidingWindow: null,
      layerWindows: new Array(24).fill(null),
      maxPositionEmbeddings: null,
      positional: { type: "alibi" },
      hiddenAct: "gelu_tanh",
      initializerRange: 0.02,
      bosTokenId: 1,
      eosTokenId: 2,
      padTokenId: 3,
      torchDtype: null,
    });
    roundTrip(c);
    const j = configToJson(c);
    expect(j).toMatchObject({ architectures: ["BloomForCausalLM"], model_type: "bloom", hidden_size: 1024, n_layer: 24, n_head: 16, layer_norm_epsilon: 1e-5 });
    expect(j.ctxwin_positional).toBeUndefined();
  });

  it("the transformers-style names (hidden_size, n_head) too", () => {
    const c = parse({ model_type: "bloom", vocab_size: 10, hidden_size: 8, n_head: 2, n_layer: 1, tie_word_embeddings: false });
    expect(c).toMatchObject({ hiddenSize: 8, numHeads: 2, headDim: 4, intermediateSize: 32, tieWordEmbeddings: false });
  });

  it("ALiBi-PI (trainLength) needs the ctxwin extension and round trips", () => {
    const c = parse(bloom560m);
    const pi: ModelConfig = { ...c, positional: { type: "alibi", trainLength: 2048 } };
    const j = configToJson(pi);
    expect(j.ctxwin_positional).toEqual({ type: "alibi", trainLength: 2048 });
    roundTrip(pi);
  });
});

describe("config.json: ctxwin's own positional schemes in the HF layout", () => {
  const tiny = parse({ model_type: "llama", vocab_size: 50, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 256 });

  it("NoPE and ALiBi in a llama-family model", () => {
    for (const p of [{ type: "none" }, { type: "alibi" }, { type: "alibi", slopes: [0.5, 0.25, 0.125, 0.0625] }] as const) {
      const c: ModelConfig = { ...tiny, positional: p as ModelConfig["positional"] };
      const j = configToJson(c);
      expect(j.ctxwin_positional).toEqual(p);
      expect(j.rope_theta).toBe(10000); // transformers still loads it
      roundTrip(c);
    }
  });

  it("NTK scaling: written as plain RoPE with the enlarged base (+ the extension to keep it exact)", () => {
    const c: ModelConfig = { ...tiny, positional: { type: "rope", theta: 10000, rotaryDim: 8, scaling: { type: "ntk", factor: 4 } } };
    const j = configToJson(c);
    expect(j.rope_theta).toBeCloseTo(10000 * 4 ** (8 / 6), 6);
    expect(j.rope_scaling).toBeNull();
    expect(j.ctxwin_positional).toEqual(c.positional);
    roundTrip(c);
  });

  it("a dynamic original length other than max_position_embeddings", () => {
    const c: ModelConfig = { ...tiny, positional: { type: "rope", theta: 10000, rotaryDim: 8, scaling: { type: "dynamic", factor: 2, originalMaxPositions: 128 } } };
    expect(configToJson(c).ctxwin_positional).toEqual(c.positional);
    roundTrip(c);
  });

  it("positional missing theta/rotaryDim is written without the extension", () => {
    const c: ModelConfig = { ...tiny, positional: { type: "rope" } };
    const j = configToJson(c);
    expect(j.ctxwin_positional).toBeUndefined();
    expect(parseConfig(j).positional).toEqual({ type: "rope", theta: 10000, rotaryDim: 8 });
  });

  it("writeConfig / readConfig through a directory (sorted keys, 2-space JSON)", async () => {
    const d = path.join(dir, "rt");
    const c: ModelConfig = { ...tiny, positional: { type: "rope", theta: 10000, rotaryDim: 8, scaling: { type: "yarn", factor: 2, originalMaxPositions: 128, betaFast: 32 } } };
    await writeConfig(d, c);
    const text = await readFile(path.join(d, "config.json"), "utf8");
    expect(text.startsWith('{\n  "architectures": [\n    "LlamaForCausalLM"\n  ],')).toBe(true);
    const keys = Object.keys(JSON.parse(text));
    expect(keys).toEqual([...keys].sort());
    expect(await readConfig(d)).toEqual(c);
  });

  it("unrepresentable combinations are refused", () => {
    expect(() => configToJson({ ...tiny, modelType: "mistral", attentionBias: true } as ModelConfig)).toThrow(/configToJson: attentionBias \/ attentionOutBias \/ mlpBias: expected false/);
    expect(() => configToJson({ ...tiny, slidingWindow: 8, layerWindows: [8, 8] })).toThrow(/use modelType "mistral"/);
    expect(() => configToJson({ ...tiny, attentionOutBias: true })).toThrow(/attentionOutBias: expected the same as attentionBias/);
  });
});

describe("config.json errors", () => {
  const where = "/ck/config.json";
  const cases: [string, unknown, RegExp][] = [
    ["not an object", [1], /file: expected a JSON object, got \[1\]/],
    ["unsupported model_type", { ...llamaTf4, model_type: "gpt2" }, /model_type: expected one of "llama", "mistral", "qwen2", "bloom", got "gpt2"/],
    ["missing model_type", { ...llamaTf4, model_type: undefined }, /model_type: expected one of .*, got nothing \(missing\)/],
    ["missing hidden_size", { ...llamaTf4, hidden_size: undefined }, /hidden_size: expected a positive integer, got nothing \(missing\)/],
    ["hidden_size a string", { ...llamaTf4, hidden_size: "2048" }, /hidden_size: expected a positive integer, got "2048"/],
    ["negative layers", { ...llamaTf4, num_hidden_layers: -1 }, /num_hidden_layers: expected a positive integer, got -1/],
    ["kv heads not a divisor", { ...llamaTf4, num_key_value_heads: 5 }, /num_key_value_heads: expected a divisor of num_attention_heads = 32, got 5/],
    ["hidden_act", { ...llamaTf4, hidden_act: "gelu" }, /hidden_act: expected "silu" \(SwiGLU\), got "gelu"/],
    ["rms_norm_eps", { ...llamaTf4, rms_norm_eps: 0 }, /rms_norm_eps: expected a finite positive number, got 0/],
    ["tie_word_embeddings", { ...llamaTf4, tie_word_embeddings: "yes" }, /tie_word_embeddings: expected true or false, got "yes"/],
    ["llama3 rope", { ...llamaTf4, rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } }, /rope_scaling\.rope_type: expected one of "default", "linear", "dynamic", "yarn" \(the rope types ctxwin supports\), got "llama3"/],
    ["longrope (legacy type key)", { ...llamaTf4, rope_scaling: { type: "longrope", short_factor: [1], long_factor: [2] } }, /rope_scaling\.type: expected one of .*, got "longrope"/],
    ["tf5 unsupported rope", { ...llamaTf4, rope_parameters: { rope_type: "llama3", rope_theta: 500000, factor: 8 } }, /rope_parameters\.rope_type: expected one of .*got "llama3"/],
    ["per-layer-type rope_parameters", { ...llamaTf4, rope_parameters: { full_attention: { rope_type: "default" }, sliding_attention: { rope_type: "default" } } }, /rope_parameters: expected one rope dict .*per-layer-type/],
    ["rope factor missing", { ...llamaTf4, rope_scaling: { type: "linear" } }, /rope_scaling\.factor: expected a positive number, got nothing \(missing\)/],
    ["rope factor negative", { ...llamaTf4, rope_scaling: { type: "dynamic", factor: -2 } }, /rope_scaling\.factor: expected a finite positive number, got -2/],
    ["rope_scaling not an object", { ...llamaTf4, rope_scaling: "yarn" }, /rope_scaling: expected an object or null, got "yarn"/],
    ["yarn original length bad", { ...llamaTf4, rope_scaling: { type: "yarn", factor: 2, original_max_position_embeddings: 0 } }, /rope_scaling\.original_max_position_embeddings: expected a positive integer, got 0/],
    ["yarn truncate", { ...llamaTf4, rope_scaling: { type: "yarn", factor: 2, truncate: "no" } }, /rope_scaling\.truncate: expected true or false, got "no"/],
    ["rope_theta 1", { ...llamaTf4, rope_theta: 1 }, /rope_theta: expected a base != 1, got 1/],
    ["partial_rotary_factor odd dim", { ...llamaTf4, partial_rotary_factor: 0.3 }, /partial_rotary_factor: expected a factor giving an even rotary dim/],
    ["mistral sliding_window", { ...llamaTf4, model_type: "mistral", sliding_window: 0 }, /sliding_window: expected a positive integer, got 0/],
    ["qwen2 layer_types", { ...llamaTf4, model_type: "qwen2", use_sliding_window: true, sliding_window: 4, layer_types: ["x"] }, /layer_types: expected 22 entries/],
    ["eos ids", { ...llamaTf4, eos_token_id: "</s>" }, /eos_token_id: expected a non-negative integer or null, got "<\/s>"/],
    ["bloom missing n_layer", { model_type: "bloom", vocab_size: 10, n_embed: 8, n_head: 2 }, /n_layer \/ num_hidden_layers: expected a positive integer, got nothing/],
    ["bloom heads do not divide", { model_type: "bloom", vocab_size: 10, n_embed: 10, n_head: 4, n_layer: 1 }, /n_embed: expected a multiple of the head count 4, got 10/],
    ["bad ctxwin_positional", { ...llamaTf4, ctxwin_positional: { type: "rope", rotaryDim: 7 } }, /ctxwin_positional: positional\.rotaryDim: expected an even integer/],
  ];
  for (const [name, json, re] of cases) {
    it(name, () => {
      let err: unknown = null;
      try {
        parseConfig(json, where);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CtxwinError);
      expect((err as CtxwinError).code).toBe("ERR_FORMAT");
      expect((err as Error).message.startsWith(`loadModel: ${where}: `)).toBe(true);
      expect((err as Error).message).toMatch(re);
    });
  }

  it("readConfig: missing file and bad JSON name the file", async () => {
    const d = path.join(dir, "errs");
    await mkdir(d, { recursive: true });
    const f = path.join(d, "config.json");
    await expect(readConfig(d)).rejects.toThrow(`loadModel: ${f}: file: expected an HF config.json, got no such file`);
    await writeFile(f, "{ model_type: llama");
    await expect(readConfig(d)).rejects.toThrow(new RegExp(`^loadModel: ${f.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: file: expected valid JSON, got a parse error`));
    await writeFile(f, JSON.stringify({ ...llamaTf4, model_type: "falcon" }));
    await expect(readConfig(d)).rejects.toThrow(`loadModel: ${f}: model_type: expected one of "llama", "mistral", "qwen2", "bloom", got "falcon"`);
  });
});
