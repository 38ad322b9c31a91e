/**
 * The training progress line: `step  120/1000 | loss 2.3456 | lr 3.00e-04 | gnorm 0.831 |
 * 12.3k tok/s | ETA 1:23`. On a TTY it is rewritten in place (`\r`, at most 10 times a second);
 * elsewhere (logs, CI) or into a callback, a plain line every `every` steps (and the first and
 * last). Evaluation and checkpoint messages always get their own line.
 */

export function formatDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return "?";
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${String(sec).padStart(2, "0")}` : `${m}:${String(sec).padStart(2, "0")}`;
}

export function formatRate(x: number): string {
  if (!Number.isFinite(x)) return "-";
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(0);
}

export interface ProgressFields {
  step: number;
  steps: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokensPerSecond: number;
  etaSeconds: number;
}

export function progressLine(p: ProgressFields): string {
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

export interface ProgressWriter {
  step(p: ProgressFields): void;
  /** A line of its own (evaluation, checkpoint, end). */
  message(line: string): void;
  /** Ends an in-place line. */
  close(): void;
}

export function createProgressWriter(target: boolean | ((line: string) => void) | undefined, every: number): ProgressWriter {
  if (!target) return { step() {}, message() {}, close() {} };
  const stream = process.stderr;
  const tty = target === true && !!stream.isTTY;
  const emit = typeof target === "function" ? target : (line: string) => stream.write(line + "\n");
  if (!tty) {
    return {
      step(p) {
        if (p.step === 1 || p.step === p.steps || p.step % every === 0) emit(progressLine(p));
      },
      message: emit,
      close() {},
    };
  }
  let open = false;
  let last = 0;
  return {
    step(p) {
      const now = performance.now();
      if (now - last < 100 && p.step !== p.steps) return;
      last = now;
      const cols = stream.columns || 120;
      const line = progressLine(p);
      stream.write(`\r\x1b[K${line.length > cols - 1 ? line.slice(0, cols - 1) : line}`);
      open = true;
    },
    message(line) {
      stream.write(`${open ? "\r\x1b[K" : ""}${line}\n`);
      open = false;
      last = 0;
    },
    close() {
      if (open) stream.write("\n");
      open = false;
    },
  };
}
