/**
 * Token packing (lib/nn/packing.ts) and the packed encoder forward:
 *  1. pack / unpack / meanPerSequence against index loops written here, and their gradients
 *     (pack's is a scatter of the upstream rows, unpack's a gather) against the same loops;
 *  2. an encoder run packed (default) and unpacked (pack: false) gives the same logits at every
 *     real position and the same gradient for every trainable parameter — BERT and RoBERTa,
 *     sequence and token heads, plain, LoRA, prefix tuning (per-layer lengths, MLP prefix) and APT
 *     (token and pooled gates) — so packing changes only which padding rows are computed;
 *  3. a decoder's loss packed (right padding from keyLengths or from the targets: positions after
 *     a row's last scored target) and unpacked: the same loss and gradients, for RoPE (GQA),
 *     ALiBi (BLOOM), a sliding window, Qwen2 biases, NoPE, with LoRA, prefix tuning and APT; and
 *     hidden() at real positions; activation checkpointing (no packing) still agrees;
 *  4. errors: bad lengths, wrong shapes, a packed call with a cache or other keyLengths.
 */
import { describe, expect, it } from "vitest";
import { addApt, addLora, addPrefix, createEncoder, createModel, F, noGrad, Tape, Tensor, Variable, type CausalLM, type Encoder } from "ctxwin";
import { TokenPacking } from "../../dist/nn/packing.js";
import { Rng } from "../../dist/util/rng.js";

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};
const maxAbs = (a: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
};

function randomData(rng: Rng, n: number): Float32Array {
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = rng.normal();
  return d;
}

describe("TokenPacking", () => {
  it("pack, unpack and per-sequence means match index loops; so do their gradients", async () => {
    const rng = new Rng(11);
    const [B, T, d] = [3, 7, 5];
    const lengths = [7, 2, 5];
    const N = 14;
    using pk = new TokenPacking(B, T, lengths, "cpu");
    expect(pk.N).toBe(N);
    expect(pk.hasPadding).toBe(true);
    const xd = randomData(rng, B * T * d);
    const x = new Variable(Tensor.from(xd, [B, T, d]), { requiresGrad: true });
    const c = randomData(rng, N * d); // upstream gradient of pack
    // pack: rows (b, t < lengths[b]) in order
    const want = new Float32Array(N * d);
    let r = 0;
    for (let b = 0; b < B; b++) for (let t = 0; t < lengths[b]!; t++, r++) for (let i = 0; i < d; i++) want[r * d + i] = xd[(b * T + t) * d + i]!;
    const tape = new Tape();
    const packed = tape.run(() => pk.pack(x));
    expect(packed.shape).toEqual([N, d]);
    expect(maxDiff(await packed.value.data(), want)).toBe(0);
    // d/dx Σ c ⊙ pack(x): c at the real rows, 0 at padding
    using cT = Tensor.from(c, [N, d]);
    const loss = tape.run(() => {
      return F.sum(F.mul(packed, new Variable(cT.reshape([N, d]))));
    });
    tape.backward(loss);
    const gx = await x.grad!.data();
    const wantG = new Float32Array(B * T * d);
    r = 0;
    for (let b = 0; b < B; b++) for (let t = 0; t < lengths[b]!; t++, r++) for (let i = 0; i < d; i++) wantG[(b * T + t) * d + i] = c[r * d + i]!;
    expect(maxDiff(gx, wantG)).toBeLessThan(1e-6);
    loss.release();
    packed.release();

    // unpack: zeros at padding, and its gradient gathers the real rows back
    const ud = randomData(rng, N * d);
    const u = new Variable(Tensor.from(ud, [N, d]), { requiresGrad: true });
    const e = randomData(rng, B * T * d);
    const tape2 = new Tape();
    const un = tape2.run(() => pk.unpack(u));
    expect(un.shape).toEqual([B, T, d]);
    const got = await un.value.data();
    r = 0;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        for (let i = 0; i < d; i++) expect(got[(b * T + t) * d + i]).toBe(t < lengths[b]! ? ud[(r * d) + i]! : 0);
        if (t < lengths[b]!) r++;
      }
    }
    using eT = Tensor.from(e, [B, T, d]);
    const loss2 = tape2.run(() => F.sum(F.mul(un, new Variable(eT.reshape([B, T, d])))));
    tape2.backward(loss2);
    const gu = await u.grad!.data();
    const wantU = new Float32Array(N * d);
    r = 0;
    for (let b = 0; b < B; b++) for (let t = 0; t < lengths[b]!; t++, r++) for (let i = 0; i < d; i++) wantU[r * d + i] = e[(b * T + t) * d + i]!;
    expect(maxDiff(gu, wantU)).toBeLessThan(1e-6);
    loss2.release();
    un.release();

    // per-sequence means of packed rows (float64 here)
    const mean = noGrad(() => pk.meanPerSequence(new Variable(Tensor.from(ud, [N, d]))));
    const gm = await mean.value.data();
    r = 0;
    for (let b = 0; b < B; b++) {
      const acc = new Float64Array(d);
      for (let t = 0; t < lengths[b]!; t++, r++) for (let i = 0; i < d; i++) acc[i]! += ud[r * d + i]!;
      for (let i = 0; i < d; i++) expect(Math.abs(gm[b * d + i]! - acc[i]! / lengths[b]!)).toBeLessThan(1e-6);
    }
    mean.release();
    x.release();
    u.release();
  });

  it("rejects bad lengths and shapes with the argument named", () => {
    expect(() => new TokenPacking(2, 4, [4], "cpu")).toThrow(/lengths: expected 2 lengths/);
    expect(() => new TokenPacking(2, 4, [4, 0], "cpu")).toThrow(/lengths\[1\]: expected an integer in \[1, 4\]/);
    expect(() => new TokenPacking(2, 4, [5, 1], "cpu")).toThrow(/lengths\[0\]/);
    using pk = new TokenPacking(2, 4, [4, 1], "cpu");
    expect(pk.hasPadding).toBe(true);
    const x = new Variable(Tensor.from(new Float32Array(2 * 3 * 2), [2, 3, 2]));
    expect(() => pk.pack(x)).toThrow(/TokenPacking.pack: x: expected shape \[2, 4, \.\.\.\]/);
    expect(() => pk.unpack(x)).toThrow(/TokenPacking.unpack: x: expected 5 rows/);
    x.release();
    using full = new TokenPacking(2, 3, [3, 3], "cpu");
    expect(full.hasPadding).toBe(false);
  });
});

// ------------------------------------------------------------------ packed encoder forward

const BERT = { model_type: "bert", vocab_size: 50, hidden_size: 24, num_hidden_layers: 2, num_attention_heads: 3, intermediate_size: 40, max_position_embeddings: 32, type_vocab_size: 2, initializer_range: 0.2 };
const ROBERTA = { ...BERT, model_type: "roberta", pad_token_id: 1, bos_token_id: 0, eos_token_id: 2, max_position_embeddings: 34 };
// odd lengths, one full row, one of length 1
const LENGTHS = [9, 4, 1, 6];
const T = 9;

function batch(rng: Rng, pad: number): number[][] {
  return LENGTHS.map((n) => Array.from({ length: T }, (_, t) => (t < n ? 3 + Math.floor(rng.next() * 45) : pad)));
}

type Setup = (m: Encoder) => void;
const SETUPS: [string, Setup][] = [
  ["full", () => {}],
  ["lora", (m) => void addLora(m, { r: 2, alpha: 4, targetModules: ["query", "value", "dense"], seed: 3 })],
  ["prefix", (m) => void addPrefix(m, { numVirtualTokens: [3, 2], seed: 4, std: 0.5 })],
  ["prefix-mlp", (m) => void addPrefix(m, { numVirtualTokens: 3, seed: 4, projection: { hiddenSize: 8 } })],
  ["apt-token", (m) => void addApt(m, { numVirtualTokens: [2, 3], gate: "token", seed: 5, gateStd: 0.5, std: 0.5 })],
  ["apt-pooled", (m) => void addApt(m, { numVirtualTokens: 3, gate: "pooled", seed: 5, gateStd: 0.5, std: 0.5 })],
];

/** The value of a loss recorded on a tape and the gradient of every trainable parameter (zeroed before and after). */
async function taped(m: Encoder | CausalLM, lossFn: () => Variable): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  m.zeroGrad();
  const tape = new Tape();
  const loss = tape.run(lossFn);
  tape.backward(loss);
  const lv = (await loss.value.data())[0]!;
  loss.release();
  const grads = new Map<string, Float32Array>();
  for (const [n, p] of m.namedParameters()) if (!p.frozen && p.grad) grads.set(n, await p.grad.data());
  m.zeroGrad();
  return { loss: lv, grads };
}

async function lossAndGrads(m: Encoder, ids: number[][], labels: number[] | number[][], pack: boolean): Promise<{ logits: Float32Array; loss: number; grads: Map<string, Float32Array> }> {
  const logits = noGrad(() => m.logits(ids, { keyLengths: LENGTHS, pack }));
  const ld = await logits.value.data();
  logits.release();
  return { logits: ld, ...(await taped(m, () => m.loss(ids, labels, { keyLengths: LENGTHS, pack }))) };
}

describe("packed encoder forward (the default with keyLengths) equals the padded one", () => {
  for (const [arch, cfg, pad] of [["bert", BERT, 0], ["roberta", ROBERTA, 1]] as const) {
    for (const head of ["sequence", "token"] as const) {
      it(`${arch}, ${head} head: logits and every trainable gradient, for each method`, async () => {
        const rng = new Rng(arch === "bert" ? 21 : 22);
        const ids = batch(rng, pad);
        const numLabels = 3;
        const labels = head === "sequence" ? LENGTHS.map((_, b) => b % numLabels) : LENGTHS.map((n) => Array.from({ length: T }, (_, t) => (t < n ? Math.floor(rng.next() * numLabels) : -100)));
        const arch0 = head === "sequence" ? (arch === "bert" ? "BertForSequenceClassification" : "RobertaForSequenceClassification") : arch === "bert" ? "BertForTokenClassification" : "RobertaForTokenClassification";
        for (const [method, setup] of SETUPS) {
          const m = createEncoder({ ...cfg, architectures: [arch0], num_labels: numLabels }, { seed: 9 });
          setup(m);
          const a = await lossAndGrads(m, ids, labels, true);
          const b = await lossAndGrads(m, ids, labels, false);
          const what = `${arch} ${head} ${method}`;
          if (head === "sequence") expect(maxDiff(a.logits, b.logits), what).toBeLessThan(2e-5);
          else {
            // real positions only: padding rows are 0 packed, computed-but-meaningless unpacked
            for (let bi = 0; bi < LENGTHS.length; bi++) {
              const s = bi * T * numLabels;
              expect(maxDiff(a.logits.subarray(s, s + LENGTHS[bi]! * numLabels), b.logits.subarray(s, s + LENGTHS[bi]! * numLabels)), `${what} row ${bi}`).toBeLessThan(2e-5);
            }
          }
          expect(Math.abs(a.loss - b.loss), what).toBeLessThan(2e-5);
          expect([...a.grads.keys()], what).toEqual([...b.grads.keys()]);
          expect(a.grads.size, what).toBeGreaterThan(0);
          for (const [n, g] of a.grads) {
            const h = b.grads.get(n)!;
            expect(maxDiff(g, h), `${what} d/d ${n}`).toBeLessThan(1e-5 + 1e-4 * maxAbs(h));
          }
          m.dispose();
        }
      });
    }
  }

  it("a packed call checks its keyLengths and refuses a cache", () => {
    const m = createEncoder({ ...BERT, architectures: ["BertModel"] }, { seed: 1 });
    using pk = new TokenPacking(2, 3, [3, 2], "cpu");
    const x = new Variable(Tensor.from(new Float32Array(5 * 24), [5, 24]));
    const attn = m.layers.at(0).attn;
    expect(() => attn.forward(x, { positional: { type: "none" }, causal: false, packing: pk, keyLengths: [3, 1] })).toThrow(/keyLengths: expected the packing's lengths \[3, 2\]/);
    expect(() => attn.forward(x, { positional: { type: "none" }, packing: pk, cache: {} as never })).toThrow(/packing: expected no cache/);
    const y = noGrad(() => attn.forward(x, { positional: { type: "none" }, causal: false, packing: pk, keyLengths: [3, 2] }));
    expect(y.shape).toEqual([5, 24]);
    y.release();
    x.release();
    m.dispose();
  });
});

// ------------------------------------------------------------------ packed decoder loss

describe("packed decoder loss and hidden states equal the padded ones", () => {
  const rope = { type: "rope", theta: 300 } as const;
  const ARCHS: [string, Record<string, unknown>][] = [
    ["llama GQA rope", { family: "llama", numKvHeads: 1, positional: rope }],
    ["bloom alibi", { family: "bloom" }],
    ["mistral window 3", { family: "llama", slidingWindow: 3, positional: rope }],
    ["qwen2 biases", { family: "llama", modelType: "qwen2", positional: rope }],
    ["nope", { family: "llama", positional: { type: "none" } }],
  ];
  const DEC_LENGTHS = [7, 3, 1, 5]; // real tokens per row, T = 7
  const TD = 7;
  const V = 29;
  for (const [name, extra] of ARCHS) {
    it(`${name}: loss and gradients (plain, LoRA, prefix${name === "nope" ? ", APT" : ""})`, async () => {
      const rng = new Rng(name.length * 31);
      const ids = DEC_LENGTHS.map((n) => Array.from({ length: TD }, (_, t) => (t < n ? 1 + Math.floor(rng.next() * (V - 1)) : 0)));
      // targets: scored inside the row except a few ignored positions; padding ignored
      const targets = DEC_LENGTHS.map((n) => Array.from({ length: TD }, (_, t) => (t < n && t !== 1 ? Math.floor(rng.next() * V) : -100)));
      targets[3]![4] = -100; // row 3's last scored target is at 3: positions 4.. are skipped too
      const setups: [string, (m: CausalLM) => void][] = [
        ["full", () => {}],
        ["lora", (m) => void addLora(m, { r: 2, alpha: 4, targetModules: ["q_proj", "v_proj", "down_proj", "query_key_value", "dense_4h_to_h"].filter((t) => [...m.namedParameters()].some(([n]) => n.includes(t))), seed: 2 })],
        ["prefix", (m) => void addPrefix(m, { numVirtualTokens: 3, seed: 3, std: 0.5 })],
      ];
      if (name === "nope") setups.push(["apt", (m) => void addApt(m, { numVirtualTokens: 2, seed: 4, gateStd: 0.5, std: 0.5 })]);
      for (const [method, setup] of setups) {
        for (const keyLengths of [undefined, DEC_LENGTHS]) {
          const m = createModel({ vocabSize: V, hiddenSize: 16, numLayers: 2, numHeads: 2, initializerRange: 0.3, ...extra } as never, { seed: 5 });
          setup(m);
          const run = (pack: boolean, checkpoint = false) => taped(m, () => m.loss(ids, targets, { keyLengths, pack, checkpoint }));
          const a = await run(true);
          const b = await run(false);
          const c = await run(true, true); // checkpointed: not packed, same numbers
          const what = `${name} ${method} keyLengths ${keyLengths ? "given" : "from targets"}`;
          expect(Math.abs(a.loss - b.loss), what).toBeLessThan(2e-5);
          expect(Math.abs(c.loss - b.loss), what).toBeLessThan(2e-5);
          expect(a.grads.size, what).toBeGreaterThan(0);
          expect([...a.grads.keys()]).toEqual([...b.grads.keys()]);
          for (const [n, g] of a.grads) {
            const h = b.grads.get(n)!;
            expect(maxDiff(g, h), `${what} d/d ${n}`).toBeLessThan(1e-5 + 1e-4 * maxAbs(h));
            expect(maxDiff(c.grads.get(n)!, h), `${what} checkpointed d/d ${n}`).toBeLessThan(1e-5 + 1e-4 * maxAbs(h));
          }
          if (keyLengths) {
            const hp = noGrad(() => m.hidden(ids, { keyLengths }));
            const hu = noGrad(() => m.hidden(ids, { keyLengths, pack: false }));
            const [dp, du] = [await hp.value.data(), await hu.value.data()];
            for (let bi = 0; bi < DEC_LENGTHS.length; bi++) {
              const s0 = bi * TD * 16;
              expect(maxDiff(dp.subarray(s0, s0 + DEC_LENGTHS[bi]! * 16), du.subarray(s0, s0 + DEC_LENGTHS[bi]! * 16)), `${what} hidden row ${bi}`).toBeLessThan(2e-5);
            }
            hp.release();
            hu.release();
          }
          m.dispose();
        }
      }
    });
  }
});
