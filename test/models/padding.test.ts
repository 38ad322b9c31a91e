/**
 * Right-padded batches through a model (ForwardOptions.keyLengths → the kernel's per-sequence key
 * ranges): a sequence's hidden states and loss are what it gives alone, padding changes nothing
 * (values or gradients), with RoPE, ALiBi and a prefix-tuned model; bad lengths are clear errors.
 */
import { describe, expect, it } from "vitest";
import { noGrad, Tape } from "ctxwin";
import { createModel, lmTargets } from "../../dist/models/index.js";
import { addPrefix } from "../../dist/peft/index.js";
import { relErr } from "../reference/util.js";

const V = 61;
const seq = (n: number, salt: number) => Array.from({ length: n }, (_, i) => (i * 13 + salt * 7 + 1) % V);
const lengths = [11, 4, 8];
const T = 11;
const PAD = 0;
const padded = lengths.map((n, b) => [...seq(n, b), ...new Array(T - n).fill(PAD)]);

describe("right-padded batches (keyLengths)", () => {
  const models = {
    rope: createModel({ vocabSize: V, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2 }, { seed: 4 }),
    alibi: createModel({ vocabSize: V, hiddenSize: 32, numLayers: 2, numHeads: 4, positional: { type: "alibi" } } as never, { seed: 5 }),
    prefix: (() => {
      const m = createModel({ vocabSize: V, hiddenSize: 32, numLayers: 2, numHeads: 4 }, { seed: 6 });
      addPrefix(m, { numVirtualTokens: 3, seed: 1, freezeBase: false });
      return m;
    })(),
  };
  for (const [name, model] of Object.entries(models)) {
    it(`${name}: each sequence's hidden states equal its run alone`, async () => {
      const batch = noGrad(() => model.hidden(padded, { keyLengths: lengths }));
      const all = await batch.value.data();
      batch.release();
      const d = model.config.hiddenSize;
      for (let b = 0; b < lengths.length; b++) {
        const n = lengths[b]!;
        const alone = noGrad(() => model.hidden([seq(n, b)]));
        const want = await alone.value.data();
        alone.release();
        const got = all.slice(b * T * d, (b * T + n) * d);
        expect(relErr(got, want), `sequence ${b}`).toBeLessThan(1e-5);
      }
    });
  }

  it("the loss and gradients of a padded batch equal the per-sequence ones (padding targets ignored)", async () => {
    const model = models.rope;
    const targets = padded.map((r, b) => lmTargets([r])[0]!.map((t, i) => (i < lengths[b]! - 1 ? t : -100)));
    const scored = lengths.reduce((a, n) => a + n - 1, 0);
    const grads = async (f: () => ReturnType<typeof model.loss>) => {
      model.zeroGrad();
      const tape = new Tape();
      const loss = tape.run(f);
      tape.backward(loss);
      const value = (await loss.value.data())[0]!;
      loss.release();
      const g = await Promise.all(model.trainable().map((p) => p.grad!.data()));
      model.zeroGrad();
      return { value, g };
    };
    const batched = await grads(() => model.loss(padded, targets, { keyLengths: lengths, normalizer: scored }));
    let sum = 0;
    let g: Float32Array[] | null = null;
    for (let b = 0; b < lengths.length; b++) {
      const ids = seq(lengths[b]!, b);
      const one = await grads(() => model.loss([ids], lmTargets([ids]), { normalizer: scored }));
      sum += one.value;
      g = g ? g.map((x, i) => x.map((v, j) => v + one.g[i]![j]!)) : one.g;
    }
    expect(batched.value).toBeCloseTo(sum, 5);
    batched.g.forEach((x, i) => expect(relErr(x, g![i]!), `parameter ${i}`).toBeLessThan(1e-4));
  });

  it("bad lengths are clear errors", () => {
    const m = models.rope;
    expect(() => noGrad(() => m.hidden(padded, { keyLengths: [11, 4] }))).toThrow(/forward: keyLengths: expected 3 lengths \(one per sequence\), got 2/);
    expect(() => noGrad(() => m.hidden(padded, { keyLengths: [11, 0, 8] }))).toThrow(/forward: keyLengths\[1\]: expected an integer in \[1, 11\]/);
    expect(() => noGrad(() => m.hidden(padded, { keyLengths: [12, 4, 8] }))).toThrow(/keyLengths\[0\]: expected an integer in \[1, 11\] \(the sequence length\), got 12/);
    const cache = m.createCache();
    expect(() => noGrad(() => m.hidden(padded, { keyLengths: lengths, cache }))).toThrow(/keyLengths: expected no cache/);
    cache.dispose();
  });
});
