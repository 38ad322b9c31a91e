/**
 * Supervised fine-tuning on prompt/response examples and its evaluation, for `ctxwin sft-study`.
 *
 * Sequences: BOS + prompt tokens + response tokens (+ EOS, when the tokenizer has one, for text
 * responses): the model must also stop, so greedy decoding of the prompt gives exactly the
 * response. The loss is the mean cross-entropy of the response tokens (EOS included); prompt
 * positions carry IGNORE_INDEX, so the prompt is read, never scored.
 *
 * Training (`sftTrain`) runs lib/train's `train()`: every example is one row (right-padded; padding
 * is never scored and, with causal attention, never seen), rows shuffled per epoch by the seeded
 * DataLoader, AdamW with linear warmup then a constant rate, global-norm clipping, full
 * fine-tuning (every weight). A budget of n examples and S steps cycles over the n examples:
 * budgets that differ in n have the same steps (the same compute) and differ in data only.
 *
 * Evaluation (`evaluateExamples`): one teacher-forced forward per batch. An example is correct
 * when every response token (EOS included) is the full-vocabulary argmax given the prompt and the
 * earlier response tokens — exactly when greedy decoding would produce the response and stop.
 * Its NLL is the summed cross-entropy of the response tokens.
 */
import { CtxwinError } from "../errors.js";
import { IGNORE_INDEX } from "../defaults.js";
import type { CausalLM } from "../models/causal_lm.js";
import type { Tokenizer } from "../models/tokenizer/types.js";
import { PackedRows, PAD, train, type Batch } from "../train/index.js";
import { StudyAborted, checkAbort } from "../study/trainer.js";
import type { ProgressSink } from "../util/progress.js";

/** An example as token ids: BOS + prompt + response (+ EOS); the first `promptLength` are the prompt. */
export interface EncodedExample {
  ids: number[];
  promptLength: number;
}

/** Encodes a text example (see the header). `prompt` / `response` may also be token ids (kept as given). */
export function encodeExample(tok: Tokenizer | null, ex: { prompt: string | readonly number[]; response: string | readonly number[] }): EncodedExample {
  let prompt: number[];
  if (typeof ex.prompt === "string") {
    if (!tok) throw new CtxwinError("ERR_ARG", "sft-study: prompt: expected token ids (no tokenizer), got text");
    prompt = tok.encode(ex.prompt, { addSpecialTokens: true });
    if (tok.bosId !== null && tok.bosId !== undefined && prompt[0] !== tok.bosId) prompt.unshift(tok.bosId);
  } else prompt = [...ex.prompt];
  let response: number[];
  if (typeof ex.response === "string") {
    if (!tok) throw new CtxwinError("ERR_ARG", "sft-study: response: expected token ids (no tokenizer), got text");
    response = tok.encode(ex.response, { addSpecialTokens: false });
    if (tok.eosId !== null && tok.eosId !== undefined) response.push(tok.eosId);
  } else response = [...ex.response];
  return { ids: [...prompt, ...response], promptLength: prompt.length };
}

/** The targets of a padded row of T inputs: response tokens only. */
function targetsOf(e: EncodedExample, T: number): number[] {
  const out = new Array<number>(T).fill(IGNORE_INDEX);
  for (let t = Math.max(0, e.promptLength - 1); t + 1 < e.ids.length && t < T; t++) out[t] = e.ids[t + 1]!;
  return out;
}

/** One row per example (seqLen = the longest example − 1), padded with PAD. */
export function sftRows(examples: readonly EncodedExample[]): PackedRows {
  if (examples.length === 0) throw new CtxwinError("ERR_ARG", "sftRows: examples: expected at least one, got none");
  const w = Math.max(...examples.map((e) => e.ids.length));
  const data = new Int32Array(examples.length * w).fill(PAD);
  examples.forEach((e, i) => data.set(e.ids, i * w));
  return new PackedRows(data, w - 1);
}

export interface SftConfig {
  steps: number;
  batch: number;
  lr: number;
  warmupSteps: number;
  weightDecay: number;
  clip: number;
  seed: number;
}

export interface SftResult {
  steps: number;
  /** Mean loss of the last max(1, steps/10) steps. */
  finalLoss: number;
  /** Every k-th step's loss (at most ~25 points, first and last included). */
  lossCurve: { step: number; loss: number }[];
  seconds: number;
}

/**
 * Fine-tunes `model` in place on `examples` (cycled) for cfg.steps steps; see the header.
 * Throws StudyAborted when `signal` stopped it.
 */
export async function sftTrain(model: CausalLM, examples: readonly EncodedExample[], cfg: SftConfig, opts: { signal?: AbortSignal; progress?: ProgressSink; what?: string } = {}): Promise<SftResult> {
  const what = opts.what ?? "fine-tuning";
  checkAbort(opts.signal, what);
  const rows = sftRows(examples);
  const batch = Math.min(cfg.batch, examples.length);
  const lossFn = (m: CausalLM, b: Batch) => {
    const T = b.inputs[0]!.length;
    return m.loss(b.inputs, b.rows.map((r) => targetsOf(examples[r]!, T)));
  };
  const losses: number[] = [];
  const res = await train(model, {
    data: rows,
    batchSize: batch,
    steps: cfg.steps,
    lr: cfg.lr,
    warmup: cfg.warmupSteps,
    decay: "constant",
    weightDecay: cfg.weightDecay,
    maxNorm: cfg.clip,
    seed: cfg.seed,
    signal: opts.signal,
    progress: false,
    lossFn: lossFn as never,
    onStep: (s) => {
      losses.push(s.loss);
      opts.progress?.update({ step: s.step, total: s.steps, loss: s.loss, lr: s.lr });
    },
  });
  if (res.aborted) throw new StudyAborted(what);
  const n = losses.length;
  const every = Math.max(1, Math.floor(n / 25));
  const tail = losses.slice(-Math.max(1, Math.floor(n / 10)));
  return {
    steps: res.steps,
    finalLoss: tail.reduce((a, b) => a + b, 0) / Math.max(1, tail.length),
    lossCurve: losses.map((loss, i) => ({ step: i + 1, loss })).filter((p) => p.step === 1 || p.step === n || p.step % every === 0),
    seconds: res.seconds,
  };
}

export interface ExampleScores {
  /** 1 when greedy decoding gives the response exactly (see the header), else 0. */
  correct: number[];
  /** Summed response NLL (nats) per example. */
  nll: number[];
  /** Response tokens per example. */
  tokens: number[];
}

/** Teacher-forced exact match and response NLL of every example (see the header). */
export async function evaluateExamples(model: CausalLM, examples: readonly EncodedExample[], opts: { batchSize?: number; signal?: AbortSignal } = {}): Promise<ExampleScores> {
  const bs = opts.batchSize ?? 16;
  const V = model.config.vocabSize;
  const out: ExampleScores = { correct: new Array(examples.length).fill(0), nll: new Array(examples.length).fill(0), tokens: new Array(examples.length).fill(0) };
  model.train(false);
  for (let s = 0; s < examples.length; s += bs) {
    checkAbort(opts.signal, "evaluation");
    const batch = examples.slice(s, s + bs);
    const T = Math.max(...batch.map((e) => e.ids.length)) - 1;
    const ids = batch.map((e) => Array.from({ length: T }, (_, t) => e.ids[t] ?? 0));
    using logits = await model.forward(ids);
    const v = await logits.data();
    batch.forEach((e, b) => {
      let ok = 1;
      let nll = 0;
      let n = 0;
      for (let t = e.promptLength - 1; t + 1 < e.ids.length; t++) {
        const off = (b * T + t) * V;
        const target = e.ids[t + 1]!;
        let max = -Infinity;
        let am = 0;
        for (let i = 0; i < V; i++) {
          const x = v[off + i]!;
          if (x > max) {
            max = x;
            am = i;
          }
        }
        let z = 0;
        for (let i = 0; i < V; i++) z += Math.exp(v[off + i]! - max);
        nll += Math.log(z) - (v[off + target]! - max);
        if (am !== target) ok = 0;
        n++;
      }
      out.correct[s + b] = ok;
      out.nll[s + b] = nll;
      out.tokens[s + b] = n;
    });
  }
  return out;
}
