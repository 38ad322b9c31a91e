/**
 * The study's training rows: language modelling on the corpus, with a disclosed fraction of
 * passkey rows that make the small models USE their context (a model that never needs far tokens
 * cannot show what breaks when they go out of distribution).
 *
 * Every row is one sequence as the model sees it: BOS followed by `seqLen` content tokens (a row
 * holds seqLen + 1 ids; the model reads the first seqLen and predicts the last seqLen). BOS marks
 * position 0 of every sequence, in training and in evaluation (the initial token that seed 001
 * finds acting as the anchor of the positional vectors).
 *
 *   lm       BOS + seqLen consecutive corpus tokens (documents separated by EOS), cut from the
 *            stream as packSequences cuts it;
 *   passkey  BOS + a corpus span with the passkey template inserted (passkey.ts): " The pass key
 *            is <key>." somewhere in natural text, the question at the end, the key as the last
 *            tokens; key distances uniform over what fits in the row (up to about seqLen).
 *
 * Passkey rows are ADDED to the LM rows so that they are the fraction `passkeyFraction` of all
 * rows; the loader shuffles them together (seeded). Every target is scored by the LM loss; the
 * answer tokens of passkey rows are listed in `answers` so that the trainer can add a weighted
 * auxiliary loss on them (trainer.ts).
 */
import { CtxwinError } from "../errors.js";
import { Rng } from "../util/rng.js";
import type { Tokenizer } from "../models/tokenizer/types.js";
import { PackedRows, packSequences } from "../train/index.js";
import { buildPasskey, distanceRange, passkeyTemplate, randomKey, spanFiller } from "./passkey.js";

export interface MixOptions {
  /** Tokens the model reads per row (BOS + seqLen − 1 content tokens; rows hold seqLen + 1 ids). */
  seqLen: number;
  /** Fraction of all rows that are passkey rows, in [0, 1). */
  passkeyFraction: number;
  /** Digits of the passkeys. */
  digits: number;
  bos: number;
  seed: number;
}

export interface MixedRows {
  rows: PackedRows;
  counts: { lm: number; passkey: number };
  /** Per row: the row positions (1 … seqLen) of the answer tokens of a passkey row; null for LM rows. */
  answers: (Int16Array | null)[];
}

/** Builds the mixture from the training stream (see the header). */
export function buildTrainingRows(tok: Tokenizer, stream: Int32Array, opts: MixOptions): MixedRows {
  const { seqLen, passkeyFraction: fp, bos } = opts;
  if (!(fp >= 0 && fp < 1)) throw new CtxwinError("ERR_ARG", `training rows: passkeyFraction: expected a fraction in [0, 1), got ${fp}`);
  if (!(Number.isInteger(seqLen) && seqLen >= 2)) throw new CtxwinError("ERR_ARG", `training rows: seqLen: expected an integer >= 2, got ${seqLen}`);
  const R = seqLen + 1;
  const lm = packSequences(stream, { seqLen: seqLen - 1 }); // rows of seqLen content ids
  const nLm = lm.length;
  const nPk = Math.round((nLm * fp) / (1 - fp));
  const data = new Int32Array((nLm + nPk) * R);
  for (let i = 0; i < nLm; i++) {
    data[i * R] = bos;
    data.set(lm.data.subarray(i * seqLen, (i + 1) * seqLen), i * R + 1);
  }
  const answers: (Int16Array | null)[] = new Array(nLm).fill(null);
  if (nPk > 0) {
    const t = passkeyTemplate(tok);
    const rng = new Rng(opts.seed);
    const fill = spanFiller(stream, rng);
    for (let i = 0; i < nPk; i++) {
      const key = randomKey(rng, opts.digits);
      const kt = tok.encode(` ${key}`, { addSpecialTokens: false }).length;
      const [dmin, dmax] = distanceRange(t, kt, seqLen);
      if (dmax < dmin) throw new CtxwinError("ERR_ARG", `training rows: seqLen ${seqLen} is too short for the passkey template (${dmin + kt + t.keyPrefix.length} tokens)`);
      const distance = dmin + rng.int(dmax - dmin + 1);
      const s = buildPasskey(tok, t, { length: seqLen, key, distance, filler: fill });
      const row = nLm + i;
      data[row * R] = bos;
      data.set(s.ids, row * R + 1);
      answers.push(Int16Array.from(s.answer, (_, j) => R - s.answer.length + j));
    }
  }
  return { rows: new PackedRows(data, seqLen), counts: { lm: nLm, passkey: nPk }, answers };
}
