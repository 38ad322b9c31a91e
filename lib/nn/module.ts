/**
 * Module: a tree of named sub-modules and Parameters (PyTorch-style names: "model.layers.0.mlp.up_proj.weight").
 *
 * - Subclasses register children with `this.module(name, m)` and weights with
 *   `this.param(name, tensor)` in their constructor; `namedParameters()` walks the tree in
 *   registration order and yields each Parameter once (a tied weight under its first name).
 * - `freeze()` / `unfreeze()` set every parameter's frozen flag (frozen ⇒ no gradient);
 *   `trainable()` lists the parameters that get gradients.
 * - `to(device | dtype)` moves/casts every parameter in place; `dispose()` frees every weight
 *   and gradient. `zeroGrad()` frees gradients (they are accumulated, see autograd.ts).
 * - The training loop contract: run the forward inside `tape.run(...)`, `tape.backward(loss)`,
 *   then read `p.grad` for `p of module.trainable()` (same shape as `p.value`, always f32, summed
 *   over every backward since the last zeroGrad; for mixed precision an f32 `p.master` may hold
 *   the master weights) and update `p.value` (or `p.master`, then cast into `p.value`) in place
 *   (e.g. ops.adamw) or with `p.set(newTensor)`; then `module.zeroGrad()`.
 */
import { CtxwinError } from "../errors.js";
import { Tensor, type Device, type DType } from "../tensor.js";
import { Parameter } from "./autograd.js";

export class Module {
  #children = new Map<string, Module>();
  #params = new Map<string, Parameter>();
  /** Training mode flag (for modules that behave differently; none do today). */
  training = false;

  /** Registers a sub-module under `name` (returns it). */
  protected module<M extends Module>(name: string, m: M): M {
    if (this.#children.has(name) || this.#params.has(name)) throw new CtxwinError("ERR_ARG", `Module: duplicate child name "${name}"`);
    this.#children.set(name, m);
    return m;
  }

  /** Registers a weight under `name`: a Tensor (wrapped in a new Parameter) or an existing Parameter (tying). */
  protected param(name: string, value: Tensor | Parameter): Parameter {
    if (this.#children.has(name) || this.#params.has(name)) throw new CtxwinError("ERR_ARG", `Module: duplicate parameter name "${name}"`);
    const p = value instanceof Parameter ? value : new Parameter(value, name);
    this.#params.set(name, p);
    return p;
  }

  /** Replaces a registered parameter (e.g. to tie or untie a weight). */
  protected replaceParam(name: string, p: Parameter): void {
    if (!this.#params.has(name)) throw new CtxwinError("ERR_ARG", `Module: no parameter "${name}"`);
    this.#params.set(name, p);
  }

  /** Removes a registered parameter or child (returns whether it existed). */
  protected unregister(name: string): boolean {
    return this.#params.delete(name) || this.#children.delete(name);
  }

  /** Direct children (name, module). */
  children(): [string, Module][] {
    return [...this.#children];
  }

  /** Every sub-module with its dotted name ("" for this one), depth first. */
  namedModules(prefix = ""): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [n, c] of this.#children) out.push(...c.namedModules(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  /** Each Parameter once, with its dotted name (tied weights appear under their first name). */
  namedParameters(prefix = ""): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    const seen = new Set<Parameter>();
    const walk = (m: Module, pre: string): void => {
      for (const [n, p] of m.#params) {
        if (seen.has(p)) continue;
        seen.add(p);
        out.push([pre ? `${pre}.${n}` : n, p]);
      }
      for (const [n, c] of m.#children) walk(c, pre ? `${pre}.${n}` : n);
    };
    walk(this, prefix);
    for (const [name, p] of out) if (p.name === undefined) p.name = name;
    return out;
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Parameters that get gradients (not frozen). */
  trainable(): Parameter[] {
    return this.parameters().filter((p) => !p.frozen);
  }

  /** The parameter with this dotted name, or undefined. */
  getParameter(name: string): Parameter | undefined {
    return this.namedParameters().find(([n]) => n === name)?.[1];
  }

  /** Number of scalar weights (each tied weight once). */
  numParameters(): number {
    return this.parameters().reduce((s, p) => s + p.value.shape.reduce((a, b) => a * b, 1), 0);
  }

  freeze(): this {
    for (const p of this.parameters()) p.freeze();
    return this;
  }
  unfreeze(): this {
    for (const p of this.parameters()) p.unfreeze();
    return this;
  }
  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }
  train(on = true): this {
    for (const [, m] of this.namedModules()) m.training = on;
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /**
   * Moves (device) or casts (dtype) every weight in place. With a half dtype and `keepMaster`,
   * each parameter keeps an f32 master copy in `p.master` (mixed-precision training).
   */
  to(target: Device | DType, opts: { keepMaster?: boolean } = {}): this {
    for (const p of this.parameters()) {
      const old = p.value;
      if (target === "cpu" || target === "cuda") {
        if (old.device === target) continue;
        p.set(old.to(target));
        if (p.master) {
          const m = p.master.to(target);
          p.master.dispose();
          p.master = m;
        }
        if (p.grad) {
          const g = p.grad.to(target);
          p.grad.dispose();
          p.grad = g;
        }
      } else {
        if (old.dtype === target) continue;
        if (opts.keepMaster && target !== "f32" && !p.master) {
          p.master = old.dtype === "f32" ? old : old.to("f32");
          p.set(old.to(target), { keepOld: old.dtype === "f32" });
        } else {
          p.set(old.to(target));
        }
        p.zeroGrad();
      }
    }
    return this;
  }

  /** Frees every weight, master copy and gradient. The module is unusable afterwards. */
  dispose(): void {
    for (const p of this.parameters()) p.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** An indexed list of modules ("0", "1", ...). */
/** A plain named container of sub-modules (HF's "model", "transformer" levels). */
export class Container extends Module {
  add<M extends Module>(name: string, m: M): M {
    return this.module(name, m);
  }
}

export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[] = [];
  constructor(items: M[] = []) {
    super();
    for (const m of items) this.push(m);
  }
  push(m: M): M {
    this.module(String(this.items.length), m);
    this.items.push(m);
    return m;
  }
  get length(): number {
    return this.items.length;
  }
  at(i: number): M {
    const m = this.items[i];
    if (!m) throw new CtxwinError("ERR_ARG", `ModuleList.at: index: expected an integer in [0, ${this.items.length}), got ${i}`);
    return m;
  }
  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}
