/**
 * Every differentiable op's backward, through the tape, against finite differences; plus the
 * tape's bookkeeping (accumulation, frozen inputs, retained grads, no leaks).
 */
import { describe, expect, it } from "vitest";
import { defaultDevice, memory, synchronize, Tensor } from "ctxwin";
import { F, leaf, constant, noGrad, Parameter, Tape, Variable } from "../../dist/nn/index.js";
import { gradcheck } from "./gradcheck.js";
import { XorShift32 } from "../reference/rng.js";

const rng = new XorShift32(1234);
const inp = (shape: number[], std = 1, mean = 0) => ({ data: rng.array(shape.reduce((a, b) => a * b, 1), std, mean), shape });
const ids = (n: number, V: number) => Float32Array.from({ length: n }, () => Math.floor(rng.next() * V));

/** Live CPU tensors once queued work finished (disposal waits for the work using a tensor). */
async function liveTensors(): Promise<number> {
  await synchronize();
  return memory()[defaultDevice()]?.tensors ?? 0;
}

describe("autograd: op backwards vs finite differences", () => {
  it("linear (leading dims, with and without bias)", async () => {
    await gradcheck(([x, w, b]) => F.linear(x!, w!, b!), [inp([2, 3, 5]), inp([4, 5]), inp([4])]);
    await gradcheck(([x, w]) => F.linear(x!, w!), [inp([6, 5]), inp([3, 5])]);
  });
  it("matmul (plain and transB)", async () => {
    await gradcheck(([a, b]) => F.matmul(a!, b!), [inp([4, 3]), inp([3, 5])]);
    await gradcheck(([a, b]) => F.matmul(a!, b!, { transB: true }), [inp([2, 2, 3]), inp([5, 3])]);
  });
  it("add, mul, scale, addBias, sum, reshape", async () => {
    await gradcheck(([a, b]) => F.add(a!, b!), [inp([3, 4]), inp([3, 4])]);
    await gradcheck(([a, b]) => F.mul(a!, b!), [inp([3, 4]), inp([3, 4])]);
    await gradcheck(([a]) => F.scale(a!, -1.7), [inp([5])]);
    await gradcheck(([x, b]) => F.addBias(x!, b!), [inp([2, 3, 4]), inp([4])]);
    await gradcheck(([x]) => F.sum(x!), [inp([3, 3])]);
    await gradcheck(([x]) => F.reshape(x!, [6, 2]), [inp([3, 4])]);
    // the same input twice (x·x)
    await gradcheck(([a]) => F.mul(a!, a!), [inp([7])]);
  });
  it("concat, slice, repeatBatch", async () => {
    await gradcheck(([a, b]) => F.concat(a!, b!, 1), [inp([2, 3, 4]), inp([2, 2, 4])]);
    await gradcheck(([a]) => F.slice(a!, 1, 1, 3), [inp([2, 4, 3])]);
    await gradcheck(([a]) => F.repeatBatch(a!, 3), [inp([1, 2, 3])]);
  });
  it("embedding", async () => {
    const id = Tensor.from(ids(7, 5), [7]);
    await gradcheck(([w]) => F.embedding(w!, id), [inp([5, 3])]);
    id.dispose();
  });
  it("rmsnorm, layernorm", async () => {
    await gradcheck(([x, w]) => F.rmsnorm(x!, w!, 1e-5), [inp([3, 6]), inp([6], 0.2, 1)]);
    await gradcheck(([x, w, b]) => F.layernorm(x!, w!, b!, 1e-5), [inp([3, 6]), inp([6], 0.2, 1), inp([6], 0.2)]);
  });
  it("swiglu, gelu", async () => {
    await gradcheck(([g, u]) => F.swiglu(g!, u!), [inp([4, 5]), inp([4, 5])]);
    await gradcheck(([x]) => F.gelu(x!), [inp([4, 5])]);
  });
  it("attention: causal MHA, GQA + rope, alibi + window, prefix keys", async () => {
    const q = () => inp([2, 5, 4, 8]);
    await gradcheck(([a, b, c]) => F.attention(a!, b!, c!), [q(), inp([2, 5, 4, 8]), inp([2, 5, 4, 8])]);
    await gradcheck(([a, b, c]) => F.attention(a!, b!, c!, { positional: { type: "rope", theta: 100 } }), [q(), inp([2, 5, 2, 8]), inp([2, 5, 2, 8])]);
    await gradcheck(([a, b, c]) => F.attention(a!, b!, c!, { positional: { type: "alibi" }, window: 3 }), [q(), inp([2, 5, 4, 8]), inp([2, 5, 4, 8])]);
    await gradcheck(
      ([a, b, c]) => F.attention(a!, b!, c!, { positional: { type: "rope", theta: 50 }, prefixKeys: 2 }),
      [inp([1, 4, 2, 8]), inp([1, 6, 1, 8]), inp([1, 6, 1, 8])],
    );
  });
  it("attention with per-sequence key ranges (padding: right, left, one token; bidirectional, causal + window)", async () => {
    // On CUDA (scripts/gpu-check.sh, CTXWIN_TEST_DEVICE=cuda) this checks the padded CUDA backward too.
    await gradcheck(
      ([a, b, c]) => F.attention(a!, b!, c!, { causal: false, keyLengths: [7, 3, 1], positional: { type: "none" } }),
      [inp([3, 7, 2, 6]), inp([3, 7, 1, 6]), inp([3, 7, 1, 6])],
    );
    await gradcheck(
      ([a, b, c]) => F.attention(a!, b!, c!, { keyStarts: [2, 0], keyLengths: [9, 4], window: 4, positional: { type: "rope", theta: 30 } }),
      [inp([2, 9, 2, 8]), inp([2, 9, 2, 8]), inp([2, 9, 2, 8])],
    );
  });
  it("crossEntropy (mean over counted rows, ignored rows)", async () => {
    const targets = [1, 4, -100, 0, 2];
    await gradcheck(([l]) => F.crossEntropy(l!, targets), [inp([5, 6])], { scalarLoss: true });
    await gradcheck(([l]) => F.scale(F.crossEntropy(l!, targets, { reduction: "sum" }), 0.5), [inp([5, 6])], { scalarLoss: true });
  });
  it("a composed pre-norm block", async () => {
    const B = 1, T = 4, d = 8, H = 2, D = 4;
    await gradcheck(
      ([x, wq, wk, wv, wo, n]) => {
        const h = F.rmsnorm(x!, n!, 1e-5);
        const q = F.reshape(F.linear(h, wq!), [B, T, H, D]);
        const k = F.reshape(F.linear(h, wk!), [B, T, 1, D]);
        const v = F.reshape(F.linear(h, wv!), [B, T, 1, D]);
        const o = F.attention(q, k, v, { positional: { type: "rope" } });
        const y = F.linear(F.reshape(o, [B, T, H * D]), wo!);
        return F.add(x!, y);
      },
      [inp([B, T, d]), inp([H * D, d], 0.5), inp([D, d], 0.5), inp([D, d], 0.5), inp([d, H * D], 0.5), inp([d], 0.1, 1)],
    );
  });
});

describe("autograd: tape bookkeeping", () => {
  it("accumulates into Parameter.grad across backward passes (and via GEMM c/beta for tied use)", async () => {
    const before = (await liveTensors());
    const W = new Parameter(Tensor.from(rng.array(12), [3, 4]), "w");
    const xT = Tensor.from(rng.array(8), [2, 4]);
    const run = () => {
      const tape = new Tape();
      const loss = tape.run(() => {
        const x = constant(xT);
        const y1 = F.linear(x, W); // uses W twice: both grads accumulate
        const y2 = F.linear(x, W);
        const a = F.add(y1, y2);
        const s = F.sum(a);
        y1.release();
        y2.release();
        a.release();
        x.release();
        return s;
      });
      tape.backward(loss);
      loss.release();
    };
    run();
    const g1 = await W.grad!.data();
    run();
    const g2 = await W.grad!.data();
    const x = await xT.data();
    // dL/dW[o][i] = 2 * Σ_rows x[r][i] (per pass)
    for (let o = 0; o < 3; o++) {
      for (let i = 0; i < 4; i++) {
        const want = 2 * (x[i]! + x[4 + i]!);
        expect(g1[o * 4 + i]).toBeCloseTo(want, 4);
        expect(g2[o * 4 + i]).toBeCloseTo(2 * want, 4);
      }
    }
    W.dispose();
    xT.dispose();
    expect((await liveTensors())).toBe(before);
  });

  it("frozen parameters get no gradient and record nothing when nothing requires grad", () => {
    const W = new Parameter(Tensor.from(rng.array(6), [2, 3])).freeze();
    const xT = Tensor.from(rng.array(3), [1, 3]);
    const tape = new Tape();
    const xc = constant(xT);
    const y = tape.run(() => F.linear(xc, W));
    xc.release();
    expect(y.requiresGrad).toBe(false);
    expect(tape.size).toBe(0);
    expect(() => tape.backward(y)).toThrow(/does not require grad/);
    y.release();
    W.dispose();
    xT.dispose();
  });

  it("retainGrad keeps an intermediate's gradient; noGrad records nothing", async () => {
    const a = leaf(Tensor.from([1, 2, 3], [3]));
    const tape = new Tape();
    let mid!: Variable;
    const loss = tape.run(() => {
      mid = F.scale(a, 2).retainGrad();
      const s = F.sum(F.mul(mid, mid));
      return s;
    });
    tape.backward(loss);
    // d/dmid Σ mid² = 2·mid = 4a
    expect(Array.from(await mid.grad!.data())).toEqual([4, 8, 12]);
    expect(Array.from(await a.grad!.data())).toEqual([8, 16, 24]);
    const t2 = new Tape();
    const z = t2.run(() => noGrad(() => F.scale(a, 3)));
    expect(z.requiresGrad).toBe(false);
    expect(t2.size).toBe(0);
    z.release();
    mid.grad!.dispose();
    mid.release();
    loss.release();
    a.grad!.dispose();
    a.grad = null;
    a.release();
  });

  it("frees every intermediate: no tensor leaks across forward + backward", async () => {
    const before = (await liveTensors());
    const W1 = new Parameter(Tensor.from(rng.array(32), [8, 4]));
    const W2 = new Parameter(Tensor.from(rng.array(40), [5, 8]));
    const n = new Parameter(Tensor.from(new Float32Array(8).fill(1), [8]));
    const xT = Tensor.from(rng.array(24), [2, 3, 4]);
    for (let step = 0; step < 2; step++) {
      const tape = new Tape();
      const loss = tape.run(() => {
        const x = constant(xT);
        const h = F.linear(x, W1);
        x.release();
        const h2 = F.rmsnorm(h, n, 1e-5);
        h.release();
        const g = F.gelu(h2);
        h2.release();
        const l = F.linear(g, W2);
        g.release();
        const flat = F.reshape(l, [6, 5]);
        l.release();
        const ce = F.crossEntropy(flat, [0, 1, 2, 3, 4, -100]);
        flat.release();
        return ce;
      });
      tape.backward(loss);
      loss.release();
      expect(tape.size).toBe(0);
    }
    // what remains: the 3 parameters, their 3 grads, x
    expect((await liveTensors())).toBe(before + 7);
    for (const p of [W1, W2, n]) p.dispose();
    xT.dispose();
    expect((await liveTensors())).toBe(before);
  });

  it("tape.dispose() frees a forward that is never backpropagated", async () => {
    const before = (await liveTensors());
    const W = new Parameter(Tensor.from(rng.array(12), [3, 4]));
    const xT = Tensor.from(rng.array(8), [2, 4]);
    const tape = new Tape();
    const y = tape.run(() => {
      const xc = constant(xT);
      const h = F.linear(xc, W);
      xc.release();
      const g = F.gelu(h);
      h.release();
      return g;
    });
    y.release();
    tape.dispose();
    W.dispose();
    xT.dispose();
    expect((await liveTensors())).toBe(before);
  });

  it("rejects an async function in tape.run", () => {
    const tape = new Tape();
    expect(() => tape.run(async () => 1)).toThrow(/synchronous/);
  });
});
