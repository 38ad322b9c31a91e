/**
 * The study's training runs, on lib/train's `train()`: the mixture's rows (training_data.ts:
 * BOS + content, LM and passkey rows) shuffled per epoch by the seeded DataLoader; AdamW (decoupled
 * weight decay on matrices only, global-norm clipping), linear warmup then cosine decay to
 * lr · minLrRatio (minLrRatio = 1: constant after warmup).
 *
 * Loss: the mean next-token NLL over every target of the batch, plus `passkeyWeight` × the mean NLL
 * of the passkey answer tokens in the batch (the disclosed auxiliary objective: the answers are a
 * few tokens per row, too few for the LM loss alone to make small models learn retrieval within
 * the quick budget). The reported training loss is the LM part.
 *
 * Progress goes to the study's ProgressSink; an aborted signal stops after the current step and
 * surfaces here as StudyAborted (nothing partial is saved by the study).
 */
import { IGNORE_INDEX } from "../defaults.js";
import type { CausalLM, ForwardOptions } from "../models/causal_lm.js";
import * as F from "../nn/functional.js";
import { tidy, type Variable } from "../nn/autograd.js";
import { train, type Batch } from "../train/index.js";
import type { MixedRows } from "./training_data.js";
import type { ProgressSink } from "../util/progress.js";

export class StudyAborted extends Error {
  constructor(what: string) {
    super(`interrupted during ${what}`);
    this.name = "StudyAborted";
  }
}

export function checkAbort(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new StudyAborted(what);
}

export interface TrainConfig {
  steps: number;
  /** Rows per step. */
  batch: number;
  lr: number;
  warmupSteps: number;
  /** The cosine ends at lr · minLrRatio (1 = constant after warmup). */
  minLrRatio: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  clip: number;
  /** Weight of the auxiliary loss on passkey answers (0 = LM loss only). */
  passkeyWeight: number;
  seed: number;
}

export interface TrainResult {
  steps: number;
  tokens: number;
  /** Mean LM loss of the last max(1, steps/20) steps. */
  finalLoss: number;
  /** At most ~100 points (every k-th step, plus the first and the last): the LM loss. */
  lossCurve: { step: number; loss: number }[];
  seconds: number;
  tokensPerSecond: number;
}

/**
 * The loss of one batch: LM NLL over every target + w × NLL of the passkey answers (see the
 * header). The LM part is kept in `parts` (one more holder) for the caller to read and release.
 */
function mixtureLoss(mix: MixedRows, weight: number, forward: ForwardOptions | undefined, parts: Variable[]): (model: CausalLM, batch: Batch) => Variable {
  return (model, batch) =>
    tidy(() => {
      const B = batch.inputs.length;
      const T = batch.inputs[0]!.length;
      const flat = F.reshape(model.logits(batch.inputs, forward), [B * T, model.config.vocabSize]);
      const targets = batch.targets.flat();
      const lm = F.crossEntropy(flat, targets);
      parts.push(lm.keep());
      const aux = weight > 0 ? new Array<number>(B * T).fill(IGNORE_INDEX) : null;
      let any = false;
      if (aux) {
        batch.rows.forEach((r, b) => {
          const ans = mix.answers[r];
          if (!ans) return;
          // row position p (1 … T) is the target of input position p − 1
          for (const p of ans) aux[b * T + p - 1] = targets[b * T + p - 1]!;
          any = true;
        });
      }
      if (!aux || !any) return lm;
      return F.add(lm, F.scale(F.crossEntropy(flat, aux), weight));
    });
}

/**
 * Trains `model` in place on the mixture. `forward` options (a fine-tune's scaled rope) apply to
 * every step. Throws StudyAborted when `signal` stopped the run.
 */
export async function trainLM(
  model: CausalLM,
  mix: MixedRows,
  cfg: TrainConfig,
  opts: { progress?: ProgressSink; signal?: AbortSignal; forward?: ForwardOptions; what?: string; curvePoints?: number } = {},
): Promise<TrainResult> {
  const what = opts.what ?? "training";
  checkAbort(opts.signal, what);
  let ema = NaN;
  const parts: Variable[] = [];
  const lmLosses: number[] = [];
  const res = await train(model, {
    data: mix.rows,
    batchSize: cfg.batch,
    steps: cfg.steps,
    lr: cfg.lr,
    minLr: cfg.lr * cfg.minLrRatio,
    warmup: cfg.warmupSteps,
    decay: cfg.minLrRatio === 1 ? "constant" : "cosine",
    weightDecay: cfg.weightDecay,
    beta1: cfg.beta1,
    beta2: cfg.beta2,
    maxNorm: cfg.clip,
    seed: cfg.seed,
    signal: opts.signal,
    progress: false,
    lossFn: mixtureLoss(mix, cfg.passkeyWeight, opts.forward, parts) as never,
    onStep: async (s) => {
      // the LM part of this step's loss (kept by the loss function, read once per step)
      let lm = s.loss;
      const held = parts.splice(0);
      if (held.length) {
        const vals = await Promise.all(held.map((v) => v.value.data()));
        lm = vals.reduce((a, d) => a + d[0]!, 0) / vals.length;
      }
      for (const v of held) v.release();
      lmLosses.push(lm);
      ema = Number.isNaN(ema) ? lm : 0.95 * ema + 0.05 * lm;
      opts.progress?.update({ step: s.step, total: s.steps, loss: ema, lr: s.lr, tokensPerSecond: s.tokensPerSecond });
    },
  });
  for (const v of parts.splice(0)) v.release();
  if (res.aborted) throw new StudyAborted(what);
  const n = lmLosses.length;
  const every = Math.max(1, Math.floor(n / (opts.curvePoints ?? 100)));
  const lossCurve = lmLosses.map((loss, i) => ({ step: i + 1, loss })).filter((p) => p.step === 1 || p.step === n || p.step % every === 0);
  const tail = lmLosses.slice(-Math.max(1, Math.floor(n / 20)));
  return {
    steps: res.steps,
    tokens: res.tokens,
    finalLoss: tail.reduce((a, b) => a + b, 0) / tail.length,
    lossCurve,
    seconds: res.seconds,
    tokensPerSecond: res.tokensPerSecond,
  };
}
