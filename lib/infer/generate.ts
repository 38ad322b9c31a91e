/**
 * Streaming generation with a KV cache: the prompt is prefilled once (logits of its last position
 * only), then one token at a time is fed with the cache (queries sit after the cached positions).
 *
 *   for await (const token of generate(model, promptIds, { maxNewTokens: 32 })) ...
 */
import { CtxwinError } from "../errors.js";
import type { Positional } from "../positional.js";
import { noGradSliced } from "../nn/autograd.js";
import { Rng, checkSeed } from "../util/rng.js";
import type { CausalLM, ForwardHooks } from "../models/causal_lm.js";
import { checkSampling, sampleToken, type SamplingOptions } from "./sampling.js";

export interface GenerateOptions extends SamplingOptions {
  /** Tokens to generate at most. */
  maxNewTokens: number;
  /** Sampling seed (default 0). */
  seed?: number;
  /** Stop token ids (not yielded), or a predicate over (token, generated so far). */
  stop?: readonly number[] | ((token: number, generated: readonly number[]) => boolean);
  /** Positional override for this generation (see CausalLM.forward). */
  positional?: Positional;
  /** Sliding window override (null: none). */
  window?: number | null;
  /** Attention temperature (softmax-scale multiplier). */
  scaleMultiplier?: number;
  hooks?: ForwardHooks;
}

/** Yields generated token ids one at a time (prompt excluded). */
export async function* generate(model: CausalLM, prompt: readonly number[], opts: GenerateOptions): AsyncGenerator<number, void, undefined> {
  const fn = "generate";
  if (!Array.isArray(prompt) || prompt.length === 0) throw new CtxwinError("ERR_ARG", `${fn}: prompt: expected a non-empty array of token ids, got ${Array.isArray(prompt) ? "an empty array" : typeof prompt}`);
  if (!Number.isInteger(opts?.maxNewTokens) || opts.maxNewTokens < 0) throw new CtxwinError("ERR_ARG", `${fn}: maxNewTokens: expected a non-negative integer, got ${opts?.maxNewTokens}`);
  checkSampling(fn, opts);
  const rng = new Rng(checkSeed(fn, opts.seed ?? 0));
  const stop = opts.stop;
  const isStop = (t: number, gen: number[]): boolean => (typeof stop === "function" ? stop(t, gen) : stop ? stop.includes(t) : false);
  const fwd = { positional: opts.positional, window: opts.window, scaleMultiplier: opts.scaleMultiplier, hooks: opts.hooks, lastOnly: true };
  if (opts.maxNewTokens === 0) return;
  // room for the whole generation up front (no regrowth), within reason: a large maxNewTokens
  // that a stop token may cut short grows the cache ×2 as it goes instead of reserving it all
  using cache = model.createCache(model.prefixLength + prompt.length + Math.min(opts.maxNewTokens, 2048));
  const generated: number[] = [];
  // the last position's logits after the prompt, then after each new token; the forward runs in
  // slices: a long prompt through a deep model lets the event loop turn
  const nextRow = async (ids: number[]): Promise<Float32Array> => {
    using logits = await noGradSliced(model.logitsSteps([ids], { ...fwd, cache }));
    return await logits.value.data();
  };
  let row = await nextRow([...prompt]);
  for (;;) {
    const token = sampleToken(row, opts, rng);
    if (isStop(token, generated)) return;
    generated.push(token);
    yield token;
    if (generated.length >= opts.maxNewTokens) return;
    row = await nextRow([token]);
  }
}

/** All generated tokens as an array. */
export async function generateAll(model: CausalLM, prompt: readonly number[], opts: GenerateOptions): Promise<number[]> {
  const out: number[] = [];
  for await (const t of generate(model, prompt, opts)) out.push(t);
  return out;
}
