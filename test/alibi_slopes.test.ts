/**
 * alibiSlopes(H): the default slopes the kernels use (native/include/ctxwin/positional.h), exposed
 * to JS, against the independent float64 recipe in the test reference (docs/design.md, Positional
 * conventions), for powers of two and the interleaved non-power-of-two construction; and the
 * kernel really uses them.
 */
import { describe, expect, it } from "vitest";
import { alibiSlopes, attention, Tensor } from "../dist/index.js";
import { defaultAlibiSlopes } from "./reference/attention_ref.js";

describe("alibiSlopes", () => {
  it("equals the reference recipe for 1 … 40 heads", () => {
    for (let H = 1; H <= 40; H++) {
      const got = alibiSlopes(H);
      const want = defaultAlibiSlopes(H);
      expect(got.length).toBe(H);
      got.forEach((s, i) => expect(s).toBeCloseTo(want[i]!, 14));
    }
    expect(alibiSlopes(8)).toEqual([0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625]);
  });

  it("are what { type: 'alibi' } applies: the same output as passing them explicitly", async () => {
    const B = 1, T = 9, H = 6, D = 8;
    const data = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + k));
    const q = Tensor.from(data(B * T * H * D, 1), [B, T, H, D]);
    const k = Tensor.from(data(B * T * H * D, 2), [B, T, H, D]);
    const v = Tensor.from(data(B * T * H * D, 3), [B, T, H, D]);
    const a = attention(q, k, v, { positional: { type: "alibi" } });
    const b = attention(q, k, v, { positional: { type: "alibi", slopes: alibiSlopes(H) } });
    const c = attention(q, k, v, { positional: { type: "alibi", slopes: alibiSlopes(H).map((s) => 2 * s) } });
    const [x, y, z] = await Promise.all([a.data(), b.data(), c.data()]);
    expect(Array.from(x)).toEqual(Array.from(y));
    expect(Array.from(x)).not.toEqual(Array.from(z));
    for (const t of [q, k, v, a, b, c]) t.dispose();
  });

  it("bad head counts are a clear error", () => {
    expect(() => alibiSlopes(0)).toThrow(/alibiSlopes: heads: expected an integer in \[1, 65536\], got 0/);
    expect(() => alibiSlopes(2.5)).toThrow(/heads/);
  });
});
