/**
 * Next-token selection from a logits row: greedy (temperature 0), or seeded sampling with
 * temperature, top-k and top-p (nucleus; HF semantics: keep the smallest set of most likely tokens
 * whose probability mass reaches topP, at least one).
 */
import { CtxwinError } from "../errors.js";
import { Rng } from "../util/rng.js";

export interface SamplingOptions {
  /** 0 = greedy (argmax). Default 0. */
  temperature?: number;
  /** Keep the k most likely tokens (0 / undefined: all). */
  topK?: number;
  /** Nucleus mass in (0, 1] (1 / undefined: all). */
  topP?: number;
}

export function checkSampling(fn: string, o: SamplingOptions): void {
  const t = o.temperature ?? 0;
  if (typeof t !== "number" || !Number.isFinite(t) || t < 0) throw new CtxwinError("ERR_ARG", `${fn}: temperature: expected a finite number >= 0, got ${t}`);
  if (o.topK !== undefined && (!Number.isInteger(o.topK) || o.topK < 0)) throw new CtxwinError("ERR_ARG", `${fn}: topK: expected a non-negative integer, got ${o.topK}`);
  if (o.topP !== undefined && !(typeof o.topP === "number" && o.topP > 0 && o.topP <= 1)) throw new CtxwinError("ERR_ARG", `${fn}: topP: expected a number in (0, 1], got ${o.topP}`);
}

/** argmax (first index on ties). */
export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  let bv = -Infinity;
  for (let i = 0; i < row.length; i++) {
    const v = row[i]!;
    if (v > bv) {
      bv = v;
      best = i;
    }
  }
  return best;
}

/** One token from `logits` (length V). */
export function sampleToken(logits: ArrayLike<number>, o: SamplingOptions, rng: Rng): number {
  const temperature = o.temperature ?? 0;
  if (temperature === 0) return argmax(logits);
  const V = logits.length;
  let idx = Array.from({ length: V }, (_, i) => i);
  idx.sort((a, b) => logits[b]! - logits[a]! || a - b);
  if (o.topK && o.topK > 0 && o.topK < V) idx = idx.slice(0, o.topK);
  const max = logits[idx[0]!]! / temperature;
  let probs = idx.map((i) => Math.exp(logits[i]! / temperature - max));
  let total = probs.reduce((a, b) => a + b, 0);
  if (o.topP !== undefined && o.topP < 1) {
    let cum = 0;
    let keep = 0;
    while (keep < probs.length) {
      cum += probs[keep]! / total;
      keep++;
      if (cum >= o.topP) break;
    }
    idx = idx.slice(0, keep);
    probs = probs.slice(0, keep);
    total = probs.reduce((a, b) => a + b, 0);
  }
  let u = rng.next() * total;
  for (let i = 0; i < probs.length; i++) {
    u -= probs[i]!;
    if (u < 0) return idx[i]!;
  }
  return idx[idx.length - 1]!;
}
