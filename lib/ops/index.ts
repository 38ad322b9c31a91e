/**
 * The native ops (lib/ops/<family>.ts → runOp → native/src/ops + native/src/cpu/ops), typed and
 * validated. Every op is asynchronous like the rest of ctxwin: arguments are checked at once,
 * the work is queued on the device, results are Tensors whose values arrive later.
 */
export { runOp, type OpAttrs } from "./run.js";
export { matmul, type MatmulOptions } from "./matmul.js";
export { embedding, embeddingBackward } from "./embedding.js";
export { rmsnorm, rmsnormBackward, layernorm, layernormBackward } from "./norms.js";
export { swiglu, swigluBackward, geluTanh, geluTanhBackward, geluErf, geluErfBackward, tanh, tanhBackward } from "./activations.js";
export { softmax, softmaxCrossEntropy, type SoftmaxCrossEntropyOptions } from "./softmax.js";
export { add, mul, scale, addBias, fill } from "./elementwise.js";
export { sumRows, sum, sumsq, globalNorm } from "./reduce.js";
export { concat, slice, copyInto, leading } from "./shape.js";
export { adamw, type AdamWOptions } from "./optim.js";
export { gatedPrefixAttention, gatedPrefixAttentionBackward, type GatedPrefixInputs, type GatedPrefixGrads } from "./gated_prefix.js";
