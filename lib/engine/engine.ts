/**
 * A batching engine: one model, many concurrent generations. A scheduler loop gives every active
 * request one chunk per turn: the next ≤ prefillChunk tokens of its prompt while it prefills
 * (chunked prefill: a long prompt does not stall the others), then one token per turn while it
 * generates (continuous batching: requests join between turns and finish independently).
 *
 * Each request owns a KVCache. The chunks of a turn that have the same length (every decode
 * token; prompt chunks of equal length) run as ONE forward over a SequenceBatch of their caches:
 * projections and MLPs batched, attention per sequence at its own positions in one native job
 * (lib/nn/attention.ts). Requests with different positional overrides (a YaRN factor, a window)
 * cannot share a kernel call: they run in separate batches.
 *
 * Backpressure: more than maxQueue waiting requests, a prompt plus maxNewTokens beyond maxContext,
 * or a closed engine are refused at once (synchronously, with a CtxwinError). An aborted request
 * (its AbortSignal, or its consumer leaving the loop) frees its cache at the next turn.
 */
import { CtxwinError, show } from "../errors.js";
import type { Positional } from "../positional.js";
import { noGradSliced } from "../nn/autograd.js";
import { KVCache, SequenceBatch } from "../nn/attention.js";
import type { CausalLM } from "../models/causal_lm.js";
import { loadModel } from "../models/load.js";
import type { Device } from "../tensor.js";
import { checkSampling, sampleToken, type SamplingOptions } from "../infer/sampling.js";
import { perplexity, type PerplexityOptions, type PerplexityResult } from "../infer/perplexity.js";
import { checkSeed, Rng } from "../util/rng.js";
import { LatencyWindow, type EngineStats } from "./stats.js";
import { LoraAdapters } from "./adapters.js";

export interface EngineOptions {
  /** The model to serve (the engine does not dispose it), or… */
  model?: CausalLM;
  /** …a model directory to load (HF or ctxwin format; the engine owns and disposes it). */
  dir?: string;
  /** Device for `dir`. Default "cpu". */
  device?: Device;
  /** Requests generating at once (one decode batch). Default 8. */
  maxBatch?: number;
  /** Longest prompt + maxNewTokens a request may ask for. Default 4096. */
  maxContext?: number;
  /** Requests waiting for a slot before new ones are refused (ERR_BUSY). Default 64. */
  maxQueue?: number;
  /** Prompt tokens a request prefills per scheduler turn. Default 256. */
  prefillChunk?: number;
  /**
   * LoRA adapters a request may name (`adapter`), by name → PEFT adapter directory. They are kept
   * unmerged and switched per batch; a request without one uses the base weights.
   */
  adapters?: Record<string, string>;
}

export interface EngineGenerateOptions extends SamplingOptions {
  /** Tokens to generate at most. */
  maxNewTokens: number;
  /** Sampling seed (default 0): the same tokens as generate() with this seed. */
  seed?: number;
  /** Stop token ids (not yielded). */
  stop?: readonly number[];
  /** Aborts the request: its stream throws ERR_ABORTED and its cache is freed. */
  signal?: AbortSignal;
  /** Positional override for this request (e.g. a YaRN factor). */
  positional?: Positional;
  /** Sliding window override (null: none). */
  window?: number | null;
  /** One of the engine's adapters (EngineOptions.adapters) for this request. */
  adapter?: string;
}

type State = "queued" | "prefill" | "decode" | "done";

/** One request's state and its token channel to the consumer. */
class Request {
  state: State = "queued";
  cache: KVCache | null = null;
  prefilled = 0;
  readonly generated: number[] = [];
  last = -1;
  readonly rng: Rng;
  readonly group: string;
  readonly submitted = performance.now();
  lastTokenAt = 0;
  error: Error | null = null;
  #buffer: number[] = [];
  #ended = false;
  #wake: (() => void) | null = null;

  constructor(
    readonly id: number,
    readonly prompt: readonly number[],
    readonly opts: EngineGenerateOptions,
  ) {
    this.rng = new Rng(opts.seed ?? 0);
    this.group = JSON.stringify([opts.positional ?? null, opts.window ?? null, opts.adapter ?? null]);
  }
  push(token: number): void {
    this.#buffer.push(token);
    this.#notify();
  }
  end(error: Error | null = null): void {
    if (this.#ended) return;
    this.#ended = true;
    this.error = error;
    this.#notify();
  }
  get ended(): boolean {
    return this.#ended;
  }
  #notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }
  /** The next token, or null at the end (throws the request's error). */
  async next(): Promise<number | null> {
    for (;;) {
      if (this.#buffer.length) return this.#buffer.shift()!;
      if (this.#ended) {
        if (this.error) throw this.error;
        return null;
      }
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }
}

const posInt = (fn: string, name: string, v: unknown, dflt: number): number => {
  const x = v ?? dflt;
  if (typeof x !== "number" || !Number.isInteger(x) || x < 1) throw new CtxwinError("ERR_ARG", `${fn}: ${name}: expected an integer >= 1, got ${show(v)}`);
  return x;
};

export class Engine {
  readonly model: CausalLM;
  readonly maxBatch: number;
  readonly maxContext: number;
  readonly maxQueue: number;
  readonly prefillChunk: number;
  readonly #ownsModel: boolean;
  #queue: Request[] = [];
  #active: Request[] = [];
  #nextId = 1;
  #closed = false;
  #loop: Promise<void> | null = null;
  #wakeLoop: (() => void) | null = null;
  #stats = { completed: 0, aborted: 0, failed: 0, generated: 0, prompt: 0, steps: 0 };
  #ttft = new LatencyWindow();
  #perToken = new LatencyWindow();
  #recent: { at: number; tokens: number }[] = [];
  readonly #adapters: Map<string, LoraAdapters>;
  /** Model work runs one at a time (a batch's forward, a perplexity): adapters are switched between. */
  #modelLock: Promise<void> = Promise.resolve();

  /** @internal use createEngine */
  constructor(model: CausalLM, opts: EngineOptions, ownsModel: boolean, adapters: Map<string, LoraAdapters> = new Map()) {
    this.#adapters = adapters;
    const fn = "createEngine";
    this.model = model;
    this.maxBatch = posInt(fn, "maxBatch", opts.maxBatch, 8);
    this.maxContext = posInt(fn, "maxContext", opts.maxContext, 4096);
    this.maxQueue = posInt(fn, "maxQueue", opts.maxQueue, 64);
    this.prefillChunk = posInt(fn, "prefillChunk", opts.prefillChunk, 256);
    this.#ownsModel = ownsModel;
  }

  /**
   * Streams the generated token ids of `prompt` (prompt excluded). Throws at once (not when
   * iterated) when the engine is closed (ERR_CLOSED), the queue is full (ERR_BUSY) or the request
   * is too long or malformed (ERR_ARG). Leaving the loop early aborts the request.
   */
  generate(prompt: readonly number[], opts: EngineGenerateOptions): AsyncGenerator<number, void, undefined> {
    const req = this.#submit(prompt, opts);
    return this.#stream(req);
  }

  /** All generated tokens of one request. */
  async complete(prompt: readonly number[], opts: EngineGenerateOptions): Promise<number[]> {
    const out: number[] = [];
    for await (const t of this.generate(prompt, opts)) out.push(t);
    return out;
  }

  /** The names of the engine's adapters. */
  get adapters(): string[] {
    return [...this.#adapters.keys()];
  }

  /**
   * Perplexity of `tokens` on the engine's model (or one of its adapters): it takes its turn
   * between the generations' batches, not batched with them.
   */
  perplexity(tokens: readonly number[], opts: PerplexityOptions & { adapter?: string }): Promise<PerplexityResult> {
    if (this.#closed) throw new CtxwinError("ERR_CLOSED", "engine.perplexity: the engine is closed");
    this.#checkAdapter("engine.perplexity", opts?.adapter);
    const { adapter, ...rest } = opts;
    return this.#exclusive(adapter ?? null, () => perplexity(this.model, tokens, rest));
  }

  /** Queue, activity, throughput and latency figures. */
  stats(): EngineStats {
    const now = performance.now();
    this.#recent = this.#recent.filter((r) => now - r.at <= 10_000);
    const span = this.#recent.length ? Math.max(1, now - this.#recent[0]!.at) : 1;
    const tokens = this.#recent.reduce((a, r) => a + r.tokens, 0);
    return {
      queued: this.#queue.length,
      active: this.#active.length,
      completed: this.#stats.completed,
      aborted: this.#stats.aborted,
      failed: this.#stats.failed,
      promptTokens: this.#stats.prompt,
      generatedTokens: this.#stats.generated,
      decodeSteps: this.#stats.steps,
      tokensPerSecond: (tokens / span) * 1000,
      timeToFirstTokenMs: this.#ttft.summary(),
      perTokenMs: this.#perToken.summary(),
      closed: this.#closed,
    };
  }

  /**
   * Stops accepting requests; `cancel` aborts the running ones (ERR_CLOSED), otherwise they run
   * to their end. Resolves when the loop has stopped and every cache is freed (and the model, if
   * the engine loaded it).
   */
  async close(opts: { cancel?: boolean } = {}): Promise<void> {
    this.#closed = true;
    if (opts.cancel) {
      for (const r of [...this.#queue, ...this.#active]) this.#finish(r, new CtxwinError("ERR_CLOSED", "engine closed: the request was cancelled"));
    }
    this.#kick();
    await this.#loop;
    for (const a of this.#adapters.values()) a.dispose();
    if (this.#ownsModel) this.model.dispose();
  }

  #checkAdapter(fn: string, name: unknown): void {
    if (name === undefined) return;
    if (typeof name !== "string" || !this.#adapters.has(name)) {
      throw new CtxwinError("ERR_ARG", `${fn}: adapter: expected one of the engine's adapters (${this.adapters.join(", ") || "none loaded"}), got ${show(name)}`);
    }
  }

  /** Runs model work alone, with `adapter`'s weights switched in (null: the base weights). */
  async #exclusive<T>(adapter: string | null, work: () => Promise<T>): Promise<T> {
    const prev = this.#modelLock;
    let release!: () => void;
    this.#modelLock = new Promise<void>((r) => (release = r));
    await prev;
    try {
      for (const [name, a] of this.#adapters) if (name !== adapter) a.detach();
      if (adapter !== null) this.#adapters.get(adapter)!.attach();
      return await work();
    } finally {
      if (adapter !== null) this.#adapters.get(adapter)!.detach();
      release();
    }
  }

  // ---------------------------------------------------------------------------------------------

  #submit(prompt: readonly number[], opts: EngineGenerateOptions): Request {
    const fn = "engine.generate";
    if (this.#closed) throw new CtxwinError("ERR_CLOSED", `${fn}: the engine is closed`);
    const V = this.model.config.vocabSize;
    if (!Array.isArray(prompt) || prompt.length === 0) throw new CtxwinError("ERR_ARG", `${fn}: prompt: expected a non-empty array of token ids, got ${show(prompt)}`);
    prompt.forEach((t, i) => {
      if (!Number.isInteger(t) || t < 0 || t >= V) throw new CtxwinError("ERR_ARG", `${fn}: prompt[${i}]: expected a token id in [0, ${V}), got ${show(t)}`);
    });
    if (!opts || typeof opts !== "object") throw new CtxwinError("ERR_ARG", `${fn}: opts: expected an object with maxNewTokens, got ${show(opts)}`);
    if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 1) throw new CtxwinError("ERR_ARG", `${fn}: maxNewTokens: expected an integer >= 1, got ${show(opts.maxNewTokens)}`);
    checkSampling(fn, opts);
    if (opts.seed !== undefined) checkSeed(fn, opts.seed);
    if (opts.stop !== undefined && (!Array.isArray(opts.stop) || opts.stop.some((t) => !Number.isInteger(t)))) {
      throw new CtxwinError("ERR_ARG", `${fn}: stop: expected an array of token ids, got ${show(opts.stop)}`);
    }
    const need = prompt.length + opts.maxNewTokens;
    if (need > this.maxContext) {
      throw new CtxwinError("ERR_ARG", `${fn}: prompt + maxNewTokens: expected at most maxContext = ${this.maxContext} tokens, got ${prompt.length} + ${opts.maxNewTokens} = ${need}`);
    }
    this.#checkAdapter(fn, opts.adapter);
    if (opts.signal?.aborted) throw new CtxwinError("ERR_ABORTED", `${fn}: the signal was already aborted`);
    if (this.#queue.length >= this.maxQueue) {
      throw new CtxwinError("ERR_BUSY", `${fn}: the queue is full (${this.#queue.length} requests waiting, maxQueue ${this.maxQueue}); retry later`);
    }
    const req = new Request(this.#nextId++, [...prompt], opts);
    opts.signal?.addEventListener("abort", () => this.#abort(req), { once: true });
    this.#queue.push(req);
    this.#ensureLoop();
    return req;
  }

  async *#stream(req: Request): AsyncGenerator<number, void, undefined> {
    try {
      for (;;) {
        const t = await req.next();
        if (t === null) return;
        yield t;
      }
    } finally {
      if (!req.ended) this.#abort(req); // the consumer left early
    }
  }

  #abort(req: Request): void {
    if (req.ended) return;
    // the loop frees the cache at its next turn; a queued request never got one
    req.end(new CtxwinError("ERR_ABORTED", `engine.generate: request ${req.id} was aborted`));
    this.#kick();
  }

  /** Ends a request (error: failed or aborted) and frees its cache. Idempotent. */
  #finish(req: Request, error: Error | null): void {
    if (req.state === "done") return;
    req.end(error);
    req.state = "done";
    req.cache?.dispose();
    req.cache = null;
    const e = req.error;
    if (!e) this.#stats.completed++;
    else if (e instanceof CtxwinError && (e.code === "ERR_ABORTED" || e.code === "ERR_CLOSED")) this.#stats.aborted++;
    else this.#stats.failed++;
  }

  #kick(): void {
    const w = this.#wakeLoop;
    this.#wakeLoop = null;
    w?.();
  }

  #ensureLoop(): void {
    if (this.#loop) {
      this.#kick();
      return;
    }
    this.#loop = this.#run().finally(() => {
      this.#loop = null;
    });
  }

  async #run(): Promise<void> {
    for (;;) {
      // requests that ended from outside (aborted / cancelled) leave, with their caches
      for (const r of [...this.#queue, ...this.#active]) if (r.ended) this.#finish(r, r.error);
      this.#queue = this.#queue.filter((r) => r.state !== "done");
      this.#active = this.#active.filter((r) => r.state !== "done");
      while (this.#active.length < this.maxBatch && this.#queue.length) {
        const r = this.#queue.shift()!;
        r.state = "prefill";
        r.cache = this.model.createCache(this.model.prefixLength + r.prompt.length + r.opts.maxNewTokens);
        this.#active.push(r);
      }
      if (this.#active.length === 0) {
        if (this.#closed || this.#queue.length === 0) return;
        continue;
      }
      // this turn's chunk of every request, batched by (positional override, chunk length, fresh
      // cache: a prefix is prepended only to a first chunk)
      const batches = new Map<string, { reqs: Request[]; chunks: number[][] }>();
      for (const r of this.#active) {
        if (r.ended) continue;
        const chunk = r.state === "prefill" ? r.prompt.slice(r.prefilled, Math.min(r.prompt.length, r.prefilled + this.prefillChunk)) : [r.last];
        const key = `${r.group}|${chunk.length}|${r.cache!.length === 0}`;
        const b = batches.get(key) ?? { reqs: [], chunks: [] };
        b.reqs.push(r);
        b.chunks.push(chunk);
        batches.set(key, b);
      }
      for (const b of batches.values()) await this.#guard(b.reqs, () => this.#step(b.reqs, b.chunks));
      if (batches.size === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Runs one unit of work; if it throws, its requests fail with the error (the loop goes on). */
  async #guard(reqs: Request[], work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (e) {
      const err = e instanceof Error ? e : new CtxwinError("ERR_INTERNAL", String(e));
      for (const r of reqs) this.#finish(r, err);
    }
  }

  /**
   * One forward over requests' chunks of equal length (each continuing its own cache): prompt
   * chunks advance the prefill (the last one samples the first token), single tokens sample the next.
   */
  async #step(reqs: Request[], chunks: number[][]): Promise<void> {
    const { positional, window, adapter } = reqs[0]!.opts;
    const cache = reqs.length === 1 ? reqs[0]!.cache! : new SequenceBatch(reqs.map((r) => r.cache!));
    const data = await this.#exclusive(adapter ?? null, async () => {
      using logits = await noGradSliced(this.model.logitsSteps(chunks, { cache, lastOnly: true, positional, window }));
      return await logits.value.data();
    });
    const V = this.model.config.vocabSize;
    if (reqs.some((r) => r.state === "decode")) this.#stats.steps++;
    reqs.forEach((r, b) => {
      if (r.state === "prefill") {
        r.prefilled += chunks[b]!.length;
        this.#stats.prompt += chunks[b]!.length;
        if (r.prefilled < r.prompt.length) return;
        r.state = "decode";
      }
      this.#emit(r, sampleToken(data.subarray(b * V, (b + 1) * V), r.opts, r.rng));
    });
  }

  /** A sampled token: stop, or hand it over (and finish at maxNewTokens). */
  #emit(r: Request, token: number): void {
    if (r.ended) return;
    const now = performance.now();
    if (r.opts.stop?.includes(token)) {
      this.#finish(r, null);
      return;
    }
    if (r.generated.length === 0) this.#ttft.add(now - r.submitted);
    else this.#perToken.add(now - r.lastTokenAt);
    r.lastTokenAt = now;
    r.generated.push(token);
    r.last = token;
    this.#stats.generated++;
    this.#recent.push({ at: now, tokens: 1 });
    if (this.#recent.length > 10_000) this.#recent.splice(0, this.#recent.length - 10_000);
    r.push(token);
    if (r.generated.length >= r.opts.maxNewTokens) this.#finish(r, null);
  }
}

/** Starts an engine over a model (or a model directory it loads and owns). */
export async function createEngine(opts: EngineOptions): Promise<Engine> {
  const fn = "createEngine";
  if (!opts || typeof opts !== "object") throw new CtxwinError("ERR_ARG", `${fn}: opts: expected an object with model or dir, got ${show(opts)}`);
  if (!!opts.model === !!opts.dir) throw new CtxwinError("ERR_ARG", `${fn}: expected exactly one of model and dir, got ${opts.model ? "both" : "neither"}`);
  if (!opts.model && typeof opts.dir !== "string") throw new CtxwinError("ERR_ARG", `${fn}: dir: expected a model directory, got ${show(opts.dir)}`);
  const model = opts.model ?? (await loadModel(opts.dir!, { device: opts.device }));
  const adapters = new Map<string, LoraAdapters>();
  try {
    if (opts.adapters !== undefined) {
      if (opts.adapters === null || typeof opts.adapters !== "object") throw new CtxwinError("ERR_ARG", `${fn}: adapters: expected { name: adapterDir }, got ${show(opts.adapters)}`);
      for (const [name, dir] of Object.entries(opts.adapters)) adapters.set(name, await LoraAdapters.load(model, name, dir));
    }
    return new Engine(model, opts, !opts.model, adapters);
  } catch (e) {
    for (const a of adapters.values()) a.dispose();
    if (!opts.model) model.dispose();
    throw e;
  }
}
