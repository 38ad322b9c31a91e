/**
 * Head activation scores (seed 002, "SFT achieves rapid task adaptation via alternating attention
 * head activation patterns"): for a task given as {prompt, response} examples, how much each
 * attention head's output matters to the model's loss on the responses.
 *
 * Definitions (one per (layer l, head h); Γ_{l,h} [T, D] is the head's attention output before the
 * output projection, i.e. the `onHeads` value o[b, :, h, :]):
 *
 *   L_x        = mean cross-entropy of example x's response tokens given its prompt (the SFT loss;
 *                prompt positions carry IGNORE_INDEX, so they are not scored)
 *   a_{l,h}(x) = Σ_t Σ_d Γ_{l,h,t,d} · ∂L_x/∂Γ_{l,h,t,d}
 *              = ∂L_x/∂s_{l,h} at s = 1, where s_{l,h} scales the head's output
 *                (the first-order change of L_x per unit of head output; −a is the Taylor
 *                estimate of the loss change when the head is removed)
 *   signed     = (1/N) Σ_x a_{l,h}(x)
 *   absolute   = (1/N) Σ_x |a_{l,h}(x)|
 *
 * So a head's score is summed over its dimensions and positions, averaged over the task's response
 * tokens (L_x is a per-token mean) and then over its N examples. The absolute variant takes |·| of
 * each example's sum, as the head-importance score of Michel et al. (2019, "Are sixteen heads
 * really better than one?") does: a head that helps on some examples and hurts on others is
 * active for the task, and per-example magnitudes do not cancel. Per-token absolute values would
 * instead count every token's push and pull, most of which cancel within the example's loss; we
 * do not use them.
 *
 * How it is computed: one forward + backward per batch on the autograd tape (the same ops on CPU
 * and CUDA). The examples of a batch are right-padded (padding is never scored, and with causal
 * attention no real position sees it, so its Γ·∂L/∂Γ is exactly 0). The loss of a batch is the
 * SUM of its response-token cross-entropies, so ∂/∂Γ at example x's positions is n_x·∂L_x/∂Γ and
 * a(x) = (1/n_x)·Σ Γ·∂(sum)/∂Γ. A pass-through op after every layer's head outputs reads the
 * incoming gradient g in the backward and reduces Σ_d Γ·g on the device to one number per
 * (example, position, head); only those come back to JS, where they are summed in float64.
 * Parameters are frozen for the duration (no weight gradients are computed; the caller's frozen
 * flags and accumulated `grad`s are left as they were) and the gradient enters through the
 * embeddings instead.
 */
import { CtxwinError, show } from "../errors.js";
import { IGNORE_INDEX } from "../defaults.js";
import { Tensor } from "../tensor.js";
import * as ops from "../ops/index.js";
import { constant, emit, noGrad, Tape, Variable } from "../nn/autograd.js";
import * as F from "../nn/functional.js";
import type { CausalLM, ForwardHooks } from "../models/causal_lm.js";
import type { Tokenizer } from "../models/tokenizer/types.js";
import type { Positional } from "../positional.js";

/** One example of a task: a prompt and the response the loss is computed on (token ids, or text with a tokenizer). */
export interface TaskExample {
  prompt: readonly number[] | string;
  response: readonly number[] | string;
}

export interface HeadScoreOptions {
  /** Encodes text prompts/responses: prompt with the tokenizer's special tokens (BOS), response without. */
  tokenizer?: Tokenizer;
  /** Examples per forward/backward (default 8). Scores do not depend on it. */
  batchSize?: number;
  /**
   * Longest sequence (prompt + response) fed to the model: longer examples lose prompt tokens from
   * the left, then response tokens from the right (default: no limit).
   */
  maxLength?: number;
  /** Also return a(x) of every example (`perExample`). */
  perExample?: boolean;
  /** Replaces the model's positional scheme (as forward's `positional`). */
  positional?: Positional;
  /** Called after every batch with the examples done so far. */
  onProgress?: (done: number, total: number) => void;
  /** Stops between batches (rejects with the signal's reason). */
  signal?: AbortSignal;
}

/** Layer × head maps of one task. */
export interface HeadScores {
  layers: number;
  heads: number;
  /** signed[l][h] = mean over examples of a_{l,h}(x). */
  signed: number[][];
  /** absolute[l][h] = mean over examples of |a_{l,h}(x)|. */
  absolute: number[][];
  /** Number of examples N. */
  examples: number;
  /** Response tokens scored, over all examples. */
  tokens: number;
  /** Mean over examples of L_x (nats per response token). */
  loss: number;
  /** a(x) as [example][layer][head] (input order), when asked for. */
  perExample?: number[][][];
}

/** An example as ids: the sequence and how many of its leading tokens are prompt. */
interface Encoded {
  ids: number[];
  promptLength: number;
  index: number;
}

const FN = "headActivationScores";

function idsOf(x: unknown, field: string, i: number, tok: Tokenizer | undefined, vocab: number, asPrompt: boolean): number[] {
  if (typeof x === "string") {
    if (!tok) throw new CtxwinError("ERR_ARG", `${FN}: examples[${i}].${field}: expected token ids (or pass opts.tokenizer to encode text), got a string`);
    return tok.encode(x, { addSpecialTokens: asPrompt });
  }
  if (!Array.isArray(x)) throw new CtxwinError("ERR_ARG", `${FN}: examples[${i}].${field}: expected an array of token ids or a string, got ${show(x)}`);
  for (const id of x) {
    if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new CtxwinError("ERR_ARG", `${FN}: examples[${i}].${field}: expected token ids in [0, ${vocab}), got ${show(id)}`);
  }
  return x as number[];
}

/** Validates, encodes and truncates the examples. */
function encodeExamples(examples: readonly TaskExample[], vocab: number, opts: HeadScoreOptions): Encoded[] {
  if (!Array.isArray(examples) || examples.length === 0) throw new CtxwinError("ERR_ARG", `${FN}: examples: expected a non-empty array of {prompt, response}, got ${Array.isArray(examples) ? "an empty array" : show(examples)}`);
  const maxLength = opts.maxLength;
  if (maxLength !== undefined && (!Number.isInteger(maxLength) || maxLength < 2)) throw new CtxwinError("ERR_ARG", `${FN}: opts.maxLength: expected an integer >= 2, got ${show(maxLength)}`);
  return examples.map((e, i) => {
    if (e === null || typeof e !== "object") throw new CtxwinError("ERR_ARG", `${FN}: examples[${i}]: expected {prompt, response}, got ${show(e)}`);
    let prompt = idsOf(e.prompt, "prompt", i, opts.tokenizer, vocab, true);
    let response = idsOf(e.response, "response", i, opts.tokenizer, vocab, false);
    for (const [ids, field] of [[prompt, "prompt"], [response, "response"]] as const) {
      for (const id of ids) if (id >= vocab) throw new CtxwinError("ERR_ARG", `${FN}: examples[${i}].${field}: the tokenizer gave id ${id}, outside the model's vocabulary of ${vocab}`);
    }
    if (maxLength !== undefined && prompt.length + response.length > maxLength) {
      const keepPrompt = Math.min(prompt.length, Math.max(1, maxLength - response.length));
      prompt = prompt.slice(prompt.length - keepPrompt);
      response = response.slice(0, maxLength - prompt.length);
    }
    // response tokens that have a preceding position (the first token of a sequence is never predicted)
    const scored = prompt.length > 0 ? response.length : response.length - 1;
    if (scored < 1) {
      throw new CtxwinError("ERR_ARG", `${FN}: examples[${i}].response: expected at least one token to score (${prompt.length ? "a non-empty response" : "2 tokens without a prompt"}), got ${response.length}`);
    }
    return { ids: [...prompt, ...response], promptLength: prompt.length, index: i };
  });
}

/** Next-token targets: position t predicts ids[t + 1] when that is a response token, else IGNORE_INDEX. */
function targetsOf(e: Encoded, T: number): number[] {
  const out = new Array<number>(T).fill(IGNORE_INDEX);
  for (let t = Math.max(0, e.promptLength - 1); t + 1 < e.ids.length; t++) out[t] = e.ids[t + 1]!;
  return out;
}

/**
 * Per (layer, head) activation scores of a task (see the module doc for the definitions): the
 * layer × head maps of Γᵀ∂L/∂Γ, signed and absolute, with L the response-token cross-entropy.
 * The model is left as it was (parameters' frozen flags and gradients restored).
 */
export async function headActivationScores(model: CausalLM, examples: readonly TaskExample[], opts: HeadScoreOptions = {}): Promise<HeadScores> {
  if (opts === null || typeof opts !== "object") throw new CtxwinError("ERR_ARG", `${FN}: opts: expected an object, got ${show(opts)}`);
  const batchSize = opts.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new CtxwinError("ERR_ARG", `${FN}: opts.batchSize: expected a positive integer, got ${show(batchSize)}`);
  const L = model.numLayers;
  const H = model.config.numHeads;
  const encoded = encodeExamples(examples, model.config.vocabSize, opts);
  const N = encoded.length;
  // batches of similar lengths (less padding); results are stored by example index
  const order = [...encoded].sort((a, b) => a.ids.length - b.ids.length || a.index - b.index);
  const per = encoded.map(() => new Float64Array(L * H));
  const lossOf = new Float64Array(N);
  let tokens = 0;

  const params = model.parameters();
  const frozen = params.map((p) => p.frozen);
  for (const p of params) p.freeze();
  try {
    for (let start = 0; start < N; start += batchSize) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? new CtxwinError("ERR_ARG", `${FN}: aborted`);
      const batch = order.slice(start, start + batchSize);
      const T = Math.max(...batch.map((e) => e.ids.length));
      const ids = batch.map((e) => [...e.ids, ...new Array<number>(T - e.ids.length).fill(0)]);
      const targets = batch.map((e) => targetsOf(e, T));
      const counts = targets.map((r) => r.filter((t) => t !== IGNORE_INDEX).length);
      const { contrib, rowLoss } = await scoreBatch(model, ids, targets, opts.positional);
      for (let b = 0; b < batch.length; b++) {
        const e = batch[b]!;
        const out = per[e.index]!;
        const n = counts[b]!;
        tokens += n;
        lossOf[e.index] = rowLoss[b]! / n;
        for (let l = 0; l < L; l++) {
          const c = contrib[l]!; // [B, T, H]
          for (let h = 0; h < H; h++) {
            let s = 0;
            for (let t = 0; t < T; t++) s += c[(b * T + t) * H + h]!;
            out[l * H + h] = s / n;
          }
        }
      }
      opts.onProgress?.(Math.min(N, start + batchSize), N);
    }
  } finally {
    params.forEach((p, i) => (frozen[i] ? p.freeze() : p.unfreeze()));
  }

  const signed: number[][] = [];
  const absolute: number[][] = [];
  for (let l = 0; l < L; l++) {
    const sRow: number[] = [];
    const aRow: number[] = [];
    for (let h = 0; h < H; h++) {
      let s = 0;
      let a = 0;
      for (const p of per) {
        s += p[l * H + h]!;
        a += Math.abs(p[l * H + h]!);
      }
      sRow.push(s / N);
      aRow.push(a / N);
    }
    signed.push(sRow);
    absolute.push(aRow);
  }
  let loss = 0;
  for (const v of lossOf) loss += v;
  const res: HeadScores = { layers: L, heads: H, signed, absolute, examples: N, tokens, loss: loss / N };
  if (opts.perExample) res.perExample = per.map((p) => Array.from({ length: L }, (_, l) => Array.from(p.subarray(l * H, (l + 1) * H))));
  return res;
}

/**
 * One forward + backward: Σ_d Γ·∂(Σ CE)/∂Γ per layer as [B·T·H] (f32, from the device) and the
 * summed response cross-entropy of each row.
 */
async function scoreBatch(model: CausalLM, ids: number[][], targets: number[][], positional: Positional | undefined): Promise<{ contrib: Float32Array[]; rowLoss: Float64Array }> {
  const L = model.numLayers;
  const B = ids.length;
  const T = ids[0]!.length;
  const V = model.config.vocabSize;
  const taps: (Tensor | null)[] = new Array(L).fill(null);
  let input: Variable | null = null;
  const hooks: ForwardHooks = {
    // the gradient enters here (every parameter is frozen)
    hidden: (l, h) => {
      if (l !== 0) return;
      input = new Variable(ops.scale(h.value, 1), { requiresGrad: true, name: "headActivationScores input" });
      return input;
    },
    heads: (l, o) =>
      headTap(o, (t) => {
        taps[l]?.dispose();
        taps[l] = t;
      }),
  };
  const tape = new Tape();
  let logits: Variable | null = null;
  let loss: Variable | null = null;
  let rows: Tensor | null = null;
  const flatTargets = targets.flat();
  const tgt = Tensor.from(Float32Array.from(flatTargets), [B * T], { device: model.device });
  try {
    logits = await tape.runSliced(model.logitsSteps(ids, { checkpoint: false, positional, hooks }));
    const flat = tape.run(() => F.reshape(logits!, [B * T, V]));
    logits.release();
    logits = flat;
    // per-row losses for the report (not recorded), then the summed loss (normalizer 1) on the tape:
    // per-example means are taken in JS
    rows = F.crossEntropyRows(flat.value, tgt);
    loss = tape.run(() => F.crossEntropy(flat, flatTargets, { normalizer: 1 }));
    logits.release();
    logits = null;
    await tape.backwardSliced(loss);
    const contrib: Float32Array[] = [];
    for (let l = 0; l < L; l++) {
      const t = taps[l];
      if (!t) throw new CtxwinError("ERR_INTERNAL", `${FN}: no gradient reached the heads of layer ${l}`);
      contrib.push(await t.data());
    }
    const v = await rows.data();
    const rowLoss = new Float64Array(B);
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) rowLoss[b] += v[b * T + t]!;
    return { contrib, rowLoss };
  } finally {
    tape.dispose();
    logits?.release();
    loss?.release();
    rows?.dispose();
    tgt.dispose();
    for (const t of taps) t?.dispose();
    const x = input as Variable | null;
    x?.grad?.dispose();
    if (x) x.grad = null;
  }
}

/**
 * Identity on the head outputs o [B, T, H, D] whose backward hands `sink` the tensor
 * Σ_d o·g [B·T·H] (f32) and passes g through.
 */
function headTap(o: Variable, sink: (t: Tensor) => void): Variable {
  const shape = o.shape;
  const D = shape[shape.length - 1]!;
  return emit("headTap", [o], o.value.reshape(shape), (g) => {
    sink(rowDot(o.value, g, D));
    return [g];
  }, { save: [o] });
}

/** Σ over the last dim of a·b: [..., D] → [rows] (f32). */
function rowDot(a: Tensor, b: Tensor, D: number): Tensor {
  const made: Tensor[] = [];
  const f32 = (t: Tensor) => {
    if (t.dtype === "f32") return t;
    const c = t.to("f32");
    made.push(c);
    return c;
  };
  try {
    const prod = ops.mul(f32(a), f32(b));
    made.push(prod);
    const p2 = prod.reshape([-1, D]);
    made.push(p2);
    const ones = Tensor.from(new Float32Array(D).fill(1), [D, 1], { device: a.device });
    made.push(ones);
    const r = ops.matmul(p2, ones);
    const flat = r.reshape([-1]);
    r.dispose();
    return flat;
  } finally {
    for (const t of made) t.dispose();
  }
}

/**
 * A `heads` forward hook that multiplies head h of layer l by factors[l][h] (1 = unchanged, 0 =
 * ablated): for ablations and for checking attributions against finite differences. Layers
 * without a row are left alone.
 */
export function scaleHeadsHook(factors: readonly (readonly number[] | null | undefined)[]): NonNullable<ForwardHooks["heads"]> {
  return (layer, o) => {
    const row = factors[layer];
    if (!row) return;
    const [B, T, H, D] = o.shape as [number, number, number, number];
    if (row.length !== H) throw new CtxwinError("ERR_SHAPE", `scaleHeadsHook: factors[${layer}]: expected ${H} factors (one per head), got ${row.length}`);
    const m = new Float32Array(B * T * H * D);
    for (let i = 0; i < B * T; i++) for (let h = 0; h < H; h++) m.fill(row[h]!, (i * H + h) * D, (i * H + h + 1) * D);
    // made inside the model's forward: its tidy frees the factors with the other intermediates
    return F.mul(o, new Variable(Tensor.from(m, [B, T, H, D], { device: o.value.device, dtype: o.value.dtype })));
  };
}

/**
 * The response loss Σ_x L_x / N (no gradient) of examples under a forward's hooks (e.g.
 * scaleHeadsHook): what headActivationScores differentiates. One example per forward (no padding).
 */
export async function responseLoss(model: CausalLM, examples: readonly TaskExample[], opts: Pick<HeadScoreOptions, "tokenizer" | "maxLength" | "positional"> & { hooks?: ForwardHooks } = {}): Promise<number> {
  const encoded = encodeExamples(examples, model.config.vocabSize, opts);
  let total = 0;
  for (const e of encoded) {
    const targets = targetsOf(e, e.ids.length);
    const n = targets.filter((t) => t !== IGNORE_INDEX).length;
    using l = noGrad(() => model.loss([e.ids], [targets], { normalizer: n, positional: opts.positional, hooks: opts.hooks }));
    total += (await l.value.data())[0]!;
  }
  return total / encoded.length;
}
