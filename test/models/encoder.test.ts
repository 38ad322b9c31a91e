/**
 * BERT / RoBERTa encoders against transformers 5.17 (fixtures made by scripts/encoder-fixtures.py:
 * random-weight checkpoints saved with save_pretrained, and transformers' outputs for a
 * right-padded batch of 2): last hidden states, pooler outputs and head logits within 1e-4 (abs)
 * on the non-padding positions; save → load round trip; padding changes nothing; bad inputs.
 */
import { mkdtemp, readFile, rm, writeFile, cp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { noGrad, CtxwinError, Tape, memory, synchronize } from "ctxwin";
import { loadEncoder, saveModel, loadModel, createEncoder, loadDecoderClassifier, saveDecoderClassifier, type Encoder } from "../../dist/models/index.js";

const FIX = path.join(import.meta.dirname, "..", "fixtures", "encoders");

interface Expected {
  input_ids: number[][];
  attention_mask: number[][];
  token_type_ids: number[][] | null;
  lengths: number[];
  last_hidden_state: number[][][];
  pooler_output?: number[][];
  logits?: number[][] | number[][][];
}

async function expected(name: string): Promise<Expected> {
  return JSON.parse(await readFile(path.join(FIX, name, "expected.json"), "utf8")) as Expected;
}

/** Max |a − b| over the non-padding positions of [B, T, d] data (flat a) vs nested b. */
function maxDiffValid(a: Float32Array, b: number[][][], lengths: number[]): number {
  const T = b[0]!.length;
  const d = b[0]![0]!.length;
  let m = 0;
  b.forEach((seq, i) => {
    for (let t = 0; t < lengths[i]!; t++) for (let j = 0; j < d; j++) m = Math.max(m, Math.abs(a[(i * T + t) * d + j]! - seq[t]![j]!));
  });
  return m;
}

function maxDiff2(a: Float32Array, b: number[][]): number {
  const d = b[0]!.length;
  let m = 0;
  b.forEach((row, i) => row.forEach((v, j) => (m = Math.max(m, Math.abs(a[i * d + j]! - v)))));
  return m;
}

async function outputs(model: Encoder, e: Expected) {
  const opts = { keyLengths: e.lengths, tokenTypeIds: e.token_type_ids ?? undefined };
  return noGrad(async () => {
    const h = model.hidden(e.input_ids, opts);
    const hidden = await h.value.data();
    h.release();
    let pooled: Float32Array | null = null;
    if (model.pooler) {
      const p = model.pooled(e.input_ids, opts);
      pooled = await p.value.data();
      p.release();
    }
    let logits: Float32Array | null = null;
    if (model.classifier) {
      const l = model.logits(e.input_ids, opts);
      logits = await l.value.data();
      l.release();
    }
    return { hidden, pooled, logits };
  });
}

const TOL = 1e-4;
const report: Record<string, number> = {};

describe("encoders vs transformers (test/fixtures/encoders)", () => {
  for (const name of ["bert", "bert-tanh", "roberta", "bert-seqcls", "bert-tokcls", "roberta-seqcls"]) {
    it(`${name}: hidden states, pooler output and logits within ${TOL}`, async () => {
      const e = await expected(name);
      const model = await loadEncoder(path.join(FIX, name));
      try {
        const o = await outputs(model, e);
        const dh = maxDiffValid(o.hidden, e.last_hidden_state, e.lengths);
        report[`${name} hidden`] = dh;
        expect(dh).toBeLessThan(TOL);
        if (e.pooler_output) {
          expect(o.pooled).not.toBeNull();
          const dp = maxDiff2(o.pooled!, e.pooler_output);
          report[`${name} pooled`] = dp;
          expect(dp).toBeLessThan(TOL);
        }
        if (e.logits) {
          expect(o.logits).not.toBeNull();
          const dl = Array.isArray(e.logits[0]![0]) ? maxDiffValid(o.logits!, e.logits as number[][][], e.lengths) : maxDiff2(o.logits!, e.logits as number[][]);
          report[`${name} logits`] = dl;
          expect(dl).toBeLessThan(TOL);
        }
      } finally {
        model.dispose();
      }
    });
  }

  for (const name of ["llama-seqcls", "llama-tokcls"]) {
    it(`${name}: HF decoder classification checkpoint, logits within ${TOL}`, async () => {
      const e = await expected(name);
      const head = await loadDecoderClassifier(path.join(FIX, name));
      try {
        expect(head.kind).toBe(name === "llama-seqcls" ? "sequence" : "token");
        const l = noGrad(() => head.logits(e.input_ids, { keyLengths: e.lengths }));
        const got = await l.value.data();
        l.release();
        const dl = head.kind === "token" ? maxDiffValid(got, e.logits as number[][][], e.lengths) : maxDiff2(got, e.logits as number[][]);
        report[`${name} logits`] = dl;
        expect(dl).toBeLessThan(TOL);
      } finally {
        head.model.dispose();
        head.dispose();
      }
    });
  }

  it("saveDecoderClassifier: an HF classification checkpoint that loads back to the same logits", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "ctxwin-dec-"));
    try {
      for (const name of ["llama-seqcls", "llama-tokcls"]) {
        const e = await expected(name);
        const a = await loadDecoderClassifier(path.join(FIX, name));
        await saveDecoderClassifier(a, path.join(dir, name));
        const b = await loadDecoderClassifier(path.join(dir, name));
        const la = noGrad(() => a.logits(e.input_ids, { keyLengths: e.lengths }));
        const lb = noGrad(() => b.logits(e.input_ids, { keyLengths: e.lengths }));
        expect(Array.from(await lb.value.data())).toEqual(Array.from(await la.value.data()));
        la.release();
        lb.release();
        const cfg = JSON.parse(await readFile(path.join(dir, name, "config.json"), "utf8"));
        const orig = JSON.parse(await readFile(path.join(FIX, name, "config.json"), "utf8"));
        expect(cfg.architectures).toEqual(orig.architectures);
        expect(Object.keys(cfg.id2label).length).toBe(Object.keys(orig.id2label).length);
        for (const h of [a, b]) {
          h.model.dispose();
          h.dispose();
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("prints the parity numbers", () => {
    console.log(
      "encoder parity, max abs diff vs transformers:\n" +
        Object.entries(report)
          .map(([k, v]) => `  ${k.padEnd(24)} ${v.toExponential(2)}`)
          .join("\n"),
    );
  });

  it("saveModel writes a checkpoint that loads back to the same outputs (names, config)", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "ctxwin-enc-"));
    try {
      for (const name of ["roberta-seqcls", "bert-tokcls"]) {
        const e = await expected(name);
        const a = await loadEncoder(path.join(FIX, name));
        await saveModel(a, path.join(dir, name));
        const b = await loadEncoder(path.join(dir, name));
        const oa = await outputs(a, e);
        const ob = await outputs(b, e);
        expect(ob.logits).toEqual(oa.logits);
        const cfg = JSON.parse(await readFile(path.join(dir, name, "config.json"), "utf8"));
        const orig = JSON.parse(await readFile(path.join(FIX, name, "config.json"), "utf8"));
        expect(cfg.architectures).toEqual(orig.architectures);
        expect(cfg.id2label).toEqual(orig.id2label);
        expect(b.namedParameters().map(([n]) => n)).toEqual(a.namedParameters().map(([n]) => n));
        a.dispose();
        b.dispose();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a bare checkpoint loads under a new head (backbone from the file, head seeded)", async () => {
    const e = await expected("bert");
    const bare = await loadEncoder(path.join(FIX, "bert"));
    const seq = await loadEncoder(path.join(FIX, "bert"), { head: { kind: "sequence", numLabels: 4 }, seed: 3 });
    const tok = await loadEncoder(path.join(FIX, "bert"), { head: { kind: "token", numLabels: 7 } });
    expect(seq.namedParameters().some(([n]) => n === "bert.pooler.dense.weight")).toBe(true);
    expect(tok.pooler).toBeNull();
    const ob = await outputs(bare, e);
    const os = await outputs(seq, e);
    expect(maxDiffValid(os.hidden, e.last_hidden_state, e.lengths)).toBeLessThan(TOL);
    expect(os.logits!.length).toBe(2 * 4);
    expect(Array.from(os.pooled!)).toEqual(Array.from(ob.pooled!));
    const ot = await outputs(tok, e);
    expect(ot.logits!.length).toBe(2 * 9 * 7);
    for (const m of [bare, seq, tok]) m.dispose();
    // a head checkpoint with another label count asked for: the backbone loads, the head is new
    const five = await loadEncoder(path.join(FIX, "roberta-seqcls"), { head: { kind: "sequence", numLabels: 5 } });
    expect(five.classifier!.weight.shape).toEqual([5, 32]);
    expect(five.classifierDense).not.toBeNull();
    five.dispose();
    // a bare model from a checkpoint without a pooler: the backbone loads, the pooler is new
    const e2 = await expected("roberta-seqcls");
    const noHead = await loadEncoder(path.join(FIX, "roberta-seqcls"), { head: { kind: "none" } });
    expect(noHead.pooler).not.toBeNull();
    expect(noHead.namedParameters()[0]![0]).toBe("embeddings.word_embeddings.weight");
    expect(maxDiffValid((await outputs(noHead, e2)).hidden, e2.last_hidden_state, e2.lengths)).toBeLessThan(TOL);
    noHead.dispose();
  });

  it("padding changes nothing: each sequence alone gives its padded-batch states", async () => {
    const e = await expected("roberta");
    const model = await loadEncoder(path.join(FIX, "roberta"));
    const batch = await outputs(model, e);
    const T = e.input_ids[0]!.length;
    const d = 32;
    for (let b = 0; b < 2; b++) {
      const n = e.lengths[b]!;
      const alone = await outputs(model, { ...e, input_ids: [e.input_ids[b]!.slice(0, n)], lengths: [n], token_type_ids: null });
      const want = alone.hidden;
      const got = batch.hidden.slice(b * T * d, (b * T + n) * d);
      let m = 0;
      for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(want[i]! - got[i]!));
      expect(m).toBeLessThan(1e-5);
    }
    model.dispose();
  });

  it("sliced training step (Tape.runSliced on lossSteps) equals the synchronous one and leaks nothing", async () => {
    const e = await expected("bert-seqcls");
    const model = await loadEncoder(path.join(FIX, "bert-seqcls"));
    const opts = { keyLengths: e.lengths, tokenTypeIds: e.token_type_ids ?? undefined };
    const grads = async (sliced: boolean) => {
      const tape = new Tape();
      const loss = sliced ? await tape.runSliced(model.lossSteps(e.input_ids, [2, 0], opts)) : tape.run(() => model.loss(e.input_ids, [2, 0], opts));
      await tape.backwardSliced(loss);
      const v = (await loss.value.data())[0]!;
      loss.release();
      const g = await model.getParameter("bert.encoder.layer.0.attention.self.query.weight")!.grad!.data();
      model.zeroGrad();
      return { v, g };
    };
    await synchronize();
    const before = memory().cpu!.tensors;
    const a = await grads(false);
    const b = await grads(true);
    expect(b.v).toBe(a.v);
    expect(Array.from(b.g)).toEqual(Array.from(a.g));
    noGrad(() => model.pooled(e.input_ids, opts)).release();
    await synchronize();
    expect(memory().cpu!.tensors).toBe(before);
    model.dispose();
  });

  it("bad inputs and configs are CtxwinErrors naming the argument or field", async () => {
    const model = createEncoder({ model_type: "bert", vocab_size: 50, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 8, type_vocab_size: 2 });
    const run = (f: () => unknown) => {
      try {
        noGrad(f);
      } catch (err) {
        expect(err).toBeInstanceOf(CtxwinError);
        return (err as Error).message;
      }
      throw new Error("expected a CtxwinError");
    };
    expect(run(() => model.hidden([[1, 2, 3]], { tokenTypeIds: [[0, 2, 0]] }))).toMatch(/tokenTypeIds\[0\]\[1\].*\[0, 2\).*got 2/);
    expect(run(() => model.hidden([[1, 2, 3]], { tokenTypeIds: [[0, 1]] }))).toMatch(/tokenTypeIds\[0\]: expected 3 ids/);
    expect(run(() => model.hidden([[1, 2, 3]], { keyLengths: [4] }))).toMatch(/keyLengths\[0\]: expected an integer in \[1, 3\]/);
    expect(run(() => model.hidden([[1, 2, 3], [1, 2]]))).toMatch(/ids: expected every row to have 3 ids/);
    expect(run(() => model.hidden([[1, 2, 99]]))).toMatch(/ids: expected integers in \[0, 50\).*99/);
    expect(run(() => model.hidden([Array.from({ length: 9 }, () => 1)]))).toMatch(/ids: expected at most 8 positions/);
    expect(run(() => model.logits([[1, 2]]))).toMatch(/classification head/);
    const seq = createEncoder({ model_type: "bert", vocab_size: 50, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, architectures: ["BertForSequenceClassification"], num_labels: 3 });
    expect(run(() => seq.loss([[1, 2]], [3]))).toMatch(/labels\[0\]: expected an integer in \[0, 3\)/);
    expect(run(() => seq.loss([[1, 2]], [0, 1]))).toMatch(/labels: expected 1 entries/);
    expect(() => createEncoder({ model_type: "bert", vocab_size: 50, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 3, intermediate_size: 32 })).toThrow(/num_attention_heads: expected a divisor of hidden_size = 16/);
    expect(() => createEncoder({ model_type: "bert", vocab_size: 50, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, hidden_act: "relu" })).toThrow(/hidden_act: expected "gelu", "gelu_new" or "gelu_pytorch_tanh", got "relu"/);
    expect(() => createEncoder({ model_type: "bert", vocab_size: 50, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, position_embedding_type: "relative_key" })).toThrow(/position_embedding_type/);
    expect(() => createEncoder({ model_type: "bert", hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32 })).toThrow(/vocab_size: expected a positive integer, got nothing/);
    model.dispose();
    seq.dispose();
  });

  it("file errors: a missing tensor, a wrong shape, loadModel on an encoder", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "ctxwin-enc-"));
    try {
      await cp(path.join(FIX, "bert"), path.join(dir, "a"), { recursive: true });
      const cfg = JSON.parse(await readFile(path.join(dir, "a", "config.json"), "utf8"));
      await expect(loadModel(path.join(dir, "a"))).rejects.toThrow(/model_type: expected a decoder.*"bert".*loadEncoder/);
      await writeFile(path.join(dir, "a", "config.json"), JSON.stringify({ ...cfg, intermediate_size: 48 }));
      await expect(loadEncoder(path.join(dir, "a"))).rejects.toThrow(/tensor encoder\.layer\.0\.intermediate\.dense\.weight: expected shape \[48, 32\], got \[64, 32\]/);
      await writeFile(path.join(dir, "a", "config.json"), JSON.stringify({ ...cfg, num_hidden_layers: 3 }));
      await expect(loadEncoder(path.join(dir, "a"))).rejects.toThrow(/tensor encoder\.layer\.2\..*no such tensor/);
      await expect(loadEncoder(path.join(dir, "a"), { head: { kind: "seq" as never } })).rejects.toThrow(/opts\.head\.kind/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
