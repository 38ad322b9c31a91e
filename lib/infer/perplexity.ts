/**
 * Sliding-window perplexity (the HF transformers recipe): windows of `contextLength` tokens start
 * every `stride` tokens; each window scores only the tokens not scored by a previous window (its
 * last `end − prevEnd` positions), each predicted from everything before it in the window; a
 * window's first token has no context and is never scored (so with stride < contextLength every
 * token but the first is scored exactly once; disjoint windows skip each window's first token, as
 * HF's recipe does). nll = mean negative log-likelihood (nats), ppl = exp(nll).
 */
import { CtxwinError } from "../errors.js";
import { Tensor } from "../tensor.js";
import type { Positional } from "../positional.js";
import * as ops from "../ops/index.js";
import { noGrad, noGradSliced, Variable } from "../nn/autograd.js";
import { crossEntropyRows } from "../nn/functional.js";
import type { CausalLM, ForwardHooks } from "../models/causal_lm.js";

export interface PerplexityOptions {
  /** Tokens per window (the evaluated context length). */
  contextLength: number;
  /** Window start step; default contextLength (disjoint windows). */
  stride?: number;
  /** Positional override (see CausalLM.forward). */
  positional?: Positional;
  window?: number | null;
  scaleMultiplier?: number;
  hooks?: ForwardHooks;
  /** Rows of the LM head + cross-entropy computed at once (bounds the logits memory). Default 1024. */
  headChunk?: number;
  /** Called after each window with the running totals. */
  onWindow?: (info: { begin: number; end: number; scored: number; nllSum: number; tokens: number }) => void;
}

export interface PerplexityResult {
  /** exp(nll). */
  ppl: number;
  /** Mean negative log-likelihood per scored token (nats). */
  nll: number;
  /** Sum of the negative log-likelihoods. */
  nllSum: number;
  /** Scored tokens (tokens.length − 1). */
  tokens: number;
  /** Windows evaluated. */
  windows: number;
}

export async function perplexity(model: CausalLM, tokens: readonly number[], opts: PerplexityOptions): Promise<PerplexityResult> {
  const fn = "perplexity";
  if (!Array.isArray(tokens) || tokens.length < 2) throw new CtxwinError("ERR_ARG", `${fn}: tokens: expected at least 2 token ids, got ${Array.isArray(tokens) ? tokens.length : typeof tokens}`);
  const C = opts?.contextLength;
  if (!Number.isInteger(C) || C < 2) throw new CtxwinError("ERR_ARG", `${fn}: contextLength: expected an integer >= 2, got ${C}`);
  const stride = opts.stride ?? C;
  if (!Number.isInteger(stride) || stride < 1 || stride > C) throw new CtxwinError("ERR_ARG", `${fn}: stride: expected an integer in [1, ${C}] (contextLength), got ${stride}`);
  const chunk = opts.headChunk ?? 1024;
  const N = tokens.length;
  let prevEnd = 0;
  let nllSum = 0;
  let count = 0;
  let windows = 0;
  for (let begin = 0; begin < N; begin += stride) {
    const end = Math.min(begin + C, N);
    const len = end - begin;
    const trg = end - prevEnd;
    const first = Math.max(1, len - trg); // first scored window position
    const ids = tokens.slice(begin, end);
    if (first < len) {
      // in slices (eventLoopSlice()): a long window through a deep model lets the event loop turn
      using h = await noGradSliced(model.hiddenSteps([ids], { positional: opts.positional, window: opts.window, scaleMultiplier: opts.scaleMultiplier, hooks: opts.hooks }));
      const hidden = h.value.reshape([len, h.shape[2]!]);
      const parts: Promise<Float32Array>[] = [];
      // the head in chunks of rows (the logits of a long window would not fit at once)
      const lossesOf = (s: number, e: number): Tensor =>
        noGrad(() => {
          // logits at positions s-1 .. e-2 predict tokens s .. e-1
          using rows = ops.slice(hidden, 0, s - 1, e - 1);
          using logits = model.head(new Variable(rows, { borrowed: true }));
          using tg = Tensor.from(Float32Array.from(ids.slice(s, e)), [e - s], { device: rows.device });
          return crossEntropyRows(logits.value, tg);
        });
      try {
        for (let s = first; s < len; s += chunk) {
          const losses = lossesOf(s, Math.min(s + chunk, len));
          parts.push(losses.data().finally(() => losses.dispose()));
        }
      } finally {
        hidden.dispose();
      }
      for (const p of parts) {
        const l = await p;
        for (let i = 0; i < l.length; i++) nllSum += l[i]!;
        count += l.length;
      }
    }
    windows++;
    opts.onWindow?.({ begin, end, scored: len - first, nllSum, tokens: count });
    prevEnd = end;
    if (end === N) break;
  }
  const nll = nllSum / count;
  return { ppl: Math.exp(nll), nll, nllSum, tokens: count, windows };
}
