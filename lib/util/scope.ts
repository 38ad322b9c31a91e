/**
 * Error scopes for native memory: every Tensor created while a scope is active is tracked, and if
 * the work fails part-way the scope frees all of them (the intermediates the failed forward,
 * backward or step had made), so memory() returns to where it was. On success it frees nothing:
 * what survives belongs to whoever holds it (a returned Variable, the tape, the caller), and the
 * tracked survivors move to the enclosing scope, which frees them if IT fails.
 *
 * Tensors that must outlive a failure even though they were made inside the work — KV-cache
 * buffers, gradients accumulated into Parameters — are handed to their owner with keep().
 *
 * A scope is active only while its own work runs: sliced work (runSliced) enters it for each slice
 * and leaves it between, so tensors made by other work interleaved on the event loop are never
 * tracked by it.
 */
import type { Tensor } from "../tensor.js";

let active: Scope | null = null;

export class Scope {
  #tracked = new Set<Tensor>();
  #outer: Scope | null = null;

  enter(): void {
    this.#outer = active;
    active = this;
  }
  exit(): void {
    active = this.#outer;
  }
  /** @internal */
  track(t: Tensor): void {
    this.#tracked.add(t);
  }
  /** @internal */
  untrack(t: Tensor): void {
    this.#tracked.delete(t);
    this.#outer?.untrack(t);
  }
  /** The work failed: free every tensor it made that is still alive and was not kept. */
  fail(): void {
    for (const t of this.#tracked) t.dispose();
    this.#tracked.clear();
  }
  /** The work succeeded: its live tensors now count as the enclosing work's (if any). */
  succeed(outer: Scope | null): void {
    if (outer) for (const t of this.#tracked) if (!t.disposed) outer.track(t);
    this.#tracked.clear();
  }
}

/** Called by every Tensor as it is created. */
export function trackTensor(t: Tensor): void {
  active?.track(t);
}

/** Hands `t` to a long-lived owner: no active scope frees it on failure. Returns t. */
export function keep<T extends Tensor | null>(t: T): T {
  if (t) active?.untrack(t);
  return t;
}

/** The scope that is active now (the enclosing one for a new scope). */
export function activeScope(): Scope | null {
  return active;
}

/** Runs fn in a new scope: if it throws, every tensor it made (and did not keep) is freed. */
export function freeOnError<T>(fn: () => T): T {
  const outer = active;
  const scope = new Scope();
  scope.enter();
  try {
    const out = fn();
    scope.exit();
    scope.succeed(outer);
    return out;
  } catch (e) {
    scope.exit();
    scope.fail();
    throw e;
  }
}

/** An array whose elements are disposed with it: `using list = disposingArray<Tensor>()`. */
export function disposingArray<T extends { dispose(): void }>(): T[] & Disposable {
  const list = [] as unknown as T[] & Disposable;
  list[Symbol.dispose] = () => {
    for (const t of list.splice(0)) t?.dispose(); // holes: filled by index, left empty by a failure
  };
  return list;
}
