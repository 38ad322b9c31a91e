/**
 * Progress output of the long jobs, train() and `ctxwin study`, through one printer.
 *
 * On a TTY the job's status is one line rewritten in place (`\r`, cleared to the end, cut to the
 * terminal width, at most 10 times a second); anywhere else (logs, CI) or into a callback, a
 * status becomes a plain line only when the job says it is due, so a log gets a few lines, not
 * one per step. Messages (evaluation, checkpoint, a stage's result) always get a line of their
 * own, below the status line, which keeps its latest text.
 *
 * Two front ends share the printer:
 * - train(): `step  120/1000 | loss 2.3456 | lr 3.00e-4 | gnorm 0.831 |  12.3k tok/s | ETA 1:23`,
 *   due at the first and last step and every `every` steps;
 * - the study: one status per stage, `[8 train rope]  120/1200  loss 5.123  lr 3.0e-3  6.9k tok/s
 *   ETA 1:17`, due every 10 s and at the stage's last step, ending in `[8 train rope] done in 2:41`.
 */

/** A duration in seconds as m:ss or h:mm:ss; "?" when unknown (negative, NaN, infinite). */
export function formatDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return "?";
  // rounded first, so 59.6 s is "1:00", never "0:60"
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${String(sec).padStart(2, "0")}` : `${m}:${String(sec).padStart(2, "0")}`;
}

/** A rate (per second) in 3–4 significant digits: 950, 12.3k, 1.25M; "-" when unknown. */
export function formatRate(x: number): string {
  if (!Number.isFinite(x)) return "-";
  // each unit starts where the smaller one would round up to 1000 (999.5 is "1.0k", not "1000";
  // 999 950 is "1.00M", not "1000.0k")
  if (Math.abs(x) >= 999_950) return `${(x / 1e6).toFixed(2)}M`;
  if (Math.abs(x) >= 999.5) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(0);
}

/** The stream a printer writes to (process.stderr; tests pass their own). */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Where progress goes: a stream (a TTY gets the in-place line) or a function receiving whole lines. */
export type ProgressTarget = ProgressStream | ((line: string) => void);

export interface ProgressPrinter {
  /** Whether statuses are rewritten in place (a TTY stream). */
  readonly tty: boolean;
  /**
   * The job's current status. On a TTY it replaces the shown one (at most every 100 ms unless
   * `due`); elsewhere it is printed as a line only when `due`.
   */
  status(line: string, due: boolean): void;
  /** The status's final text (a stage's result): replaces the in-place status and ends its line on a TTY; a plain line elsewhere. */
  end(line: string): void;
  /** A line of its own, below the status (which keeps its latest text on a TTY). */
  message(line: string): void;
  /** Ends an in-place status line, leaving its latest text. */
  close(): void;
}

/** Least time between two in-place redraws: faster is flicker, not information. */
const TTY_REDRAW_MS = 100;

export function createProgressPrinter(target: ProgressTarget = process.stderr, opts: { now?: () => number } = {}): ProgressPrinter {
  const now = opts.now ?? (() => performance.now());
  if (typeof target === "function") return plainPrinter(target);
  if (!target.isTTY) return plainPrinter((line) => target.write(line + "\n"));
  const stream = target;
  let latest = ""; // the newest status, shown or not (throttled)
  let open = false; // a status line is on screen without its newline
  let shownAt = -Infinity;
  const draw = (line: string) => {
    const cols = stream.columns || 120;
    // one character short of the width: a full-width line wraps on some terminals and breaks `\r`
    stream.write(`\r\x1b[K${line.length > cols - 1 ? line.slice(0, cols - 1) : line}`);
  };
  const close = () => {
    if (!open) return;
    draw(latest);
    stream.write("\n");
    open = false;
  };
  return {
    tty: true,
    status(line, due) {
      latest = line;
      const t = now();
      if (open && !due && t - shownAt < TTY_REDRAW_MS) return;
      draw(line);
      shownAt = t;
      open = true;
    },
    end(line) {
      draw(line);
      stream.write("\n");
      open = false;
    },
    message(line) {
      close();
      stream.write(line + "\n");
    },
    close,
  };
}

function plainPrinter(emit: (line: string) => void): ProgressPrinter {
  return {
    tty: false,
    status(line, due) {
      if (due) emit(line);
    },
    end: emit,
    message: emit,
    close() {},
  };
}

// ---- train() ------------------------------------------------------------------------------------

export interface TrainingProgressFields {
  step: number;
  steps: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokensPerSecond: number;
  etaSeconds: number;
}

/** `step  120/1000 | loss 2.3456 | lr 3.00e-4 | gnorm 0.831 |  12.3k tok/s | ETA 1:23` */
export function trainingProgressLine(p: TrainingProgressFields): string {
  const w = String(p.steps).length;
  return [
    `step ${String(p.step).padStart(w)}/${p.steps}`,
    `loss ${p.loss.toFixed(4)}`,
    `lr ${p.lr.toExponential(2)}`,
    `gnorm ${p.gradNorm.toFixed(3)}`,
    `${formatRate(p.tokensPerSecond).padStart(6)} tok/s`,
    `ETA ${formatDuration(p.etaSeconds)}`,
  ].join(" | ");
}

export interface TrainingProgress {
  step(p: TrainingProgressFields): void;
  /** A line of its own (evaluation, checkpoint, end). */
  message(line: string): void;
  close(): void;
}

/**
 * train()'s progress: `target` true = stderr, a function = its lines, false/undefined = nothing.
 * Off a TTY the first and last step and every `every`-th get a line.
 */
export function createTrainingProgress(target: boolean | ((line: string) => void) | undefined, every: number): TrainingProgress {
  if (!target) return { step() {}, message() {}, close() {} };
  const printer = createProgressPrinter(target === true ? process.stderr : target);
  return {
    step(p) {
      printer.status(trainingProgressLine(p), p.step === 1 || p.step === p.steps || p.step % every === 0);
    },
    message: (line) => printer.message(line),
    close: () => printer.close(),
  };
}

// ---- the study's stages -------------------------------------------------------------------------

/** Progress of a job run as numbered stages (`ctxwin study`). */
export interface ProgressSink {
  /** A new stage begins. */
  stage(name: string): void;
  /** Progress within the stage. */
  update(p: { step: number; total: number; loss?: number; lr?: number; tokensPerSecond?: number; note?: string }): void;
  /** The stage finished (prints its final line with the elapsed time). */
  done(note?: string): void;
  /** A standalone message. */
  log(msg: string): void;
}

/**
 * Stage progress through a printer on `target` (default process.stderr). Off a TTY a stage's
 * status gets a line every `plainIntervalMs` (default 10 s) and at its last step.
 */
export function createStageProgress(opts: { target?: ProgressTarget; plainIntervalMs?: number; now?: () => number } = {}): ProgressSink {
  const now = opts.now ?? (() => performance.now());
  const printer = createProgressPrinter(opts.target ?? process.stderr, { now });
  const plainIntervalMs = opts.plainIntervalMs ?? 10_000;
  let name = "";
  let index = 0;
  let started = 0;
  let dueAt = 0;
  return {
    stage(n) {
      printer.close();
      name = n;
      index++;
      started = now();
      dueAt = started;
      printer.status(`[${index} ${name}]`, true);
    },
    update(p) {
      const t = now();
      const elapsed = (t - started) / 1000;
      const eta = p.step > 0 ? (elapsed / p.step) * (p.total - p.step) : NaN;
      const parts = [`[${index} ${name}]`, `${p.step}/${p.total}`];
      if (p.loss !== undefined) parts.push(`loss ${p.loss.toFixed(3)}`);
      if (p.lr !== undefined) parts.push(`lr ${p.lr.toExponential(1)}`);
      if (p.tokensPerSecond !== undefined) parts.push(`${formatRate(p.tokensPerSecond)} tok/s`);
      if (p.note) parts.push(p.note);
      parts.push(`ETA ${formatDuration(eta)}`);
      const due = p.step === p.total || t >= dueAt;
      if (due) dueAt = t + plainIntervalMs;
      printer.status(parts.join("  "), due);
    },
    done(note) {
      const elapsed = (now() - started) / 1000;
      printer.end(`[${index} ${name}] done in ${formatDuration(elapsed)}${note ? `  ${note}` : ""}`);
    },
    log(msg) {
      printer.message(msg);
    },
  };
}

/** A sink that prints nothing (tests, library use). */
export const silentProgress: ProgressSink = { stage() {}, update() {}, done() {}, log() {} };
