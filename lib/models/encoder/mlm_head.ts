/**
 * The masked-LM heads of BertForMaskedLM and RobertaForMaskedLM (transformers' names):
 *   BERT:    cls.predictions.transform.dense.{weight,bias} [d, d]
 *            cls.predictions.transform.LayerNorm.{weight,bias} [d]
 *            cls.predictions.bias [V]
 *            logits = LN(act(dense(h))) · Eᵀ + bias   (act = config hidden_act)
 *   RoBERTa: lm_head.dense.{weight,bias}, lm_head.layer_norm.{weight,bias}, lm_head.bias
 *            logits = LN(gelu(dense(h))) · Eᵀ + bias   (exact erf GELU whatever hidden_act says)
 * The decoder is tied to the word embeddings E [V, d] (transformers saves no decoder weight), so
 * it is not a parameter of the head: gradients reach E through both uses.
 */
import { Parameter, tidy, type Variable } from "../../nn/autograd.js";
import * as F from "../../nn/functional.js";
import type { Builder } from "../../nn/init.js";
import { LayerNorm, Linear, type Embedding } from "../../nn/layers.js";
import { Module } from "../../nn/module.js";
import type { EncoderConfig } from "./config.js";

/** The head's module name at the model root. */
export function mlmHeadName(c: EncoderConfig): string {
  return c.modelType === "bert" ? "cls.predictions" : "lm_head";
}

export class MlmHead extends Module {
  readonly dense: Linear;
  readonly norm: LayerNorm;
  readonly bias: Parameter;
  readonly exactGelu: boolean;

  /** `b` is positioned at mlmHeadName(c); `embeddings` is the encoder's word embedding (the tied decoder). */
  constructor(
    b: Builder,
    c: EncoderConfig,
    readonly embeddings: Embedding,
  ) {
    super();
    const bert = c.modelType === "bert";
    const dn = bert ? "transform.dense" : "dense";
    const nn = bert ? "transform.LayerNorm" : "layer_norm";
    this.dense = this.module(dn, new Linear(b.sub(dn), c.hiddenSize, c.hiddenSize, { bias: true }));
    this.norm = this.module(nn, new LayerNorm(b.sub(nn), c.hiddenSize, c.eps));
    this.bias = this.param("bias", b.make("bias", [c.vocabSize], "bias"));
    this.exactGelu = !bert || c.hiddenAct === "gelu";
  }

  /** Hidden states [..., d] → logits over the vocabulary [..., V]. */
  forward(h: Variable): Variable {
    return tidy(() => {
      const x = this.dense.forward(h);
      const t = this.norm.forward(this.exactGelu ? F.geluErf(x) : F.gelu(x));
      return F.linear(t, this.embeddings.weight, this.bias);
    });
  }
}
