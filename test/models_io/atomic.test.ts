/**
 * Atomic writes: a failure in the middle of writing leaves the previous file byte-for-byte as it
 * was and no temp file behind.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chmod, mkdir, readFile, readdir } from "node:fs/promises";
import * as path from "node:path";
import {
  openCheckpoint,
  writeConfig,
  writeLoraAdapter,
  writeSafetensors,
  writeShardedSafetensors,
  type TensorInputs,
} from "../../lib/models/io/index.js";
import { tempDir } from "./util.js";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("atomic"));
});
afterAll(async () => cleanup());

async function tempFiles(d: string): Promise<string[]> {
  return (await readdir(d)).filter((f) => f.includes(".tmp-"));
}

const big = Float32Array.from({ length: 3 << 20 }, (_, i) => i % 97);

describe("atomic writes", () => {
  it("a tensor whose data getter throws mid-write: previous file intact, no temp file", async () => {
    const d = path.join(dir, "getter");
    await mkdir(d);
    const file = path.join(d, "model.safetensors");
    await writeSafetensors(file, { a: { data: Float32Array.of(1, 2, 3), shape: [3] } });
    const before = await readFile(file);
    const failing: TensorInputs = {
      a: { data: big, shape: [big.length] }, // written first (sorted by name), in several chunks
      b: {
        get data(): Float32Array {
          throw new Error("boom: data not available");
        },
        shape: [2],
      },
    };
    await expect(writeSafetensors(file, failing)).rejects.toThrow("boom: data not available");
    expect((await readFile(file)).equals(before)).toBe(true);
    expect(await tempFiles(d)).toEqual([]);
  });

  it("an async data source that rejects, and data of the wrong length: same guarantees", async () => {
    const d = path.join(dir, "async");
    await mkdir(d);
    const file = path.join(d, "w.safetensors");
    await writeSafetensors(file, { a: { data: Float32Array.of(5), shape: [1] } });
    const before = await readFile(file);
    await expect(
      writeSafetensors(file, {
        a: { data: big, shape: [big.length], dtype: "BF16" },
        b: { data: () => Promise.reject(new Error("device lost")), shape: [1] },
      }),
    ).rejects.toThrow("device lost");
    await expect(writeSafetensors(file, { a: { data: big, shape: [big.length] }, b: { data: () => new Float32Array(5), shape: [4] } })).rejects.toMatchObject({
      code: "ERR_SHAPE",
    });
    expect((await readFile(file)).equals(before)).toBe(true);
    expect(await tempFiles(d)).toEqual([]);
  });

  it("a successful overwrite replaces the file and leaves no temp file", async () => {
    const d = path.join(dir, "ok");
    await mkdir(d);
    const file = path.join(d, "w.safetensors");
    await writeSafetensors(file, { a: { data: Float32Array.of(1), shape: [1] } });
    await writeSafetensors(file, { b: { data: Float32Array.of(2, 3), shape: [2] } });
    const ck = await openCheckpoint(file);
    expect(ck.names()).toEqual(["b"]);
    expect(await readdir(d)).toEqual(["w.safetensors"]);
  });

  it("sharded: a failure in the last shard leaves the previous checkpoint (shards and index) untouched", async () => {
    const d = path.join(dir, "sharded");
    const t = (v: number): TensorInputs => ({
      a: { data: new Float32Array(4).fill(v), shape: [4] },
      b: { data: new Float32Array(4).fill(v), shape: [4] },
    });
    await writeShardedSafetensors(d, t(1), { maxShardBytes: 16 });
    const names = (await readdir(d)).sort();
    const before = await Promise.all(names.map((f) => readFile(path.join(d, f))));
    const failing: TensorInputs = {
      a: { data: new Float32Array(4).fill(2), shape: [4] },
      b: { data: () => Promise.reject(new Error("shard 2 failed")), shape: [4] },
    };
    await expect(writeShardedSafetensors(d, failing, { maxShardBytes: 16 })).rejects.toThrow("shard 2 failed");
    expect((await readdir(d)).sort()).toEqual(names);
    const after = await Promise.all(names.map((f) => readFile(path.join(d, f))));
    after.forEach((b, i) => expect(b.equals(before[i]!)).toBe(true));
    expect(Array.from((await (await openCheckpoint(d)).read("a")).data)).toEqual([1, 1, 1, 1]);
  });

  it("PEFT adapter: a failing tensor leaves both files as they were", async () => {
    const d = path.join(dir, "adapter");
    const A = { data: new Float32Array(8), shape: [2, 4] };
    const B = { data: new Float32Array(6), shape: [3, 2] };
    await writeLoraAdapter(d, { loraAlpha: 4, modules: { "model.layers.0.self_attn.q_proj": { A, B } } });
    const files = (await readdir(d)).sort();
    expect(files).toEqual(["adapter_config.json", "adapter_model.safetensors"]);
    const before = await Promise.all(files.map((f) => readFile(path.join(d, f))));
    const badB = {
      get data(): Float32Array {
        throw new Error("no B");
      },
      shape: [3, 2],
    };
    await expect(writeLoraAdapter(d, { loraAlpha: 8, modules: { "model.layers.0.self_attn.q_proj": { A, B: badB } } })).rejects.toThrow();
    const after = await Promise.all(files.map((f) => readFile(path.join(d, f))));
    after.forEach((b, i) => expect(b.equals(before[i]!)).toBe(true));
    expect((await readdir(d)).sort()).toEqual(files);
  });

  it("the final rename fails (the target is a non-empty directory): the temp file is removed", async () => {
    const d = path.join(dir, "rename");
    const target = path.join(d, "model.safetensors");
    await mkdir(path.join(target, "inside"), { recursive: true });
    await expect(writeSafetensors(target, { a: { data: Float32Array.of(1), shape: [1] } })).rejects.toMatchObject({ code: expect.stringMatching(/EISDIR|ENOTEMPTY|EEXIST|EPERM/) });
    expect(await readdir(d)).toEqual(["model.safetensors"]);
    expect(await readdir(target)).toEqual(["inside"]);
  });

  it("a missing parent directory: the write fails and creates nothing", async () => {
    const d = path.join(dir, "no-such-dir");
    await expect(writeSafetensors(path.join(d, "w.safetensors"), { a: { data: Float32Array.of(1), shape: [1] } })).rejects.toMatchObject({ code: "ENOENT" });
    await expect(readdir(d)).rejects.toMatchObject({ code: "ENOENT" });
  });

  const root = typeof process.getuid === "function" && process.getuid() === 0;
  it.skipIf(root || process.platform === "win32")("a read-only directory: the write fails, the old file is intact, nothing is left", async () => {
    const d = path.join(dir, "readonly");
    await mkdir(d);
    const file = path.join(d, "model.safetensors");
    await writeSafetensors(file, { a: { data: Float32Array.of(1), shape: [1] } });
    const before = await readFile(file);
    await chmod(d, 0o555);
    try {
      await expect(writeSafetensors(file, { a: { data: Float32Array.of(2), shape: [1] } })).rejects.toMatchObject({ code: expect.stringMatching(/EACCES|EPERM|EROFS/) });
      await expect(
        writeConfig(d, {
          family: "bloom",
          modelType: "bloom",
          vocabSize: 8,
          hiddenSize: 4,
          numLayers: 1,
          numHeads: 1,
          numKvHeads: 1,
          headDim: 4,
          intermediateSize: 16,
          layerNormEps: 1e-5,
          residualPostLayernorm: false,
          tieWordEmbeddings: true,
          attentionBias: true,
          attentionOutBias: true,
          mlpBias: true,
          slidingWindow: null,
          layerWindows: [null],
          maxPositionEmbeddings: null,
          positional: { type: "alibi" },
          hiddenAct: "gelu_tanh",
          initializerRange: 0.02,
          bosTokenId: 1,
          eosTokenId: 2,
          padTokenId: null,
          torchDtype: null,
        }),
      ).rejects.toBeTruthy();
    } finally {
      await chmod(d, 0o755);
    }
    expect((await readFile(file)).equals(before)).toBe(true);
    expect(await readdir(d)).toEqual(["model.safetensors"]);
  });
});
