import { Tensor } from "ctxwin";

/** null if a CUDA tensor can be made here, else the reason ("CUDA backend unavailable: ..."): the GPU suites skip themselves with it. */
export function cudaUnavailable(): string | null {
  try {
    Tensor.from([0], [1], { device: "cuda" }).dispose();
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}
