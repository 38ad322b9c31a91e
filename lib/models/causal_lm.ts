/**
 * CausalLM: what LlamaLike and Bloom share — token embedding (+ BLOOM's embedding LayerNorm),
 * a stack of pre-norm Blocks, a final norm and an LM head (tied to the embedding or not).
 *
 *   ids number[][] (B rows of T ids) → embed [B, T, d] → blocks → norm → logits [B, T, V]
 *
 * Differentiable entry points (return Variables, record on an active Tape): `hidden`, `logits`,
 * `loss`. Inference: `forward(ids)` (logits Tensor, f32), `generate`, `createCache()`.
 * Positional schemes, sliding windows and prefix keys are attention-kernel parameters: the model
 * passes `positional` (its own, or a per-call override merged with mergePositional) to every layer.
 */
import { CtxwinError } from "../errors.js";
import { runAll, type Steps } from "../util/slices.js";
import { IGNORE_INDEX } from "../defaults.js";
import { Tensor, type Device, type DType } from "../tensor.js";
import type { AttentionOptions } from "../attention.js";
import type { Positional } from "../positional.js";
import { activeTape, noGrad, Parameter, replaceWith, tidySteps, Variable } from "../nn/autograd.js";
import { TokenPacking } from "../nn/packing.js";
import * as F from "../nn/functional.js";
import { Module, ModuleList } from "../nn/module.js";
import { Embedding, LayerNorm, Linear, type Norm } from "../nn/layers.js";
import { Block } from "../nn/block.js";
import { KVCache, type AttentionCall, type ModelKV } from "../nn/attention.js";
import { configFromArch, mergePositional, type ArchConfig } from "./arch.js";
import type { ModelConfig } from "./io/config.js";
import { generate, type GenerateOptions } from "../infer/generate.js";

/** Hooks into a forward pass (analyses, positional-vector replacement, window extension). */
export interface ForwardHooks {
  /**
   * Hidden states: layer l in [0, L) is the input of block l (l = 0: the embeddings, after
   * BLOOM's embedding LayerNorm), l = L the last block's output before the final norm. May return a
   * replacement Variable (same shape); the original is released by the model.
   */
  hidden?: (layer: number, h: Variable) => Variable | void;
  /** Head outputs o [B, T, Hq, D] of layer l before the output projection; may return a replacement. */
  heads?: (layer: number, o: Variable) => Variable | void;
  /** Final say on the attention kernel options of layer l. */
  attention?: (layer: number, opts: AttentionOptions) => AttentionOptions;
  /**
   * Reads layer l's attention-kernel inputs q [B, T, Hq, D] and k [B, Tk, Hkv, D] with the final
   * kernel options (after `attention`), e.g. to recompute the attention probabilities
   * (lib/analyze/attention_probs.ts). Use the tensors within the call; do not dispose them.
   */
  qk?: (layer: number, q: Tensor, k: Tensor, opts: AttentionOptions) => void;
}

export interface ForwardOptions {
  /** KV cache (inference, no tape): keys/values are appended; queries sit after the cached positions. */
  cache?: ModelKV;
  /** Replaces the model's positional scheme for this call (rope fields left out come from the model). */
  positional?: Positional;
  /** Sliding window for every layer (null: none); default: the model's per-layer windows. */
  window?: number | null;
  /** Multiplies the softmax scale 1/sqrt(D) (attention temperature λ). Default 1. */
  scaleMultiplier?: number;
  /** Activation checkpointing of every block (with a tape). Default: each block's own flag. */
  checkpoint?: boolean;
  /** Logits only for the last position ([B, 1, V]). */
  lastOnly?: boolean;
  /**
   * Right padding: sequence b's tokens are its first keyLengths[b] positions; later positions are
   * padding (invisible as keys, zero as queries: no work, no mask tensor). For batches of
   * sequences of different lengths (classification, training); not with a cache.
   */
  keyLengths?: readonly number[];
  hooks?: ForwardHooks;
  /**
   * Token packing (lib/nn/packing.ts): with right padding known, the blocks' projections, MLPs
   * and norms (and loss()'s LM head) run on the real tokens only; attention alone sees [B, T].
   * Same results up to float rounding. Right padding is known from keyLengths, and in loss() also
   * from the targets: positions after a row's last scored target cannot change any scored logit
   * (causal attention), so they are skipped. Not used with a cache, hooks, or activation
   * checkpointing under a tape. Default true; padding positions' hidden states are then 0.
   */
  pack?: boolean;
}

export interface LossOptions extends ForwardOptions {
  /** Targets equal to this are not scored. Default -100. */
  ignoreIndex?: number;
  /** Divide the summed loss by this instead of the number of scored targets. */
  normalizer?: number;
}

/** Token ids → an f32 tensor [B, T] (validated: rectangular, integers in [0, vocab)). */
export function idsTensor(ids: readonly (readonly number[])[], vocab: number, device: Device, fn = "forward"): Tensor {
  if (!Array.isArray(ids) || ids.length === 0 || !ids.every((r) => Array.isArray(r))) {
    throw new CtxwinError("ERR_ARG", `${fn}: ids: expected a non-empty array of rows (number[][]), got ${Array.isArray(ids) ? "an empty or ragged array" : typeof ids}`);
  }
  const B = ids.length;
  const T = ids[0]!.length;
  if (T === 0) throw new CtxwinError("ERR_ARG", `${fn}: ids: expected rows of at least one id, got empty rows`);
  const data = new Float32Array(B * T);
  for (let b = 0; b < B; b++) {
    const row = ids[b]!;
    if (row.length !== T) throw new CtxwinError("ERR_SHAPE", `${fn}: ids: expected every row to have ${T} ids (as row 0), got ${row.length} in row ${b}`);
    for (let t = 0; t < T; t++) {
      const id = row[t]!;
      if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new CtxwinError("ERR_ARG", `${fn}: ids: expected integers in [0, ${vocab}) (the vocabulary), got ${id} at [${b}][${t}]`);
      data[b * T + t] = id;
    }
  }
  return Tensor.from(data, [B, T], { device });
}

/** The parts a family hands to CausalLM. */
export interface CausalLMParts {
  embed: Embedding;
  embedNorm: LayerNorm | null;
  blocks: ModuleList<Block>;
  finalNorm: Norm;
  /** Untied LM head, or null (tied: logits = h · embed.weightᵀ). */
  lmHead: Linear | null;
}

export abstract class CausalLM extends Module {
  readonly config: ArchConfig;
  /** The positional scheme forward() uses by default (the checkpoint's, or loadModel's override). */
  positional: Positional;
  embed!: Embedding;
  embedNorm!: LayerNorm | null;
  blocks!: ModuleList<Block>;
  finalNorm!: Norm;
  lmHead!: Linear | null;

  protected constructor(config: ArchConfig) {
    super();
    this.config = config;
    this.positional = config.positional;
  }

  protected setParts(p: CausalLMParts): void {
    this.embed = p.embed;
    this.embedNorm = p.embedNorm;
    this.blocks = p.blocks;
    this.finalNorm = p.finalNorm;
    this.lmHead = p.lmHead;
  }

  get numLayers(): number {
    return this.blocks.length;
  }
  get device(): Device {
    return this.embed.weight.value.device;
  }
  get dtype(): DType {
    return this.embed.weight.value.dtype;
  }
  /** The LM head weight [V, d] (the embedding matrix when tied). */
  get headWeight(): Parameter {
    return this.lmHead ? this.lmHead.weight : this.embed.weight;
  }
  /** Prefix-tuning length P (0 without a prefix). */
  get prefixLength(): number {
    return this.blocks.at(0).attn.prefixLength;
  }

  /** The HF-normalised config of this model (with the positional scheme in use), as saveModel writes it. */
  hfConfig(): ModelConfig {
    return configFromArch(this.config, this.positional);
  }

  /**
   * A KV cache for generate / incremental decoding.
   * @param capacity positions to make room for at once (prompt + new tokens, prefix included;
   *   default: as many as the first forward writes); beyond it the cache grows ×2 when needed
   */
  createCache(capacity = 0): KVCache {
    return new KVCache(this.numLayers, capacity);
  }

  /** Final hidden states [B, T, d] (after the final norm). Records on an active tape. */
  hidden(ids: readonly (readonly number[])[] | Tensor, opts: ForwardOptions = {}): Variable {
    return runAll(this.hiddenSteps(ids, opts));
  }

  /**
   * hidden() as Steps, pausing after every layer: for runSliced / Tape.runSliced / noGradSliced,
   * which keep the event loop turning during a deep model's forward.
   */
  hiddenSteps(ids: readonly (readonly number[])[] | Tensor, opts: ForwardOptions = {}): Steps<Variable> {
    return tidySteps(this.#hiddenSteps(ids, opts));
  }

  *#hiddenSteps(ids: readonly (readonly number[])[] | Tensor, opts: ForwardOptions): Steps<Variable> {
    const packing = this.#packing(ids, opts, opts.keyLengths);
    try {
      const h = yield* this.#trunkSteps(ids, opts, packing);
      return packing ? replaceWith(h, packing.unpack(h)) : h;
    } finally {
      packing?.dispose(); // the gathers keep their own handles of the index tensors
    }
  }

  /**
   * The packing of a call (see ForwardOptions.pack) for right padding `lengths`, or null when it
   * does not apply or there is no padding to skip. The caller disposes it.
   */
  #packing(ids: readonly (readonly number[])[] | Tensor, opts: ForwardOptions, lengths: readonly number[] | undefined): TokenPacking | null {
    if (!lengths || opts.pack === false || opts.cache || opts.hooks) return null;
    if (activeTape() && (opts.checkpoint ?? this.blocks.items.some((b) => b.checkpoint))) return null; // the recompute would outlive the packing
    const [B, T] = ids instanceof Tensor ? [ids.shape[0]!, ids.shape[1]!] : [ids.length, ids[0]?.length ?? 0];
    if (opts.keyLengths !== undefined) checkKeyLengths(opts.keyLengths, B, T);
    if (lengths.reduce((a, n) => a + n, 0) === B * T) return null;
    return new TokenPacking(B, T, lengths, this.device);
  }

  /** Embeddings → blocks → final norm: [B, T, d], or [N, d] (real tokens) with a packing. */
  *#trunkSteps(ids: readonly (readonly number[])[] | Tensor, opts: ForwardOptions, packing: TokenPacking | null): Steps<Variable> {
    let x: Variable;
    if (ids instanceof Tensor) x = this.embed.forward(ids);
    else {
      using idsT = idsTensor(ids, this.config.vocabSize, this.device);
      x = this.embed.forward(idsT);
    }
    if (this.embedNorm) x = this.embedNorm.forward(x);
    if (opts.keyLengths !== undefined) checkKeyLengths(opts.keyLengths, x.shape[0]!, x.shape[1]!);
    if (packing) x = replaceWith(x, packing.pack(x));
    const positional = mergePositional(this.positional, opts.positional);
    const hooks = opts.hooks ?? {};
    const L = this.numLayers;
    if (opts.cache && opts.cache.layers.length !== L) throw new CtxwinError("ERR_ARG", `forward: cache: expected a cache of ${L} layers (model.createCache()), got ${opts.cache.layers.length}`);
    for (let l = 0; l < L; l++) {
      x = applyHook(hooks.hidden, l, x);
      const window = opts.window === null ? 0 : (opts.window ?? this.config.windows[l] ?? 0);
      const call: AttentionCall = {
        positional,
        window,
        scaleMultiplier: opts.scaleMultiplier,
        cache: opts.cache?.layers[l],
        layer: l,
        onHeads: hooks.heads,
        keyLengths: packing ? packing.lengths : opts.keyLengths,
        packing: packing ?? undefined,
        onOptions: hooks.attention,
        onQK: hooks.qk,
      };
      const y = this.blocks.at(l).forward(x, call, { checkpoint: opts.checkpoint });
      x.release(); // now, not when the forward ends: one layer's hidden state alive at a time
      x = y;
      yield;
    }
    return this.finalNorm.forward(applyHook(hooks.hidden, L, x));
  }

  /** Logits [B, T, V] (or [B, 1, V] with lastOnly) as a Variable. Records on an active tape. */
  logits(ids: readonly (readonly number[])[] | Tensor, opts: ForwardOptions = {}): Variable {
    return runAll(this.logitsSteps(ids, opts));
  }

  /** logits() as Steps (see hiddenSteps). */
  logitsSteps(ids: readonly (readonly number[])[] | Tensor, opts: ForwardOptions = {}): Steps<Variable> {
    return tidySteps(this.#logitsSteps(ids, opts));
  }

  *#logitsSteps(ids: readonly (readonly number[])[] | Tensor, opts: ForwardOptions): Steps<Variable> {
    let h = yield* this.hiddenSteps(ids, opts);
    const T = h.shape[1]!;
    if (opts.lastOnly && T > 1) h = F.slice(h, 1, T - 1, T);
    return this.head(h);
  }

  /** LM head on hidden states h [..., d] → [..., V]. */
  head(h: Variable): Variable {
    return this.lmHead ? this.lmHead.forward(h) : F.linear(h, this.embed.weight);
  }

  /**
   * Mean next-token cross-entropy of `targets` (same shape as ids; -100 = not scored) given
   * `ids`: logits at [b, t] are scored against targets[b][t] (pass ids shifted by one yourself, or
   * use `lmTargets`). Returns a scalar [1] Variable; with a tape, backward(loss) trains.
   */
  loss(ids: readonly (readonly number[])[], targets: readonly (readonly number[])[], opts: LossOptions = {}): Variable {
    return runAll(this.lossSteps(ids, targets, opts));
  }

  /** loss() as Steps (see hiddenSteps); train() runs it with Tape.runSliced. */
  lossSteps(ids: readonly (readonly number[])[], targets: readonly (readonly number[])[], opts: LossOptions = {}): Steps<Variable> {
    return tidySteps(this.#lossSteps(ids, targets, opts));
  }

  *#lossSteps(ids: readonly (readonly number[])[], targets: readonly (readonly number[])[], opts: LossOptions): Steps<Variable> {
    const B = ids.length;
    const T = ids[0]?.length ?? 0;
    if (targets.length !== B || targets.some((r) => r.length !== T)) {
      throw new CtxwinError("ERR_SHAPE", `loss: targets: expected ${B} rows of ${T} (the shape of ids), got ${targets.length} rows`);
    }
    const ignoreIndex = opts.ignoreIndex ?? IGNORE_INDEX;
    // causal: a row's positions after its last scored target change no scored logit
    const lengths = targets.map((r, b) => Math.min(opts.keyLengths?.[b] ?? T, Math.max(1, lastScored(r, ignoreIndex) + 1)));
    const packing = this.#packing(ids, opts, lengths);
    if (!packing) {
      const logits = yield* this.logitsSteps(ids, { ...opts, lastOnly: false });
      const flat = F.reshape(logits, [B * T, this.config.vocabSize]);
      const tg: number[] = [];
      for (const r of targets) for (const t of r) tg.push(t);
      return F.crossEntropy(flat, tg, { ignoreIndex, normalizer: opts.normalizer });
    }
    try {
      const h = yield* this.#trunkSteps(ids, opts, packing);
      const tg: number[] = [];
      targets.forEach((r, b) => {
        for (let t = 0; t < lengths[b]!; t++) tg.push(r[t]!);
      });
      return F.crossEntropy(this.head(h), tg, { ignoreIndex, normalizer: opts.normalizer }); // logits [N, V]
    } finally {
      packing.dispose();
    }
  }

  /** Logits [B, T, V] as an f32 Tensor (the caller disposes it). No gradient is recorded. */
  async forward(ids: readonly (readonly number[])[], opts: ForwardOptions = {}): Promise<Tensor> {
    const out = noGrad(() => this.logits(ids, opts).detachValue());
    if (out.dtype === "f32") return out;
    using low = out;
    return low.to("f32");
  }

  /** Streams generated token ids (KV cache; greedy at temperature 0, seeded sampling otherwise). */
  generate(prompt: readonly number[], opts: GenerateOptions): AsyncGenerator<number, void, undefined> {
    return generate(this, prompt, opts);
  }

  /** Attaches prefix-tuning keys/values to every layer: per layer [P, Hkv, D] each (the model owns them). */
  setPrefix(perLayer: { keys: Tensor; values: Tensor }[] | null): void {
    if (perLayer === null) {
      for (const b of this.blocks) b.attn.setPrefix(null);
      return;
    }
    if (perLayer.length !== this.numLayers) throw new CtxwinError("ERR_ARG", `setPrefix: expected ${this.numLayers} layers of prefix keys/values, got ${perLayer.length}`);
    perLayer.forEach((p, i) => this.blocks.at(i).attn.setPrefix(p.keys, p.values));
  }

  /** Sets activation checkpointing on every block. */
  setCheckpointing(on: boolean): this {
    for (const b of this.blocks) b.checkpoint = on;
    return this;
  }
}


/** Index of the last target that is scored (not ignoreIndex), or -1. */
function lastScored(row: readonly number[], ignoreIndex: number): number {
  for (let t = row.length - 1; t >= 0; t--) if (row[t] !== ignoreIndex) return t;
  return -1;
}

/** The hook's replacement of x (x is released now, like the previous layer's hidden state), or x. */
function applyHook(hook: ForwardHooks["hidden"], layer: number, x: Variable): Variable {
  const r = hook?.(layer, x);
  if (!r || r === x) return x;
  x.release();
  return r;
}

function checkKeyLengths(lengths: unknown, B: number, T: number): void {
  if (!Array.isArray(lengths) || lengths.length !== B) throw new CtxwinError("ERR_ARG", `forward: keyLengths: expected ${B} lengths (one per sequence), got ${Array.isArray(lengths) ? lengths.length : typeof lengths}`);
  lengths.forEach((n, b) => {
    if (!Number.isInteger(n) || n < 1 || n > T) throw new CtxwinError("ERR_ARG", `forward: keyLengths[${b}]: expected an integer in [1, ${T}] (the sequence length), got ${String(n)}`);
  });
}

/** Next-token targets for ids: row t → ids[t + 1], the last position → ignoreIndex. */
export function lmTargets(ids: readonly (readonly number[])[], ignoreIndex = IGNORE_INDEX): number[][] {
  return ids.map((r) => r.map((_, t) => (t + 1 < r.length ? r[t + 1]! : ignoreIndex)));
}
