/**
 * What LoRA and prefix tuning need of a model, the same for decoders (CausalLM) and encoders
 * (BERT / RoBERTa Encoder, any head): its attention modules in layer order, its Linear layers
 * under their HF module names, and the head PEFT trains in full (modules_to_save).
 *
 * PEFT's rules, as peft 0.21 applies them (checked against its saved adapters):
 *   - SEQ_CLS / TOKEN_CLS: modules_to_save = ["classifier", "score"], i.e. the whole
 *     `classifier` module (BERT's classifier, RoBERTa's classifier.dense + classifier.out_proj)
 *     stays trainable; BERT's pooler is NOT in it (frozen under prefix tuning; LoRA targets it
 *     like any other "dense").
 *   - LoRA never targets a module inside modules_to_save (RoBERTa's classifier.dense).
 */
import type { Device, DType } from "../tensor.js";
import type { Attention } from "../nn/attention.js";
import { Linear } from "../nn/layers.js";
import type { Parameter } from "../nn/autograd.js";
import { Encoder } from "../models/encoder/model.js";
import type { CausalLM } from "../models/causal_lm.js";

/** A model LoRA and prefix tuning attach to. */
export type PeftModel = CausalLM | Encoder;

/** PEFT's task_type for the model. */
export type PeftTaskType = "CAUSAL_LM" | "SEQ_CLS" | "TOKEN_CLS" | "FEATURE_EXTRACTION";

/** PEFT's modules_to_save for SEQ_CLS / TOKEN_CLS (what peft 0.21 writes in adapter_config.json). */
export const CLASSIFIER_MODULES_TO_SAVE = ["classifier", "score"];

export interface PeftTarget {
  readonly device: Device;
  readonly dtype: DType;
  /** One attention module per layer, in layer order. */
  readonly attentions: readonly Attention[];
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly taskType: PeftTaskType;
  /** HF module name → the Linear(s) carrying it (BLOOM's fused query_key_value: 3); head modules left out. */
  readonly linears: Map<string, Linear[]>;
  /** The head's parameters under their HF names (PEFT's modules_to_save); [] without a head. */
  readonly headParameters: [string, Parameter][];
}

function isEncoder(model: PeftModel): model is Encoder {
  return model instanceof Encoder;
}

/** The head's module path prefix (trained in full, never LoRA-targeted), or null. */
function headPrefix(model: PeftModel): string | null {
  return isEncoder(model) && model.config.head !== "none" ? "classifier" : null;
}

/** The PEFT view of a decoder or an encoder. */
export function peftTarget(model: PeftModel): PeftTarget {
  const head = headPrefix(model);
  const underHead = (name: string): boolean => head !== null && (name === head || name.startsWith(`${head}.`));
  const linears = new Map<string, Linear[]>();
  const bloom = !isEncoder(model) && model.config.family === "bloom";
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof Linear) || underHead(name)) continue;
    const hf = bloom ? name.replace(/self_attention\.(q|k|v)_proj$/, "self_attention.query_key_value") : name;
    const list = linears.get(hf) ?? [];
    list.push(m);
    linears.set(hf, list);
  }
  if (isEncoder(model)) {
    const c = model.config;
    return {
      device: model.device,
      dtype: model.dtype,
      attentions: model.layers.items.map((l) => l.attn),
      numKvHeads: c.numHeads,
      headDim: c.headDim,
      taskType: c.head === "sequence" ? "SEQ_CLS" : c.head === "token" ? "TOKEN_CLS" : "FEATURE_EXTRACTION",
      linears,
      headParameters: model.namedParameters().filter(([n]) => underHead(n) && !/\.lora_[AB]\.weight$/.test(n)),
    };
  }
  return {
    device: model.device,
    dtype: model.dtype,
    attentions: model.blocks.items.map((b) => b.attn),
    numKvHeads: model.config.numKvHeads,
    headDim: model.config.headDim,
    taskType: "CAUSAL_LM",
    linears,
    headParameters: [],
  };
}
