/**
 * Malformed safetensors files and checkpoints: every case gives CtxwinError ERR_FORMAT naming the
 * file and the problem; random corruption never gives anything else.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { CtxwinError } from "../../lib/errors.js";
import { openCheckpoint, readSafetensorsHeader, readTensor, writeSafetensors, writeShardedSafetensors } from "../../lib/models/io/index.js";
import { buildSafetensors, f32Bytes, rng, tempDir, writeBytes } from "./util.js";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("bad"));
});
afterAll(async () => cleanup());

const ok = { w: { dtype: "F32", shape: [2, 2], data_offsets: [0, 16] } };
const data16 = f32Bytes([1, 2, 3, 4]);

interface Case {
  name: string;
  bytes: () => Uint8Array;
  /** a fragment the message must contain (after the file name) */
  msg: RegExp;
}

const CASES: Case[] = [
  { name: "empty file", bytes: () => new Uint8Array(0), msg: /header length: expected an 8-byte .* got a file of 0 bytes/ },
  { name: "shorter than the length prefix", bytes: () => new Uint8Array(5), msg: /header length: .*got a file of 5 bytes/ },
  { name: "header length past EOF", bytes: () => buildSafetensors(ok, data16, { lengthOverride: 1000n }), msg: /header length: expected at most \d+ bytes .* got 1000: the header runs past the end/ },
  { name: "absurd header length", bytes: () => buildSafetensors(ok, data16, { lengthOverride: 1n << 40n }), msg: /header length: expected at most 100000000 bytes, got 1099511627776/ },
  { name: "truncated inside the header", bytes: () => buildSafetensors(ok, data16, { truncateTo: 20 }), msg: /header length: .*past the end of the file \(truncated\?\)/ },
  { name: "truncated data section", bytes: () => buildSafetensors(ok, data16, { truncateTo: 8 + JSON.stringify(ok).length + 10 }), msg: /tensor "w"\.data_offsets: expected a range inside the data section \(10 bytes\), got \[0,16\], past the end of the file/ },
  { name: "bad JSON", bytes: () => buildSafetensors('{"w": {"dtype": "F32",', data16), msg: /header: expected valid JSON, got a parse error/ },
  { name: "invalid UTF-8", bytes: () => buildSafetensors(null, data16, { rawHeader: Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d]) }), msg: /header: expected UTF-8 JSON/ },
  { name: "header is an array", bytes: () => buildSafetensors([1, 2], data16), msg: /header: expected a JSON object, got/ },
  { name: "header is a number", bytes: () => buildSafetensors("42", data16), msg: /header: expected a JSON object, got 42/ },
  { name: "entry not an object", bytes: () => buildSafetensors({ w: 5 }, data16), msg: /tensor "w": expected an object with dtype, shape and data_offsets, got 5/ },
  { name: "unknown dtype", bytes: () => buildSafetensors({ w: { ...ok.w, dtype: "Q4_K" } }, data16), msg: /tensor "w"\.dtype: expected one of BOOL, .*F32.*, got "Q4_K"/ },
  { name: "missing dtype", bytes: () => buildSafetensors({ w: { shape: [4], data_offsets: [0, 16] } }, data16), msg: /tensor "w"\.dtype: expected one of .*, got nothing/ },
  { name: "shape not an array", bytes: () => buildSafetensors({ w: { ...ok.w, shape: "2x2" } }, data16), msg: /tensor "w"\.shape: expected an array of non-negative integers, got "2x2"/ },
  { name: "negative dim", bytes: () => buildSafetensors({ w: { ...ok.w, shape: [-2, -2] } }, data16), msg: /tensor "w"\.shape: expected an array of non-negative integers/ },
  { name: "fractional dim", bytes: () => buildSafetensors({ w: { ...ok.w, shape: [2.5, 2] } }, data16), msg: /tensor "w"\.shape/ },
  { name: "missing data_offsets", bytes: () => buildSafetensors({ w: { dtype: "F32", shape: [4] } }, data16), msg: /tensor "w"\.data_offsets: expected \[begin, end\].*got nothing/ },
  { name: "data_offsets of length 3", bytes: () => buildSafetensors({ w: { ...ok.w, data_offsets: [0, 8, 16] } }, data16), msg: /tensor "w"\.data_offsets: expected \[begin, end\]/ },
  { name: "begin > end", bytes: () => buildSafetensors({ w: { dtype: "F32", shape: [0], data_offsets: [16, 0] } }, data16), msg: /tensor "w"\.data_offsets: expected begin <= end, got \[16,0\]/ },
  { name: "offsets out of range", bytes: () => buildSafetensors({ w: { dtype: "F32", shape: [4], data_offsets: [8, 24] } }, data16), msg: /tensor "w"\.data_offsets: expected a range inside the data section \(16 bytes\), got \[8,24\]/ },
  {
    name: "overlapping tensors",
    bytes: () => buildSafetensors({ a: { dtype: "F32", shape: [3], data_offsets: [0, 12] }, b: { dtype: "F32", shape: [2], data_offsets: [8, 16] } }, data16),
    msg: /tensors "a" and "b": expected non-overlapping data_offsets, got \[0, 12\] and \[8, 16\]/,
  },
  { name: "size mismatch", bytes: () => buildSafetensors({ w: { dtype: "F32", shape: [2, 2], data_offsets: [0, 8] } }, data16), msg: /tensor "w": expected 16 bytes \(shape \[2, 2\] × 4-byte F32\), got data_offsets \[0,8\] \(8 bytes\)/ },
  { name: "size mismatch (bf16)", bytes: () => buildSafetensors({ w: { dtype: "BF16", shape: [4], data_offsets: [0, 16] } }, data16), msg: /tensor "w": expected 8 bytes \(shape \[4\] × 2-byte BF16\)/ },
  { name: "absurd shape", bytes: () => buildSafetensors({ w: { dtype: "F32", shape: [2 ** 40, 2 ** 40], data_offsets: [0, 16] } }, data16), msg: /tensor "w": expected a size that fits/ },
  { name: "metadata not strings", bytes: () => buildSafetensors({ __metadata__: { format: 1 }, ...ok }, data16), msg: /__metadata__\["format"\]: expected a string, got 1/ },
  { name: "metadata not an object", bytes: () => buildSafetensors({ __metadata__: "pt", ...ok }, data16), msg: /__metadata__: expected an object of strings, got "pt"/ },
];

describe("malformed safetensors files", () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const file = path.join(dir, `${c.name.replace(/[^a-z0-9]+/gi, "_")}.safetensors`);
      await writeBytes(file, c.bytes());
      const err = await readSafetensorsHeader(file).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CtxwinError);
      expect((err as CtxwinError).code).toBe("ERR_FORMAT");
      const msg = (err as Error).message;
      expect(msg.startsWith(`loadModel: ${file}: `)).toBe(true);
      expect(msg).toMatch(c.msg);
    });
  }

  it("a missing file and a directory", async () => {
    const missing = path.join(dir, "nope.safetensors");
    await expect(readSafetensorsHeader(missing)).rejects.toThrow(`loadModel: ${missing}: file: expected a safetensors file, got no such file`);
    await expect(readSafetensorsHeader(dir)).rejects.toMatchObject({ code: "ERR_FORMAT", message: expect.stringContaining(dir) });
  });

  it("the caller's function name leads the message", async () => {
    const file = path.join(dir, "fn.safetensors");
    await writeBytes(file, new Uint8Array(3));
    await expect(readSafetensorsHeader(file, "loadAdapter")).rejects.toThrow(new RegExp(`^loadAdapter: ${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: header length`));
  });

  it("a file truncated after its header was read: the tensor read fails cleanly", async () => {
    const file = path.join(dir, "late-trunc.safetensors");
    await writeSafetensors(file, { w: { data: new Float32Array(1000), shape: [1000] } });
    const h = await readSafetensorsHeader(file);
    const bytes = await readFile(file);
    await writeFile(file, bytes.subarray(0, bytes.length - 100));
    await expect(readTensor(file, h, "w")).rejects.toThrow(/tensor "w": expected 4000 bytes at offset \d+, got 3900 bytes before the end of the file/);
  });

  it("random corruption gives ERR_FORMAT or a valid header, never another error", async () => {
    const file = path.join(dir, "fuzz-src.safetensors");
    await writeSafetensors(
      file,
      { a: { data: Float32Array.of(1, 2, 3), shape: [3] }, "b.weight": { data: new Float32Array(6), shape: [2, 3], dtype: "BF16" } },
      { format: "pt" },
    );
    const good = await readFile(file);
    const r = rng(7);
    const target = path.join(dir, "fuzz.safetensors");
    let rejected = 0;
    for (let i = 0; i < 400; i++) {
      const b = Buffer.from(good);
      const mode = i % 3;
      let bytes: Buffer = b;
      if (mode === 0) {
        for (let k = 0; k < 1 + Math.floor(r() * 4); k++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
      } else if (mode === 1) {
        bytes = b.subarray(0, Math.floor(r() * b.length));
      } else {
        const p = 8 + Math.floor(r() * (b.length - 8));
        bytes = Buffer.concat([b.subarray(0, p), Buffer.from([Math.floor(r() * 256)]), b.subarray(p)]);
      }
      await writeBytes(target, bytes);
      try {
        const h = await readSafetensorsHeader(target);
        for (const n of Object.keys(h.tensors)) {
          try {
            await readTensor(target, h, n);
          } catch (e) {
            if (!(e instanceof CtxwinError) || !["ERR_FORMAT", "ERR_DTYPE"].includes(e.code)) throw e;
          }
        }
      } catch (e) {
        if (!(e instanceof CtxwinError) || e.code !== "ERR_FORMAT") throw e;
        expect(e.message).toContain(target);
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(100);
  });
});

describe("malformed checkpoints", () => {
  async function sharded(name: string): Promise<string> {
    const d = path.join(dir, name);
    await writeShardedSafetensors(d, { a: { data: new Float32Array(4), shape: [4] }, b: { data: new Float32Array(4), shape: [4] } }, { maxShardBytes: 16 });
    return d;
  }
  async function editIndex(d: string, edit: (j: Record<string, unknown>) => unknown): Promise<string> {
    const f = path.join(d, "model.safetensors.index.json");
    let j: Record<string, unknown> = {};
    try {
      j = JSON.parse(await readFile(f, "utf8"));
    } catch {
      // a previous edit left it broken
    }
    const out = edit(j) ?? j;
    await writeFile(f, typeof out === "string" ? out : JSON.stringify(out));
    return f;
  }

  it("no weights at all (with a hint about .bin files)", async () => {
    const d = path.join(dir, "empty-ck");
    await mkdir(d, { recursive: true });
    await expect(openCheckpoint(d)).rejects.toThrow(`loadModel: ${d}: weights: expected model.safetensors or model.safetensors.index.json, got neither (the directory is empty)`);
    await writeFile(path.join(d, "pytorch_model.bin"), "x");
    await expect(openCheckpoint(d)).rejects.toThrow(/got neither \(found pytorch_model\.bin: PyTorch pickle checkpoints are not supported/);
  });

  it("the directory does not exist", async () => {
    await expect(openCheckpoint(path.join(dir, "nowhere"))).rejects.toMatchObject({ code: "ERR_ARG" });
  });

  it("index: bad JSON, no weight_map, bad entries", async () => {
    const d = await sharded("idx-json");
    const f = await editIndex(d, () => "{ nope");
    await expect(openCheckpoint(d)).rejects.toThrow(`loadModel: ${f}: file: expected valid JSON`);
    await editIndex(d, () => ({ metadata: {} }));
    await expect(openCheckpoint(d)).rejects.toThrow(`loadModel: ${f}: weight_map: expected an object mapping tensor names to shard files, got nothing`);
    await editIndex(d, () => ({ weight_map: { a: 3 } }));
    await expect(openCheckpoint(d)).rejects.toThrow(`loadModel: ${f}: weight_map["a"]: expected a shard file name, got 3`);
    await editIndex(d, () => ({ weight_map: { a: "../model-00001-of-00002.safetensors" } }));
    await expect(openCheckpoint(d)).rejects.toThrow(/weight_map\["a"\]: expected a file name inside the checkpoint directory/);
    await editIndex(d, () => ({ weight_map: {} }));
    await expect(openCheckpoint(d)).rejects.toThrow(/weight_map: expected at least one tensor, got an empty map/);
  });

  it("index: a missing shard", async () => {
    const d = await sharded("idx-missing");
    const f = await editIndex(d, (j) => {
      (j.weight_map as Record<string, string>).b = "model-00009-of-00009.safetensors";
    });
    await expect(openCheckpoint(d)).rejects.toThrow(`loadModel: ${f}: weight_map["b"]: expected an existing shard file, got "model-00009-of-00009.safetensors", which is missing`);
  });

  it("index: a name its shard does not hold", async () => {
    const d = await sharded("idx-wrong");
    const f = await editIndex(d, (j) => {
      (j.weight_map as Record<string, string>).b = "model-00001-of-00002.safetensors";
    });
    await expect(openCheckpoint(d)).rejects.toThrow(`loadModel: ${f}: weight_map["b"]: expected a tensor stored in model-00001-of-00002.safetensors, got no such tensor in that shard`);
  });

  it("index: a corrupt shard is named", async () => {
    const d = await sharded("idx-corrupt");
    const shard = path.join(d, "model-00002-of-00002.safetensors");
    await writeFile(shard, Buffer.alloc(4));
    await expect(openCheckpoint(d)).rejects.toThrow(`loadModel: ${path.resolve(shard)}: header length`);
  });
});
