/** Parameter-efficient fine-tuning on CausalLM and Encoder: LoRA and prefix tuning (train only the adapter and the head). */
export { addLora, mergeLora, removeLora, getLoraInfo, hfLinearModules, type LoraOptions, type LoraInfo } from "./lora.js";
export { addPrefix, removePrefix, prefixParameters, promptEmbeddings, layerPrefixLengths, prefixLength, prefixProjection, type PrefixOptions } from "./prefix.js";
export { PrefixProjection, type PrefixProjectionShape } from "./prefix_projection.js";
export { peftTarget, type PeftModel, type PeftTarget, type PeftTaskType } from "./target.js";
export { parameterCounts, type ParameterCounts } from "./count.js";
