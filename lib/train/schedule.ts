/**
 * Learning-rate schedules: pure functions of the (1-based) optimizer step, so a resumed run gets
 * exactly the learning rates of an uninterrupted one.
 *
 *   warmup (steps 1..W):        lr · s / W                                   (linear from lr/W to lr)
 *   decay  (steps W..decaySteps): minLr + (lr − minLr) · ½(1 + cos(π · (s − W) / (decaySteps − W)))
 *   after decaySteps:           minLr
 *
 * (nanoGPT's get_lr with it = s − 1 during warmup: step 1 already trains, at lr/W.) `decay:
 * "linear"` replaces the cosine by a straight line from lr to minLr; `"constant"` keeps lr.
 */
import { CtxwinError } from "../errors.js";

export interface ScheduleOptions {
  /** Peak learning rate (after warmup). */
  lr: number;
  /** Final learning rate. Default 0.1·lr (cosine), 0 for linear. */
  minLr?: number;
  /** Warmup steps (0 = start at lr). Default 0. */
  warmup?: number;
  /** Step at which the decay reaches minLr (normally the total number of steps). */
  decaySteps: number;
  /** Shape of the decay. Default "cosine". */
  decay?: "cosine" | "linear" | "constant";
}

/** Validates a schedule; errors name `fn` (the caller the user called: train, lrAt, schedule). */
export function checkSchedule(opts: ScheduleOptions, fn = "lrAt"): Required<ScheduleOptions> {
  const { lr, warmup = 0, decaySteps, decay = "cosine" } = opts;
  if (!(typeof lr === "number" && Number.isFinite(lr) && lr >= 0)) throw new CtxwinError("ERR_ARG", `${fn}: lr: expected a finite number >= 0, got ${lr}`);
  const minLr = opts.minLr ?? (decay === "linear" ? 0 : 0.1 * lr);
  if (!(typeof minLr === "number" && Number.isFinite(minLr) && minLr >= 0 && minLr <= lr)) {
    throw new CtxwinError("ERR_ARG", `${fn}: minLr: expected a number in [0, lr = ${lr}], got ${minLr}`);
  }
  if (!Number.isInteger(warmup) || warmup < 0) throw new CtxwinError("ERR_ARG", `${fn}: warmup: expected a non-negative integer, got ${warmup}`);
  if (!Number.isInteger(decaySteps) || decaySteps < 0) throw new CtxwinError("ERR_ARG", `${fn}: decaySteps: expected a non-negative integer, got ${decaySteps}`);
  if (decay !== "cosine" && decay !== "linear" && decay !== "constant") {
    throw new CtxwinError("ERR_ARG", `${fn}: decay: expected "cosine", "linear" or "constant", got ${JSON.stringify(decay)}`);
  }
  return { lr, minLr, warmup, decaySteps, decay };
}

/** The learning rate of optimizer step `step` (1-based). */
export function lrAt(step: number, opts: ScheduleOptions): number {
  if (!Number.isInteger(step) || step < 1) throw new CtxwinError("ERR_ARG", `lrAt: step: expected a positive integer (1-based), got ${step}`);
  const { lr, minLr, warmup, decaySteps, decay } = checkSchedule(opts);
  if (step <= warmup) return (lr * step) / warmup;
  if (decay === "constant") return lr;
  if (step >= decaySteps) return decaySteps <= warmup ? lr : minLr;
  const t = (step - warmup) / (decaySteps - warmup);
  const f = decay === "cosine" ? 0.5 * (1 + Math.cos(Math.PI * t)) : 1 - t;
  return minLr + (lr - minLr) * f;
}

/** `lrAt` bound to its options (validated once). */
export function schedule(opts: ScheduleOptions): (step: number) => number {
  const o = checkSchedule(opts, "schedule");
  return (step) => lrAt(step, o);
}
