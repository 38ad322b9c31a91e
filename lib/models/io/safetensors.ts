/**
 * safetensors reading and writing (https://github.com/huggingface/safetensors):
 *
 *   [u64 little-endian N][N bytes of JSON header][data section]
 *
 * The header maps tensor names to `{ dtype, shape, data_offsets: [begin, end] }` (offsets relative
 * to the start of the data section) plus an optional `__metadata__` string→string map.
 *
 * Reading never loads a whole file: the header is read on its own and validated (length sane,
 * UTF-8 JSON, every entry well formed, offsets inside the file, non-overlapping, sizes matching
 * shape × dtype), and each tensor is read with one positioned read of exactly its bytes.
 * Writing follows the reference implementation (header padded with spaces to a multiple of 8,
 * tensors laid out by decreasing element size then name, so every tensor is aligned to its element
 * size) and is atomic: temp file in the same directory, fsync, rename.
 *
 * Errors: malformed files → CtxwinError ERR_FORMAT `<fn>: <file>: <field>: expected ..., got ...`
 * (fn defaults to "loadModel"); bad arguments to the writers → ERR_ARG / ERR_SHAPE / ERR_DTYPE.
 */
import { mkdir, open, readdir, readFile, stat, unlink, type FileHandle } from "node:fs/promises";
import * as path from "node:path";
import { CtxwinError, show } from "../../errors.js";
import { HOST_LITTLE_ENDIAN, decodeHalf, encodeFloat32 } from "./convert.js";
import { stageFile, syncDir, writeAllAtomic, writeFully, type StagedFile } from "../../util/atomic.js";

/** Element sizes in bytes of the safetensors dtypes ctxwin understands. */
export const SAFETENSORS_DTYPES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  F8_E8M0: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
  C64: 8,
} as const;
export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPES;
/** The dtypes that convert to / from Float32Array. */
export type FloatDtype = "F32" | "BF16" | "F16";
const FLOAT_DTYPES: readonly string[] = ["F32", "BF16", "F16"];

/** The reference implementation refuses headers above this size; so do we. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorInfo {
  dtype: SafetensorsDtype;
  shape: number[];
  /** [begin, end) in bytes, relative to the start of the data section (`dataStart`). */
  offsets: [number, number];
}

export interface SafetensorsHeader {
  /** The file this header was read from. */
  path: string;
  /** Tensor name → info (a null-prototype object). */
  tensors: Record<string, TensorInfo>;
  /** `__metadata__`, when the file has one. */
  metadata?: Record<string, string>;
  /** Absolute file offset of the data section: 8 + header length. */
  dataStart: number;
  /** File size when the header was read. */
  fileSize: number;
}

/** A tensor read as float32 values. */
export interface TensorData {
  data: Float32Array;
  shape: number[];
  /** The dtype stored in the file. */
  dtype: SafetensorsDtype;
}

/** A tensor's stored bytes (little-endian, as in the file). */
export interface RawTensor {
  bytes: Uint8Array;
  shape: number[];
  dtype: SafetensorsDtype;
}

const DEFAULT_FN = "loadModel";

function formatError(fn: string, where: string, field: string, expected: string, got: string): CtxwinError {
  return new CtxwinError("ERR_FORMAT", `${fn}: ${where}: ${field}: expected ${expected}, got ${got}`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function shapeStr(s: readonly number[]): string {
  return `[${s.join(", ")}]`;
}

/** Product of a shape, or -1 when it is not a safe integer. */
function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (!Number.isSafeInteger(n)) return -1;
  }
  return n;
}

/** Reads up to `length` bytes at `position` into buf[offset..]; returns how many were read (short only at EOF). */
async function readFully(fh: FileHandle, buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  const CHUNK = 1 << 30;
  let done = 0;
  while (done < length) {
    const want = Math.min(CHUNK, length - done);
    const { bytesRead } = await fh.read(buf, offset + done, want, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

function describeFsError(e: unknown): string {
  const code = (e as { code?: string })?.code;
  if (code === "ENOENT") return "no such file";
  if (code === "EISDIR") return "a directory";
  if (code === "EACCES" || code === "EPERM") return "a file that cannot be read (permission denied)";
  return `an unreadable file (${(e as Error)?.message ?? String(e)})`;
}

async function openForRead(fn: string, file: string): Promise<FileHandle> {
  try {
    return await open(file, "r");
  } catch (e) {
    throw formatError(fn, file, "file", "a safetensors file", describeFsError(e));
  }
}

/**
 * Reads and validates the header of a safetensors file (only the 8-byte length and the JSON header
 * are read). Throws ERR_FORMAT naming the file and the problem.
 */
export async function readSafetensorsHeader(file: string, fn: string = DEFAULT_FN): Promise<SafetensorsHeader> {
  const fh = await openForRead(fn, file);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw formatError(fn, file, "file", "a safetensors file", "something that is not a regular file");
    const size = st.size;
    if (size < 8) {
      throw formatError(fn, file, "header length", "an 8-byte little-endian header length at the start of the file", `a file of ${size} bytes (truncated?)`);
    }
    const lenBuf = Buffer.alloc(8);
    if ((await readFully(fh, lenBuf, 0, 8, 0)) < 8) throw formatError(fn, file, "header length", "8 bytes", "end of file (truncated?)");
    const n64 = lenBuf.readBigUInt64LE(0);
    if (n64 > BigInt(MAX_HEADER_BYTES)) {
      throw formatError(fn, file, "header length", `at most ${MAX_HEADER_BYTES} bytes`, `${n64} (not a safetensors file, or corrupt)`);
    }
    const n = Number(n64);
    if (8 + n > size) {
      throw formatError(fn, file, "header length", `at most ${size - 8} bytes (the file has ${size} bytes)`, `${n}: the header runs past the end of the file (truncated?)`);
    }
    if (n < 2) throw formatError(fn, file, "header", "a JSON object", `${n} bytes`);
    const hb = Buffer.alloc(n);
    if ((await readFully(fh, hb, 0, n, 8)) < n) throw formatError(fn, file, "header", `${n} bytes`, "end of file (truncated?)");
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(hb);
    } catch {
      throw formatError(fn, file, "header", "UTF-8 JSON", "bytes that are not valid UTF-8");
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw formatError(fn, file, "header", "valid JSON", `a parse error (${(e as Error).message})`);
    }
    return validateHeader(fn, file, json, 8 + n, size);
  } finally {
    await fh.close().catch(() => {});
  }
}

function validateHeader(fn: string, file: string, json: unknown, dataStart: number, fileSize: number): SafetensorsHeader {
  if (!isPlainObject(json)) throw formatError(fn, file, "header", "a JSON object", show(json));
  const dataSize = fileSize - dataStart;
  const tensors: Record<string, TensorInfo> = Object.create(null);
  let metadata: Record<string, string> | undefined;
  const spans: { name: string; begin: number; end: number }[] = [];
  const dtypes = Object.keys(SAFETENSORS_DTYPES).join(", ");
  for (const [name, v] of Object.entries(json)) {
    if (name === "__metadata__") {
      if (v === null) continue;
      if (!isPlainObject(v)) throw formatError(fn, file, "__metadata__", "an object of strings", show(v));
      metadata = Object.create(null) as Record<string, string>;
      for (const [k, s] of Object.entries(v)) {
        if (typeof s !== "string") throw formatError(fn, file, `__metadata__[${JSON.stringify(k)}]`, "a string", show(s));
        metadata[k] = s;
      }
      continue;
    }
    const field = `tensor ${JSON.stringify(name)}`;
    if (!isPlainObject(v)) throw formatError(fn, file, field, "an object with dtype, shape and data_offsets", show(v));
    const dtype = v.dtype;
    if (typeof dtype !== "string" || !Object.prototype.hasOwnProperty.call(SAFETENSORS_DTYPES, dtype)) {
      throw formatError(fn, file, `${field}.dtype`, `one of ${dtypes}`, dtype === undefined ? "nothing" : show(dtype));
    }
    const shape = v.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw formatError(fn, file, `${field}.shape`, "an array of non-negative integers", shape === undefined ? "nothing" : JSON.stringify(shape));
    }
    const offs = v.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw formatError(fn, file, `${field}.data_offsets`, "[begin, end] (two non-negative integers)", offs === undefined ? "nothing" : JSON.stringify(offs));
    }
    const [begin, end] = offs as [number, number];
    if (begin > end) throw formatError(fn, file, `${field}.data_offsets`, "begin <= end", JSON.stringify(offs));
    if (end > dataSize) {
      throw formatError(
        fn,
        file,
        `${field}.data_offsets`,
        `a range inside the data section (${dataSize} bytes)`,
        `${JSON.stringify(offs)}, past the end of the file (truncated?)`,
      );
    }
    const el = SAFETENSORS_DTYPES[dtype as SafetensorsDtype];
    const numel = numelOf(shape as number[]);
    const bytes = numel < 0 ? -1 : numel * el;
    if (bytes < 0 || !Number.isSafeInteger(bytes) || bytes !== end - begin) {
      throw formatError(
        fn,
        file,
        field,
        `${bytes < 0 ? "a size that fits" : `${bytes} bytes`} (shape ${shapeStr(shape as number[])} × ${el}-byte ${dtype})`,
        `data_offsets ${JSON.stringify(offs)} (${end - begin} bytes)`,
      );
    }
    tensors[name] = { dtype: dtype as SafetensorsDtype, shape: [...(shape as number[])], offsets: [begin, end] };
    if (end > begin) spans.push({ name, begin, end });
  }
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < spans.length; i++) {
    const a = spans[i - 1]!;
    const b = spans[i]!;
    if (b.begin < a.end) {
      throw formatError(
        fn,
        file,
        `tensors ${JSON.stringify(a.name)} and ${JSON.stringify(b.name)}`,
        "non-overlapping data_offsets",
        `[${a.begin}, ${a.end}] and [${b.begin}, ${b.end}]`,
      );
    }
  }
  const header: SafetensorsHeader = { path: file, tensors, dataStart, fileSize };
  if (metadata) header.metadata = metadata;
  return header;
}

function infoOf(fn: string, file: string, header: SafetensorsHeader, name: string): TensorInfo {
  const info = typeof name === "string" ? header.tensors[name] : undefined;
  if (!info) {
    throw formatError(fn, file, `tensor ${JSON.stringify(name)}`, `one of the file's ${Object.keys(header.tensors).length} tensors`, "no such tensor");
  }
  return info;
}

async function readRawWith(fn: string, fh: FileHandle, file: string, header: SafetensorsHeader, name: string): Promise<RawTensor> {
  const info = infoOf(fn, file, header, name);
  const [begin, end] = info.offsets;
  const nbytes = end - begin;
  const bytes = new Uint8Array(nbytes);
  const got = await readFully(fh, bytes, 0, nbytes, header.dataStart + begin);
  if (got < nbytes) {
    throw formatError(fn, file, `tensor ${JSON.stringify(name)}`, `${nbytes} bytes at offset ${header.dataStart + begin}`, `${got} bytes before the end of the file (truncated?)`);
  }
  return { bytes, shape: [...info.shape], dtype: info.dtype };
}

/** Reads one tensor's stored bytes (one positioned read; nothing else of the file is read). */
export async function readTensorRaw(file: string, header: SafetensorsHeader, name: string, fn: string = DEFAULT_FN): Promise<RawTensor> {
  infoOf(fn, file, header, name);
  const fh = await openForRead(fn, file);
  try {
    return await readRawWith(fn, fh, file, header, name);
  } finally {
    await fh.close().catch(() => {});
  }
}

/**
 * Converts stored bytes to float32: F32 (no copy on little-endian hosts when aligned), BF16, F16
 * (subnormals, ±inf and NaN exact) and F64 (rounded). Other dtypes: ERR_DTYPE.
 */
export function rawToFloat32(raw: RawTensor, name = "tensor", fn: string = DEFAULT_FN): TensorData {
  const { bytes, dtype } = raw;
  const el = SAFETENSORS_DTYPES[dtype];
  const n = bytes.length / el;
  let data: Float32Array;
  if (dtype === "F32") {
    if (HOST_LITTLE_ENDIAN) {
      data = bytes.byteOffset % 4 === 0 ? new Float32Array(bytes.buffer, bytes.byteOffset, n) : new Float32Array(bytes.slice().buffer, 0, n);
    } else {
      data = new Float32Array(n);
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
      for (let i = 0; i < n; i++) data[i] = dv.getFloat32(i * 4, true);
    }
  } else if (dtype === "BF16" || dtype === "F16") {
    data = new Float32Array(n);
    decodeHalf(dtype, bytes, 0, n, data, 0);
  } else if (dtype === "F64") {
    data = new Float32Array(n);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    for (let i = 0; i < n; i++) data[i] = dv.getFloat64(i * 8, true);
  } else {
    throw new CtxwinError("ERR_DTYPE", `${fn}: ${name}: expected dtype F32, BF16, F16 or F64 to read as float32, got ${dtype} (read it with readTensorRaw)`);
  }
  return { data, shape: [...raw.shape], dtype };
}

/** Reads one tensor as float32 (F32 / BF16 / F16 / F64 in the file). */
export async function readTensor(file: string, header: SafetensorsHeader, name: string, fn: string = DEFAULT_FN): Promise<TensorData> {
  const raw = await readTensorRaw(file, header, name, fn);
  return rawToFloat32(raw, `${file}: tensor ${JSON.stringify(name)}`, fn);
}

// ---------------------------------------------------------------------------------------------
// Checkpoints: a single model.safetensors or a sharded model.safetensors.index.json
// ---------------------------------------------------------------------------------------------

export interface CheckpointTensorInfo extends TensorInfo {
  /** Absolute path of the file holding the tensor. */
  file: string;
}

export interface Checkpoint {
  /** The directory (or, for a single file opened directly, its directory). */
  readonly dir: string;
  readonly sharded: boolean;
  /** The safetensors files, absolute paths. */
  readonly files: readonly string[];
  /** The index's `metadata` (sharded) or the file's `__metadata__` (single). */
  readonly metadata: Record<string, unknown> | undefined;
  /** Every tensor name, sorted. */
  names(): string[];
  has(name: string): boolean;
  /** dtype, shape, offsets and file of a tensor; ERR_FORMAT if it is missing. */
  info(name: string): CheckpointTensorInfo;
  /** The tensor as float32. */
  read(name: string): Promise<TensorData>;
  /** The tensor's stored bytes. */
  readRaw(name: string): Promise<RawTensor>;
  /** The validated header of one of `files`. */
  header(file: string): SafetensorsHeader;
}

export interface OpenCheckpointOptions {
  /** Function name for error messages; default "loadModel". */
  fn?: string;
  /** Weights file name; default "model.safetensors" (its index: `<name>.index.json`). */
  weightsName?: string;
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Opens an HF checkpoint's weights: `<dir>/model.safetensors`, else the sharded
 * `<dir>/model.safetensors.index.json` (weight_map name → shard file; every shard must exist and
 * hold the names mapped to it). Like transformers, the single file wins when both are present.
 * `dir` may also be the path of a .safetensors file.
 */
export async function openCheckpoint(dir: string, opts: OpenCheckpointOptions = {}): Promise<Checkpoint> {
  const fn = opts.fn ?? DEFAULT_FN;
  const weightsName = opts.weightsName ?? "model.safetensors";
  if (typeof dir !== "string" || dir.length === 0) throw new CtxwinError("ERR_ARG", `${fn}: dir: expected a checkpoint directory, got ${show(dir)}`);
  let st;
  try {
    st = await stat(dir);
  } catch (e) {
    throw new CtxwinError("ERR_ARG", `${fn}: ${dir}: expected a checkpoint directory, got ${describeFsError(e)}`);
  }
  let singleFile: string | null = null;
  let root = dir;
  if (st.isFile()) {
    singleFile = path.resolve(dir);
    root = path.dirname(singleFile);
  } else {
    const single = path.join(dir, weightsName);
    if (await exists(single)) singleFile = path.resolve(single);
  }
  if (singleFile) {
    const header = await readSafetensorsHeader(singleFile, fn);
    const map = new Map<string, string>();
    for (const name of Object.keys(header.tensors)) map.set(name, singleFile);
    return makeCheckpoint(fn, root, false, new Map([[singleFile, header]]), map, header.metadata ? { ...header.metadata } : undefined);
  }
  const indexPath = path.join(dir, `${weightsName}.index.json`);
  if (!(await exists(indexPath))) {
    let found: string[] = [];
    try {
      found = (await readdir(dir)).sort();
    } catch {
      // listed below as nothing
    }
    const bins = found.filter((f) => f.endsWith(".bin") || f.endsWith(".pt") || f.endsWith(".pth"));
    const hint = bins.length
      ? ` (found ${bins.slice(0, 3).join(", ")}: PyTorch pickle checkpoints are not supported, convert them to safetensors)`
      : found.length
        ? ` (the directory has: ${found.slice(0, 8).join(", ")}${found.length > 8 ? ", ..." : ""})`
        : " (the directory is empty)";
    throw formatError(fn, dir, "weights", `${weightsName} or ${weightsName}.index.json`, `neither${hint}`);
  }
  return openSharded(fn, dir, indexPath);
}

async function openSharded(fn: string, dir: string, indexPath: string): Promise<Checkpoint> {
  const st = await stat(indexPath);
  if (st.size > MAX_HEADER_BYTES) throw formatError(fn, indexPath, "file", `at most ${MAX_HEADER_BYTES} bytes`, `${st.size} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(indexPath, "utf8"));
  } catch (e) {
    throw formatError(fn, indexPath, "file", "valid JSON", `a parse error (${(e as Error).message})`);
  }
  if (!isPlainObject(json)) throw formatError(fn, indexPath, "file", "a JSON object", show(json));
  const wm = json.weight_map;
  if (!isPlainObject(wm)) throw formatError(fn, indexPath, "weight_map", "an object mapping tensor names to shard files", wm === undefined ? "nothing" : show(wm));
  if (json.metadata !== undefined && json.metadata !== null && !isPlainObject(json.metadata)) {
    throw formatError(fn, indexPath, "metadata", "an object", show(json.metadata));
  }
  const map = new Map<string, string>();
  const shardFiles = new Map<string, string>(); // shard name → absolute path
  for (const [name, f] of Object.entries(wm)) {
    const field = `weight_map[${JSON.stringify(name)}]`;
    if (typeof f !== "string" || f.length === 0) throw formatError(fn, indexPath, field, "a shard file name", show(f));
    if (f.includes("/") || f.includes("\\") || f === "." || f === ".." || path.isAbsolute(f)) {
      throw formatError(fn, indexPath, field, "a file name inside the checkpoint directory", JSON.stringify(f));
    }
    let abs = shardFiles.get(f);
    if (!abs) {
      abs = path.resolve(dir, f);
      if (!(await exists(abs))) throw formatError(fn, indexPath, field, "an existing shard file", `${JSON.stringify(f)}, which is missing`);
      shardFiles.set(f, abs);
    }
    map.set(name, abs);
  }
  if (shardFiles.size === 0) throw formatError(fn, indexPath, "weight_map", "at least one tensor", "an empty map");
  const headers = new Map<string, SafetensorsHeader>();
  for (const abs of shardFiles.values()) headers.set(abs, await readSafetensorsHeader(abs, fn));
  for (const [name, abs] of map) {
    if (!headers.get(abs)!.tensors[name]) {
      throw formatError(fn, indexPath, `weight_map[${JSON.stringify(name)}]`, `a tensor stored in ${path.basename(abs)}`, "no such tensor in that shard");
    }
  }
  // tensors present in a shard but absent from weight_map are loaded too (as transformers does)
  const extra = new Map<string, string>();
  for (const [abs, h] of headers) {
    for (const name of Object.keys(h.tensors)) {
      if (map.has(name)) continue;
      const prev = extra.get(name);
      if (prev) {
        throw formatError(fn, indexPath, `tensor ${JSON.stringify(name)}`, "one shard per tensor", `${path.basename(prev)} and ${path.basename(abs)}, and no weight_map entry`);
      }
      extra.set(name, abs);
    }
  }
  for (const [name, abs] of extra) map.set(name, abs);
  const metadata = isPlainObject(json.metadata) ? { ...json.metadata } : undefined;
  return makeCheckpoint(fn, dir, true, headers, map, metadata);
}

function makeCheckpoint(
  fn: string,
  dir: string,
  sharded: boolean,
  headers: Map<string, SafetensorsHeader>,
  map: Map<string, string>,
  metadata: Record<string, unknown> | undefined,
): Checkpoint {
  const sortedNames = [...map.keys()].sort();
  const files = [...headers.keys()];
  const locate = (name: string): { file: string; header: SafetensorsHeader } => {
    const file = typeof name === "string" ? map.get(name) : undefined;
    if (!file) {
      throw formatError(fn, dir, `tensor ${JSON.stringify(name)}`, `one of the checkpoint's ${map.size} tensors`, "no such tensor");
    }
    return { file, header: headers.get(file)! };
  };
  return {
    dir,
    sharded,
    files,
    metadata,
    names: () => [...sortedNames],
    has: (name) => map.has(name),
    info(name) {
      const { file, header } = locate(name);
      const i = header.tensors[name]!;
      return { dtype: i.dtype, shape: [...i.shape], offsets: [i.offsets[0], i.offsets[1]], file };
    },
    async read(name) {
      const { file, header } = locate(name);
      return readTensor(file, header, name, fn);
    },
    async readRaw(name) {
      const { file, header } = locate(name);
      return readTensorRaw(file, header, name, fn);
    },
    header(file) {
      const h = headers.get(path.resolve(file));
      if (!h) throw new CtxwinError("ERR_ARG", `${fn}: file: expected one of ${files.join(", ")}, got ${show(file)}`);
      return h;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/** A float32 tensor to write, stored as `dtype` (default F32). `data` may be a (async) function, called once, while writing. */
export interface FloatTensorInput {
  data: Float32Array | (() => Float32Array | Promise<Float32Array>);
  shape: readonly number[];
  dtype?: FloatDtype;
}

/** Bytes to write as they are (little-endian, `dtype`): e.g. a bf16 model saved without a float detour. */
export interface RawTensorInput {
  bytes: Uint8Array | (() => Uint8Array | Promise<Uint8Array>);
  shape: readonly number[];
  dtype: SafetensorsDtype;
}

export type TensorInput = FloatTensorInput | RawTensorInput;
export type TensorInputs = Record<string, TensorInput> | Map<string, TensorInput>;

interface Planned {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  numel: number;
  begin: number;
  end: number;
  input: TensorInput;
}

interface Plan {
  headerBytes: Buffer;
  planned: Planned[];
  dataSize: number;
}

function entriesOf(fn: string, tensors: TensorInputs): [string, TensorInput][] {
  if (tensors instanceof Map) return [...tensors.entries()];
  if (!isPlainObject(tensors)) throw new CtxwinError("ERR_ARG", `${fn}: tensors: expected an object or Map of name → tensor, got ${show(tensors)}`);
  return Object.entries(tensors);
}

function validateMetadata(fn: string, metadata: unknown): Record<string, string> | undefined {
  if (metadata === undefined || metadata === null) return undefined;
  if (!isPlainObject(metadata)) throw new CtxwinError("ERR_ARG", `${fn}: metadata: expected an object of strings, got ${show(metadata)}`);
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== "string") throw new CtxwinError("ERR_ARG", `${fn}: metadata[${JSON.stringify(k)}]: expected a string, got ${show(v)}`);
  }
  return metadata as Record<string, string>;
}

/** Validates names, shapes and dtypes (never touches the data) and lays the tensors out. */
function planTensors(fn: string, tensors: TensorInputs, metadata: Record<string, string> | undefined): Plan {
  const entries = entriesOf(fn, tensors);
  const items: Omit<Planned, "begin" | "end">[] = [];
  const seen = new Set<string>();
  for (const [name, t] of entries) {
    const field = `tensors[${JSON.stringify(name)}]`;
    if (typeof name !== "string" || name.length === 0 || name === "__metadata__") {
      throw new CtxwinError("ERR_ARG", `${fn}: tensor name: expected a non-empty string other than "__metadata__", got ${show(name)}`);
    }
    if (seen.has(name)) throw new CtxwinError("ERR_ARG", `${fn}: ${field}: expected unique names, got a duplicate`);
    seen.add(name);
    if (!isPlainObject(t)) throw new CtxwinError("ERR_ARG", `${fn}: ${field}: expected { data, shape, dtype? } or { bytes, shape, dtype }, got ${show(t)}`);
    const raw = "bytes" in t;
    if (!raw && !("data" in t)) throw new CtxwinError("ERR_ARG", `${fn}: ${field}: expected { data, shape, dtype? } or { bytes, shape, dtype }, got an object without data`);
    const shape = t.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new CtxwinError("ERR_SHAPE", `${fn}: ${field}.shape: expected an array of non-negative integers, got ${show(shape)}`);
    }
    const numel = numelOf(shape);
    if (numel < 0) throw new CtxwinError("ERR_SHAPE", `${fn}: ${field}.shape: expected a size that fits in memory, got ${shapeStr(shape)}`);
    let dtype: SafetensorsDtype;
    if (raw) {
      const d = (t as RawTensorInput).dtype;
      if (typeof d !== "string" || !Object.prototype.hasOwnProperty.call(SAFETENSORS_DTYPES, d)) {
        throw new CtxwinError("ERR_DTYPE", `${fn}: ${field}.dtype: expected one of ${Object.keys(SAFETENSORS_DTYPES).join(", ")}, got ${show(d)}`);
      }
      dtype = d;
    } else {
      const d = (t as FloatTensorInput).dtype ?? "F32";
      if (!FLOAT_DTYPES.includes(d)) throw new CtxwinError("ERR_DTYPE", `${fn}: ${field}.dtype: expected "F32", "BF16" or "F16", got ${show(d)}`);
      dtype = d;
    }
    items.push({ name, dtype, shape: [...shape], numel, input: t as TensorInput });
  }
  // the reference layout: larger elements first (keeps every tensor aligned), then by name
  items.sort((a, b) => SAFETENSORS_DTYPES[b.dtype] - SAFETENSORS_DTYPES[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let offset = 0;
  const planned: Planned[] = items.map((it) => {
    const begin = offset;
    offset += it.numel * SAFETENSORS_DTYPES[it.dtype];
    return { ...it, begin, end: offset };
  });
  if (!Number.isSafeInteger(offset)) throw new CtxwinError("ERR_SHAPE", `${fn}: tensors: expected a total size that fits, got ${offset} bytes`);
  const parts: string[] = [];
  if (metadata) parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  for (const p of planned) parts.push(`${JSON.stringify(p.name)}:${JSON.stringify({ dtype: p.dtype, shape: p.shape, data_offsets: [p.begin, p.end] })}`);
  let json = `{${parts.join(",")}}`;
  const len = Buffer.byteLength(json, "utf8");
  json += " ".repeat((8 - (len % 8)) % 8);
  const headerBytes = Buffer.from(json, "utf8");
  if (headerBytes.length > MAX_HEADER_BYTES) throw new CtxwinError("ERR_ARG", `${fn}: tensors: expected a header of at most ${MAX_HEADER_BYTES} bytes, got ${headerBytes.length}`);
  return { headerBytes, planned, dataSize: offset };
}

const WRITE_CHUNK_ELEMENTS = 1 << 20;

/** Writes a planned file into `fh`: length, header, then each tensor's data in chunks. */
async function writePlan(fn: string, plan: Plan, fh: FileHandle): Promise<void> {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(plan.headerBytes.length), 0);
  await writeFully(fh, len, 0);
  await writeFully(fh, plan.headerBytes, 8);
  const dataStart = 8 + plan.headerBytes.length;
  let scratch: Uint8Array | null = null;
  for (const p of plan.planned) {
    const field = `tensors[${JSON.stringify(p.name)}]`;
    const pos = dataStart + p.begin;
    const nbytes = p.end - p.begin;
    if ("bytes" in p.input) {
      const src = p.input.bytes;
      const bytes = typeof src === "function" ? await src() : src;
      if (!(bytes instanceof Uint8Array)) throw new CtxwinError("ERR_ARG", `${fn}: ${field}.bytes: expected a Uint8Array, got ${show(bytes)}`);
      if (bytes.length !== nbytes) {
        throw new CtxwinError("ERR_SHAPE", `${fn}: ${field}.bytes: expected ${nbytes} bytes (shape ${shapeStr(p.shape)} of ${p.dtype}), got ${bytes.length}`);
      }
      const CH = WRITE_CHUNK_ELEMENTS * 16;
      for (let o = 0; o < nbytes; o += CH) await writeFully(fh, bytes.subarray(o, Math.min(nbytes, o + CH)), pos + o);
      continue;
    }
    const src = p.input.data;
    const data = typeof src === "function" ? await src() : src;
    if (!(data instanceof Float32Array)) throw new CtxwinError("ERR_DTYPE", `${fn}: ${field}.data: expected a Float32Array, got ${show(data)}`);
    if (data.length !== p.numel) {
      throw new CtxwinError("ERR_SHAPE", `${fn}: ${field}.data: expected ${p.numel} values (shape ${shapeStr(p.shape)}), got ${data.length}`);
    }
    const el = SAFETENSORS_DTYPES[p.dtype];
    for (let s = 0; s < p.numel; s += WRITE_CHUNK_ELEMENTS) {
      const e = Math.min(p.numel, s + WRITE_CHUNK_ELEMENTS);
      let chunk: Uint8Array;
      if (p.dtype === "F32" && HOST_LITTLE_ENDIAN) {
        chunk = new Uint8Array(data.buffer, data.byteOffset + s * 4, (e - s) * 4);
      } else {
        scratch ??= new Uint8Array(WRITE_CHUNK_ELEMENTS * 4);
        const n = encodeFloat32(p.dtype as FloatDtype, data, s, e, scratch);
        chunk = scratch.subarray(0, n);
      }
      await writeFully(fh, chunk, pos + s * el);
    }
  }
}

/**
 * Validates `tensors` (names, shapes, dtypes; the data is only touched while writing) and returns
 * a function that writes them as a safetensors file into an open, empty file — for callers that
 * stage several files and rename them together (see lib/util/atomic.ts, writeAllAtomic).
 */
export function safetensorsWriter(tensors: TensorInputs, metadata?: Record<string, string>, fn = "writeSafetensors"): (fh: FileHandle) => Promise<void> {
  const plan = planTensors(fn, tensors, validateMetadata(fn, metadata));
  return (fh) => writePlan(fn, plan, fh);
}

/**
 * Writes a safetensors file atomically (temp file `<file>.tmp-<random>` in the same directory,
 * fsync, rename; on failure the temp file is removed and an existing `file` is left as it was).
 * Float inputs are stored as their `dtype` (F32 default; BF16 / F16 rounded to nearest even).
 */
export async function writeSafetensors(file: string, tensors: TensorInputs, metadata?: Record<string, string>): Promise<void> {
  const fn = "writeSafetensors";
  const plan = planTensors(fn, tensors, validateMetadata(fn, metadata));
  const staged = await stageFile(file, (fh) => writePlan(fn, plan, fh));
  await staged.commit();
  await syncDir(path.dirname(path.resolve(file)));
}

export interface ShardedWriteOptions {
  /** Largest shard, in tensor bytes (a bigger single tensor gets a shard of its own). */
  maxShardBytes: number;
  /** Each shard's `__metadata__`; default { format: "pt" } (what transformers expects). */
  metadata?: Record<string, string>;
}

export interface ShardedWriteResult {
  /** Shard file names, in order. */
  files: string[];
  /** The index file name. */
  index: string;
  /** Sum of tensor bytes (the index's metadata.total_size). */
  totalSize: number;
}

function shardName(i: number, n: number): string {
  return `model-${String(i).padStart(5, "0")}-of-${String(n).padStart(5, "0")}.safetensors`;
}

/** Splits tensors (sorted by name) into shards of at most maxShardBytes tensor bytes. */
function planShards(fn: string, tensors: TensorInputs, maxShardBytes: number): { groups: Map<string, TensorInput>[]; sizes: Map<string, number>; total: number } {
  const plan = planTensors(fn, tensors, undefined); // validation + sizes
  const byName = [...plan.planned].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const groups: Map<string, TensorInput>[] = [];
  const sizes = new Map<string, number>();
  let cur = new Map<string, TensorInput>();
  let curBytes = 0;
  for (const p of byName) {
    const b = p.end - p.begin;
    if (cur.size > 0 && curBytes + b > maxShardBytes) {
      groups.push(cur);
      cur = new Map();
      curBytes = 0;
    }
    cur.set(p.name, p.input);
    curBytes += b;
    sizes.set(p.name, b);
  }
  if (cur.size > 0 || groups.length === 0) groups.push(cur);
  return { groups, sizes, total: plan.dataSize };
}

/**
 * Writes `model-00001-of-0000N.safetensors` … and `model.safetensors.index.json`
 * ({ metadata: { total_size }, weight_map }) into `dir` (created if needed). Every file is staged
 * first; only when all are written are they renamed into place (the index last), so a failure
 * leaves the directory as it was.
 */
export async function writeShardedSafetensors(dir: string, tensors: TensorInputs, opts: ShardedWriteOptions): Promise<ShardedWriteResult> {
  const fn = "writeShardedSafetensors";
  const max = opts?.maxShardBytes;
  if (typeof max !== "number" || !Number.isSafeInteger(max) || max <= 0) {
    throw new CtxwinError("ERR_ARG", `${fn}: maxShardBytes: expected a positive integer, got ${show(max)}`);
  }
  const metadata = validateMetadata(fn, opts.metadata === undefined ? { format: "pt" } : opts.metadata);
  const { groups, total } = planShards(fn, tensors, max);
  await mkdir(dir, { recursive: true });
  const n = groups.length;
  const files = groups.map((_, i) => shardName(i + 1, n));
  const weightMap: [string, string][] = [];
  const writes = groups.map((g, i) => {
    for (const name of g.keys()) weightMap.push([name, files[i]!]);
    const plan = planTensors(fn, g, metadata);
    return { target: path.join(dir, files[i]!), write: (fh: FileHandle) => writePlan(fn, plan, fh) };
  });
  weightMap.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const index = `${JSON.stringify({ metadata: { total_size: total }, weight_map: Object.fromEntries(weightMap) }, null, 2)}\n`;
  const indexBytes = Buffer.from(index, "utf8");
  writes.push({ target: path.join(dir, "model.safetensors.index.json"), write: (fh) => writeFully(fh, indexBytes, 0) });
  await writeAllAtomic(writes);
  return { files, index: "model.safetensors.index.json", totalSize: total };
}

export interface CheckpointWriteOptions {
  /** Shard when the tensors exceed this many bytes; default 5 GB (transformers' default, 5·10⁹). */
  maxShardBytes?: number;
  /** Each file's `__metadata__`; default { format: "pt" }. */
  metadata?: Record<string, string>;
}

/**
 * Saves a checkpoint's weights as transformers does: `model.safetensors` when they fit in
 * maxShardBytes, shards + index otherwise; then removes weights files of the other layout left
 * from an earlier save (so the directory holds one consistent set). Each file is atomic.
 */
export async function writeCheckpoint(dir: string, tensors: TensorInputs, opts: CheckpointWriteOptions = {}): Promise<{ files: string[]; sharded: boolean }> {
  const fn = "writeCheckpoint";
  const max = opts.maxShardBytes ?? 5_000_000_000;
  if (typeof max !== "number" || !Number.isSafeInteger(max) || max <= 0) {
    throw new CtxwinError("ERR_ARG", `${fn}: maxShardBytes: expected a positive integer, got ${show(max)}`);
  }
  const metadata = validateMetadata(fn, opts.metadata === undefined ? { format: "pt" } : opts.metadata);
  const plan = planTensors(fn, tensors, metadata);
  await mkdir(dir, { recursive: true });
  let keep: Set<string>;
  let result: { files: string[]; sharded: boolean };
  if (plan.dataSize <= max) {
    const target = path.join(dir, "model.safetensors");
    const staged: StagedFile = await stageFile(target, (fh) => writePlan(fn, plan, fh));
    await staged.commit();
    await syncDir(dir);
    keep = new Set(["model.safetensors"]);
    result = { files: ["model.safetensors"], sharded: false };
  } else {
    const r = await writeShardedSafetensors(dir, tensors, { maxShardBytes: max, metadata });
    keep = new Set([...r.files, r.index]);
    result = { files: [...r.files, r.index], sharded: true };
  }
  const stale = /^(model\.safetensors|model\.safetensors\.index\.json|model-\d{5}-of-\d{5}\.safetensors)$/;
  for (const f of await readdir(dir)) {
    if (stale.test(f) && !keep.has(f)) await unlink(path.join(dir, f)).catch(() => {});
  }
  return result;
}
