/**
 * Finite-difference checks of the tape's gradients: L(X) = Σ f(X) ∘ R (R random, summed in
 * float64 in JS), directional derivatives (L(X + εU) − L(X − εU)) / 2ε against ⟨∂L/∂X, U⟩ from
 * tape.backward, for a few random directions U per input.
 */
import { Tensor } from "ctxwin";
import { F, leaf, noGrad, Tape, Variable, constant } from "../../dist/nn/index.js";
import { XorShift32 } from "../reference/rng.js";

export interface Input {
  data: Float32Array;
  shape: number[];
  /** false: a constant input (no gradient checked). */
  grad?: boolean;
}

const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

async function lossAt(f: (v: Variable[]) => Variable, inputs: Input[], r: Float32Array | null): Promise<number> {
  const ts = inputs.map((x) => Tensor.from(x.data, x.shape));
  const vars = ts.map((t) => constant(t));
  const y = noGrad(() => f(vars));
  const d = await y.value.data();
  y.release();
  vars.forEach((v) => v.release());
  ts.forEach((t) => t.dispose());
  let s = 0;
  for (let i = 0; i < d.length; i++) s += d[i]! * (r ? r[i]! : 1);
  return s;
}

/**
 * Checks f's gradients w.r.t. every input with grad !== false. `scalarLoss`: f already returns the
 * loss (no random projection). Returns the worst relative error seen.
 */
export async function gradcheck(
  f: (v: Variable[]) => Variable,
  inputs: Input[],
  opts: { seed?: number; eps?: number; dirs?: number; scalarLoss?: boolean; tol?: number } = {},
): Promise<number> {
  const rng = new XorShift32(opts.seed ?? 1);
  const eps = opts.eps ?? 1e-2;
  const dirs = opts.dirs ?? 3;
  const tol = opts.tol ?? 2e-2;
  // analytic
  const tape = new Tape();
  const ts = inputs.map((x) => Tensor.from(x.data, x.shape));
  const vars = ts.map((t, i) => (inputs[i]!.grad === false ? constant(t) : leaf(t, { borrowed: true })));
  const y = tape.run(() => f(vars));
  let r: Float32Array | null = null;
  let loss: Variable;
  if (opts.scalarLoss) {
    loss = y;
  } else {
    r = rng.array(numel(y.shape));
    const rt = Tensor.from(r, [...y.shape]);
    loss = tape.run(() => {
      const rc = constant(rt);
      const m = F.mul(y, rc);
      rc.release();
      const s = F.sum(m);
      m.release();
      return s;
    });
    y.release();
    rt.dispose();
  }
  tape.backward(loss);
  loss.release();
  const grads: (Float32Array | null)[] = [];
  for (const v of vars) {
    grads.push(v.grad ? await v.grad.data() : null);
    v.grad?.dispose();
    v.grad = null;
    v.release();
  }
  ts.forEach((t) => t.dispose());
  let worst = 0;
  for (let i = 0; i < inputs.length; i++) {
    if (inputs[i]!.grad === false) continue;
    const g = grads[i];
    if (!g) throw new Error(`input ${i}: no gradient`);
    for (let k = 0; k < dirs; k++) {
      const u = rng.array(inputs[i]!.data.length);
      const plus = inputs.map((x, j) => (j === i ? { ...x, data: x.data.map((v, e) => v + eps * u[e]!) } : x));
      const minus = inputs.map((x, j) => (j === i ? { ...x, data: x.data.map((v, e) => v - eps * u[e]!) } : x));
      const fd = ((await lossAt(f, plus, r)) - (await lossAt(f, minus, r))) / (2 * eps);
      let an = 0;
      let mag = 0;
      for (let e = 0; e < g.length; e++) {
        an += g[e]! * u[e]!;
        mag += Math.abs(g[e]! * u[e]!);
      }
      const err = Math.abs(fd - an) / Math.max(Math.abs(an), 0.05 * mag, 1e-3);
      worst = Math.max(worst, err);
      if (err > tol) throw new Error(`input ${i}, direction ${k}: finite difference ${fd} vs tape ${an} (rel err ${err.toExponential(2)})`);
    }
  }
  return worst;
}
