/**
 * lib/tasks/train.ts: trainClassifier (loss falls on a tiny separable task; only unfrozen
 * parameters move; abort), padded batches give the unpadded losses, and evaluateClassifier against
 * the metric functions on predictions made one unpadded example at a time.
 */
import { describe, expect, it } from "vitest";
import { noGrad } from "ctxwin";
import { createEncoder, predict, type Encoder } from "../../dist/models/index.js";
import { accuracy, macroF1, spanF1 } from "../../dist/tasks/metrics.js";
import { labelMap, wordPredictions, type EncodedTask } from "../../dist/tasks/encode.js";
import { evaluateClassifier, padBatch, trainClassifier } from "../../dist/tasks/train.js";
import { XorShift32 } from "../reference/rng.js";

const config = (head: "sequence" | "token", labels: number) => ({
  model_type: "bert",
  architectures: [head === "sequence" ? "BertForSequenceClassification" : "BertForTokenClassification"],
  num_labels: labels,
  vocab_size: 24,
  hidden_size: 16,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  intermediate_size: 24,
  max_position_embeddings: 24,
  initializer_range: 0.1,
});

/** Ragged sequences [CLS]=1, tokens 4..23, [SEP]=2; label: is the first real token < 14? */
function sequenceTask(n: number, seed: number): EncodedTask & { kind: "sequence" } {
  const rng = new XorShift32(seed);
  const examples = Array.from({ length: n }, () => {
    const len = 2 + rng.int(7);
    const body = Array.from({ length: len }, () => 4 + rng.int(20));
    const ids = [1, ...body, 2];
    return { ids, typeIds: ids.map(() => 0), label: body[0]! < 14 ? 1 : 0 };
  });
  return { kind: "sequence", labels: labelMap(["no", "yes"]), examples, maxLength: 16, truncated: 0, pad: 0 };
}

/** Ragged tagging: words are single tokens; 4..7 begin an entity, 8..10 continue one, others O. */
function tokenTask(n: number, seed: number): EncodedTask & { kind: "token" } {
  const rng = new XorShift32(seed);
  const labels = labelMap(["O", "B-E", "I-E"]);
  const examples = Array.from({ length: n }, () => {
    const words: number[] = [];
    const tags: string[] = [];
    const len = 2 + rng.int(8);
    while (words.length < len) {
      if (rng.next() < 0.3) {
        words.push(4 + rng.int(4));
        tags.push("B-E");
        for (let k = rng.int(3); k > 0 && words.length < len; k--) {
          words.push(8 + rng.int(3));
          tags.push("I-E");
        }
      } else {
        words.push(11 + rng.int(13));
        tags.push("O");
      }
    }
    const ids = [1, ...words, 2];
    return { ids, typeIds: ids.map(() => 0), labels: [-100, ...tags.map((t) => labels.ids.get(t)!), -100], wordStarts: words.map((_, i) => i + 1), tags };
  });
  return { kind: "token", labels, examples, maxLength: 16, truncated: 0, pad: 0 };
}

describe("trainClassifier", () => {
  it("the loss falls and a separable sequence task is learned (> 90% held-out accuracy)", async () => {
    const m: Encoder = createEncoder(config("sequence", 2), { seed: 1 });
    const train = sequenceTask(96, 11);
    const res = await trainClassifier(m, train, { steps: 80, batchSize: 16, lr: 3e-3, warmup: 5, seed: 0 });
    const first = res.losses.slice(0, 5).reduce((a, b) => a + b) / 5;
    const last = res.losses.slice(-5).reduce((a, b) => a + b) / 5;
    expect(res.steps).toBe(80);
    expect(last).toBeLessThan(0.5 * first);
    expect(res.trainableParameters).toBe(m.numParameters());
    expect(res.tokens).toBeGreaterThan(0);
    expect(res.tokensPerSecond).toBeGreaterThan(0);
    const ev = await evaluateClassifier(m, sequenceTask(96, 12));
    expect(ev.kind).toBe("sequence");
    expect((ev as { accuracy: number }).accuracy).toBeGreaterThan(0.9);
    m.dispose();
  });

  it("trains only what is unfrozen: frozen weights stay bit-identical, the head moves", async () => {
    const m: Encoder = createEncoder(config("sequence", 2), { seed: 2 });
    m.freeze();
    for (const [n, p] of m.namedParameters()) if (n.startsWith("classifier")) p.unfreeze();
    const before = new Map(await Promise.all(m.namedParameters().map(async ([n, p]) => [n, Array.from(await p.value.data())] as const)));
    const res = await trainClassifier(m, sequenceTask(32, 5), { steps: 5, batchSize: 8, lr: 1e-2, seed: 1 });
    expect(res.trainableParameters).toBe(16 * 2 + 2);
    for (const [n, p] of m.namedParameters()) {
      const now = Array.from(await p.value.data());
      if (n.startsWith("classifier")) expect(now).not.toEqual(before.get(n));
      else expect(now, n).toEqual(before.get(n));
    }
    m.dispose();
  });

  it("stops after the current step when the signal aborts", async () => {
    const m: Encoder = createEncoder(config("sequence", 2), { seed: 3 });
    const ac = new AbortController();
    const res = await trainClassifier(m, sequenceTask(32, 6), { steps: 50, batchSize: 4, lr: 1e-3, signal: ac.signal, progress: (p) => p.step === 3 && ac.abort() });
    expect(res.aborted).toBe(true);
    expect(res.steps).toBe(3);
    expect(res.losses.length).toBe(3);
    m.dispose();
  });

  it("argument errors name the option", async () => {
    const m: Encoder = createEncoder(config("sequence", 2), { seed: 3 });
    const t = sequenceTask(8, 1);
    await expect(trainClassifier(m, t, { steps: 2, epochs: 1, batchSize: 4, lr: 1e-3 })).rejects.toThrow(/opts.steps \/ opts.epochs: expected exactly one of them, got both/);
    await expect(trainClassifier(m, t, { steps: 2, batchSize: 0, lr: 1e-3 })).rejects.toThrow(/opts.batchSize: expected a positive integer/);
    await expect(trainClassifier(m, tokenTask(4, 1), { steps: 2, batchSize: 2, lr: 1e-3 })).rejects.toThrow(/expected a token head for a token task, got a sequence head/);
    m.freeze();
    await expect(trainClassifier(m, t, { steps: 2, batchSize: 2, lr: 1e-3 })).rejects.toThrow(/every parameter is frozen/);
    m.dispose();
  });
});

describe("padded batches", () => {
  for (const kind of ["sequence", "token"] as const) {
    it(`${kind}: the padded batch loss equals the token-weighted mean of the unpadded losses`, async () => {
      const m: Encoder = createEncoder(config(kind, kind === "sequence" ? 2 : 3), { seed: 4 });
      const task = kind === "sequence" ? sequenceTask(6, 21) : tokenTask(6, 22);
      const rows = [0, 1, 2, 3, 4, 5];
      const b = padBatch(task, rows);
      expect(new Set(b.keyLengths).size).toBeGreaterThan(1); // really ragged
      const batched = noGrad(() => m.loss(b.ids, b.labels, { keyLengths: b.keyLengths, tokenTypeIds: b.tokenTypeIds }));
      const got = (await batched.value.data())[0]!;
      batched.release();
      let sum = 0;
      let count = 0;
      for (const r of rows) {
        const one = padBatch(task, [r]);
        const scored = kind === "sequence" ? 1 : (one.labels as number[][])[0]!.filter((l) => l !== -100).length;
        const l = noGrad(() => m.loss(one.ids, one.labels));
        sum += (await l.value.data())[0]! * scored;
        count += scored;
        l.release();
      }
      expect(Math.abs(got - sum / count)).toBeLessThan(2e-5);
      m.dispose();
    });
  }
});

describe("evaluateClassifier", () => {
  it("sequence: accuracy and macro-F1 equal the metric functions on one-at-a-time predictions", async () => {
    const m: Encoder = createEncoder(config("sequence", 2), { seed: 7 });
    const task = sequenceTask(23, 31);
    const ev = await evaluateClassifier(m, task, { batchSize: 5 });
    const gold: string[] = [];
    const pred: string[] = [];
    for (const e of task.examples) {
      const [p] = await predict(m, [e.ids]);
      pred.push(task.labels.names[p!]!);
      gold.push(task.labels.names[e.label]!);
    }
    expect(ev).toMatchObject({ kind: "sequence", accuracy: accuracy(gold, pred), macroF1: macroF1(gold, pred).macroF1, predictions: pred });
    m.dispose();
  });

  it("token: span F1 / precision / recall / word accuracy equal the metric functions on one-at-a-time predictions", async () => {
    const m: Encoder = createEncoder(config("token", 3), { seed: 8 });
    const task = tokenTask(19, 32);
    // a slightly trained model, so that it predicts some spans
    await trainClassifier(m, task, { steps: 15, batchSize: 8, lr: 5e-3 });
    const ev = await evaluateClassifier(m, task, { batchSize: 4 });
    const gold: string[][] = [];
    const pred: string[][] = [];
    for (const e of task.examples) {
      const p = await predict(m, [e.ids]);
      pred.push(wordPredictions(e, p, task.labels));
      gold.push(e.tags);
    }
    const f = spanF1(gold, pred);
    expect(f.predicted).toBeGreaterThan(0);
    expect(ev).toMatchObject({ kind: "token", spanF1: f.f1, precision: f.precision, recall: f.recall, accuracy: accuracy(gold.flat(), pred.flat()), predictions: pred });
    m.dispose();
  });
});
