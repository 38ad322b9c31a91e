/**
 * Masked-LM heads (BertForMaskedLM / RobertaForMaskedLM) against transformers (fixtures
 * bert-mlm / roberta-mlm from scripts/encoder-fixtures.py: logits within 1e-4 on the non-padding
 * positions), save / load in transformers' layout (tied decoder not written), and BERT's masking
 * (15% chosen, 80/10/10) with its loss: statistics, seeding, padding never chosen or scored, the
 * loss against a float64 recomputation from the full logits, gradients against finite differences.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Tape, Tensor, noGrad, Rng, type Parameter } from "ctxwin";
import { loadEncoder, saveEncoder, createEncoder, maskTokens, maskedLmLoss, scoreMasked, type Encoder } from "../../dist/models/index.js";
import { readSafetensorsHeader } from "ctxwin";
import { XorShift32 } from "../reference/rng.js";

const FIX = path.join(import.meta.dirname, "..", "fixtures", "encoders");
interface Expected {
  input_ids: number[][];
  token_type_ids: number[][] | null;
  lengths: number[];
  last_hidden_state: number[][][];
  logits: number[][][];
}
const expected = async (name: string): Promise<Expected> => JSON.parse(await readFile(path.join(FIX, name, "expected.json"), "utf8"));

function maxDiffValid(a: Float32Array, b: number[][][], lengths: number[]): number {
  const T = b[0]!.length;
  const d = b[0]![0]!.length;
  let m = 0;
  b.forEach((seq, i) => {
    for (let t = 0; t < lengths[i]!; t++) for (let j = 0; j < d; j++) m = Math.max(m, Math.abs(a[(i * T + t) * d + j]! - seq[t]![j]!));
  });
  return m;
}

async function logitsOf(model: Encoder, e: Expected): Promise<Float32Array> {
  using t = await model.forward(e.input_ids, { keyLengths: e.lengths, tokenTypeIds: e.token_type_ids ?? undefined });
  expect(t.shape).toEqual([2, e.input_ids[0]!.length, model.config.vocabSize]);
  return t.data();
}

describe("MLM heads vs transformers", () => {
  for (const name of ["bert-mlm", "roberta-mlm"]) {
    it(`${name}: logits within 1e-4; save → load keeps transformers' names and the logits`, async () => {
      const e = await expected(name);
      const model = await loadEncoder(path.join(FIX, name));
      const dir = await mkdtemp(path.join(tmpdir(), "ctxwin-mlm-"));
      try {
        expect(model.config.head).toBe("mlm");
        const got = await logitsOf(model, e);
        expect(maxDiffValid(got, e.logits, e.lengths)).toBeLessThan(1e-4);
        await saveEncoder(model, dir);
        const cfg = JSON.parse(await readFile(path.join(dir, "config.json"), "utf8"));
        expect(cfg.architectures).toEqual([name === "bert-mlm" ? "BertForMaskedLM" : "RobertaForMaskedLM"]);
        expect(cfg.id2label).toBeUndefined();
        const keys = async (d: string): Promise<string[]> => Object.keys((await readSafetensorsHeader(path.join(d, "model.safetensors"))).tensors ?? {}).sort();
        const want = await keys(path.join(FIX, name));
        expect(want.some((k) => /decoder/.test(k))).toBe(false);
        expect(await keys(dir)).toEqual(want);
        const back = await loadEncoder(dir);
        expect(Array.from(await logitsOf(back, e))).toEqual(Array.from(got));
        back.dispose();
      } finally {
        model.dispose();
        await rm(dir, { recursive: true, force: true });
      }
    });
  }

  it("an MLM checkpoint under a new sequence head: same backbone, fresh classifier", async () => {
    const e = await expected("bert-mlm");
    const model = await loadEncoder(path.join(FIX, "bert-mlm"), { head: { kind: "sequence", numLabels: 3 } });
    try {
      expect(model.mlmHead).toBeNull();
      using h = await noGrad(async () => {
        const v = model.hidden(e.input_ids, { keyLengths: e.lengths, tokenTypeIds: e.token_type_ids ?? undefined });
        const t = v.detachValue();
        v.release();
        return t;
      });
      expect(maxDiffValid(await h.data(), e.last_hidden_state, e.lengths)).toBeLessThan(1e-4);
      using lg = await model.forward(e.input_ids, { keyLengths: e.lengths });
      expect(lg.shape).toEqual([2, 3]);
    } finally {
      model.dispose();
    }
  });

  it("untied decoders and bad head kinds are refused by name", async () => {
    const cfg = JSON.parse(await readFile(path.join(FIX, "bert-mlm", "config.json"), "utf8"));
    expect(() => createEncoder({ ...cfg, tie_word_embeddings: false })).toThrow(/tie_word_embeddings: expected true/);
    await expect(loadEncoder(path.join(FIX, "bert"), { head: { kind: "lm" as any } })).rejects.toThrow(/opts\.head\.kind: expected "none", "sequence", "token" or "mlm"/);
  });
});

describe("maskTokens: BERT's 15% / 80-10-10", () => {
  const V = 60;
  const specials = [0, 1, 2, 3]; // pad, cls, sep, mask
  const rng = new XorShift32(11);
  const B = 120;
  const T = 97;
  const lengths = Array.from({ length: B }, (_, b) => (b % 3 === 0 ? 20 + (b % 50) : T));
  const ids = Array.from({ length: B }, (_, b) =>
    Array.from({ length: T }, (_, t) => (t === 0 ? 1 : t === lengths[b]! - 1 ? 2 : t >= lengths[b]! ? 0 : 4 + Math.floor(rng.next() * (V - 4)))),
  );
  const opts = { maskId: 3, vocabSize: V, specialIds: specials, keyLengths: lengths };

  it("rates within 4 sigma; specials and padding never chosen", () => {
    const m = maskTokens(ids, { ...opts, seed: 5 });
    let eligible = 0;
    let chosen = 0;
    let masked = 0;
    let random = 0;
    let kept = 0;
    ids.forEach((row, b) =>
      row.forEach((id, t) => {
        const l = m.labels[b]![t]!;
        const pad = t >= lengths[b]!;
        if (pad || specials.includes(id)) {
          expect(l).toBe(-100);
          expect(m.inputs[b]![t]).toBe(id);
          return;
        }
        eligible++;
        if (l === -100) {
          expect(m.inputs[b]![t]).toBe(id);
          return;
        }
        expect(l).toBe(id);
        chosen++;
        const x = m.inputs[b]![t]!;
        if (x === 3) masked++;
        else if (x === id) kept++;
        else {
          random++;
          expect(specials).not.toContain(x);
        }
      }),
    );
    expect(m.count).toBe(chosen);
    const near = (k: number, n: number, p: number): void => expect(Math.abs(k / n - p)).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / n));
    near(chosen, eligible, 0.15);
    near(masked, chosen, 0.8);
    // a random replacement equals the original 1 / 56 of the time (then it counts as kept)
    const pSame = 0.1 / (V - specials.length);
    near(random, chosen, 0.1 - pSame);
    near(kept, chosen, 0.1 + pSame);
  });

  it("seeded: same seed same masks; other seeds and a continued stream differ", () => {
    const a = maskTokens(ids, { ...opts, seed: 9 });
    expect(maskTokens(ids, { ...opts, seed: 9 })).toEqual(a);
    expect(maskTokens(ids, { ...opts, seed: 10 }).labels).not.toEqual(a.labels);
    const r = new Rng(9);
    const first = maskTokens(ids, { ...opts, rng: r });
    expect(first).toEqual(a);
    expect(maskTokens(ids, { ...opts, rng: r }).labels).not.toEqual(a.labels);
  });

  it("at least one position even when 15% picks none; bad options are named", () => {
    const m = maskTokens([[1, 7, 2]], { maskId: 3, vocabSize: 10, specialIds: [0, 1, 2], probability: 1e-9, seed: 1 });
    expect(m.count).toBe(1);
    expect(m.labels).toEqual([[-100, 7, -100]]);
    expect(() => maskTokens(ids, { ...opts, probability: 1.5 })).toThrow(/maskTokens: probability: expected a number in \[0, 1\]/);
    expect(() => maskTokens(ids, { ...opts, maskId: V })).toThrow(/maskTokens: maskId: expected an id in \[0, 60\)/);
    expect(() => maskTokens([[1, 99]], { ...opts, keyLengths: undefined })).toThrow(/maskTokens: ids\[0\]\[1\]: expected an id in \[0, 60\), got 99/);
    expect(() => maskTokens(ids, { ...opts, keyLengths: [3] })).toThrow(/maskTokens: keyLengths: expected 120 lengths/);
    expect(() => maskTokens(ids, { ...opts, maskFraction: 0.95, randomFraction: 0.1 })).toThrow(/maskFraction \+ randomFraction: expected at most 1/);
  });
});

describe("maskedLmLoss", () => {
  it("equals a float64 cross-entropy of the full logits at the chosen positions; padding is not seen", async () => {
    const e = await expected("bert-mlm");
    const model = await loadEncoder(path.join(FIX, "bert-mlm"));
    try {
      const fwd = { keyLengths: e.lengths, tokenTypeIds: e.token_type_ids ?? undefined };
      const m = maskTokens(e.input_ids, { maskId: 3, vocabSize: 100, specialIds: [0, 1, 2], keyLengths: e.lengths, probability: 0.5, seed: 3 });
      using l = noGrad(() => scoreMasked(model, m, fwd)).detachValue();
      const got = (await l.data())[0]!;
      using full = await model.forward(m.inputs, fwd);
      const lg = await full.data();
      const T = m.inputs[0]!.length;
      let sum = 0;
      let n = 0;
      m.labels.forEach((r, b) =>
        r.forEach((y, t) => {
          if (y === -100) return;
          expect(t).toBeLessThan(e.lengths[b]!);
          const row = Array.from(lg.subarray((b * T + t) * 100, (b * T + t + 1) * 100), Number);
          const mx = Math.max(...row);
          sum += Math.log(row.reduce((s, v) => s + Math.exp(v - mx), 0)) + mx - row[y]!;
          n++;
        }),
      );
      expect(n).toBe(m.count);
      expect(Math.abs(got - sum / n)).toBeLessThan(1e-5);
      // other ids at the padding positions change neither the masks nor the loss
      const scrambled = e.input_ids.map((r, b) => r.map((id, t) => (t >= e.lengths[b]! ? 50 + t : id)));
      const a = noGrad(() => maskedLmLoss(model, e.input_ids, { ...fwd, maskId: 3, specialIds: [1, 2], seed: 4 }));
      const c = noGrad(() => maskedLmLoss(model, scrambled, { ...fwd, maskId: 3, specialIds: [1, 2], seed: 4 }));
      expect((await c.value.data())[0]).toBe((await a.value.data())[0]);
      a.release();
      c.release();
      expect(() => maskedLmLoss(createEncoder({ model_type: "bert", vocab_size: 10, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 8 }), [[1]], { maskId: 3 })).toThrow(/maskedLmLoss: model: expected an encoder with an "mlm" head/);
    } finally {
      model.dispose();
    }
  });

  it("gradients of the MLM loss (head, tied embeddings, a layer) match central differences", async () => {
    const e = await expected("roberta-mlm");
    const model = await loadEncoder(path.join(FIX, "roberta-mlm"));
    try {
      const fwd = { keyLengths: e.lengths };
      const m = maskTokens(e.input_ids, { maskId: 3, vocabSize: 100, specialIds: [0, 1, 2], keyLengths: e.lengths, probability: 0.4, seed: 8 });
      const lossOf = () => scoreMasked(model, m, fwd);
      const tape = new Tape();
      const loss = tape.run(lossOf);
      tape.backward(loss);
      loss.release();
      const pick = model.namedParameters().filter(([n]) => /lm_head\.(bias|dense\.weight|layer_norm\.weight)|word_embeddings|layer\.1\.output\.dense\.weight/.test(n));
      expect(pick.length).toBe(5);
      const rng = new XorShift32(5);
      const eps = 1e-2;
      for (const [name, p] of pick as [string, Parameter][]) {
        const g = await p.grad!.data();
        const base = await p.value.data();
        const u = rng.array(base.length);
        const at = async (s: number): Promise<number> => {
          const old = p.value;
          p.set(Tensor.from(base.map((v, i) => v + s * eps * u[i]!), [...old.shape]), { keepOld: true });
          const l = noGrad(lossOf);
          const val = (await l.value.data())[0]!;
          l.release();
          p.value.dispose();
          p.set(old, { keepOld: true });
          return val;
        };
        const fd = ((await at(1)) - (await at(-1))) / (2 * eps);
        let an = 0;
        for (let i = 0; i < g.length; i++) an += g[i]! * u[i]!;
        expect(Math.abs(fd - an) / Math.max(Math.abs(an), 0.05), `${name}: fd ${fd} vs tape ${an}`).toBeLessThan(2e-2);
      }
      model.zeroGrad();
    } finally {
      model.dispose();
    }
  });
});
