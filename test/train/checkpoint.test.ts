/**
 * Checkpoint files: layout, latest.json, pruning, leftovers of interrupted writes, and clear
 * errors for a damaged checkpoint directory.
 */
import { afterAll, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Tensor, Parameter } from "../../dist/index.js";
import { AdamW, CHECKPOINT_VERSION, latestCheckpoint, readCheckpoint, restoreParams, saveCheckpoint, type TrainerState } from "../../dist/train/index.js";

const root = mkdtempSync(join(tmpdir(), "ctxwin-ckpt-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function setup() {
  const params: [string, InstanceType<typeof Parameter>][] = [
    ["a.weight", new Parameter(Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]), "a.weight")],
    ["a.bias", new Parameter(Tensor.from([0.5, -0.5], [2]), "a.bias")],
  ];
  const opt = new AdamW(params, { lr: 0.1 });
  for (const [, p] of params) p.grad = Tensor.from(new Float32Array(p.value.shape.reduce((x, y) => x * y, 1)).fill(0.25), [...p.value.shape]);
  opt.step();
  return { params, opt };
}

const state = (step: number): TrainerState => ({
  version: CHECKPOINT_VERSION,
  step,
  loader: { seed: 0, epoch: 0, cursor: step, rng: [1, 2, 3, 4], rows: 100 },
  losses: Array.from({ length: step }, (_, i) => 5 - i),
  gradNorms: Array.from({ length: step }, () => 1),
  evals: [],
  tokens: step * 10,
  settings: { batchSize: 1, gradAccum: 1, seqLen: 10, seed: 0 },
  params: ["a.weight", "a.bias"],
});

describe("saveCheckpoint / readCheckpoint", () => {
  it("writes step directories, points latest.json at the newest, keeps the newest `keep`", async () => {
    const { params, opt } = setup();
    const dir = join(root, "a");
    for (const s of [1, 2, 3]) await saveCheckpoint(dir, { params, optimizer: opt, state: state(s), keep: 2 });
    expect(readdirSync(dir).sort()).toEqual(["latest.json", "step-00000002", "step-00000003"]);
    expect(await latestCheckpoint(dir)).toBe(join(dir, "step-00000003"));
    const ck = await readCheckpoint(join(dir, "step-00000003"));
    expect(ck.state.step).toBe(3);
    expect(ck.state.losses).toEqual([5, 4, 3]);
    expect(ck.optimizer.steps).toBe(1);
    expect(ck.optimizer.params.map((p) => [p.name, p.step])).toEqual([["a.weight", 1], ["a.bias", 1]]);
    const w = Array.from(await params[0]![1].value.data());
    expect(Array.from(ck.params.get("a.weight")!.data)).toEqual(w);
    // restore into other values
    params[0]![1].value.dispose();
    (params[0]![1] as unknown as { set(t: Tensor): void }).set(Tensor.from(new Float32Array(6), [2, 3]));
    restoreParams(params, ck);
    expect(Array.from(await params[0]![1].value.data())).toEqual(w);
    opt.dispose();
  });

  it("an interrupted write leaves the previous checkpoint in force; the next save removes the leftovers", async () => {
    const { params, opt } = setup();
    const dir = join(root, "b");
    await saveCheckpoint(dir, { params, optimizer: opt, state: state(4) });
    // a crash after creating the temp directory of step 5, before its rename
    mkdirSync(join(dir, ".step-00000005.tmp-deadbeef"));
    writeFileSync(join(dir, ".step-00000005.tmp-deadbeef", "params.safetensors"), "partial");
    expect(await latestCheckpoint(dir)).toBe(join(dir, "step-00000004"));
    // the same step written again replaces the directory as a whole
    await saveCheckpoint(dir, { params, optimizer: opt, state: state(4) });
    await saveCheckpoint(dir, { params, optimizer: opt, state: state(6) });
    expect(readdirSync(dir).sort()).toEqual(["latest.json", "step-00000004", "step-00000006"]);
    opt.dispose();
  });

  it("clear errors: no checkpoint, damaged latest.json, missing files, other parameters", async () => {
    expect(await latestCheckpoint(join(root, "none"))).toBeNull();
    const dir = join(root, "c");
    mkdirSync(dir);
    writeFileSync(join(dir, "latest.json"), "{not json");
    await expect(latestCheckpoint(dir)).rejects.toThrow(/latest.json: expected JSON/);
    writeFileSync(join(dir, "latest.json"), JSON.stringify({ step: 1, dir: "../etc" }));
    await expect(latestCheckpoint(dir)).rejects.toThrow(/dir: expected "step-NNNNNNNN"/);
    await expect(readCheckpoint(join(dir, "step-00000001"))).rejects.toThrow(/trainer_state.json written by train\(\)/);
    const { params, opt } = setup();
    const ck = await saveCheckpoint(join(root, "d"), { params, optimizer: opt, state: state(1) });
    const loaded = await readCheckpoint(ck);
    const other: [string, InstanceType<typeof Parameter>][] = [["b.weight", new Parameter(Tensor.from([1], [1]), "b.weight")]];
    expect(() => restoreParams(other, loaded)).toThrow(/holds trainable parameters the model does not train: a.bias, a.weight/);
    expect(() => restoreParams([params[0]!], { ...loaded, params: new Map([["a.weight", { data: new Float32Array(4), shape: [2, 2] }]]) })).toThrow(/"a.weight": expected shape \[2, 3\], got \[2, 2\]/);
    expect(existsSync(join(ck, "optimizer.safetensors"))).toBe(true);
    opt.dispose();
  });
});
