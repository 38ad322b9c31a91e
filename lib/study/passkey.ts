/**
 * Passkey retrieval (Mohtashami & Jaggi 2023, the test of the context-extension papers): a random
 * number hidden in repetitive filler at a given depth; the model must produce its digits.
 *
 *   [intro] [filler … ] [key sentence] [ … filler] [question] [answer = " <key>"]
 *
 * Construction (token ids, not text, so lengths are exact): the parts are tokenized separately
 * (each begins with a space, so their concatenation is what the pre-tokenizer would give) and the
 * filler is the filler sentence repeated and cut AT ITS START, so that it ends on a sentence
 * boundary before the question. The whole sequence — prompt plus answer — has exactly `length`
 * tokens (the evaluated context length). `depth` is the fraction of the filler placed before the
 * key sentence: the key goes to the filler sentence boundary nearest to depth · fillerTokens
 * (0 = right after the intro, 1 = right before the question).
 *
 * Templates, richest first (the study uses the richest that leaves at least a quarter of the
 * shortest evaluated length to filler, so tiny byte-level micro models still get a prompt):
 *   full:  "There is an important info hidden inside a lot of irrelevant text. Find it and memorize
 *          it. I will quiz you about the important information there." filler " The grass is green.
 *          The sky is blue. The sun is yellow. Here we go. There and back again." key " The pass key
 *          is 7391. Remember it. 7391 is the pass key." question " What is the pass key? The pass
 *          key is" answer " 7391"
 *   short: no intro, key " The pass key is 7391. Remember it.", question " The pass key is"
 *   tiny:  no intro, filler " The sky is blue.", key " key 7391.", question " key"
 *
 * Scoring (chosen so that tiny models give a measurable number): the true key and
 * `candidates − 1` distractors (random numbers with the same digit count and the same number of
 * answer tokens) are ranked by the log-likelihood the model gives each as the continuation of the
 * prompt; a trial is correct when the true key ranks strictly first. Chance level = 1/candidates.
 * The stricter greedy criterion — every answer token is the argmax over the whole vocabulary given
 * the correct prefix, i.e. greedy decoding reproduces the key — is recorded beside it.
 * The prompt is run once with a KV cache; the cache is then replicated for the candidates, which are
 * scored in one batch.
 */
import { CtxwinError } from "../errors.js";
import * as ops from "../ops/index.js";
import { noGrad } from "../nn/autograd.js";
import { Rng } from "../nn/init.js";
import type { CausalLM, ForwardOptions } from "../models/causal_lm.js";
import type { Tokenizer } from "../models/tokenizer/types.js";

export interface PasskeyTemplate {
  name: "full" | "short" | "tiny";
  intro: string;
  filler: string;
  key: (key: string) => string;
  question: string;
}

export const PASSKEY_TEMPLATES: readonly PasskeyTemplate[] = [
  {
    name: "full",
    intro: "There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. I will quiz you about the important information there.",
    filler: " The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.",
    key: (k) => ` The pass key is ${k}. Remember it. ${k} is the pass key.`,
    question: " What is the pass key? The pass key is",
  },
  {
    name: "short",
    intro: "",
    filler: " The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.",
    key: (k) => ` The pass key is ${k}. Remember it.`,
    question: " The pass key is",
  },
  { name: "tiny", intro: "", filler: " The sky is blue.", key: (k) => ` key ${k}.`, question: " key" },
];

export interface PasskeyPrompt {
  /** Prompt + answer: exactly `length` ids. */
  ids: number[];
  /** Prompt tokens (ids.slice(0, promptLength)); the answer follows. */
  promptLength: number;
  /** The answer's ids (" <key>"). */
  answer: number[];
  key: string;
  /** Index of the key sentence's first token. */
  keyStart: number;
  /** Index of the first filler token and the filler's token count (key sentence excluded). */
  fillerStart: number;
  fillerTokens: number;
  /** Filler tokens before the key sentence (≈ depth · fillerTokens). */
  fillerBefore: number;
  depth: number;
  template: PasskeyTemplate["name"];
}

/** A random key of `digits` digits (no leading zero). */
export function randomKey(rng: Rng, digits: number): string {
  let s = String(1 + Math.floor(rng.next() * 9));
  for (let i = 1; i < digits; i++) s += String(Math.floor(rng.next() * 10));
  return s;
}

function fixedTokens(tok: Tokenizer, t: PasskeyTemplate, key: string): number {
  const enc = (s: string) => (s ? tok.encode(s, { addSpecialTokens: false }).length : 0);
  return enc(t.intro) + enc(t.key(key)) + enc(t.question) + enc(` ${key}`);
}

/** The richest template whose fixed parts leave at least `minFiller` tokens of filler in `length`. */
export function chooseTemplate(tok: Tokenizer, length: number, digits: number, minFiller = Math.ceil(length / 4)): PasskeyTemplate {
  const probe = "9".repeat(digits);
  for (const t of PASSKEY_TEMPLATES) if (length - fixedTokens(tok, t, probe) - 2 >= minFiller) return t;
  throw new CtxwinError("ERR_ARG", `study: passkey: expected a context length that fits the smallest prompt (${fixedTokens(tok, PASSKEY_TEMPLATES[2]!, probe) + minFiller} tokens), got ${length}`);
}

/** Builds one passkey sequence of exactly `length` tokens (see the header). */
export function buildPasskey(tok: Tokenizer, opts: { length: number; depth: number; key: string; template?: PasskeyTemplate }): PasskeyPrompt {
  const { length, depth, key } = opts;
  if (!(depth >= 0 && depth <= 1)) throw new CtxwinError("ERR_ARG", `buildPasskey: depth: expected a fraction in [0, 1], got ${depth}`);
  if (!/^\d+$/.test(key)) throw new CtxwinError("ERR_ARG", `buildPasskey: key: expected digits, got ${JSON.stringify(key)}`);
  const t = opts.template ?? chooseTemplate(tok, length, key.length, 1);
  const enc = (s: string) => (s ? tok.encode(s, { addSpecialTokens: false }) : []);
  const intro = enc(t.intro);
  const keySent = enc(t.key(key));
  const question = enc(t.question);
  const answer = enc(` ${key}`);
  const sentence = enc(t.filler);
  const F = length - intro.length - keySent.length - question.length - answer.length;
  if (F < 0) throw new CtxwinError("ERR_ARG", `buildPasskey: length: expected at least ${length - F} tokens for the "${t.name}" template, got ${length}`);
  // filler = sentences repeated, cut at the start so it ends on a boundary
  const S = sentence.length;
  const filler: number[] = new Array(F);
  for (let i = 0; i < F; i++) filler[i] = sentence[(((i - F) % S) + S) % S]!;
  // sentence boundaries: 0 and F − j·S (j ≥ 0)
  const bounds = [0];
  for (let b = F; b > 0; b -= S) bounds.push(b);
  const target = depth * F;
  let before = 0;
  for (const b of bounds) if (Math.abs(b - target) < Math.abs(before - target)) before = b;
  const ids = [...intro, ...filler.slice(0, before), ...keySent, ...filler.slice(before), ...question, ...answer];
  return {
    ids,
    promptLength: ids.length - answer.length,
    answer,
    key,
    keyStart: intro.length + before,
    fillerStart: intro.length,
    fillerTokens: F,
    fillerBefore: before,
    depth,
    template: t.name,
  };
}

/** `n` distractor answers (" <number>") with the key's digit count and token count, distinct. */
export function distractors(tok: Tokenizer, key: string, n: number, rng: Rng): number[][] {
  const want = tok.encode(` ${key}`, { addSpecialTokens: false }).length;
  const seen = new Set([key]);
  const out: number[][] = [];
  for (let tries = 0; out.length < n && tries < 10000; tries++) {
    const k = randomKey(rng, key.length);
    if (seen.has(k)) continue;
    seen.add(k);
    const ids = tok.encode(` ${k}`, { addSpecialTokens: false });
    if (ids.length === want) out.push(ids);
  }
  if (out.length < n) throw new CtxwinError("ERR_INTERNAL", `study: passkey: could not find ${n} distractors for key ${key} with ${want} tokens`);
  return out;
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

export interface PasskeyScore {
  /** The true key ranks strictly first among the candidates. */
  correct: boolean;
  /** Greedy decoding reproduces the key (every answer token is the full-vocabulary argmax). */
  greedy: boolean;
  /** Log-likelihood of each candidate (index 0 = the true key). */
  logLikelihoods: number[];
}

/**
 * Scores one prompt. `forward` are the method's options for this length; `setOffset` (for hooks
 * that need absolute positions) is told where each call's first token sits.
 */
export async function scorePasskey(
  model: CausalLM,
  p: PasskeyPrompt,
  others: number[][],
  forward: ForwardOptions,
  setOffset?: (offset: number) => void,
): Promise<PasskeyScore> {
  const cands = [p.answer, ...others];
  const K = cands.length;
  const a = p.answer.length;
  const V = model.config.vocabSize;
  const cache = model.createCache();
  try {
    setOffset?.(0);
    const l0 = noGrad(() => model.logits([p.ids.slice(0, p.promptLength)], { ...forward, cache, lastOnly: true }));
    const first = await l0.value.data();
    l0.release();
    const ll = new Array<number>(K).fill(0);
    let greedy = true;
    for (let c = 0; c < K; c++) {
      const r = logSoftmaxAt(first, 0, V, cands[c]![0]!);
      ll[c] = r.lp;
      if (c === 0 && r.argmax !== cands[0]![0]) greedy = false;
    }
    if (a > 1) {
      for (const layer of cache.layers) {
        const k = layer.k!;
        const v = layer.v!;
        let kk = ops.scale(k, 1);
        let vv = ops.scale(v, 1);
        for (let i = 1; i < K; i++) {
          const k2 = ops.concat(kk, k, 0);
          const v2 = ops.concat(vv, v, 0);
          kk.dispose();
          vv.dispose();
          kk = k2;
          vv = v2;
        }
        k.dispose();
        v.dispose();
        layer.k = kk;
        layer.v = vv;
      }
      setOffset?.(p.promptLength);
      const rows = cands.map((c) => c.slice(0, a - 1));
      const l1 = noGrad(() => model.logits(rows, { ...forward, cache }));
      const d = await l1.value.data();
      l1.release();
      for (let c = 0; c < K; c++) {
        for (let j = 1; j < a; j++) {
          const r = logSoftmaxAt(d, (c * (a - 1) + (j - 1)) * V, V, cands[c]![j]!);
          ll[c] += r.lp;
          if (c === 0 && r.argmax !== cands[0]![j]) greedy = false;
        }
      }
    }
    const correct = ll.slice(1).every((x) => ll[0]! > x);
    return { correct, greedy, logLikelihoods: ll };
  } finally {
    cache.dispose();
  }
}
