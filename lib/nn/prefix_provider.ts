/**
 * A module that computes the prefix keys/values of every layer once per forward (P-tuning v2's
 * MLP-reparameterised prefix): the model calls provide() at the start of each forward, inside the
 * forward's tidy scope, so the computed Variables are recorded on the active tape and freed with
 * the forward's other intermediates; the returned function ends the loan (Attention.usePrefix).
 * Its parameters are the model's (registered as a child module), so optimizers and trainable()
 * see them.
 */
import type { Module } from "./module.js";

export type PrefixProvider = Module & {
  /** Lends every layer its prefix keys/values for one forward; returns the undo. */
  provide(): () => void;
};
