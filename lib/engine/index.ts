/** lib/engine: the batching engine (continuous batching over per-request KV caches). */
export { Engine, createEngine, type EngineOptions, type EngineGenerateOptions } from "./engine.js";
export { LatencyWindow, type EngineStats, type LatencySummary } from "./stats.js";
