/**
 * rmsnorm / layernorm and their backwards against float64 references, half-type inputs within
 * their precision, every backward against finite differences of the native forward.
 */
import { describe, expect, it } from "vitest";
import { layernorm, layernormBackward, rmsnorm, rmsnormBackward } from "../../dist/ops/index.js";
import { announceSeed } from "../helpers.js";
import { close, fdCheck, randn, rngFor, rounded, SEED, T, throwsWith, tolFor, vals, type DType } from "./util.js";

announceSeed("ops.norms", SEED);

function rmsRef(x: ArrayLike<number>, w: ArrayLike<number>, d: number, eps: number) {
  const rows = x.length / d;
  const y = new Float64Array(x.length), rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let j = 0; j < d; j++) ss += x[r * d + j]! ** 2;
    const s = 1 / Math.sqrt(ss / d + eps);
    rstd[r] = s;
    for (let j = 0; j < d; j++) y[r * d + j] = x[r * d + j]! * s * w[j]!;
  }
  return { y, rstd };
}

function rmsBwdRef(dy: ArrayLike<number>, x: ArrayLike<number>, w: ArrayLike<number>, d: number, eps: number) {
  const rows = x.length / d;
  const dx = new Float64Array(x.length), dw = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    let ss = 0, c = 0;
    for (let j = 0; j < d; j++) ss += x[r * d + j]! ** 2;
    const s = 1 / Math.sqrt(ss / d + eps);
    for (let j = 0; j < d; j++) c += dy[r * d + j]! * w[j]! * x[r * d + j]!;
    for (let j = 0; j < d; j++) {
      const k = r * d + j;
      dx[k] = s * w[j]! * dy[k]! - (s ** 3 * x[k]! * c) / d;
      dw[j]! += dy[k]! * x[k]! * s;
    }
  }
  return { dx, dw };
}

function lnRef(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null, d: number, eps: number) {
  const rows = x.length / d;
  const y = new Float64Array(x.length), mean = new Float64Array(rows), rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let j = 0; j < d; j++) m += x[r * d + j]!;
    m /= d;
    let v = 0;
    for (let j = 0; j < d; j++) v += (x[r * d + j]! - m) ** 2;
    const s = 1 / Math.sqrt(v / d + eps);
    mean[r] = m;
    rstd[r] = s;
    for (let j = 0; j < d; j++) y[r * d + j] = (x[r * d + j]! - m) * s * w[j]! + (b ? b[j]! : 0);
  }
  return { y, mean, rstd };
}

function lnBwdRef(dy: ArrayLike<number>, x: ArrayLike<number>, w: ArrayLike<number>, d: number, eps: number) {
  const rows = x.length / d;
  const { mean, rstd } = lnRef(x, w, null, d, eps);
  const dx = new Float64Array(x.length), dw = new Float64Array(d), db = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    let mg = 0, mgx = 0;
    for (let j = 0; j < d; j++) {
      const k = r * d + j, xh = (x[k]! - mean[r]!) * rstd[r]!, g = dy[k]! * w[j]!;
      mg += g;
      mgx += g * xh;
    }
    mg /= d;
    mgx /= d;
    for (let j = 0; j < d; j++) {
      const k = r * d + j, xh = (x[k]! - mean[r]!) * rstd[r]!;
      dx[k] = rstd[r]! * (dy[k]! * w[j]! - mg - xh * mgx);
      dw[j]! += dy[k]! * xh;
      db[j]! += dy[k]!;
    }
  }
  return { dx, dw, db };
}

describe("rmsnorm", () => {
  for (const dtype of ["f32", "bf16", "f16"] as DType[]) {
    it(`forward and backward vs reference (${dtype}, [3, 37, 53], eps 1e-5)`, async () => {
      const rng = rngFor(`rms ${dtype}`);
      const shape = [3, 37, 53], d = 53, n = 3 * 37 * 53, eps = 1e-5;
      const x = rounded(randn(rng, n, 2), dtype), w = rounded(randn(rng, d), dtype), dy = rounded(randn(rng, n), dtype);
      const tx = T(x, shape, dtype), tw = T(w, [d], dtype), tdy = T(dy, shape, dtype);
      const { y, rstd } = rmsnorm(tx, tw, eps);
      expect(y.dtype).toBe(dtype);
      expect(rstd.shape).toEqual([3, 37]);
      expect(rstd.dtype).toBe("f32");
      const want = rmsRef(x, w, d, eps);
      close(await vals(y), want.y, tolFor(dtype), "y");
      close(await vals(rstd), want.rstd, 1e-6, "rstd");
      const { dx, dw } = rmsnormBackward(tdy, tx, tw, rstd);
      const g = rmsBwdRef(dy, x, w, d, eps);
      close(await vals(dx), g.dx, tolFor(dtype), "dx");
      close(await vals(dw), g.dw, 1e-5, "dw");
      expect(dw.dtype).toBe("f32");
    });
  }

  it("many rows (threaded chunks, deterministic dw) and a long row", async () => {
    const rng = rngFor("rms big");
    for (const [rows, d] of [[2000, 64], [3, 5000]] as const) {
      const x = randn(rng, rows * d), w = randn(rng, d), dy = randn(rng, rows * d);
      const tx = T(x, [rows, d]), tw = T(w, [d]), tdy = T(dy, [rows, d]);
      const { y, rstd } = rmsnorm(tx, tw, 1e-6);
      close(await vals(y), rmsRef(x, w, d, 1e-6).y, 1e-5, `y ${rows}x${d}`);
      const b1 = rmsnormBackward(tdy, tx, tw, rstd);
      const b2 = rmsnormBackward(tdy, tx, tw, rstd);
      const g = rmsBwdRef(dy, x, w, d, 1e-6);
      close(await vals(b1.dx), g.dx, 1e-5, "dx");
      close(await vals(b1.dw), g.dw, 1e-5, "dw");
      expect(Array.from(await vals(b2.dw))).toEqual(Array.from(await vals(b1.dw)));
    }
  });

  it("backward vs finite differences (x and w)", async () => {
    const rng = rngFor("rms fd");
    const shape = [7, 19], d = 19, n = 7 * 19, eps = 1e-5;
    const x = randn(rng, n), w = randn(rng, d), r = randn(rng, n);
    const tw = T(w, [d]), tx = T(x, shape);
    const { rstd } = rmsnorm(tx, tw, eps);
    const { dx, dw } = rmsnormBackward(T(r, shape), tx, tw, rstd);
    await fdCheck({ what: "dx", rng, x, r, grad: await vals(dx), forward: (v) => rmsnorm(T(v, shape), tw, eps).y.data() });
    await fdCheck({ what: "dw", rng, x: w, r, grad: await vals(dw), forward: (v) => rmsnorm(tx, T(v, [d]), eps).y.data() });
  });

  it("errors name the argument", () => {
    const x = T(new Float32Array(64 * 2), [2, 64]);
    throwsWith(() => rmsnorm(x, T(new Float32Array(32), [32])), "ERR_SHAPE", "rmsnorm: w: expected shape [64] (the last dim of x), got [32]");
    throwsWith(() => rmsnorm(x, T(new Float32Array(64), [64]), -1), "ERR_ARG", "rmsnorm: eps: expected a finite number > 0");
    const { rstd } = rmsnorm(x, T(new Float32Array(64), [64]));
    throwsWith(() => rmsnormBackward(T(new Float32Array(64), [1, 64]), x, T(new Float32Array(64), [64]), rstd), "ERR_SHAPE", "rmsnormBackward: dy: expected the shape of x [2, 64]");
    throwsWith(() => rmsnormBackward(x, x, T(new Float32Array(64), [64]), T([1, 2, 3], [3])), "ERR_SHAPE", "rmsnormBackward: rstd: expected shape [2] (one value per row of x), got [3]");
  });
});

describe("norms with mixed dtypes and long rows", () => {
  // Each input is read in its own dtype (the CUDA kernels take another code path for these);
  // outputs follow x (forward) and dy (backward).
  it("rmsnorm: bf16 x with f32 w; f32 dy with bf16 x and f16 w", async () => {
    const rng = rngFor("rms mixed");
    const shape = [9, 41], d = 41, n = 9 * 41, eps = 1e-5;
    const x = rounded(randn(rng, n, 2), "bf16"), w = randn(rng, d), dy = randn(rng, n), w16 = rounded(randn(rng, d), "f16");
    const { y, rstd } = rmsnorm(T(x, shape, "bf16"), T(w, [d]), eps);
    expect(y.dtype).toBe("bf16");
    close(await vals(y), rmsRef(x, w, d, eps).y, tolFor("bf16"), "y");
    const { rstd: r16 } = rmsnorm(T(x, shape, "bf16"), T(w16, [d], "f16"), eps);
    const g = rmsnormBackward(T(dy, shape), T(x, shape, "bf16"), T(w16, [d], "f16"), r16);
    expect(g.dx.dtype).toBe("f32");
    const want = rmsBwdRef(dy, x, w16, d, eps);
    close(await vals(g.dx), want.dx, 1e-5, "dx");
    close(await vals(g.dw), want.dw, 1e-5, "dw");
    rstd.dispose();
  });

  it("layernorm: f16 x with f32 w and bf16 b; backward with f32 dy", async () => {
    const rng = rngFor("ln mixed");
    const shape = [7, 29], d = 29, n = 7 * 29, eps = 1e-5;
    const x = rounded(randn(rng, n, 2), "f16"), w = randn(rng, d), b = rounded(randn(rng, d), "bf16"), dy = randn(rng, n);
    const out = layernorm(T(x, shape, "f16"), T(w, [d]), T(b, [d], "bf16"), eps);
    expect(out.y.dtype).toBe("f16");
    close(await vals(out.y), lnRef(x, w, b, d, eps).y, tolFor("f16"), "y");
    const g = layernormBackward(T(dy, shape), T(x, shape, "f16"), T(w, [d]), out.mean, out.rstd);
    const want = lnBwdRef(dy, x, w, d, eps);
    close(await vals(g.dx), want.dx, 1e-5, "dx");
    close(await vals(g.dw), want.dw, 1e-5, "dw");
    close(await vals(g.db), want.db, 1e-5, "db");
  });

  it("long rows: rmsnorm d = 9000 and layernorm d = 5000, backward deterministic", async () => {
    const rng = rngFor("norm long rows");
    for (const [rows, d] of [[16, 9000], [64, 5000]] as const) {
      const n = rows * d, eps = 1e-5;
      const x = randn(rng, n), w = randn(rng, d), b = randn(rng, d), dy = randn(rng, n);
      const tx = T(x, [rows, d]), tw = T(w, [d]), tdy = T(dy, [rows, d]);
      const rms = rmsnorm(tx, tw, eps);
      close(await vals(rms.y), rmsRef(x, w, d, eps).y, 1e-5, `rms y ${rows}x${d}`);
      const g1 = rmsnormBackward(tdy, tx, tw, rms.rstd), g2 = rmsnormBackward(tdy, tx, tw, rms.rstd);
      const wr = rmsBwdRef(dy, x, w, d, eps);
      close(await vals(g1.dx), wr.dx, 1e-5, `rms dx ${rows}x${d}`);
      close(await vals(g1.dw), wr.dw, 1e-5, `rms dw ${rows}x${d}`);
      expect(Array.from(await vals(g2.dw)), "rms dw is bitwise repeatable").toEqual(Array.from(await vals(g1.dw)));
      const ln = layernorm(tx, tw, T(b, [d]), eps);
      close(await vals(ln.y), lnRef(x, w, b, d, eps).y, 1e-5, `ln y ${rows}x${d}`);
      const h1 = layernormBackward(tdy, tx, tw, ln.mean, ln.rstd), h2 = layernormBackward(tdy, tx, tw, ln.mean, ln.rstd);
      const wl = lnBwdRef(dy, x, w, d, eps);
      close(await vals(h1.dx), wl.dx, 1e-5, `ln dx ${rows}x${d}`);
      close(await vals(h1.dw), wl.dw, 1e-5, `ln dw ${rows}x${d}`);
      close(await vals(h1.db), wl.db, 1e-5, `ln db ${rows}x${d}`);
      expect(Array.from(await vals(h2.dw)), "ln dw is bitwise repeatable").toEqual(Array.from(await vals(h1.dw)));
      expect(Array.from(await vals(h2.db)), "ln db is bitwise repeatable").toEqual(Array.from(await vals(h1.db)));
    }
  });
});

describe("layernorm", () => {
  for (const dtype of ["f32", "bf16"] as DType[]) {
    for (const bias of [true, false]) {
      it(`forward and backward vs reference (${dtype}, bias ${bias}, [37, 53])`, async () => {
        const rng = rngFor(`ln ${dtype} ${bias}`);
        const shape = [37, 53], d = 53, n = 37 * 53, eps = 1e-5;
        // an offset mean checks the two-pass variance
        const x = rounded(randn(rng, n, 3).map((v) => v + 5), dtype), w = rounded(randn(rng, d), dtype);
        const b = bias ? rounded(randn(rng, d), dtype) : null, dy = rounded(randn(rng, n), dtype);
        const tx = T(x, shape, dtype), tw = T(w, [d], dtype), tb = b ? T(b, [d], dtype) : null;
        const out = layernorm(tx, tw, tb, eps);
        const want = lnRef(x, w, b, d, eps);
        close(await vals(out.y), want.y, tolFor(dtype), "y");
        close(await vals(out.mean), want.mean, 1e-6, "mean");
        close(await vals(out.rstd), want.rstd, 1e-5, "rstd");
        expect(out.mean.shape).toEqual([37]);
        const g = layernormBackward(T(dy, shape, dtype), tx, tw, out.mean, out.rstd);
        const gw = lnBwdRef(dy, x, w, d, eps);
        close(await vals(g.dx), gw.dx, dtype === "f32" ? 1e-5 : 2e-2, "dx");
        close(await vals(g.dw), gw.dw, 1e-5, "dw");
        close(await vals(g.db), gw.db, 1e-5, "db");
      });
    }
  }

  it("backward vs finite differences (x, w, b)", async () => {
    const rng = rngFor("ln fd");
    const shape = [5, 23], d = 23, n = 5 * 23, eps = 1e-5;
    const x = randn(rng, n), w = randn(rng, d), b = randn(rng, d), r = randn(rng, n);
    const tx = T(x, shape), tw = T(w, [d]), tb = T(b, [d]);
    const f = layernorm(tx, tw, tb, eps);
    const g = layernormBackward(T(r, shape), tx, tw, f.mean, f.rstd);
    await fdCheck({ what: "dx", rng, x, r, grad: await vals(g.dx), forward: (v) => layernorm(T(v, shape), tw, tb, eps).y.data() });
    await fdCheck({ what: "dw", rng, x: w, r, grad: await vals(g.dw), forward: (v) => layernorm(tx, T(v, [d]), tb, eps).y.data() });
    await fdCheck({ what: "db", rng, x: b, r, grad: await vals(g.db), forward: (v) => layernorm(tx, tw, T(v, [d]), eps).y.data() });
  });

  it("errors name the argument", () => {
    const x = T(new Float32Array(8), [2, 4]);
    throwsWith(() => layernorm(x, T(new Float32Array(4), [4]), T(new Float32Array(3), [3])), "ERR_SHAPE", "layernorm: b: expected shape [4] (the last dim of x), got [3]");
    throwsWith(() => layernorm(T([], [2, 0]), T([], [0]), null), "ERR_SHAPE", "layernorm: x: expected a non-empty last dim");
  });
});
