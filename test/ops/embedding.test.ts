/**
 * embedding / embedding_backward: exact row gathers in every dtype, the scatter-add backward with
 * repeated ids against a reference and finite differences, bad ids reported on read.
 */
import { describe, expect, it } from "vitest";
import { embedding, embeddingBackward } from "../../dist/ops/index.js";
import { announceSeed } from "../helpers.js";
import { close, fdCheck, randn, rejectsWith, rngFor, rounded, SEED, T, throwsWith, vals, type DType } from "./util.js";

announceSeed("ops.embedding", SEED);

describe("embedding", () => {
  for (const dtype of ["f32", "bf16", "f16"] as DType[]) {
    it(`gathers rows exactly (${dtype}, V=37, d=53, ids [3, 11])`, async () => {
      const rng = rngFor(`emb ${dtype}`);
      const V = 37, d = 53;
      const w = rounded(randn(rng, V * d), dtype);
      const ids = Array.from({ length: 33 }, () => rng.int(0, V - 1));
      const out = embedding(T(w, [V, d], dtype), T(ids, [3, 11]));
      expect(out.shape).toEqual([3, 11, d]);
      expect(out.dtype).toBe(dtype);
      const want = ids.flatMap((id) => Array.from(w.subarray(id * d, (id + 1) * d)));
      expect(Array.from(await vals(out))).toEqual(want);
    });
  }

  it("backward sums rows per id (repeats, f32 and bf16 dy) vs reference", async () => {
    const rng = rngFor("emb bwd");
    for (const dtype of ["f32", "bf16"] as DType[]) {
      const V = 41, d = 29, N = 300;
      const dy = rounded(randn(rng, N * d), dtype);
      const ids = Array.from({ length: N }, () => rng.int(0, 9)); // many repeats, most rows unused
      ids[7] = V - 1;
      const dw = embeddingBackward(T(dy, [3, 100, d], dtype), T(ids, [3, 100]), V);
      expect(dw.shape).toEqual([V, d]);
      expect(dw.dtype).toBe("f32");
      const want = new Float64Array(V * d);
      ids.forEach((id, i) => {
        for (let j = 0; j < d; j++) want[id * d + j]! += dy[i * d + j]!;
      });
      close(await vals(dw), want, 1e-6, `dweight ${dtype}`);
    }
  });

  it("backward vs finite differences", async () => {
    const rng = rngFor("emb fd");
    const V = 13, d = 7, N = 20;
    const w = randn(rng, V * d), r = randn(rng, N * d);
    const ids = T(Array.from({ length: N }, () => rng.int(0, V - 1)), [N]);
    const dw = embeddingBackward(T(r, [N, d]), ids, V);
    await fdCheck({ what: "dweight", rng, x: w, r, grad: await vals(dw), forward: (v) => embedding(T(v, [V, d]), ids).data() });
  });

  it("an id outside [0, V) fails the result when read; bad arguments fail at once", async () => {
    const w = T(new Float32Array(12), [4, 3]);
    await rejectsWith(embedding(w, T([0, 4], [2])), "ERR_ARG", "embedding: ids: expected ids in [0, 4), got 4");
    await rejectsWith(embedding(w, T([-1], [1])), "ERR_ARG", "embedding: ids: expected ids in [0, 4), got -1");
    await rejectsWith(embedding(w, T([1.5], [1])), "ERR_ARG", "got 1.5");
    await rejectsWith(embeddingBackward(T(new Float32Array(3), [1, 3]), T([9], [1]), 4), "ERR_ARG", "embedding_backward: ids: expected ids in [0, 4), got 9");
    throwsWith(() => embedding(T(new Float32Array(12), [12]), T([0], [1])), "ERR_SHAPE", "embedding: weight: expected a 2-d tensor [V, d]");
    throwsWith(() => embedding(w, T([0], [1], "bf16")), "ERR_DTYPE", 'embedding: ids: expected dtype "f32"');
    throwsWith(() => embeddingBackward(T(new Float32Array(6), [2, 3]), T([0, 1, 2], [3]), 4), "ERR_SHAPE", "embeddingBackward: ids: expected 2 ids (one per row of dy [2, 3]), got shape [3]");
    throwsWith(() => embeddingBackward(T(new Float32Array(6), [2, 3]), T([0, 1], [2]), 0), "ERR_ARG", "embeddingBackward: vocab: expected an integer in [1,");
  });
});
