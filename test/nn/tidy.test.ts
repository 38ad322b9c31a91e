/**
 * tidy(): a scope that gives up the creator's hold of every Variable made inside it and not
 * returned — inference frees its intermediates at the end, training keeps what the backward reads
 * until it ran, an explicit release() inside is not counted twice, and a throw frees everything.
 */
import { describe, expect, it } from "vitest";
import { defaultDevice, memory, synchronize, Tensor } from "ctxwin";
import { F, leaf, Tape, tidy, tidySteps, Variable } from "../../dist/nn/index.js";
import { eventLoopSlice, runAll, runSliced } from "../../dist/util/slices.js";

async function liveTensors(): Promise<number> {
  await synchronize();
  return memory()[defaultDevice()]?.tensors ?? 0;
}
const vec = (n: number, f: (i: number) => number) => Tensor.from(Float32Array.from({ length: n }, (_, i) => f(i)), [n]);

describe("tidy", () => {
  it("frees what was made inside and keeps what is returned (nested results too)", async () => {
    const x = new Variable(vec(6, (i) => i - 2));
    const before = await liveTensors();
    let made: Variable[] = [];
    const out = tidy(() => {
      const a = F.scale(x, 2);
      const b = F.add(a, x);
      const c = F.mul(b, b);
      made = [a, b];
      return { c, list: [F.scale(c, 0.5)] };
    });
    expect(made.every((v) => v.released)).toBe(true);
    expect(out.c.released).toBe(false);
    expect(Array.from(await out.list[0]!.value.data())).toEqual([-2, -1, 0, 1, 2, 3].map((v) => 0.5 * (3 * v) ** 2));
    expect(x.released).toBe(false); // made outside: not the scope's
    out.c.release();
    out.list[0]!.release();
    expect(await liveTensors()).toBe(before);
    x.release();
  });

  it("an explicit release() inside counts as the creator's (a keep() holder still holds)", async () => {
    const x = new Variable(vec(4, (i) => i));
    const before = await liveTensors();
    let kept: Variable | null = null;
    tidy(() => {
      const a = F.scale(x, 3);
      a.release(); // early, by its creator
      const b = F.scale(x, 5);
      kept = b.keep(); // a second holder outlives the scope
    });
    expect(kept!.released).toBe(false);
    expect(Array.from(await kept!.value.data())).toEqual([0, 5, 10, 15]);
    kept!.release();
    expect(kept!.released).toBe(true);
    expect(await liveTensors()).toBe(before);
    x.release();
  });

  it("in training the backward still reads what the scope gave up, and frees it after", async () => {
    const w = leaf(vec(5, (i) => 0.1 * i + 0.3));
    const x = new Variable(vec(5, (i) => i - 1));
    const before = await liveTensors();
    const tape = new Tape();
    const loss = tape.run(() => tidy(() => F.sum(F.mul(F.mul(x, w), F.mul(x, w)))));
    tape.backward(loss);
    loss.release();
    // d/dw Σ (x w)² = 2 x² w
    const g = await w.grad!.data();
    const xs = [-1, 0, 1, 2, 3];
    xs.forEach((xi, i) => expect(g[i]).toBeCloseTo(2 * xi * xi * (0.1 * i + 0.3), 5));
    w.grad!.dispose();
    w.grad = null;
    expect(await liveTensors()).toBe(before);
    w.release();
    x.release();
  });

  it("a throw frees every Variable and Tensor the work made", async () => {
    const x = new Variable(vec(8, (i) => i));
    const before = await liveTensors();
    expect(() =>
      tidy(() => {
        const a = F.scale(x, 2);
        tidy(() => F.add(a, a)); // an inner result, now the outer scope's
        Tensor.from([1, 2, 3], [3]); // a raw tensor
        throw new Error("midway");
      }),
    ).toThrow("midway");
    expect(await liveTensors()).toBe(before);
    x.release();
  });

  it("rejects an async function", () => {
    expect(() => tidy((async () => 1) as never)).toThrow(/synchronous/);
  });

  it("tidySteps: active only during its own slices; returned Variables survive", async () => {
    const x = new Variable(vec(3, (i) => i + 1));
    const before = await liveTensors();
    let outside: Variable | null = null;
    function* work(): Generator<void, Variable, void> {
      const a = F.scale(x, 2);
      yield;
      const b = F.add(a, x);
      yield;
      return F.scale(b, 10);
    }
    const prev = eventLoopSlice();
    eventLoopSlice(0); // a pause at every yield
    let r: Variable;
    try {
      const p = runSliced(tidySteps(work()), undefined);
      outside = F.scale(x, 7); // made between slices: not tracked by the work's scope
      r = await p;
    } finally {
      eventLoopSlice(prev);
    }
    expect(outside.released).toBe(false);
    expect(Array.from(await r.value.data())).toEqual([30, 60, 90]);
    r.release();
    outside.release();
    expect(await liveTensors()).toBe(before);
    const sync = runAll(tidySteps(work()));
    sync.release();
    expect(await liveTensors()).toBe(before);
    x.release();
  });
});
