/**
 * P-tuning v2's MLP reparameterisation of the prefix = PEFT PREFIX_TUNING with
 * prefix_projection=True (peft 0.21's PrefixEncoder, same parameter names):
 *   embedding.weight     [P, td]            td = Hkv·D (PEFT's token_dim)
 *   transform.0          Linear(td, h)      then tanh
 *   transform.2          Linear(h, L·2·td)
 *   out [P, L·2·td] viewed as [P, L·2, Hkv, D]: layer l's keys at index 2l, values at 2l + 1
 * computed every forward (a PrefixProvider), so gradients reach the embedding and the MLP.
 * PEFT saves the computed out as prompt_embeddings (promptEmbeddings()), which is what a loaded
 * adapter uses (no MLP at inference).
 */
import { Tensor, type Device, type DType } from "../tensor.js";
import { noGrad, Parameter, tidy, Variable } from "../nn/autograd.js";
import * as F from "../nn/functional.js";
import { Module } from "../nn/module.js";
import type { Attention } from "../nn/attention.js";
import type { PrefixProvider } from "../nn/prefix_provider.js";
import { Rng } from "../util/rng.js";

export interface PrefixProjectionShape {
  numVirtualTokens: number;
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  /** The MLP's hidden width (PEFT's encoder_hidden_size). */
  hiddenSize: number;
}

export class PrefixProjection extends Module implements PrefixProvider {
  readonly shape: PrefixProjectionShape;
  readonly embedding: Parameter;
  readonly w1: Parameter;
  readonly b1: Parameter;
  readonly w2: Parameter;
  readonly b2: Parameter;
  readonly #attentions: readonly Attention[];

  /** Random init as torch: embedding normal(0, std); Linear weights and biases U(±1/√fan_in). */
  constructor(shape: PrefixProjectionShape, attentions: readonly Attention[], opts: { seed: number; std: number; device: Device; dtype: DType }) {
    super();
    this.shape = { ...shape };
    this.#attentions = attentions;
    const { numVirtualTokens: P, numLayers: L, hiddenSize: h } = shape;
    const td = shape.numKvHeads * shape.headDim;
    const rng = new Rng(opts.seed);
    const t = (data: Float32Array, dims: number[]): Tensor => {
      const x = Tensor.from(data, dims, { device: opts.device });
      if (opts.dtype === "f32") return x;
      const y = x.to(opts.dtype);
      x.dispose();
      return y;
    };
    const uniform = (n: number, fanIn: number): Float32Array => {
      const a = 1 / Math.sqrt(fanIn);
      return Float32Array.from({ length: n }, () => rng.uniform(-a, a));
    };
    this.embedding = this.param("embedding.weight", t(rng.normals(P * td, opts.std), [P, td]));
    this.w1 = this.param("transform.0.weight", t(uniform(h * td, td), [h, td]));
    this.b1 = this.param("transform.0.bias", t(uniform(h, td), [h]));
    this.w2 = this.param("transform.2.weight", t(uniform(L * 2 * td * h, h), [L * 2 * td, h]));
    this.b2 = this.param("transform.2.bias", t(uniform(L * 2 * td, h), [L * 2 * td]));
  }

  /** The projected prefix [P, L·2·td] (PEFT's prompt_embeddings). Records on an active tape. */
  project(): Variable {
    return tidy(() => F.linear(F.tanh(F.linear(this.embedding, this.w1, this.b1)), this.w2, this.b2));
  }

  /** Layer l's keys and values, [1, P, Hkv, D] each, from one projection. */
  perLayer(): { keys: Variable; values: Variable }[] {
    const { numVirtualTokens: P, numLayers: L, numKvHeads: H, headDim: D } = this.shape;
    return tidy(() => {
      const out = F.reshape(this.project(), [P, 2 * L, H, D]);
      return Array.from({ length: L }, (_, l) => ({
        keys: F.reshape(F.slice(out, 1, 2 * l, 2 * l + 1), [1, P, H, D]),
        values: F.reshape(F.slice(out, 1, 2 * l + 1, 2 * l + 2), [1, P, H, D]),
      }));
    });
  }

  provide(): () => void {
    const kv = this.perLayer();
    this.#attentions.forEach((a, l) => a.usePrefix(kv[l]!.keys, kv[l]!.values));
    return () => {
      for (const a of this.#attentions) a.usePrefix(null);
    };
  }

  /** prompt_embeddings as f32 values [P, L·2·td] (no gradient). */
  async promptEmbeddings(): Promise<Float32Array> {
    using t = noGrad(() => this.project().detachValue());
    if (t.dtype === "f32") return await t.data();
    using f = t.to("f32");
    return await f.data();
  }
}
