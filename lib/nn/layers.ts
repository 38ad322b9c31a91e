/**
 * Basic layers. Every constructor takes a `Builder` (lib/nn/init.ts) positioned at the module's
 * own dotted name; parameter names follow PyTorch/HF ("weight", "bias").
 *   Linear     x [..., in]  → [..., out]   weight [out, in], bias [out]; optional LoRA (A [r, in], B [out, r])
 *   Embedding  ids [...]    → [..., d]     weight [V, d]
 *   RMSNorm    x [..., d]   → [..., d]     weight [d]
 *   LayerNorm  x [..., d]   → [..., d]     weight [d], bias [d]
 *   MLP        x [..., d]   → [..., d]     swiglu: gate_proj/up_proj [f, d], down_proj [d, f];
 *                                          gelu: up [f, d] (+bias), down [d, f] (+bias), tanh-GELU
 */
import { CtxwinError } from "../errors.js";
import { Tensor } from "../tensor.js";
import { Parameter, tidy, Variable } from "./autograd.js";
import * as F from "./functional.js";
import { Builder } from "./init.js";
import { Module } from "./module.js";

/** Low-rank adapter state of a Linear: y += scale · (x·Aᵀ)·Bᵀ. */
export interface LoraState {
  A: Parameter; // [r, in]
  B: Parameter; // [out, r]
  scale: number;
}

export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  /** LoRA adapter (see lib/peft); null when none is attached. */
  lora: LoraState | null = null;

  constructor(b: Builder, inFeatures: number, outFeatures: number, opts: { bias?: boolean } = {}) {
    super();
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.weight = this.param("weight", b.make("weight", [outFeatures, inFeatures], "linear"));
    this.bias = opts.bias ? this.param("bias", b.make("bias", [outFeatures], "bias")) : null;
  }

  forward(x: Variable): Variable {
    const lora = this.lora;
    if (!lora) return F.linear(x, this.weight, this.bias);
    return tidy(() => F.add(F.linear(x, this.weight, this.bias), F.scale(F.linear(F.linear(x, lora.A), lora.B), lora.scale)));
  }

  /**
   * Attaches a LoRA adapter (A [r, in], B [out, r]; Tensors are owned by the module, a Parameter is
   * shared, e.g. one A for BLOOM's split q/k/v); registers "lora_A.weight" / "lora_B.weight".
   */
  attachLora(A: Tensor | Parameter, B: Tensor | Parameter, scale: number): LoraState {
    if (this.lora) this.detachLora();
    const r = A.shape[0]!;
    if (A.shape.length !== 2 || A.shape[1] !== this.inFeatures) {
      throw new CtxwinError("ERR_SHAPE", `Linear.attachLora: A: expected shape [r, ${this.inFeatures}], got [${A.shape.join(", ")}]`);
    }
    if (B.shape.length !== 2 || B.shape[0] !== this.outFeatures || B.shape[1] !== r) {
      throw new CtxwinError("ERR_SHAPE", `Linear.attachLora: B: expected shape [${this.outFeatures}, ${r}], got [${B.shape.join(", ")}]`);
    }
    this.lora = { A: this.param("lora_A.weight", A), B: this.param("lora_B.weight", B), scale };
    return this.lora;
  }

  /** Removes the adapter (disposing its weights unless keep). */
  detachLora(keep = false): LoraState | null {
    const l = this.lora;
    if (!l) return null;
    this.unregister("lora_A.weight");
    this.unregister("lora_B.weight");
    this.lora = null;
    if (!keep) {
      l.A.dispose();
      l.B.dispose();
    }
    return l;
  }
}

export class Embedding extends Module {
  readonly weight: Parameter;
  constructor(b: Builder, readonly vocab: number, readonly dim: number) {
    super();
    this.weight = this.param("weight", b.make("weight", [vocab, dim], "embedding"));
  }
  /** ids: an f32 Tensor of token ids, any shape → [...ids.shape, dim]. */
  forward(ids: Tensor): Variable {
    return F.embedding(this.weight, ids);
  }
}

/** A normalisation layer over the last dim. */
export interface Norm extends Module {
  forward(x: Variable): Variable;
}

export class RMSNorm extends Module implements Norm {
  readonly weight: Parameter;
  constructor(b: Builder, readonly dim: number, readonly eps: number) {
    super();
    this.weight = this.param("weight", b.make("weight", [dim], "norm-weight"));
  }
  forward(x: Variable): Variable {
    return F.rmsnorm(x, this.weight, this.eps);
  }
}

export class LayerNorm extends Module implements Norm {
  readonly weight: Parameter;
  readonly bias: Parameter;
  constructor(b: Builder, readonly dim: number, readonly eps: number) {
    super();
    this.weight = this.param("weight", b.make("weight", [dim], "norm-weight"));
    this.bias = this.param("bias", b.make("bias", [dim], "norm-bias"));
  }
  forward(x: Variable): Variable {
    return F.layernorm(x, this.weight, this.bias, this.eps);
  }
}

export interface MLPOptions {
  /** "swiglu": down(silu(gate(x))·up(x)) (Llama); "gelu": down(gelu_tanh(up(x))) (BLOOM). */
  kind: "swiglu" | "gelu";
  bias?: boolean;
  /** Child names; defaults gate_proj/up_proj/down_proj. */
  names?: { gate?: string; up?: string; down?: string };
}

export class MLP extends Module {
  readonly kind: "swiglu" | "gelu";
  readonly gate: Linear | null;
  readonly up: Linear;
  readonly down: Linear;
  constructor(b: Builder, dim: number, hidden: number, opts: MLPOptions) {
    super();
    this.kind = opts.kind;
    const n = { gate: "gate_proj", up: "up_proj", down: "down_proj", ...opts.names };
    this.gate = opts.kind === "swiglu" ? this.module(n.gate, new Linear(b.sub(n.gate), dim, hidden, { bias: opts.bias })) : null;
    this.up = this.module(n.up, new Linear(b.sub(n.up), dim, hidden, { bias: opts.bias }));
    this.down = this.module(n.down, new Linear(b.sub(n.down), hidden, dim, { bias: opts.bias }));
  }
  forward(x: Variable): Variable {
    return tidy(() => {
      const h = this.gate ? F.swiglu(this.gate.forward(x), this.up.forward(x)) : F.gelu(this.up.forward(x));
      return this.down.forward(h);
    });
  }
}
