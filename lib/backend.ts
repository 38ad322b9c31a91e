/**
 * Loading the native addons. The CPU addon (build/Release/ctxwin.node or the prebuild
 * prebuilds/<platform>-<arch>/node.napi.node) is loaded with node-gyp-build on first use. The CUDA
 * addon (build-cuda/Release/ctxwin_cuda.node, else the prebuild
 * prebuilds/<platform>-<arch>/cuda/ctxwin_cuda.node) is loaded lazily the first time a CUDA tensor
 * is asked for, and probed; every failure becomes one error: "CUDA backend unavailable: <reason>".
 */
import { createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CtxwinError, fromNative } from "./errors.js";

export type Device = "cpu" | "cuda";
export type DType = "f32" | "bf16" | "f16";

/** The handle type of a native tensor (owns a reference to device memory). */
export interface NativeTensor {
  dispose(): void;
  readonly disposed: boolean;
}

/** Flat, validated attention options as the addons read them (see native/binding/attention_args.h). */
export interface NativeAttentionOptions {
  causal: boolean;
  softmaxScale: number;
  window: number;
  queryOffset: number;
  prefixKeys: number;
  posType: "none" | "alibi" | "rope";
  // The positional fields below are left out when the caller did not set them: the addon then
  // uses PositionalConfig's defaults (native/include/ctxwin/positional.h), their one definition
  // (theta 10000, factor 1, betaFast 32, betaSlow 1, derived attention factor, truncate ...).
  slopes?: number[] | null;
  trainLength?: number;
  theta?: number;
  rotaryDim?: number;
  scaling?: "none" | "linear" | "ntk" | "dynamic" | "yarn";
  factor?: number;
  originalMaxPositions?: number;
  betaFast?: number;
  betaSlow?: number;
  attentionFactor?: number;
  mscale?: number;
  mscaleAllDim?: number;
  truncate?: boolean;
  /** Per-sequence visible keys [keyBegin[b], keyEnd[b]) (both or neither). */
  keyBegin?: number[];
  keyEnd?: number[];
}

/** What both addons export (native/binding). */
export interface NativeAddon {
  readonly device: Device;
  NativeTensor: new () => NativeTensor;
  fromF32(data: Float32Array, shape: number[], dtype: DType): NativeTensor;
  createPending(shape: number[], dtype: DType): NativeTensor;
  fulfill(t: NativeTensor, data: Float32Array): void;
  reject(t: NativeTensor, code: string, message: string): void;
  read(t: NativeTensor): Promise<Float32Array>;
  readSync(t: NativeTensor): Float32Array;
  cast(t: NativeTensor, dtype: DType): NativeTensor;
  reshape(t: NativeTensor, shape: number[]): NativeTensor;
  /** A view of t's first numel(shape) elements (at most t's count), sharing its memory. */
  leadingView(t: NativeTensor, shape: number[]): NativeTensor;
  /** Kernel variant for ops submitted afterwards (CPU: "generic" | "avx2" | "avx512" | "auto"); returns the active one. */
  selectVariant(name: string): string;
  axpby(alpha: number, a: NativeTensor, beta: number, b: NativeTensor | null): NativeTensor;
  synchronize(): Promise<void>;
  memory(): { tensors: number; bytes: number };
  info(): string;
  /** The default ALiBi slopes for `heads` query heads (native/include/ctxwin/positional.h). */
  alibiSlopes(heads: number): number[];
  attentionForward(q: NativeTensor, k: NativeTensor, v: NativeTensor, opts: NativeAttentionOptions): [NativeTensor, NativeTensor];
  /** The engine's CPU decode step (lib/attention.ts attentionDecodeRagged). */
  attentionDecodeRagged(q: NativeTensor, kNew: NativeTensor, vNew: NativeTensor, kCaches: NativeTensor[], vCaches: NativeTensor[], lengths: number[], opts: NativeAttentionOptions): NativeTensor;
  attentionBackward(
    q: NativeTensor,
    k: NativeTensor,
    v: NativeTensor,
    dOut: NativeTensor,
    opts: NativeAttentionOptions,
    out?: NativeTensor | null,
    lse?: NativeTensor | null,
    dLse?: NativeTensor | null,
  ): [NativeTensor, NativeTensor, NativeTensor];
  /** Every op registered in native/src/ops (see lib/ops/run.ts). */
  runOp(name: string, inputs: (NativeTensor | null)[], attrs: object): [NativeTensor, number[], string][];
  opNames(): string[];
  /** The ops with a kernel on this addon's device (a subset of opNames()). */
  opKernels(): string[];
  /** CUDA addon only: throws with the reason when no usable device. */
  probe?(): string;
}

const require = createRequire(import.meta.url);
/** The package root (dist/.. or lib/..). */
export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..");

/** ctxwin's version (package.json), or "unknown" if it cannot be read. */
export function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

let cpuAddon: NativeAddon | null = null;
let cudaAddon: NativeAddon | null = null;
let cudaError: string | null = null;

export function cpuBackend(): NativeAddon {
  if (cpuAddon) return cpuAddon;
  try {
    const load = require("node-gyp-build") as (dir: string) => NativeAddon;
    cpuAddon = load(packageRoot);
  } catch (e) {
    throw new CtxwinError(
      "ERR_DEVICE",
      `CPU backend unavailable: ${(e as Error).message}. Rebuild it with \`npm rebuild ctxwin\` (needs a C++ toolchain and python3).`,
    );
  }
  return cpuAddon;
}

/**
 * Where the CUDA addon is looked for: CTXWIN_CUDA_ADDON when set; else a local build
 * (build-cuda/Release, made by `npm install` or `npm run build:cuda`), which wins as node-gyp-build's
 * build/ does; else the prebuild shipped in the package. The prebuild sits in a folder of its own,
 * prebuilds/<platform>-<arch>/cuda/, so that node-gyp-build never takes it for the CPU addon.
 */
export function cudaAddonPath(): string {
  if (process.env.CTXWIN_CUDA_ADDON) return process.env.CTXWIN_CUDA_ADDON;
  const built = join(packageRoot, "build-cuda", "Release", "ctxwin_cuda.node");
  if (existsSync(built)) return built;
  const prebuilt = join(packageRoot, "prebuilds", `${process.platform}-${process.arch}`, "cuda", "ctxwin_cuda.node");
  return existsSync(prebuilt) ? prebuilt : built;
}

/** Why CUDA is unavailable, or null if it is available. Loads and probes the addon once. */
export function cudaUnavailableReason(): string | null {
  if (cudaAddon) return null;
  if (cudaError) return cudaError;
  const path = cudaAddonPath();
  if (!existsSync(path)) {
    const noPrebuild = process.env.CTXWIN_CUDA_ADDON ? "" : ` and this package has no prebuilt CUDA addon for ${process.platform}-${process.arch}`;
    cudaError = `the CUDA addon was not built (${path} is missing${noPrebuild}; it is built by \`npm install\` when nvcc is found, or with \`npm run build:cuda\`)`;
    return cudaError;
  }
  try {
    const addon = require(path) as NativeAddon;
    addon.probe?.();
    cudaAddon = addon;
    return null;
  } catch (e) {
    cudaError = (e as Error).message.replace(/^CUDA backend unavailable: /, "");
    return cudaError;
  }
}

export function cudaBackend(): NativeAddon {
  const reason = cudaUnavailableReason();
  if (reason !== null) throw new CtxwinError("ERR_DEVICE", `CUDA backend unavailable: ${reason}`);
  return cudaAddon!;
}

export function backend(device: Device): NativeAddon {
  return device === "cuda" ? cudaBackend() : cpuBackend();
}

/** Runs a native call, turning native errors into CtxwinErrors. */
export function callNative<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw fromNative(e);
  }
}

/** The loaded backends (never loads CUDA as a side effect). */
export function loadedBackends(): NativeAddon[] {
  const out: NativeAddon[] = [];
  if (cpuAddon) out.push(cpuAddon);
  if (cudaAddon) out.push(cudaAddon);
  return out;
}
