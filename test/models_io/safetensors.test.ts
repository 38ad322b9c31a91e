import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFile, readdir } from "node:fs/promises";
import * as path from "node:path";
import {
  openCheckpoint,
  readSafetensorsHeader,
  readTensor,
  readTensorRaw,
  writeCheckpoint,
  writeSafetensors,
  writeShardedSafetensors,
} from "../../lib/models/io/index.js";
import { BF16, F16, buildSafetensors, decodeRef, f32Bytes, f32FromBitsRef, rng, roundToFormat, sameValue, tempDir, writeBytes } from "./util.js";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("st"));
});
afterAll(async () => cleanup());

/** f32 values that exercise rounding: specials, boundaries, ties, subnormals, random bit patterns. */
function probeValues(): Float32Array {
  const v: number[] = [
    0, -0, 1, -1, 0.5, 2, 3, Math.PI, -Math.E, 1e-3, 123456.789,
    Infinity, -Infinity, NaN,
    // f16 boundaries
    65504, 65519, 65519.996, 65520, -65520, 65536, 1e6,
    2 ** -14, 2 ** -14 * (1 - 2 ** -11), 2 ** -24, 2 ** -25, 1.5 * 2 ** -25, 2 ** -25 * 1.0000001, 3 * 2 ** -25, 2 ** -26, 1e-8, -1e-8,
    // ties to even (f16: ulp(1) = 2^-10; bf16: ulp(1) = 2^-7)
    1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20,
    // f32 extremes
    f32FromBitsRef(0x7f7fffff), f32FromBitsRef(0xff7fffff), f32FromBitsRef(0x00000001), f32FromBitsRef(0x80000001), f32FromBitsRef(0x00800000), f32FromBitsRef(0x007fffff),
    // bf16 boundaries
    f32FromBitsRef(0x7f7f7fff), f32FromBitsRef(0x7f7f8000), f32FromBitsRef(0x7f7f8001), f32FromBitsRef(0x7f7effff),
  ];
  const r = rng(12345);
  for (let i = 0; i < 50_000; i++) v.push(f32FromBitsRef(Math.floor(r() * 2 ** 32)));
  for (let i = 0; i < 20_000; i++) v.push((r() - 0.5) * 2 ** Math.floor(r() * 60 - 30));
  return Float32Array.from(v);
}

describe("safetensors write → read", () => {
  it("F32 round trips bit-exactly, incl. NaN payloads, -0 and subnormals", async () => {
    const file = path.join(dir, "f32.safetensors");
    const a = probeValues();
    const bits = new Uint32Array(a.buffer);
    bits[bits.length - 1] = 0x7fa00001; // a signalling NaN payload
    const b = Float32Array.from({ length: 12 }, (_, i) => i - 5.5);
    await writeSafetensors(file, { "z.weight": { data: a, shape: [a.length] }, "a.bias": { data: b, shape: [3, 4] } }, { note: "hi" });
    const h = await readSafetensorsHeader(file);
    expect(Object.keys(h.tensors).sort()).toEqual(["a.bias", "z.weight"]);
    expect(h.metadata).toEqual({ note: "hi" });
    expect(h.tensors["a.bias"]!.shape).toEqual([3, 4]);
    const ra = await readTensor(file, h, "z.weight");
    expect(ra.dtype).toBe("F32");
    expect(ra.shape).toEqual([a.length]);
    expect(Buffer.from(ra.data.buffer, ra.data.byteOffset, ra.data.byteLength).equals(Buffer.from(a.buffer))).toBe(true);
    const rb = await readTensor(file, h, "a.bias");
    expect(Array.from(rb.data)).toEqual(Array.from(b));
  });

  for (const [dtype, fmt] of [
    ["BF16", BF16],
    ["F16", F16],
  ] as const) {
    it(`${dtype}: stored bits decode to the round-to-nearest-even value of an independent reference`, async () => {
      const file = path.join(dir, `${dtype}.safetensors`);
      const a = probeValues();
      await writeSafetensors(file, { x: { data: a, shape: [a.length], dtype } });
      const h = await readSafetensorsHeader(file);
      expect(h.tensors.x).toEqual({ dtype, shape: [a.length], offsets: [0, a.length * 2] });
      const raw = await readTensorRaw(file, h, "x");
      expect(raw.dtype).toBe(dtype);
      expect(raw.bytes.length).toBe(a.length * 2);
      const read = await readTensor(file, h, "x");
      let bad = 0;
      const fails: string[] = [];
      for (let i = 0; i < a.length; i++) {
        const bitsOut = raw.bytes[2 * i]! | (raw.bytes[2 * i + 1]! << 8);
        const want = roundToFormat(a[i]!, fmt);
        const got = decodeRef(bitsOut, fmt);
        const ok = Number.isNaN(want) ? Number.isNaN(got) && Number.isNaN(read.data[i]!) : sameValue(got, want) && sameValue(read.data[i]!, want);
        if (!ok && bad++ < 5) fails.push(`x=${a[i]} want ${want} got bits 0x${bitsOut.toString(16)} = ${got}, read ${read.data[i]}`);
      }
      expect(fails).toEqual([]);
      expect(bad).toBe(0);
    });

    it(`${dtype}: every one of the 65536 bit patterns decodes exactly (and re-encodes to itself unless NaN)`, async () => {
      const file = path.join(dir, `${dtype}-all.safetensors`);
      const bytes = new Uint8Array(65536 * 2);
      for (let h = 0; h < 65536; h++) {
        bytes[2 * h] = h & 0xff;
        bytes[2 * h + 1] = h >> 8;
      }
      await writeSafetensors(file, { all: { bytes, shape: [256, 256], dtype } });
      const hdr = await readSafetensorsHeader(file);
      const t = await readTensor(file, hdr, "all");
      for (let h = 0; h < 65536; h++) {
        const want = decodeRef(h, fmt);
        if (Number.isNaN(want)) expect(Number.isNaN(t.data[h]!)).toBe(true);
        else if (!sameValue(t.data[h]!, want)) expect(`${h.toString(16)}: ${t.data[h]}`).toBe(`${h.toString(16)}: ${want}`);
      }
      // float → half of those values gives the same bits back
      const back = path.join(dir, `${dtype}-back.safetensors`);
      await writeSafetensors(back, { all: { data: t.data, shape: [65536], dtype } });
      const raw = await readTensorRaw(back, await readSafetensorsHeader(back), "all");
      for (let h = 0; h < 65536; h++) {
        const got = raw.bytes[2 * h]! | (raw.bytes[2 * h + 1]! << 8);
        if (Number.isNaN(decodeRef(h, fmt))) {
          expect(Number.isNaN(decodeRef(got, fmt))).toBe(true);
          expect(got & 0x8000).toBe(h & 0x8000); // sign kept
        } else if (got !== h) expect(got.toString(16)).toBe(h.toString(16));
      }
    });
  }

  it("NaN stays NaN (quiet, sign kept) in bf16 and f16", async () => {
    const file = path.join(dir, "nan.safetensors");
    const a = new Float32Array(4);
    new Uint32Array(a.buffer).set([0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001]);
    await writeSafetensors(file, { b: { data: a, shape: [4], dtype: "BF16" }, h: { data: a, shape: [4], dtype: "F16" } });
    const hdr = await readSafetensorsHeader(file);
    for (const [n, fmt] of [
      ["b", BF16],
      ["h", F16],
    ] as const) {
      const raw = await readTensorRaw(file, hdr, n);
      for (let i = 0; i < 4; i++) {
        const bits = raw.bytes[2 * i]! | (raw.bytes[2 * i + 1]! << 8);
        expect(Number.isNaN(decodeRef(bits, fmt))).toBe(true);
        expect(!!(bits & 0x8000)).toBe(i % 2 === 1);
      }
    }
  });

  it("lays the file out as the reference implementation: header padded with spaces to 8 bytes, larger dtypes first, then names", async () => {
    const file = path.join(dir, "layout.safetensors");
    await writeSafetensors(
      file,
      {
        "b.h": { data: new Float32Array(3), shape: [3], dtype: "F16" },
        "c.f": { data: new Float32Array(2), shape: [2] },
        "a.h": { data: new Float32Array(1), shape: [1], dtype: "BF16" },
        "a.f": { data: new Float32Array(1), shape: [] },
        empty: { data: new Float32Array(0), shape: [0, 4] },
      },
      { format: "pt" },
    );
    const buf = await readFile(file);
    const n = Number(buf.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const text = buf.subarray(8, 8 + n).toString("utf8");
    expect(text.trimEnd().endsWith("}")).toBe(true);
    expect(/^ *$/.test(text.slice(text.trimEnd().length))).toBe(true);
    const json = JSON.parse(text);
    expect(Object.keys(json)[0]).toBe("__metadata__");
    expect(json.__metadata__).toEqual({ format: "pt" });
    expect(json["a.f"]).toEqual({ dtype: "F32", shape: [], data_offsets: [0, 4] });
    expect(json["c.f"]).toEqual({ dtype: "F32", shape: [2], data_offsets: [4, 12] });
    expect(json.empty).toEqual({ dtype: "F32", shape: [0, 4], data_offsets: [12, 12] });
    expect(json["a.h"]).toEqual({ dtype: "BF16", shape: [1], data_offsets: [12, 14] });
    expect(json["b.h"]).toEqual({ dtype: "F16", shape: [3], data_offsets: [14, 20] });
    expect(buf.length).toBe(8 + n + 20);
    const h = await readSafetensorsHeader(file);
    expect((await readTensor(file, h, "empty")).data.length).toBe(0);
    expect((await readTensor(file, h, "a.f")).shape).toEqual([]);
  });

  it("reads a file written by hand (no padding, unsorted offsets, a gap, F64, non-ASCII names)", async () => {
    const file = path.join(dir, "hand.safetensors");
    const f64 = Buffer.alloc(16);
    f64.writeDoubleLE(1.5, 0);
    f64.writeDoubleLE(-1e-300, 8);
    const data = Buffer.concat([Buffer.from(f32Bytes([7, 8])), Buffer.alloc(4), f64, Buffer.from([0x80, 0x3f, 0x00, 0x3c])]);
    const header = {
      "wé.2": { dtype: "F64", shape: [2], data_offsets: [12, 28] },
      w1: { dtype: "F32", shape: [1, 2], data_offsets: [0, 8] },
      bf: { dtype: "BF16", shape: [1], data_offsets: [28, 30] },
      hf: { dtype: "F16", shape: [1], data_offsets: [30, 32] },
    };
    await writeBytes(file, buildSafetensors(header, data));
    const h = await readSafetensorsHeader(file);
    expect(h.metadata).toBeUndefined();
    expect(Array.from((await readTensor(file, h, "w1")).data)).toEqual([7, 8]);
    expect(Array.from((await readTensor(file, h, "wé.2")).data)).toEqual([1.5, -0]);
    expect(Array.from((await readTensor(file, h, "bf")).data)).toEqual([1]);
    expect(Array.from((await readTensor(file, h, "hf")).data)).toEqual([1]);
  });

  it("integer tensors read raw; as float they give ERR_DTYPE", async () => {
    const file = path.join(dir, "int.safetensors");
    const bytes = new Uint8Array(new BigInt64Array([1n, -2n]).buffer);
    await writeSafetensors(file, { ids: { bytes, shape: [2], dtype: "I64" } });
    const h = await readSafetensorsHeader(file);
    const raw = await readTensorRaw(file, h, "ids");
    expect(Array.from(new BigInt64Array(raw.bytes.buffer))).toEqual([1n, -2n]);
    await expect(readTensor(file, h, "ids")).rejects.toMatchObject({ code: "ERR_DTYPE" });
  });

  it("lazy data (sync or async functions) is fetched while writing", async () => {
    const file = path.join(dir, "lazy.safetensors");
    let calls = 0;
    await writeSafetensors(file, {
      a: { data: () => (calls++, Float32Array.of(1, 2)), shape: [2] },
      b: { data: async () => (calls++, Float32Array.of(3)), shape: [1], dtype: "BF16" },
    });
    expect(calls).toBe(2);
    const h = await readSafetensorsHeader(file);
    expect(Array.from((await readTensor(file, h, "b")).data)).toEqual([3]);
  });

  it("big tensors are written in chunks and read back", async () => {
    const file = path.join(dir, "big.safetensors");
    const n = (1 << 20) * 2 + 333;
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = Math.sin(i);
    await writeSafetensors(file, { a: { data: a, shape: [n] }, b: { data: a, shape: [n], dtype: "BF16" } });
    const h = await readSafetensorsHeader(file);
    expect(Buffer.from((await readTensor(file, h, "a")).data.buffer).equals(Buffer.from(a.buffer))).toBe(true);
    const b = (await readTensor(file, h, "b")).data;
    for (const i of [0, 1, 1 << 20, (1 << 20) + 1, n - 1]) expect(b[i]).toBe(roundToFormat(a[i]!, BF16));
  });

  it("writer argument errors", async () => {
    const file = path.join(dir, "bad-args.safetensors");
    await expect(writeSafetensors(file, { a: { data: new Float32Array(3), shape: [2] } })).rejects.toMatchObject({ code: "ERR_SHAPE" });
    await expect(writeSafetensors(file, { a: { data: new Float32Array(2), shape: [-2] } })).rejects.toMatchObject({ code: "ERR_SHAPE" });
    await expect(writeSafetensors(file, { a: { data: new Float32Array(2), shape: [2], dtype: "F64" as "F32" } })).rejects.toMatchObject({ code: "ERR_DTYPE" });
    await expect(writeSafetensors(file, { __metadata__: { data: new Float32Array(2), shape: [2] } })).rejects.toMatchObject({ code: "ERR_ARG" });
    await expect(writeSafetensors(file, { a: { data: new Float64Array(2) as unknown as Float32Array, shape: [2] } })).rejects.toMatchObject({ code: "ERR_DTYPE" });
    await expect(writeSafetensors(file, { a: { bytes: new Uint8Array(3), shape: [2], dtype: "BF16" } })).rejects.toMatchObject({ code: "ERR_SHAPE" });
    await expect(writeSafetensors(file, {}, { a: 1 as unknown as string })).rejects.toMatchObject({ code: "ERR_ARG" });
    expect((await readdir(dir)).filter((f) => f.startsWith("bad-args"))).toEqual([]);
  });
});

describe("checkpoints", () => {
  function tensors(n: number): Record<string, { data: Float32Array; shape: number[] }> {
    const out: Record<string, { data: Float32Array; shape: number[] }> = {};
    for (let i = 0; i < n; i++) out[`model.layers.${i}.w`] = { data: Float32Array.from({ length: 10 }, (_, j) => i * 100 + j), shape: [2, 5] };
    return out;
  }

  it("sharded write → openCheckpoint reads every tensor through the index", async () => {
    const d = path.join(dir, "sharded");
    const t = tensors(7);
    const res = await writeShardedSafetensors(d, t, { maxShardBytes: 100 }); // 40 bytes per tensor → 2 per shard
    expect(res.files).toEqual([
      "model-00001-of-00004.safetensors",
      "model-00002-of-00004.safetensors",
      "model-00003-of-00004.safetensors",
      "model-00004-of-00004.safetensors",
    ]);
    expect(res.totalSize).toBe(7 * 40);
    const index = JSON.parse(await readFile(path.join(d, "model.safetensors.index.json"), "utf8"));
    expect(index.metadata).toEqual({ total_size: 280 });
    expect(index.weight_map["model.layers.0.w"]).toBe("model-00001-of-00004.safetensors");
    expect(index.weight_map["model.layers.6.w"]).toBe("model-00004-of-00004.safetensors");
    expect(Object.keys(index.weight_map)).toHaveLength(7);
    const shardHeader = await readSafetensorsHeader(path.join(d, res.files[0]!));
    expect(shardHeader.metadata).toEqual({ format: "pt" });
    const ck = await openCheckpoint(d);
    expect(ck.sharded).toBe(true);
    expect(ck.files).toHaveLength(4);
    expect(ck.names()).toEqual(Object.keys(t).sort());
    expect(ck.has("model.layers.3.w")).toBe(true);
    expect(ck.has("nope")).toBe(false);
    expect(ck.info("model.layers.3.w")).toMatchObject({ dtype: "F32", shape: [2, 5], file: path.resolve(d, "model-00002-of-00004.safetensors") });
    for (const [name, v] of Object.entries(t)) {
      const r = await ck.read(name);
      expect(Array.from(r.data)).toEqual(Array.from(v.data));
      expect(r.shape).toEqual([2, 5]);
    }
    await expect(ck.read("missing.weight")).rejects.toMatchObject({ code: "ERR_FORMAT" });
    expect(() => ck.info("missing.weight")).toThrow(/missing\.weight.*no such tensor/);
  });

  it("a tensor bigger than maxShardBytes gets a shard of its own", async () => {
    const d = path.join(dir, "sharded-big");
    const res = await writeShardedSafetensors(d, { a: { data: new Float32Array(100), shape: [100] }, b: { data: new Float32Array(1), shape: [1] } }, { maxShardBytes: 16 });
    expect(res.files).toHaveLength(2);
    const ck = await openCheckpoint(d);
    expect(ck.names()).toEqual(["a", "b"]);
  });

  it("single model.safetensors, opened by directory or by file; bf16 read raw", async () => {
    const d = path.join(dir, "single");
    const r = await writeCheckpoint(d, { w: { data: Float32Array.of(1, 2, 3), shape: [3], dtype: "BF16" } });
    expect(r).toEqual({ files: ["model.safetensors"], sharded: false });
    const ck = await openCheckpoint(d);
    expect(ck.sharded).toBe(false);
    expect(ck.metadata).toEqual({ format: "pt" });
    expect(Array.from((await ck.read("w")).data)).toEqual([1, 2, 3]);
    const raw = await ck.readRaw("w");
    expect(raw.dtype).toBe("BF16");
    expect(Array.from(raw.bytes)).toEqual([0x80, 0x3f, 0x00, 0x40, 0x40, 0x40]);
    const byFile = await openCheckpoint(path.join(d, "model.safetensors"));
    expect(byFile.names()).toEqual(["w"]);
  });

  it("writeCheckpoint switches layouts and removes the stale one", async () => {
    const d = path.join(dir, "switch");
    await writeCheckpoint(d, tensors(4), { maxShardBytes: 50 });
    expect((await readdir(d)).sort()).toEqual([
      "model-00001-of-00004.safetensors",
      "model-00002-of-00004.safetensors",
      "model-00003-of-00004.safetensors",
      "model-00004-of-00004.safetensors",
      "model.safetensors.index.json",
    ]);
    await writeCheckpoint(d, tensors(2), { maxShardBytes: 50 });
    expect((await readdir(d)).sort()).toEqual(["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"]);
    await writeCheckpoint(d, tensors(2));
    expect((await readdir(d)).sort()).toEqual(["model.safetensors"]);
    expect((await openCheckpoint(d)).names()).toEqual(["model.layers.0.w", "model.layers.1.w"]);
  });

  it("tensors present in a listed shard but missing from weight_map are still found", async () => {
    const d = path.join(dir, "extra");
    await writeShardedSafetensors(d, tensors(3), { maxShardBytes: 80 }); // shard 1: layers 0, 1; shard 2: layer 2
    const idxFile = path.join(d, "model.safetensors.index.json");
    const idx = JSON.parse(await readFile(idxFile, "utf8"));
    delete idx.weight_map["model.layers.1.w"];
    await writeBytes(idxFile, Buffer.from(JSON.stringify(idx)));
    const ck = await openCheckpoint(d);
    expect(ck.names()).toEqual(["model.layers.0.w", "model.layers.1.w", "model.layers.2.w"]);
    expect(Array.from((await ck.read("model.layers.1.w")).data)[0]).toBe(100);
  });
});
