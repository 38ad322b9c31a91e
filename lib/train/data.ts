/**
 * Token streams → training batches.
 *
 * - `packSequences` concatenates documents (each followed by an EOS separator, optionally preceded
 *   by BOS) into one stream and cuts it into rows of seqLen + 1 tokens: a row's first seqLen
 *   tokens are the inputs, its last seqLen tokens the targets (inputs shifted by one). Rows start
 *   every `stride` tokens (default seqLen: consecutive rows share one token, so every token after
 *   the first is a target exactly once).
 * - `DataLoader` hands out batches of rows, shuffled per epoch with a seeded PRNG (same seed ⇒
 *   same batches on every machine and run), for a number of epochs or forever; its position
 *   (`state()`) is saved in checkpoints so a resumed run continues with the same batches.
 * - `splitRows` / `trainValSplit`: deterministic train/validation splits.
 */
import { CtxwinError, show } from "../errors.js";
import { IGNORE_INDEX } from "../defaults.js";
import { Rng, checkSeed, mixSeed, type RngState } from "../util/rng.js";

/** Marks padding in packed rows (inputs get `padId`, targets are ignored). */
export const PAD = -1;

export type TokenStream = Int32Array | Uint32Array | Uint16Array | readonly number[];
export type Documents = readonly TokenStream[];

export interface PackOptions {
  /** Input tokens per row (each row holds seqLen + 1 tokens). */
  seqLen: number;
  /**
   * Separator appended after every document. Required (a number, or null for none) when packing
   * several documents, so documents are never silently run together; optional for one stream.
   */
  eos?: number | null;
  /** Token put before every document (e.g. BOS). Default none. */
  bos?: number | null;
  /** Tokens between row starts, 1..seqLen + 1. Default seqLen (every token a target once); seqLen + 1 = disjoint rows. */
  stride?: number;
  /** The tail shorter than a row: "drop" (default) or "pad" (filled with padding, whose targets are not scored). */
  remainder?: "drop" | "pad";
  /** When given, every token must be below it (a clear error instead of a failing kernel later). */
  vocabSize?: number;
}

function isStream(x: unknown): x is TokenStream {
  return Array.isArray(x) ? x.length === 0 || typeof x[0] === "number" : x instanceof Int32Array || x instanceof Uint32Array || x instanceof Uint16Array;
}

function checkToken(fn: string, what: string, t: number, vocab: number | undefined): void {
  if (!Number.isInteger(t) || t < 0 || (vocab !== undefined && t >= vocab)) {
    throw new CtxwinError("ERR_ARG", `${fn}: ${what}: expected token ids, integers in [0, ${vocab ?? "∞"}), got ${t}`);
  }
}

/** Fixed-length rows of seqLen + 1 token ids (PAD = -1 marks padding). */
export class PackedRows {
  /** rows × (seqLen + 1), row-major. */
  readonly data: Int32Array;
  readonly seqLen: number;

  constructor(data: Int32Array, seqLen: number) {
    if (!Number.isInteger(seqLen) || seqLen < 1) throw new CtxwinError("ERR_ARG", `PackedRows: seqLen: expected a positive integer, got ${seqLen}`);
    if (data.length % (seqLen + 1) !== 0) throw new CtxwinError("ERR_SHAPE", `PackedRows: data: expected a multiple of seqLen + 1 = ${seqLen + 1} values, got ${data.length}`);
    this.data = data;
    this.seqLen = seqLen;
  }

  /** Number of rows. */
  get length(): number {
    return this.data.length / (this.seqLen + 1);
  }

  /** Row i (a view: seqLen + 1 ids, PAD for padding). */
  row(i: number): Int32Array {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) throw new CtxwinError("ERR_ARG", `PackedRows.row: i: expected an integer in [0, ${this.length}), got ${i}`);
    const w = this.seqLen + 1;
    return this.data.subarray(i * w, (i + 1) * w);
  }

  /** Input ids of row i (padding → padId). */
  inputs(i: number, padId = 0): number[] {
    const r = this.row(i);
    const out = new Array<number>(this.seqLen);
    for (let t = 0; t < this.seqLen; t++) out[t] = r[t] === PAD ? padId : r[t]!;
    return out;
  }

  /** Target ids of row i (padding → ignoreIndex). */
  targets(i: number, ignoreIndex = IGNORE_INDEX): number[] {
    const r = this.row(i);
    const out = new Array<number>(this.seqLen);
    for (let t = 0; t < this.seqLen; t++) out[t] = r[t + 1] === PAD ? ignoreIndex : r[t + 1]!;
    return out;
  }

  /** Scored targets in row i (seqLen unless padded). */
  scored(i: number): number {
    const r = this.row(i);
    let n = 0;
    for (let t = 1; t <= this.seqLen; t++) if (r[t] !== PAD) n++;
    return n;
  }

  /** The rows at `indices`, in that order (a copy). */
  select(indices: ArrayLike<number>): PackedRows {
    const w = this.seqLen + 1;
    const out = new Int32Array(indices.length * w);
    for (let k = 0; k < indices.length; k++) out.set(this.row(indices[k]!), k * w);
    return new PackedRows(out, this.seqLen);
  }
}

/**
 * Packs one token stream or several documents into rows of seqLen + 1 ids.
 * @param tokens one stream (Int32Array / number[]) or documents (an array of streams)
 */
export function packSequences(tokens: TokenStream | Documents, opts: PackOptions): PackedRows {
  const fn = "packSequences";
  if (opts === null || typeof opts !== "object") throw new CtxwinError("ERR_ARG", `${fn}: opts: expected an object with seqLen, got ${show(opts)}`);
  const { seqLen, remainder = "drop", vocabSize } = opts;
  if (!Number.isInteger(seqLen) || seqLen < 1) throw new CtxwinError("ERR_ARG", `${fn}: seqLen: expected a positive integer, got ${seqLen}`);
  const stride = opts.stride ?? seqLen;
  if (!Number.isInteger(stride) || stride < 1 || stride > seqLen + 1) throw new CtxwinError("ERR_ARG", `${fn}: stride: expected an integer in [1, seqLen + 1 = ${seqLen + 1}], got ${stride}`);
  if (remainder !== "drop" && remainder !== "pad") throw new CtxwinError("ERR_ARG", `${fn}: remainder: expected "drop" or "pad", got ${JSON.stringify(remainder)}`);
  if (vocabSize !== undefined && (!Number.isInteger(vocabSize) || vocabSize < 1)) throw new CtxwinError("ERR_ARG", `${fn}: vocabSize: expected a positive integer, got ${vocabSize}`);

  let docs: readonly TokenStream[];
  if (isStream(tokens)) docs = [tokens];
  else if (Array.isArray(tokens) && tokens.every(isStream)) {
    docs = tokens as Documents;
    if (opts.eos === undefined && docs.length > 1) {
      throw new CtxwinError("ERR_ARG", `${fn}: eos: expected the separator id put after every document (or null for none) when packing ${docs.length} documents, got undefined`);
    }
  } else {
    throw new CtxwinError("ERR_ARG", `${fn}: tokens: expected a token stream (Int32Array / number[]) or an array of them (documents)`);
  }
  const eos = opts.eos ?? null;
  const bos = opts.bos ?? null;
  if (eos !== null) checkToken(fn, "eos", eos, vocabSize);
  if (bos !== null) checkToken(fn, "bos", bos, vocabSize);

  let total = 0;
  for (const d of docs) total += d.length + (eos !== null ? 1 : 0) + (bos !== null ? 1 : 0);
  const stream = new Int32Array(total);
  let k = 0;
  docs.forEach((d, di) => {
    if (bos !== null) stream[k++] = bos;
    for (let i = 0; i < d.length; i++) {
      const t = d[i]!;
      if (!Number.isInteger(t) || t < 0 || (vocabSize !== undefined && t >= vocabSize)) checkToken(fn, docs.length > 1 ? `tokens[${di}][${i}]` : `tokens[${i}]`, t, vocabSize);
      stream[k++] = t;
    }
    if (eos !== null) stream[k++] = eos;
  });

  const w = seqLen + 1;
  // full rows: starts s = 0, stride, 2·stride, ... with s + w <= total
  const full = total >= w ? Math.floor((total - w) / stride) + 1 : 0;
  const nextStart = full * stride;
  // a padded tail when the tokens after the last full row hold at least one target
  const pad = remainder === "pad" && total - nextStart >= 2 ? 1 : 0;
  const rows = full + pad;
  const data = new Int32Array(rows * w);
  for (let r = 0; r < full; r++) data.set(stream.subarray(r * stride, r * stride + w), r * w);
  if (pad) {
    const tail = stream.subarray(nextStart);
    data.fill(PAD, full * w, rows * w);
    data.set(tail, full * w);
  }
  return new PackedRows(data, seqLen);
}

export interface SplitOptions {
  /** Fraction of the items for validation (rounded, at least 1 when > 0). */
  valFraction?: number;
  /** Exact number of validation items (instead of valFraction). */
  valCount?: number;
  /** Seed of the selection. Default 0. */
  seed?: number;
}

function valIndices(fn: string, n: number, opts: SplitOptions): Set<number> {
  const { valFraction, valCount, seed = 0 } = opts;
  let k: number;
  if (valCount !== undefined) {
    if (!Number.isInteger(valCount) || valCount < 0 || valCount > n) throw new CtxwinError("ERR_ARG", `${fn}: valCount: expected an integer in [0, ${n}], got ${valCount}`);
    k = valCount;
  } else {
    if (!(typeof valFraction === "number" && valFraction >= 0 && valFraction < 1)) throw new CtxwinError("ERR_ARG", `${fn}: valFraction: expected a number in [0, 1), got ${valFraction}`);
    k = valFraction === 0 ? 0 : Math.max(1, Math.round(n * valFraction));
  }
  const perm = new Rng(mixSeed(checkSeed(fn, seed), 0x5a11)).permutation(n);
  return new Set(perm.subarray(0, k));
}

/**
 * Deterministic split of items (documents, rows, anything): a seeded random choice of the
 * validation items; both parts keep the original order.
 */
export function trainValSplit<T>(items: readonly T[], opts: SplitOptions): { train: T[]; val: T[] } {
  const val = valIndices("trainValSplit", items.length, opts);
  const out = { train: [] as T[], val: [] as T[] };
  items.forEach((x, i) => (val.has(i) ? out.val : out.train).push(x));
  return out;
}

/** trainValSplit on packed rows. */
export function splitRows(rows: PackedRows, opts: SplitOptions): { train: PackedRows; val: PackedRows } {
  const val = valIndices("splitRows", rows.length, opts);
  const tr: number[] = [];
  const va: number[] = [];
  for (let i = 0; i < rows.length; i++) (val.has(i) ? va : tr).push(i);
  return { train: rows.select(tr), val: rows.select(va) };
}

/** One batch: B rows of inputs and their targets (number[][], as CausalLM.loss takes them). */
export interface Batch {
  inputs: number[][];
  targets: number[][];
  /** Scored targets in the batch (B·seqLen without padding). */
  tokens: number;
  /** Epoch (0-based) the batch belongs to. */
  epoch: number;
  /** Row indices into the PackedRows. */
  rows: number[];
}

export interface DataLoaderOptions {
  batchSize: number;
  /** Shuffle the rows every epoch (seeded). Default true. */
  shuffle?: boolean;
  /** Seed of the shuffling. Default 0. */
  seed?: number;
  /** Passes over the data; Infinity (default) = forever. */
  epochs?: number;
  /** Drop the last incomplete batch of an epoch. Default true. */
  dropLast?: boolean;
  /** Input id for padding positions. Default 0. */
  padId?: number;
  /** Target id of padding positions. Default -100. */
  ignoreIndex?: number;
}

/** Where a DataLoader stands (JSON-serialisable; saved in checkpoints). */
export interface LoaderState {
  seed: number;
  /** Current epoch (0-based). */
  epoch: number;
  /** Rows of the current epoch already handed out. */
  cursor: number;
  /** The shuffling PRNG's state at the start of the current epoch (its order is regenerated from it). */
  rng: RngState;
  /** Number of rows (checked on restore). */
  rows: number;
}

/** Seeded, resumable batches over PackedRows. */
export class DataLoader implements Iterable<Batch> {
  readonly rows: PackedRows;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly epochs: number;
  readonly dropLast: boolean;
  readonly padId: number;
  readonly ignoreIndex: number;
  #rng: Rng;
  #epochRng: RngState;
  #order: Uint32Array;
  #epoch = 0;
  #cursor = 0;

  constructor(rows: PackedRows, opts: DataLoaderOptions) {
    const fn = "DataLoader";
    if (!(rows instanceof PackedRows)) throw new CtxwinError("ERR_ARG", `${fn}: rows: expected PackedRows (packSequences), got ${show(rows)}`);
    if (opts === null || typeof opts !== "object") throw new CtxwinError("ERR_ARG", `${fn}: opts: expected an object with batchSize, got ${show(opts)}`);
    const { batchSize, shuffle = true, seed = 0, epochs = Infinity, dropLast = true, padId = 0, ignoreIndex = IGNORE_INDEX } = opts;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new CtxwinError("ERR_ARG", `${fn}: batchSize: expected a positive integer, got ${batchSize}`);
    checkSeed(fn, seed);
    if (!(epochs === Infinity || (Number.isInteger(epochs) && epochs >= 1))) throw new CtxwinError("ERR_ARG", `${fn}: epochs: expected a positive integer or Infinity, got ${epochs}`);
    if (rows.length === 0) throw new CtxwinError("ERR_ARG", `${fn}: rows: expected at least one row, got none (fewer tokens than seqLen + 1 = ${rows.seqLen + 1}?)`);
    if (dropLast && rows.length < batchSize) {
      throw new CtxwinError("ERR_ARG", `${fn}: batchSize: expected at most the ${rows.length} rows available (with dropLast), got ${batchSize}`);
    }
    this.rows = rows;
    this.batchSize = batchSize;
    this.shuffle = shuffle;
    this.seed = seed;
    this.epochs = epochs;
    this.dropLast = dropLast;
    this.padId = padId;
    this.ignoreIndex = ignoreIndex;
    this.#rng = new Rng(seed);
    this.#epochRng = this.#rng.state();
    this.#order = this.#makeOrder();
  }

  #makeOrder(): Uint32Array {
    const n = this.rows.length;
    if (this.shuffle) return this.#rng.permutation(n);
    const o = new Uint32Array(n);
    for (let i = 0; i < n; i++) o[i] = i;
    return o;
  }

  /** Batches per epoch. */
  get batchesPerEpoch(): number {
    return this.dropLast ? Math.floor(this.rows.length / this.batchSize) : Math.ceil(this.rows.length / this.batchSize);
  }

  get epoch(): number {
    return this.#epoch;
  }

  /** The next batch, or null once every epoch was handed out. */
  next(): Batch | null {
    const n = this.rows.length;
    const left = n - this.#cursor;
    if (left === 0 || (this.dropLast && left < this.batchSize)) {
      if (this.#epoch + 1 >= this.epochs) return null;
      this.#epoch++;
      this.#cursor = 0;
      this.#epochRng = this.#rng.state();
      this.#order = this.#makeOrder();
    }
    if (this.#epoch >= this.epochs) return null;
    const take = Math.min(this.batchSize, n - this.#cursor);
    const idx = Array.from(this.#order.subarray(this.#cursor, this.#cursor + take));
    this.#cursor += take;
    return this.#batch(idx, this.#epoch);
  }

  #batch(idx: number[], epoch: number): Batch {
    let tokens = 0;
    const inputs = idx.map((i) => this.rows.inputs(i, this.padId));
    const targets = idx.map((i) => {
      tokens += this.rows.scored(i);
      return this.rows.targets(i, this.ignoreIndex);
    });
    return { inputs, targets, tokens, epoch, rows: idx };
  }

  *[Symbol.iterator](): Iterator<Batch> {
    for (let b = this.next(); b !== null; b = this.next()) yield b;
  }

  /** The loader's position (restore it with setState on a loader over the same rows and seed). */
  state(): LoaderState {
    return { seed: this.seed, epoch: this.#epoch, cursor: this.#cursor, rng: [...this.#epochRng] as RngState, rows: this.rows.length };
  }

  setState(s: LoaderState): void {
    const fn = "DataLoader.setState";
    if (!s || typeof s !== "object") throw new CtxwinError("ERR_ARG", `${fn}: state: expected a LoaderState object, got ${show(s)}`);
    if (s.rows !== this.rows.length) throw new CtxwinError("ERR_ARG", `${fn}: state.rows: expected ${this.rows.length} (the rows of this loader), got ${s.rows} — the data changed since the state was saved`);
    if (s.seed !== this.seed) throw new CtxwinError("ERR_ARG", `${fn}: state.seed: expected ${this.seed} (this loader's seed), got ${s.seed}`);
    if (!Number.isInteger(s.epoch) || s.epoch < 0 || !Number.isInteger(s.cursor) || s.cursor < 0 || s.cursor > this.rows.length) {
      throw new CtxwinError("ERR_ARG", `${fn}: state: expected epoch >= 0 and cursor in [0, ${this.rows.length}], got epoch ${s.epoch}, cursor ${s.cursor}`);
    }
    this.#rng = Rng.fromState(s.rng);
    this.#epochRng = this.#rng.state();
    this.#order = this.#makeOrder();
    this.#epoch = s.epoch;
    this.#cursor = s.cursor;
  }

  /** Back to the first batch of epoch 0. */
  reset(): void {
    this.#rng = new Rng(this.seed);
    this.#epochRng = this.#rng.state();
    this.#order = this.#makeOrder();
    this.#epoch = 0;
    this.#cursor = 0;
  }
}

/** Batches over rows in order (no shuffling; the last batch may be smaller): evaluation. */
export function* orderedBatches(rows: PackedRows, batchSize: number, maxBatches = Infinity, padId = 0, ignoreIndex = IGNORE_INDEX): Generator<Batch> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new CtxwinError("ERR_ARG", `orderedBatches: batchSize: expected a positive integer, got ${batchSize}`);
  let b = 0;
  for (let start = 0; start < rows.length && b < maxBatches; start += batchSize, b++) {
    const idx: number[] = [];
    for (let i = start; i < Math.min(rows.length, start + batchSize); i++) idx.push(i);
    let tokens = 0;
    const inputs = idx.map((i) => rows.inputs(i, padId));
    const targets = idx.map((i) => {
      tokens += rows.scored(i);
      return rows.targets(i, ignoreIndex);
    });
    yield { inputs, targets, tokens, epoch: 0, rows: idx };
  }
}
