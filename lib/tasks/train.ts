/**
 * One classification trainer for every fine-tuning method (issue 11): full fine-tuning, LoRA,
 * P-tuning v2 and APT differ only in which parameters are trainable, so `trainClassifier` trains
 * whatever the model has unfrozen (plus any `params` given) and nothing else.
 *
 *   batches   a seeded permutation of the examples per epoch, cut into batches of batchSize (the
 *             last one of an epoch may be smaller); each batch right-padded to its longest example
 *             with the task's pad id, keyLengths = the real lengths (padding is never attended to
 *             nor scored), token type ids padded with 0, token labels with IGNORE_INDEX
 *   step      loss recorded in slices when the model has lossSteps (Tape.runSliced, the event loop
 *             turns between layers), backward in slices, AdamW (lib/train) at lrAt(step) with
 *             linear warmup then cosine decay to 0.1·lr, global-norm clipping; one value read per
 *             step (the loss)
 *   tokens/s  real (unpadded) input tokens per second of training
 *
 * `evaluateClassifier` scores a model on an encoded task without recording: sequence tasks →
 * accuracy and macro-F1 (lib/tasks/metrics.ts); token tasks → span F1 / precision / recall
 * (seqeval semantics) and word-level accuracy on the words' predicted tags (first sub-token).
 */
import { CtxwinError, show } from "../errors.js";
import { IGNORE_INDEX } from "../defaults.js";
import * as ops from "../ops/index.js";
import type { Tensor } from "../tensor.js";
import { noGrad, noGradSliced, Tape, type Parameter, type Variable } from "../nn/autograd.js";
import { Module } from "../nn/module.js";
import type { Steps } from "../util/slices.js";
import { Rng, checkSeed } from "../util/rng.js";
import { AdamW } from "../train/optim.js";
import { checkSchedule, lrAt, type ScheduleOptions } from "../train/schedule.js";
import { predictLabels } from "../models/heads.js";
import { accuracy, macroF1, spanF1 } from "./metrics.js";
import { wordPredictions, type EncodedTask } from "./encode.js";

/** Forward options a classifier takes (the Encoder reads both; a DecoderClassifier reads keyLengths). */
export interface ClassifierInputs {
  keyLengths?: readonly number[];
  tokenTypeIds?: readonly (readonly number[])[];
}

/** What the trainer needs of a model: Encoder with a head, or DecoderClassifier. */
export interface ClassifierModel extends Module {
  logits(ids: readonly (readonly number[])[], opts?: ClassifierInputs): Variable;
  loss(ids: readonly (readonly number[])[], labels: readonly number[] | readonly (readonly number[])[], opts?: ClassifierInputs): Variable;
  /** loss() as Steps: recorded in slices when present. */
  lossSteps?(ids: readonly (readonly number[])[], labels: readonly number[] | readonly (readonly number[])[], opts?: ClassifierInputs): Steps<Variable>;
  /** logits() as Steps: evaluated in slices when present. */
  logitsSteps?(ids: readonly (readonly number[])[], opts?: ClassifierInputs): Steps<Variable>;
}

/** A padded batch of encoded examples. */
export interface ClassifierBatch {
  ids: number[][];
  tokenTypeIds: number[][];
  keyLengths: number[];
  /** Sequence tasks: one label per row; token tasks: one per position. */
  labels: number[] | number[][];
  /** Real (unpadded) tokens in the batch. */
  tokens: number;
}

/** Rows `rows` of `task` as one right-padded batch (see the file header). */
export function padBatch(task: EncodedTask, rows: readonly number[]): ClassifierBatch {
  const T = Math.max(...rows.map((r) => task.examples[r]!.ids.length));
  const pad = <X>(a: readonly X[], fill: X): X[] => [...a, ...new Array<X>(T - a.length).fill(fill)];
  const ex = rows.map((r) => task.examples[r]!);
  return {
    ids: ex.map((e) => pad(e.ids, task.pad)),
    tokenTypeIds: ex.map((e) => pad(e.typeIds, 0)),
    keyLengths: ex.map((e) => e.ids.length),
    labels: task.kind === "sequence" ? rows.map((r) => task.examples[r]!.label) : rows.map((r) => pad(task.examples[r]!.labels, IGNORE_INDEX)),
    tokens: ex.reduce((a, e) => a + e.ids.length, 0),
  };
}

export interface TrainClassifierOptions {
  /** Optimizer steps (or give epochs). */
  steps?: number;
  /** Passes over the examples: steps = epochs · ceil(examples / batchSize). */
  epochs?: number;
  batchSize: number;
  /** Peak learning rate. */
  lr: number;
  /** Linear warmup steps. Default 0. */
  warmup?: number;
  /** AdamW decoupled weight decay (matrices only, lib/train's default choice). Default 0.01. */
  weightDecay?: number;
  /** Global-norm clipping (0 = off). Default 1. */
  maxNorm?: number;
  /** Decay after warmup. Default "cosine" (to 0.1·lr). */
  decay?: ScheduleOptions["decay"];
  /** Seed of the example order. Default 0. */
  seed?: number;
  /** Parameters to train besides the model's unfrozen ones (adapters kept outside the module tree). */
  params?: readonly Parameter[];
  /** Called after every step. */
  progress?: (p: { step: number; steps: number; loss: number; lr: number; tokensPerSecond: number }) => void;
  /** Stops after the current step (the result says aborted). */
  signal?: AbortSignal;
}

export interface TrainClassifierResult {
  /** Mean loss of every step. */
  losses: number[];
  steps: number;
  /** Real input tokens trained on. */
  tokens: number;
  tokensPerSecond: number;
  seconds: number;
  /** Scalars trained (each parameter once). */
  trainableParameters: number;
  aborted: boolean;
}

function posInt(fn: string, name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) throw new CtxwinError("ERR_ARG", `${fn}: ${name}: expected a positive integer, got ${show(v)}`);
  return v;
}

function checkTask(fn: string, model: unknown, task: EncodedTask): void {
  if (!(model instanceof Module) || typeof (model as ClassifierModel).logits !== "function" || typeof (model as ClassifierModel).loss !== "function") {
    throw new CtxwinError("ERR_ARG", `${fn}: model: expected a classifier (an Encoder with a head, or a DecoderClassifier), got ${show(model)}`);
  }
  if (!task || (task.kind !== "sequence" && task.kind !== "token") || !Array.isArray(task.examples) || task.examples.length === 0) {
    throw new CtxwinError("ERR_ARG", `${fn}: task: expected an encoded task with examples (encodeClassification / encodeTagging), got ${show(task)}`);
  }
  const head = headKind(model as ClassifierModel);
  if (head !== null && head !== task.kind) throw new CtxwinError("ERR_ARG", `${fn}: model: expected a ${task.kind} head for a ${task.kind} task, got a ${head} head`);
}

/** The head kind of an Encoder (config.head) or DecoderClassifier (kind); null when unknown. */
function headKind(model: ClassifierModel): string | null {
  const m = model as unknown as { kind?: string; config?: { head?: string } };
  return m.kind ?? m.config?.head ?? null;
}

/** Scalars in the trainable parameters: the model's unfrozen ones and `extra`, each once. */
export function trainableParameters(model: Module, extra: readonly Parameter[] = []): [string, Parameter][] {
  const named = model.namedParameters().filter(([, p]) => !p.frozen);
  const seen = new Set(named.map(([, p]) => p));
  extra.forEach((p, i) => {
    if (!seen.has(p)) {
      seen.add(p);
      named.push([p.name ?? `params[${i}]`, p]);
    }
  });
  return named;
}

/** Trains `model` in place on `task` (see the file header). */
export async function trainClassifier(model: ClassifierModel, task: EncodedTask, opts: TrainClassifierOptions): Promise<TrainClassifierResult> {
  const fn = "trainClassifier";
  checkTask(fn, model, task);
  if (!opts || typeof opts !== "object") throw new CtxwinError("ERR_ARG", `${fn}: opts: expected an object, got ${show(opts)}`);
  const batchSize = posInt(fn, "opts.batchSize", opts.batchSize);
  const n = task.examples.length;
  const perEpoch = Math.ceil(n / batchSize);
  if ((opts.steps === undefined) === (opts.epochs === undefined)) throw new CtxwinError("ERR_ARG", `${fn}: opts.steps / opts.epochs: expected exactly one of them, got ${opts.steps === undefined ? "neither" : "both"}`);
  const steps = opts.steps !== undefined ? posInt(fn, "opts.steps", opts.steps) : posInt(fn, "opts.epochs", opts.epochs) * perEpoch;
  const seed = checkSeed(fn, opts.seed ?? 0, "opts.seed");
  const sched: ScheduleOptions = { lr: opts.lr, warmup: opts.warmup ?? 0, decaySteps: steps, decay: opts.decay };
  checkSchedule(sched, fn);
  const named = trainableParameters(model, opts.params);
  if (named.length === 0) throw new CtxwinError("ERR_ARG", `${fn}: model: expected trainable parameters (unfrozen, or opts.params), got none (every parameter is frozen)`);
  const trainable = named.reduce((a, [, p]) => a + p.value.shape.reduce((x, y) => x * y, 1), 0);
  const optimizer = new AdamW(named, { lr: opts.lr, weightDecay: opts.weightDecay ?? 0.01, maxNorm: opts.maxNorm ?? 1 });
  const rng = new Rng(seed);
  let order: number[] = [];
  const nextRows = (): number[] => {
    if (order.length === 0) order = Array.from(rng.permutation(n));
    return order.splice(0, Math.min(batchSize, order.length));
  };
  const losses: number[] = [];
  let tokens = 0;
  let trainSeconds = 0;
  const t0 = performance.now();
  let step = 0;
  model.train(true);
  try {
    while (step < steps && !opts.signal?.aborted) {
      const ts = performance.now();
      const b = padBatch(task, nextRows());
      const inputs: ClassifierInputs = { keyLengths: b.keyLengths, tokenTypeIds: b.tokenTypeIds };
      let lossCopy: Tensor;
      {
        using tape = new Tape();
        using loss = model.lossSteps ? await tape.runSliced(model.lossSteps(b.ids, b.labels, inputs)) : tape.run(() => model.loss(b.ids, b.labels, inputs));
        await tape.backwardSliced(loss);
        lossCopy = ops.scale(loss.value, 1); // the loss itself goes with this block
      }
      step++;
      const lr = lrAt(step, sched);
      const norm = await optimizer.stepSliced({ lr });
      norm?.dispose();
      model.zeroGrad();
      for (const [, p] of named) p.zeroGrad();
      let value: number;
      {
        using l = lossCopy;
        value = (await l.data())[0]!;
      }
      if (!Number.isFinite(value)) throw new CtxwinError("ERR_INTERNAL", `${fn}: the loss became ${value} at step ${step} (lr ${lr.toExponential(2)}); lower lr or check the data`);
      losses.push(value);
      tokens += b.tokens;
      trainSeconds += (performance.now() - ts) / 1000;
      opts.progress?.({ step, steps, loss: value, lr, tokensPerSecond: tokens / trainSeconds });
    }
  } finally {
    optimizer.dispose();
    model.zeroGrad();
  }
  return { losses, steps: step, tokens, tokensPerSecond: trainSeconds > 0 ? tokens / trainSeconds : 0, seconds: (performance.now() - t0) / 1000, trainableParameters: trainable, aborted: step < steps };
}

/** Scores of a sequence task. */
export interface SequenceScores {
  kind: "sequence";
  accuracy: number;
  macroF1: number;
  /** Predicted label per example. */
  predictions: string[];
}

/** Scores of a token (BIO tagging) task. */
export interface TokenScores {
  kind: "token";
  spanF1: number;
  precision: number;
  recall: number;
  /** Word-level tag accuracy. */
  accuracy: number;
  /** Predicted tags per example (per word). */
  predictions: string[][];
}

/** Scores `model` on `task` in batches, without gradients (see the file header). */
export async function evaluateClassifier(model: ClassifierModel, task: EncodedTask, opts: { batchSize?: number; signal?: AbortSignal } = {}): Promise<SequenceScores | TokenScores> {
  const fn = "evaluateClassifier";
  checkTask(fn, model, task);
  const bs = posInt(fn, "opts.batchSize", opts.batchSize ?? 32);
  const numLabels = task.labels.names.length;
  const preds: number[][] = []; // per example: its label (sequence) or per-position labels (token)
  model.train(false);
  for (let s = 0; s < task.examples.length; s += bs) {
    if (opts.signal?.aborted) throw new CtxwinError("ERR_ABORTED", `${fn}: aborted`);
    const rows = Array.from({ length: Math.min(bs, task.examples.length - s) }, (_, i) => s + i);
    const b = padBatch(task, rows);
    const inputs: ClassifierInputs = { keyLengths: b.keyLengths, tokenTypeIds: b.tokenTypeIds };
    const lg = model.logitsSteps ? await noGradSliced(model.logitsSteps(b.ids, inputs)) : noGrad(() => model.logits(b.ids, inputs));
    let flat: number[];
    try {
      const L = lg.shape[lg.shape.length - 1];
      if (L !== numLabels) throw new CtxwinError("ERR_ARG", `${fn}: model: expected a head with ${numLabels} labels (the task's), got ${L}`);
      flat = await predictLabels(lg);
    } finally {
      lg.release();
    }
    const T = b.ids[0]!.length;
    rows.forEach((_, i) => preds.push(task.kind === "sequence" ? [flat[i]!] : flat.slice(i * T, (i + 1) * T)));
  }
  const names = task.labels.names;
  if (task.kind === "sequence") {
    const gold = task.examples.map((e) => names[e.label]!);
    const pred = preds.map((p) => names[p[0]!]!);
    return { kind: "sequence", accuracy: accuracy(gold, pred), macroF1: macroF1(gold, pred).macroF1, predictions: pred };
  }
  const gold = task.examples.map((e) => e.tags);
  const pred = task.examples.map((e, i) => wordPredictions(e, preds[i]!, task.labels));
  const f = spanF1(gold, pred);
  return { kind: "token", spanF1: f.f1, precision: f.precision, recall: f.recall, accuracy: accuracy(gold.flat(), pred.flat()), predictions: pred };
}
