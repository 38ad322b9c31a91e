/**
 * Bad inputs (issue 3, item 4): each throws synchronously a CtxwinError with the right `code`
 * and a message `<function>: <argument>: expected <what>, got <actual>` — asserted with regexes
 * on the argument name, the word "expected" and the actual value, not on the full text.
 * None of them may crash the process: this file finishing proves it.
 */
import { describe, expect, it } from "vitest";
import { attention, attentionBackward, backendInfo, CtxwinError, synchronize, Tensor } from "ctxwin";

type Code = "ERR_ARG" | "ERR_SHAPE" | "ERR_DTYPE" | "ERR_DEVICE" | "ERR_DISPOSED";

/** Asserts fn() throws synchronously a CtxwinError with one of `codes` whose message matches every regex. */
function expectError(fn: () => unknown, codes: Code | Code[], ...patterns: RegExp[]): CtxwinError {
  let thrown: unknown = undefined;
  let threw = false;
  try {
    const r = fn();
    if (r instanceof Promise) r.catch(() => {}); // not expected; keeps an unhandled rejection out of the report
  } catch (e) {
    thrown = e;
    threw = true;
  }
  expect(threw, "expected a synchronous throw").toBe(true);
  expect(thrown).toBeInstanceOf(CtxwinError);
  expect(thrown).toBeInstanceOf(Error);
  const e = thrown as CtxwinError;
  const list = Array.isArray(codes) ? codes : [codes];
  expect(list, `code ${e.code} (message: ${e.message})`).toContain(e.code);
  expect(e.message).toMatch(/expected/);
  for (const p of patterns) expect(e.message).toMatch(p);
  return e;
}

/** Like expectError for functions that may throw or return a rejected promise (async methods). */
async function expectRejectOrThrow(fn: () => unknown, code: Code, ...patterns: RegExp[]): Promise<void> {
  let err: unknown = undefined;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  expect(err, "expected an error").toBeInstanceOf(CtxwinError);
  const e = err as CtxwinError;
  expect(e.code, e.message).toBe(code);
  expect(e.message).toMatch(/expected/);
  for (const p of patterns) expect(e.message).toMatch(p);
}

const zeros = (shape: number[], dtype: "f32" | "bf16" | "f16" = "f32"): Tensor =>
  Tensor.from(new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i)), shape, { dtype });

// a valid call: q [1, 4, 2, 8], k/v [1, 4, 2, 8]
const q = zeros([1, 4, 2, 8]);
const k = zeros([1, 4, 2, 8]);
const v = zeros([1, 4, 2, 8]);
const dOut = zeros([1, 4, 2, 8]);

const A = /^attention: /;
const AB = /^attentionBackward: /;

describe("shapes", () => {
  it("a valid call works (baseline)", async () => {
    const out = attention(q, k, v, { positional: { type: "rope" } });
    expect((await out.data()).length).toBe(64);
    out.dispose();
  });

  it("q of the wrong rank", () => {
    const bad = zeros([2, 3]);
    expectError(() => attention(bad, k, v), "ERR_SHAPE", A, /\bq\b/, /\[2,\s*3\]/);
    expectError(() => attentionBackward(bad, k, v, dOut), "ERR_SHAPE", AB, /\bq\b/, /\[2,\s*3\]/);
    bad.dispose();
  });

  it("k or v of the wrong rank", () => {
    const k3 = zeros([1, 4, 16]);
    expectError(() => attention(q, k3, v), "ERR_SHAPE", /\bk\b/, /\[1,\s*4,\s*16\]/);
    const v5 = zeros([1, 4, 2, 8, 1]);
    expectError(() => attention(q, k, v5), "ERR_SHAPE", /\bv\b/, /\[1,\s*4,\s*2,\s*8,\s*1\]/);
    k3.dispose();
    v5.dispose();
  });

  it("batch mismatch between q and k/v", () => {
    const k2 = zeros([2, 4, 2, 8]);
    const v2 = zeros([2, 4, 2, 8]);
    expectError(() => attention(q, k2, v2), "ERR_SHAPE", /\bk\b/, /batch|B\b/i, /got.*2/);
    k2.dispose();
    v2.dispose();
  });

  it("head dim mismatch between q and k/v", () => {
    const k4 = zeros([1, 4, 2, 4]);
    const v4 = zeros([1, 4, 2, 4]);
    expectError(() => attention(q, k4, v4), "ERR_SHAPE", /\bk\b/, /dim|D\b/i, /got.*4/);
    k4.dispose();
    v4.dispose();
  });

  it("Hq not a multiple of Hkv", () => {
    const q3 = zeros([1, 4, 3, 8]);
    expectError(() => attention(q3, k, v), "ERR_SHAPE", /\bk\b|Hkv|heads?/, /got.*2/);
    const q4 = zeros([1, 4, 4, 8]);
    const k3 = zeros([1, 4, 3, 8]);
    expectError(() => attention(q4, k3, k3), "ERR_SHAPE", /\bk\b|Hkv|heads?/, /got.*3/);
    for (const t of [q3, q4, k3]) t.dispose();
  });

  it("k and v shapes differ", () => {
    const v5 = zeros([1, 5, 2, 8]);
    expectError(() => attention(q, k, v5), "ERR_SHAPE", /\bv\b/, /\[1,\s*5,\s*2,\s*8\]/);
    const v1 = zeros([1, 4, 1, 8]);
    expectError(() => attention(q, k, v1), "ERR_SHAPE", /\bv\b/, /\[1,\s*4,\s*1,\s*8\]/);
    v5.dispose();
    v1.dispose();
  });

  it("dOut shape different from q", () => {
    const d = zeros([1, 4, 2, 4]);
    expectError(() => attentionBackward(q, k, v, d), "ERR_SHAPE", AB, /dOut/, /\[1,\s*4,\s*2,\s*4\]/);
    const d3 = zeros([1, 4, 16]);
    expectError(() => attentionBackward(q, k, v, d3), "ERR_SHAPE", AB, /dOut/, /\[1,\s*4,\s*16\]/);
    d.dispose();
    d3.dispose();
  });
});

describe("positional options", () => {
  it("unknown positional type", () => {
    expectError(() => attention(q, k, v, { positional: { type: "xpos" } as never }), "ERR_ARG", /positional/, /xpos/);
    expectError(() => attention(q, k, v, { positional: {} as never }), "ERR_ARG", /positional/);
  });

  it("unknown scaling type", () => {
    expectError(() => attention(q, k, v, { positional: { type: "rope", scaling: { type: "longrope", factor: 2 } as never } }), "ERR_ARG", /scaling/, /longrope/);
  });

  it("yarn and dynamic without originalMaxPositions", () => {
    for (const type of ["yarn", "dynamic"] as const) {
      expectError(() => attention(q, k, v, { positional: { type: "rope", scaling: { type, factor: 4 } as never } }), "ERR_ARG", /originalMaxPositions/);
      expectError(
        () => attention(q, k, v, { positional: { type: "rope", scaling: { type, factor: 4, originalMaxPositions: -3 } as never } }),
        "ERR_ARG",
        /originalMaxPositions/,
        /-3/,
      );
    }
  });

  it("non-positive or non-finite scaling factor", () => {
    for (const type of ["linear", "ntk", "dynamic", "yarn"] as const) {
      for (const [bad, re] of [
        [-1, /-1/],
        [0, /got 0/],
        [NaN, /NaN/],
        [Infinity, /Infinity/],
      ] as const) {
        expectError(
          () =>
            attention(q, k, v, {
              positional: { type: "rope", scaling: (type === "linear" || type === "ntk" ? { type, factor: bad } : { type, factor: bad, originalMaxPositions: 16 }) as never },
            }),
          "ERR_ARG",
          /scaling\.factor|factor/,
          re,
        );
      }
    }
  });

  it("non-positive or non-finite theta", () => {
    for (const [bad, re] of [
      [0, /got 0/],
      [-10, /-10/],
      [NaN, /NaN/],
      [Infinity, /Infinity/],
    ] as const) {
      expectError(() => attention(q, k, v, { positional: { type: "rope", theta: bad } }), "ERR_ARG", /theta/, re);
    }
  });

  it("non-positive or non-finite softmaxScale", () => {
    for (const [bad, re] of [
      [0, /got 0/],
      [-0.5, /-0\.5/],
      [NaN, /NaN/],
      [-Infinity, /-Infinity/],
    ] as const) {
      expectError(() => attention(q, k, v, { softmaxScale: bad }), "ERR_ARG", /softmaxScale/, re);
      expectError(() => attentionBackward(q, k, v, dOut, { softmaxScale: bad }), "ERR_ARG", AB, /softmaxScale/, re);
    }
  });

  it("ALiBi slopes array of the wrong length", () => {
    expectError(() => attention(q, k, v, { positional: { type: "alibi", slopes: [0.5, 0.25, 0.125] } }), "ERR_ARG", /slopes/, /\b2\b/, /\b3\b/);
    expectError(() => attention(q, k, v, { positional: { type: "alibi", slopes: [] } }), "ERR_ARG", /slopes/, /\b0\b/);
  });

  it("ALiBi slopes that are not finite numbers, trainLength not positive", () => {
    expectError(() => attention(q, k, v, { positional: { type: "alibi", slopes: [0.5, NaN] } }), "ERR_ARG", /slopes/);
    expectError(() => attention(q, k, v, { positional: { type: "alibi", trainLength: 0 } }), "ERR_ARG", /trainLength/, /got 0/);
    expectError(() => attention(q, k, v, { positional: { type: "alibi", trainLength: -4 } }), "ERR_ARG", /trainLength/, /-4/);
  });

  it("rotaryDim odd, > D, or not positive", () => {
    expectError(() => attention(q, k, v, { positional: { type: "rope", rotaryDim: 7 } }), "ERR_ARG", /rotaryDim/, /\b7\b/);
    expectError(() => attention(q, k, v, { positional: { type: "rope", rotaryDim: 16 } }), "ERR_ARG", /rotaryDim/, /\b16\b/);
    expectError(() => attention(q, k, v, { positional: { type: "rope", rotaryDim: 0 } }), "ERR_ARG", /rotaryDim/, /got 0/);
    expectError(() => attention(q, k, v, { positional: { type: "rope", rotaryDim: -2 } }), "ERR_ARG", /rotaryDim/, /-2/);
  });

  it("yarn optional fields not finite positive", () => {
    for (const key of ["betaFast", "betaSlow", "attentionFactor"] as const) {
      expectError(
        () => attention(q, k, v, { positional: { type: "rope", scaling: { type: "yarn", factor: 4, originalMaxPositions: 16, [key]: -1 } as never } }),
        "ERR_ARG",
        new RegExp(key),
        /-1/,
      );
    }
  });
});

describe("window, queryOffset, prefixKeys, masking", () => {
  it("window < 1 or not an integer", () => {
    for (const [bad, re] of [
      [0, /got 0/],
      [-3, /-3/],
      [2.5, /2\.5/],
      [NaN, /NaN/],
    ] as const) {
      expectError(() => attention(q, k, v, { window: bad }), "ERR_ARG", /window/, re);
    }
  });

  it("queryOffset negative or not an integer", () => {
    expectError(() => attention(q, k, v, { queryOffset: -1 }), "ERR_ARG", /queryOffset/, /-1/);
    expectError(() => attention(q, k, v, { queryOffset: 1.5 }), "ERR_ARG", /queryOffset/, /1\.5/);
    expectError(() => attentionBackward(q, k, v, dOut, { queryOffset: -2 }), "ERR_ARG", AB, /queryOffset/, /-2/);
  });

  it("prefixKeys negative or beyond Tk", () => {
    expectError(() => attention(q, k, v, { prefixKeys: -1 }), "ERR_ARG", /prefixKeys/, /-1/);
    expectError(() => attention(q, k, v, { prefixKeys: 5 }), "ERR_ARG", /prefixKeys/, /\b5\b/);
  });

  it("a fully masked query row is an error, not NaN", () => {
    // causal, window 2, queries at positions 20..23 but keys only 0..3
    expectError(() => attention(q, k, v, { window: 2, queryOffset: 20 }), "ERR_ARG", /row|window/i);
    // bidirectional with a window
    expectError(() => attention(q, k, v, { causal: false, window: 3, queryOffset: 10 }), "ERR_ARG", /row|window/i);
    // the backward checks the same
    expectError(() => attentionBackward(q, k, v, dOut, { window: 1, queryOffset: 9 }), "ERR_ARG", AB, /row|window/i);
  });

  it("a masked row in the middle of a chunk (only some rows see no key) is caught too", () => {
    // window 1, keys 0..3, queries at 2..5: rows at 4 and 5 see nothing
    expectError(() => attention(q, k, v, { window: 1, queryOffset: 2 }), "ERR_ARG", /row|window/i);
  });
});

describe("tensors", () => {
  it("data length ≠ product of shape", () => {
    expectError(() => Tensor.from([1, 2, 3], [2, 2]), "ERR_SHAPE", /^Tensor\.from: /, /data|shape/, /\b3\b/);
    expectError(() => Tensor.from(new Float32Array(10), [3, 3]), "ERR_SHAPE", /data|shape/, /\b10\b/);
  });

  it("negative, non-integer or non-finite dims", () => {
    expectError(() => Tensor.from([], [-1, 2]), "ERR_SHAPE", /shape/, /-1/);
    expectError(() => Tensor.from([1, 2, 3], [1.5, 2]), "ERR_SHAPE", /shape/, /1\.5/);
    expectError(() => Tensor.from([1], [NaN]), "ERR_SHAPE", /shape/, /NaN/);
  });

  it("unknown device or dtype", async () => {
    expectError(() => Tensor.from([1], [1], { device: "tpu" as never }), "ERR_DEVICE", /device/, /tpu/);
    expectError(() => Tensor.from([1], [1], { dtype: "f64" as never }), "ERR_DTYPE", /dtype/, /f64/);
    const t = zeros([2]);
    expectError(() => t.to("tpu" as never), ["ERR_DEVICE", "ERR_DTYPE", "ERR_ARG"], /tpu/);
    await expectRejectOrThrow(() => synchronize("tpu" as never), "ERR_DEVICE", /device/, /tpu/);
    t.dispose();
  });

  it("mixed dtypes between q, k, v (and dOut)", () => {
    const kb = zeros([1, 4, 2, 8], "bf16");
    const vh = zeros([1, 4, 2, 8], "f16");
    expectError(() => attention(q, kb, v), "ERR_DTYPE", /\bk\b/, /bf16/);
    expectError(() => attention(q, k, vh), "ERR_DTYPE", /\bv\b/, /f16/);
    const db = zeros([1, 4, 2, 8], "bf16");
    expectError(() => attentionBackward(q, k, v, db), "ERR_DTYPE", /dOut/, /bf16/);
    for (const t of [kb, vh, db]) t.dispose();
  });

  it("arguments that are not tensors", () => {
    expectError(() => attention(null as never, k, v), "ERR_ARG", /\bq\b/);
    expectError(() => attention(q, [1, 2] as never, v), "ERR_ARG", /\bk\b/);
    expectError(() => attentionBackward(q, k, v, {} as never), "ERR_ARG", /dOut/);
  });
});

describe("use after dispose (every method)", () => {
  it("Tensor methods", async () => {
    const t = zeros([2, 3]);
    t.dispose();
    t.dispose(); // idempotent
    t[Symbol.dispose]();
    expectError(() => t.dataSync(), "ERR_DISPOSED", /dataSync/, /dispose/);
    expectError(() => t.to("bf16"), "ERR_DISPOSED", /dispose/);
    expectError(() => t.to("f32"), "ERR_DISPOSED", /dispose/);
    expectError(() => t.to("cpu"), "ERR_DISPOSED", /dispose/);
    await expectRejectOrThrow(() => t.data(), "ERR_DISPOSED", /data/, /dispose/);
    // getters keep working
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe("f32");
    expect(t.device).toBe("cpu");
  });

  it("disposed tensors as op arguments", () => {
    for (const which of ["q", "k", "v"] as const) {
      const args = { q: zeros([1, 4, 2, 8]), k: zeros([1, 4, 2, 8]), v: zeros([1, 4, 2, 8]) };
      args[which].dispose();
      expectError(() => attention(args.q, args.k, args.v), "ERR_DISPOSED", A, new RegExp(`\\b${which}\\b`), /dispose/);
      expectError(() => attentionBackward(args.q, args.k, args.v, dOut), "ERR_DISPOSED", AB, new RegExp(`\\b${which}\\b`), /dispose/);
      for (const t of Object.values(args)) t.dispose();
    }
    const d = zeros([1, 4, 2, 8]);
    d.dispose();
    expectError(() => attentionBackward(q, k, v, d), "ERR_DISPOSED", AB, /dOut/, /dispose/);
  });

  it("an op's output disposed before it was computed", async () => {
    const out = attention(q, k, v);
    out.dispose();
    await expectRejectOrThrow(() => out.data(), "ERR_DISPOSED", /dispose/);
    await synchronize();
  });
});

describe("devices", () => {
  const info = backendInfo?.();
  const cuda = info?.cuda?.available === true;

  it.skipIf(cuda)("device 'cuda' without a usable CUDA device: 'CUDA backend unavailable: <reason>'", () => {
    const e = (() => {
      try {
        Tensor.from([1, 2], [2], { device: "cuda" });
      } catch (err) {
        return err as CtxwinError;
      }
      return null;
    })();
    expect(e, "Tensor.from on cuda should throw without a CUDA backend").toBeInstanceOf(CtxwinError);
    expect(e!.code).toBe("ERR_DEVICE");
    expect(e!.message).toMatch(/^CUDA backend unavailable: \S/);
    if (info && info.cuda.available === false) expect(e!.message).toContain(info.cuda.reason);
    const t = zeros([2]);
    expect(() => t.to("cuda")).toThrow(/^CUDA backend unavailable: /);
    t.dispose();
  });

  it.runIf(cuda)("mixed devices between q, k, v", () => {
    const kc = zeros([1, 4, 2, 8]).to("cuda");
    expectError(() => attention(q, kc, v), "ERR_DEVICE", /\bk\b/, /cuda/);
    const dc = dOut.to("cuda");
    expectError(() => attentionBackward(q, k, v, dc), "ERR_DEVICE", /dOut/, /cuda/);
    kc.dispose();
    dc.dispose();
  });
});

describe("the process survives", () => {
  it("still computes correctly after all the errors above", async () => {
    const out = attention(q, k, v, { positional: { type: "alibi" } });
    const vals = await out.data();
    expect(vals.every(Number.isFinite)).toBe(true);
    out.dispose();
    for (const t of [q, k, v, dOut]) t.dispose();
  });
});
