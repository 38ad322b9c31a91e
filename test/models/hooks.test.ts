/**
 * Per-call forward options and hooks (what the studies and analyses use): window override,
 * attention temperature, hidden-state hooks (read and replace), head-output hooks with retained
 * gradients, per-layer attention options; and dtype on load.
 */
import { afterAll, describe, expect, it } from "vitest";
import { loadModel } from "../../dist/models/index.js";
import { F, Tape, type Variable } from "../../dist/nn/index.js";
import { naiveForward } from "./naive.js";
import { llamaCfg, randomWeights, rmDir, tmpDir, writeCheckpoint, readLogits } from "./fixtures.js";

const root = tmpDir("hooks");
afterAll(() => rmDir(root));

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

const cfg = llamaCfg({ positional: { type: "rope", theta: 300 } });
const w = randomWeights(cfg, 77);
const ids = [
  [1, 2, 3, 4, 5, 6, 7],
  [7, 6, 5, 4, 3, 2, 1],
];

describe("forward options and hooks", () => {
  it("window override equals a windowed checkpoint; window: null removes one", async () => {
    const dir = writeCheckpoint(`${root}/a`, cfg, w);
    const model = await loadModel(dir);
    const got = await readLogits(model.forward(ids, { window: 3 }));
    expect(relErr(got, naiveForward({ ...cfg, windows: [3, 3] }, w, ids))).toBeLessThan(1e-5);
    const mdir = writeCheckpoint(`${root}/m`, { ...cfg, windows: [2, 2] }, w, { modelType: "mistral" });
    const mistral = await loadModel(mdir);
    const full = await (await mistral.forward(ids, { window: null })).data();
    expect(relErr(full, naiveForward(cfg, w, ids))).toBeLessThan(1e-5);
    model.dispose();
    mistral.dispose();
  });

  it("hidden hook sees L + 1 states and can replace them; identity replacement changes nothing", async () => {
    const model = await loadModel(writeCheckpoint(`${root}/b`, cfg, w));
    const base = await readLogits(model.forward(ids));
    const seen: number[][] = [];
    const same = await (
      await model.forward(ids, {
        hooks: {
          hidden: (l, h) => {
            seen.push([l, ...h.shape]);
            return F.scale(h, 1);
          },
        },
      })
    ).data();
    expect(seen).toEqual([
      [0, 2, 7, 16],
      [1, 2, 7, 16],
      [2, 2, 7, 16],
    ]);
    expect(Array.from(same)).toEqual(Array.from(base));
    const changed = await readLogits(model.forward(ids, { hooks: { hidden: (l, h) => (l === 1 ? F.scale(h, 2) : undefined) } }));
    expect(relErr(changed, base)).toBeGreaterThan(1e-3);
    model.dispose();
  });

  it("per-layer attention options and the attention temperature", async () => {
    const model = await loadModel(writeCheckpoint(`${root}/c`, cfg, w));
    const a = await readLogits(model.forward(ids, { hooks: { attention: (l, o) => (l === 0 ? { ...o, window: 2 } : o) } }));
    expect(relErr(a, naiveForward({ ...cfg, windows: [2, 0] }, w, ids))).toBeLessThan(1e-5);
    const t1 = await readLogits(model.forward(ids, { scaleMultiplier: 1 }));
    const t2 = await readLogits(model.forward(ids, { scaleMultiplier: 1.5 }));
    expect(relErr(t1, naiveForward(cfg, w, ids))).toBeLessThan(1e-5);
    expect(relErr(t2, t1)).toBeGreaterThan(1e-4);
    model.dispose();
  });

  it("head outputs with retained gradients (head-activation analysis: Γᵀ·∂L/∂Γ)", async () => {
    const model = await loadModel(writeCheckpoint(`${root}/d`, cfg, w));
    model.freeze(); // gradients still flow to activations
    const heads: Variable[] = [];
    const tape = new Tape();
    // frozen weights: make the embedding output require grad through a leaf-like hook
    model.embed.weight.unfreeze();
    const loss = tape.run(() =>
      model.loss(ids, ids.map((r) => r.map((_, t) => (t + 1 < r.length ? r[t + 1]! : -100))), {
        hooks: { heads: (_l, o) => void heads.push(o.keep().retainGrad()) },
      }),
    );
    tape.backward(loss);
    loss.release();
    expect(heads.length).toBe(2);
    for (const h of heads) {
      expect([...h.shape]).toEqual([2, 7, 4, 8]);
      expect(h.grad).not.toBeNull();
      const g = await h.grad!.data();
      expect(g.some((x) => x !== 0)).toBe(true);
      h.grad!.dispose();
      h.release();
    }
    model.dispose();
  });

  it("dtype on load: bf16 weights, f32 logits close to the f32 model", async () => {
    const dir = writeCheckpoint(`${root}/e`, cfg, w);
    const model = await loadModel(dir, { dtype: "bf16" });
    expect(model.dtype).toBe("bf16");
    const logits = await model.forward(ids);
    expect(logits.dtype).toBe("f32");
    expect(relErr(await logits.data(), naiveForward(cfg, w, ids))).toBeLessThan(3e-2);
    model.dispose();
  });
});
