/**
 * Cooperative slicing of long synchronous work (recording a deep model's forward or backward),
 * so a Node service stays responsive: the work is written once as a generator that yields at
 * natural boundaries (after each layer, each backward node); `runAll` drives it to the end at once
 * (the synchronous APIs), `runSliced` gives the event loop a turn whenever a slice has run for
 * longer than the budget (train, generate, perplexity).
 *
 * Ops only enqueue device work, so a slice is JS time: validating arguments, building options,
 * allocating outputs, submitting jobs. A 24-layer model's forward used to be one burst of
 * ~100 ms; sliced, the longest gap is about one layer's worth.
 */
import { CtxwinError } from "../errors.js";
import { activeScope, freeOnError, Scope } from "./scope.js";

let sliceMs = 10;

/**
 * The longest the JS thread records ops before it yields to the event loop in train(),
 * generate() and perplexity() (default 10 ms; 0 yields at every boundary, Infinity never). Returns
 * the setting.
 */
export function eventLoopSlice(ms?: number): number {
  if (ms !== undefined) {
    if (typeof ms !== "number" || Number.isNaN(ms) || ms < 0) {
      throw new CtxwinError("ERR_ARG", `eventLoopSlice: ms: expected a number >= 0 (Infinity: never yield), got ${String(ms)}`);
    }
    sliceMs = ms;
  }
  return sliceMs;
}

/** Work written as a generator: yields (nothing) where it may be paused, returns its result. */
export type Steps<T> = Generator<void, T, void>;

/**
 * Drives `steps` to completion synchronously, in an error scope: if they throw, every tensor they
 * made and did not keep() is freed (lib/util/scope.ts).
 */
export function runAll<T>(steps: Steps<T>): T {
  return freeOnError(() => {
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
    }
  });
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Drives `steps` to completion, yielding to the event loop (setImmediate) between slices of at most
 * about eventLoopSlice() ms, in an error scope (as runAll). `enter` / `exit` run around every slice (e.g. making a tape the
 * recording one only while this work runs, so that other work interleaved between slices does
 * not record onto it).
 */
export async function runSliced<T>(steps: Steps<T>, around?: { enter(): void; exit(): void }): Promise<T> {
  // one error scope for the whole work, active during its slices only (like the tape)
  const outer = activeScope();
  const scope = new Scope();
  try {
    for (;;) {
      const t0 = performance.now();
      let done: IteratorReturnResult<T> | null = null;
      around?.enter();
      scope.enter();
      try {
        for (;;) {
          const r = steps.next();
          if (r.done) {
            done = r;
            break;
          }
          if (performance.now() - t0 >= sliceMs) break;
        }
      } finally {
        scope.exit();
        around?.exit();
      }
      if (done) {
        scope.succeed(outer);
        return done.value;
      }
      await turn();
    }
  } catch (e) {
    scope.fail();
    throw e;
  }
}
