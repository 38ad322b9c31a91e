/**
 * Multi-head attention module (GQA, optional q/k/v and output biases, prefix keys/values, KV cache)
 * over the fused kernel: RoPE / ALiBi / windows are applied INSIDE the kernel, so this module never
 * rotates anything. Shapes:
 *   x [B, T, dim] → q [B, T, Hq, D], k/v [B, T, Hkv, D]
 *   prefix (prefix tuning): keys/values [1, P, Hkv, D], prepended as they are (never rotated:
 *     `prefixKeys: P` in the kernel call); the real tokens' positions start at P.
 *   cache (inference): per layer k/v [B, Tpast, Hkv, D] (prefix included); new keys are appended
 *     and the queries sit at positions Tk − T … Tk − 1 (the kernel's default queryOffset).
 *   head outputs o [B, T, Hq, D] → reshaped [B, T, Hq·D] → o_proj → [B, T, dim]
 */
import { CtxwinError } from "../errors.js";
import { Tensor } from "../tensor.js";
import type { AttentionOptions } from "../attention.js";
import type { Positional } from "../positional.js";
import * as ops from "../ops/index.js";
import { activeTape, constant, Parameter, Variable } from "./autograd.js";
import * as F from "./functional.js";
import { Builder } from "./init.js";
import { Linear } from "./layers.js";
import { Module } from "./module.js";

/** One layer's cached keys/values [B, Tk, Hkv, D] (prefix included). */
export class LayerCache {
  k: Tensor | null = null;
  v: Tensor | null = null;
  get length(): number {
    return this.k ? this.k.shape[1]! : 0;
  }
  dispose(): void {
    this.k?.dispose();
    this.v?.dispose();
    this.k = this.v = null;
  }
}

/** A KV cache for every layer of a model (inference only). */
export class KVCache {
  readonly layers: LayerCache[];
  constructor(numLayers: number) {
    this.layers = Array.from({ length: numLayers }, () => new LayerCache());
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

/** Per-call settings shared by every layer (set by the model's forward). */
export interface AttentionCall {
  /** The positional scheme (applied in the kernel). */
  positional: Positional;
  /** Sliding window (0 / undefined: none). */
  window?: number;
  /** Multiplies the default softmax scale 1/sqrt(D) (attention temperature). Default 1. */
  scaleMultiplier?: number;
  /** This layer's KV cache (no-grad inference only). */
  cache?: LayerCache;
  /** Layer index (for hooks). */
  layer?: number;
  /** Called with the head outputs o [B, T, Hq, D] before the output projection; may return a replacement. */
  onHeads?: (layer: number, o: Variable) => Variable | void;
  /** Final say on the kernel options of this call. */
  onOptions?: (layer: number, opts: AttentionOptions) => AttentionOptions;
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
  /** Prefix-tuning keys/values [1, P, Hkv, D] (see setPrefix), or null. */
  prefixKeys: Parameter | null = null;
  prefixValues: Parameter | null = null;

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
    if (this.prefixKeys) {
      this.unregister("prefix_keys");
      this.unregister("prefix_values");
      this.prefixKeys.dispose();
      this.prefixValues!.dispose();
      this.prefixKeys = this.prefixValues = null;
    }
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
  }

  /** x [B, T, dim] → [B, T, dim]. */
  forward(x: Variable, call: AttentionCall): Variable {
    const [B, T] = x.shape as [number, number, number];
    const H = this.heads;
    const Hkv = this.kvHeads;
    const D = this.headDim;
    const layer = call.layer ?? 0;
    const P = this.prefixLength;

    const q0 = this.q.forward(x);
    const q = F.reshape(q0, [B, T, H, D]);
    q0.release();
    const k0 = this.k.forward(x);
    let k = F.reshape(k0, [B, T, Hkv, D]);
    k0.release();
    const v0 = this.v.forward(x);
    let v = F.reshape(v0, [B, T, Hkv, D]);
    v0.release();

    if (call.cache) {
      if (activeTape()) throw new CtxwinError("ERR_ARG", "Attention.forward: cache: a KV cache is for inference; run the forward in noGrad (or without a tape)");
      const c = call.cache;
      if (c.k === null && P > 0) {
        c.k = batched(this.prefixKeys!.value, B);
        c.v = batched(this.prefixValues!.value, B);
      }
      if (c.k !== null) {
        if (c.k.shape[0] !== B) throw new CtxwinError("ERR_SHAPE", `Attention.forward: cache: expected batch ${B}, got a cache of batch ${c.k.shape[0]}`);
        const kAll = ops.concat(c.k, k.value, 1);
        const vAll = ops.concat(c.v!, v.value, 1);
        c.k.dispose();
        c.v!.dispose();
        c.k = kAll;
        c.v = vAll;
      } else {
        c.k = ops.scale(k.value, 1);
        c.v = ops.scale(v.value, 1);
      }
      k.release();
      v.release();
      k = constant(c.k);
      v = constant(c.v!);
    } else if (P > 0) {
      const pk = F.repeatBatch(this.prefixKeys!, B);
      const pv = F.repeatBatch(this.prefixValues!, B);
      const kAll = F.concat(pk, k, 1);
      const vAll = F.concat(pv, v, 1);
      pk.release();
      pv.release();
      k.release();
      v.release();
      k = kAll;
      v = vAll;
    }

    let opts: AttentionOptions = {
      causal: true,
      softmaxScale: (call.scaleMultiplier ?? 1) / Math.sqrt(D),
      positional: call.positional,
      prefixKeys: P,
    };
    if (call.window) opts.window = call.window;
    if (call.onOptions) opts = call.onOptions(layer, opts);
    let o = F.attention(q, k, v, opts);
    q.release();
    k.release();
    v.release();
    if (call.onHeads) {
      const r = call.onHeads(layer, o);
      if (r && r !== o) {
        o.release();
        o = r;
      }
    }
    const o2 = F.reshape(o, [B, T, H * D]);
    o.release();
    const y = this.o.forward(o2);
    o2.release();
    return y;
  }
}

/** t [1, P, Hkv, D] repeated to [B, P, Hkv, D] (a new tensor). */
function batched(t: Tensor, B: number): Tensor {
  let acc = ops.scale(t, 1);
  for (let i = 1; i < B; i++) {
    const n = ops.concat(acc, t, 0);
    acc.dispose();
    acc = n;
  }
  return acc;
}
