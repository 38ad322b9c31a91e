/**
 * Training: data packing and loading, AdamW, learning-rate schedules, the train() loop, checkpoints.
 *
 *   const rows = packSequences(docs.map((d) => tok.encode(d)), { seqLen: 256, eos: tok.eosId });
 *   const { train: tr, val } = splitRows(rows, { valFraction: 0.05, seed: 0 });
 *   const model = createModel({ vocabSize, hiddenSize: 256, numLayers: 4, numHeads: 4 });
 *   const r = await train(model, {
 *     data: tr, valData: val, steps: 2000, batchSize: 8, gradAccum: 4,
 *     lr: 3e-4, minLr: 3e-5, warmup: 100, weightDecay: 0.1, maxNorm: 1,
 *     evalEvery: 200, evalBatches: 20, checkpointDir: "ckpt", checkpointEvery: 500, resume: true,
 *     progress: true, signal: ac.signal,
 *   });
 *   // r.losses, r.evals (loss, ppl), r.tokensPerSecond, r.steps
 *
 * LoRA / prefix tuning: addLora(model, ...) or addPrefix(model, ...) first (they freeze the base);
 * train() optimizes exactly model.trainable().
 */
export { lrAt, schedule, type ScheduleOptions } from "./schedule.js";
export {
  PAD,
  PackedRows,
  packSequences,
  DataLoader,
  orderedBatches,
  splitRows,
  trainValSplit,
  type Batch,
  type DataLoaderOptions,
  type Documents,
  type LoaderState,
  type PackOptions,
  type SplitOptions,
  type TokenStream,
} from "./data.js";
export { AdamW, defaultDecay, type AdamWConfig, type AdamWState, type OptimEntry, type StepOptions } from "./optim.js";
export {
  CHECKPOINT_VERSION,
  saveCheckpoint,
  readCheckpoint,
  latestCheckpoint,
  restoreParams,
  type EvalResult,
  type LoadedCheckpoint,
  type TrainerState,
} from "./checkpoint.js";
export { train, evaluate, type TrainOptions, type TrainResult, type StepInfo, type TrainableModel } from "./trainer.js";
