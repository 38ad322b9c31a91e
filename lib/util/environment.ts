import { cpus } from "node:os";

/** Where a run happened, for the reports (study, sft-study, peft): Node, platform, CPU model and the kernels' threads (backendInfo().cpu.threads). */
export function runEnvironment(threads: number): { node: string; platform: string; cpu: string; threads: number } {
  return { node: process.version, platform: `${process.platform}-${process.arch}`, cpu: cpus()[0]?.model ?? "unknown", threads };
}
