/**
 * Multi-head attention module (GQA, optional q/k/v and output biases, prefix keys/values, KV cache)
 * over the fused kernel: RoPE / ALiBi / windows are applied INSIDE the kernel, so this module never
 * rotates anything. Shapes:
 *   x [B, T, dim] → q [B, T, Hq, D], k/v [B, T, Hkv, D]
 *   prefix (prefix tuning): keys/values [1, P, Hkv, D], prepended as they are (never rotated:
 *     `prefixKeys: P` in the kernel call); the real tokens' positions start at P.
 *   cache (inference): per layer k/v buffers [B, capacity, Hkv, D] (prefix included); new keys are
 *     written in place after the cached ones, attention reads the filled part, and the queries
 *     sit at positions Tk − T … Tk − 1 (the kernel's default queryOffset).
 *   head outputs o [B, T, Hq, D] → reshaped [B, T, Hq·D] → o_proj → [B, T, dim]
 */
import { CtxwinError, show } from "../errors.js";
import { keep } from "../util/scope.js";
import { Tensor } from "../tensor.js";
import { attention as attentionOp, attentionDecodeRagged, type AttentionOptions } from "../attention.js";
import type { Positional } from "../positional.js";
import * as ops from "../ops/index.js";
import { activeTape, constant, Parameter, tidy, Variable } from "./autograd.js";
import * as F from "./functional.js";
import { Builder } from "./init.js";
import { Linear } from "./layers.js";
import { Module } from "./module.js";
import type { TokenPacking } from "./packing.js";

/**
 * One layer's cached keys/values (prefix included), kept in preallocated buffers
 * [B, capacity, Hkv, D] that new positions are written into in place. Attention reads the filled
 * part [B, length, Hkv, D]: a view of the buffer for batch 1 (no copy), a copy for B > 1 (the
 * kernels take contiguous keys). A full buffer grows geometrically (×2), so a generation of n
 * tokens copies O(n) cached rows in all, not O(n²) as appending by concatenation would.
 */
export class LayerCache implements LayerKV {
  #k: Tensor | null = null;
  #v: Tensor | null = null;
  #length = 0;
  /** Positions the first allocation makes room for (0: as many as the first call writes). */
  readonly initialCapacity: number;

  constructor(initialCapacity = 0) {
    if (!Number.isInteger(initialCapacity) || initialCapacity < 0) {
      throw new CtxwinError("ERR_ARG", `LayerCache: capacity: expected a non-negative integer, got ${show(initialCapacity)}`);
    }
    this.initialCapacity = initialCapacity;
  }
  /** Cached positions (prefix included). */
  get length(): number {
    return this.#length;
  }
  /** Positions the buffers hold before they must grow. */
  get capacity(): number {
    return this.#k ? this.#k.shape[1]! : 0;
  }

  /**
   * Writes k/v [B, T, Hkv, D] at positions length … length + T − 1 (in place) and returns every
   * cached position, k/v [B, length, Hkv, D] (new tensors sharing or copying the buffers: the
   * caller disposes them).
   */
  append(k: Tensor, v: Tensor): { k: Tensor; v: Tensor } {
    const [B, T] = k.shape as [number, number, number, number];
    if (this.#k && (this.#k.shape[0] !== B || this.#k.shape[2] !== k.shape[2] || this.#k.shape[3] !== k.shape[3])) {
      const [b, , h, d] = this.#k.shape;
      throw new CtxwinError("ERR_SHAPE", `Attention.forward: cache: expected keys [${b}, T, ${h}, ${d}] (the cache's batch and heads), got [${k.shape.join(", ")}]`);
    }
    const need = this.#length + T;
    this.#reserve(k, B, T);
    ops.copyInto(this.#k!, k, 1, this.#length);
    ops.copyInto(this.#v!, v, 1, this.#length);
    this.#length = need;
    return { k: ops.leading(this.#k!, 1, need), v: ops.leading(this.#v!, 1, need) };
  }

  /** Room for T more positions in [B, ·, H, D] buffers (dtype and device of `like`). */
  #reserve(like: Tensor, B: number, T: number): void {
    const need = this.#length + T;
    if (need > this.capacity) this.#grow(like, B, Math.max(need, 2 * this.capacity, this.initialCapacity));
  }

  /**
   * @internal For a native op that writes T positions itself (the engine's decode step,
   * attentionDecodeRagged): makes room for them and returns the buffers [1, capacity, H, D];
   * call advance(T) once the op is queued.
   */
  buffersFor(like: Tensor, T: number): { k: Tensor; v: Tensor } {
    if (this.#k && this.#k.shape[0] !== 1) throw new CtxwinError("ERR_SHAPE", `LayerCache.buffersFor: expected a batch-1 cache, got batch ${this.#k.shape[0]}`);
    this.#reserve(like, 1, T);
    return { k: this.#k!, v: this.#v! };
  }
  /** @internal T positions were written after the cached ones (see buffersFor). */
  advance(T: number): void {
    this.#length += T;
  }

  #grow(like: Tensor, B: number, capacity: number): void {
    const [, , H, D] = like.shape as [number, number, number, number];
    const shape = [B, capacity, H, D];
    const alloc = () => Tensor.from(new Float32Array(B * capacity * H * D), shape, { dtype: like.dtype, device: like.device });
    // owned by the cache, not by the forward that happened to grow it (kept if that forward fails)
    const k = keep(alloc());
    const v = keep(alloc());
    if (this.#k && this.#length > 0) {
      for (const [dst, src] of [[k, this.#k], [v, this.#v!]] as const) {
        const filled = ops.leading(src, 1, this.#length);
        ops.copyInto(dst, filled, 1, 0);
        filled.dispose();
      }
    }
    this.#k?.dispose();
    this.#v?.dispose();
    this.#k = k;
    this.#v = v;
  }

  dispose(): void {
    this.#k?.dispose();
    this.#v?.dispose();
    this.#k = this.#v = null;
    this.#length = 0;
  }
}

/**
 * What Attention.forward needs of a layer's cache: LayerCache implements it (bench/forward plugs
 * in the old append-by-concatenation cache beside it).
 */
export interface LayerKV {
  readonly length: number;
  /** Stores k/v [B, T, Hkv, D] after the cached positions; returns all of them (caller disposes). */
  append(k: Tensor, v: Tensor): { k: Tensor; v: Tensor };
  /**
   * Set when the batch's sequences have caches of their own (of different lengths: a batching
   * engine's decode step): sequence b's keys go to perSequence[b], and attention runs per sequence
   * (its queries after its own cached keys), while the projections around it stay batched.
   */
  readonly perSequence?: readonly LayerKV[];
}

/** What a model's forward takes as its cache: one LayerKV per layer. */
export interface ModelKV {
  readonly layers: readonly LayerKV[];
}

/** A KV cache for every layer of a model (inference only). */
export class KVCache implements ModelKV {
  readonly layers: LayerCache[];
  /**
   * @param numLayers the model's layers
   * @param capacity positions to make room for at once (prompt + new tokens + prefix; 0: as
   *   many as the first call writes); more grow the buffers ×2 when needed
   */
  constructor(numLayers: number, capacity = 0) {
    this.layers = Array.from({ length: numLayers }, () => new LayerCache(capacity));
  }
  /** Cached positions (prefix included). */
  get length(): number {
    return this.layers[0]?.length ?? 0;
  }
  dispose(): void {
    for (const l of this.layers) l.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * One forward over a batch of sequences that each have a KV cache of their own, of any lengths
 * (a batching engine's decode step): row b of the batch continues caches[b]. The projections
 * and MLPs run batched; attention runs per sequence (see LayerKV.perSequence). Owns nothing.
 */
export class SequenceBatch implements ModelKV {
  readonly layers: LayerKV[];
  constructor(caches: readonly KVCache[]) {
    if (caches.length === 0) throw new CtxwinError("ERR_ARG", "SequenceBatch: caches: expected at least one KVCache, got none");
    const L = caches[0]!.layers.length;
    if (caches.some((c) => c.layers.length !== L)) throw new CtxwinError("ERR_ARG", `SequenceBatch: caches: expected caches of ${L} layers each`);
    this.layers = Array.from({ length: L }, (_, l) => {
      const perSequence = caches.map((c) => c.layers[l]!);
      return {
        perSequence,
        // > 0 once every sequence was prefilled: the prefix (prefix tuning) is not added again
        get length() {
          return Math.min(...perSequence.map((c) => c.length));
        },
        append(): never {
          throw new CtxwinError("ERR_INTERNAL", "SequenceBatch: append: a per-sequence batch is appended to through its perSequence caches");
        },
      };
    });
  }
}

/** Per-call settings shared by every layer (set by the model's forward). */
export interface AttentionCall {
  /** The positional scheme (applied in the kernel). */
  positional: Positional;
  /** Sliding window (0 / undefined: none). */
  window?: number;
  /** Multiplies the default softmax scale 1/sqrt(D) (attention temperature). Default 1. */
  scaleMultiplier?: number;
  /** This layer's KV cache (no-grad inference only). */
  cache?: LayerKV;
  /** Layer index (for hooks). */
  layer?: number;
  /** Causal masking (decoders; default true); false: bidirectional (encoders). */
  causal?: boolean;
  /** Right padding: sequence b's tokens are its first keyLengths[b] (after any prefix). */
  keyLengths?: readonly number[];
  /**
   * Packed input (lib/nn/packing.ts): x is [N, dim], the real tokens of a right-padded batch, and
   * so is the output; the projections run on the N rows and only the kernel sees [B, T, ...]. The
   * packing's lengths are the call's keyLengths (keyLengths, if also given, must equal them).
   */
  packing?: TokenPacking;
  /**
   * Called with the head outputs o [B, T, Hq, D] before the output projection; may return a
   * replacement (one made in the hook is freed with the forward's other intermediates).
   */
  onHeads?: (layer: number, o: Variable) => Variable | void;
  /** Final say on the kernel options of this call. */
  onOptions?: (layer: number, opts: AttentionOptions) => AttentionOptions;
  /**
   * Reads the kernel's inputs: q [B, T, Hq, D] and k [B, Tk, Hkv, D] (prefix and cached keys
   * included, unrotated) with the final kernel options, just before the attention call. The
   * tensors belong to the forward: use them (e.g. enqueue ops on them) within the call.
   */
  onQK?: (layer: number, q: Tensor, k: Tensor, opts: AttentionOptions) => void;
}

export interface AttentionConfig {
  dim: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Bias on q/k/v projections (Qwen2, BLOOM). */
  qkvBias?: boolean;
  /** Bias on the output projection (BLOOM). */
  outBias?: boolean;
  /** Child names; default q_proj, k_proj, v_proj, o_proj. */
  names?: { q?: string; k?: string; v?: string; o?: string };
}

export class Attention extends Module {
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly o: Linear;
  /**
   * The keys/values this layer prepends, [1, P, Hkv, D], or null: its own parameters (setPrefix),
   * or Variables lent for one forward by whoever computes them (usePrefix, e.g. an MLP-
   * reparameterised prefix).
   */
  prefixKeys: Variable | null = null;
  prefixValues: Variable | null = null;
  /** True while prefixKeys/prefixValues are registered parameters of this module (setPrefix). */
  #ownsPrefix = false;
  /**
   * Adaptive prefix tuning gates (setGates), or null: with them the prefix is not prepended but
   * attended beside the real tokens with every (token, prefix token) pair's key and value scaled
   * by λ·sigmoid(x·Wᵀ) (F.gatedPrefixAttention); x is this module's input.
   */
  gates: AttentionGates | null = null;
  /** Called with every forward's gate logits [B, T or 1, P] (analysis: meanAptGates). */
  onGateLogits: ((logits: Tensor, keyLengths: readonly number[] | undefined) => void) | null = null;

  constructor(b: Builder, cfg: AttentionConfig) {
    super();
    if (cfg.heads % cfg.kvHeads !== 0) throw new CtxwinError("ERR_ARG", `Attention: kvHeads: expected a divisor of heads = ${cfg.heads}, got ${cfg.kvHeads}`);
    this.heads = cfg.heads;
    this.kvHeads = cfg.kvHeads;
    this.headDim = cfg.headDim;
    const n = { q: "q_proj", k: "k_proj", v: "v_proj", o: "o_proj", ...cfg.names };
    const qd = cfg.heads * cfg.headDim;
    const kd = cfg.kvHeads * cfg.headDim;
    this.q = this.module(n.q, new Linear(b.sub(n.q), cfg.dim, qd, { bias: cfg.qkvBias }));
    this.k = this.module(n.k, new Linear(b.sub(n.k), cfg.dim, kd, { bias: cfg.qkvBias }));
    this.v = this.module(n.v, new Linear(b.sub(n.v), cfg.dim, kd, { bias: cfg.qkvBias }));
    this.o = this.module(n.o, new Linear(b.sub(n.o), qd, cfg.dim, { bias: cfg.outBias }));
  }

  /** Number of prefix positions P (0 without prefix). */
  get prefixLength(): number {
    return this.prefixKeys ? this.prefixKeys.shape[1]! : 0;
  }

  /**
   * Attaches prefix keys/values ([P, Hkv, D] or [1, P, Hkv, D]; the module owns them) as the
   * parameters "prefix_keys" / "prefix_values"; null removes (and disposes) them.
   */
  setPrefix(keys: Tensor | null, values: Tensor | null = null): void {
    if (this.prefixKeys && this.#ownsPrefix) {
      this.unregister("prefix_keys");
      this.unregister("prefix_values");
      (this.prefixKeys as Parameter).dispose();
      (this.prefixValues as Parameter).dispose();
    }
    this.prefixKeys = this.prefixValues = null;
    this.#ownsPrefix = false;
    if (!keys) return;
    if (!values) throw new CtxwinError("ERR_ARG", "Attention.setPrefix: values: expected a Tensor with the keys' shape, got null");
    const want = (t: Tensor, what: string): Tensor => {
      const s = t.shape.length === 3 ? [1, ...t.shape] : [...t.shape];
      if (s.length !== 4 || s[0] !== 1 || s[2] !== this.kvHeads || s[3] !== this.headDim || s[1]! < 1) {
        throw new CtxwinError("ERR_SHAPE", `Attention.setPrefix: ${what}: expected shape [P, ${this.kvHeads}, ${this.headDim}], got [${t.shape.join(", ")}]`);
      }
      if (t.shape.length === 4) return t;
      const r = t.reshape(s);
      t.dispose();
      return r;
    };
    const k = want(keys, "keys");
    const v = want(values, "values");
    if (k.shape[1] !== v.shape[1]) throw new CtxwinError("ERR_SHAPE", `Attention.setPrefix: values: expected ${k.shape[1]} positions (as keys), got ${v.shape[1]}`);
    this.prefixKeys = this.param("prefix_keys", k);
    this.prefixValues = this.param("prefix_values", v);
    this.#ownsPrefix = true;
  }

  /**
   * Lends this layer prefix keys/values [1, P, Hkv, D] for the forwards until the next call
   * (the caller owns them and keeps them alive meanwhile; null ends the loan). Gradients flow back
   * into whatever computed them. Not with parameters of its own (setPrefix(null) first).
   */
  usePrefix(keys: Variable | null, values: Variable | null = null): void {
    if (this.#ownsPrefix) throw new CtxwinError("ERR_ARG", "Attention.usePrefix: expected a layer without prefix parameters of its own (setPrefix(null) first)");
    if (keys && (!values || keys.shape.length !== 4 || keys.shape[0] !== 1 || keys.shape[2] !== this.kvHeads || keys.shape[3] !== this.headDim || values.shape.join() !== keys.shape.join())) {
      throw new CtxwinError("ERR_SHAPE", `Attention.usePrefix: keys, values: expected two Variables of shape [1, P, ${this.kvHeads}, ${this.headDim}], got [${keys.shape.join(", ")}] and ${values ? `[${values.shape.join(", ")}]` : "null"}`);
    }
    this.prefixKeys = keys;
    this.prefixValues = keys ? values : null;
  }

  /**
   * Attaches APT gates to a module with a prefix: weight W [P, dim] (gate logits x·Wᵀ), lambda
   * [1]; `pooled`: one gate row per sequence from the mean of its real tokens' inputs instead of
   * one per token. The module owns the tensors ("apt_gate", "apt_lambda"); null removes them.
   */
  setGates(weight: Tensor | null, lambda: Tensor | null = null, opts: { pooled?: boolean } = {}): void {
    if (this.gates) {
      this.unregister("apt_gate");
      this.unregister("apt_lambda");
      this.gates.weight.dispose();
      this.gates.lambda.dispose();
      this.gates = null;
    }
    if (!weight) return;
    const P = this.prefixLength;
    const dim = this.q.inFeatures;
    if (P === 0) throw new CtxwinError("ERR_ARG", "Attention.setGates: module: expected a prefix (setPrefix) before its gates, got none");
    if (weight.shape.length !== 2 || weight.shape[0] !== P || weight.shape[1] !== dim) {
      throw new CtxwinError("ERR_SHAPE", `Attention.setGates: weight: expected shape [${P}, ${dim}] (prefix length, input dim), got [${weight.shape.join(", ")}]`);
    }
    if (!lambda || lambda.shape.length !== 1 || lambda.shape[0] !== 1) {
      throw new CtxwinError("ERR_SHAPE", `Attention.setGates: lambda: expected a Tensor of shape [1], got ${lambda ? `[${lambda.shape.join(", ")}]` : "null"}`);
    }
    this.gates = { weight: this.param("apt_gate", weight), lambda: this.param("apt_lambda", lambda), pooled: opts.pooled ?? false };
  }

  /** x [B, T, dim] → [B, T, dim]; with call.packing, x [N, dim] → [N, dim]. */
  forward(x: Variable, call: AttentionCall): Variable {
    const packing = call.packing;
    if (packing) call = { ...call, keyLengths: packedLengths(call, packing) };
    return tidy(() => {
      const [B, T] = packing ? [packing.B, packing.T] : (x.shape as [number, number, number]);
      const H = this.heads;
      const Hkv = this.kvHeads;
      const D = this.headDim;
      const layer = call.layer ?? 0;
      const P = this.prefixLength;
      const cache = call.cache;
      if (cache && activeTape()) throw new CtxwinError("ERR_ARG", "Attention.forward: cache: a KV cache is for inference; run the forward in noGrad (or without a tape)");

      // projections on the rows given (packed: real tokens only); the kernel takes [B, T, heads, D]
      const heads = (y: Variable, n: number): Variable => F.reshape(packing ? packing.unpack(y) : y, [B, T, n, D]);
      const q = heads(this.q.forward(x), H);
      let k = heads(this.k.forward(x), Hkv);
      let v = heads(this.v.forward(x), Hkv);
      let o: Variable;
      if (this.gates) o = this.#gatedHeads(x, q, k, v, call);
      else {
        // the prefix goes before the first real token: once per forward, or once into a new cache
        if (P > 0 && (!cache || cache.length === 0)) {
          k = F.concat(F.repeatBatch(this.prefixKeys!, B), k, 1);
          v = F.concat(F.repeatBatch(this.prefixValues!, B), v, 1);
        }
        if (call.keyLengths && cache) throw new CtxwinError("ERR_ARG", "forward: keyLengths: expected no cache (padding is for batched forwards without one)");
        const opts = this.#kernelOptions(call, P);
        if (cache?.perSequence) {
          o = new Variable(attendPerSequence(q.value, k.value, v.value, cache.perSequence, opts));
        } else {
          if (cache) {
            const all = cache.append(k.value, v.value);
            k = new Variable(all.k);
            v = new Variable(all.v);
          }
          call.onQK?.(layer, q.value, k.value, opts);
          o = F.attention(q, k, v, opts);
        }
      }
      if (call.onHeads) o = call.onHeads(layer, o) ?? o;
      const flat = F.reshape(o, [B, T, H * D]);
      return this.o.forward(packing ? packing.pack(flat) : flat);
    });
  }

  /**
   * The kernel options of a call: `prefixKeys` keys prepended (never rotated; every sequence's
   * padding length counts them), then the caller's onOptions.
   */
  #kernelOptions(call: AttentionCall, prefixKeys: number): AttentionOptions {
    const opts: AttentionOptions = {
      causal: call.causal ?? true,
      softmaxScale: (call.scaleMultiplier ?? 1) / Math.sqrt(this.headDim),
      positional: call.positional,
      prefixKeys,
    };
    if (call.window) opts.window = call.window;
    if (call.keyLengths) opts.keyLengths = call.keyLengths.map((n) => prefixKeys + n); // the prefix keys belong to every sequence
    return call.onOptions ? call.onOptions(call.layer ?? 0, opts) : opts;
  }

  /** The head outputs o [B, T, Hq, D] with APT gates (inside forward's tidy scope): the prefix is not prepended but gated beside the real tokens. */
  #gatedHeads(x: Variable, q: Variable, k: Variable, v: Variable, call: AttentionCall): Variable {
    const fn = "Attention.forward";
    const B = q.shape[0]!;
    const { kvHeads: Hkv, headDim: D } = this;
    const P = this.prefixLength;
    const gates = this.gates!;
    if (call.cache) throw new CtxwinError("ERR_ARG", `${fn}: cache: adaptive prefix tuning gates run without a KV cache (training, scoring, classification)`);
    if (call.positional.type !== "none") {
      throw new CtxwinError("ERR_ARG", `${fn}: positional: adaptive prefix tuning gates need positional "none" (encoders, NoPE decoders: the gated prefix part sees the queries unrotated), got "${call.positional.type}"`);
    }
    const opts = this.#kernelOptions(call, 0);
    const packing = call.packing;
    let logits: Variable;
    if (gates.pooled) {
      const mean = packing ? packing.meanPerSequence(x) : meanOfTokens(x, call.keyLengths);
      logits = F.reshape(F.linear(mean, gates.weight), [B, 1, P]);
    } else logits = packing ? packing.unpack(F.linear(x, gates.weight)) : F.linear(x, gates.weight);
    this.onGateLogits?.(logits.value, call.keyLengths);
    const pk = F.reshape(this.prefixKeys!, [P, Hkv, D]);
    const pv = F.reshape(this.prefixValues!, [P, Hkv, D]);
    return F.gatedPrefixAttention(q, k, v, pk, pv, logits, gates.lambda, opts);
  }
}

/** APT gate parameters of one attention module (Attention.setGates). */
export interface AttentionGates {
  /** W [P, dim]: gate logits x·Wᵀ. */
  weight: Parameter;
  /** λ [1]: scales the whole prefix against the real tokens. */
  lambda: Parameter;
  /** One gate row per sequence (mean of its real tokens' inputs) instead of one per token. */
  pooled: boolean;
}

/** The keyLengths of a packed call: the packing's (a keyLengths given beside it must equal them). */
function packedLengths(call: AttentionCall, packing: TokenPacking): readonly number[] {
  const fn = "Attention.forward";
  if (call.cache) throw new CtxwinError("ERR_ARG", `${fn}: packing: expected no cache (packed rows are for batched forwards without one)`);
  if (call.keyLengths && (call.keyLengths.length !== packing.B || call.keyLengths.some((n, b) => n !== packing.lengths[b]))) {
    throw new CtxwinError("ERR_ARG", `${fn}: keyLengths: expected the packing's lengths [${packing.lengths.join(", ")}] (or none), got [${call.keyLengths.join(", ")}]`);
  }
  return packing.lengths;
}

/** Mean of x [B, T, d] over each sequence's first keyLengths[b] positions (all T without) → [B, d]. */
function meanOfTokens(x: Variable, keyLengths: readonly number[] | undefined): Variable {
  const [B, T, d] = x.shape as [number, number, number];
  const avg = new Float32Array(B * B * T);
  for (let b = 0; b < B; b++) {
    const n = keyLengths?.[b] ?? T;
    for (let t = 0; t < n; t++) avg[b * B * T + b * T + t] = 1 / n;
  }
  using a = Tensor.from(avg, [B, B * T], { device: x.value.device, dtype: x.value.dtype });
  return F.matmul(constant(a), F.reshape(x, [B * T, d]));
}

/**
 * Attention of a batch whose sequences have caches of their own (inference): sequence b's new
 * keys/values go to caches[b], and its queries attend to that cache alone (at its own positions).
 * Returns o [B, T, Hq, D].
 */
function attendPerSequence(q: Tensor, k: Tensor, v: Tensor, caches: readonly LayerKV[], opts: AttentionOptions): Tensor {
  const B = q.shape[0]!;
  if (caches.length !== B) throw new CtxwinError("ERR_ARG", `Attention.forward: cache: expected ${B} per-sequence caches (the batch), got ${caches.length}`);
  if (q.device === "cpu" && caches.every((c) => c instanceof LayerCache)) {
    // one native job for the whole batch (writes and attention per sequence), not ~7 ops each
    const T = k.shape[1]!; // new keys: the queries' tokens, and the prefix before a fresh cache's first
    const lc = caches as readonly LayerCache[];
    const lengths = lc.map((c) => c.length);
    const bufs = lc.map((c) => c.buffersFor(k, T));
    const out = attentionDecodeRagged(q, k, v, bufs.map((x) => x.k), bufs.map((x) => x.v), lengths, opts);
    for (const c of lc) c.advance(T);
    return out;
  }
  const out = ops.fill(q, 0);
  caches.forEach((c, b) => {
    using qb = ops.slice(q, 0, b, b + 1);
    using kb = ops.slice(k, 0, b, b + 1);
    using vb = ops.slice(v, 0, b, b + 1);
    const all = c.append(kb, vb);
    using ka = all.k;
    using va = all.v;
    using ob = attentionOp(qb, ka, va, opts);
    ops.copyInto(out, ob, 0, b);
  });
  return out;
}
