/**
 * train(): the training loop.
 *
 * One optimizer step = `gradAccum` micro-batches of `batchSize` rows: each runs the model's loss
 * inside a Tape and backpropagates (gradients accumulate in p.grad), then AdamW updates every
 * trainable parameter with gradScale = 1/gradAccum (so accumulating k batches of b rows matches
 * one batch of k·b rows), clipping to `maxNorm` with the global norm computed on the device.
 * Everything is queued: the loop awaits exactly one value per step — the step's mean loss and
 * gradient norm, read together — so the event loop stays free (timers, I/O, signal handlers run
 * while the native queue computes). Nothing in the loop calls dataSync().
 *
 * The learning rate is a pure function of the step (warmup + cosine decay to minLr), the data
 * order a function of the seed, and the checkpoint holds the trainable weights, the AdamW moments,
 * the data loader's position and PRNG state: a resumed run reproduces the uninterrupted loss curve
 * bit for bit.
 */
import type { Steps } from "../util/slices.js";
import { disposingArray } from "../util/scope.js";
import { CtxwinError, show } from "../errors.js";
import { Tensor } from "../tensor.js";
import * as ops from "../ops/index.js";
import { noGrad, Tape, type Parameter, type Variable } from "../nn/autograd.js";
import { Module } from "../nn/module.js";
import type { CausalLM, LossOptions } from "../models/causal_lm.js";
import { saveAdapter, saveModel } from "../models/save.js";
import { getLoraInfo } from "../peft/lora.js";
import { AdamW } from "./optim.js";
import { checkSchedule, lrAt, type ScheduleOptions } from "./schedule.js";
import { DataLoader, PackedRows, orderedBatches, type Batch } from "./data.js";
import { CHECKPOINT_VERSION, latestCheckpoint, readCheckpoint, restoreParams, saveCheckpoint, type EvalResult, type TrainerState } from "./checkpoint.js";
import { createTrainingProgress, formatDuration } from "../util/progress.js";
import { checkSeed } from "../util/rng.js";

/** What train() needs of a model: a Module with a differentiable next-token loss (CausalLM has it). */
export interface TrainableModel extends Module {
  loss(ids: number[][], targets: number[][], opts?: LossOptions): Variable;
  /** loss() as Steps (CausalLM has it): train() then records it in event-loop-friendly slices. */
  lossSteps?(ids: number[][], targets: number[][], opts?: LossOptions): Steps<Variable>;
}

export interface StepInfo {
  step: number;
  steps: number;
  /** Mean loss over the step's micro-batches. */
  loss: number;
  /** Global gradient norm (of the accumulated mean gradient, before clipping). */
  gradNorm: number;
  lr: number;
  /** Input tokens of this step (gradAccum · batchSize · seqLen). */
  tokens: number;
  /** Training throughput so far in this run (evaluation and checkpoint time excluded). */
  tokensPerSecond: number;
  /** Seconds this step took (wall clock). */
  seconds: number;
  epoch: number;
}

export interface TrainOptions {
  /** Training rows (a DataLoader is built with batchSize and seed) or a DataLoader of your own. */
  data: PackedRows | DataLoader;
  /** Validation rows (evaluated in order, unshuffled). */
  valData?: PackedRows;
  /** Total optimizer steps (a resumed run continues up to this). */
  steps: number;
  /** Rows per micro-batch (required with PackedRows; must equal the loader's with a DataLoader). */
  batchSize?: number;
  /** Micro-batches per optimizer step. Default 1. */
  gradAccum?: number;
  /** Peak learning rate. */
  lr: number;
  /** Final learning rate of the cosine decay. Default 0.1·lr. */
  minLr?: number;
  /** Linear warmup steps. Default 0. */
  warmup?: number;
  /** Decay shape. Default "cosine". */
  decay?: ScheduleOptions["decay"];
  /** Decoupled weight decay on matrices (not biases / norm weights). Default 0.01. */
  weightDecay?: number;
  /** Which parameters get weight decay (name, parameter) → boolean. Default: see optim.ts defaultDecay. */
  decayFilter?: (name: string, p: Parameter) => boolean;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Gradient clipping (global norm); 0 = off. Default 1. */
  maxNorm?: number;
  /** Evaluate every this many steps (0 = only after the last step). Default 0. */
  evalEvery?: number;
  /** Validation batches per evaluation (Infinity = all rows). Default Infinity. */
  evalBatches?: number;
  /** Validation batch size. Default batchSize. */
  evalBatchSize?: number;
  /** Where checkpoints go (see checkpoint.ts); none without it. */
  checkpointDir?: string;
  /** Checkpoint every this many steps (0 = only at the end and on abort). Default 0. */
  checkpointEvery?: number;
  /** Checkpoints kept (oldest removed). Default 2. */
  keepCheckpoints?: number;
  /** Also write the model in HF layout (or its PEFT adapter) into each checkpoint's hf/ (CausalLM only). */
  saveHf?: boolean;
  /** true: continue from checkpointDir's latest checkpoint if there is one; a path: that checkpoint. */
  resume?: boolean | string;
  /** Seed of the data order. Default 0. */
  seed?: number;
  /** Forward options for every loss (positional override for a YaRN fine-tune, windows, ...). */
  forward?: LossOptions;
  /** A custom loss instead of model.loss(batch.inputs, batch.targets) (called inside the tape). */
  lossFn?: (model: TrainableModel, batch: Batch) => Variable;
  /** Called after every step (awaited when it returns a promise). */
  onStep?: (info: StepInfo) => void | Promise<void>;
  /** Called after every evaluation. */
  onEval?: (e: EvalResult) => void | Promise<void>;
  /** Stop cleanly after the current step (a checkpoint is written when checkpointDir is set). */
  signal?: AbortSignal;
  /**
   * Progress display (lib/util/progress.ts): true = stderr (a line updated in place on a TTY,
   * periodic lines otherwise), a function = receives the lines stderr would get off a TTY
   * (periodic steps, evaluations, checkpoints, the end). Default false.
   */
  progress?: boolean | ((line: string) => void);
  /** Steps between progress lines when not on a TTY. Default max(1, round(steps / 20)). */
  progressEvery?: number;
}

export interface TrainResult {
  /** Mean loss of every step (index = step − 1; a resumed run includes the earlier steps). */
  losses: number[];
  /** Global gradient norm of every step. */
  gradNorms: number[];
  evals: EvalResult[];
  /** Input tokens per second of training in this call (evaluation and checkpoints excluded). */
  tokensPerSecond: number;
  /** Optimizer steps completed (including resumed ones). */
  steps: number;
  /** Input tokens trained on (including resumed steps). */
  tokens: number;
  /** Wall-clock seconds of this call. */
  seconds: number;
  /** True when the signal stopped the run before `steps`. */
  aborted: boolean;
  /** True when a finite-epoch DataLoader ran out before `steps`. */
  exhausted: boolean;
  /** The step the run resumed from (null: from scratch). */
  resumedFrom: number | null;
  /** The last checkpoint written (null: none). */
  checkpoint: string | null;
}

/** Resolves on the next turn of the event loop (after pending I/O and timers). */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function posInt(fn: string, name: string, v: unknown, dflt?: number, min = 1): number {
  const x = v ?? dflt;
  if (typeof x !== "number" || !Number.isInteger(x) || x < min) throw new CtxwinError("ERR_ARG", `${fn}: ${name}: expected an integer >= ${min}, got ${show(v)}`);
  return x;
}

function isCausalLM(m: Module): boolean {
  const c = m as unknown as Partial<CausalLM>;
  return typeof c.hfConfig === "function" && c.blocks !== undefined;
}

/** Mean loss (weighted by scored tokens) of `model` on `rows`, in order, without gradients. */
export async function evaluate(
  model: TrainableModel,
  rows: PackedRows,
  opts: { batchSize: number; maxBatches?: number; forward?: LossOptions; lossFn?: (model: TrainableModel, batch: Batch) => Variable },
): Promise<{ loss: number; ppl: number; tokens: number }> {
  let sum = 0;
  let tokens = 0;
  for (const batch of orderedBatches(rows, opts.batchSize, opts.maxBatches ?? Infinity)) {
    if (batch.tokens === 0) continue;
    using l = noGrad(() => (opts.lossFn ? opts.lossFn(model, batch) : model.loss(batch.inputs, batch.targets, opts.forward)));
    const v = (await l.value.data())[0]!;
    sum += v * batch.tokens;
    tokens += batch.tokens;
  }
  const loss = tokens > 0 ? sum / tokens : NaN;
  return { loss, ppl: Math.exp(loss), tokens };
}

/** Trains `model` in place. See the file header and TrainOptions. */
export async function train(model: TrainableModel, opts: TrainOptions): Promise<TrainResult> {
  const fn = "train";
  if (!(model instanceof Module)) throw new CtxwinError("ERR_ARG", `${fn}: model: expected a Module (e.g. createModel / loadModel), got ${show(model)}`);
  if (!opts || typeof opts !== "object") throw new CtxwinError("ERR_ARG", `${fn}: opts: expected an object, got ${show(opts)}`);
  if (!opts.lossFn && typeof model.loss !== "function") throw new CtxwinError("ERR_ARG", `${fn}: model: expected a loss(ids, targets) method (CausalLM) or opts.lossFn`);
  const steps = posInt(fn, "steps", opts.steps);
  const gradAccum = posInt(fn, "gradAccum", opts.gradAccum, 1);
  const seed = checkSeed(fn, opts.seed ?? 0);
  const evalEvery = posInt(fn, "evalEvery", opts.evalEvery, 0, 0);
  const checkpointEvery = posInt(fn, "checkpointEvery", opts.checkpointEvery, 0, 0);
  const keep = posInt(fn, "keepCheckpoints", opts.keepCheckpoints, 2, 1);
  const evalBatches = opts.evalBatches ?? Infinity;
  if (!(evalBatches === Infinity || (Number.isInteger(evalBatches) && evalBatches >= 1))) throw new CtxwinError("ERR_ARG", `${fn}: evalBatches: expected a positive integer or Infinity, got ${evalBatches}`);
  const sched: ScheduleOptions = { lr: opts.lr, minLr: opts.minLr, warmup: opts.warmup ?? 0, decaySteps: steps, decay: opts.decay };
  checkSchedule(sched, fn); // lr / minLr / warmup errors now, naming train

  let loader: DataLoader;
  if (opts.data instanceof DataLoader) {
    loader = opts.data;
    if (opts.batchSize !== undefined && opts.batchSize !== loader.batchSize) {
      throw new CtxwinError("ERR_ARG", `${fn}: batchSize: expected the DataLoader's batch size ${loader.batchSize} (or none), got ${opts.batchSize}`);
    }
  } else if (opts.data instanceof PackedRows) {
    const batchSize = posInt(fn, "batchSize", opts.batchSize);
    loader = new DataLoader(opts.data, { batchSize, seed, shuffle: true });
  } else {
    throw new CtxwinError("ERR_ARG", `${fn}: data: expected PackedRows (packSequences) or a DataLoader, got ${show(opts.data)}`);
  }
  const batchSize = loader.batchSize;
  const seqLen = loader.rows.seqLen;
  if (opts.valData !== undefined && !(opts.valData instanceof PackedRows)) throw new CtxwinError("ERR_ARG", `${fn}: valData: expected PackedRows, got ${show(opts.valData)}`);
  if (opts.resume && !opts.checkpointDir && typeof opts.resume !== "string") throw new CtxwinError("ERR_ARG", `${fn}: resume: expected checkpointDir to resume from (or a checkpoint path), got none`);
  if (opts.saveHf && !isCausalLM(model)) throw new CtxwinError("ERR_ARG", `${fn}: saveHf: expected a CausalLM model (createModel / loadModel)`);

  const named = model.namedParameters().filter(([, p]) => !p.frozen);
  const optimizer = new AdamW(named, {
    lr: opts.lr,
    beta1: opts.beta1,
    beta2: opts.beta2,
    eps: opts.eps,
    weightDecay: opts.weightDecay ?? 0.01,
    maxNorm: opts.maxNorm ?? 1,
    decay: opts.decayFilter,
  });
  const progress = createTrainingProgress(opts.progress, posInt(fn, "progressEvery", opts.progressEvery, Math.max(1, Math.round(steps / 20))));
  const t0 = performance.now();
  let losses: number[] = [];
  let gradNorms: number[] = [];
  let evals: EvalResult[] = [];
  let tokensBefore = 0;
  let step = 0;
  let resumedFrom: number | null = null;
  let lastCheckpoint: string | null = null;
  let lastCheckpointStep = -1;
  let trainSeconds = 0;
  let trainTokens = 0;
  const settings = { batchSize, gradAccum, seqLen, seed: loader.seed };

  try {
    // ---- resume ---------------------------------------------------------------------------------
    if (opts.resume) {
      const ckDir = typeof opts.resume === "string" ? opts.resume : await latestCheckpoint(opts.checkpointDir!);
      if (ckDir !== null) {
        const ck = await readCheckpoint(ckDir);
        const s = ck.state;
        for (const k of ["batchSize", "gradAccum", "seqLen", "seed"] as const) {
          if (s.settings[k] !== settings[k]) {
            throw new CtxwinError("ERR_ARG", `${fn}: resume: ${ckDir}: ${k}: the checkpoint was trained with ${s.settings[k]}, this run has ${settings[k]} (the same loss curve needs the same value)`);
          }
        }
        restoreParams(named, ck);
        optimizer.loadState(ck.optimizer);
        loader.setState(s.loader);
        step = s.step;
        losses = s.losses.slice(0, step);
        gradNorms = s.gradNorms.slice(0, step);
        evals = s.evals.filter((e) => e.step <= step);
        tokensBefore = s.tokens;
        resumedFrom = step;
        progress.message(`resumed from ${ckDir} at step ${step}`);
      }
    }

    const checkpoint = async (): Promise<void> => {
      if (!opts.checkpointDir) return;
      const state: TrainerState = {
        version: CHECKPOINT_VERSION,
        step,
        loader: loader.state(),
        losses,
        gradNorms,
        evals,
        tokens: tokensBefore + trainTokens,
        settings,
        params: named.map(([n]) => n),
      };
      const extra = opts.saveHf
        ? async (tmp: string) => {
            const lm = model as unknown as CausalLM;
            if (getLoraInfo(lm) || lm.prefixLength > 0) await saveAdapter(lm, `${tmp}/hf`);
            else await saveModel(lm, `${tmp}/hf`);
          }
        : undefined;
      if (lastCheckpointStep === step) return;
      lastCheckpoint = await saveCheckpoint(opts.checkpointDir, { params: named, optimizer, state, keep, extra });
      lastCheckpointStep = step;
      progress.message(`checkpoint step ${step} → ${lastCheckpoint}`);
    };

    const runEval = async (): Promise<void> => {
      if (!opts.valData || opts.valData.length === 0) return;
      const r = await evaluate(model, opts.valData, { batchSize: opts.evalBatchSize ?? batchSize, maxBatches: evalBatches, forward: opts.forward, lossFn: opts.lossFn });
      const e: EvalResult = { step, ...r };
      evals.push(e);
      progress.message(`eval step ${step} | val loss ${r.loss.toFixed(4)} | ppl ${r.ppl.toFixed(3)} | ${r.tokens} tokens`);
      await opts.onEval?.(e);
    };

    // ---- the loop ---------------------------------------------------------------------------------
    model.train(true);
    let aborted = !!opts.signal?.aborted;
    let exhausted = false;
    let stepEma = NaN;
    const startStep = step;
    const fwd = opts.forward ?? {};
    while (step < steps && !aborted) {
      const ts = performance.now();
      // the micro-batches' losses [1] and the gradient norm, read together once per step
      using scalars = disposingArray<Tensor>();
      let micro = 0;
      let stepTokens = 0;
      let epoch = loader.epoch;
      for (; micro < gradAccum; micro++) {
        const batch = loader.next();
        if (batch === null) break;
        epoch = batch.epoch;
        stepTokens += batch.inputs.length * seqLen;
        using tape = new Tape();
        // recorded in slices (eventLoopSlice()): timers and I/O run between layers of a deep
        // model's forward and between nodes of its backward (no value is read meanwhile)
        using loss = opts.lossFn
          ? tape.run(() => opts.lossFn!(model, batch))
          : model.lossSteps
            ? await tape.runSliced(model.lossSteps(batch.inputs, batch.targets, fwd))
            : tape.run(() => model.loss(batch.inputs, batch.targets, fwd));
        await yieldToEventLoop();
        await tape.backwardSliced(loss);
        await yieldToEventLoop();
        scalars.push(ops.scale(loss.value, 1)); // a copy: the loss itself goes with this block
      }
      if (micro < gradAccum) {
        // a finite DataLoader ran out: drop the partial step's gradients
        model.zeroGrad();
        exhausted = true;
        break;
      }
      step++;
      const lr = lrAt(step, sched);
      scalars.push((await optimizer.stepSliced({ lr, gradScale: 1 / gradAccum, norm: true }))!);
      model.zeroGrad();
      const vals = (await Promise.all(scalars.map((t) => t.data()))).map((a) => a[0]!);
      const loss = vals.slice(0, -1).reduce((a, b) => a + b, 0) / gradAccum;
      const gradNorm = vals[vals.length - 1]! / gradAccum;
      if (!Number.isFinite(loss)) throw new CtxwinError("ERR_INTERNAL", `${fn}: the loss became ${loss} at step ${step} (lr ${lr.toExponential(2)}); lower lr or check the data`);
      losses.push(loss);
      gradNorms.push(gradNorm);
      const seconds = (performance.now() - ts) / 1000;
      trainSeconds += seconds;
      trainTokens += stepTokens;
      stepEma = Number.isNaN(stepEma) ? seconds : 0.9 * stepEma + 0.1 * seconds;
      const tokensPerSecond = trainTokens / trainSeconds;
      const eta = (steps - step) * (step - startStep < 10 ? trainSeconds / (step - startStep) : stepEma);
      progress.step({ step, steps, loss, lr, gradNorm, tokensPerSecond, etaSeconds: eta });
      await opts.onStep?.({ step, steps, loss, gradNorm, lr, tokens: stepTokens, tokensPerSecond, seconds, epoch });
      if (evalEvery > 0 && step % evalEvery === 0 && step < steps) await runEval();
      if (opts.signal?.aborted && step < steps) aborted = true;
      else if (checkpointEvery > 0 && step % checkpointEvery === 0 && step < steps) await checkpoint();
    }
    // final evaluation and checkpoint (not repeated when a finished run is resumed)
    if (!aborted && !evals.some((e) => e.step === step)) await runEval();
    if (step > startStep) await checkpoint();
    const seconds = (performance.now() - t0) / 1000;
    const tokensPerSecond = trainSeconds > 0 ? trainTokens / trainSeconds : 0;
    progress.message(
      `${aborted ? "stopped" : exhausted ? "data exhausted" : "done"} at step ${step}/${steps} | loss ${losses.length ? losses[losses.length - 1]!.toFixed(4) : "-"} | ${Math.round(tokensPerSecond)} tok/s | ${formatDuration(seconds)}`,
    );
    return {
      losses,
      gradNorms,
      evals,
      tokensPerSecond,
      steps: step,
      tokens: tokensBefore + trainTokens,
      seconds,
      aborted,
      exhausted,
      resumedFrom,
      checkpoint: lastCheckpoint,
    };
  } finally {
    progress.close();
    optimizer.dispose();
    model.zeroGrad();
  }
}
