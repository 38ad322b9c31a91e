/**
 * The cells of `ctxwin eval` and their log, which makes a run resumable.
 *
 * A cell is one measurement: model × method × length × metric ("ppl": the paired NLL, "passkey":
 * retrieval in the distance bucket that ends at the length). Its key names everything its inputs
 * depend on — the model directory and a hash of its files, the method with every parameter
 * resolved, the length, the metric, the seed, a hash of the corpus, and the settings that fix its
 * text (`set`: targets, documents, windows, the longest length; for passkey the trials, digits and
 * the lengths up to this one, whose draws come first) — and its id is a hash of the key.
 *
 * The log (<out>/cells.jsonl) is append-only: one self-contained JSON line per finished cell,
 * written with one O_APPEND write and fsynced (lib/util/atomic.ts appendDurable). A crash or a
 * kill can only leave the last line incomplete; reading ignores a last line that does not parse,
 * and opening the log for appending first rewrites it (atomically) without that line. Any other
 * line that does not parse is ERR_FORMAT naming the file and line. A re-run computes only the
 * cells whose id is not in the log; if a key appears twice the later line wins.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { CtxwinError } from "../errors.js";
import { appendDurable, writeFileAtomic } from "../util/atomic.js";
import { checkAbort } from "../study/trainer.js";

export type EvalMetric = "ppl" | "passkey";
export const EVAL_METRICS: readonly EvalMetric[] = ["ppl", "passkey"];

/** Version of the key and record layout (a change makes every earlier cell a new one). */
export const CELL_VERSION = 1;

export interface CellKey {
  /** Absolute model directory. */
  model: string;
  /** Hash of config.json, tokenizer.json and the weight files' names, sizes and times. */
  modelHash: string;
  /** Method with every parameter resolved, e.g. "rope-pi:factor=4". */
  method: string;
  /** Length in tokens (BOS included). */
  length: number;
  metric: EvalMetric;
  seed: number;
  /** Hash of the evaluated documents (sources and text). */
  corpus: string;
  /** The settings that fix the cell's text (see the file header). */
  set: string;
}

/** The id of a key: a hash of every field, in a fixed order. */
export function cellId(k: CellKey): string {
  const canonical = JSON.stringify([CELL_VERSION, k.model, k.modelHash, k.method, k.length, k.metric, k.seed, k.corpus, k.set]);
  return createHash("sha256").update(canonical).digest("hex").slice(0, 24);
}

/** The paired NLL of a cell (per-document sums keep every interval recomputable). */
export interface PplResult {
  /** Mean NLL per target (nats); null when not finite. */
  nll: number | null;
  docNll: number[];
  docTargets: number[];
  /** Evaluation documents (sources), windows and targets per window. */
  documents: string[];
  windows: number;
  targets: number;
}

/** Passkey retrieval in the distance bucket (lo, hi]. */
export interface PasskeyResult {
  correct: number;
  trials: number;
  /** Mean log-likelihood of the answer (nats). */
  meanLogLik: number | null;
  lo: number;
  hi: number;
}

/** One line of the log. */
export interface CellRecord {
  v: typeof CELL_VERSION;
  id: string;
  key: CellKey;
  result: PplResult | PasskeyResult;
  seconds: number;
  device: string;
  /** ISO date. */
  at: string;
}

export interface LogContents {
  /** Records by id (the later line wins). */
  records: Map<string, CellRecord>;
  /** Complete, valid lines. */
  lines: number;
  /** The ignored last line (text), when it did not parse; else null. */
  torn: string | null;
  /** The file's text without the torn line. */
  valid: string;
}

function isRecord(x: unknown): x is CellRecord {
  if (x === null || typeof x !== "object") return false;
  const r = x as Record<string, unknown>;
  return r.v === CELL_VERSION && typeof r.id === "string" && r.key !== null && typeof r.key === "object" && r.result !== null && typeof r.result === "object";
}

function parseRecord(line: string): CellRecord | null {
  try {
    const v: unknown = JSON.parse(line);
    return isRecord(v) ? v : null;
  } catch {
    return null;
  }
}

/**
 * Parses the log's text (see the file header): every line but the last must be a record (blank
 * lines are skipped); the last line is ignored as torn when it does not parse or has no newline
 * at its end. `file` names the log in errors.
 */
export function parseCellLog(text: string, file = "cells.jsonl"): LogContents {
  const records = new Map<string, CellRecord>();
  const terminated = text === "" || text.endsWith("\n");
  const lines = text.split("\n");
  if (terminated) lines.pop(); // the empty string after the final newline
  let count = 0;
  let torn: string | null = null;
  let validEnd = 0;
  let offset = 0;
  lines.forEach((line, i) => {
    const isLast = i === lines.length - 1;
    const end = offset + line.length + (isLast && !terminated ? 0 : 1);
    offset = end;
    if (isLast && !terminated) {
      torn = line; // cut short by a crash: its cell is computed again
      return;
    }
    if (line.trim() === "") {
      validEnd = end;
      return;
    }
    const r = parseRecord(line);
    if (r) {
      records.set(r.id, r);
      count++;
      validEnd = end;
    } else if (isLast) torn = line;
    else {
      throw new CtxwinError(
        "ERR_FORMAT",
        `eval: ${file}: line ${i + 1}: expected a cell record (a JSON object with v: ${CELL_VERSION}, id, key, result), got ${JSON.stringify(line.length > 80 ? line.slice(0, 80) + "…" : line)}; remove the line (or the file, to compute every cell again)`,
      );
    }
  });
  return { records, lines: count, torn, valid: text.slice(0, validEnd) };
}

/** Reads the log (an absent file is an empty log). */
export async function readCellLog(file: string): Promise<LogContents> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { records: new Map(), lines: 0, torn: null, valid: "" };
    throw new CtxwinError("ERR_ARG", `eval: ${file}: expected a readable cell log, got ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseCellLog(text, file);
}

/** An open log: what it held, and append. */
export interface CellLog extends LogContents {
  readonly file: string;
  has(id: string): boolean;
  /** Appends a record (one line, fsynced) and adds it to `records`. */
  append(record: CellRecord): Promise<void>;
}

/**
 * Opens the log for appending: reads it and, when its last line was torn, first rewrites it
 * atomically without that line (so the next record starts on a line of its own).
 */
export async function openCellLog(file: string): Promise<CellLog> {
  const contents = await readCellLog(file);
  if (contents.torn !== null) await writeFileAtomic(file, contents.valid);
  const log: CellLog = {
    ...contents,
    file,
    has: (id) => contents.records.has(id),
    async append(record) {
      await appendDurable(file, JSON.stringify(record) + "\n");
      contents.records.set(record.id, record);
      log.lines++;
    },
  };
  return log;
}

/** A cell to run: its id, and anything the caller needs. */
export interface RunnableCell {
  id: string;
}

/**
 * Runs the cells not in `done`, in order: `compute` gives a cell's record, which is appended to
 * the log before the next cell starts. Stops with StudyAborted (lib/study/trainer.ts) once
 * `signal` is aborted — before a cell, or inside `compute` (which checks it between batches); the
 * cells finished until then are in the log. Returns the cells computed and those reused.
 */
export async function runCells<C extends RunnableCell>(
  cells: readonly C[],
  log: { has(id: string): boolean; append(record: CellRecord): Promise<void> },
  compute: (cell: C) => Promise<CellRecord>,
  opts: { signal?: AbortSignal; onCell?: (cell: C, computed: boolean) => void } = {},
): Promise<{ computed: C[]; reused: C[] }> {
  const computed: C[] = [];
  const reused: C[] = [];
  for (const c of cells) {
    if (log.has(c.id)) {
      reused.push(c);
      opts.onCell?.(c, false);
      continue;
    }
    checkAbort(opts.signal, "the evaluation");
    const record = await compute(c);
    if (record.id !== c.id) throw new CtxwinError("ERR_INTERNAL", `eval: a cell's record has id ${record.id}, expected ${c.id}`);
    await log.append(record);
    computed.push(c);
    opts.onCell?.(c, true);
  }
  return { computed, reused };
}
