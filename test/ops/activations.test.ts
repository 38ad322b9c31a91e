/**
 * swiglu / gelu_tanh / gelu_erf / tanh and their backwards against float64 references (incl. large |x|, where the
 * exp-based kernels saturate) and finite differences.
 */
import { describe, expect, it } from "vitest";
import { geluErf, geluErfBackward, geluTanh, geluTanhBackward, swiglu, swigluBackward, tanh, tanhBackward } from "../../dist/ops/index.js";
import { erf } from "../reference/erf.js";
import { announceSeed } from "../helpers.js";
import { close, fdCheck, randn, rngFor, rounded, SEED, T, throwsWith, tolFor, vals, type DType } from "./util.js";

announceSeed("ops.activations", SEED);

const sig = (x: number) => 1 / (1 + Math.exp(-x));
const C = Math.sqrt(2 / Math.PI), A = 0.044715;
const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(C * (x + A * x ** 3)));
const dgelu = (x: number) => {
  const t = Math.tanh(C * (x + A * x ** 3));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * C * (1 + 3 * A * x * x);
};

/** Normals with a few large-magnitude entries mixed in. */
function inputs(rng: ReturnType<typeof rngFor>, n: number): Float32Array {
  const x = randn(rng, n, 2);
  for (let i = 0; i < n; i += 17) x[i] = (i % 2 ? 1 : -1) * (20 + rng.uniform() * 80);
  return x;
}

describe("swiglu", () => {
  for (const dtype of ["f32", "bf16", "f16"] as DType[]) {
    it(`forward and backward vs reference (${dtype}, [37, 53])`, async () => {
      const rng = rngFor(`swiglu ${dtype}`);
      const shape = [37, 53], n = 37 * 53;
      const g = rounded(inputs(rng, n), dtype), u = rounded(randn(rng, n), dtype), dy = rounded(randn(rng, n), dtype);
      const tg = T(g, shape, dtype), tu = T(u, shape, dtype);
      const y = swiglu(tg, tu);
      expect(y.dtype).toBe(dtype);
      close(await vals(y), Array.from(g, (v, i) => v * sig(v) * u[i]!), tolFor(dtype), "y");
      const { dgate, dup } = swigluBackward(T(dy, shape, dtype), tg, tu);
      const wantDg = Array.from(g, (v, i) => dy[i]! * u[i]! * sig(v) * (1 + v * (1 - sig(v))));
      const wantDu = Array.from(g, (v, i) => dy[i]! * v * sig(v));
      close(await vals(dgate), wantDg, tolFor(dtype), "dgate");
      close(await vals(dup), wantDu, tolFor(dtype), "dup");
    });
  }

  it("mixed dtypes: bf16 gate with f32 up; f32 dy with f16 gate and bf16 up", async () => {
    const rng = rngFor("swiglu mixed");
    const shape = [11, 13], n = 11 * 13;
    const g = rounded(inputs(rng, n), "bf16"), u = randn(rng, n), dy = randn(rng, n);
    const y = swiglu(T(g, shape, "bf16"), T(u, shape));
    expect(y.dtype).toBe("bf16");
    close(await vals(y), Array.from(g, (v, i) => v * sig(v) * u[i]!), tolFor("bf16"), "y");
    const g16 = rounded(inputs(rng, n), "f16"), u16 = rounded(randn(rng, n), "bf16");
    const { dgate, dup } = swigluBackward(T(dy, shape), T(g16, shape, "f16"), T(u16, shape, "bf16"));
    expect(dgate.dtype).toBe("f32");
    close(await vals(dgate), Array.from(g16, (v, i) => dy[i]! * u16[i]! * sig(v) * (1 + v * (1 - sig(v)))), 1e-5, "dgate");
    close(await vals(dup), Array.from(g16, (v, i) => dy[i]! * v * sig(v)), 1e-5, "dup");
  });

  it("backward vs finite differences", async () => {
    const rng = rngFor("swiglu fd");
    const shape = [11, 13], n = 143;
    const g = randn(rng, n), u = randn(rng, n), r = randn(rng, n);
    const tg = T(g, shape), tu = T(u, shape);
    const { dgate, dup } = swigluBackward(T(r, shape), tg, tu);
    await fdCheck({ what: "dgate", rng, x: g, r, grad: await vals(dgate), forward: (v) => swiglu(T(v, shape), tu).data() });
    await fdCheck({ what: "dup", rng, x: u, r, grad: await vals(dup), forward: (v) => swiglu(tg, T(v, shape)).data() });
  });

  it("errors", () => {
    throwsWith(() => swiglu(T([1, 2], [2]), T([1, 2, 3], [3])), "ERR_SHAPE", "swiglu: up: expected the shape of gate [2], got [3]");
  });
});

describe("gelu_tanh", () => {
  for (const dtype of ["f32", "bf16", "f16"] as DType[]) {
    it(`forward and backward vs reference (${dtype}, 3x37x53 + a tail)`, async () => {
      const rng = rngFor(`gelu ${dtype}`);
      const shape = [3, 37, 53], n = 3 * 37 * 53;
      const x = rounded(inputs(rng, n), dtype), dy = rounded(randn(rng, n), dtype);
      const tx = T(x, shape, dtype);
      close(await vals(geluTanh(tx)), Array.from(x, gelu), tolFor(dtype), "y");
      const dx = geluTanhBackward(T(dy, shape, dtype), tx);
      close(await vals(dx), Array.from(x, (v, i) => dy[i]! * dgelu(v)), tolFor(dtype), "dx");
    });
  }

  it("is accurate elementwise near 0 and for large |x|", async () => {
    const x = Float32Array.from([0, 1e-6, -1e-6, 1e-3, -0.5, 3, -3, 10, -10, 40, -40, 1e30, -1e30]);
    const got = await vals(geluTanh(T(x, [x.length])));
    for (let i = 0; i < x.length; i++) {
      const want = gelu(x[i]!);
      expect(Math.abs(got[i]! - want), `gelu(${x[i]})`).toBeLessThanOrEqual(1e-6 * Math.abs(want) + 1e-30);
    }
  });

  it("backward vs finite differences", async () => {
    const rng = rngFor("gelu fd");
    const x = randn(rng, 200, 1.5), r = randn(rng, 200);
    const dx = geluTanhBackward(T(r, [200]), T(x, [200]));
    await fdCheck({ what: "dx", rng, x, r, grad: await vals(dx), forward: (v) => geluTanh(T(v, [200])).data() });
  });
});

const geluE = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));
const dgeluE = (x: number) => 0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);

describe("gelu_erf and tanh", () => {
  for (const dtype of ["f32", "bf16", "f16"] as DType[]) {
    it(`forward and backward vs reference (${dtype}, 3x37x53)`, async () => {
      const rng = rngFor(`gelu_erf ${dtype}`);
      const shape = [3, 37, 53], n = 3 * 37 * 53;
      const x = rounded(inputs(rng, n), dtype), dy = rounded(randn(rng, n), dtype);
      const tx = T(x, shape, dtype);
      close(await vals(geluErf(tx)), Array.from(x, geluE), tolFor(dtype), "gelu_erf y");
      close(await vals(geluErfBackward(T(dy, shape, dtype), tx)), Array.from(x, (v, i) => dy[i]! * dgeluE(v)), tolFor(dtype), "gelu_erf dx");
      const y = rounded(Float32Array.from(x, Math.tanh), dtype);
      close(await vals(tanh(tx)), Array.from(x, Math.tanh), tolFor(dtype), "tanh y");
      close(await vals(tanhBackward(T(dy, shape, dtype), T(y, shape, dtype))), Array.from(y, (v, i) => dy[i]! * (1 - v * v)), tolFor(dtype), "tanh dx");
    });
  }

  it("backwards vs finite differences", async () => {
    const rng = rngFor("gelu_erf fd");
    const x = randn(rng, 201, 1.5), r = randn(rng, 201);
    const dx = geluErfBackward(T(r, [201]), T(x, [201]));
    await fdCheck({ what: "gelu_erf dx", rng, x, r, grad: await vals(dx), forward: (v) => geluErf(T(v, [201])).data() });
    const y = await vals(tanh(T(x, [201])));
    const dt = tanhBackward(T(r, [201]), T(Float32Array.from(y), [201]));
    await fdCheck({ what: "tanh dx", rng, x, r, grad: await vals(dt), forward: (v) => tanh(T(v, [201])).data() });
  });

  it("errors", () => {
    throwsWith(() => geluErfBackward(T([1, 2], [2]), T([1, 2, 3], [3])), "ERR_SHAPE", "geluErfBackward: x: expected the shape of dy [2], got [3]");
    throwsWith(() => tanhBackward(T([1, 2], [2]), T([1], [1])), "ERR_SHAPE", "tanhBackward: y: expected the shape of dy [2], got [1]");
  });
});
