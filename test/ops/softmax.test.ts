/**
 * softmax and the fused softmax + cross-entropy against float64 references: ignoreIndex, the
 * default and explicit gradScale, huge logits (stability), a 50k vocabulary, half-type logits,
 * dlogits against finite differences of the loss, bad targets.
 */
import { describe, expect, it } from "vitest";
import { softmax, softmaxCrossEntropy } from "../../dist/ops/index.js";
import { announceSeed } from "../helpers.js";
import { close, fdCheck, randn, rejectsWith, rngFor, rounded, SEED, T, throwsWith, tolFor, vals, type DType } from "./util.js";

announceSeed("ops.softmax", SEED);

function xentRef(logits: ArrayLike<number>, targets: number[], V: number, ignore: number, scale?: number) {
  const N = targets.length;
  const losses = new Float64Array(N), grad = new Float64Array(N * V);
  const count = targets.filter((t) => t !== ignore).length;
  const s = scale ?? (count > 0 ? 1 / count : 0);
  for (let r = 0; r < N; r++) {
    if (targets[r] === ignore) continue;
    let mx = -Infinity;
    for (let j = 0; j < V; j++) mx = Math.max(mx, logits[r * V + j]!);
    let sum = 0;
    for (let j = 0; j < V; j++) sum += Math.exp(logits[r * V + j]! - mx);
    losses[r] = Math.log(sum) + mx - logits[r * V + targets[r]!]!;
    for (let j = 0; j < V; j++) grad[r * V + j] = (Math.exp(logits[r * V + j]! - mx) / sum - (j === targets[r] ? 1 : 0)) * s;
  }
  return { losses, grad };
}

function softmaxRef(x: ArrayLike<number>, V: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / V; r++) {
    let mx = -Infinity, sum = 0;
    for (let j = 0; j < V; j++) mx = Math.max(mx, x[r * V + j]!);
    for (let j = 0; j < V; j++) sum += Math.exp(x[r * V + j]! - mx);
    for (let j = 0; j < V; j++) out[r * V + j] = Math.exp(x[r * V + j]! - mx) / sum;
  }
  return out;
}

describe("softmax_cross_entropy", () => {
  for (const dtype of ["f32", "bf16"] as DType[]) {
    it(`losses and dlogits vs reference (${dtype}, N=37, V=53, ignoreIndex)`, async () => {
      const rng = rngFor(`xent ${dtype}`);
      const N = 37, V = 53;
      const logits = rounded(randn(rng, N * V, 3), dtype);
      const targets = Array.from({ length: N }, (_, i) => (i % 5 === 3 ? -100 : rng.int(0, V - 1)));
      const tl = T(logits, [N, V], dtype), tt = T(targets, [N]);
      const { losses, dlogits } = softmaxCrossEntropy(tl, tt, { grad: true });
      expect(losses.shape).toEqual([N]);
      expect(losses.dtype).toBe("f32");
      expect(dlogits!.dtype).toBe(dtype);
      const want = xentRef(logits, targets, V, -100);
      close(await vals(losses), want.losses, 1e-5, "losses");
      close(await vals(dlogits!), want.grad, tolFor(dtype), "dlogits");
      const noGrad = softmaxCrossEntropy(tl, tt);
      expect(noGrad.dlogits).toBeUndefined();
      close(await vals(noGrad.losses), want.losses, 1e-5, "losses (no grad)");
    });
  }

  it("custom ignoreIndex and gradScale, 3-d logits", async () => {
    const rng = rngFor("xent opts");
    const B = 3, Tn = 7, V = 29;
    const logits = randn(rng, B * Tn * V, 2);
    const targets = Array.from({ length: B * Tn }, (_, i) => (i % 4 === 0 ? 7 : rng.int(0, V - 1)));
    // 7 is ignored, also where it would be a valid class
    const { losses, dlogits } = softmaxCrossEntropy(T(logits, [B, Tn, V]), T(targets, [B, Tn]), { ignoreIndex: 7, grad: true, gradScale: 0.25 });
    expect(losses.shape).toEqual([B, Tn]);
    const want = xentRef(logits, targets, V, 7, 0.25);
    close(await vals(losses), want.losses, 1e-5, "losses");
    close(await vals(dlogits!), want.grad, 1e-5, "dlogits");
  });

  it("is stable for huge logits and accurate for a 50k vocabulary", async () => {
    const rng = rngFor("xent big");
    const N = 3, V = 50257;
    const logits = randn(rng, N * V, 4);
    for (let j = 0; j < V; j += 101) logits[j] = 1e4 + j; // row 0: huge values
    logits[V + 5] = -1e30;
    const targets = [101, 5, 50256];
    const { losses, dlogits } = softmaxCrossEntropy(T(logits, [N, V]), T(targets, [N]), { grad: true });
    const want = xentRef(logits, targets, V, -100);
    const got = await vals(losses);
    close(got, want.losses, 1e-5, "losses");
    close(await vals(dlogits!), want.grad, 1e-5, "dlogits");
    expect(got.every(Number.isFinite)).toBe(true);
  });

  it("all rows ignored: zero losses and zero gradient", async () => {
    const { losses, dlogits } = softmaxCrossEntropy(T(randn(rngFor("ign"), 12), [3, 4]), T([-100, -100, -100], [3]), { grad: true });
    expect(Array.from(await vals(losses))).toEqual([0, 0, 0]);
    expect(Array.from(await vals(dlogits!)).every((v) => v === 0)).toBe(true);
  });

  it("dlogits (default gradScale) is the gradient of the mean loss: finite differences", async () => {
    const rng = rngFor("xent fd");
    const N = 9, V = 31;
    const logits = randn(rng, N * V, 2);
    const targets = Array.from({ length: N }, (_, i) => (i === 4 ? -100 : rng.int(0, V - 1)));
    const tt = T(targets, [N]);
    const { dlogits } = softmaxCrossEntropy(T(logits, [N, V]), tt, { grad: true });
    const count = N - 1;
    const r = Float32Array.from({ length: N }, () => 1 / count); // mean over the counted rows
    await fdCheck({ what: "dlogits", rng, x: logits, r, grad: await vals(dlogits!), forward: (v) => softmaxCrossEntropy(T(v, [N, V]), tt).losses.data() });
  });

  it("a bad target fails the result with a clear error; shapes are checked at once", async () => {
    const { losses } = softmaxCrossEntropy(T(new Float32Array(8), [2, 4]), T([1, 4], [2]));
    await rejectsWith(losses, "ERR_ARG", "softmax_cross_entropy: targets: expected ids in [0, 4) or ignoreIndex -100, got 4");
    throwsWith(() => softmaxCrossEntropy(T(new Float32Array(8), [2, 4]), T([1, 2, 3], [3])), "ERR_SHAPE", "softmaxCrossEntropy: targets: expected 2 targets (one per row of logits [2, 4]), got shape [3]");
    throwsWith(() => softmaxCrossEntropy(T(new Float32Array(8), [8]), T([1], [1])), "ERR_SHAPE", "softmaxCrossEntropy: logits: expected at least 2 dims [N, V]");
    throwsWith(() => softmaxCrossEntropy(T(new Float32Array(8), [2, 4]), T([1, 2], [2], "bf16")), "ERR_DTYPE", 'softmaxCrossEntropy: targets: expected dtype "f32", got "bf16"');
    throwsWith(() => softmaxCrossEntropy(T(new Float32Array(8), [2, 4]), T([1, 2], [2]), { ignoreIndex: 0.5 }), "ERR_ARG", "softmaxCrossEntropy: ignoreIndex: expected an integer");
  });
});

describe("softmax", () => {
  for (const dtype of ["f32", "bf16", "f16"] as DType[]) {
    it(`rows vs reference (${dtype}, [37, 53] and [2, 3000])`, async () => {
      const rng = rngFor(`softmax ${dtype}`);
      for (const [N, V] of [[37, 53], [2, 3000]] as const) {
        const x = rounded(randn(rng, N * V, 4), dtype);
        const y = softmax(T(x, [N, V], dtype));
        expect(y.dtype).toBe(dtype);
        close(await vals(y), softmaxRef(x, V), tolFor(dtype), `softmax ${N}x${V}`);
      }
    });
  }

  it("masked (-inf) entries get exactly 0; huge values do not overflow", async () => {
    const x = Float32Array.from([0, -Infinity, 1, -Infinity, 1e30, 1e30, 0, -1e30]);
    const y = await vals(softmax(T(x, [2, 4])));
    expect(y[1]).toBe(0);
    expect(y[3]).toBe(0);
    close(y.slice(0, 4), softmaxRef([0, -Infinity, 1, -Infinity], 4), 1e-6, "masked row");
    close(y.slice(4), [0.5, 0.5, 0, 0], 1e-6, "huge row");
  });
});
