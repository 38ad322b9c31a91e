/**
 * One measurement run: the model reads the given windows (rows of T token ids) in batches, with a
 * method's forward options; every hidden state feeds the positional-vector estimator, and for the
 * first `attentionRows` windows every layer's attention probabilities (recomputed by the kernel,
 * attention_probs.ts) feed the sink and decay statistics. A method's own `hidden` hook (positional
 * vector replacement) runs first, so what is measured is what the next layer reads.
 */
import { CtxwinError } from "../errors.js";
import type { Tensor } from "../tensor.js";
import * as ops from "../ops/index.js";
import { noGrad, tidy } from "../nn/autograd.js";
import { disposingArray } from "../util/scope.js";
import type { CausalLM, ForwardHooks, ForwardOptions } from "../models/causal_lm.js";
import { PositionalAccumulator, type PositionalEstimate } from "./estimator.js";
import { attentionProbabilities } from "./attention_probs.js";
import { AttentionStats, type QueryRange, type RangeAttention } from "./attention_stats.js";

export interface RunOptions {
  /** Token-id rows, all of the same length T. */
  windows: number[][];
  /** The method's forward options (none: the model as trained). */
  forward?: ForwardOptions;
  /** The first this many windows also have their attention probabilities measured. */
  attentionRows: number;
  ranges: QueryRange[];
  sinkTokens: number;
  /** Windows per forward. */
  batch: number;
  signal?: AbortSignal;
  /** Called after each batch with the windows done so far. */
  onRows?: (done: number) => void;
}

export interface RunResult {
  estimate: PositionalEstimate;
  /** Sink and decay statistics per query range (null when attentionRows = 0). */
  attention: RangeAttention[] | null;
}

export async function collectRun(model: CausalLM, opts: RunOptions): Promise<RunResult> {
  const rows = opts.windows;
  if (!rows.length) throw new CtxwinError("ERR_ARG", "analyze positional: expected at least one window, got none");
  const T = rows[0]!.length;
  const L = model.numLayers;
  const acc = new PositionalAccumulator(L + 1, T, model.config.hiddenSize);
  const stats = opts.attentionRows > 0 ? new AttentionStats(L, model.config.numHeads, { sinkTokens: opts.sinkTokens, ranges: opts.ranges, maxDistance: T }) : null;
  const prev = opts.forward?.hooks ?? {};
  const batch = Math.max(1, opts.batch);
  for (let done = 0; done < rows.length; ) {
    if (opts.signal?.aborted) throw new CtxwinError("ERR_ARG", "analyze positional: interrupted");
    // attention batches stop at attentionRows, so the two kinds never mix in one forward
    const withAttention = stats !== null && done < opts.attentionRows;
    const B = Math.min(batch, rows.length - done, withAttention ? opts.attentionRows - done : Infinity);
    const ids = rows.slice(done, done + B);
    // copies of every layer's input hidden state (and the last layer's output) as the forward passes
    using copies = disposingArray<Tensor>();
    const hooks: ForwardHooks = {
      ...prev,
      hidden: (l, h) => {
        const r = prev.hidden?.(l, h);
        copies[l] = ops.scale((r ?? h).value, 1);
        return r;
      },
      qk: (l, q, k, o) => {
        prev.qk?.(l, q, k, o);
        if (withAttention) attentionProbabilities(q, k, o, (block) => stats!.add(l, block, o.window ?? 0));
      },
    };
    noGrad(() => tidy(() => void model.hidden(ids, { ...opts.forward, hooks })));
    for (let l = 0; l <= L; l++) acc.add(l, await copies[l]!.data(), B);
    done += B;
    opts.onRows?.(done);
  }
  return { estimate: acc.finish(), attention: stats ? stats.finish() : null };
}
