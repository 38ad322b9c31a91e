/**
 * Shared glue between the suites and the package: building tensors for a case, reading them,
 * and failure messages that carry the seed to replay with.
 */
import { Tensor } from "ctxwin";
import { kShape, qShape, type AttnCase } from "./reference/cases.js";
import { fmt, maxAbs, relErr } from "./reference/util.js";

export type DType = "f32" | "bf16" | "f16";

export function tensors(
  cs: AttnCase,
  data: { q: Float32Array; k: Float32Array; v: Float32Array; dOut?: Float32Array },
  dtype: DType = "f32",
): { q: Tensor; k: Tensor; v: Tensor; dOut: Tensor | null; dispose(): void } {
  const q = Tensor.from(data.q, qShape(cs), { dtype });
  const k = Tensor.from(data.k, kShape(cs), { dtype });
  const v = Tensor.from(data.v, kShape(cs), { dtype });
  const dOut = data.dOut ? Tensor.from(data.dOut, qShape(cs), { dtype }) : null;
  return {
    q,
    k,
    v,
    dOut,
    dispose() {
      q.dispose();
      k.dispose();
      v.dispose();
      dOut?.dispose();
    },
  };
}

/** A failure message: what was compared, both error measures, and how to replay. */
export function report(suiteSeed: number, what: string, got: ArrayLike<number>, want: ArrayLike<number>): string {
  return `${what}: rel err ${fmt(relErr(got, want))}, max abs ${fmt(maxAbs(got, want))} (replay with CTXWIN_TEST_SEED=${suiteSeed})`;
}

/** Logs the suite seed once, so any failure can be replayed. */
export function announceSeed(suite: string, seed: number): void {
  console.log(`[${suite}] seed ${seed} (set CTXWIN_TEST_SEED=${seed} to replay)`);
}
