/**
 * runOp: the one path from a TS op wrapper (lib/ops/<family>.ts) to a native op
 * (native/src/ops/<family>.cpp + its CPU/CUDA kernels). Wrappers validate with friendly messages
 * first; the native OpDef checks again and computes output shapes.
 */
import { argError } from "../errors.js";
import { backend, callNative, type Device, type DType, type NativeTensor } from "../backend.js";
import { Tensor } from "../tensor.js";

export type OpAttrs = Record<string, number | boolean | string | number[] | undefined>;

export function runOp(name: string, inputs: readonly (Tensor | null)[], attrs: OpAttrs = {}): Tensor[] {
  let device: Device | null = null;
  const handles: (NativeTensor | null)[] = inputs.map((t, i) => {
    if (t === null) return null;
    if (!(t instanceof Tensor)) argError("ERR_ARG", name, `inputs[${i}]`, "a Tensor", t);
    if (device === null) device = t.device;
    else if (t.device !== device) argError("ERR_DEVICE", name, `inputs[${i}]`, `device "${device}" (as the first input)`, t.device);
    return t.handle(name, `inputs[${i}]`);
  });
  const dev: Device = device ?? "cpu";
  const addon = backend(dev);
  const outs = callNative(() => addon.runOp(name, handles, attrs));
  return outs.map(([h, shape, dtype]) => Tensor.fromNative(h, shape, dtype as DType, dev));
}
