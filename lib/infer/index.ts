/** Inference: streaming generation with a KV cache, sliding-window perplexity, sampling. */
export { generate, generateAll, type GenerateOptions } from "./generate.js";
export { perplexity, type PerplexityOptions, type PerplexityResult } from "./perplexity.js";
export { sampleToken, argmax, type SamplingOptions } from "./sampling.js";
