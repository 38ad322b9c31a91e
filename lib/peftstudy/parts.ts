/**
 * The parts of `ctxwin peft` that live elsewhere in ctxwin, in one table: the adapters of lib/peft
 * on encoders (LoRA, P-tuning v2 prefixes, APT with its gates), the MLM-pretrained backbone, and
 * the tokenizer of a checkpoint. The study calls them only through this table, so a test can run
 * the pipeline with stand-ins, and a part this build does not have yet is a clear error for the
 * cells that need it (they are reported as "unavailable", never silently skipped).
 */
import { CtxwinError } from "../errors.js";
import type { Parameter } from "../nn/autograd.js";
import type { Encoder } from "../models/encoder/model.js";
import { loadTokenizer } from "../models/tokenizer/index.js";
import type { Tokenizer } from "../models/tokenizer/types.js";
import type { ProgressSink } from "../util/progress.js";

/** Inputs of the gate readout: padded batches of the training examples. */
export interface GateBatch {
  ids: number[][];
  keyLengths?: number[];
  tokenTypeIds?: number[][];
}

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

const missing = (what: string, where: string) => (): never => {
  throw new MissingPart(what, where);
};

/** The parts as this build has them. */
export function defaultParts(): PeftParts {
  return {
    addLora: missing("LoRA on encoders", "lib/peft/lora.ts for Encoder"),
    addPrefix: missing("P-tuning v2 prefixes on encoders", "lib/peft/prefix.ts for Encoder"),
    addApt: missing("adaptive prefix tuning (APT)", "lib/peft/apt.ts"),
    meanAptGates: missing("the APT gate readout", "lib/peft/apt.ts"),
    pretrainEncoder: missing("MLM pretraining of an encoder backbone (pass --model DIR)", "pretrainEncoder"),
    loadTokenizer: (dir) => loadTokenizer(dir),
  };
}
