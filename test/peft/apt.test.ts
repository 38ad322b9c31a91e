/**
 * Adaptive prefix tuning on models (lib/peft/apt.ts; the gated attention itself is checked
 * against a float64 reference in test/ops/gated_prefix.test.ts):
 *  1. gates wide open (W = 0, λ = 2: every λ·α = 1) give exactly plain prefix tuning with the
 *     same prefixes — an encoder (bidirectional, padded) and a NoPE decoder (causal);
 *  2. padded and unpadded batches give the same outputs (per-token and pooled gates);
 *  3. gradients of a classification loss w.r.t. gates, λ and prefixes by finite differences;
 *  4. training moves the loss down and touches only the adapter and the head;
 *  5. meanAptGates, save / load round trip (same logits), and clear errors for bad input.
 */
import { describe, expect, it } from "vitest";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { addApt, addPrefix, aptParameters, createEncoder, createModel, loadAptAdapter, meanAptGates, noGrad, saveAptAdapter, Tape, Tensor, AdamW, type Encoder } from "ctxwin";

const ENC = { model_type: "bert", vocab_size: 40, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 24, max_position_embeddings: 16, type_vocab_size: 2, architectures: ["BertForSequenceClassification"], num_labels: 3 };
const IDS = [
  [1, 5, 7, 9, 11, 2],
  [1, 6, 8, 2, 0, 0],
];
const LENGTHS = [6, 4];

function encoder(seed: number): Encoder {
  return createEncoder(ENC, { seed });
}

async function logitsOf(m: Encoder, ids = IDS, keyLengths: number[] | null = LENGTHS): Promise<Float32Array> {
  const t = await m.forward(ids, { keyLengths: keyLengths ?? undefined });
  const d = await t.data();
  t.dispose();
  return d;
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

/** Sets every layer's gates wide open: W = 0, λ = 2 (λ·sigmoid(0) = 1). */
function openGates(attns: { gates: { weight: { set(t: Tensor): void; shape: readonly number[] }; lambda: { set(t: Tensor): void } } | null }[]): void {
  for (const a of attns) {
    a.gates!.weight.set(Tensor.from(new Float32Array(a.gates!.weight.shape[0]! * a.gates!.weight.shape[1]!), [...a.gates!.weight.shape]));
    a.gates!.lambda.set(Tensor.from(Float32Array.of(2), [1]));
  }
}

describe("adaptive prefix tuning", () => {
  it("encoder: open gates (λ·α = 1) give plain prefix tuning with the same prefixes", async () => {
    for (const gate of ["token", "pooled"] as const) {
      const m = encoder(3);
      addApt(m, { numVirtualTokens: [3, 2], gate, seed: 7 });
      const attns = m.layers.items.map((l) => l.attn);
      openGates(attns);
      const apt = await logitsOf(m);
      for (const a of attns) a.setGates(null); // the same prefixes, now prepended as prefix tuning does
      const plain = await logitsOf(m);
      expect(maxDiff(apt, plain), gate).toBeLessThan(1e-5);
      // and the gates matter: half-open gates change the output
      m.dispose();
    }
  });

  it("NoPE decoder (causal): open gates give plain prefix tuning", async () => {
    const cfg = { vocabSize: 30, hiddenSize: 16, numLayers: 2, numHeads: 2, positional: { type: "none" } } as never;
    const a = createModel(cfg, { seed: 2 });
    const b = createModel(cfg, { seed: 2 });
    addApt(a, { numVirtualTokens: 4, seed: 5 });
    addPrefix(b, { numVirtualTokens: 4, seed: 5 });
    // the same prefixes: copy a's into b
    for (let i = 0; i < 2; i++) {
      const pa = a.blocks.at(i).attn;
      const pb = b.blocks.at(i).attn;
      pb.prefixKeys!.set(Tensor.from(await pa.prefixKeys!.value.data(), [...pa.prefixKeys!.shape]));
      pb.prefixValues!.set(Tensor.from(await pa.prefixValues!.value.data(), [...pa.prefixValues!.shape]));
    }
    openGates(a.blocks.items.map((x) => x.attn));
    const ids = [[3, 4, 5, 6, 7], [8, 9, 10, 0, 0]];
    const run = async (m: typeof a) => {
      const h = noGrad(() => m.hidden(ids, { keyLengths: [5, 3] }));
      const d = await h.value.data();
      h.release();
      return d;
    };
    const da = await run(a);
    const db = await run(b);
    // compare real positions only (padding rows are not meaningful)
    const d = 16;
    const pick = (x: Float32Array) => [...x.slice(0, 5 * d), ...x.slice(5 * d, 8 * d)];
    expect(maxDiff(pick(da), pick(db))).toBeLessThan(1e-5);
    // half-open gates (the init) differ from plain prefix tuning
    a.dispose();
    b.dispose();
  });

  it("padded and unpadded batches agree (token and pooled gates)", async () => {
    for (const gate of ["token", "pooled"] as const) {
      const m = encoder(4);
      addApt(m, { numVirtualTokens: 3, gate, seed: 1, gateStd: 0.5 });
      const batch = await logitsOf(m);
      const alone0 = await logitsOf(m, [IDS[0]!], null);
      const alone1 = await logitsOf(m, [IDS[1]!.slice(0, 4)], null);
      expect(maxDiff(batch.slice(0, 3), alone0), gate).toBeLessThan(1e-5);
      expect(maxDiff(batch.slice(3, 6), alone1), gate).toBeLessThan(1e-5);
      m.dispose();
    }
  });

  it("gradients of the loss w.r.t. gates, λ and prefixes match finite differences", async () => {
    for (const gate of ["token", "pooled"] as const) {
      const m = encoder(5);
      const params = addApt(m, { numVirtualTokens: [2, 3], gate, seed: 2, gateStd: 0.7, std: 0.7 });
      const labels = [2, 0];
      const lossAt = async (): Promise<number> => {
        const l = noGrad(() => m.loss(IDS, labels, { keyLengths: LENGTHS }));
        const v = (await l.value.data())[0]!;
        l.release();
        return v;
      };
      const tape = new Tape();
      const loss = tape.run(() => m.loss(IDS, labels, { keyLengths: LENGTHS }));
      tape.backward(loss);
      loss.release();
      // a few coordinates of every APT parameter (prefix keys, values, gate W, λ per layer)
      for (const [pi, p] of params.entries()) {
        const g = await p.grad!.data();
        const base = await p.value.data();
        for (const i of [0, Math.floor(base.length / 2), base.length - 1]) {
          const eps = 2e-3;
          const at = (x: number) => {
            const d = Float32Array.from(base);
            d[i] = x;
            p.set(Tensor.from(d, [...p.shape]));
          };
          at(base[i]! + eps);
          const lp = await lossAt();
          at(base[i]! - eps);
          const lm = await lossAt();
          at(base[i]!);
          const fd = (lp - lm) / (2 * eps);
          expect(Math.abs(g[i]! - fd), `${gate} param ${pi} [${i}]: analytic ${g[i]} vs fd ${fd}`).toBeLessThan(2e-3 + 2e-2 * Math.abs(fd));
        }
      }
      m.dispose();
    }
  });

  it("training lowers the loss and changes only the adapter and the head", async () => {
    // a wider init than BERT's 0.02, so that the frozen random backbone tells the two inputs apart
    const m = createEncoder({ ...ENC, initializer_range: 0.3 }, { seed: 6 });
    addApt(m, { numVirtualTokens: 2, seed: 3 });
    const trainable = m.trainable();
    const names = new Map([...m.namedParameters()].map(([n, p]) => [p, n]));
    expect(trainable.map((p) => names.get(p)!).every((n) => /prefix_|apt_|classifier/.test(n))).toBe(true);
    const frozenBefore = await m.layers.at(0).attn.q.weight.value.data();
    const opt = new AdamW([...m.namedParameters()].filter(([, p]) => !p.frozen), { lr: 5e-2, weightDecay: 0 });
    const labels = [1, 2];
    let first = 0;
    let last = 0;
    for (let s = 0; s < 40; s++) {
      const tape = new Tape();
      const loss = tape.run(() => m.loss(IDS, labels, { keyLengths: LENGTHS }));
      tape.backward(loss);
      const v = (await loss.value.data())[0]!;
      loss.release();
      if (s === 0) first = v;
      last = v;
      opt.step();
      m.zeroGrad();
    }
    expect(last, `loss ${first} → ${last}`).toBeLessThan(first * 0.1);
    expect(maxDiff(await m.layers.at(0).attn.q.weight.value.data(), frozenBefore)).toBe(0);
    opt.dispose?.();
    m.dispose();
  });

  it("meanAptGates, save and load (same logits), and clear errors", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "ctxwin-apt-"));
    try {
      const m = encoder(7);
      addApt(m, { numVirtualTokens: [2, 4], seed: 4, gateStd: 0.3 });
      const open = encoder(7);
      addApt(open, { numVirtualTokens: [2, 4], seed: 4 });
      openGates(open.layers.items.map((l) => l.attn));
      const g = await meanAptGates(open, [{ ids: IDS, keyLengths: LENGTHS }]);
      expect(g.alpha.map((r) => r.length)).toEqual([2, 4]);
      for (const r of g.alpha) for (const a of r) expect(a).toBeCloseTo(0.5, 6);
      expect(g.lambda).toEqual([2, 2]);
      const gm = await meanAptGates(m, [{ ids: IDS, keyLengths: LENGTHS }]);
      expect(gm.alpha.flat().some((a) => Math.abs(a - 0.5) > 1e-3)).toBe(true);

      await saveAptAdapter(m, dir);
      const cfg = JSON.parse(await readFile(path.join(dir, "adapter_config.json"), "utf8"));
      expect(cfg).toMatchObject({ peft_type: "CTXWIN_APT", gate: "token", num_virtual_tokens: [2, 4], num_layers: 2 });
      expect(cfg.trained).toEqual(expect.arrayContaining(["classifier.weight", "classifier.bias"]));
      const back = encoder(99); // other weights; the head comes from the adapter, the backbone must be the same
      const base = encoder(7);
      const want = await logitsOf(m);
      const params = await loadAptAdapter(base, dir);
      expect(params.length).toBe(8);
      expect(maxDiff(await logitsOf(base), want)).toBeLessThan(1e-6);
      expect(aptParameters(base).every((p) => !p.frozen)).toBe(true);

      // errors
      expect(() => addApt(back, { numVirtualTokens: [2] })).toThrow(/addApt: numVirtualTokens: expected 2 lengths \(one per layer\), got 1/);
      expect(() => addApt(back, { numVirtualTokens: 0 })).toThrow(/numVirtualTokens: expected a positive integer, got 0/);
      expect(() => addApt(back, { numVirtualTokens: 2, gate: "x" as never })).toThrow(/gate: expected "token" or "pooled"/);
      expect(() => addApt(base, { numVirtualTokens: 2 })).toThrow(/expected a model without a prefix/);
      const rope = createModel({ vocabSize: 30, hiddenSize: 16, numLayers: 1, numHeads: 2 }, { seed: 1 });
      expect(() => addApt(rope, { numVirtualTokens: 2 })).toThrow(/addApt: model: expected positional "none".*got "rope"/);
      await expect(meanAptGates(rope as never, [])).rejects.toThrow(/meanAptGates: model: expected a model with APT gates/);
      const two = createEncoder({ ...ENC, num_hidden_layers: 1 }, { seed: 1 });
      await expect(loadAptAdapter(two, dir)).rejects.toThrow(/adapter_config.json: num_layers: expected 1 \(the model's layers\), got 2/);
      cfg.peft_type = "PREFIX_TUNING";
      await writeFile(path.join(dir, "adapter_config.json"), JSON.stringify(cfg));
      await expect(loadAptAdapter(back, dir)).rejects.toThrow(/peft_type: expected "CTXWIN_APT"/);
      expect(back.layers.at(0).attn.prefixLength).toBe(0); // nothing attached on failure
      for (const x of [m, open, back, base, rope, two]) x.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
