/**
 * Weight creation for modules: a `Builder` hands every module its weights by full dotted name, so
 * the same constructors serve random initialisation (createModel), loading a checkpoint
 * (loadModel reads each name from the safetensors files) and anything else (tests).
 */
import { Tensor, defaultDevice, numel, type Device, type DType } from "../tensor.js";
import { Rng } from "../util/rng.js";

/** What a weight is for (decides the default initialisation). */
export type WeightKind = "linear" | "bias" | "norm-weight" | "norm-bias" | "embedding" | "prefix" | "lora-a" | "lora-b";

/** Makes the weight `name` (full dotted name) of `shape`. */
export type WeightFactory = (name: string, shape: readonly number[], kind: WeightKind) => Tensor;

export interface RandomInitOptions {
  seed?: number;
  /** Std of linear / embedding / prefix weights (HF `initializer_range`). Default 0.02. */
  std?: number;
  device?: Device;
  dtype?: DType;
}

/**
 * HF-style random init: normal(0, std) for linear, embedding and prefix weights; zeros for biases
 * and LoRA B; ones for norm weights; LoRA A ~ U(±1/sqrt(in)) (Kaiming-uniform with a = sqrt(5),
 * as PEFT). Deterministic for a given seed and order of calls.
 */
export function randomInit(opts: RandomInitOptions = {}): WeightFactory {
  const rng = new Rng(opts.seed ?? 0);
  const std = opts.std ?? 0.02;
  const topts = { device: opts.device ?? defaultDevice(), dtype: opts.dtype ?? "f32" } as const;
  return (_name, shape, kind) => {
    const n = numel(shape);
    let data: Float32Array;
    switch (kind) {
      case "bias":
      case "norm-bias":
      case "lora-b":
        data = new Float32Array(n);
        break;
      case "norm-weight":
        data = new Float32Array(n).fill(1);
        break;
      case "lora-a": {
        const bound = 1 / Math.sqrt(shape[shape.length - 1]!);
        data = new Float32Array(n);
        for (let i = 0; i < n; i++) data[i] = rng.uniform(-bound, bound);
        break;
      }
      default:
        data = rng.normals(n, std);
    }
    return Tensor.from(data, shape, topts);
  };
}

/** Hands out weights under a name prefix. */
export class Builder {
  constructor(
    readonly factory: WeightFactory,
    readonly prefix = "",
  ) {}
  /** The builder for a child named `name`. */
  sub(name: string): Builder {
    return new Builder(this.factory, this.full(name));
  }
  full(name: string): string {
    return this.prefix ? `${this.prefix}.${name}` : name;
  }
  make(name: string, shape: readonly number[], kind: WeightKind): Tensor {
    return this.factory(this.full(name), shape, kind);
  }
}
