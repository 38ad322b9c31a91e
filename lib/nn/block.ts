/**
 * Pre-norm residual transformer block:
 *   h = norm1(x);  x' = (residualFromNorm ? h : x) + attn(h)
 *   h' = norm2(x'); y = (residualFromNorm ? h' : x') + mlp(h')
 * x, y: [B, T, dim]. `residualFromNorm` is BLOOM's apply_residual_connection_post_layernorm.
 *
 * Activation checkpointing (`block.checkpoint = true`, or per call): with a tape recording, the
 * block's forward runs without recording and only its input is kept; the backward recomputes the
 * forward under an inner tape and backpropagates through it (parameter gradients accumulate
 * directly). Hooks inside a checkpointed block run twice (forward and recompute).
 */
import { activeTape, emit, noGrad, Tape, tidy, Variable } from "./autograd.js";
import * as F from "./functional.js";
import { Attention, type AttentionCall } from "./attention.js";
import { MLP, type Norm } from "./layers.js";
import { Module } from "./module.js";

export interface BlockParts {
  norm1: Norm;
  attn: Attention;
  norm2: Norm;
  mlp: MLP;
  /** Registration names of the parts (HF names), e.g. input_layernorm, self_attn, post_attention_layernorm, mlp. */
  names: { norm1: string; attn: string; norm2: string; mlp: string };
  residualFromNorm?: boolean;
}

export class Block extends Module {
  readonly norm1: Norm;
  readonly attn: Attention;
  readonly norm2: Norm;
  readonly mlp: MLP;
  readonly residualFromNorm: boolean;
  /** Recompute this block's forward in the backward (saves activation memory). */
  checkpoint = false;

  constructor(parts: BlockParts) {
    super();
    this.norm1 = this.module(parts.names.norm1, parts.norm1);
    this.attn = this.module(parts.names.attn, parts.attn);
    this.norm2 = this.module(parts.names.norm2, parts.norm2);
    this.mlp = this.module(parts.names.mlp, parts.mlp);
    this.residualFromNorm = parts.residualFromNorm ?? false;
  }

  forward(x: Variable, call: AttentionCall, opts: { checkpoint?: boolean } = {}): Variable {
    const ckpt = opts.checkpoint ?? this.checkpoint;
    if (ckpt && activeTape() && !call.cache) return this.#checkpointed(x, call);
    return this.#forward(x, call);
  }

  #forward(x: Variable, call: AttentionCall): Variable {
    return tidy(() => {
      const h = this.norm1.forward(x);
      const x2 = F.add(this.residualFromNorm ? h : x, this.attn.forward(h, call));
      const h2 = this.norm2.forward(x2);
      return F.add(this.residualFromNorm ? h2 : x2, this.mlp.forward(h2));
    });
  }

  #checkpointed(x: Variable, call: AttentionCall): Variable {
    const params = this.trainable();
    const yv = noGrad(() => this.#forward(x, call));
    const y = yv.detachValue();
    return emit("checkpointedBlock", [x, ...params], y, (g, ctx) => {
      const inner = new Tape();
      try {
        return tidy(() => {
          const xl = new Variable(x.value, { requiresGrad: ctx.needs(0), borrowed: true });
          const out = inner.run(() => this.#forward(xl, call));
          if (out.requiresGrad) inner.backward(out, { gradient: g });
          const dx = xl.grad;
          xl.grad = null;
          return [dx, ...params.map(() => null)];
        });
      } finally {
        inner.dispose();
      }
    }, { save: [x] });
  }
}
