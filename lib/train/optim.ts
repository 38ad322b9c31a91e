/**
 * AdamW over a module's trainable parameters on the fused native `adamw` op: every step is queued
 * on the device (no host round trip), gradient clipping reads the global norm from a `globalNorm`
 * tensor inside the kernel. PyTorch semantics (torch.optim.AdamW + clip_grad_norm_):
 *
 *   g = grad · gradScale · min(1, maxNorm / (‖grad · gradScale‖ + 1e-6))
 *   p *= 1 − lr·wd;  m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g²
 *   p −= lr/(1 − β1^t) · m / (sqrt(v)/sqrt(1 − β2^t) + eps)
 *
 * State: m and v in f32 per parameter (PyTorch's exp_avg / exp_avg_sq), a step count t per
 * parameter (a parameter without a gradient in a step is skipped and its t does not advance, as in
 * PyTorch). Weight decay applies by default to matrices only (rank >= 2), never to biases or norm
 * weights; `decay` overrides the choice. Mixed precision: a parameter with an f32 `master` copy
 * is updated there and the result rounded into its (bf16/f16) value.
 */
import { CtxwinError, show } from "../errors.js";
import { runAll, runSliced, type Steps } from "../util/slices.js";
import { keep } from "../util/scope.js";
import { Tensor } from "../tensor.js";
import * as ops from "../ops/index.js";
import { Parameter } from "../nn/autograd.js";
import { Module } from "../nn/module.js";

export interface AdamWConfig {
  /** Default learning rate (step() may pass another). Default 1e-3. */
  lr?: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay for the parameters `decay` selects. Default 0.01 (PyTorch). */
  weightDecay?: number;
  /** Clip the global gradient norm to this (0 = no clipping). Default 0. */
  maxNorm?: number;
  /** Whether a parameter gets weight decay. Default: rank >= 2 and not named like a bias or a norm. */
  decay?: (name: string, p: Parameter) => boolean;
}

/** The default weight-decay choice: matrices yes; biases, norm weights and other vectors no. */
export function defaultDecay(name: string, p: Parameter): boolean {
  return p.value.shape.length >= 2 && !/(^|\.)bias$|_bias$/.test(name) && !/norm/i.test(name.split(".").slice(-2).join("."));
}

export interface OptimEntry {
  readonly name: string;
  readonly param: Parameter;
  readonly decay: boolean;
  /**
   * First and second moments (f32, the parameter's shape), or null until the parameter's first
   * update (allocated then, inside the sliced step: creating a big model's optimizer costs nothing
   * up front, and a service's event loop does not stall on hundreds of allocations).
   */
  m: Tensor | null;
  v: Tensor | null;
  /** Steps this parameter was updated (bias correction). */
  step: number;
}

export interface StepOptions {
  /** Learning rate of this step. Default: the configured lr. */
  lr?: number;
  /** Multiplies the gradients (1 / accumulation steps). Default 1. */
  gradScale?: number;
  /** Also compute (and return) the global gradient norm when not clipping. Default false. */
  norm?: boolean;
}

/** A saved optimizer state (f32 moments by parameter name). */
export interface AdamWState {
  steps: number;
  params: { name: string; step: number; m: Float32Array; v: Float32Array; shape: number[] }[];
}

type ParamSource = Module | readonly Parameter[] | readonly (readonly [string, Parameter])[];

function zerosF32(t: Tensor): Tensor {
  if (t.dtype === "f32") return ops.fill(t, 0);
  const c = t.to("f32");
  const z = ops.fill(c, 0);
  c.dispose();
  return z;
}

/** The shape of a parameter's moments (its f32 master's, or its value's). */
function momentShape(e: OptimEntry): readonly number[] {
  return (e.param.master ?? e.param.value).shape;
}

export class AdamW {
  readonly entries: OptimEntry[];
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly maxNorm: number;
  /** Optimizer steps taken. */
  steps = 0;
  #disposed = false;

  /**
   * @param params a Module (its trainable parameters, with their dotted names), or parameters
   *   (named by `p.name` or their index), or [name, parameter] pairs
   */
  constructor(params: ParamSource, config: AdamWConfig = {}) {
    const fn = "AdamW";
    let named: [string, Parameter][];
    if (params instanceof Module) named = params.namedParameters().filter(([, p]) => !p.frozen);
    else if (Array.isArray(params)) {
      named = (params as readonly unknown[]).map((x, i) => {
        if (x instanceof Parameter) return [x.name ?? `param${i}`, x];
        if (Array.isArray(x) && typeof x[0] === "string" && x[1] instanceof Parameter) return [x[0], x[1]];
        throw new CtxwinError("ERR_ARG", `${fn}: params[${i}]: expected a Parameter or a [name, Parameter] pair, got ${show(x)}`);
      });
    } else throw new CtxwinError("ERR_ARG", `${fn}: params: expected a Module or an array of Parameters, got ${show(params)}`);
    if (named.length === 0) throw new CtxwinError("ERR_ARG", `${fn}: params: expected at least one trainable parameter, got none (is everything frozen?)`);
    const names = new Set<string>();
    for (const [n] of named) {
      if (names.has(n)) throw new CtxwinError("ERR_ARG", `${fn}: params: duplicate parameter name "${n}"`);
      names.add(n);
    }
    const num = (k: string, v: unknown, d: number, ok: (x: number) => boolean, what: string): number => {
      const x = v ?? d;
      if (typeof x !== "number" || !Number.isFinite(x) || !ok(x)) throw new CtxwinError("ERR_ARG", `${fn}: ${k}: expected ${what}, got ${show(v)}`);
      return x;
    };
    this.lr = num("lr", config.lr, 1e-3, (x) => x >= 0, "a number >= 0");
    this.beta1 = num("beta1", config.beta1, 0.9, (x) => x >= 0 && x < 1, "a number in [0, 1)");
    this.beta2 = num("beta2", config.beta2, 0.999, (x) => x >= 0 && x < 1, "a number in [0, 1)");
    this.eps = num("eps", config.eps, 1e-8, (x) => x > 0, "a number > 0");
    this.weightDecay = num("weightDecay", config.weightDecay, 0.01, (x) => x >= 0, "a number >= 0");
    this.maxNorm = num("maxNorm", config.maxNorm, 0, (x) => x >= 0, "a number >= 0 (0 = no clipping)");
    const decay = config.decay ?? defaultDecay;
    this.entries = named.map(([name, param]) => {
      const ref = param.master ?? param.value;
      return { name, param, decay: decay(name, param), m: null, v: null, step: 0 };
    });
  }

  /** The optimized parameters. */
  get params(): Parameter[] {
    return this.entries.map((e) => e.param);
  }

  /**
   * Queues one update of every parameter that has a gradient (nothing waits). Returns the global
   * gradient norm [1] (of the raw gradients, before gradScale) when clipping or when asked — the
   * caller disposes it — else null. Gradients are left in place (zero them with module.zeroGrad()).
   */
  step(opts: StepOptions = {}): Tensor | null {
    return runAll(this.#stepSteps(opts));
  }

  /**
   * step() in event-loop slices (eventLoopSlice()): a model with hundreds of parameters submits
   * one update op each; train() uses this so that the step does not stall a service.
   */
  stepSliced(opts: StepOptions = {}): Promise<Tensor | null> {
    return runSliced(this.#stepSteps(opts));
  }

  *#stepSteps(opts: StepOptions): Steps<Tensor | null> {
    const fn = "AdamW.step";
    if (this.#disposed) throw new CtxwinError("ERR_DISPOSED", `${fn}: the optimizer was disposed`);
    const lr = opts.lr ?? this.lr;
    const gradScale = opts.gradScale ?? 1;
    if (typeof lr !== "number" || !Number.isFinite(lr) || lr < 0) throw new CtxwinError("ERR_ARG", `${fn}: lr: expected a number >= 0, got ${lr}`);
    if (typeof gradScale !== "number" || !Number.isFinite(gradScale)) throw new CtxwinError("ERR_ARG", `${fn}: gradScale: expected a finite number, got ${gradScale}`);
    const live = this.entries.filter((e) => e.param.grad !== null);
    if (live.length === 0) {
      throw new CtxwinError("ERR_ARG", `${fn}: expected gradients on the trainable parameters, got none (run tape.backward(loss) first)`);
    }
    const wantNorm = this.maxNorm > 0 || opts.norm === true;
    const norm = wantNorm ? ops.globalNorm(live.map((e) => e.param.grad!)) : null;
    this.steps++;
    for (const [i, e] of live.entries()) {
      if (i > 0) yield;
      e.step++;
      const p = e.param;
      const target = p.master ?? p.value;
      if (!e.m || !e.v) {
        // the optimizer's, not the step's: kept if a later part of this step fails
        e.m = keep(zerosF32(target));
        e.v = keep(zerosF32(target));
      }
      ops.adamw(target, p.grad!, e.m, e.v, {
        lr,
        beta1: this.beta1,
        beta2: this.beta2,
        eps: this.eps,
        weightDecay: e.decay ? this.weightDecay : 0,
        step: e.step,
        maxNorm: this.maxNorm,
        norm,
        gradScale,
      });
      if (p.master) {
        // round the f32 master into the half-precision value, in place
        const dst = p.value.reshape([-1]);
        const src = p.master.reshape([-1]);
        ops.copyInto(dst, src, 0, 0);
        dst.dispose();
        src.dispose();
      }
    }
    return norm;
  }

  /** The state as host arrays (waits for the queued work; for checkpoints). */
  async state(): Promise<AdamWState> {
    const params = await Promise.all(
      this.entries.map(async (e) => {
        const shape = [...momentShape(e)];
        if (!e.m || !e.v) {
          const n = shape.reduce((a, b) => a * b, 1);
          return { name: e.name, step: e.step, m: new Float32Array(n), v: new Float32Array(n), shape };
        }
        const [m, v] = await Promise.all([e.m.data(), e.v.data()]);
        return { name: e.name, step: e.step, m, v, shape };
      }),
    );
    return { steps: this.steps, params };
  }

  /** Restores a state saved by state() (same parameter names and shapes). */
  loadState(s: AdamWState): void {
    const fn = "AdamW.loadState";
    const byName = new Map(s.params.map((p) => [p.name, p]));
    for (const e of this.entries) {
      const p = byName.get(e.name);
      if (!p) throw new CtxwinError("ERR_ARG", `${fn}: state: expected moments for parameter "${e.name}", got none (saved for other parameters?)`);
      const want = momentShape(e);
      if (p.shape.length !== want.length || p.shape.some((d, i) => d !== want[i])) {
        throw new CtxwinError("ERR_SHAPE", `${fn}: state: "${e.name}": expected shape [${want.join(", ")}], got [${p.shape.join(", ")}]`);
      }
      const dev = (e.param.master ?? e.param.value).device;
      e.m?.dispose();
      e.v?.dispose();
      e.m = Tensor.from(p.m, want, { device: dev });
      e.v = Tensor.from(p.v, want, { device: dev });
      e.step = p.step;
    }
    if (byName.size !== this.entries.length) {
      const mine = new Set(this.entries.map((e) => e.name));
      const extra = [...byName.keys()].filter((n) => !mine.has(n));
      throw new CtxwinError("ERR_ARG", `${fn}: state: holds moments of parameters this optimizer does not have: ${extra.slice(0, 5).join(", ")}`);
    }
    this.steps = s.steps;
  }

  /** Frees the moments (the parameters are the module's). */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const e of this.entries) {
      e.m?.dispose();
      e.v?.dispose();
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
