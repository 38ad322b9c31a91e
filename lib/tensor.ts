/**
 * Tensor: an n-d array on a device ("cpu" or "cuda"), stored as f32, bf16 or f16 (half types are
 * stored as such and computed in f32). Ops are asynchronous: they validate at once, enqueue work
 * on the device's native queue and return a Tensor immediately; `await t.data()` resolves when
 * the value is ready. Memory is freed by `dispose()` (or `using t = ...`), or by the garbage
 * collector as a last resort.
 */
import { argError, CtxwinError, fromNative, isNonNegativeInt } from "./errors.js";
import { trackTensor } from "./util/scope.js";
import { backend, callNative, type Device, type DType, type NativeTensor } from "./backend.js";

export type { Device, DType } from "./backend.js";

const DEVICES: readonly Device[] = ["cpu", "cuda"];
const DTYPES: readonly DType[] = ["f32", "bf16", "f16"];

export interface TensorOptions {
  device?: Device;
  dtype?: DType;
}

let currentDefaultDevice: Device = "cpu";

/**
 * Sets the device that `Tensor.from`, `createModel`, `loadModel` and module initialisers use when
 * their options name none ("cpu" until changed), like PyTorch's `torch.set_default_device`.
 * Returns the previous default. Throws ERR_DEVICE for anything but "cpu" or "cuda"; choosing
 * "cuda" on a host without it succeeds, and the first tensor made there throws
 * "CUDA backend unavailable: ...".
 */
export function setDefaultDevice(device: Device): Device {
  const prev = currentDefaultDevice;
  currentDefaultDevice = checkDevice("setDefaultDevice", "device", device);
  return prev;
}

/** The device used where options name none (see setDefaultDevice). */
export function defaultDevice(): Device {
  return currentDefaultDevice;
}

export function checkDevice(fn: string, arg: string, device: unknown): Device {
  if (!DEVICES.includes(device as Device)) argError("ERR_DEVICE", fn, arg, `"cpu" or "cuda"`, device);
  return device as Device;
}

export function checkDType(fn: string, arg: string, dtype: unknown): DType {
  if (!DTYPES.includes(dtype as DType)) argError("ERR_DTYPE", fn, arg, `"f32", "bf16" or "f16"`, dtype);
  return dtype as DType;
}

export function checkShape(fn: string, arg: string, shape: unknown): number[] {
  if (!Array.isArray(shape)) argError("ERR_SHAPE", fn, arg, "an array of non-negative integers", shape);
  for (const d of shape) {
    if (!isNonNegativeInt(d)) argError("ERR_SHAPE", fn, arg, "an array of non-negative integers", shape);
  }
  return [...shape] as number[];
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export class Tensor {
  #native: NativeTensor | null;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly device: Device;

  private constructor(native: NativeTensor, shape: readonly number[], dtype: DType, device: Device) {
    this.#native = native;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.device = device;
    trackTensor(this); // freed if the work that made it fails (lib/util/scope.ts)
  }

  /** Wraps a native handle (internal: ops use it for their outputs). */
  static fromNative(native: NativeTensor, shape: readonly number[], dtype: DType, device: Device): Tensor {
    return new Tensor(native, shape, dtype, device);
  }

  /**
   * Creates a tensor from float values (converted to `dtype` with round-to-nearest-even).
   * @param data values in row-major order; length must equal the product of `shape`
   * @param shape dims (non-negative integers)
   */
  static from(data: Float32Array | readonly number[], shape: readonly number[], opts: TensorOptions = {}): Tensor {
    const fn = "Tensor.from";
    if (opts === null || typeof opts !== "object") argError("ERR_ARG", fn, "opts", "an object", opts);
    const dims = checkShape(fn, "shape", shape);
    const device = checkDevice(fn, "opts.device", opts.device ?? currentDefaultDevice);
    const dtype = checkDType(fn, "opts.dtype", opts.dtype ?? "f32");
    let values: Float32Array;
    if (data instanceof Float32Array) values = data;
    else if (Array.isArray(data)) values = Float32Array.from(data as number[]);
    else argError("ERR_ARG", fn, "data", "a Float32Array or an array of numbers", data);
    const n = numel(dims);
    if (values.length !== n) {
      argError("ERR_SHAPE", fn, "data", `${n} values (the product of shape [${dims.join(", ")}])`, `${values.length} values`);
    }
    const addon = backend(device);
    const native = callNative(() => addon.fromF32(values, dims, dtype));
    return new Tensor(native, dims, dtype, device);
  }

  /** True once dispose() was called. */
  get disposed(): boolean {
    return this.#native === null;
  }

  /** The native handle, or ERR_DISPOSED naming the function and argument. */
  handle(fn: string, arg = "tensor"): NativeTensor {
    if (this.#native === null) {
      throw new CtxwinError("ERR_DISPOSED", `${fn}: ${arg}: expected a live tensor, got a disposed one (shape [${this.shape.join(", ")}])`);
    }
    return this.#native;
  }

  /** A copy on another device, or converted to another dtype. Asynchronous like every op. */
  to(target: Device | DType): Tensor {
    const fn = "Tensor.to";
    const src = this.handle(fn);
    if (target === "f32" || target === "bf16" || target === "f16") {
      const addon = backend(this.device);
      return new Tensor(callNative(() => addon.cast(src, target)), this.shape, target, this.device);
    }
    const device = checkDevice(fn, "target", target);
    if (device === this.device) {
      const addon = backend(device);
      return new Tensor(callNative(() => addon.cast(src, this.dtype)), this.shape, this.dtype, device);
    }
    // Across devices through the host, without blocking JS: the destination is created pending
    // and filled when the source's value arrives; ops queued on it wait natively.
    const dst = backend(device);
    const pending = callNative(() => dst.createPending([...this.shape], this.dtype));
    backend(this.device)
      .read(src)
      .then(
        (values) => dst.fulfill(pending, values),
        (e: { code?: string; message?: string }) => dst.reject(pending, e.code ?? "ERR_INTERNAL", e.message ?? String(e)),
      );
    return new Tensor(pending, this.shape, this.dtype, device);
  }

  /**
   * A view with another shape (same element count) sharing this tensor's memory: free. One dim
   * may be -1 (inferred). The view stays valid after this tensor is disposed.
   */
  reshape(shape: readonly number[]): Tensor {
    const fn = "Tensor.reshape";
    const h = this.handle(fn);
    const total = numel(this.shape);
    const dims = [...shape];
    const infer = dims.indexOf(-1);
    if (infer >= 0) {
      const rest = numel(dims.filter((_, i) => i !== infer));
      if (rest === 0 || total % rest !== 0) argError("ERR_SHAPE", fn, "shape", `a shape with ${total} elements`, shape);
      dims[infer] = total / rest;
    }
    checkShape(fn, "shape", dims);
    if (numel(dims) !== total) argError("ERR_SHAPE", fn, "shape", `a shape with ${total} elements (from [${this.shape.join(", ")}])`, shape);
    return new Tensor(callNative(() => backend(this.device).reshape(h, dims)), dims, this.dtype, this.device);
  }

  /** The values as float32, when ready. */
  async data(): Promise<Float32Array> {
    const h = this.handle("Tensor.data");
    try {
      return await backend(this.device).read(h);
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** The values as float32, blocking the JS thread until ready (prefer `await data()`). */
  dataSync(): Float32Array {
    const h = this.handle("Tensor.dataSync");
    return callNative(() => backend(this.device).readSync(h));
  }

  /** Frees the tensor's memory now (once queued work using it finishes). Idempotent. */
  dispose(): void {
    if (this.#native) {
      this.#native.dispose();
      this.#native = null;
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `Tensor(${this.device}, ${this.dtype}, [${this.shape.join(", ")}]${this.disposed ? ", disposed" : ""})`;
  }
}
