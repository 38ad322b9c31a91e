/**
 * The parts of `ctxwin peft` that live elsewhere in ctxwin, in one table: the adapters of lib/peft
 * on encoders (LoRA, P-tuning v2 prefixes, APT with its gates), the MLM-pretrained backbone, and
 * the tokenizer of a checkpoint. The study calls them only through this table, so a test can run
 * the pipeline with stand-ins; a part that throws MissingPart makes the cells that need it
 * "unavailable" in the report (never silently skipped).
 */
import { CtxwinError } from "../errors.js";
import type { Parameter } from "../nn/autograd.js";
import type { Encoder } from "../models/encoder/model.js";
import { loadTokenizer } from "../models/tokenizer/index.js";
import { addApt, meanAptGates, type GateBatch } from "../peft/apt.js";
import { addLora } from "../peft/lora.js";
import { addPrefix } from "../peft/prefix.js";
import { pretrainEncoder } from "../peft/backbone.js";
import type { Tokenizer } from "../models/tokenizer/types.js";
import type { ProgressSink } from "../util/progress.js";

export type { GateBatch };


/** What the backbone pretraining returns (a checkpoint directory with tokenizer.json). */
export interface PretrainedBackbone {
  dir: string;
  cached: boolean;
  seconds: number;
  finalLoss: number;
}

export interface PeftParts {
  /** LoRA on the encoder's attention projections; freezes the base (the caller unfreezes the head). */
  addLora(model: Encoder, opts: { r: number; alpha: number; targetModules: string[]; seed: number }): Parameter[];
  /** P-tuning v2 deep prefixes (per-layer lengths allowed); freezes the base. */
  addPrefix(model: Encoder, opts: { numVirtualTokens: number | number[]; seed: number }): Parameter[];
  /** APT: prefixes with token gates α and layer scales λ; freezes the base except the head. */
  addApt(model: Encoder, opts: { numVirtualTokens: number | number[]; gate: "token" | "pooled"; seed: number }): Parameter[];
  /** Mean APT gates over the real tokens of `batches`: alpha [layer][prefix token], lambda per layer. */
  meanAptGates(model: Encoder, batches: GateBatch[]): Promise<{ alpha: number[][]; lambda: number[] }>;
  /** A small encoder pretrained by MLM on the Brown corpus (cached under cacheDir). */
  pretrainEncoder(opts: { hiddenSize: number; numLayers: number; numHeads: number; intermediateSize: number; vocabSize: number; maxLength: number; steps: number; batch: number; lr: number; cacheDir: string; seed: number; progress?: ProgressSink; signal?: AbortSignal }): Promise<PretrainedBackbone>;
  /** The tokenizer of a checkpoint directory (tokenizer.json). */
  loadTokenizer(dir: string): Promise<Tokenizer>;
}

/** A part this build does not have: the cells that need it are reported "unavailable" with this message. */
export class MissingPart extends CtxwinError {
  constructor(what: string, where: string) {
    super("ERR_ARG", `peft: ${what} is not in this build of ctxwin (it comes with ${where}, issue 11)`);
    this.name = "MissingPart";
  }
}

/** The parts of this build: lib/peft's adapters and backbone, the HF tokenizer loader. */
export function defaultParts(): PeftParts {
  return {
    addLora: (model, o) => addLora(model, { r: o.r, alpha: o.alpha, targetModules: o.targetModules, seed: o.seed }),
    addPrefix: (model, o) => addPrefix(model, { numVirtualTokens: o.numVirtualTokens, seed: o.seed }),
    addApt: (model, o) => addApt(model, { numVirtualTokens: o.numVirtualTokens, gate: o.gate, seed: o.seed }),
    meanAptGates: (model, batches) => meanAptGates(model, batches),
    pretrainEncoder: async (o) => {
      const r = await pretrainEncoder({ vocabSize: o.vocabSize, hiddenSize: o.hiddenSize, numLayers: o.numLayers, numHeads: o.numHeads, intermediateSize: o.intermediateSize, seqLen: o.maxLength, batchSize: o.batch, steps: o.steps, lr: o.lr, warmup: Math.max(1, Math.round(o.steps / 20)), seed: o.seed, cacheDir: o.cacheDir, signal: o.signal, progress: o.progress ? (line: string) => o.progress!.log(line) : false });
      return { dir: r.dir, cached: r.cached, seconds: r.trainSeconds, finalLoss: r.finalLoss };
    },
    loadTokenizer: (dir) => loadTokenizer(dir),
  };
}
