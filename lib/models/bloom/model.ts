/**
 * BLOOM (BloomForCausalLM). Internal parameter names (always with the `transformer.` prefix):
 *   transformer.word_embeddings.weight                         [V, d]
 *   transformer.word_embeddings_layernorm.{weight,bias}        [d]
 *   transformer.h.{i}.input_layernorm.{weight,bias}            [d]
 *   transformer.h.{i}.self_attention.{q,k,v}_proj.{weight,bias} [H·D, d], [H·D]
 *       (split at load from the fused query_key_value [H·3·D, d], laid out per head as [H, 3, D];
 *        fused again on save — see lib/models/bloom/names.ts)
 *   transformer.h.{i}.self_attention.dense.{weight,bias}       [d, H·D], [d]
 *   transformer.h.{i}.post_attention_layernorm.{weight,bias}   [d]
 *   transformer.h.{i}.mlp.dense_h_to_4h.{weight,bias}          [4d, d], [4d]
 *   transformer.h.{i}.mlp.dense_4h_to_h.{weight,bias}          [d, 4d], [d]
 *   transformer.ln_f.{weight,bias}                             [d]
 * LM head tied to word_embeddings. LayerNorms, tanh-GELU, ALiBi (in the kernel).
 */
import { Attention } from "../../nn/attention.js";
import { Block } from "../../nn/block.js";
import { Builder } from "../../nn/init.js";
import { Embedding, LayerNorm, Linear, MLP } from "../../nn/layers.js";
import { Container, ModuleList } from "../../nn/module.js";
import type { ArchConfig } from "../arch.js";
import { CausalLM } from "../causal_lm.js";

export class Bloom extends CausalLM {
  constructor(config: ArchConfig, b: Builder) {
    super(config);
    const c = config;
    const tb = b.sub("transformer");
    const t = this.module("transformer", new Container());
    const embed = t.add("word_embeddings", new Embedding(tb.sub("word_embeddings"), c.vocabSize, c.hiddenSize));
    const embedNorm = t.add("word_embeddings_layernorm", new LayerNorm(tb.sub("word_embeddings_layernorm"), c.hiddenSize, c.eps));
    const layers = t.add("h", new ModuleList<Block>());
    for (let i = 0; i < c.numLayers; i++) {
      const lb = tb.sub(`h.${i}`);
      layers.push(
        new Block({
          norm1: new LayerNorm(lb.sub("input_layernorm"), c.hiddenSize, c.eps),
          attn: new Attention(lb.sub("self_attention"), {
            dim: c.hiddenSize,
            heads: c.numHeads,
            kvHeads: c.numHeads,
            headDim: c.headDim,
            qkvBias: c.qkvBias,
            outBias: c.outBias,
            names: { o: "dense" },
          }),
          norm2: new LayerNorm(lb.sub("post_attention_layernorm"), c.hiddenSize, c.eps),
          mlp: new MLP(lb.sub("mlp"), c.hiddenSize, c.intermediateSize, {
            kind: "gelu",
            bias: c.mlpBias,
            names: { up: "dense_h_to_4h", down: "dense_4h_to_h" },
          }),
          names: { norm1: "input_layernorm", attn: "self_attention", norm2: "post_attention_layernorm", mlp: "mlp" },
          residualFromNorm: c.residualFromNorm,
        }),
      );
    }
    const lnF = t.add("ln_f", new LayerNorm(tb.sub("ln_f"), c.hiddenSize, c.eps));
    const lmHead = c.tieWordEmbeddings ? null : this.module("lm_head", new Linear(b.sub("lm_head"), c.hiddenSize, c.vocabSize));
    this.setParts({ embed, embedNorm, blocks: layers, finalNorm: lnF, lmHead });
  }
}
