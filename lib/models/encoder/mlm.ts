/**
 * Masked language modelling as BERT pretrains (Devlin et al. 2019, §3.1; transformers'
 * DataCollatorForLanguageModeling): each maskable token is chosen with probability 15%; a chosen
 * token is replaced by [MASK] 80% of the time, by a random token 10%, and kept 10%; the loss is
 * the cross-entropy of the MLM head's prediction of the original token at the chosen positions
 * only. Never chosen: special tokens (the caller's list plus the model's pad id) and padding
 * positions past keyLengths. The random token is drawn uniformly from the non-special ids.
 * Deterministic for a seed; a shared Rng continues its stream (one draw pattern per batch).
 */
import { CtxwinError, show } from "../../errors.js";
import { IGNORE_INDEX } from "../../defaults.js";
import { tidy, type Variable } from "../../nn/autograd.js";
import * as F from "../../nn/functional.js";
import { Rng, checkSeed } from "../../util/rng.js";
import type { Encoder, EncoderForwardOptions } from "./model.js";

export interface MaskTokensOptions {
  /** The [MASK] id. */
  maskId: number;
  /** Vocabulary size (random replacements are drawn below it). */
  vocabSize: number;
  /** Ids never chosen nor drawn as replacements ([CLS], [SEP], [PAD], …). */
  specialIds?: readonly number[];
  /** Right padding: positions at or past keyLengths[b] are never chosen. */
  keyLengths?: readonly number[];
  /** Chance that a maskable token is chosen. Default 0.15. */
  probability?: number;
  /** Fractions of the chosen tokens replaced by [MASK] and by a random token. Default 0.8 and 0.1 (the rest kept). */
  maskFraction?: number;
  randomFraction?: number;
  /** Random stream (continued across calls), or `seed` for a fresh one. */
  rng?: Rng;
  seed?: number;
}

export interface MaskedTokens {
  /** The ids with the chosen tokens replaced. */
  inputs: number[][];
  /** The original id at chosen positions, IGNORE_INDEX (-100) elsewhere. */
  labels: number[][];
  /** Number of chosen positions (at least 1 when any token is maskable). */
  count: number;
}

function prob(fn: string, name: string, v: unknown, dflt: number): number {
  const x = v ?? dflt;
  if (typeof x !== "number" || !(x >= 0 && x <= 1)) throw new CtxwinError("ERR_ARG", `${fn}: ${name}: expected a number in [0, 1], got ${show(v)}`);
  return x;
}

/** Chooses and replaces tokens for one MLM batch (see the file comment). */
export function maskTokens(ids: readonly (readonly number[])[], opts: MaskTokensOptions): MaskedTokens {
  const fn = "maskTokens";
  if (opts === null || typeof opts !== "object") throw new CtxwinError("ERR_ARG", `${fn}: opts: expected { maskId, vocabSize, ... }, got ${show(opts)}`);
  const { maskId, vocabSize } = opts;
  if (!Number.isInteger(vocabSize) || vocabSize < 2) throw new CtxwinError("ERR_ARG", `${fn}: vocabSize: expected an integer >= 2, got ${show(vocabSize)}`);
  if (!Number.isInteger(maskId) || maskId < 0 || maskId >= vocabSize) throw new CtxwinError("ERR_ARG", `${fn}: maskId: expected an id in [0, ${vocabSize}), got ${show(maskId)}`);
  const p = prob(fn, "probability", opts.probability, 0.15);
  const pMask = prob(fn, "maskFraction", opts.maskFraction, 0.8);
  const pRandom = prob(fn, "randomFraction", opts.randomFraction, 0.1);
  if (pMask + pRandom > 1) throw new CtxwinError("ERR_ARG", `${fn}: maskFraction + randomFraction: expected at most 1, got ${pMask + pRandom}`);
  if (opts.rng !== undefined && !(opts.rng instanceof Rng)) throw new CtxwinError("ERR_ARG", `${fn}: rng: expected an Rng, got ${show(opts.rng)}`);
  const rng = opts.rng ?? new Rng(checkSeed(fn, opts.seed ?? 0));
  const special = new Set<number>(opts.specialIds ?? []);
  special.add(maskId);
  for (const s of special) if (!Number.isInteger(s)) throw new CtxwinError("ERR_ARG", `${fn}: specialIds: expected integer ids, got ${show(s)}`);
  if (!Array.isArray(ids) || ids.length === 0) throw new CtxwinError("ERR_ARG", `${fn}: ids: expected a non-empty array of rows, got ${show(ids)}`);
  const lengths = opts.keyLengths;
  if (lengths !== undefined && (!Array.isArray(lengths) || lengths.length !== ids.length)) {
    throw new CtxwinError("ERR_ARG", `${fn}: keyLengths: expected ${ids.length} lengths (one per row), got ${show(lengths)}`);
  }
  // replacement pool: the non-special ids
  const pool: number[] = [];
  for (let i = 0; i < vocabSize; i++) if (!special.has(i)) pool.push(i);
  const inputs = ids.map((r) => [...r]);
  const labels = ids.map((r) => new Array<number>(r.length).fill(IGNORE_INDEX));
  const eligible: [number, number][] = [];
  let count = 0;
  const choose = (b: number, t: number): void => {
    const orig = ids[b]![t]!;
    labels[b]![t] = orig;
    count++;
    const u = rng.next();
    if (u < pMask) inputs[b]![t] = maskId;
    else if (u < pMask + pRandom && pool.length > 0) inputs[b]![t] = pool[rng.int(pool.length)]!;
  };
  ids.forEach((row, b) => {
    if (!Array.isArray(row)) throw new CtxwinError("ERR_ARG", `${fn}: ids[${b}]: expected an array of ids, got ${show(row)}`);
    const len = lengths ? lengths[b]! : row.length;
    if (!Number.isInteger(len) || len < 0 || len > row.length) throw new CtxwinError("ERR_ARG", `${fn}: keyLengths[${b}]: expected an integer in [0, ${row.length}], got ${show(len)}`);
    for (let t = 0; t < len; t++) {
      const id = row[t]!;
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new CtxwinError("ERR_ARG", `${fn}: ids[${b}][${t}]: expected an id in [0, ${vocabSize}), got ${show(id)}`);
      if (special.has(id)) continue;
      eligible.push([b, t]);
      if (rng.next() < p) choose(b, t);
    }
  });
  // a batch with nothing chosen would have no loss: choose one maskable position (p > 0 only)
  if (count === 0 && p > 0 && eligible.length > 0) {
    const [b, t] = eligible[rng.int(eligible.length)]!;
    choose(b, t);
  }
  return { inputs, labels, count };
}

export interface MaskedLmLossOptions extends EncoderForwardOptions, Omit<MaskTokensOptions, "vocabSize" | "keyLengths"> {}

/**
 * The MLM loss of a model with an "mlm" head on a batch: masks it (maskTokens; the model's pad id
 * is always special) and returns the mean cross-entropy over the chosen positions, a scalar [1].
 * Only the chosen positions go through the head (gathered rows), so the [B, T, vocab] logits are
 * never formed. Records on an active tape.
 */
export function maskedLmLoss(model: Encoder, ids: readonly (readonly number[])[], opts: MaskedLmLossOptions): Variable {
  const fn = "maskedLmLoss";
  const head = model?.mlmHead;
  if (!head) throw new CtxwinError("ERR_ARG", `${fn}: model: expected an encoder with an "mlm" head (createEncoder with head "mlm", or a *ForMaskedLM checkpoint), got ${model?.config ? `a "${model.config.head}" head` : show(model)}`);
  const c = model.config;
  const m = maskTokens(ids, { ...opts, vocabSize: c.vocabSize, specialIds: [...(opts.specialIds ?? []), c.padTokenId] });
  return scoreMasked(model, m, opts);
}

/** The MLM loss of already masked inputs (labels as maskTokens returns them). */
export function scoreMasked(model: Encoder, m: Pick<MaskedTokens, "inputs" | "labels">, opts: EncoderForwardOptions = {}): Variable {
  const head = model.mlmHead;
  if (!head) throw new CtxwinError("ERR_ARG", `scoreMasked: model: expected an encoder with an "mlm" head, got a "${model.config.head}" head`);
  const rows: number[] = [];
  const targets: number[] = [];
  const T = m.inputs[0]?.length ?? 0;
  m.labels.forEach((r, b) =>
    r.forEach((l, t) => {
      if (l !== IGNORE_INDEX) {
        rows.push(b * T + t);
        targets.push(l);
      }
    }),
  );
  if (rows.length === 0) throw new CtxwinError("ERR_ARG", `scoreMasked: labels: expected at least one chosen position, got none (every token special or padding?)`);
  const fwd: EncoderForwardOptions = {};
  if (opts.keyLengths !== undefined) fwd.keyLengths = opts.keyLengths;
  if (opts.tokenTypeIds !== undefined) fwd.tokenTypeIds = opts.tokenTypeIds;
  return tidy(() => {
    const h = model.hidden(m.inputs, fwd);
    const d = h.shape[h.shape.length - 1]!;
    const picked = F.gatherRows(F.reshape(h, [m.inputs.length * T, d]), rows);
    return F.crossEntropy(head.forward(picked), targets);
  });
}
