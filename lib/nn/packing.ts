/**
 * Token packing for right-padded batches: the per-token work of a layer (projections, MLP, norms)
 * runs on the N real tokens only, [N, d], and only attention sees the padded layout [B, T, ...]
 * (where the kernel's per-sequence key lengths make padding free). On a batch of lengths 64..128
 * padded to 128 that skips a quarter of every GEMM. The same idea as FlashAttention's unpad /
 * varlen path, done with two gathers around the attention kernel instead of a varlen kernel.
 *
 *   pack    x [B, T, ...] → [N, ...]   rows b·T + t for t < lengths[b], in (b, t) order
 *   unpack  x [N, ...]    → [B, T, ...] padding rows are 0
 *
 * Both are row gathers (the embedding op), so their backward is a scatter-add (exact: every row
 * is picked at most once, apart from unpack's shared zero row, which has no gradient to keep).
 */
import { CtxwinError, show } from "../errors.js";
import { Tensor, type Device } from "../tensor.js";
import { constant, Variable } from "./autograd.js";
import * as F from "./functional.js";

export class TokenPacking implements Disposable {
  readonly B: number;
  readonly T: number;
  /** Real tokens (the sum of the lengths). */
  readonly N: number;
  readonly lengths: readonly number[];
  /** [N]: the padded row b·T + t of each packed row. */
  readonly #packIndex: Tensor;
  /** [B·T]: the packed row of each padded row; N (the appended zero row) for padding. */
  readonly #unpackIndex: Tensor;

  /**
   * Packing for a right-padded [B, T] batch whose sequence b has lengths[b] tokens (1 ≤ lengths[b]
   * ≤ T); index tensors live on `device`.
   */
  constructor(B: number, T: number, lengths: readonly number[], device: Device) {
    if (!Array.isArray(lengths) || lengths.length !== B) {
      throw new CtxwinError("ERR_ARG", `TokenPacking: lengths: expected ${B} lengths (one per sequence), got ${show(lengths)}`);
    }
    let N = 0;
    lengths.forEach((n, b) => {
      if (!Number.isInteger(n) || n < 1 || n > T) throw new CtxwinError("ERR_ARG", `TokenPacking: lengths[${b}]: expected an integer in [1, ${T}], got ${show(n)}`);
      N += n;
    });
    this.B = B;
    this.T = T;
    this.N = N;
    this.lengths = [...lengths];
    const pack = new Float32Array(N);
    const unpack = new Float32Array(B * T).fill(N);
    let r = 0;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < lengths[b]!; t++) {
        pack[r] = b * T + t;
        unpack[b * T + t] = r++;
      }
    }
    this.#packIndex = Tensor.from(pack, [N], { device });
    this.#unpackIndex = Tensor.from(unpack, [B * T], { device });
  }

  /** Packing only pays when there is padding to skip. */
  get hasPadding(): boolean {
    return this.N < this.B * this.T;
  }

  /** x [B, T, ...rest] → [N, ...rest] (the real tokens' rows). */
  pack(x: Variable): Variable {
    const [B, T, ...rest] = x.shape;
    if (B !== this.B || T !== this.T) throw new CtxwinError("ERR_SHAPE", `TokenPacking.pack: x: expected shape [${this.B}, ${this.T}, ...], got [${x.shape.join(", ")}]`);
    const d = rest.reduce((a, b) => a * b, 1);
    const rows = F.embedding(F.reshape(x, [B * T, d]), this.#packIndex);
    return rest.length === 1 ? rows : F.reshape(rows, [this.N, ...rest]);
  }

  /** x [N, ...rest] → [B, T, ...rest], zeros at padding. */
  unpack(x: Variable): Variable {
    const [N, ...rest] = x.shape;
    if (N !== this.N) throw new CtxwinError("ERR_SHAPE", `TokenPacking.unpack: x: expected ${this.N} rows (the real tokens), got [${x.shape.join(", ")}]`);
    const d = rest.reduce((a, b) => a * b, 1);
    using zero = Tensor.from(new Float32Array(d), [1, d], { device: x.value.device, dtype: x.value.dtype });
    const withZero = F.concat(F.reshape(x, [N, d]), constant(zero), 0);
    return F.reshape(F.embedding(withZero, this.#unpackIndex), [this.B, this.T, ...rest]);
  }

  /**
   * Per-sequence mean of packed rows x [N, d] → [B, d] (sequence b's lengths[b] rows, each
   * weighted 1/lengths[b]), as one GEMM with a [B, N] averaging matrix.
   */
  meanPerSequence(x: Variable): Variable {
    const [N] = x.shape;
    if (N !== this.N || x.shape.length !== 2) throw new CtxwinError("ERR_SHAPE", `TokenPacking.meanPerSequence: x: expected shape [${this.N}, d], got [${x.shape.join(", ")}]`);
    const avg = new Float32Array(this.B * N);
    let r = 0;
    this.lengths.forEach((n, b) => {
      for (let t = 0; t < n; t++) avg[b * N + r++] = 1 / n;
    });
    using a = Tensor.from(avg, [this.B, N], { device: x.value.device, dtype: x.value.dtype });
    return F.matmul(constant(a), x);
  }

  dispose(): void {
    this.#packIndex.dispose();
    this.#unpackIndex.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}
