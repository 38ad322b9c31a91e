/**
 * Attention probabilities from the fused kernel itself, so that every positional scheme, window,
 * temperature and scaling is exactly the one the model ran with (ctxwin never computes positional
 * math in TypeScript): with values V = a block of one-hot rows, the attention output is a block of
 * columns of the probability matrix. For key block c (D keys, D = the head dim):
 *
 *     V[b, j, h, m] = 1 if j = c·D + m else 0     ⇒     out[b, i, h, m] = P[b, h, i, c·D + m]
 *
 * ⌈Tk / D⌉ kernel calls per layer (each as costly as the layer's attention); one block is read at a
 * time, so memory stays at one output.
 */
import { attention, type AttentionOptions } from "../attention.js";
import { Tensor } from "../tensor.js";

/** One block of probabilities: data [B, Tq, Hq, width] = P[b, h, i, keyStart + m] at ((b·Tq + i)·Hq + h)·width + m. */
export interface ProbabilityBlock {
  B: number;
  Tq: number;
  heads: number;
  keyStart: number;
  /** Keys in this block (the head dim, less in the last block). */
  keys: number;
  /** Row stride of `data` (the head dim). */
  width: number;
  data: Float32Array;
}

/** Calls `onBlock` with every key block of softmax(q kᵀ) as the kernel computes it for `opts`. */
export function attentionProbabilities(q: Tensor, k: Tensor, opts: AttentionOptions, onBlock: (block: ProbabilityBlock) => void): void {
  const [B, Tq, Hq, D] = q.shape as [number, number, number, number];
  const [, Tk, Hkv] = k.shape as [number, number, number, number];
  for (let start = 0; start < Tk; start += D) {
    const keys = Math.min(D, Tk - start);
    const onehot = new Float32Array(B * Tk * Hkv * D);
    for (let b = 0; b < B; b++) {
      for (let m = 0; m < keys; m++) {
        const j = start + m;
        for (let h = 0; h < Hkv; h++) onehot[((b * Tk + j) * Hkv + h) * D + m] = 1;
      }
    }
    using v = Tensor.from(onehot, [B, Tk, Hkv, D], { device: q.device, dtype: q.dtype });
    using out = attention(q, k, v, opts);
    onBlock({ B, Tq, heads: Hq, keyStart: start, keys, width: D, data: out.dataSync() });
  }
}
