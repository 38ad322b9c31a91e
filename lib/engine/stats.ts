/** The engine's figures: what engine.stats() returns and GET /metrics exports. */

export interface LatencySummary {
  /** Samples in the window (the last 1000). */
  count: number;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
}

export interface EngineStats {
  /** Requests waiting for a slot. */
  queued: number;
  /** Requests prefilling or generating. */
  active: number;
  completed: number;
  /** Aborted by their signal / consumer, or cancelled by close(). */
  aborted: number;
  /** Ended by an error. */
  failed: number;
  promptTokens: number;
  generatedTokens: number;
  /** Batched decode steps run. */
  decodeSteps: number;
  /** Generated tokens per second over the last 10 s. */
  tokensPerSecond: number;
  /** Submission → first token (ms). */
  timeToFirstTokenMs: LatencySummary;
  /** Between consecutive tokens of a request (ms). */
  perTokenMs: LatencySummary;
  closed: boolean;
}

/** The last `size` latency samples and their percentiles (nearest rank). */
export class LatencyWindow {
  #samples: number[] = [];
  constructor(readonly size = 1000) {}
  add(ms: number): void {
    this.#samples.push(ms);
    if (this.#samples.length > this.size) this.#samples.shift();
  }
  summary(): LatencySummary {
    const s = [...this.#samples].sort((a, b) => a - b);
    const n = s.length;
    const at = (q: number) => (n ? s[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]! : 0);
    return { count: n, p50: at(0.5), p90: at(0.9), p99: at(0.99), mean: n ? s.reduce((a, b) => a + b, 0) / n : 0 };
  }
}
