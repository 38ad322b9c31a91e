/**
 * LoRA and prefix tuning (plain, per-layer lengths, MLP-reparameterised) on BERT / RoBERTa
 * encoders with classification heads, against peft 0.21 and finite differences:
 *   - adapters made by peft load in ctxwin with peft's logits (test/fixtures/peft-encoders/peft,
 *     scripts/peft-encoder-fixtures.py make), 1e-4 on the non-padding positions;
 *   - adapters saved by ctxwin (scripts/peft-encoder-export.mjs) give the logits peft computed
 *     after loading them (test/fixtures/peft-encoders/ctxwin, ... check), and saving them again
 *     reproduces them;
 *   - gradients of the loss w.r.t. every trainable tensor (LoRA pairs, prefixes, the projection's
 *     embedding and MLP, the head) against central differences along random directions;
 *   - a padded batch gives each sequence's unpadded outputs; trainable sets as PEFT's; errors.
 */
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { noGrad, Tape, Tensor, addLora, addPrefix, saveAdapter, parameterCounts, layerPrefixLengths, promptEmbeddings, createModel } from "ctxwin";
import { loadEncoder, type Encoder } from "../../dist/models/index.js";
import { prefixProjection } from "../../dist/peft/index.js";
import type { Parameter } from "../../dist/nn/index.js";
import { XorShift32 } from "../reference/rng.js";

const FIX = path.join(import.meta.dirname, "..", "fixtures");
const BASES = path.join(FIX, "encoders");
const PEFT_MADE = path.join(FIX, "peft-encoders", "peft");
const CTXWIN_MADE = path.join(FIX, "peft-encoders", "ctxwin");
const tmp = await mkdtemp(path.join(tmpdir(), "ctxwin-encoder-peft-"));
afterAll(() => rm(tmp, { recursive: true, force: true }));

interface Expected {
  base: string;
  input_ids: number[][];
  token_type_ids: number[][] | null;
  lengths: number[];
  logits: number[][] | number[][][];
}

/** Dotted names of the parameters that get gradients. */
const trainableNames = (m: Encoder): string[] => m.namedParameters().filter(([, p]) => !p.frozen).map(([n]) => n);
const readJson = async <T>(file: string): Promise<T> => JSON.parse(await readFile(file, "utf8")) as T;
const base = (name: string, opts: { adapter?: string } = {}): Promise<Encoder> => loadEncoder(path.join(BASES, name), { device: "cpu", ...opts });

async function logits(model: Encoder, ids: number[][], opts: { keyLengths?: number[]; tokenTypeIds?: number[][] } = {}): Promise<Float32Array> {
  using t = await model.forward(ids, opts);
  return t.data();
}

/** Max |got − want| over the sequence logits, or the token logits of non-padding positions. */
function maxDiff(got: Float32Array, want: Expected["logits"], lengths: number[]): number {
  let m = 0;
  if (Array.isArray(want[0]![0])) {
    const w = want as number[][][];
    const T = w[0]!.length;
    const K = w[0]![0]!.length;
    lengths.forEach((n, b) => {
      for (let t = 0; t < n; t++) for (let k = 0; k < K; k++) m = Math.max(m, Math.abs(got[(b * T + t) * K + k]! - w[b]![t]![k]!));
    });
  } else (want as number[][]).flat().forEach((v, i) => (m = Math.max(m, Math.abs(got[i]! - v))));
  return m;
}

async function fixtureDiff(dir: string, adapter = dir): Promise<number> {
  const e = await readJson<Expected>(path.join(dir, "expected.json"));
  const model = await base(e.base, { adapter });
  try {
    return maxDiff(await logits(model, e.input_ids, { keyLengths: e.lengths, tokenTypeIds: e.token_type_ids ?? undefined }), e.logits, e.lengths);
  } finally {
    model.dispose();
  }
}

// ---- finite differences ------------------------------------------------------------------------

async function lossValue(model: Encoder, ids: number[][], labels: number[] | number[][], keyLengths: number[]): Promise<number> {
  using t = noGrad(() => model.loss(ids, labels, { keyLengths }).detachValue());
  return (await t.data())[0]!;
}

async function setValues(p: Parameter, v: Float32Array): Promise<void> {
  p.set(Tensor.from(v, [...p.value.shape], { device: "cpu" }));
}

/**
 * For each parameter on its own: ⟨∂L/∂θ, U⟩ from the tape against (L(θ + εU) − L(θ − εU)) / 2ε,
 * U random normal. Returns the worst relative error.
 */
async function fdCheck(model: Encoder, params: Parameter[], ids: number[][], labels: number[] | number[][], keyLengths: number[], seed: number): Promise<number> {
  const rng = new XorShift32(seed);
  const tape = new Tape();
  const loss = tape.run(() => model.loss(ids, labels, { keyLengths }));
  tape.backward(loss);
  loss.release();
  tape.dispose();
  const grads = await Promise.all(params.map(async (p) => (p.grad ? await p.grad.data() : null)));
  model.zeroGrad();
  const eps = 1e-2;
  let worst = 0;
  for (const [i, p] of params.entries()) {
    const g = grads[i];
    expect(g, `${p.name}: no gradient`).not.toBeNull();
    const theta = Float32Array.from(await p.value.data());
    const u = rng.array(theta.length);
    let analytic = 0;
    for (let j = 0; j < u.length; j++) analytic += g![j]! * u[j]!;
    await setValues(p, theta.map((x, j) => x + eps * u[j]!));
    const plus = await lossValue(model, ids, labels, keyLengths);
    await setValues(p, theta.map((x, j) => x - eps * u[j]!));
    const minus = await lossValue(model, ids, labels, keyLengths);
    await setValues(p, theta);
    const numeric = (plus - minus) / (2 * eps);
    const err = Math.abs(analytic - numeric) / Math.max(Math.abs(numeric), 1e-2);
    worst = Math.max(worst, err);
    expect(err, `${p.name}: analytic ${analytic}, numeric ${numeric}`).toBeLessThan(3e-2);
  }
  return worst;
}

/** Random ids (no pad id 0/1, so RoBERTa's positions count every token) for a right-padded batch. */
function randomBatch(seed: number, lengths: number[], pad: number): { ids: number[][]; T: number } {
  const rng = new XorShift32(seed);
  const T = Math.max(...lengths);
  return { T, ids: lengths.map((n) => Array.from({ length: T }, (_, t) => (t < n ? 3 + Math.floor(rng.next() * 90) : pad))) };
}

/** Randomises every trainable weight (LoRA's B starts at zero: a zero B hides wrong A gradients). */
async function perturb(model: Encoder, seed: number): Promise<void> {
  const rng = new XorShift32(seed);
  for (const p of model.trainable()) {
    const v = await p.value.data();
    await setValues(p, v.map((x) => x + (rng.next() - 0.5) * 0.4));
  }
}

describe("PEFT fixtures (peft 0.21)", () => {
  it("adapters made by peft (LoRA; prefix with and without projection; BERT and RoBERTa heads) give peft's logits", async () => {
    const cases = (await readdir(PEFT_MADE)).sort();
    expect(cases.length).toBeGreaterThanOrEqual(5);
    for (const c of cases) {
      const d = await fixtureDiff(path.join(PEFT_MADE, c));
      console.log(`  peft → ctxwin ${c.padEnd(26)} ${d.toExponential(2)}`);
      expect(d, c).toBeLessThan(1e-4);
    }
  });

  it("adapters saved by ctxwin give the logits peft computed after loading them; saving again reproduces them", async () => {
    const cases = (await readdir(CTXWIN_MADE)).sort();
    expect(cases.length).toBeGreaterThanOrEqual(4);
    for (const c of cases) {
      const dir = path.join(CTXWIN_MADE, c);
      expect(await fixtureDiff(dir), c).toBeLessThan(1e-4);
      const e = await readJson<Expected>(path.join(dir, "expected.json"));
      const model = await base(e.base, { adapter: dir });
      const again = path.join(tmp, `again-${c}`);
      await saveAdapter(model, again, { baseModelNameOrPath: e.base });
      model.dispose();
      // a loaded projection adapter is its MLP's output (PEFT stores no MLP): saved back as a plain prefix
      const cfg = await readJson<Record<string, unknown>>(path.join(dir, "adapter_config.json"));
      if (cfg.prefix_projection) Object.assign(cfg, { prefix_projection: false, encoder_hidden_size: cfg.token_dim });
      expect(await readJson(path.join(again, "adapter_config.json"))).toEqual(cfg);
      const d = await fixtureDiff(dir, again);
      console.log(`  ctxwin → peft ${c.padEnd(26)} ${d.toExponential(2)}`);
      expect(d, `${c} (saved again)`).toBeLessThan(1e-4);
    }
  });
});

describe("a bare checkpoint with a classification adapter", () => {
  it("takes the adapter's head (SEQ_CLS / TOKEN_CLS, label count from its classifier) and gives the tuned model's logits", async () => {
    const ids = [[2, 7, 11, 5, 9], [3, 8, 6, 0, 0]];
    const keyLengths = [5, 3];
    for (const [kind, numLabels, model] of [["sequence", 3, "bert"], ["token", 4, "bert"], ["sequence", 2, "roberta"]] as const) {
      const tuned = await loadEncoder(path.join(BASES, model), { device: "cpu", head: { kind, numLabels }, seed: 5 });
      addLora(tuned, { r: 2, alpha: 4, targetModules: ["query", "value"], seed: 1 });
      // non-zero LoRA B, so the adapter changes the output
      for (const [n, p] of tuned.namedParameters()) if (/lora_B/.test(n)) p.set(Tensor.from(Float32Array.from({ length: p.shape.reduce((x, y) => x * y, 1) }, (_, i) => 0.05 * Math.sin(i + 1)), [...p.shape]));
      const dir = path.join(tmp, `bare-${model}-${kind}`);
      await saveAdapter(tuned, dir);
      const loaded = await loadEncoder(path.join(BASES, model), { device: "cpu", adapter: dir });
      expect(loaded.config.head, `${model} ${kind}`).toBe(kind);
      expect(loaded.config.numLabels, `${model} ${kind}`).toBe(numLabels);
      const [a, b] = [await logits(tuned, ids, { keyLengths }), await logits(loaded, ids, { keyLengths })];
      let m = 0;
      const rows = kind === "token" ? [...Array(ids.length * 5).keys()].filter((r) => r % 5 < keyLengths[Math.floor(r / 5)]!) : [0, 1];
      for (const r of rows) for (let l = 0; l < numLabels; l++) m = Math.max(m, Math.abs(a[r * numLabels + l]! - b[r * numLabels + l]!));
      expect(m, `${model} ${kind}`).toBeLessThan(1e-5);
      tuned.dispose();
      loaded.dispose();
    }
  });
});

describe("LoRA on encoders", () => {
  it("BERT: PEFT's trainable set (LoRA pairs incl. the pooler's dense, the classifier; not the pooler), gradients by finite differences", async () => {
    const model = await base("bert-seqcls");
    addLora(model, { r: 3, alpha: 5, targetModules: ["query", "value", "dense"], seed: 7 });
    const names = trainableNames(model);
    expect(names).toContain("bert.encoder.layer.1.attention.self.query.lora_A.weight");
    expect(names).toContain("bert.encoder.layer.0.intermediate.dense.lora_B.weight");
    expect(names).toContain("bert.pooler.dense.lora_A.weight");
    expect(names).toContain("classifier.weight");
    expect(names).not.toContain("bert.pooler.dense.weight");
    expect(names.filter((n) => !/lora_[AB]|^classifier\./.test(n))).toEqual([]);
    // 2 layers × (query, value, attention.output.dense, intermediate.dense, output.dense) + pooler
    expect(names.filter((n) => n.endsWith("lora_A.weight"))).toHaveLength(11);
    const counts = parameterCounts(model);
    expect(counts.trainable).toBe(model.trainable().reduce((n, p) => n + p.value.shape.reduce((a, b) => a * b, 1), 0));
    expect(counts.trainable).toBeLessThan(counts.total / 2);
    await perturb(model, 1);
    const { ids } = randomBatch(2, [7, 4, 5], 0);
    await fdCheck(model, model.trainable(), ids, [0, 2, 1], [7, 4, 5], 3);
    model.dispose();
  });

  it("RoBERTa: the head's dense is trained in full, never LoRA-targeted; token head: gradients by finite differences", async () => {
    const model = await base("roberta-seqcls");
    addLora(model, { r: 2, targetModules: ["dense"], seed: 1 });
    const names = trainableNames(model);
    expect(names).toContain("classifier.dense.weight");
    expect(names).toContain("classifier.out_proj.bias");
    expect(names.some((n) => n.startsWith("classifier.") && n.includes("lora"))).toBe(false);
    model.dispose();

    const tok = await base("bert-tokcls");
    addLora(tok, { r: 2, targetModules: ["key", "value"], seed: 2 });
    await perturb(tok, 3);
    const { ids } = randomBatch(4, [6, 3], 0);
    const labels = ids.map((r) => r.map((_, t) => t % 5));
    await fdCheck(tok, tok.trainable(), ids, labels, [6, 3], 5);
    tok.dispose();
  });
});

describe("prefix tuning on encoders", () => {
  it("trainable set: prefixes and the classifier (not the pooler); gradients by finite differences", async () => {
    const model = await base("bert-seqcls");
    addPrefix(model, { numVirtualTokens: 3, seed: 4, std: 0.5 });
    const names = trainableNames(model);
    expect(names.sort()).toEqual(
      ["bert.encoder.layer.0.attention.prefix_keys", "bert.encoder.layer.0.attention.prefix_values", "bert.encoder.layer.1.attention.prefix_keys", "bert.encoder.layer.1.attention.prefix_values", "classifier.bias", "classifier.weight"].sort(),
    );
    const { ids } = randomBatch(5, [5, 8], 0);
    await fdCheck(model, model.trainable(), ids, [1, 2], [5, 8], 6);
    model.dispose();
  });

  for (const [name, prefix] of [
    ["bert-tokcls", { numVirtualTokens: 3 }],
    ["roberta-seqcls", { numVirtualTokens: [2, 5] }],
    ["roberta-seqcls", { numVirtualTokens: 4, projection: { hiddenSize: 5 } }],
  ] as const) {
    it(`${name}, ${JSON.stringify(prefix)}: a padded batch gives each sequence's unpadded logits`, async () => {
      const model = await base(name);
      addPrefix(model, { ...prefix, seed: 8 });
      const pad = name.startsWith("roberta") ? 1 : 0;
      const lens = [9, 4, 6];
      const { ids, T } = randomBatch(9, lens, pad);
      const batched = await logits(model, ids, { keyLengths: lens });
      const K = model.config.numLabels;
      const token = model.config.head === "token";
      for (const [b, n] of lens.entries()) {
        const alone = await logits(model, [ids[b]!.slice(0, n)]);
        const rows = token ? n : 1;
        const off = token ? b * T * K : b * K;
        let m = 0;
        for (let i = 0; i < rows * K; i++) m = Math.max(m, Math.abs(alone[i]! - batched[off + i]!));
        expect(m, `sequence ${b}`).toBeLessThan(1e-5);
      }
      model.dispose();
    });
  }

  it("per-layer lengths: an array of equal lengths is the uniform prefix; each layer's length matters; the ctxwin format loads back; PEFT's format refuses them", async () => {
    const e = await readJson<Expected>(path.join(BASES, "bert-seqcls", "expected.json"));
    const run = async (m: Encoder) => logits(m, e.input_ids, { keyLengths: e.lengths, tokenTypeIds: e.token_type_ids ?? undefined });
    const uni = await base("bert-seqcls");
    addPrefix(uni, { numVirtualTokens: 3, seed: 2 });
    const arr = await base("bert-seqcls");
    addPrefix(arr, { numVirtualTokens: [3, 3], seed: 2 });
    expect(Array.from(await run(arr))).toEqual(Array.from(await run(uni)));
    uni.dispose();
    arr.dispose();

    const model = await base("bert-seqcls");
    addPrefix(model, { numVirtualTokens: [2, 5], seed: 3 });
    expect(layerPrefixLengths(model)).toEqual([2, 5]);
    await perturb(model, 4);
    const want = await run(model);
    // layer 1's prefix is used: dropping its last 3 positions changes the logits
    const cut = await base("bert-seqcls");
    addPrefix(cut, { numVirtualTokens: [2, 2], seed: 3 });
    const attn = (m: Encoder, l: number) => m.layers.at(l).attn;
    for (const l of [0, 1]) {
      const [k, v] = await Promise.all([attn(model, l).prefixKeys!.value.data(), attn(model, l).prefixValues!.value.data()]);
      const n = 2 * 4 * 8;
      attn(cut, l).setPrefix(Tensor.from(k.slice(0, n), [2, 4, 8], { device: "cpu" }), Tensor.from(v.slice(0, n), [2, 4, 8], { device: "cpu" }));
    }
    for (const p of model.namedParameters()) if (p[0].startsWith("classifier.")) cut.getParameter(p[0])!.set(Tensor.from(await p[1].value.data(), [...p[1].value.shape], { device: "cpu" }));
    const cutLogits = await run(cut);
    expect(Math.max(...Array.from(want, (x, i) => Math.abs(x - cutLogits[i]!)))).toBeGreaterThan(1e-3);
    cut.dispose();

    const peftDir = path.join(tmp, "per-layer-peft");
    await expect(saveAdapter(model, peftDir)).rejects.toMatchObject({ code: "ERR_ARG", message: expect.stringMatching(/saveAdapter: model: expected one prefix length in every layer .*got per-layer lengths \[2,5\]: save with \{ format: "ctxwin" \}/) });
    await expect(stat(peftDir)).rejects.toMatchObject({ code: "ENOENT" });
    const dir = path.join(tmp, "per-layer-ctxwin");
    await saveAdapter(model, dir, { format: "ctxwin" });
    const cfg = await readJson<Record<string, unknown>>(path.join(dir, "adapter_config.json"));
    expect(cfg).toMatchObject({ peft_type: "CTXWIN_PREFIX", format_version: 1, num_virtual_tokens: [2, 5], num_layers: 2, task_type: "SEQ_CLS", modules_to_save: ["classifier", "score"] });
    const loaded = await base("bert-seqcls", { adapter: dir });
    expect(layerPrefixLengths(loaded)).toEqual([2, 5]);
    expect(Array.from(await run(loaded))).toEqual(Array.from(want));
    loaded.dispose();
    const { ids } = randomBatch(6, [6, 3], 0);
    await fdCheck(model, model.trainable(), ids, [0, 1], [6, 3], 7);
    model.dispose();
  });
});

describe("prefix projection (P-tuning v2's MLP, PEFT prefix_projection=True)", () => {
  it("parameters with PEFT's names and shapes; gradients of embedding, MLP and head by finite differences; saves the MLP's output as prompt_embeddings", async () => {
    const model = await base("roberta-seqcls");
    addPrefix(model, { numVirtualTokens: 3, projection: { hiddenSize: 7 }, seed: 5 });
    const shapes = Object.fromEntries(model.namedParameters().filter(([, p]) => !p.frozen).map(([n, p]) => [n, p.value.shape.join("x")]));
    expect(shapes).toMatchObject({
      "prefix_encoder.embedding.weight": "3x32",
      "prefix_encoder.transform.0.weight": "7x32",
      "prefix_encoder.transform.0.bias": "7",
      "prefix_encoder.transform.2.weight": "128x7",
      "prefix_encoder.transform.2.bias": "128",
      "classifier.dense.weight": "32x32",
    });
    expect(Object.keys(shapes).every((n) => n.startsWith("prefix_encoder.") || n.startsWith("classifier."))).toBe(true);
    expect(layerPrefixLengths(model)).toEqual([3, 3]);
    const { ids } = randomBatch(10, [7, 5], 1);
    await fdCheck(model, model.trainable(), ids, [2, 0], [7, 5], 11);

    // the projection's output is what is saved and what a loaded adapter prepends
    const pe = await promptEmbeddings(model);
    expect(pe.shape).toEqual([3, 128]);
    const proj = prefixProjection(model)!;
    const [emb, w1, b1, w2, b2] = await Promise.all([proj.embedding, proj.w1, proj.b1, proj.w2, proj.b2].map((p) => p.value.data()));
    let worst = 0;
    for (let p = 0; p < 3; p++) {
      const h = Array.from({ length: 7 }, (_, j) => Math.tanh(b1![j]! + Array.from({ length: 32 }, (_, i) => w1![j * 32 + i]! * emb![p * 32 + i]!).reduce((a, b) => a + b, 0)));
      for (let o = 0; o < 128; o++) worst = Math.max(worst, Math.abs(pe.data[p * 128 + o]! - (b2![o]! + h.reduce((a, x, j) => a + x * w2![o * 7 + j]!, 0))));
    }
    expect(worst).toBeLessThan(1e-5);
    const e = await readJson<Expected>(path.join(BASES, "roberta-seqcls", "expected.json"));
    const want = await logits(model, e.input_ids, { keyLengths: e.lengths });
    const dir = path.join(tmp, "proj");
    await saveAdapter(model, dir);
    expect(await readJson(path.join(dir, "adapter_config.json"))).toMatchObject({ peft_type: "PREFIX_TUNING", prefix_projection: true, encoder_hidden_size: 7, num_virtual_tokens: 3, token_dim: 32, num_attention_heads: 4 });
    const loaded = await base("roberta-seqcls", { adapter: dir });
    const got = await logits(loaded, e.input_ids, { keyLengths: e.lengths });
    expect(Math.max(...Array.from(want, (x, i) => Math.abs(x - got[i]!)))).toBeLessThan(1e-5);
    loaded.dispose();
    model.dispose();
  });
});

describe("errors", () => {
  it("bad prefix options name the argument", async () => {
    const model = await base("bert-seqcls");
    const bad: [unknown, RegExp][] = [
      [{ numVirtualTokens: [2, 3, 4] }, /addPrefix: numVirtualTokens: expected one length per layer \(2\), got an array of 3/],
      [{ numVirtualTokens: [2, 0] }, /addPrefix: numVirtualTokens\[1\]: expected a positive integer, got 0/],
      [{ numVirtualTokens: 1.5 }, /addPrefix: numVirtualTokens: expected a positive integer or one per layer, got 1\.5/],
      [{ numVirtualTokens: 2, projection: {} }, /addPrefix: projection\.hiddenSize: expected a positive integer .*got undefined/],
      [{ numVirtualTokens: 2, projection: { hiddenSize: 0 } }, /addPrefix: projection\.hiddenSize: expected a positive integer .*got 0/],
      [{ numVirtualTokens: [2, 2], projection: { hiddenSize: 4 } }, /addPrefix: numVirtualTokens: expected one length for every layer with projection/],
    ];
    for (const [opts, re] of bad) expect(() => addPrefix(model, opts as never)).toThrow(re);
    expect(model.trainable().length).toBe(model.parameters().length); // nothing frozen by a refused call
    addPrefix(model, { numVirtualTokens: 2 });
    expect(() => addPrefix(model, { numVirtualTokens: 2 })).toThrow(/addPrefix: model: already has a prefix/);
    model.dispose();
    const lm = createModel({ family: "llama", vocabSize: 16, hiddenSize: 8, numLayers: 2, numHeads: 2 }, { device: "cpu" });
    expect(() => addPrefix(lm, { numVirtualTokens: 2, projection: { hiddenSize: 4 } })).toThrow(/addPrefix: projection: expected an Encoder/);
    addPrefix(lm, { numVirtualTokens: [1, 3] });
    expect(layerPrefixLengths(lm)).toEqual([1, 3]);
    const lmDir = path.join(tmp, "lm-per-layer");
    await expect(saveAdapter(lm, lmDir)).rejects.toMatchObject({ code: "ERR_ARG", message: expect.stringMatching(/saveAdapter: model: expected one prefix length in every layer .*got per-layer lengths \[1,3\]/) });
    await expect(stat(lmDir)).rejects.toMatchObject({ code: "ENOENT" });
    lm.dispose();
  });

  it("adapters that do not fit the model, or malformed ctxwin files, name the file and field", async () => {
    await expect(base("roberta-seqcls", { adapter: path.join(PEFT_MADE, "bert-seqcls-lora") })).rejects.toMatchObject({ code: "ERR_FORMAT", message: expect.stringMatching(/modules: expected Linear modules of the model .*bert\.encoder\.layer\.0/) });
    await expect(base("roberta-seqcls", { adapter: path.join(PEFT_MADE, "bert-seqcls-prefix-proj") })).rejects.toMatchObject({ code: "ERR_FORMAT", message: expect.stringMatching(/modules_to_save classifier\.bias: expected a weight of the model's head \(classifier\.dense\.weight/) });
    await expect(base("bert-tokcls", { adapter: path.join(PEFT_MADE, "bert-seqcls-prefix-proj") })).rejects.toMatchObject({ code: "ERR_FORMAT", message: expect.stringMatching(/modules_to_save classifier\.(weight|bias): expected shape \[5(, 32)?\], got \[3(, 32)?\]/) });
    const dir = path.join(tmp, "bad-ctxwin");
    const model = await base("bert-seqcls");
    addPrefix(model, { numVirtualTokens: [1, 2] });
    await saveAdapter(model, dir, { format: "ctxwin" });
    model.dispose();
    const cfgFile = path.join(dir, "adapter_config.json");
    const cfg = await readJson<Record<string, unknown>>(cfgFile);
    await writeFile(cfgFile, JSON.stringify({ ...cfg, num_virtual_tokens: [1] }));
    await expect(base("bert-seqcls", { adapter: dir })).rejects.toMatchObject({ code: "ERR_FORMAT", message: expect.stringMatching(/adapter_config\.json: num_virtual_tokens: expected an array of 2 positive integers \(one per layer\), got \[1\]/) });
    await writeFile(cfgFile, JSON.stringify({ ...cfg, num_virtual_tokens: [1, 3] }));
    await expect(base("bert-seqcls", { adapter: dir })).rejects.toMatchObject({ code: "ERR_FORMAT", message: expect.stringMatching(/adapter_model\.safetensors: tensor "prefix\.1\.keys": expected shape \[3, 4, 8\].*got \[2, 4, 8\]/) });
  });
});
