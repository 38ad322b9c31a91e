/**
 * Passkey retrieval (Mohtashami & Jaggi 2023), in the form the study's models are TRAINED on:
 *
 *   [filler A] " The pass key is" " 382" "." [filler B] " What is the pass key? The pass key is" " 382"
 *
 * The filler is natural text (a contiguous span of the corpus, cut where the key sentence goes);
 * training rows take it from the training documents (training_data.ts), evaluation prompts from
 * held-out documents. The parts are tokenized separately, each beginning with a space, so their
 * concatenation is what the pre-tokenizer would give, and the key's ids in the key sentence are
 * exactly the answer's ids.
 *
 * Distance = index of the first answer token − index of the first key token: how far back the
 * model must look. A sequence has an exact total length (prompt + answer); the key sentence is
 * placed so that the distance is the requested one.
 *
 * Evaluation is bucketed by distance: (0, L], (L, 2L], (2L, 4L], (4L, 8L] for lengths L … 8L.
 * Bucket (lo, hi] has prompts of total length hi (BOS included when given) whose distances are drawn uniformly from the
 * integers in (lo, dmax] (dmax: the key sentence at the very start); so a bucket's positions
 * never exceed its upper length, and the first bucket stays within the trained length.
 *
 * Scoring: greedy, teacher-forced: a trial is correct when every answer token is the
 * full-vocabulary argmax given the prompt and the answer's earlier tokens (what greedy decoding
 * would produce). Chance is about 10^−digits. The answer's log-likelihood is kept beside it.
 */
import { CtxwinError } from "../errors.js";
import * as ops from "../ops/index.js";
import { noGrad, tidy, Variable } from "../nn/autograd.js";
import { Rng } from "../util/rng.js";
import type { CausalLM, ForwardOptions } from "../models/causal_lm.js";
import type { Tokenizer } from "../models/tokenizer/types.js";

/** The template's text (one definition: training rows and evaluation prompts use it). */
export const PASSKEY_TEXT = {
  keyPrefix: " The pass key is",
  keySuffix: ".",
  question: " What is the pass key? The pass key is",
} as const;

/** Token ids of the template's fixed parts. */
export interface PasskeyTemplate {
  keyPrefix: number[];
  keySuffix: number[];
  question: number[];
}

export function passkeyTemplate(tok: Tokenizer): PasskeyTemplate {
  const enc = (s: string) => tok.encode(s, { addSpecialTokens: false });
  return { keyPrefix: enc(PASSKEY_TEXT.keyPrefix), keySuffix: enc(PASSKEY_TEXT.keySuffix), question: enc(PASSKEY_TEXT.question) };
}

/** A random key of `digits` digits (no leading zero). */
export function randomKey(rng: Rng, digits: number): string {
  let s = String(1 + rng.int(9));
  for (let i = 1; i < digits; i++) s += String(rng.int(10));
  return s;
}

export interface PasskeySequence {
  /** Prompt + answer: exactly `length` ids. */
  ids: number[];
  /** The answer's ids (the last ids). */
  answer: number[];
  key: string;
  /** Index of the first key token (inside the key sentence). */
  keyIndex: number;
  /** Index of the first answer token minus keyIndex. */
  distance: number;
}

/** Distances a sequence of `length` tokens can have with this key's token count: [min, max]. */
export function distanceRange(t: PasskeyTemplate, keyTokens: number, length: number): [number, number] {
  const min = keyTokens + t.keySuffix.length + t.question.length; // filler B empty
  const max = length - keyTokens - t.keyPrefix.length; // filler A empty
  return [min, max];
}

/**
 * One passkey sequence of exactly `length` ids with the given key distance; `filler(n)` returns n
 * filler ids (a contiguous natural-text span).
 */
export function buildPasskey(tok: Tokenizer, t: PasskeyTemplate, opts: { length: number; key: string; distance: number; filler: (n: number) => ArrayLike<number> }): PasskeySequence {
  const { length, key, distance } = opts;
  if (!/^\d+$/.test(key)) throw new CtxwinError("ERR_ARG", `buildPasskey: key: expected digits, got ${JSON.stringify(key)}`);
  const answer = tok.encode(` ${key}`, { addSpecialTokens: false });
  const [lo, hi] = distanceRange(t, answer.length, length);
  if (!Number.isInteger(distance) || distance < lo || distance > hi) {
    throw new CtxwinError("ERR_ARG", `buildPasskey: distance: expected an integer in [${lo}, ${hi}] for ${length} tokens and a ${answer.length}-token key, got ${distance}`);
  }
  const answerIndex = length - answer.length;
  const keyIndex = answerIndex - distance;
  const a = keyIndex - t.keyPrefix.length; // filler before the key sentence
  const fixed = t.keyPrefix.length + answer.length + t.keySuffix.length + t.question.length + answer.length;
  const F = length - fixed;
  const fill = opts.filler(F);
  if (fill.length !== F) throw new CtxwinError("ERR_INTERNAL", `buildPasskey: filler returned ${fill.length} ids, expected ${F}`);
  const ids: number[] = new Array(length);
  let p = 0;
  const put = (xs: ArrayLike<number>, from = 0, to = xs.length) => {
    for (let i = from; i < to; i++) ids[p++] = xs[i]!;
  };
  put(fill, 0, a);
  put(t.keyPrefix);
  put(answer);
  put(t.keySuffix);
  put(fill, a, F);
  put(t.question);
  put(answer);
  return { ids, answer, key, keyIndex, distance };
}

/** A filler source: contiguous spans of `stream` at seeded random offsets. */
export function spanFiller(stream: Int32Array, rng: Rng): (n: number) => Int32Array {
  return (n) => {
    if (n > stream.length) throw new CtxwinError("ERR_ARG", `passkey filler: expected at least ${n} tokens of filler text, got ${stream.length}`);
    const s = rng.int(stream.length - n + 1);
    return stream.subarray(s, s + n);
  };
}

export interface PasskeyBucket {
  /** Distances in (lo, hi]; prompts of total length hi. */
  lo: number;
  hi: number;
  trials: PasskeySequence[];
}

/**
 * The evaluation prompts: one bucket per length (lo = the previous length, 0 for the first),
 * `trials` prompts each, distances uniform over the bucket's feasible integers.
 */
export function passkeyBuckets(tok: Tokenizer, lengths: readonly number[], opts: { trials: number; digits: number; seed: number; filler: Int32Array; bos?: number }): PasskeyBucket[] {
  const t = passkeyTemplate(tok);
  const rng = new Rng(opts.seed);
  const fill = spanFiller(opts.filler, rng);
  return lengths.map((hi, i) => {
    const lo = i === 0 ? 0 : lengths[i - 1]!;
    const trials: PasskeySequence[] = [];
    for (let k = 0; k < opts.trials; k++) {
      const key = randomKey(rng, opts.digits);
      const kt = tok.encode(` ${key}`, { addSpecialTokens: false }).length;
      const content = opts.bos === undefined ? hi : hi - 1;
      const [dmin, dmax] = distanceRange(t, kt, content);
      const from = Math.max(lo + 1, dmin);
      if (from > dmax) throw new CtxwinError("ERR_ARG", `passkey: length ${hi}: expected room for key distances in (${lo}, ${hi}], got at most ${dmax}`);
      const distance = from + rng.int(dmax - from + 1);
      const s = buildPasskey(tok, t, { length: content, key, distance, filler: fill });
      trials.push(opts.bos === undefined ? s : { ...s, ids: [opts.bos, ...s.ids], keyIndex: s.keyIndex + 1 });
    }
    return { lo, hi, trials };
  });
}

export interface PasskeyResult {
  /** Correct trials (greedy exact match) and trials. */
  correct: number;
  trials: number;
  /** Mean log-likelihood of the answer (nats, summed over its tokens). */
  meanLogLik: number;
}

function logSoftmaxAt(row: Float32Array, off: number, V: number, target: number): { lp: number; argmax: number } {
  let max = -Infinity;
  let am = 0;
  for (let i = 0; i < V; i++) {
    const x = row[off + i]!;
    if (x > max) {
      max = x;
      am = i;
    }
  }
  let s = 0;
  for (let i = 0; i < V; i++) s += Math.exp(row[off + i]! - max);
  return { lp: row[off + target]! - max - Math.log(s), argmax: am };
}

/**
 * Scores a bucket's trials (same total length) with the method's forward options, in batches of
 * about `tokensPerBatch` tokens. The model reads prompt + answer minus its last token.
 */
export async function scorePasskeyBucket(model: CausalLM, bucket: PasskeyBucket, forward: ForwardOptions, opts: { tokensPerBatch?: number; onBatch?: (n: number) => void } = {}): Promise<PasskeyResult> {
  const n = bucket.hi - 1;
  const V = model.config.vocabSize;
  const maxA = Math.max(...bucket.trials.map((s) => s.answer.length));
  const B = Math.max(1, Math.floor((opts.tokensPerBatch ?? 4096) / n));
  let correct = 0;
  let ll = 0;
  for (let s = 0; s < bucket.trials.length; s += B) {
    const batch = bucket.trials.slice(s, s + B);
    // the logits of the last maxA positions (where the answers are read)
    using t = noGrad(() =>
      tidy(() => {
        const h = model.hidden(
          batch.map((q) => q.ids.slice(0, n)),
          forward,
        );
        return model.head(new Variable(ops.slice(h.value, 1, n - maxA, n))).detachValue();
      }),
    );
    const data = await t.data();
    batch.forEach((q, b) => {
      const a = q.answer.length;
      let ok = true;
      let lp = 0;
      for (let j = 0; j < a; j++) {
        // answer token j is predicted at input position n − a + j, i.e. tail row maxA − a + j
        const r = logSoftmaxAt(data, (b * maxA + (maxA - a + j)) * V, V, q.answer[j]!);
        lp += r.lp;
        if (r.argmax !== q.answer[j]) ok = false;
      }
      if (ok) correct++;
      ll += lp;
    });
    opts.onBatch?.(batch.length * n);
  }
  return { correct, trials: bucket.trials.length, meanLogLik: ll / bucket.trials.length };
}
