/**
 * Per-request LoRA adapters for the engine: a PEFT LoRA adapter read once and kept UNMERGED as
 * LoRA states of the model's Linear layers, switched in (attach) for the batches of requests that
 * name it and out (detach) afterwards — the base weights are never modified.
 */
import { CtxwinError, show } from "../errors.js";
import { Tensor } from "../tensor.js";
import { Parameter } from "../nn/autograd.js";
import type { Linear, LoraState } from "../nn/layers.js";
import type { CausalLM } from "../models/causal_lm.js";
import { readAdapter } from "../models/io/peft.js";
import { getLoraInfo, hfLinearModules } from "../peft/lora.js";

export class LoraAdapters {
  readonly #states: [Linear, LoraState][];
  private constructor(
    readonly name: string,
    states: [Linear, LoraState][],
  ) {
    this.#states = states;
  }

  static async load(model: CausalLM, name: string, dir: string): Promise<LoraAdapters> {
    const fn = "createEngine";
    const what = `adapters.${name}`;
    if (typeof dir !== "string" || dir.length === 0) throw new CtxwinError("ERR_ARG", `${fn}: ${what}: expected a PEFT adapter directory, got ${show(dir)}`);
    if (getLoraInfo(model)) throw new CtxwinError("ERR_ARG", `${fn}: ${what}: expected a model without LoRA of its own (per-request adapters switch the LoRA states), got one with addLora applied`);
    if (model.config.family === "bloom") throw new CtxwinError("ERR_ARG", `${fn}: ${what}: per-request adapters are not supported for BLOOM (fused q/k/v); merge it with loadModel(dir, { adapter })`);
    const ad = await readAdapter(dir, fn);
    if (ad.type !== "lora") throw new CtxwinError("ERR_ARG", `${fn}: ${what}: expected a LoRA adapter, got a prefix-tuning adapter (${dir}); load it with loadModel(dir, { adapter })`);
    if (ad.modulesToSave.size) throw new CtxwinError("ERR_ARG", `${fn}: ${what}: expected a LoRA adapter without modules_to_save, got ${[...ad.modulesToSave.keys()].join(", ")}`);
    const linears = hfLinearModules(model);
    const states: [Linear, LoraState][] = [];
    try {
      for (const [mod, w] of ad.modules) {
        const found = linears.get(mod) ?? linears.get(`model.${mod}`) ?? linears.get(mod.replace(/^model\./, ""));
        if (!found || found.length !== 1) throw new CtxwinError("ERR_FORMAT", `${fn}: ${what}: ${dir}: module ${mod}: expected a linear layer of the model, got ${found ? `${found.length} layers` : "no such module"}`);
        const lin = found[0]!;
        if (w.A.shape[1] !== lin.inFeatures || w.B.shape[0] !== lin.outFeatures) {
          throw new CtxwinError("ERR_FORMAT", `${fn}: ${what}: ${dir}: module ${mod}: expected lora_A [r, ${lin.inFeatures}] and lora_B [${lin.outFeatures}, r], got [${w.A.shape.join(", ")}] and [${w.B.shape.join(", ")}]`);
        }
        const like = lin.weight.value;
        const t = (d: { data: Float32Array; shape: readonly number[] }) => new Parameter(Tensor.from(d.data, [...d.shape], { device: like.device, dtype: like.dtype }));
        states.push([lin, { A: t(w.A), B: t(w.B), scale: w.scale }]);
      }
    } catch (e) {
      for (const [, s] of states) {
        s.A.dispose();
        s.B.dispose();
      }
      throw e;
    }
    return new LoraAdapters(name, states);
  }

  attach(): void {
    for (const [lin, s] of this.#states) lin.lora = s;
  }
  detach(): void {
    for (const [lin, s] of this.#states) if (lin.lora === s) lin.lora = null;
  }
  dispose(): void {
    this.detach();
    for (const [, s] of this.#states) {
      s.A.dispose();
      s.B.dispose();
    }
  }
}
