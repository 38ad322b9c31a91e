/**
 * Tape-based reverse-mode autograd over ctxwin Tensors.
 *
 * Conventions (read once, used by every file in lib/nn):
 * - A `Variable` wraps one Tensor (`value`). Ops in lib/nn/functional.ts take Variables and return
 *   new Variables; non-differentiable inputs (token ids, targets) are plain Tensors or numbers.
 * - Recording: ops record a backward closure only while a `Tape` is active (`tape.run(fn)`) and at
 *   least one input `requiresGrad`. Outside a tape (or inside `noGrad(fn)`) nothing is recorded and
 *   nothing is kept for a backward pass: that is inference.
 * - Ownership: every Variable an op returns is owned by the caller. Library code runs a forward
 *   inside `tidy(fn)`, which gives up the caller's hold of every Variable made inside and not
 *   returned when fn ends (and frees everything fn made if it throws); outside a tidy the caller
 *   calls `release()`. A node that needs a value for its backward holds it (hold()), so the value
 *   is freed at the later of (the owner's release, the node's backward): intermediates are freed
 *   when the forward ends in inference and as soon as the backward no longer needs them in
 *   training. An explicit release() inside a tidy frees earlier where memory matters (the hidden
 *   state between layers). `Parameter`s are never freed by release(); their Module owns them.
 * - Gradients: `tape.backward(loss)` walks the recorded nodes in reverse, frees each node's saved
 *   values right after its backward ran, and ACCUMULATES (+=) into `Parameter.grad` (and into the
 *   `grad` of any leaf Variable with requiresGrad, or of a Variable marked `retainGrad()`).
 *   Intermediate gradients are freed as soon as they have been propagated. Call
 *   `zeroGrad()` on a Module (or set `grad = null`) between optimizer steps.
 * - Accumulation: a backward closure may take the current accumulated gradient of an input
 *   (`ctx.take(i)`) and fold it into its computation (a GEMM's `c`/`beta`), returning the new total;
 *   otherwise the engine adds the returned gradient to the accumulator.
 * - The tape is synchronous: `tape.run(fn)` must not be given an async function (ops only enqueue
 *   work, so a model's forward is synchronous anyway).
 */
import { runAll, runSliced, type Steps } from "../util/slices.js";
import { keep } from "../util/scope.js";
import { CtxwinError, show } from "../errors.js";
import { Tensor } from "../tensor.js";
import * as ops from "../ops/index.js";

/** The innermost active tidy() scope: the Variables made in it whose creator's hold it gives up. */
let tidyScope: Set<Variable> | null = null;

/** Known constant values of gradient tensors (e.g. the seed 1 of a scalar loss), for cheap broadcasts. */
const knownScalars = new WeakMap<Tensor, number>();

/** The constant every element of `t` is known to hold (set for seeds and propagated by scale/reshape), or undefined. */
export function knownScalar(t: Tensor): number | undefined {
  return knownScalars.get(t);
}
/** Marks `t` as holding `value` everywhere (internal bookkeeping for broadcast-free backward passes). */
export function tagScalar(t: Tensor, value: number): Tensor {
  knownScalars.set(t, value);
  return t;
}

export interface VariableOptions {
  /** Whether gradients flow to this value (leaves only; op outputs decide for themselves). */
  requiresGrad?: boolean;
  /** A label for error messages and debugging. */
  name?: string;
  /**
   * True: the Variable does not own the tensor (release() never disposes it). Default false: the
   * Variable owns it and disposes it when the last holder released it.
   */
  borrowed?: boolean;
}

/** A value in the graph: one Tensor plus autograd bookkeeping. */
export class Variable {
  #value: Tensor | null;
  /** Owner holds: the creator's plus one per keep(); each is given up by one release(). */
  #refs = 1;
  /** Internal holds of recorded nodes whose backward reads the value (hold()/unhold()). */
  #holds = 0;
  /** The tidy scope that gives up the creator's hold when it ends, unless release() did it first. */
  #tidy: Set<Variable> | null = null;
  #owned: boolean;
  #requiresGrad: boolean;
  /** Accumulated gradient (leaves with requiresGrad, Parameters, and Variables marked retainGrad()). */
  grad: Tensor | null = null;
  /** A label for messages. */
  name: string | undefined;
  /** @internal the node that produced this value (null for leaves and untracked values) */
  node: Node | null = null;
  /** @internal set by retainGrad() */
  retainsGrad = false;

  constructor(value: Tensor, opts: VariableOptions = {}) {
    if (!(value instanceof Tensor)) throw new CtxwinError("ERR_ARG", `Variable: value: expected a Tensor, got ${show(value)}`);
    this.#value = value;
    this.#owned = !opts.borrowed;
    this.#requiresGrad = opts.requiresGrad ?? false;
    this.name = opts.name;
    if (tidyScope) {
      tidyScope.add(this);
      this.#tidy = tidyScope;
    }
  }

  /** The wrapped tensor (throws once the Variable was released by every holder). */
  get value(): Tensor {
    if (this.#value === null) {
      throw new CtxwinError("ERR_DISPOSED", `Variable${this.name ? ` "${this.name}"` : ""}: expected a live value, got a released one`);
    }
    return this.#value;
  }
  get shape(): readonly number[] {
    return this.value.shape;
  }
  get requiresGrad(): boolean {
    return this.#requiresGrad;
  }
  /** @internal */
  setRequiresGrad(on: boolean): void {
    this.#requiresGrad = on;
  }
  /** True once every holder released it. */
  get released(): boolean {
    return this.#value === null;
  }

  /** Another holder: must be matched by one more release(). */
  keep(): this {
    if (this.#value === null) throw new CtxwinError("ERR_DISPOSED", `Variable.keep: expected a live value, got a released one`);
    this.#refs++;
    return this;
  }

  /**
   * This holder is done with the value; it is freed when no holder (incl. a tape node) needs it.
   * Inside tidy() a Variable's first release() is its creator's: the scope then has nothing left
   * to give up for it (an early release where memory matters, e.g. between layers).
   */
  release(): void {
    if (this.#tidy) {
      this.#tidy.delete(this);
      this.#tidy = null;
    }
    if (this.#value === null || this.#refs <= 0) return;
    this.#refs--;
    this.#freeIfUnheld();
  }

  /** @internal a recorded node's hold (its backward reads the value); not an owner's. */
  hold(): this {
    if (this.#value === null) throw new CtxwinError("ERR_DISPOSED", `Variable: expected a live value to save for the backward, got a released one`);
    this.#holds++;
    return this;
  }
  /** @internal the node ran its backward (or was dropped). */
  unhold(): void {
    if (this.#holds <= 0) return;
    this.#holds--;
    this.#freeIfUnheld();
  }

  #freeIfUnheld(): void {
    if (this.#refs === 0 && this.#holds === 0 && this.#value !== null) {
      if (this.#owned) this.#value.dispose();
      this.#value = null;
    }
  }

  /** @internal tidy() ended: the returned Variables belong to the enclosing scope (or to no scope). */
  static adoptInto(v: Variable, scope: Set<Variable> | null): void {
    v.#tidy = scope;
    scope?.add(v);
  }

  /**
   * Takes the tensor out of the Variable (the caller now owns it): for returning results from a
   * no-grad forward. Only for the last holder of an owned value; otherwise returns a copy.
   */
  detachValue(): Tensor {
    const v = this.value;
    if (this.#refs === 1 && this.#holds === 0 && this.#owned) {
      this.#tidy?.delete(this);
      this.#tidy = null;
      this.#value = null;
      this.#refs = 0;
      return v;
    }
    const copy = ops.scale(v, 1);
    this.release();
    return copy;
  }

  /** Keep this (non-leaf) Variable's gradient in `grad` during backward (for analyses). */
  retainGrad(): this {
    this.retainsGrad = true;
    return this;
  }

  [Symbol.dispose](): void {
    this.release();
  }

  toString(): string {
    return `Variable(${this.name ?? ""}${this.#value ? this.#value.toString() : "released"})`;
  }
}

/**
 * A trainable weight: a named Variable owned by its Module. `frozen` parameters get no gradient.
 * `master` optionally holds an f32 copy the optimizer updates when `value` is bf16/f16.
 */
export class Parameter extends Variable {
  #frozen = false;
  /** f32 master weights (mixed precision), or null when `value` is the master copy. */
  master: Tensor | null = null;
  #tensor: Tensor;

  constructor(value: Tensor, name?: string) {
    super(value, { requiresGrad: true, name, borrowed: true });
    this.#tensor = value;
  }
  override get value(): Tensor {
    return this.#tensor;
  }
  get frozen(): boolean {
    return this.#frozen;
  }
  override get requiresGrad(): boolean {
    return !this.#frozen;
  }
  freeze(): this {
    this.#frozen = true;
    return this;
  }
  unfreeze(): this {
    this.#frozen = false;
    return this;
  }
  /** Replaces the value (disposing the old one unless `keepOld`), e.g. after an optimizer step that returns a new tensor. */
  set(value: Tensor, opts: { keepOld?: boolean } = {}): void {
    if (value === this.#tensor) return;
    if (!opts.keepOld) this.#tensor.dispose();
    this.#tensor = value;
  }
  /** Frees grad (not the value). */
  zeroGrad(): void {
    this.grad?.dispose();
    this.grad = null;
  }
  /** Frees value, master and grad. */
  dispose(): void {
    this.#tensor.dispose();
    this.master?.dispose();
    this.master = null;
    this.zeroGrad();
  }
  override keep(): this {
    return this;
  }
  override hold(): this {
    return this;
  }
  override unhold(): void {}
  override release(): void {}
  override detachValue(): Tensor {
    return ops.scale(this.#tensor, 1);
  }
  override toString(): string {
    return `Parameter(${this.name ?? ""} ${this.#tensor.toString()}${this.#frozen ? ", frozen" : ""})`;
  }
}

/** What a backward closure may ask of the engine. */
export interface BackwardContext {
  /** Whether input i needs a gradient (compute nothing for it otherwise). */
  needs(i: number): boolean;
  /**
   * Takes input i's accumulated gradient so far (the caller owns it and must fold it into the
   * gradient it returns for input i, e.g. as a GEMM's `c` with beta 1), or null if none yet.
   */
  take(i: number): Tensor | null;
}

/**
 * dOutputs (null where an output got no gradient) → dInputs (null where not needed). The engine
 * owns (and frees) what is returned and what it passed in; returning a dOutput tensor as a
 * dInput (pass-through) is allowed.
 */
export type BackwardFn = (gradOutputs: (Tensor | null)[], ctx: BackwardContext) => (Tensor | null)[];

/** @internal one recorded op */
export class Node {
  released = false;
  /** Input shapes (inputs may be released before the backward runs). */
  readonly inputShapes: (readonly number[])[];
  constructor(
    readonly name: string,
    readonly inputs: readonly Variable[],
    readonly outputs: Variable[],
    public backward: BackwardFn | null,
    /** Variables whose values the backward reads (held with hold()). */
    public saved: Variable[],
    /** Tensors the node owns (aux outputs such as rstd / lse). */
    public aux: Tensor[],
  ) {
    this.inputShapes = inputs.map((v) => v.shape);
  }
  release(): void {
    if (this.released) return;
    this.released = true;
    for (const v of this.saved) v.unhold();
    for (const t of this.aux) t.dispose();
    this.saved = [];
    this.aux = [];
    this.backward = null;
  }
}

let current: Tape | null = null;

/** The tape recording now, or null (inference / noGrad). */
export function activeTape(): Tape | null {
  return current;
}

/** Runs fn with recording off (no backward will be possible through what it computes). */
export function noGrad<T>(fn: () => T): T {
  const prev = current;
  current = null;
  try {
    return fn();
  } finally {
    current = prev;
  }
}

/**
 * Runs fn and then gives up the creator's hold of every Variable made inside it that fn did not
 * return (a Variable, or Variables inside returned arrays / plain objects): a forward's
 * intermediates are freed when it ends, with no release() calls, and the values a recorded
 * backward reads stay alive until it ran (nodes hold them). If fn throws, every Variable and
 * Tensor it made (and did not keep()) is freed. Returned Variables belong to the caller (to the
 * enclosing tidy, if any). fn must be synchronous.
 */
export function tidy<T>(fn: () => T): T {
  return runAll(tidySteps(callOnce(fn)));
}

function* callOnce<T>(fn: () => T): Steps<T> {
  const out = fn();
  if (out && typeof (out as { then?: unknown }).then === "function") {
    throw new CtxwinError("ERR_ARG", "tidy: fn: expected a synchronous function, got one returning a Promise (ops only enqueue work: keep the forward synchronous)");
  }
  return out;
}

/**
 * tidy() for work written as Steps: the scope is active only while the work's own slices run
 * (work interleaved on the event loop between slices is not tracked by it).
 */
export function* tidySteps<T>(steps: Steps<T>): Steps<T> {
  const mine = new Set<Variable>();
  let finished = false;
  try {
    for (;;) {
      const outer = tidyScope;
      tidyScope = mine;
      let r: IteratorResult<void, T>;
      try {
        r = steps.next();
      } finally {
        tidyScope = outer;
      }
      if (r.done) {
        const returned = variablesIn(r.value);
        for (const v of mine) {
          if (returned.has(v)) Variable.adoptInto(v, outer);
          else v.release();
        }
        mine.clear();
        finished = true;
        return r.value;
      }
      yield;
    }
  } finally {
    if (!finished) {
      for (const v of mine) v.release();
      mine.clear();
    }
  }
}

/** The Variables in a result: itself, or inside arrays and plain objects (not class instances). */
function variablesIn(value: unknown, found = new Set<Variable>(), seen = new Set<object>()): Set<Variable> {
  if (value instanceof Variable) found.add(value);
  else if (value !== null && typeof value === "object" && !seen.has(value)) {
    seen.add(value);
    if (Array.isArray(value)) for (const x of value) variablesIn(x, found, seen);
    else {
      const proto = Object.getPrototypeOf(value);
      if (proto === Object.prototype || proto === null) for (const x of Object.values(value)) variablesIn(x, found, seen);
    }
  }
  return found;
}

/** noGrad for work written as Steps, in slices that give the event loop a turn (eventLoopSlice()). */
export function noGradSliced<T>(steps: Steps<T>): Promise<T> {
  return runSliced(steps, recordingOnto(null));
}

/** For runSliced: makes `tape` (null: none) the recording tape during each slice, and only then. */
function recordingOnto(tape: Tape | null): { enter(): void; exit(): void } {
  let prev: Tape | null = null;
  return {
    enter: () => {
      prev = current;
      current = tape;
    },
    exit: () => {
      current = prev;
    },
  };
}

export interface BackwardOptions {
  /**
   * The gradient of the output (same shape); default: every element `scale` (so `loss` may
   * have any shape, typically a scalar [1]).
   */
  gradient?: Tensor;
  /** Multiplies the seed gradient (e.g. 1/accumulationSteps). Default 1. */
  scale?: number;
}

/** Records ops run inside `run(fn)` and computes gradients with `backward(loss)`. */
export class Tape {
  /** @internal */
  nodes: Node[] = [];

  /** Runs fn with this tape recording (nested tapes: the innermost records). fn must be synchronous. */
  run<T>(fn: () => T): T {
    const prev = current;
    current = this;
    try {
      const out = fn();
      if (out && typeof (out as { then?: unknown }).then === "function") {
        throw new CtxwinError("ERR_ARG", "Tape.run: fn: expected a synchronous function, got one returning a Promise (ops only enqueue work: keep the forward synchronous)");
      }
      return out;
    } finally {
      current = prev;
    }
  }

  /** @internal */
  push(node: Node): void {
    this.nodes.push(node);
  }

  /** Number of recorded, not yet released ops. */
  get size(): number {
    return this.nodes.length;
  }

  /**
   * Backpropagates from `output`: accumulates into the `grad` of Parameters / leaves with
   * requiresGrad / retained Variables, and frees every node's saved values as it goes. The tape is
   * empty afterwards (reuse it or drop it). `output` itself is not released (its holder does that).
   */
  backward(output: Variable, opts: BackwardOptions = {}): void {
    runAll(this.#backwardSteps(output, opts));
  }

  /**
   * backward() in slices: gives the event loop a turn whenever the JS thread has recorded
   * backward ops for longer than eventLoopSlice() ms (train() uses it). Nothing records onto a
   * tape while it runs.
   */
  backwardSliced(output: Variable, opts: BackwardOptions = {}): Promise<void> {
    return runSliced(this.#backwardSteps(output, opts), recordingOnto(null));
  }

  /**
   * run() for work written as Steps (e.g. CausalLM.lossSteps): records onto this tape only while
   * one of its slices runs, yielding to the event loop between slices (eventLoopSlice()).
   */
  runSliced<T>(steps: Steps<T>): Promise<T> {
    return runSliced(steps, recordingOnto(this));
  }

  *#backwardSteps(output: Variable, opts: BackwardOptions): Steps<void> {
    if (!(output instanceof Variable)) throw new CtxwinError("ERR_ARG", `Tape.backward: output: expected a Variable, got ${show(output)}`);
    const nodes = this.nodes;
    this.nodes = [];
    try {
      if (!output.node || output.node.released || !nodes.includes(output.node)) {
        throw new CtxwinError(
          "ERR_ARG",
          `Tape.backward: output: expected a Variable computed on this tape with requiresGrad, got ${output.requiresGrad ? "one not recorded on this tape (or already backpropagated)" : "a Variable that does not require grad (nothing it depends on requires grad, or it was computed outside tape.run / in noGrad)"}`,
        );
      }
      let seed: Tensor;
      if (opts.gradient) {
        const g = opts.gradient;
        if (g.shape.length !== output.shape.length || g.shape.some((d, i) => d !== output.shape[i])) {
          throw new CtxwinError("ERR_SHAPE", `Tape.backward: opts.gradient: expected shape [${output.shape.join(", ")}], got [${g.shape.join(", ")}]`);
        }
        seed = ops.scale(g, opts.scale ?? 1);
      } else {
        const s = opts.scale ?? 1;
        seed = tagScalar(ops.fill(output.value, s), s);
      }
      const grads = new Map<Variable, Tensor>();
      grads.set(output, seed);
      yield* runBackward(nodes, grads);
    } finally {
      for (const n of nodes) n.release();
    }
  }

  /** Frees everything recorded without a backward pass. */
  dispose(): void {
    const nodes = this.nodes;
    this.nodes = [];
    for (const n of nodes) n.release();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** A copy of t (a new handle that owns its own memory). */
function clone(t: Tensor): Tensor {
  const c = ops.scale(t, 1);
  const k = knownScalars.get(t);
  if (k !== undefined) knownScalars.set(c, k);
  return c;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** acc += g (both freed; returns the sum). */
function addInto(acc: Tensor | null, g: Tensor): Tensor {
  if (acc === null) return g;
  const s = ops.add(acc, g);
  const ka = knownScalars.get(acc);
  const kg = knownScalars.get(g);
  if (ka !== undefined && kg !== undefined) knownScalars.set(s, ka + kg);
  acc.dispose();
  g.dispose();
  return s;
}

function isAccumulatingLeaf(v: Variable): boolean {
  return v.node === null && v.requiresGrad;
}

function* runBackward(nodes: Node[], grads: Map<Variable, Tensor>): Steps<void> {
  for (let n = nodes.length - 1; n >= 0; n--) {
    if (n < nodes.length - 1) yield; // a pause point between nodes (runSliced)
    const node = nodes[n]!;
    const gouts = node.outputs.map((o) => {
      const g = grads.get(o) ?? null;
      if (g !== null) grads.delete(o);
      if (g !== null && o.retainsGrad) o.grad = keep(addInto(o.grad, clone(g)));
      return g;
    });
    if (gouts.every((g) => g === null) || node.backward === null) {
      for (const g of gouts) g?.dispose();
      node.release();
      continue;
    }
    const inputs = node.inputs;
    const taken = new Set<number>();
    const ctx: BackwardContext = {
      needs: (i) => inputs[i]!.requiresGrad,
      take: (i) => {
        const v = inputs[i]!;
        if (!v.requiresGrad) return null;
        // only the first occurrence of a Variable repeated among the inputs may take
        if (inputs.indexOf(v) !== i) return null;
        taken.add(i);
        if (isAccumulatingLeaf(v)) {
          const g = v.grad;
          v.grad = null;
          return g;
        }
        const g = grads.get(v) ?? null;
        grads.delete(v);
        return g;
      },
    };
    let gins: (Tensor | null)[];
    try {
      gins = node.backward(gouts, ctx);
    } catch (e) {
      for (const g of gouts) g?.dispose();
      throw e;
    }
    const seen = new Set<Tensor>();
    const fresh = gins.map((g) => {
      if (g === null) return null;
      if (seen.has(g)) return clone(g);
      seen.add(g);
      return g;
    });
    for (const g of gouts) if (g !== null && !seen.has(g)) g.dispose();
    node.release();
    for (let i = 0; i < inputs.length; i++) {
      const v = inputs[i]!;
      const g = fresh[i] ?? null;
      if (g === null) continue;
      if (!v.requiresGrad) {
        g.dispose();
        continue;
      }
      const want = node.inputShapes[i]!;
      if (!sameShape(g.shape, want)) {
        g.dispose();
        throw new CtxwinError(
          "ERR_INTERNAL",
          `backward of ${node.name}: gradient for input ${i} has shape [${g.shape.join(", ")}], expected [${want.join(", ")}]`,
        );
      }
      if (isAccumulatingLeaf(v)) {
        v.grad = keep(taken.has(i) ? g : addInto(v.grad, g));
      } else {
        grads.set(v, taken.has(i) ? g : addInto(grads.get(v) ?? null, g));
      }
    }
  }
  // gradients of Variables no recorded node produced (e.g. leaves without requiresGrad): drop
  for (const [v, g] of grads) {
    if (v.requiresGrad && v.node === null) v.grad = keep(addInto(v.grad, g));
    else g.dispose();
  }
  grads.clear();
}

export interface EmitOptions {
  /** Variables whose values the backward reads (kept alive until it ran). */
  save?: readonly Variable[];
  /** Tensors owned by the node (freed after its backward, or at once when nothing is recorded). */
  aux?: readonly Tensor[];
  /** Output indices the backward reads (kept alive until it ran). */
  saveOutputs?: readonly number[];
}

/**
 * Wraps an op's output tensors as Variables and records the backward when a tape is active and
 * some input requires grad. Returns the output Variables (owned by the caller).
 */
export function emitMany(name: string, inputs: readonly Variable[], outputs: readonly Tensor[], backward: BackwardFn, opts: EmitOptions = {}): Variable[] {
  const tape = current;
  const track = tape !== null && inputs.some((v) => v.requiresGrad);
  const outs = outputs.map((t) => new Variable(t, { requiresGrad: track }));
  if (!track) {
    for (const t of opts.aux ?? []) t.dispose();
    return outs;
  }
  const saved: Variable[] = [];
  for (const v of opts.save ?? []) saved.push(v.hold());
  for (const i of opts.saveOutputs ?? []) saved.push(outs[i]!.hold());
  const node = new Node(name, [...inputs], outs, backward, saved, [...(opts.aux ?? [])]);
  for (const o of outs) o.node = node;
  tape!.push(node);
  return outs;
}

/** emitMany for one output. */
export function emit(name: string, inputs: readonly Variable[], output: Tensor, backward: (g: Tensor, ctx: BackwardContext) => (Tensor | null)[], opts: EmitOptions = {}): Variable {
  return emitMany(name, inputs, [output], (gs, ctx) => backward(gs[0]!, ctx), opts)[0]!;
}

/** A leaf Variable over `value` (owned unless borrowed) that requires grad. */
export function leaf(value: Tensor, opts: VariableOptions = {}): Variable {
  return new Variable(value, { requiresGrad: true, ...opts });
}

/**
 * A constant Variable (no gradient) over its own view of `value` (a free native handle), so the
 * caller may dispose `value` at any time; release() the Variable when done.
 */
/**
 * Releases prev and returns next: for a chain of intermediates where only the newest stays alive
 * (a layer's output replacing its input). prev's graph node keeps what the backward needs.
 */
export function replaceWith(prev: Variable, next: Variable): Variable {
  prev.release();
  return next;
}

export function constant(value: Tensor, opts: { name?: string } = {}): Variable {
  return new Variable(value.reshape(value.shape), { requiresGrad: false, name: opts.name });
}
