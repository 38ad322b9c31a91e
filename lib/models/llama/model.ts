/**
 * LlamaLike: llama, mistral (sliding window → the kernel's `window`), qwen2 (q/k/v bias).
 * Parameter names are the HF ones (LlamaForCausalLM):
 *   model.embed_tokens.weight                         [V, d]
 *   model.layers.{i}.input_layernorm.weight           [d]
 *   model.layers.{i}.self_attn.{q,k,v}_proj.weight    [Hq·D | Hkv·D, d]   (+ .bias with qkvBias)
 *   model.layers.{i}.self_attn.o_proj.weight          [d, Hq·D]           (+ .bias with outBias)
 *   model.layers.{i}.post_attention_layernorm.weight  [d]
 *   model.layers.{i}.mlp.{gate,up}_proj.weight        [f, d];  mlp.down_proj.weight [d, f]
 *   model.norm.weight                                 [d]
 *   lm_head.weight                                    [V, d]  (absent when tied)
 * RMSNorm, SwiGLU, RoPE (in the kernel; rotary dims "rotate half" as HF).
 */
import { Attention } from "../../nn/attention.js";
import { Block } from "../../nn/block.js";
import { Builder } from "../../nn/init.js";
import { Embedding, Linear, MLP, RMSNorm } from "../../nn/layers.js";
import { Container, ModuleList } from "../../nn/module.js";
import type { ArchConfig } from "../arch.js";
import { CausalLM } from "../causal_lm.js";

export class LlamaLike extends CausalLM {
  constructor(config: ArchConfig, b: Builder) {
    super(config);
    const c = config;
    const mb = b.sub("model");
    const model = this.module("model", new Container());
    const embed = model.add("embed_tokens", new Embedding(mb.sub("embed_tokens"), c.vocabSize, c.hiddenSize));
    const layers = model.add("layers", new ModuleList<Block>());
    for (let i = 0; i < c.numLayers; i++) {
      const lb = mb.sub(`layers.${i}`);
      layers.push(
        new Block({
          norm1: new RMSNorm(lb.sub("input_layernorm"), c.hiddenSize, c.eps),
          attn: new Attention(lb.sub("self_attn"), {
            dim: c.hiddenSize,
            heads: c.numHeads,
            kvHeads: c.numKvHeads,
            headDim: c.headDim,
            qkvBias: c.qkvBias,
            outBias: c.outBias,
          }),
          norm2: new RMSNorm(lb.sub("post_attention_layernorm"), c.hiddenSize, c.eps),
          mlp: new MLP(lb.sub("mlp"), c.hiddenSize, c.intermediateSize, { kind: "swiglu", bias: c.mlpBias }),
          names: { norm1: "input_layernorm", attn: "self_attn", norm2: "post_attention_layernorm", mlp: "mlp" },
        }),
      );
    }
    const norm = model.add("norm", new RMSNorm(mb.sub("norm"), c.hiddenSize, c.eps));
    const lmHead = c.tieWordEmbeddings ? null : this.module("lm_head", new Linear(b.sub("lm_head"), c.hiddenSize, c.vocabSize));
    this.setParts({ embed, embedNorm: null, blocks: layers, finalNorm: norm, lmHead });
  }
}
