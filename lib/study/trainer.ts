/**
 * The study's training runs, on lib/train's `train()`: the token stream is packed into rows of
 * seqLen + 1 tokens (packSequences; documents are already separated by EOS), shuffled per epoch
 * by the seeded DataLoader; AdamW (decoupled weight decay on matrices only, global-norm clipping),
 * linear warmup then cosine decay to lr · minLrRatio (minLrRatio = 1: constant after warmup).
 * Progress goes to the study's ProgressSink; an aborted signal stops after the current step and
 * surfaces here as StudyAborted (nothing partial is saved by the study).
 */
import type { ForwardOptions, CausalLM } from "../models/causal_lm.js";
import { packSequences, train, type PackedRows } from "../train/index.js";
import type { ProgressSink } from "./progress.js";

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
  seqLen: number;
  lr: number;
  warmupSteps: number;
  /** The cosine ends at lr · minLrRatio (1 = constant after warmup). */
  minLrRatio: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  clip: number;
  seed: number;
}

export interface TrainResult {
  steps: number;
  tokens: number;
  /** Mean training loss of the last max(1, steps/20) steps. */
  finalLoss: number;
  /** At most ~100 points (every k-th step, plus the first and the last). */
  lossCurve: { step: number; loss: number }[];
  seconds: number;
  tokensPerSecond: number;
}

const packed = new WeakMap<Int32Array, Map<number, PackedRows>>();

/** The stream packed into rows of seqLen + 1 (cached per stream and length). */
function rowsOf(stream: Int32Array, seqLen: number): PackedRows {
  let m = packed.get(stream);
  if (!m) packed.set(stream, (m = new Map()));
  let r = m.get(seqLen);
  if (!r) m.set(seqLen, (r = packSequences(stream, { seqLen })));
  return r;
}

/**
 * Trains `model` in place on `stream`. `forward` options (the YaRN fine-tune's scaled rope) apply
 * to every step. Throws StudyAborted when `signal` stopped the run.
 */
export async function trainLM(
  model: CausalLM,
  stream: Int32Array,
  cfg: TrainConfig,
  opts: { progress?: ProgressSink; signal?: AbortSignal; forward?: ForwardOptions; what?: string; curvePoints?: number } = {},
): Promise<TrainResult> {
  const what = opts.what ?? "training";
  checkAbort(opts.signal, what);
  let ema = NaN;
  const res = await train(model, {
    data: rowsOf(stream, cfg.seqLen),
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
    forward: opts.forward,
    signal: opts.signal,
    progress: false,
    onStep: (s) => {
      ema = Number.isNaN(ema) ? s.loss : 0.95 * ema + 0.05 * s.loss;
      opts.progress?.update({ step: s.step, total: s.steps, loss: ema, lr: s.lr, tokensPerSecond: s.tokensPerSecond });
    },
  });
  if (res.aborted) throw new StudyAborted(what);
  const n = res.losses.length;
  const every = Math.max(1, Math.floor(n / (opts.curvePoints ?? 100)));
  const lossCurve = res.losses.map((loss, i) => ({ step: i + 1, loss })).filter((p) => p.step === 1 || p.step === n || p.step % every === 0);
  const tail = res.losses.slice(-Math.max(1, Math.floor(n / 20)));
  return {
    steps: res.steps,
    tokens: res.tokens,
    finalLoss: tail.reduce((a, b) => a + b, 0) / tail.length,
    lossCurve,
    seconds: res.seconds,
    tokensPerSecond: res.tokensPerSecond,
  };
}
