/**
 * The one progress printer (lib/util/progress.ts) and its two front ends (train()'s step line,
 * the study's stages): exact lines off a TTY, the in-place line on a TTY (escape sequences,
 * width, throttling against a fake clock), and the rate / duration formats at their edges.
 */
import { describe, expect, it } from "vitest";
import {
  createProgressPrinter,
  createStageProgress,
  createTrainingProgress,
  formatDuration,
  formatRate,
  trainingProgressLine,
} from "../../dist/util/progress.js";

/** A stream that records what is written; `tty` decides whether the printer draws in place. */
function fakeStream(tty: boolean, columns = 80) {
  const chunks: string[] = [];
  return { chunks, text: () => chunks.join(""), stream: { isTTY: tty, columns, write: (s: string) => void chunks.push(s) } };
}
/** A clock the test moves by hand (ms). */
function fakeClock() {
  let t = 1000;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}
const CLEAR = "\r\x1b[K";

describe("formatDuration", () => {
  it("m:ss below an hour, h:mm:ss above, rounded before splitting", () => {
    expect(formatDuration(0)).toBe("0:00");
    expect(formatDuration(59.4)).toBe("0:59");
    expect(formatDuration(59.6)).toBe("1:00");
    expect(formatDuration(83)).toBe("1:23");
    expect(formatDuration(3599.4)).toBe("59:59");
    expect(formatDuration(3599.6)).toBe("1:00:00");
    expect(formatDuration(3661)).toBe("1:01:01");
    expect(formatDuration(100 * 3600 + 5)).toBe("100:00:05");
  });
  it('"?" when unknown', () => {
    for (const s of [NaN, Infinity, -Infinity, -1]) expect(formatDuration(s)).toBe("?");
  });
});

describe("formatRate", () => {
  it("units switch where the smaller one would print 1000", () => {
    expect(formatRate(0)).toBe("0");
    expect(formatRate(12.4)).toBe("12");
    expect(formatRate(999.4)).toBe("999");
    expect(formatRate(999.5)).toBe("1.0k");
    expect(formatRate(12_345)).toBe("12.3k");
    expect(formatRate(999_949)).toBe("999.9k");
    expect(formatRate(999_950)).toBe("1.00M");
    expect(formatRate(1_254_000)).toBe("1.25M");
  });
  it('"-" when unknown', () => {
    for (const x of [NaN, Infinity, -Infinity]) expect(formatRate(x)).toBe("-");
  });
});

describe("train()'s progress", () => {
  const fields = (step: number, steps = 10) => ({ step, steps, loss: 2.345678, lr: 3e-4, gradNorm: 0.83141, tokensPerSecond: 12_345, etaSeconds: 83 });

  it("the step line, with the step padded to the width of the total", () => {
    expect(trainingProgressLine(fields(7, 1000))).toBe("step    7/1000 | loss 2.3457 | lr 3.00e-4 | gnorm 0.831 |  12.3k tok/s | ETA 1:23");
    expect(trainingProgressLine({ ...fields(1000, 1000), tokensPerSecond: NaN, etaSeconds: NaN })).toBe("step 1000/1000 | loss 2.3457 | lr 3.00e-4 | gnorm 0.831 |      - tok/s | ETA ?");
  });

  it("into a callback: the first, every n-th and the last step, messages in order", () => {
    const lines: string[] = [];
    const p = createTrainingProgress((l) => lines.push(l), 3);
    for (let s = 1; s <= 10; s++) {
      p.step(fields(s));
      if (s === 5) p.message("eval step 5 | val loss 2.0000");
    }
    p.message("done at step 10/10");
    p.close();
    expect(lines.map((l) => l.slice(0, 10))).toEqual(["step  1/10", "step  3/10", "eval step ", "step  6/10", "step  9/10", "step 10/10", "done at st"]);
    expect(lines[1]).toBe(trainingProgressLine(fields(3)));
  });
});

describe("the printer on a stream that is not a TTY", () => {
  it("a status is a line only when due; end and message always are; nothing is drawn in place", () => {
    const f = fakeStream(false);
    const p = createProgressPrinter(f.stream);
    expect(p.tty).toBe(false);
    p.status("one", true);
    p.status("two", false);
    p.end("three");
    p.message("four");
    p.close();
    expect(f.text()).toBe("one\nthree\nfour\n");
  });
});

describe("the printer on a TTY", () => {
  it("redraws in place at most every 100 ms unless due, and cuts lines to the width", () => {
    const f = fakeStream(true, 12);
    const clock = fakeClock();
    const p = createProgressPrinter(f.stream, clock);
    expect(p.tty).toBe(true);
    p.status("a", false); // the first status is always drawn
    clock.advance(50);
    p.status("b", false); // too soon
    p.status("c", true); // due: drawn anyway
    clock.advance(99);
    p.status("d", false); // 99 ms after c
    clock.advance(1);
    p.status("0123456789abcdef", false); // 100 ms: drawn, cut to 11 columns
    expect(f.chunks).toEqual([`${CLEAR}a`, `${CLEAR}c`, `${CLEAR}0123456789a`]);
  });

  it("a message leaves the latest status (even one not drawn yet) on its own line first", () => {
    const f = fakeStream(true);
    const clock = fakeClock();
    const p = createProgressPrinter(f.stream, clock);
    p.status("step 1", false);
    p.status("step 2", false); // throttled
    p.message("eval");
    p.status("step 3", false); // a new line: drawn at once
    p.close();
    p.close(); // nothing left open
    expect(f.text()).toBe(`${CLEAR}step 1${CLEAR}step 2\neval\n${CLEAR}step 3${CLEAR}step 3\n`);
  });

  it("end replaces the status with its final text; a message with no open status is just a line", () => {
    const f = fakeStream(true);
    const p = createProgressPrinter(f.stream, fakeClock());
    p.message("hello");
    p.status("working", true);
    p.end("finished");
    p.close();
    expect(f.text()).toBe(`hello\n${CLEAR}working${CLEAR}finished\n`);
  });
});

describe("the study's stage progress", () => {
  it("off a TTY: the stage, its first update, one every plainIntervalMs, its last step, its result", () => {
    const f = fakeStream(false);
    const clock = fakeClock();
    const s = createStageProgress({ target: f.stream, now: clock.now });
    s.stage("corpus");
    s.done("12 documents");
    s.stage("train rope");
    s.update({ step: 0, total: 100 });
    clock.advance(4000);
    s.update({ step: 40, total: 100, loss: 5.1234, lr: 3e-3, tokensPerSecond: 6900 }); // 4 s: not due
    clock.advance(6000);
    s.update({ step: 80, total: 100, loss: 4.5, lr: 3e-3, tokensPerSecond: 6900, note: "epoch 2" }); // 10 s: due
    clock.advance(1000);
    s.update({ step: 100, total: 100, loss: 4.25 }); // the last step: due
    s.log("a message");
    s.done("loss 4.250");
    expect(f.text().split("\n")).toEqual([
      "[1 corpus]",
      "[1 corpus] done in 0:00  12 documents",
      "[2 train rope]",
      "[2 train rope]  0/100  ETA ?",
      "[2 train rope]  80/100  loss 4.500  lr 3.0e-3  6.9k tok/s  epoch 2  ETA 0:03",
      "[2 train rope]  100/100  loss 4.250  ETA 0:00",
      "a message",
      "[2 train rope] done in 0:11  loss 4.250",
      "",
    ]);
  });

  it("on a TTY: a stage left open is kept (its latest text) when the next begins", () => {
    const f = fakeStream(true);
    const clock = fakeClock();
    const s = createStageProgress({ target: f.stream, now: clock.now });
    s.stage("eval nope");
    clock.advance(10);
    s.update({ step: 5, total: 10 }); // due (the stage's first update)
    clock.advance(10);
    s.update({ step: 6, total: 10 }); // throttled
    s.stage("eval rope");
    expect(f.text()).toBe(`${CLEAR}[1 eval nope]${CLEAR}[1 eval nope]  5/10  ETA 0:00${CLEAR}[1 eval nope]  6/10  ETA 0:00\n${CLEAR}[2 eval rope]`);
  });
});
