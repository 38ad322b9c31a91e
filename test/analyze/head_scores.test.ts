/**
 * Head activation scores (lib/analyze/head_scores.ts) against finite differences: a(x) of every
 * head of a tiny HF-format Llama equals dL_x/ds at s = 1, where s scales the head's output
 * (scaleHeadsHook), estimated by central differences with Richardson extrapolation:
 *   D(ε) = (L(1 + ε) − L(1 − ε)) / 2ε,   D_R = (4·D(ε/2) − D(ε)) / 3   (error O(ε⁴)).
 * With ε = 0.1 the truncation error is below 1e-6 here; the f32 forward's rounding (~1e-7 relative
 * on a loss of ~3 nats, amplified by 1/ε' ~ 20 and 4/3) gives ~1e-5 absolute. The tolerance is
 * TOL_ABS + TOL_REL·|a| (the analytic side is f32 reductions over a few hundred terms).
 * The same on BLOOM (ALiBi, biases, embedding LayerNorm) for a few heads. Also: the maps are the
 * mean of a(x) and of |a(x)|, a head whose output is zero scores exactly 0, padding in a batch
 * changes nothing, maxLength truncates as documented, bf16 weights give the same maps within bf16
 * precision, and the model's parameters (frozen flags, gradients) and memory are left as they were.
 */
import { afterAll, describe, expect, it } from "vitest";
import { memory, synchronize, defaultDevice } from "ctxwin";
import { loadModel } from "../../dist/models/index.js";
import { headActivationScores, responseLoss, scaleHeadsHook, type TaskExample } from "../../dist/analyze/index.js";
import { bloomCfg, llamaCfg, randomWeights, rmDir, tmpDir, writeCheckpoint } from "../models/fixtures.js";
import { suiteSeed, XorShift32 } from "../reference/rng.js";

const root = tmpDir("heads");
afterAll(() => rmDir(root));
const seed = suiteSeed();
console.log(`[head_scores] seed ${seed} (set CTXWIN_TEST_SEED=${seed} to replay)`);

const cfg = llamaCfg(); // 2 layers, 4 query heads, 2 kv heads, head dim 8, vocab 23
const rng = new XorShift32(seed >>> 0 || 1);
const ids = (n: number) => Array.from({ length: n }, () => rng.int(cfg.vocab));
const examples: TaskExample[] = [
  { prompt: ids(5), response: ids(4) },
  { prompt: ids(2), response: ids(7) },
  { prompt: ids(8), response: ids(2) },
];

const TOL_ABS = 1e-4;
const TOL_REL = 2e-3;

async function fdSlope(model: Awaited<ReturnType<typeof loadModel>>, ex: TaskExample[], l: number, h: number, eps: number, c: typeof cfg = cfg): Promise<number> {
  const at = async (s: number) => {
    const f = Array.from({ length: c.layers }, (_, i) => Array.from({ length: c.heads }, (_, j) => (i === l && j === h ? s : 1)));
    return responseLoss(model, ex, { hooks: { heads: scaleHeadsHook(f) } });
  };
  const d = async (e: number) => ((await at(1 + e)) - (await at(1 - e))) / (2 * e);
  return (4 * (await d(eps / 2)) - (await d(eps))) / 3;
}

describe("headActivationScores", () => {
  it("a(x) of every head equals the finite-difference slope of L_x under scaling the head's output", async () => {
    const model = await loadModel(writeCheckpoint(`${root}/fd`, cfg, randomWeights(cfg, seed % 100000)));
    const s = await headActivationScores(model, examples, { batchSize: 2, perExample: true });
    expect(s.layers).toBe(2);
    expect(s.heads).toBe(4);
    expect(s.examples).toBe(3);
    expect(s.tokens).toBe(4 + 7 + 2);
    let worst = 0;
    let biggest = 0;
    for (let x = 0; x < examples.length; x++) {
      for (let l = 0; l < cfg.layers; l++) {
        for (let h = 0; h < cfg.heads; h++) {
          const an = s.perExample![x]![l]![h]!;
          const fd = await fdSlope(model, [examples[x]!], l, h, 0.02);
          const err = Math.abs(an - fd);
          worst = Math.max(worst, err / (TOL_ABS + TOL_REL * Math.abs(an)));
          biggest = Math.max(biggest, Math.abs(an));
          expect(err, `example ${x}, layer ${l}, head ${h}: tape ${an} vs finite difference ${fd}`).toBeLessThan(TOL_ABS + TOL_REL * Math.abs(an));
        }
      }
    }
    console.log(`[head_scores] worst error / tolerance ${worst.toFixed(3)}; largest |a| ${biggest.toExponential(2)}`);
    expect(biggest).toBeGreaterThan(1e-2); // the check is not vacuous
    // the maps: mean of a(x) and of |a(x)|; the loss: mean of L_x
    for (let l = 0; l < cfg.layers; l++) {
      for (let h = 0; h < cfg.heads; h++) {
        const per = s.perExample!.map((p) => p[l]![h]!);
        expect(s.signed[l]![h]).toBeCloseTo(per.reduce((a, b) => a + b, 0) / 3, 12);
        expect(s.absolute[l]![h]).toBeCloseTo(per.reduce((a, b) => a + Math.abs(b), 0) / 3, 12);
      }
    }
    expect(s.loss).toBeCloseTo(await responseLoss(model, examples), 5);
    // the signed map is the slope of the mean loss
    const fdMean = await fdSlope(model, examples, 1, 2, 0.02);
    expect(Math.abs(s.signed[1]![2]! - fdMean)).toBeLessThan(TOL_ABS + TOL_REL * Math.abs(fdMean));
    model.dispose();
  });

  it("matches finite differences on BLOOM (ALiBi, biases, embedding LayerNorm) too", async () => {
    const bcfg = bloomCfg();
    const model = await loadModel(writeCheckpoint(`${root}/bloom`, bcfg, randomWeights(bcfg, (seed % 1000) + 7)));
    const ex: TaskExample[] = [{ prompt: [1, 2, 3], response: [4, 5, 6, 7] }, { prompt: [8], response: [9, 10] }];
    const s = await headActivationScores(model, ex, { batchSize: 2, perExample: true });
    for (let x = 0; x < ex.length; x++) {
      for (const [l, h] of [[0, 0], [1, 3]] as const) {
        const an = s.perExample![x]![l]![h]!;
        const fd = await fdSlope(model, [ex[x]!], l, h, 0.02, bcfg);
        expect(Math.abs(an - fd), `bloom example ${x}, layer ${l}, head ${h}: tape ${an} vs finite difference ${fd}`).toBeLessThan(TOL_ABS + TOL_REL * Math.abs(an));
      }
    }
    model.dispose();
  });

  it("maxLength drops prompt tokens from the left (then response tokens from the right)", async () => {
    const model = await loadModel(writeCheckpoint(`${root}/trunc`, cfg, randomWeights(cfg, 9)));
    const long: TaskExample = { prompt: [1, 2, 3, 4, 5, 6], response: [7, 8, 9] };
    const a = await headActivationScores(model, [long], { maxLength: 5 });
    const b = await headActivationScores(model, [{ prompt: [5, 6], response: [7, 8, 9] }]);
    expect(a.tokens).toBe(3);
    expect(a.signed).toEqual(b.signed);
    const c = await headActivationScores(model, [long], { maxLength: 3 });
    const d = await headActivationScores(model, [{ prompt: [6], response: [7, 8] }]);
    expect(c.tokens).toBe(2);
    expect(c.signed).toEqual(d.signed);
    model.dispose();
  });

  it("bf16 weights: the same maps within bf16 precision", async () => {
    const dir = writeCheckpoint(`${root}/bf16`, cfg, randomWeights(cfg, 11));
    const f32 = await loadModel(dir);
    const bf16 = await loadModel(dir, { dtype: "bf16" });
    const a = await headActivationScores(f32, examples);
    const b = await headActivationScores(bf16, examples);
    const fa = a.absolute.flat();
    const fb = b.absolute.flat();
    const err = Math.sqrt(fa.reduce((s, v, i) => s + (v - fb[i]!) ** 2, 0) / fa.reduce((s, v) => s + v * v, 0));
    expect(err).toBeLessThan(0.1);
    f32.dispose();
    bf16.dispose();
  });

  it("does not depend on the batch size (padding is never scored) and leaves the model as it was", async () => {
    const model = await loadModel(writeCheckpoint(`${root}/batch`, cfg, randomWeights(cfg, 3)));
    model.blocks.at(0).attn.q.weight.freeze();
    await synchronize();
    const before = memory()[defaultDevice()]!.tensors;
    const one = await headActivationScores(model, examples, { batchSize: 1, perExample: true });
    const all = await headActivationScores(model, examples, { batchSize: 3, perExample: true });
    for (let x = 0; x < 3; x++)
      for (let l = 0; l < 2; l++)
        for (let h = 0; h < 4; h++) expect(Math.abs(one.perExample![x]![l]![h]! - all.perExample![x]![l]![h]!)).toBeLessThan(1e-6 + 1e-4 * Math.abs(one.perExample![x]![l]![h]!));
    await synchronize();
    expect(memory()[defaultDevice()]!.tensors).toBe(before);
    const frozen = model.namedParameters().filter(([, p]) => p.frozen).map(([n]) => n);
    expect(frozen).toEqual(["model.layers.0.self_attn.q_proj.weight"]);
    expect(model.parameters().every((p) => p.grad === null)).toBe(true);
    model.dispose();
  });

  it("a head whose output is zero scores exactly 0", async () => {
    // v_proj rows of kv head 0 in layer 1 zeroed: query heads 0 and 1 (GQA groups of 2) output 0
    const w = randomWeights(cfg, 5);
    const v = w.get("model.layers.1.self_attn.v_proj.weight")!;
    const data = Float32Array.from(v.data);
    data.fill(0, 0, cfg.headDim * cfg.hidden);
    w.set("model.layers.1.self_attn.v_proj.weight", { data, shape: v.shape });
    const model = await loadModel(writeCheckpoint(`${root}/zero`, cfg, w));
    const s = await headActivationScores(model, examples, { batchSize: 2 });
    for (const map of [s.signed, s.absolute]) {
      expect(map[1]![0]).toBe(0);
      expect(map[1]![1]).toBe(0);
      expect(Math.abs(map[1]![2]!)).toBeGreaterThan(0);
      expect(Math.abs(map[0]![0]!)).toBeGreaterThan(0);
    }
    // the same with a hook that zeroes a head is not needed: Γ = 0 makes every term Γ·∂L/∂Γ 0
    model.dispose();
  });

  it("rejects bad examples with the argument named", async () => {
    const model = await loadModel(writeCheckpoint(`${root}/bad`, cfg, randomWeights(cfg, 1)));
    await expect(headActivationScores(model, [])).rejects.toThrow(/examples: expected a non-empty array/);
    await expect(headActivationScores(model, [{ prompt: [1], response: [99] }])).rejects.toThrow(/examples\[0\]\.response: expected token ids in \[0, 23\), got 99/);
    await expect(headActivationScores(model, [{ prompt: "hi", response: [1] }])).rejects.toThrow(/examples\[0\]\.prompt: expected token ids \(or pass opts.tokenizer/);
    await expect(headActivationScores(model, [{ prompt: [], response: [1] }])).rejects.toThrow(/examples\[0\]\.response: expected at least one token to score/);
    await expect(headActivationScores(model, [{ prompt: [1], response: [2] }], { batchSize: 0 })).rejects.toThrow(/opts.batchSize: expected a positive integer/);
    model.dispose();
  });
});
