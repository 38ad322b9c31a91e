/** Trainable and total scalar weight counts of a model (PEFT's print_trainable_parameters). */
import type { Module } from "../nn/module.js";

export interface ParameterCounts {
  /** Scalars that get gradients (not frozen). */
  trainable: number;
  /** Every scalar weight (tied weights once). */
  total: number;
}

/** Counts the model's trainable and total weights (module.trainable() lists the trainable Parameters). */
export function parameterCounts(model: Module): ParameterCounts {
  const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
  return { trainable: model.trainable().reduce((n, p) => n + size(p.value.shape), 0), total: model.numParameters() };
}
