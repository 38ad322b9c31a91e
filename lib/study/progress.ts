/**
 * Live progress on stderr: one line per stage, updated in place on a TTY
 * ("[8 train rope]  120/1200  loss 5.123  lr 3.0e-3  6.9k tok/s  ETA 1:17"; stage number, step/total,
 * smoothed loss, learning rate, tokens/s, the stage's ETA), and a plain line every few
 * seconds (plus the stage's last line) when stderr is not a TTY (logs, CI).
 * Durations and rates are formatted as lib/train formats them.
 */
import { formatDuration, formatRate } from "../train/progress.js";

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

/** Progress to a stream (default process.stderr). `quiet` prints nothing. */
export function createProgress(opts: { stream?: NodeJS.WriteStream; quiet?: boolean; interval?: number } = {}): ProgressSink {
  const stream = opts.stream ?? process.stderr;
  const tty = !!stream.isTTY;
  const interval = opts.interval ?? (tty ? 0.1 : 10);
  let name = "";
  let index = 0;
  let started = 0;
  let lastPrint = 0;
  let lastLine = "";
  let open = false;
  const write = (line: string, final: boolean) => {
    if (opts.quiet) return;
    if (tty) {
      const cols = stream.columns || 120;
      const l = line.length > cols - 1 ? line.slice(0, cols - 1) : line;
      stream.write(`\r\x1b[K${l}${final ? "\n" : ""}`);
      open = !final;
    } else {
      stream.write(line + "\n");
    }
  };
  return {
    stage(n) {
      if (open) write(lastLine, true);
      name = n;
      index++;
      started = performance.now();
      lastPrint = 0;
      lastLine = `[${index} ${name}]`;
      write(lastLine, false);
    },
    update(p) {
      const now = performance.now();
      const el = (now - started) / 1000;
      const eta = p.step > 0 ? (el / p.step) * (p.total - p.step) : NaN;
      const parts = [`[${index} ${name}]`, `${p.step}/${p.total}`];
      if (p.loss !== undefined) parts.push(`loss ${p.loss.toFixed(3)}`);
      if (p.lr !== undefined) parts.push(`lr ${p.lr.toExponential(1)}`);
      if (p.tokensPerSecond !== undefined) parts.push(`${formatRate(p.tokensPerSecond)} tok/s`);
      if (p.note) parts.push(p.note);
      parts.push(`ETA ${formatDuration(eta)}`);
      lastLine = parts.join("  ");
      if ((now - lastPrint) / 1000 >= interval || p.step === p.total) {
        lastPrint = now;
        write(lastLine, false);
      }
    },
    done(note) {
      const el = (performance.now() - started) / 1000;
      write(`[${index} ${name}] done in ${formatDuration(el)}${note ? `  ${note}` : ""}`, true);
    },
    log(msg) {
      if (open) write(lastLine, true);
      if (!opts.quiet) stream.write(msg + "\n");
    },
  };
}

/** A sink that prints nothing (tests, library use). */
export const silentProgress: ProgressSink = { stage() {}, update() {}, done() {}, log() {} };
