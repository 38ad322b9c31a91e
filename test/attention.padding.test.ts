/**
 * Per-sequence key ranges (keyLengths / keyStarts) — what the case matrix of test/reference/cases.ts
 * ("pad: …", compared with the float64 reference in the forward, backward and low-precision suites)
 * does not show on its own:
 *  1. a right-padded batch gives each sequence what it gives alone, unpadded (the padding never
 *     leaks in), bidirectional and causal;
 *  2. a left-padded batch (prompts aligned at the end, as batched decoding holds them) gives each
 *     sequence what it gives alone at its own positions: RoPE and ALiBi depend on p − j only;
 *  3. padding query rows (positions outside a sequence's tokens) get exactly 0, padding keys
 *     exactly zero gradients;
 *  4. bad ranges are clear errors naming the argument.
 */
import { describe, expect, it } from "vitest";
import { attention, attentionBackward, Tensor, type AttentionOptions } from "ctxwin";
import { Rng, suiteSeed } from "./reference/rng.js";
import { fmt, relErr } from "./reference/util.js";
import { announceSeed } from "./helpers.js";

const SEED = suiteSeed();
announceSeed("attention.padding", SEED);
const rng = new Rng(SEED + 77);

/** Rows [t0, t0 + n) of x [B=1.., T, H, D] of sequence b, as a new array [1, n, H, D]. */
function rowsOf(x: Float32Array, T: number, H: number, D: number, b: number, t0: number, n: number): Float32Array {
  return x.slice((b * T + t0) * H * D, (b * T + t0 + n) * H * D);
}
async function run(q: Float32Array, k: Float32Array, v: Float32Array, B: number, Tq: number, Tk: number, Hq: number, Hkv: number, D: number, opts: AttentionOptions): Promise<Float32Array> {
  const t = [Tensor.from(q, [B, Tq, Hq, D]), Tensor.from(k, [B, Tk, Hkv, D]), Tensor.from(v, [B, Tk, Hkv, D])] as const;
  const o = attention(t[0], t[1], t[2], opts);
  const out = await o.data();
  for (const x of [...t, o]) x.dispose();
  return out;
}

describe("per-sequence key ranges", () => {
  for (const [label, causal, positional] of [
    ["bidirectional, alibi", false, { type: "alibi" }],
    ["causal, rope", true, { type: "rope" }],
  ] as const) {
    it(`right padding (keyLengths) equals each sequence alone: ${label}`, async () => {
      const B = 3, T = 37, H = 4, Hkv = 2, D = 24;
      const lengths = [37, 20, 3];
      const q = rng.normalF32(B * T * H * D), k = rng.normalF32(B * T * Hkv * D), v = rng.normalF32(B * T * Hkv * D);
      const opts = { causal, positional } as AttentionOptions;
      const batched = await run(q, k, v, B, T, T, H, Hkv, D, { ...opts, keyLengths: lengths });
      for (let b = 0; b < B; b++) {
        const n = lengths[b]!;
        const alone = await run(rowsOf(q, T, H, D, b, 0, n), rowsOf(k, T, Hkv, D, b, 0, n), rowsOf(v, T, Hkv, D, b, 0, n), 1, n, n, H, Hkv, D, opts);
        const got = rowsOf(batched, T, H, D, b, 0, n);
        expect(relErr(got, alone), `sequence ${b} (length ${n})`).toBeLessThan(1e-5);
        // queries past the length are padding rows: exactly 0
        expect(rowsOf(batched, T, H, D, b, n, T - n).every((x) => x === 0), `sequence ${b}: padding rows are 0`).toBe(true);
      }
    });
  }

  for (const positional of [{ type: "rope", scaling: { type: "yarn", factor: 4, originalMaxPositions: 16 } }, { type: "alibi" }] as const) {
    it(`left padding (keyStarts) equals each sequence alone at its own positions: ${positional.type}, decode and prefill`, async () => {
      const B = 3, T = 30, H = 4, Hkv = 4, D = 16;
      const starts = [0, 11, 26];
      const q = rng.normalF32(B * T * H * D), k = rng.normalF32(B * T * Hkv * D), v = rng.normalF32(B * T * Hkv * D);
      // prefill: every row; decode: the last query row against every key
      const pre = await run(q, k, v, B, T, T, H, Hkv, D, { positional, keyStarts: starts });
      const qLast = new Float32Array(B * H * D);
      for (let b = 0; b < B; b++) qLast.set(rowsOf(q, T, H, D, b, T - 1, 1), b * H * D);
      const dec = await run(qLast, k, v, B, 1, T, H, Hkv, D, { positional, keyStarts: starts });
      for (let b = 0; b < B; b++) {
        const s = starts[b]!, n = T - s;
        const alone = await run(rowsOf(q, T, H, D, b, s, n), rowsOf(k, T, Hkv, D, b, s, n), rowsOf(v, T, Hkv, D, b, s, n), 1, n, n, H, Hkv, D, { positional });
        // positions shift by s but scores depend on p − j only; YaRN's tables use absolute
        // positions up to T (> n) — same rotation angles per distance, so the same result
        expect(relErr(rowsOf(pre, T, H, D, b, s, n), alone), `prefill, sequence ${b}`).toBeLessThan(1e-4);
        expect(relErr(dec.slice(b * H * D, (b + 1) * H * D), alone.slice((n - 1) * H * D)), `decode, sequence ${b}`).toBeLessThan(1e-4);
        // padding rows (before the sequence starts) see nothing: exactly 0
        const padRows = rowsOf(pre, T, H, D, b, 0, s);
        expect(padRows.every((x) => x === 0), `sequence ${b}: padding rows are 0, got max ${fmt(Math.max(...padRows.map(Math.abs)))}`).toBe(true);
      }
    });
  }

  it("padding keys get exactly zero gradients, padding rows zero dq", async () => {
    const B = 2, T = 19, H = 2, D = 8;
    const lengths = [19, 8];
    const starts = [0, 3];
    const mk = () => rng.normalF32(B * T * H * D);
    const [q, k, v, dOut] = [Tensor.from(mk(), [B, T, H, D]), Tensor.from(mk(), [B, T, H, D]), Tensor.from(mk(), [B, T, H, D]), Tensor.from(mk(), [B, T, H, D])];
    const g = attentionBackward(q, k, v, dOut, { causal: false, keyLengths: lengths, keyStarts: starts, positional: { type: "rope" } });
    const [dq, dk, dv] = await Promise.all([g.dq.data(), g.dk.data(), g.dv.data()]);
    for (const t of [q, k, v, dOut, g.dq, g.dk, g.dv]) t.dispose();
    const b = 1;
    for (let j = 0; j < T; j++) {
      const padKey = j < starts[b]! || j >= lengths[b]!;
      const gk = rowsOf(dk, T, H, D, b, j, 1), gv = rowsOf(dv, T, H, D, b, j, 1);
      if (padKey) {
        expect(gk.every((x) => x === 0) && gv.every((x) => x === 0), `key ${j} of sequence ${b} is padding`).toBe(true);
      } else {
        expect(gv.some((x) => x !== 0), `key ${j} of sequence ${b} is visible`).toBe(true);
      }
    }
    // bidirectional: every real query row sees the visible keys; padding rows get zero dq
    for (let i = 0; i < T; i++) {
      const row = rowsOf(dq, T, H, D, b, i, 1);
      const padRow = i < starts[b]! || i >= lengths[b]!;
      expect(padRow ? row.every((x) => x === 0) : row.some((x) => x !== 0), `dq row ${i} of sequence ${b}`).toBe(true);
    }
  });

  it("bad ranges are clear errors", () => {
    const q = Tensor.from(new Float32Array(2 * 5 * 2 * 4), [2, 5, 2, 4]);
    const k = Tensor.from(new Float32Array(2 * 6 * 2 * 4), [2, 6, 2, 4]);
    try {
      const bad = (opts: Record<string, unknown>, re: RegExp) => expect(() => attention(q, k, k, opts as AttentionOptions)).toThrow(re);
      bad({ keyLengths: [6] }, /attention: keyLengths: expected an array of 2 integers \(one per sequence\)/);
      bad({ keyLengths: [6, 7] }, /attention: keyLengths\[1\]: expected an integer in \[1, 6\] \(Tk\), got 7/);
      bad({ keyLengths: [6, 0] }, /keyLengths\[1\]: expected an integer in \[1, 6\]/);
      bad({ keyLengths: [6, 2.5] }, /keyLengths\[1\]: expected an integer/);
      bad({ keyStarts: [0, -1] }, /keyStarts\[1\]: expected an integer in \[0, 6\]/);
      bad({ keyStarts: [0, 4], keyLengths: [6, 4] }, /keyStarts\[1\]: expected less than keyLengths\[1\] = 4/);
      bad({ keyStarts: "0,1" }, /keyStarts: expected an array of 2 integers/);
      // typed arrays are fine
      attention(q, k, k, { keyLengths: Int32Array.from([6, 3]) }).dispose();
    } finally {
      q.dispose();
      k.dispose();
    }
  });
});
