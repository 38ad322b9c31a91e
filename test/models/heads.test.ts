/**
 * Classification heads and losses: the exact GELU / tanh host ops and the gather against finite
 * differences; the whole loss's gradients (encoder sequence and token heads, decoder sequence
 * head on the last real token) against finite differences on tiny models; padding does not
 * change a decoder head's logits; tiny toy tasks learned to > 90% (accuracy, macro-F1, span F1
 * from lib/tasks/metrics.ts).
 */
import { erf } from "../reference/erf.js";
import { describe, expect, it } from "vitest";
import { Tensor, noGrad, Tape, Parameter, accuracy, macroF1, spanF1 } from "ctxwin";
import { F } from "../../dist/nn/index.js";
import { createEncoder, createModel, DecoderClassifier, predict, type Encoder } from "../../dist/models/index.js";
import { AdamW } from "../../dist/train/index.js";
import { gradcheck } from "../nn/gradcheck.js";
import { XorShift32 } from "../reference/rng.js";

const small = (extra: Record<string, unknown> = {}) => ({
  model_type: "bert",
  vocab_size: 20,
  hidden_size: 8,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  intermediate_size: 16,
  max_position_embeddings: 16,
  type_vocab_size: 2,
  initializer_range: 0.3,
  ...extra,
});

describe("host ops vs finite differences", () => {
  const rng = new XorShift32(3);
  const x = rng.array(24).map((v) => v * 3);
  it("geluErf", async () => {
    expect(await gradcheck(([a]) => F.geluErf(a!), [{ data: x, shape: [4, 6] }], { eps: 1e-2 })).toBeLessThan(2e-2);
  });
  it("tanh", async () => {
    expect(await gradcheck(([a]) => F.tanh(a!), [{ data: x, shape: [4, 6] }], { eps: 1e-2 })).toBeLessThan(2e-2);
  });
  it("gatherRows (rows repeated)", async () => {
    expect(await gradcheck(([a]) => F.gatherRows(a!, [3, 0, 3]), [{ data: x, shape: [4, 6] }])).toBeLessThan(2e-2);
  });
  it("erf and exact GELU values", async () => {
    // erf(0.5), erf(1), erf(2), erf(3.5) to 15 digits (Abramowitz–Stegun tables / mpmath)
    expect(erf(0.5)).toBeCloseTo(0.520499877813047, 13);
    expect(erf(1)).toBeCloseTo(0.842700792949715, 13);
    expect(erf(-2)).toBeCloseTo(-0.995322265018953, 13);
    expect(erf(3.5)).toBeCloseTo(0.999999256901628, 13);
    const v = noGrad(() => F.geluErf(new Parameter(Tensor.from([1, -1], [2]))));
    const d = await v.value.data();
    expect(d[0]).toBeCloseTo(0.841344746, 6);
    expect(d[1]).toBeCloseTo(-0.158655254, 6);
  });
});

/** Gradients of a scalar loss w.r.t. a few parameters, against central differences. */
async function checkLossGrads(params: [string, Parameter][], lossOf: () => ReturnType<typeof F.sum>, pattern: RegExp, zero: () => void): Promise<number> {
  const tape = new Tape();
  const loss = tape.run(lossOf);
  tape.backward(loss);
  loss.release();
  const rng = new XorShift32(7);
  const eps = 1e-2;
  const pick = params.filter(([n]) => pattern.test(n));
  expect(pick.length).toBeGreaterThan(3);
  let worst = 0;
  for (const [name, p] of pick) {
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
    const err = Math.abs(fd - an) / Math.max(Math.abs(an), 0.05);
    worst = Math.max(worst, err);
    expect(err, `${name}: fd ${fd} vs tape ${an}`).toBeLessThan(2e-2);
  }
  zero();
  return worst;
}

const ids = [
  [1, 5, 7, 9, 3, 2],
  [1, 4, 6, 2, 0, 0],
];
const lengths = [6, 4];
const types = [
  [0, 0, 0, 1, 1, 1],
  [0, 0, 1, 1, 0, 0],
];

describe("head losses vs finite differences", () => {
  for (const [mt, kind] of [
    ["bert", "sequence"],
    ["roberta", "sequence"],
    ["bert", "token"],
  ] as const) {
    it(`${mt} ${kind} head (padded batch, exact GELU, pooler/tanh)`, async () => {
      const arch = kind === "sequence" ? `${mt === "bert" ? "Bert" : "Roberta"}ForSequenceClassification` : "BertForTokenClassification";
      const m = createEncoder(small({ model_type: mt, architectures: [arch], num_labels: 3, pad_token_id: mt === "roberta" ? 1 : 0, max_position_embeddings: 18 }), { seed: 2 });
      const labels = kind === "sequence" ? [2, 0] : [[0, 1, -100, 2, 1, 0], [2, 2, 1, 0, 0, 0]];
      const opts = { keyLengths: lengths, tokenTypeIds: mt === "bert" ? types : undefined };
      const worst = await checkLossGrads(m.namedParameters(), () => m.loss(ids, labels, opts), /classifier|pooler\.dense\.weight|query\.weight|intermediate\.dense\.bias|output\.LayerNorm\.weight|word_embeddings|token_type/, () => m.zeroGrad());
      expect(worst).toBeLessThan(2e-2);
      m.dispose();
    });
  }

  it("decoder sequence head on the last real token", async () => {
    const model = createModel({ vocabSize: 20, hiddenSize: 16, numLayers: 1, numHeads: 2, initializerRange: 0.2 }, { seed: 3 });
    const head = new DecoderClassifier(model, { kind: "sequence", numLabels: 3, seed: 1 });
    const all = [...model.namedParameters(), ...head.namedParameters()];
    await checkLossGrads(all, () => head.loss(ids, [1, 2], { keyLengths: lengths }), /score|q_proj\.weight|embed_tokens|norm|down_proj/, () => {
      model.zeroGrad();
      head.zeroGrad();
    });
    // the padded row's logits are what the sequence gives alone
    const batch = noGrad(() => head.logits(ids, { keyLengths: lengths }));
    const alone = noGrad(() => head.logits([ids[1]!.slice(0, 4)]));
    const a = await batch.value.data();
    const b = await alone.value.data();
    for (let j = 0; j < 3; j++) expect(a[3 + j]).toBeCloseTo(b[j]!, 5);
    batch.release();
    alone.release();
    expect(() => new DecoderClassifier(model, { kind: "seq" as never, numLabels: 2 })).toThrow(/opts\.kind: expected "sequence" or "token"/);
    expect(() => new DecoderClassifier(model, { kind: "token", numLabels: 0 })).toThrow(/opts\.numLabels: expected a positive integer/);
    expect(() => head.loss(ids, [1], { keyLengths: lengths })).toThrow(/labels: expected 2 entries/);
    head.dispose();
    model.dispose();
  });
});

/** Toy data: random sequences (ids 3..19) of length 3..8, right padded with 0, [CLS] = 1 first. */
function toy(n: number, seed: number) {
  const rng = new XorShift32(seed);
  const rows: number[][] = [];
  const lens: number[] = [];
  for (let i = 0; i < n; i++) {
    const len = 3 + Math.floor(rng.next() * 6);
    rows.push([1, ...Array.from({ length: len - 1 }, () => 3 + Math.floor(rng.next() * 17))]);
    lens.push(len);
  }
  const T = Math.max(...lens);
  return { ids: rows.map((r) => [...r, ...new Array(T - r.length).fill(0)]), lengths: lens, rows };
}

async function trainLoop(params: [string, Parameter][], steps: number, lossOf: (step: number) => ReturnType<typeof F.sum>, zero: () => void): Promise<void> {
  const opt = new AdamW(params, { lr: 0.02, weightDecay: 0 });
  for (let s = 0; s < steps; s++) {
    const tape = new Tape();
    const loss = tape.run(() => lossOf(s));
    tape.backward(loss);
    loss.release();
    opt.step();
    zero();
  }
}

describe("tiny training: separable toy tasks", () => {
  it("encoder sequence classification (is the first token after [CLS] < 11?) > 90% accuracy", async () => {
    const m: Encoder = createEncoder(small({ architectures: ["BertForSequenceClassification"], num_labels: 2, hidden_size: 16, intermediate_size: 32, initializer_range: 0.1 }), { seed: 1 });
    const label = (r: number[]) => (r[1]! < 11 ? 1 : 0);
    const train = toy(64, 11);
    const test = toy(64, 12);
    const t0 = Date.now();
    await trainLoop(m.namedParameters(), 60, () => m.loss(train.ids, train.rows.map(label), { keyLengths: train.lengths }), () => m.zeroGrad());
    const pred = await predict(m, test.ids, { keyLengths: test.lengths });
    const gold = test.rows.map(label);
    const acc = accuracy(gold, pred);
    console.log(`encoder sequence toy: accuracy ${acc.toFixed(3)}, macro-F1 ${macroF1(gold, pred).macroF1.toFixed(3)}, ${Date.now() - t0} ms`);
    expect(acc).toBeGreaterThan(0.9);
    m.dispose();
  });

  it("encoder token classification (BIO entities; ignore index on [CLS] and padding) > 90% span F1", async () => {
    const m: Encoder = createEncoder(small({ architectures: ["BertForTokenClassification"], num_labels: 3, hidden_size: 16, intermediate_size: 32, initializer_range: 0.1 }), { seed: 1 });
    const TAGS = ["O", "B", "I"];
    // sentences of "words" 10..19 with entities: a first token 3..6 (B) and 0-2 continuations 7..9 (I)
    const data = (n: number, seed: number) => {
      const rng = new XorShift32(seed);
      const rows: number[][] = [];
      const tagRows: number[][] = [];
      for (let i = 0; i < n; i++) {
        const r = [1];
        const tg = [-100];
        while (r.length < 8) {
          if (rng.next() < 0.3) {
            r.push(3 + Math.floor(rng.next() * 4));
            tg.push(1);
            for (let k = Math.floor(rng.next() * 3); k > 0 && r.length < 10; k--) {
              r.push(7 + Math.floor(rng.next() * 3));
              tg.push(2);
            }
          } else {
            r.push(10 + Math.floor(rng.next() * 10));
            tg.push(0);
          }
        }
        rows.push(r);
        tagRows.push(tg);
      }
      const T = Math.max(...rows.map((r) => r.length));
      return {
        ids: rows.map((r) => [...r, ...new Array(T - r.length).fill(0)]),
        tags: tagRows.map((t) => [...t, ...new Array(T - t.length).fill(-100)]),
        lengths: rows.map((r) => r.length),
        T,
      };
    };
    const train = data(64, 21);
    const test = data(64, 22);
    const t0 = Date.now();
    await trainLoop(m.namedParameters(), 60, () => m.loss(train.ids, train.tags, { keyLengths: train.lengths }), () => m.zeroGrad());
    const flat = await predict(m, test.ids, { keyLengths: test.lengths });
    const gold: string[][] = [];
    const pred: string[][] = [];
    test.lengths.forEach((n, b) => {
      gold.push(test.tags[b]!.slice(1, n).map((x) => TAGS[x]!));
      pred.push(flat.slice(b * test.T + 1, b * test.T + n).map((x) => TAGS[x]!));
    });
    const f1 = spanF1(gold, pred).f1;
    console.log(`encoder token toy: span F1 ${f1.toFixed(3)}, ${Date.now() - t0} ms`);
    expect(f1).toBeGreaterThan(0.9);
    m.dispose();
  });

  it("decoder sequence classification (is the last real token < 11? wrong with any other position) > 90% accuracy", async () => {
    const model = createModel({ vocabSize: 20, hiddenSize: 16, numLayers: 1, numHeads: 2 }, { seed: 3 });
    const head = new DecoderClassifier(model, { kind: "sequence", numLabels: 2 });
    const label = (r: number[]) => (r[r.length - 1]! < 11 ? 1 : 0);
    const train = toy(64, 31);
    const test = toy(64, 32);
    await trainLoop([...model.namedParameters(), ...head.namedParameters()], 60, () => head.loss(train.ids, train.rows.map(label), { keyLengths: train.lengths }), () => {
      model.zeroGrad();
      head.zeroGrad();
    });
    const pred = await predict(head, test.ids, { keyLengths: test.lengths });
    const acc = accuracy(test.rows.map(label), pred);
    console.log(`decoder sequence toy: accuracy ${acc.toFixed(3)}`);
    expect(acc).toBeGreaterThan(0.9);
    head.dispose();
    model.dispose();
  });
});
