/**
 * Module / Parameter API and whole-model gradients: HF parameter names, tying, freezing, casting;
 * the model loss's gradients against finite differences (Llama and BLOOM); activation
 * checkpointing gives the same gradients; LoRA / prefix training reaches only adapter parameters;
 * nothing leaks across forward + backward; a few AdamW steps learn a tiny task.
 */
import { describe, expect, it } from "vitest";
import { defaultDevice, memory, synchronize, Tensor } from "ctxwin";
import { Tape, noGrad, Parameter } from "../../dist/nn/index.js";
import { createModel, lmTargets } from "../../dist/models/index.js";
import { addLora, addPrefix } from "../../dist/peft/index.js";
import { adamw } from "../../dist/ops/index.js";
import { XorShift32 } from "../reference/rng.js";

const live = async () => {
  await synchronize();
  return memory()[defaultDevice()]?.tensors ?? 0;
};
const tiny = (family: "llama" | "bloom", extra: object = {}) =>
  createModel(
    family === "llama"
      ? { family, vocabSize: 13, hiddenSize: 8, numLayers: 2, numHeads: 2, numKvHeads: 1, intermediateSize: 12, initializerRange: 0.4, ...extra }
      : { family, vocabSize: 13, hiddenSize: 8, numLayers: 2, numHeads: 2, initializerRange: 0.4, ...extra },
    { seed: 11 },
  );

const ids = [
  [1, 4, 2, 8, 5, 7],
  [3, 3, 9, 0, 12, 6],
];
const targets = lmTargets(ids);

function lossValue(model: ReturnType<typeof tiny>): Promise<number> {
  const l = noGrad(() => model.loss(ids, targets));
  return l.value.data().then((d) => {
    l.release();
    return d[0]!;
  });
}

function grads(model: ReturnType<typeof tiny>, opts: { checkpoint?: boolean } = {}): void {
  const tape = new Tape();
  const loss = tape.run(() => model.loss(ids, targets, opts));
  tape.backward(loss);
  loss.release();
}

describe("Module API", () => {
  it("HF parameter names, tied weights once, freezing, trainable()", () => {
    const m = tiny("llama", { tieWordEmbeddings: true });
    const names = m.namedParameters().map(([n]) => n);
    expect(names).toContain("model.embed_tokens.weight");
    expect(names).toContain("model.layers.1.self_attn.k_proj.weight");
    expect(names).toContain("model.layers.0.mlp.gate_proj.weight");
    expect(names).toContain("model.norm.weight");
    expect(names).not.toContain("lm_head.weight");
    expect(m.headWeight).toBe(m.embed.weight);
    expect(new Set(names).size).toBe(names.length);
    expect(m.numParameters()).toBe(13 * 8 + 2 * (8 + 8 * 8 + 4 * 8 * 2 + 8 * 8 + 8 + 3 * 12 * 8) + 8);
    m.freeze();
    expect(m.trainable()).toEqual([]);
    m.model; // (the container is reachable)
    m.unfreeze();
    expect(m.trainable().length).toBe(names.length);
    m.dispose();
    const b = tiny("bloom");
    const bn = b.namedParameters().map(([n]) => n);
    expect(bn).toContain("transformer.word_embeddings_layernorm.bias");
    expect(bn).toContain("transformer.h.0.self_attention.q_proj.bias");
    expect(bn).toContain("transformer.h.1.mlp.dense_4h_to_h.weight");
    expect(bn).toContain("transformer.ln_f.weight");
    b.dispose();
  });

  it("to(bf16) with f32 master weights; bf16 forward close to f32", async () => {
    const m = tiny("llama");
    const want = await (await m.forward(ids)).data();
    m.to("bf16", { keepMaster: true });
    expect(m.dtype).toBe("bf16");
    for (const p of m.parameters()) expect(p.master?.dtype).toBe("f32");
    const logits = await m.forward(ids);
    expect(logits.dtype).toBe("f32");
    const got = await logits.data();
    let num = 0;
    let den = 0;
    for (let i = 0; i < got.length; i++) {
      num += (got[i]! - want[i]!) ** 2;
      den += want[i]! ** 2;
    }
    expect(Math.sqrt(num / den)).toBeLessThan(3e-2);
    m.dispose();
  });
});

describe("model gradients", () => {
  for (const family of ["llama", "bloom"] as const) {
    it(`${family}: loss gradients match finite differences`, async () => {
      const m = tiny(family);
      grads(m);
      const rng = new XorShift32(5);
      const eps = 2e-3;
      const named = m.namedParameters();
      // a few parameters of every kind
      const pick = named.filter(([n]) => /embed|word_embeddings\.|q_proj\.weight|k_proj\.bias|norm|dense_h_to_4h\.weight|down_proj|lm_head|ln_f/.test(n)).slice(0, 8);
      expect(pick.length).toBeGreaterThan(4);
      for (const [name, p] of pick) {
        const g = await p.grad!.data();
        const base = await p.value.data();
        const u = rng.array(base.length);
        const at = async (s: number): Promise<number> => {
          const old = p.value;
          p.set(Tensor.from(base.map((v, i) => v + s * eps * u[i]!), [...old.shape]), { keepOld: true });
          const l = await lossValue(m);
          p.value.dispose();
          p.set(old, { keepOld: true });
          return l;
        };
        const fd = ((await at(1)) - (await at(-1))) / (2 * eps);
        let an = 0;
        for (let i = 0; i < g.length; i++) an += g[i]! * u[i]!;
        expect(Math.abs(fd - an), `${name}: fd ${fd} vs tape ${an}`).toBeLessThan(2e-2 * Math.max(Math.abs(an), 0.05));
      }
      m.dispose();
    });
  }

  it("activation checkpointing gives the same gradients", async () => {
    const a = tiny("llama");
    const b = tiny("llama");
    grads(a);
    b.setCheckpointing(true);
    grads(b, {});
    for (const [[n, pa], [, pb]] of a.namedParameters().map((x, i) => [x, b.namedParameters()[i]!] as const)) {
      const ga = await pa.grad!.data();
      const gb = await pb.grad!.data();
      for (let i = 0; i < ga.length; i++) expect(gb[i], n).toBeCloseTo(ga[i]!, 5);
    }
    a.dispose();
    b.dispose();
  });

  it("nothing leaks across forward + backward (plain and checkpointed)", async () => {
    const m = tiny("bloom");
    const before = (await live());
    for (const ck of [false, true]) {
      m.setCheckpointing(ck);
      grads(m);
      expect((await live())).toBe(before + m.parameters().length); // + one grad per parameter
      m.zeroGrad();
      expect((await live())).toBe(before);
    }
    m.dispose();
  });

  it("LoRA training: gradients reach only the adapter parameters", () => {
    const m = tiny("llama");
    const params = addLora(m, { r: 2, alpha: 4, targetModules: ["q_proj", "v_proj"] });
    expect(params.length).toBe(2 * 2 * 2);
    grads(m);
    for (const [n, p] of m.namedParameters()) {
      if (params.includes(p)) expect(p.grad, n).not.toBeNull();
      else expect(p.grad, n).toBeNull();
    }
    m.dispose();
  });

  it("prefix training: gradients reach only the prefix keys/values", () => {
    for (const family of ["llama", "bloom"] as const) {
      const m = tiny(family);
      const params = addPrefix(m, { numVirtualTokens: 3 });
      grads(m);
      for (const [n, p] of m.namedParameters()) {
        if (params.includes(p)) expect(p.grad, n).not.toBeNull();
        else expect(p.grad, n).toBeNull();
      }
      m.dispose();
    }
  });

  it("a few AdamW steps fit a tiny repeating sequence", async () => {
    const m = tiny("llama");
    const seq = [[1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]];
    const tgt = lmTargets(seq);
    const state = new Map<Parameter, { m: Tensor; v: Tensor }>();
    const first = noGrad(() => m.loss(seq, tgt));
    const l0 = (await first.value.data())[0]!;
    first.release();
    let last = l0;
    for (let step = 1; step <= 30; step++) {
      const tape = new Tape();
      const loss = tape.run(() => m.loss(seq, tgt));
      tape.backward(loss);
      last = (await loss.value.data())[0]!;
      loss.release();
      for (const p of m.trainable()) {
        let s = state.get(p);
        if (!s) {
          const z = new Float32Array(p.value.shape.reduce((a, b) => a * b, 1));
          s = { m: Tensor.from(z, [...p.value.shape]), v: Tensor.from(z, [...p.value.shape]) };
          state.set(p, s);
        }
        adamw(p.value, p.grad!, s.m, s.v, { lr: 3e-2, step, weightDecay: 0 });
        p.zeroGrad();
      }
    }
    expect(last).toBeLessThan(0.3 * l0);
    for (const s of state.values()) {
      s.m.dispose();
      s.v.dispose();
    }
    m.dispose();
  });
});
